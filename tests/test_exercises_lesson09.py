"""Lesson 09: the contextual-loss check and the restoration figure."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from lessons_lib import viz
from lessons_lib.exercises import check_contextual_loss, check_prior_ablation, check_restoration_experiment
from lessons_lib.losses import contextual_loss
from lessons_lib.metrics import psnr, ssim


def _loops(x, y, h=0.5):
    # the paper's definition written with explicit sums over one sample at a time
    losses = []
    for b in range(x.shape[0]):
        mu = y[b].mean(dim=1, keepdim=True)
        xs, ys = x[b] - mu, y[b] - mu
        N, M = xs.shape[1], ys.shape[1]
        d = torch.empty(N, M)
        for i in range(N):
            for j in range(M):
                d[i, j] = 1 - torch.dot(xs[:, i], ys[:, j]) / (xs[:, i].norm() * ys[:, j].norm())
        d = d.clamp_min(0)
        d_rel = d / (d.min(dim=1, keepdim=True).values + 1e-5)
        w = torch.exp((1 - d_rel) / h)
        cx = w / w.sum(dim=1, keepdim=True)
        losses.append(-torch.log(cx.max(dim=0).values.mean()))
    return torch.stack(losses).mean()


def _vectorised(x, y, h=0.5):
    mu = y.mean(dim=2, keepdim=True)
    xn, yn = F.normalize(x - mu, dim=1), F.normalize(y - mu, dim=1)
    d = (1 - torch.bmm(xn.transpose(1, 2), yn)).clamp_min(0)
    d_rel = d / (d.min(dim=2, keepdim=True).values + 1e-5)
    cx = torch.softmax(-d_rel / h, dim=2)
    return (-torch.log(cx.max(dim=1).values.mean(dim=1))).mean()


@pytest.mark.parametrize("fn", [_vectorised, _loops])
def test_right_answers_pass(fn):
    r = check_contextual_loss(fn)
    assert r.passed, r


@pytest.mark.parametrize("fn", [lambda x, y: contextual_loss(x, y, max_positions=None),
                                lambda x, y: -torch.log(__import__("lessons_lib.losses.contextual", fromlist=["x"])
                                                        .contextual_similarity(x, y)).mean()])
def test_the_kits_contextual_loss_is_forbidden(fn):
    r = check_contextual_loss(fn)
    assert not r.passed and r.status == "wrong" and "watched" in r.message
    assert "contextual" in r.message


def test_the_stub_is_not_done():
    def stub(x, y, h=0.5):
        raise NotImplementedError

    assert check_contextual_loss(stub).status == "not_done"


def test_the_loss_ignores_positions_and_sees_content():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 50)
    shuffled = x[:, :, torch.randperm(50)]
    assert _loops(x, shuffled).item() < 0.05                       # same set, other order: ~0
    assert F.l1_loss(x, shuffled).item() > 0.5                     # pixel loss: large
    assert _loops(x, torch.randn(1, 8, 50)).item() > 0.5          # other content: large


def test_mistakes_are_named_and_nothing_raises():
    def no_centre(x, y):
        xn, yn = F.normalize(x, dim=1), F.normalize(y, dim=1)
        d = (1 - torch.bmm(xn.transpose(1, 2), yn)).clamp_min(0)
        d = d / (d.min(dim=2, keepdim=True).values + 1e-5)
        return (-torch.log(torch.softmax(-d / 0.5, dim=2).max(dim=1).values.mean(dim=1))).mean()

    r = check_contextual_loss(no_centre)
    assert not r.passed and "centre" in r.message
    r = check_contextual_loss(lambda x, y: torch.tensor(math.nan))
    assert not r.passed
    r = check_contextual_loss(lambda x, y: x.sum() / 0 if False else undefined_name)  # noqa: F821
    assert not r.passed and "NameError" in r.message


def test_restoration_figure():
    torch.manual_seed(0)
    sharp = torch.rand(3, 3, 16, 16)
    outs = {"blurred": sharp * 0.9, "x_R": sharp * 0.95, "x_hat": sharp}
    fig = viz.show_restoration(outs, sharp, n=2)
    assert len(fig.axes) == 2 * 4 and "dB" in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError):
        viz.show_restoration({"sharp_only": sharp})


# --------------------------------------------------------------------------- the larger exercise
class _FakeRestorer:
    """A restorer with fixed, distinct outputs (the real bundle is exercised by the notebook)."""

    def __init__(self, sharp):
        g = torch.Generator().manual_seed(3)
        n = torch.randn(sharp.shape, generator=g) * torch.tensor([0.3, 1.0, 2.0, 4.0]).view(4, 1, 1, 1)  # unequal errors
        self.outs = {"blurred": (sharp + 0.06 * n).clamp(0, 1), "x_R": (sharp + 0.03 * n).clamp(0, 1),
                     "x_G": (0.7 * sharp + 0.1).clamp(0, 1), "x_hat": (sharp + 0.035 * n).clamp(0, 1)}

    def restore_tensor(self, blurred):
        return {k: v.clone() for k, v in self.outs.items()}


def _faces():
    torch.manual_seed(0)
    sharp = torch.rand(4, 3, 24, 24)
    restorer = _FakeRestorer(sharp)
    return restorer, restorer.outs["blurred"], sharp


def _experiment(restorer, blurred, sharp, *, per_image=True, against=None, typed_claim=None, text=None):
    outs = restorer.restore_tensor(blurred)
    ref = sharp if against is None else outs[against]
    if per_image:
        p = {k: float(psnr(outs[k], ref)) for k in ("blurred", "x_R", "x_G", "x_hat")}
    else:
        p = {k: float(10 * torch.log10(1 / (outs[k] - ref).pow(2).mean())) for k in ("blurred", "x_R", "x_G", "x_hat")}
    q = {k: float(ssim(outs[k], sharp)) for k in ("blurred", "x_R", "x_G", "x_hat")}
    claim = typed_claim or {"best_psnr": max(p, key=p.get), "best_ssim": max(q, key=q.get),
                            "fusion_beats_blurred": p["x_hat"] > p["blurred"],
                            "fusion_gap_to_x_R_db": p["x_hat"] - p["x_R"]}
    conclusion = text if text is not None else (
        f"x_hat scores {p['x_hat']:.2f} dB, {abs(p['x_hat'] - p['x_R']):.2f} dB "
        f"{'below' if p['x_hat'] < p['x_R'] else 'above'} x_R and "
        f"{p['x_hat'] - p['blurred']:+.2f} dB over the blurred input.")
    return {"psnr": p, "ssim": q, "claim": claim, "conclusion": conclusion}


def test_the_experiment_passes_when_measured_and_computed():
    restorer, blurred, sharp = _faces()

    def my_restoration_experiment(restorer, blurred, sharp):
        return _experiment(restorer, blurred, sharp)

    r = check_restoration_experiment(my_restoration_experiment, restorer, blurred, sharp)
    assert r.passed, r
    assert "3 restorers" in r.detail


def test_the_experiment_names_its_mistakes():
    restorer, blurred, sharp = _faces()
    r = check_restoration_experiment(lambda *a: _experiment(*a, per_image=False), restorer, blurred, sharp)
    assert not r.passed and "whole batch" in r.message
    r = check_restoration_experiment(lambda *a: _experiment(*a, against="blurred"), restorer, blurred, sharp)
    assert not r.passed and ("finite" in r.message or "against the blurred input" in r.message)
    typed = _experiment(restorer, blurred, sharp)["claim"]
    r = check_restoration_experiment(lambda *a: _experiment(*a, typed_claim=dict(typed)), restorer, blurred, sharp)
    assert not r.passed and "stand-in restorer" in r.message and "do not type it" in r.message
    r = check_restoration_experiment(lambda *a: _experiment(*a, text="fusion is 7.77 dB better"), restorer, blurred,
                                     sharp)
    assert not r.passed and "7.77 dB" in r.message and "none of the measured" in r.message
    r = check_restoration_experiment(lambda *a: _experiment(*a, text="fusion is better"), restorer, blurred, sharp)
    assert not r.passed and "no number in dB" in r.message

    def scaled(restorer, blurred, sharp):
        ans = _experiment(restorer, blurred, sharp)
        ans["psnr"] = {k: v + 20 * math.log10(255) for k, v in ans["psnr"].items()}
        return ans

    r = check_restoration_experiment(scaled, restorer, blurred, sharp)
    assert not r.passed and "255" in r.message


def test_the_experiment_forbids_the_kits_evaluation_and_reports_not_done():
    from lessons_lib.restorer.evaluation import restoration_scores

    restorer, blurred, sharp = _faces()

    def via_kit(restorer, blurred, sharp):
        outs = restorer.restore_tensor(blurred)
        restoration_scores(outs["x_R"], sharp)
        return _experiment(restorer, blurred, sharp)

    r = check_restoration_experiment(via_kit, restorer, blurred, sharp)
    assert not r.passed and "restoration_scores" in r.message and "watched" in r.message

    def stub(restorer, blurred, sharp):
        raise NotImplementedError

    assert check_restoration_experiment(stub, restorer, blurred, sharp).status == "not_done"


# --------------------------------------------------------------------------- the prior's ablation
class _Parts:
    """Small known networks: NAFNet adds a little noise, the prior draws a shifted face, the
    fusion mixes its two inputs 3:1 (so feeding it x_R, x_G or zeros gives three PSNRs)."""

    def __init__(self, sharp):
        g = torch.Generator().manual_seed(5)
        self.noise = 0.05 * torch.randn(sharp.shape, generator=g)
        self.sharp = sharp

    def nafnet(self, blurred):
        return (self.sharp + self.noise).clamp(0, 1)

    def inversion(self, x_R):
        return torch.roll(self.sharp, 2, dims=-1)

    def fusion(self, x_R, x_G):
        return 0.75 * x_R + 0.25 * x_G


class _PartsRestorer:
    def __init__(self, sharp):
        self.model = _Parts(sharp)


def _ablation(restorer, blurred, sharp, *, second=None, typed_gain=None, flip=False):
    m = restorer.model
    x_R = m.nafnet(blurred).clamp(0, 1)
    x_G = m.inversion(x_R).clamp(0, 1)
    feed = second or {"x_G": x_G, "x_R": x_R, "zeros": torch.zeros_like(x_R)}
    p = {k: float(psnr(m.fusion(x_R, v).clamp(0, 1), sharp)) for k, v in feed.items()}
    gain = p["x_G"] - p["x_R"]
    return {"psnr": p, "prior_gain_db": typed_gain if typed_gain is not None else (-gain if flip else gain)}


def test_the_ablation_passes_when_measured_and_names_its_mistakes():
    torch.manual_seed(0)
    sharp = torch.rand(4, 3, 24, 24)
    restorer, blurred = _PartsRestorer(sharp), sharp.clone()
    r = check_prior_ablation(lambda *a: _ablation(*a), restorer, blurred, sharp)
    assert r.passed, r
    # the gain the check reports is its own measurement: x_G = a shifted face is worse than x_R
    m = restorer.model
    x_R = m.nafnet(blurred)
    want = float(psnr(m.fusion(x_R, m.inversion(x_R)), sharp)) - float(psnr(m.fusion(x_R, x_R), sharp))
    assert f"{want:+.2f} dB over x_R" in r.detail and want < 0
    # a gain typed from the first run fails on the stand-in, whose prior is nearly the truth
    typed = _ablation(restorer, blurred, sharp)["prior_gain_db"]
    r = check_prior_ablation(lambda *a: _ablation(*a, typed_gain=typed), restorer, blurred, sharp)
    assert not r.passed and "stand-in" in r.message and "do not type it" in r.message
    r = check_prior_ablation(lambda *a: _ablation(*a, flip=True), restorer, blurred, sharp)
    assert not r.passed and "sign is flipped" in r.message

    def swapped(restorer, blurred, sharp):            # x_G and x_R fed under each other's name
        x_R = restorer.model.nafnet(blurred)
        x_G = restorer.model.inversion(x_R)
        return _ablation(restorer, blurred, sharp, second={"x_G": x_R, "x_R": x_G, "zeros": torch.zeros_like(x_R)})

    r = check_prior_ablation(swapped, restorer, blurred, sharp)
    assert not r.passed and "that is the fusion fed x_R" in r.message


def test_the_ablation_forbids_the_kits_evaluation_and_needs_a_fusion():
    from lessons_lib.restorer.evaluation import restoration_scores

    torch.manual_seed(0)
    sharp = torch.rand(2, 3, 16, 16)
    restorer = _PartsRestorer(sharp)

    def via_kit(restorer, blurred, sharp):
        restoration_scores(restorer.model.nafnet(blurred), sharp)
        return _ablation(restorer, blurred, sharp)

    r = check_prior_ablation(via_kit, restorer, sharp.clone(), sharp)
    assert not r.passed and "restoration_scores" in r.message
    restorer.model.fusion = None
    with pytest.raises(ValueError, match="no fusion network"):
        check_prior_ablation(lambda *a: _ablation(*a), restorer, sharp.clone(), sharp)


# --------------------------------------------------------------------------- issue 23: the conclusion's signs and owners
def _with_text(make_text):
    def fn(restorer, blurred, sharp):
        ans = _experiment(restorer, blurred, sharp)
        ans["conclusion"] = make_text(ans["psnr"])
        return ans
    return fn


def _fails_with(make_text, says):
    restorer, blurred, sharp = _faces()
    r = check_restoration_experiment(_with_text(make_text), restorer, blurred, sharp)
    assert not r.passed and says in r.message, r.message


def test_a_conclusion_with_the_wrong_sign_fails():
    restorer, blurred, sharp = _faces()
    p = _experiment(restorer, blurred, sharp)["psnr"]
    assert p["x_hat"] < p["x_R"]                      # the fake restorer's fusion is below x_R
    _fails_with(lambda p: f"x_hat is {abs(p['x_hat'] - p['x_R']):.2f} dB above x_R.", "check the sign")
    _fails_with(lambda p: f"x_hat - x_R = {abs(p['x_hat'] - p['x_R']):+.2f} dB.", "check the sign")
    right = _with_text(lambda p: f"x_hat - x_R = {p['x_hat'] - p['x_R']:+.2f} dB; the fusion is "
                                 f"{abs(p['x_hat'] - p['x_R']):.1f} dB {'below' if p['x_hat'] < p['x_R'] else 'above'} "
                                 f"NAFNet's {p['x_R']:.2f} dB.")
    assert check_restoration_experiment(right, restorer, blurred, sharp)


def test_a_conclusion_that_gives_a_number_to_the_wrong_image_fails():
    _fails_with(lambda p: f"x_R scores {p['x_hat']:.2f} dB and x_hat {p['x_R']:.2f} dB.",
                "which image each number belongs to")
    _fails_with(lambda p: f"The best scores {max(p.values()):.2f} dB.", "naming the image")


def test_the_lessons_own_conclusion_passes():
    """The notebook's solution sentence (fusion / NAFNet / blurred input / inversion)."""
    restorer, blurred, sharp = _faces()

    def text(p):
        gap = p["x_hat"] - p["x_R"]
        return (f"On 4 held-out faces the fusion scores {p['x_hat']:.2f} dB, "
                f"{abs(gap):.2f} dB {'below' if gap < 0 else 'above'} NAFNet's {p['x_R']:.2f} dB and "
                f"{abs(p['x_hat'] - p['blurred']):.2f} dB {'above' if p['x_hat'] > p['blurred'] else 'below'} "
                f"the blurred input; the inversion alone scores {p['x_G']:.2f} dB.")

    r = check_restoration_experiment(_with_text(text), restorer, blurred, sharp)
    assert r.passed, r.message


def test_the_checks_own_measurement_is_forbidden():
    from lessons_lib.exercises import lesson09

    restorer, blurred, sharp = _faces()

    def via_check(restorer, blurred, sharp):
        outs = restorer.restore_tensor(blurred)
        m = lesson09._measure(outs, sharp)
        return {"psnr": m["psnr"], "ssim": m["ssim"], "claim": lesson09._claims(m), "conclusion": "x"}

    r = check_restoration_experiment(via_check, restorer, blurred, sharp)
    assert not r.passed and "_measure" in r.message and "_claims" in r.message, r.message

    def via_cx(x, y, h=0.5):
        return lesson09._cx(x, y, h)

    r = check_contextual_loss(via_cx)
    assert not r.passed and "_cx" in r.message, r.message
