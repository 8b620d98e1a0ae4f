"""Lesson 03: the receptive-field checks, and the receptive-field figures and helpers."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from lessons_lib.exercises import check_patchgan_receptive_field, check_receptive_field  # noqa: E402
from lessons_lib.exercises.lesson03 import RF_CASES  # noqa: E402
from lessons_lib.models.discriminators import PatchGAN, patchgan_receptive_field  # noqa: E402
from lessons_lib.models.layers import ConvGeometry, receptive_field  # noqa: E402
from lessons_lib.viz import (  # noqa: E402
    logit_input_gradient,
    plot_patchgan_geometry,
    receptive_field_box,
    show_receptive_field,
)


@pytest.fixture(autouse=True)
def no_leaked_figures():
    plt.close("all")
    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert not leaked, f"figures left open: {leaked}"


def backward(layers):
    r = 1
    for k, s in reversed(layers):
        r = s * r + (k - s)
    return r


def forward(layers):
    r, j = 1, 1
    for k, s in layers:
        r += (k - 1) * j
        j *= s
    return r


# --------------------------------------------------------------------------- the checks
def test_the_cases_hold_stacks_the_lesson_does_not_show():
    assert backward(RF_CASES["the 34x34 PatchGAN (n_layers=2)"]) == 34
    assert backward(RF_CASES["a ResNet-like stem (7x7/2, 3x3/2 pool, 3x3 convs)"]) == 51
    assert backward(RF_CASES["stride-3 layers with 5x5 kernels"]) == 35
    assert len(RF_CASES) >= 6


@pytest.mark.parametrize("answer", [backward, forward])
def test_check_accepts_right_answers(answer):
    res = check_receptive_field(answer)
    assert res.passed, res.message
    assert f"on {len(RF_CASES)} stacks" in res.message


@pytest.mark.parametrize("answer", [
    lambda layers: receptive_field([ConvGeometry(k, s, 0) for k, s in layers]),
    lambda layers: patchgan_receptive_field(3),
])
def test_check_forbids_the_kits_helpers(answer):
    res = check_receptive_field(answer)
    assert res.status == "wrong"
    assert "the check runs your code with those calls watched" in res.message, res.message


def _wrong_direction(layers):
    """The top-down recursion run from the input side."""
    r = 1
    for k, s in layers:
        r = s * r + (k - s)
    return r


@pytest.mark.parametrize(
    "answer, words, first_wrong",
    [
        (lambda layers: 1 + sum(k - 1 for k, _ in layers), "ignored the strides", "expected 34"),
        (_wrong_direction, "from the OUTPUT back", "expected 34"),
        (lambda layers: sum(k for k, _ in layers), "Adding the kernel sizes", "expected 34"),
        (lambda layers: backward(layers) + 1, "which is too large", "expected 3"),
        (lambda layers: backward(layers) - 2, "which is too small", "expected 3"),
    ],
)
def test_check_names_the_mistakes(answer, words, first_wrong):
    res = check_receptive_field(answer)
    assert not res.passed
    assert words in res.message, res.message
    assert first_wrong in res.message, res.message       # the first case that tells it apart


def test_a_typed_number_does_not_pass():
    assert not check_receptive_field(lambda layers: 70)


def test_check_never_raises():
    def stub(layers):
        raise NotImplementedError

    assert check_receptive_field(stub).status == "not_done"
    assert "ZeroDivisionError" in check_receptive_field(lambda layers: 1 / 0).message
    assert "whole number" in check_receptive_field(lambda layers: "70").message
    assert "whole number" in check_receptive_field(lambda layers: 70.5).message
    assert not check_receptive_field(None)


def test_patchgan_function_check():
    def by_layers(n_layers):
        return backward([(4, 2)] * n_layers + [(4, 1), (4, 1)])

    def closed_form(n_layers):          # r = 2^n * 7 + 2^(n+1) - 2 ... written as the recursion's fixed point
        r = 7
        for _ in range(n_layers):
            r = 2 * r + 2
        return r

    assert check_patchgan_receptive_field(by_layers)
    assert check_patchgan_receptive_field(closed_form)
    forbidden = check_patchgan_receptive_field(lambda n: patchgan_receptive_field(n))
    assert forbidden.status == "wrong" and "watched" in forbidden.message
    built = check_patchgan_receptive_field(lambda n: PatchGAN(in_channels=1, ndf=1, n_layers=n).receptive_field)
    assert built.status == "wrong" and "watched" in built.message
    assert "one strided layer less" in check_patchgan_receptive_field(lambda n: by_layers(n - 1)).message
    assert "one strided layer more" in check_patchgan_receptive_field(lambda n: by_layers(n + 1)).message
    assert "ignored the strides" in check_patchgan_receptive_field(lambda n: 1 + 3 * (n + 2)).message
    assert "stride-1 layers" in check_patchgan_receptive_field(
        lambda n: backward([(4, 2)] * n + [(4, 1)])).message
    typed = check_patchgan_receptive_field(142)
    assert not typed and "pass a function" in typed.message
    assert not check_patchgan_receptive_field(lambda n: 142)

    def stub(n_layers):
        raise NotImplementedError

    assert check_patchgan_receptive_field(stub).status == "not_done"


# --------------------------------------------------------------------------- geometry helpers
def test_receptive_field_box_by_hand():
    geo = [ConvGeometry(3, 1, 1)]
    assert receptive_field_box(geo, 0) == (-1, 1)
    geo = [ConvGeometry(4, 2, 1), ConvGeometry(4, 1, 1)]       # r = 1 + 3 + 3*2 = 10
    first, last = receptive_field_box(geo, 5)
    # back through layer 2: [5 - 1, 5 - 1 + 3] = [4, 7]; layer 1: [2*4 - 1, 2*7 - 1 + 3] = [7, 16]
    assert (first, last) == (7, 16)
    assert last - first + 1 == receptive_field(geo)


@pytest.mark.parametrize("n_layers, size", [(1, 24), (2, 40)])
def test_box_is_exactly_the_support_of_one_logits_gradient(n_layers, size):
    torch.manual_seed(0)
    D = PatchGAN(in_channels=2, ndf=2, n_layers=n_layers)
    D.train()
    x = torch.rand(1, 2, size, size)
    m = D.output_size(size)
    for row, col in [(0, 0), (m // 2, m - 1), (m - 1, m // 3)]:
        g = logit_input_gradient(D, x, row, col)
        assert g.shape == (size, size)
        nz = g.nonzero()
        (r0, r1), (c0, c1) = receptive_field_box(D, row), receptive_field_box(D, col)
        assert r1 - r0 + 1 == patchgan_receptive_field(n_layers)
        assert (nz[:, 0].min().item(), nz[:, 0].max().item()) == (max(r0, 0), min(r1, size - 1))
        assert (nz[:, 1].min().item(), nz[:, 1].max().item()) == (max(c0, 0), min(c1, size - 1))
    assert D.training                                       # put back in its mode
    assert all(p.grad is None for p in D.parameters())      # no gradient left on D


def test_logit_gradient_rejects_bad_input():
    D = PatchGAN(in_channels=1, ndf=2, n_layers=1)
    with pytest.raises(ValueError, match="outside"):
        logit_input_gradient(D, torch.rand(1, 1, 16, 16), 50, 0)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        logit_input_gradient(D, torch.rand(1, 16, 16), 0, 0)
    with pytest.raises(ValueError, match="patch map"):
        logit_input_gradient(nn.Sequential(nn.Flatten()), torch.rand(1, 1, 4, 4), 0, 0)


@pytest.mark.parametrize("n_layers", [1, 3, 5])
def test_geometry_figure_numbers_come_from_the_model(n_layers):
    fig = plot_patchgan_geometry(n_layers, size=256)
    D = PatchGAN(in_channels=1, ndf=1, n_layers=n_layers)
    assert fig.geometry == {"receptive_field": patchgan_receptive_field(n_layers),
                            "map_size": D.output_size(256), "stride": 2 ** n_layers}
    assert str(patchgan_receptive_field(n_layers)) in fig.axes[0].get_title()
    plt.close(fig)


def test_geometry_figure_refuses_too_small_images():
    with pytest.raises(ValueError, match="too small"):
        plot_patchgan_geometry(6, size=128)
    with pytest.raises(ValueError, match="expected 64x64"):
        plot_patchgan_geometry(1, size=64, image=torch.rand(3, 32, 32))
    assert not plt.get_fignums()


def test_show_receptive_field():
    D = PatchGAN(in_channels=3, ndf=2, n_layers=1)
    x = torch.rand(1, 3, 32, 32)
    g = logit_input_gradient(D, x, 4, 5)
    fig = show_receptive_field(x, g, (receptive_field_box(D, 4), receptive_field_box(D, 5)))
    assert len(fig.axes) == 3 and "16x16" in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="differ in size"):
        show_receptive_field(x, g[:10], ((0, 1), (0, 1)))
