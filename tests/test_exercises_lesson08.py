"""Lesson 08: the modulation / demodulation check and the style-mixing figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from lessons_lib import viz
from lessons_lib.exercises import check_demodulation
from lessons_lib.models import build_model


def _answer(weight, s):
    wp = weight[None] * s[:, None, :, None, None]                          # w' = s_i w_oik
    return wp / torch.sqrt(wp.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)


def _answer_einsum(weight, s):
    wp = torch.einsum("oikl,bi->boikl", weight, s)
    norm = torch.einsum("boikl,boikl->bo", wp, wp)
    return wp * torch.rsqrt(norm + 1e-8)[:, :, None, None, None]


@pytest.mark.parametrize("fn", [_answer, _answer_einsum])
def test_right_answers_pass(fn):
    r = check_demodulation(fn)
    assert r.passed, r
    assert "ModulatedConv2d" in r.detail and "3 cases" in r.detail


def _through_the_layer(weight, s):
    # the package's layer does the work: a ModulatedConv2d fed with the same weight, styles
    # recovered through its affine map - what the forbid list catches
    from lessons_lib.models.stylegan2 import ModulatedConv2d

    O, I, k, _ = weight.shape
    layer = ModulatedConv2d(I, O, k, w_dim=I)
    x = torch.zeros(1, I, k, k)
    layer(x, s[:1])
    return _answer(weight, s)


def test_the_packages_layer_is_forbidden():
    r = check_demodulation(_through_the_layer)
    assert not r.passed and r.status == "wrong"
    assert "ModulatedConv2d.forward" in r.message and "watched" in r.message


def test_the_stub_is_not_done():
    def stub(weight, s):
        raise NotImplementedError

    assert check_demodulation(stub).status == "not_done"


def test_demodulation_gives_unit_output_scale_whatever_the_style():
    # the property the exercise is about (StyleGAN2 sec. 2.2): with unit-variance input, each
    # output channel of a demodulated conv has about unit variance, for any style scale
    torch.manual_seed(0)
    w = torch.randn(8, 16, 3, 3)
    x = torch.randn(1, 16, 64, 64)
    for scale in (0.1, 1.0, 10.0):
        s = scale * torch.rand(1, 16) + 0.1
        weight = _answer(w, s)[0]
        y = torch.nn.functional.conv2d(x, weight, padding=1)
        assert y[..., 2:-2, 2:-2].std(dim=(0, 2, 3)).mean().item() == pytest.approx(1.0, abs=0.15)


def test_mistakes_are_named():
    r = check_demodulation(lambda w, s: w[None] * s[:, None, :, None, None])
    assert not r.passed and "not demodulated" in r.message
    r = check_demodulation(lambda w, s: (lambda wp: wp * torch.rsqrt(wp.pow(2).sum(dim=(1, 3, 4), keepdim=True)
                                                                       + 1e-8))(w[None] * s[:, None, :, None, None]))
    assert not r.passed and "OUTPUT channel" in r.message
    r = check_demodulation(lambda w, s: w)
    assert not r.passed and "(B, O, I, k, k)" in r.message


def test_style_mixing_grid():
    torch.manual_seed(0)
    G = build_model("stylegan2_g", size=16, z_dim=8, w_dim=8, n_mlp=1, channel_base=64, channel_max=8).eval()
    fig = viz.show_style_mixing(G, torch.randn(2, 8), torch.randn(3, 8), crossover=2)
    assert len(fig.axes) == (2 + 1) * (3 + 1)
    plt.close(fig)
