"""Contextual loss (lessons_lib.losses.contextual)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lessons_lib.losses.contextual import ContextualLoss, contextual_loss, contextual_similarity


def _reference(x: np.ndarray, y: np.ndarray, h: float = 0.5, eps: float = 1e-5) -> float:
    """Mechrez et al. 2018, written with loops for one sample: x (C, N), y (C, M)."""
    mu = y.mean(axis=1)
    xs = [(x[:, i] - mu) / np.linalg.norm(x[:, i] - mu) for i in range(x.shape[1])]
    ys = [(y[:, j] - mu) / np.linalg.norm(y[:, j] - mu) for j in range(y.shape[1])]
    N, M = len(xs), len(ys)
    d = np.array([[1.0 - float(xs[i] @ ys[j]) for j in range(M)] for i in range(N)])
    cx = np.zeros((N, M))
    for i in range(N):
        d_rel = [d[i, j] / (min(d[i]) + eps) for j in range(M)]
        w = [math.exp((1.0 - d_rel[j]) / h) for j in range(M)]
        for j in range(M):
            cx[i, j] = w[j] / sum(w)
    CX = sum(max(cx[i, j] for i in range(N)) for j in range(M)) / M
    return -math.log(CX)


def test_matches_the_loop_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 2, 3, generator=g, dtype=torch.float64)  # 6 positions
    y = torch.randn(2, 4, 3, 3, generator=g, dtype=torch.float64)  # 9 positions: no alignment needed
    loss = contextual_loss(x, y, max_positions=None, reduction="none")
    ref = [_reference(x[b].flatten(1).numpy(), y[b].flatten(1).numpy()) for b in range(2)]
    assert torch.allclose(loss.double(), torch.tensor(ref, dtype=torch.float64), atol=1e-5)
    assert torch.isclose(contextual_loss(x, y, max_positions=None), torch.tensor(ref).mean().float(), atol=1e-5)


def test_identical_features_give_zero_and_unrelated_ones_do_not():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 16, 8, 8, generator=g)
    # identical sets: d_ii = 0, so d~_ik = d_ik / 1e-5 is huge for k != i, cx_ii = 1, CX = 1, loss = -log 1 = 0
    same = contextual_loss(x, x.clone(), max_positions=None)
    assert 0.0 <= float(same) < 1e-5
    other = contextual_loss(torch.randn(2, 16, 8, 8, generator=g), x, max_positions=None)
    assert float(other) > 0.5
    # noisier copies score in between, monotonically; a small perturbation costs nothing
    # (each x_i's nearest y is still its own, by far: cx_ii stays ~1)
    losses = [float(contextual_loss(x + s * torch.randn(2, 16, 8, 8, generator=g), x, max_positions=None))
              for s in (0.1, 0.5, 1.0, 2.0)]
    assert losses[0] < 1e-4
    assert float(same) <= losses[0] < losses[1] < losses[2] < losses[3] < float(other)


def test_invariant_to_spatial_permutations():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 8, 6, 6, generator=g)
    y = torch.randn(2, 8, 6, 6, generator=g) + 0.5 * x
    base = contextual_loss(x, y, max_positions=None)
    perm_x = x.flatten(2)[:, :, torch.randperm(36, generator=g)]
    perm_y = y.flatten(2)[:, :, torch.randperm(36, generator=g)]
    assert torch.allclose(contextual_loss(perm_x, y.flatten(2), max_positions=None), base, atol=1e-6)
    assert torch.allclose(contextual_loss(x.flatten(2), perm_y, max_positions=None), base, atol=1e-6)
    # ... while an L1 loss between the same maps changes completely
    assert (perm_x - x.flatten(2)).abs().mean() > 0.5


def test_similarity_rows_are_distributions():
    g = torch.Generator().manual_seed(3)
    cx = contextual_similarity(torch.randn(1, 5, 7, generator=g), torch.randn(1, 5, 4, generator=g))
    assert cx.shape == (1, 7, 4)
    assert torch.allclose(cx.sum(dim=2), torch.ones(1, 7), atol=1e-6) and float(cx.min()) >= 0


def test_subsampling_bounds_the_positions_and_is_seeded():
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(2, 8, 40, 40, generator=g), torch.randn(2, 8, 40, 40, generator=g)
    a = contextual_loss(x, y, max_positions=200, generator=torch.Generator().manual_seed(9))
    b = contextual_loss(x, y, max_positions=200, generator=torch.Generator().manual_seed(9))
    c = contextual_loss(x, y, max_positions=200, generator=torch.Generator().manual_seed(10))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # the same positions are drawn in both maps: a map against itself still scores 0
    assert float(contextual_loss(x, x, max_positions=100)) < 1e-5
    assert float(contextual_loss(x, x, max_positions=100, sampling="strided")) < 1e-5
    # strided: a regular grid of a map (every 2nd row and column of 40x40 -> 400 <= 500) ...
    grid = contextual_loss(x, y, max_positions=500, sampling="strided")
    assert torch.allclose(grid, contextual_loss(x[..., ::2, ::2], y[..., ::2, ::2], max_positions=None))
    # ... or evenly spaced members of a set (B, C, N)
    idx = torch.linspace(0, 1599, 100).round().long()
    xs, ys = x.flatten(2), y.flatten(2)
    assert torch.allclose(contextual_loss(xs, ys, max_positions=100, sampling="strided"),
                          contextual_loss(xs[:, :, idx], ys[:, :, idx], max_positions=None))
    # no subsampling when the map is small enough
    small = torch.randn(1, 4, 5, 5, generator=g)
    small_y = torch.randn(1, 4, 5, 5, generator=g)
    full = contextual_loss(small, small_y, max_positions=None)
    assert torch.equal(contextual_loss(small, small_y, max_positions=25), full)
    # the Module keeps its own seeded generator
    m1, m2 = ContextualLoss(max_positions=200, seed=9), ContextualLoss(max_positions=200, seed=9)
    r1, r2 = m1(x, y), m2(x, y)
    assert torch.equal(r1, r2) and torch.equal(r1, b)


def test_gradient_is_finite():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 8, 10, 10, generator=g).requires_grad_(True)
    y = torch.randn(2, 8, 10, 10, generator=g)
    contextual_loss(x, y, max_positions=64, generator=g).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().max() > 0
    z = y.clone().requires_grad_(True)  # the degenerate case x == y
    contextual_loss(z, y, max_positions=None).backward()
    assert torch.isfinite(z.grad).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="same batch size and channels"):
        contextual_loss(torch.randn(1, 4, 3, 3), torch.randn(1, 5, 3, 3))
    with pytest.raises(ValueError, match="feature map"):
        contextual_loss(torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="sampling"):
        contextual_loss(torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3), sampling="sometimes")
    with pytest.raises(ValueError, match="band width"):
        contextual_loss(torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3), h=0)
