"""Lesson 04: the 1x1-conv = per-pixel-linear check, the mlpconv parameter count, show_maps."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lessons_lib import viz
from lessons_lib.exercises import check_mlpconv_block, check_mlpconv_parameters, check_pointwise_linear
from lessons_lib.exercises.lesson04 import BLOCK_CASES, mlpconv_formula, mlpconv_parameter_count
from lessons_lib.models.discriminators import mlpconv
from lessons_lib.models.layers import conv_block
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


@pytest.mark.parametrize("fn", [
    lambda x, w, b: F.conv2d(x, w[:, :, None, None], b),
    lambda x, w, b: torch.conv2d(x, w[:, :, None, None], b),
    lambda x, w, b: _conv_module(x, w, b),
])
def test_conv2d_is_forbidden(fn):
    r = check_pointwise_linear(fn)
    assert r.status == "wrong"
    assert "torch.conv2d" in str(r) and "watched" in str(r), str(r)


def _conv_module(x, w, b):
    conv = nn.Conv2d(w.shape[1], w.shape[0], 1)
    with torch.no_grad():
        conv.weight.copy_(w[:, :, None, None])
        conv.bias.copy_(b)
        return conv(x)


def test_pointwise_stub_is_not_done():
    def stub(x, w, b):
        raise NotImplementedError

    assert check_pointwise_linear(stub).status == "not_done"


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


def test_the_formula_is_the_packages_block():
    for c_in, c_out, m in [(64, 128, 2), (3, 8, 0), (8, 16, 3)]:
        assert mlpconv_formula(c_in, c_out, 4, m, True) == mlpconv_parameter_count(c_in, c_out, m)
    # without a norm, conv_block gives each conv a bias
    block = nn.Sequential(conv_block(5, 7, 5, 1, 2, norm="none"), *[conv_block(7, 7, 1, 1, 0, norm="none")] * 1,
                          conv_block(7, 7, 1, 1, 0, norm="none"), conv_block(7, 7, 1, 1, 0, norm="none"))
    assert count_parameters(block) == mlpconv_formula(5, 7, 5, 3, False)


def my_mlpconv_parameters(c_in, c_out, kernel, mlp_layers, batch_norm=True):
    weights = kernel * kernel * c_in * c_out + mlp_layers * c_out * c_out
    return weights + (1 + mlp_layers) * (2 * c_out if batch_norm else c_out)


def test_mlpconv_parameters_right_answer_passes():
    r = check_mlpconv_parameters(my_mlpconv_parameters)
    assert r.passed, r
    assert check_mlpconv_parameters(lambda *a: torch.tensor(my_mlpconv_parameters(*a)))


@pytest.mark.parametrize("fn", [
    lambda ci, co, k, m, bn: count_parameters(mlpconv(ci, co, 2, m, "batch", "leaky", 0.2, False)),
    lambda ci, co, k, m, bn: mlpconv_formula(ci, co, k, m, bn),
    lambda ci, co, k, m, bn: sum(p.numel() for p in nn.Conv2d(ci, co, k).parameters()),
])
def test_mlpconv_parameters_forbids_counting_a_built_block(fn):
    r = check_mlpconv_parameters(fn)
    assert r.status == "wrong" and "watched" in str(r), str(r)


@pytest.mark.parametrize(
    "fn, words",
    [
        (lambda ci, co, k, m, bn: k * k * ci * co + m * co * co + (0 if bn else (1 + m) * co),
         "BatchNorm has parameters too"),
        (lambda ci, co, k, m, bn: my_mlpconv_parameters(ci, co, k, m, bn) + ((1 + m) * co if bn else 0), "no bias"),
        (lambda ci, co, k, m, bn: my_mlpconv_parameters(ci, co, k, 0, bn), "k x k convolution (and its norm) only"),
        (lambda ci, co, k, m, bn: my_mlpconv_parameters(ci, co, k, m, bn) + m * (k * k - 1) * co * co,
         "not kernel^2 * c_out * c_out"),
        (lambda ci, co, k, m, bn: my_mlpconv_parameters(ci, co, k, m, bn) - (k * k - k) * ci * co,
         "not kernel * c_in * c_out"),
        (lambda ci, co, k, m, bn: my_mlpconv_parameters(ci, co, k, m, bn) - (2 * m * co if bn else 0),
         "each 1x1 conv has its own BatchNorm"),
        (lambda ci, co, k, m, bn: my_mlpconv_parameters(ci, co, k, m, True), "no gamma and beta"),
        (lambda ci, co, k, m, bn: my_mlpconv_parameters(ci, co, k, m, bn) - (0 if bn else (1 + m) * co),
         "without BatchNorm each convolution"),
        (lambda ci, co, k, m, bn: 164608, "differs from the expected"),
        (lambda ci, co, k, m, bn: "many", "torch.Tensor"),
    ],
)
def test_mlpconv_parameter_mistakes(fn, words):
    r = check_mlpconv_parameters(fn)
    assert not r.passed
    assert words in str(r), str(r)


def test_mlpconv_parameters_refuses_a_typed_number_and_knows_the_stub():
    r = check_mlpconv_parameters(164608)
    assert not r and "pass a function" in str(r)

    def stub(c_in, c_out, kernel, mlp_layers, batch_norm=True):
        raise NotImplementedError

    assert check_mlpconv_parameters(stub).status == "not_done"


# --------------------------------------------------------------------------- the mlpconv block
def _block(c_in, c_out, kernel, stride, mlp_layers, *, k1=1, s_first=True, act=True, norm=True, drop=0.2,
           bias=False, pad=None):
    pad = (kernel - 1) // 2 if pad is None else pad

    def tail(c):
        out = [nn.BatchNorm2d(c)] if norm else []
        out += [nn.ReLU()] if act else []
        out += [nn.Dropout(drop)] if drop else []
        return out

    layers = [nn.Conv2d(c_in, c_out, kernel, stride if s_first else 1, pad, bias=bias), *tail(c_out)]
    for i in range(mlp_layers):
        s = 1 if s_first or i else stride
        layers += [nn.Conv2d(c_out, c_out, k1, s, (k1 - 1) // 2, bias=bias), *tail(c_out)]
    return nn.Sequential(*layers)


def my_mlpconv_block(c_in, c_out, kernel, stride, mlp_layers):
    return _block(c_in, c_out, kernel, stride, mlp_layers)


class MyMlpConv(nn.Module):
    def __init__(self, c_in, c_out, kernel, stride, mlp_layers):
        super().__init__()
        self.first = nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.LeakyReLU(0.2)
        self.drop = nn.Dropout(0.3)
        self.mlp = nn.ModuleList([nn.Sequential(nn.Conv2d(c_out, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
                                                nn.LeakyReLU(0.2), nn.Dropout(0.3)) for _ in range(mlp_layers)])

    def forward(self, x):
        x = self.drop(self.act(self.bn(self.first(x))))
        for layer in self.mlp:
            x = layer(x)
        return x


@pytest.mark.parametrize("fn", [my_mlpconv_block, MyMlpConv])
def test_mlpconv_block_right_answers_pass(fn):
    r = check_mlpconv_block(fn)
    assert r.passed, r
    assert f"{len(BLOCK_CASES)} settings" in str(r)


def test_mlpconv_block_forbids_the_kits_builders():
    r = check_mlpconv_block(lambda ci, co, k, s, m: mlpconv(ci, co, s, m, "batch", "relu", 0.2, False))
    assert r.status == "wrong" and "discriminators.mlpconv`" in str(r) and "watched" in str(r), str(r)
    r = check_mlpconv_block(lambda ci, co, k, s, m: nn.Sequential(
        conv_block(ci, co, k, s, (k - 1) // 2, dropout=0.2),
        *[conv_block(co, co, 1, 1, 0, dropout=0.2) for _ in range(m)]))
    assert r.status == "wrong" and "conv_block" in str(r), str(r)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(mlp_layers=0), "1x1 convolution(s) should follow"),
        (dict(k1=3), "MLP layers are 1x1"),
        (dict(s_first=False), "wrong stride placement"),
        (dict(act=False), "no activation"),
        (dict(norm=False), "no BatchNorm2d"),
        (dict(drop=0.0), "no Dropout"),
        (dict(bias=True), "no bias"),
        (dict(pad=0), "needs padding"),
    ],
)
def test_mlpconv_block_names_the_classic_slips(kwargs, words):
    def wrong(c_in, c_out, kernel, stride, mlp_layers):
        kw = dict(kwargs)
        m = kw.pop("mlp_layers", mlp_layers)
        return _block(c_in, c_out, kernel, stride, m, **kw)

    r = check_mlpconv_block(wrong)
    assert r.status == "wrong"
    assert words in str(r), str(r)


def test_mlpconv_block_catches_a_block_that_mixes_positions_or_ignores_modes():
    class Mixer(nn.Module):          # the right layers, then a spatial blur that is no layer of the block
        def __init__(self, *a):
            super().__init__()
            self.body = _block(*a)

        def forward(self, x):
            y = self.body(x)
            return y + 0.1 * y.roll(2, dims=-1)

    assert "per-pixel" in str(check_mlpconv_block(Mixer))

    class Noisy(nn.Module):          # random in eval mode too
        def __init__(self, *a):
            super().__init__()
            self.body = _block(*a)

        def forward(self, x):
            return self.body(x) + 1e-3 * torch.randn(1)

    assert "eval mode" in str(check_mlpconv_block(Noisy))
    assert "return an nn.Module" in str(check_mlpconv_block(lambda *a: 3))

    def stub(c_in, c_out, kernel, stride, mlp_layers):
        raise NotImplementedError

    assert check_mlpconv_block(stub).status == "not_done"


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
