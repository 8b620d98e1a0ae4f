"""Lesson 04: the 1x1-conv = per-pixel-linear check, the mlpconv parameter count, show_maps."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lessons_lib import viz
from lessons_lib.exercises import check_mlpconv_parameters, check_pointwise_linear
from lessons_lib.exercises.lesson04 import mlpconv_parameter_count
from lessons_lib.models import build_model
from lessons_lib.models.layers import count_parameters


# --------------------------------------------------------------------------- check_pointwise_linear
def _permute_matmul(x, w, b):
    return (x.permute(0, 2, 3, 1) @ w.T + b).permute(0, 3, 1, 2)


def _with_nn_linear(x, w, b):
    lin = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(b)
        return lin(x.movedim(1, -1)).movedim(-1, 1)


def _einsum(x, w, b):
    return torch.einsum("kc,bchw->bkhw", w, x) + b[None, :, None, None]


def _explicit_loops(x, w, b):
    # The definition itself: y[b, :, i, j] = W x[b, :, i, j] + bias, one pixel at a time.
    B, _, H, W = x.shape
    y = torch.empty(B, w.shape[0], H, W)
    for n in range(B):
        for i in range(H):
            for j in range(W):
                y[n, :, i, j] = w @ x[n, :, i, j] + b
    return y


@pytest.mark.parametrize("fn", [_permute_matmul, _with_nn_linear, _einsum, _explicit_loops])
def test_every_way_of_writing_a_per_pixel_linear_layer_passes(fn):
    r = check_pointwise_linear(fn)
    assert r.passed, r
    assert "3 cases" in r.detail


def test_the_reference_is_a_1x1_convolution_layer():
    # The check's claim, independently: an nn.Conv2d with kernel 1 and an nn.Linear with the
    # same numbers give the same output at every pixel.
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 7, kernel_size=1)
    x = torch.randn(2, 5, 3, 4)
    got = _permute_matmul(x, conv.weight[:, :, 0, 0].detach(), conv.bias.detach())
    torch.testing.assert_close(got, conv(x).detach(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "fn, words",
    [
        (lambda x, w, b: (x.permute(0, 2, 3, 1) @ w.T).permute(0, 3, 1, 2), "the bias is missing"),
        (lambda x, w, b: F.relu(_permute_matmul(x, w, b)), "you applied an activation"),
        (lambda x, w, b: (x.permute(0, 2, 3, 1) @ w.T + b).reshape(x.shape[0], w.shape[0], *x.shape[2:]),
         "the way back is not"),
        (lambda x, w, b: (x.reshape(x.shape[0], x.shape[2], x.shape[3], x.shape[1]) @ w.T + b).permute(0, 3, 1, 2),
         "x.reshape(B, H, W, C) is not a transpose"),
        # (K, C) used as (C, K): fails with a shape error on 3 -> 6, and on the square 4 -> 4 case
        # it would compute W^T x; the first failing case is the 3 -> 6 one, where it raises.
        (lambda x, w, b: (x.permute(0, 2, 3, 1) @ w + b).permute(0, 3, 1, 2), "your function raised RuntimeError"),
        (lambda x, w, b: torch.zeros(x.shape[0], w.shape[0], x.shape[2], x.shape[3]), "the stub is still in place"),
        (lambda x, w, b: 2 * _permute_matmul(x, w, b), "2 times the expected one"),
        (lambda x, w, b: x, "expected (2, 6, 4, 5)"),
    ],
)
def test_wrong_answers_get_a_hint_and_never_raise(fn, words):
    r = check_pointwise_linear(fn)
    assert not r.passed
    assert words in str(r), str(r)


def test_a_transposed_square_weight_is_named():
    # Skip the non-square case so that the transpose reaches the square one.
    def transposed_when_square(x, w, b):
        if w.shape[0] == w.shape[1]:
            return (x.permute(0, 2, 3, 1) @ w + b).permute(0, 3, 1, 2)
        return _permute_matmul(x, w, b)

    r = check_pointwise_linear(transposed_when_square)
    assert not r and "transposed weight" in str(r) and "(1, 4, 3, 2)" in str(r)


# --------------------------------------------------------------------------- mlpconv parameters
def test_mlpconv_parameter_count_by_hand():
    # 4x4 conv 64 -> 128 without bias (BN follows), BN (gamma, beta), then two 1x1 convs
    # 128 -> 128 without bias, each with a BN.
    by_hand = 16 * 64 * 128 + 2 * 128 + 2 * (128 * 128 + 2 * 128)
    assert by_hand == 164608
    assert mlpconv_parameter_count(64, 128, 2) == by_hand
    assert mlpconv_parameter_count(3, 8, 0) == 16 * 3 * 8 + 2 * 8   # no MLP: a PatchGAN block
    assert mlpconv_parameter_count(8, 16, 3) == 16 * 8 * 16 + 2 * 16 + 3 * (16 * 16 + 2 * 16)


def test_the_count_is_the_one_of_the_discriminators_second_block():
    d = build_model("nin_patchgan", in_channels=6, ndf=64, n_layers=3, mlp_layers=2)
    assert count_parameters(d.net[1]) == mlpconv_parameter_count(64, 128, 2)
    # and NIN adds exactly the 1x1 layers to the plain PatchGAN's block
    p = build_model("patchgan", in_channels=6, ndf=64, n_layers=3)
    assert count_parameters(d.net[1]) - count_parameters(p.net[1]) == 2 * (128 * 128 + 2 * 128)


@pytest.mark.parametrize(
    "answer, words",
    [
        (16 * 64 * 128 + 2 * 128 * 128, "BatchNorm has parameters too"),
        (164608 + 3 * 128, "no bias"),
        (16 * 64 * 128 + 2 * 128, "4x4 convolution (and its BatchNorm) only"),
        (9 * 64 * 128 + 2 * 128 * 128 + 3 * 256, "not 3x3"),
        (16 * 64 * 128 + 2 * 16 * 128 * 128 + 3 * 256, "not 16 * c_out * c_out"),
        (16 * 64 * 128 + 2 * 128 * 128 + 256, "each 1x1 conv has its own BatchNorm"),
        (1000, "too small"),
        (10 ** 7, "too large"),
        ("many", "should be a number"),
    ],
)
def test_mlpconv_parameter_mistakes(answer, words):
    r = check_mlpconv_parameters(answer)
    assert not r.passed
    assert words in str(r), str(r)


def test_mlpconv_parameters_accepts_the_right_count_for_other_sizes():
    assert check_mlpconv_parameters(164608)
    assert check_mlpconv_parameters(torch.tensor(164608))
    n = 16 * 32 * 32 + 64 + (32 * 32 + 64)
    assert check_mlpconv_parameters(n, c_in=32, c_out=32, mlp_layers=1)
    assert not check_mlpconv_parameters(164608, c_in=32, c_out=32, mlp_layers=1)


# --------------------------------------------------------------------------- show_maps
def test_show_maps_draws_each_map_with_its_values():
    maps = torch.arange(2 * 12, dtype=torch.float32).reshape(2, 1, 3, 4)
    fig = viz.show_maps(maps, titles=["a", "b"], colorbar=False)
    try:
        assert len(fig.axes) == 2
        for ax, m in zip(fig.axes, maps):
            np.testing.assert_array_equal(ax.images[0].get_array(), m[0].numpy())
        assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    finally:
        plt.close(fig)


def test_show_maps_scales_centre_shared_and_fixed():
    a, b = torch.tensor([[0.0, 0.2]]), torch.tensor([[0.9, 1.4]])
    fig = viz.show_maps([a, b], center=0.5, colorbar=False)
    try:
        # per map: [0, 0.2] is at most 0.5 from the centre -> (0, 1); [0.9, 1.4] at most 0.9 -> (-0.4, 1.4)
        assert fig.axes[0].images[0].get_clim() == pytest.approx((0.0, 1.0))
        assert fig.axes[1].images[0].get_clim() == pytest.approx((-0.4, 1.4))
    finally:
        plt.close(fig)
    fig = viz.show_maps([a, b], center=0.5, shared=True, colorbar=False)
    try:
        # |1.4 - 0.5| = 0.9 is the widest distance from the centre over both maps
        for ax in fig.axes:
            assert ax.images[0].get_clim() == pytest.approx((-0.4, 1.4))
    finally:
        plt.close(fig)
    fig = viz.show_maps([a, b], vmin=0.0, vmax=1.0, colorbar=True, extent=(-1, 1, -1, 1), contours=3)
    try:
        assert len(fig.axes) == 4  # two maps + two colour bars
        assert fig.axes[0].images[0].get_clim() == (0.0, 1.0)
    finally:
        plt.close(fig)


def test_show_maps_rejects_what_it_cannot_draw():
    with pytest.raises(ValueError, match="pick one image and one channel"):
        viz.show_maps([torch.zeros(2, 3, 3)])
    with pytest.raises(ValueError, match="one-channel maps"):
        viz.show_maps(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="2 maps but 1 titles"):
        viz.show_maps([torch.zeros(2, 2), torch.zeros(2, 2)], titles=["x"])
    with pytest.raises(ValueError, match="no maps"):
        viz.show_maps([])
