"""The colour-class maths (Zhang, Isola & Efros 2016): bins, prior, weights, soft encoding,
the rebalanced loss and the annealed-mean decoding, against hand-computed references."""
from __future__ import annotations

import math

import pytest
import torch

from lessons_lib import LessonsError
from lessons_lib.color.classes import (ColourClasses, annealed_distribution, annealed_mean, correct_logits,
                                       decode_classes, grid_centres, grid_histogram, grid_index,
                                       rebalancing_weights, setting_name, smooth_prior, soft_encode)
from lessons_lib.losses import class_cross_entropy, rebalanced_class_loss


def _centres():
    return torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [-20.0, 30.0]])


def test_annealed_mean_at_t1_is_the_distributions_mean():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 3, 5)
    c = _centres()
    p = torch.softmax(logits, dim=1)
    want = torch.einsum("bqhw,qc->bchw", p, c)
    got = annealed_mean(logits, c, 1.0)
    assert got.shape == (2, 2, 3, 5)
    assert torch.allclose(got, want, atol=1e-5)
    # by hand for one pixel
    pix = p[0, :, 0, 0]
    assert got[0, 0, 0, 0].item() == pytest.approx(float((pix * c[:, 0]).sum()), abs=1e-5)


def test_small_temperature_approaches_the_mode_and_is_stable():
    c = _centres()
    logits = torch.tensor([1.0, 3.0, 2.9, -50.0]).reshape(1, 4, 1, 1)
    mode = c[1]
    far = (annealed_mean(logits, c, 1.0)[0, :, 0, 0] - mode).norm()
    near = (annealed_mean(logits, c, 0.1)[0, :, 0, 0] - mode).norm()
    at001 = annealed_mean(logits, c, 0.01)[0, :, 0, 0]
    assert near < far
    assert torch.isfinite(at001).all()
    assert torch.allclose(at001, mode, atol=1e-3)       # gap 0.1 / 0.01 = 10 nats: e^-10 of bin 2
    # huge logits at T = 0.01 do not overflow
    big = annealed_mean(torch.tensor([1e4, 0.0, -1e4, 5.0]).reshape(1, 4, 1, 1), c, 0.01)
    assert torch.allclose(big[0, :, 0, 0], c[0])
    # the annealed distribution is softmax(log z / T) of the probabilities z
    z = torch.softmax(logits, dim=1)
    f = annealed_distribution(logits, 0.38)
    ref = z.pow(1 / 0.38) / z.pow(1 / 0.38).sum(dim=1, keepdim=True)
    assert torch.allclose(f, ref, atol=1e-6)


@pytest.mark.parametrize("t", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_temperature_is_refused(t):
    with pytest.raises(LessonsError, match="temperature T must be > 0"):
        annealed_mean(torch.zeros(1, 4, 1, 1), _centres(), t)


def test_grid_index_histogram_and_centres_agree():
    ab = torch.tensor([[0.0, 0.0], [14.0, -6.0], [-111.0, 200.0]]).T.reshape(1, 2, 1, 3)
    idx = grid_index(ab)[0, 0]
    cen = grid_centres()
    assert cen[idx[0]].tolist() == [0.0, 0.0]
    assert cen[idx[1]].tolist() == [10.0, -10.0]
    assert cen[idx[2]].tolist() == [-110.0, 110.0]     # clamped to the grid
    h = grid_histogram(ab)
    assert h.sum() == 3 and h.shape == (23 * 23,)


def test_prior_smoothing_weights_and_expectation():
    c = _centres().double()
    prior = torch.tensor([0.7, 0.2, 0.1, 0.0], dtype=torch.float64)
    assert torch.allclose(smooth_prior(c, prior, 0.0), prior)
    sm = smooth_prior(c, prior, 5.0)
    assert sm.sum().item() == pytest.approx(1.0)
    # by hand: bin r sends exp(-d_qr^2 / 50) / sum_q' exp(-d_q'r^2 / 50) of its mass to bin q
    d2 = torch.cdist(c, c) ** 2
    k = torch.exp(-d2 / 50)
    ref_sm = (k / k.sum(0, keepdim=True)) @ prior
    assert torch.allclose(sm, ref_sm)
    e2 = math.exp(-2)                                       # bins 10 apart: e^-(100/50)
    # bin 1 (10, 0): keeps 1/(1 + e^-2 + e^-4) of its own 0.2, gets e^-2/(1 + 2 e^-2) of bin 0's 0.7
    # and e^-4/(1 + e^-2 + e^-4) of bin 2's 0.1 (bin 3 is too far to count)
    e4 = math.exp(-4)
    assert sm[1].item() == pytest.approx((0.2 + 0.1 * e4) / (1 + e2 + e4) + 0.7 * e2 / (1 + 2 * e2), rel=1e-5)
    assert sm[3].item() < 1e-6                              # 28+ units from every other bin
    w = rebalancing_weights(sm, 0.5)
    assert (sm * w).sum().item() == pytest.approx(1.0)
    ref = 1.0 / (0.5 * sm + 0.5 / 4)
    assert torch.allclose(w, ref / (sm * ref).sum())
    assert w[3] > w[2] > w[1] > w[0]                       # rarer bins weigh more
    # lambda = 1: uniform weights, all 1
    assert torch.allclose(rebalancing_weights(sm, 1.0), torch.ones(4, dtype=torch.float64))


def test_soft_encoding_by_hand():
    c = _centres()
    ab = torch.tensor([3.0, 4.0]).reshape(1, 2, 1, 1)
    idx, w = soft_encode(ab, c, k=3, sigma=5.0)
    assert idx.shape == w.shape == (1, 3, 1, 1)
    assert idx[0, :, 0, 0].tolist() == [0, 2, 1]            # distances 5, sqrt(85), sqrt(65)? sorted below
    d2 = torch.tensor([25.0, 9 + 36, 49 + 16])              # to (0,0), (0,10), (10,0)
    ref = torch.softmax(-d2 / 50, dim=0)
    assert torch.allclose(w[0, :, 0, 0], ref, atol=1e-6)
    hard_idx, hard_w = soft_encode(ab, c, k=1)
    assert hard_idx.item() == 0 and hard_w.item() == 1.0


def test_rebalanced_loss_against_dense_reference():
    torch.manual_seed(1)
    c = _centres()
    logits = torch.randn(2, 4, 3, 3, requires_grad=True)
    ab = torch.randn(2, 2, 3, 3) * 8
    cw = torch.tensor([0.5, 1.0, 2.0, 4.0])
    loss = rebalanced_class_loss(logits, ab, c, cw, k=2, sigma=5.0)
    idx, w = soft_encode(ab, c, k=2, sigma=5.0)
    dense = torch.zeros(2, 4, 3, 3).scatter_add_(1, idx, w)  # the dense target Z
    v = cw[idx[:, 0]]
    ref = -(v * (dense * torch.log_softmax(logits, 1)).sum(1)).mean()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    plain = class_cross_entropy(logits, idx, w)
    assert plain.item() == pytest.approx(-(dense * torch.log_softmax(logits, 1)).sum(1).mean().item(), rel=1e-5)


def test_colour_classes_from_histogram_round_trip():
    ab = torch.tensor([[0.0, 0.0]] * 90 + [[20.0, 30.0]] * 9 + [[-50.0, 50.0]]).T.reshape(1, 2, 1, 100)
    cc = ColourClasses.from_histogram(grid_histogram(ab), source={"data": "test"})
    assert cc.n == 3
    assert sorted(map(tuple, cc.centres.tolist())) == [(-50.0, 50.0), (0.0, 0.0), (20.0, 30.0)]
    assert cc.prior.sum().item() == pytest.approx(1.0)
    assert (cc.smoothed * cc.weights).sum().item() == pytest.approx(1.0)
    back = ColourClasses.from_dict(cc.to_dict())
    assert torch.allclose(back.centres, cc.centres) and torch.allclose(back.weights, cc.weights)
    with pytest.raises(LessonsError, match="at least 2"):
        ColourClasses.from_histogram(grid_histogram(ab[..., :1]))
    with pytest.raises(LessonsError, match="incomplete"):
        ColourClasses.from_dict({"prior": [1.0]})


def test_the_rebalanced_minimiser_is_w_times_p_and_full_correction_recovers_p():
    """The claim behind the prior correction: free logits fitted by the rebalanced
    cross-entropy to pixels of empirical distribution p end at softmax = w p / sum(w p), not
    at p; correct_logits(., w, 1) gives p back, and 0.5 lies between."""
    c = _centres()                                                          # 4 bins
    p = torch.tensor([0.7, 0.2, 0.07, 0.03])
    w = torch.tensor([0.5, 1.5, 3.0, 6.0])
    ab = c[torch.repeat_interleave(torch.arange(4), (p * 100).long())].T.reshape(1, 2, 1, 100)
    logits = torch.zeros(1, 4, 1, 1, requires_grad=True)
    opt = torch.optim.LBFGS([logits], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = rebalanced_class_loss(logits.expand(1, 4, 1, 100), ab, c, w, k=1)
        loss.backward()
        return loss
    opt.step(closure)
    fitted = torch.softmax(logits.detach(), 1).flatten()
    assert torch.allclose(fitted, w * p / (w * p).sum(), atol=1e-4)
    undone = torch.softmax(correct_logits(logits.detach(), w, 1.0), 1).flatten()
    assert torch.allclose(undone, p, atol=1e-4)
    half = torch.softmax(correct_logits(logits.detach(), w, 0.5), 1).flatten()
    assert fitted[0] < half[0] < undone[0] and fitted[3] > half[3] > undone[3]  # the rare bin shrinks


def test_correction_zero_is_the_head_as_trained_and_bad_values_are_refused():
    logits = torch.randn(2, 4, 3, 3)
    w = torch.tensor([0.5, 1.0, 2.0, 4.0])
    assert correct_logits(logits, w, 0.0) is logits
    shifted = correct_logits(logits, w, 1.0)
    assert torch.allclose(shifted[:, 3] - logits[:, 3], -torch.log(torch.tensor(4.0)).expand(2, 3, 3))
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(LessonsError, match="prior correction"):
            correct_logits(logits, w, bad)
    with pytest.raises(ValueError, match="Q = 4 bins"):
        correct_logits(logits, torch.ones(5), 0.5)


def test_decode_classes_is_the_annealed_mean_of_the_corrected_logits_upsampled():
    cc = ColourClasses(centres=_centres(), prior=torch.full((4,), 0.25, dtype=torch.float64),
                       smoothed=torch.full((4,), 0.25, dtype=torch.float64),
                       weights=torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64))
    logits = torch.randn(1, 4, 4, 4)
    ref = annealed_mean(correct_logits(logits, cc.weights, 0.5), _centres() / 110, 0.38)
    got = decode_classes(logits, cc, 0.38, correction=0.5, scale=110)
    assert torch.allclose(got, ref, atol=1e-6)
    up = decode_classes(logits, cc, 0.38, correction=0.5, scale=110, size=(8, 8))
    assert up.shape == (1, 2, 8, 8)
    assert torch.allclose(up, torch.nn.functional.interpolate(ref, size=(8, 8), mode="bilinear"), atol=1e-6)
    assert setting_name(0.38) == "T0.38" and setting_name(0.58, 0.5) == "T0.58_c0.5"
    assert setting_name(1.0, 0.0) == "T1"
