"""Lesson 05: the LSGAN loss checks, loss-vs-output curves, the ablation table and bars."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lessons_lib import viz
from lessons_lib.exercises import check_lsgan_d_loss, check_lsgan_g_loss
from lessons_lib.losses import GANLoss


# --------------------------------------------------------------------------- LSGAN D loss
def _d_formula(real, fake, a, b):
    return 0.5 * ((real - b) ** 2).mean() + 0.5 * ((fake - a) ** 2).mean()


def test_the_lsgan_d_loss_formula_and_the_package_pass():
    r = check_lsgan_d_loss(_d_formula)
    assert r.passed, r
    assert "3 cases" in r.detail
    forbidden = check_lsgan_d_loss(lambda real, fake, a, b: GANLoss("lsgan", a=a, b=b).d_loss(real, fake))
    assert forbidden.status == "wrong" and "GANLoss.d_loss" in str(forbidden) and "watched" in str(forbidden)
    # F.mse_loss is a mean of squares too
    assert check_lsgan_d_loss(lambda r_, f_, a, b: 0.5 * F.mse_loss(r_, torch.full_like(r_, b))
                              + 0.5 * F.mse_loss(f_, torch.full_like(f_, a)))


def test_the_reference_is_the_equation_by_hand():
    # 1/2 mean((x - b)^2) + 1/2 mean((y - a)^2) on numbers small enough to add up by hand.
    real, fake = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [2.0]])
    # a=0, b=1: 1/2 * (0 + 4)/2 + 1/2 * (0 + 4)/2 = 2
    assert float(_d_formula(real, fake, 0.0, 1.0)) == pytest.approx(2.0)
    assert float(GANLoss("lsgan", a=0.0, b=1.0).d_loss(real, fake)) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "fn, words",
    [
        (lambda r, f, a, b: 0.5 * ((r - a) ** 2).mean() + 0.5 * ((f - b) ** 2).mean(), "a and b are swapped"),
        (lambda r, f, a, b: ((r - b) ** 2).mean() + ((f - a) ** 2).mean(), "factor 1/2"),
        (lambda r, f, a, b: 0.5 * ((r.sigmoid() - b) ** 2).mean() + 0.5 * ((f.sigmoid() - a) ** 2).mean(),
         "do not apply a sigmoid"),
        (lambda r, f, a, b: 0.5 * ((r - b) ** 2).sum() + 0.5 * ((f - a) ** 2).sum(), "not sums"),
        (lambda r, f, a, b: torch.cat([((r - b) ** 2).flatten(), ((f - a) ** 2).flatten()]).mean(),
         "3 real and 5 fake maps"),
        (lambda r, f, a, b: 0.5 * (r - b).abs().mean() + 0.5 * (f - a).abs().mean(), "least SQUARES"),
        (lambda r, f, a, b: F.softplus(-r).mean() + F.softplus(f).mean(), "vanilla"),
        (lambda r, f, a, b: 0.5 * ((r - b) ** 2).mean(), "one term is missing"),
        (lambda r, f, a, b: 0.5 * ((f - a) ** 2).mean(), "one term is missing"),
        # hard-coding seed 000's targets passes the first case and fails on Mao's a = -1
        (lambda r, f, a, b: _d_formula(r, f, 0.0, 1.0), "on one logit per image, a=-1, b=1"),
        (lambda r, f, a, b: 0.0, "should be a torch.Tensor, got float"),
        (lambda r, f, a, b: None, "forget the `return`"),
    ],
)
def test_d_loss_mistakes_get_their_hint(fn, words):
    r = check_lsgan_d_loss(fn)
    assert not r.passed
    assert words in str(r), str(r)


def test_d_loss_check_never_raises_and_catches_in_place_edits():
    def raises(r, f, a, b):
        raise NotImplementedError

    assert check_lsgan_d_loss(raises).status == "not_done"
    assert check_lsgan_g_loss(lambda f, c: (_ for _ in ()).throw(NotImplementedError())).status == "not_done"

    def inplace(r, f, a, b):
        r.sub_(b)
        f.sub_(a)
        return 0.5 * (r ** 2).mean() + 0.5 * (f ** 2).mean()

    res = check_lsgan_d_loss(inplace)
    assert not res and "in place" in str(res)


# --------------------------------------------------------------------------- LSGAN G loss
def test_the_lsgan_g_loss():
    assert check_lsgan_g_loss(lambda f, c: 0.5 * ((f - c) ** 2).mean())
    forbidden = check_lsgan_g_loss(lambda f, c: GANLoss("lsgan", c=c).g_loss(f))
    assert forbidden.status == "wrong" and "GANLoss.g_loss" in str(forbidden)
    from lessons_lib.losses import gan_loss
    assert "watched" in str(check_lsgan_g_loss(lambda f, c: gan_loss("lsgan", c=c).g_loss(f)))
    for fn, words in [
        (lambda f, c: 0.5 * (f ** 2).mean(), "not towards a"),
        (lambda f, c: ((f - c) ** 2).mean(), "twice the reference"),
        (lambda f, c: -0.5 * ((f - c) ** 2).mean(), "no minus sign"),
        (lambda f, c: 0.5 * ((f.sigmoid() - c) ** 2).mean(), "sigmoid"),
        (lambda f, c: 0.5 * ((f - c) ** 2).sum(), "a mean, not a sum"),
        (lambda f, c: 0.5 * ((f - 1.0) ** 2).mean(), "on one logit per image, c=0"),
    ]:
        r = check_lsgan_g_loss(fn)
        assert not r.passed and words in str(r), str(r)


# --------------------------------------------------------------------------- loss vs D output
def test_loss_vs_logit_matches_the_closed_forms():
    t = np.linspace(-4, 4, 17)
    v, g = viz.loss_vs_logit(GANLoss("lsgan").g_loss, t)          # 1/2 (t - 1)^2, slope t - 1
    np.testing.assert_allclose(v, 0.5 * (t - 1.0) ** 2, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g, t - 1.0, rtol=1e-6, atol=1e-6)
    v, g = viz.loss_vs_logit(GANLoss("vanilla").g_loss, t)        # softplus(-t), slope -sigmoid(-t)
    np.testing.assert_allclose(v, np.log1p(np.exp(-t)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, -1.0 / (1.0 + np.exp(t)), rtol=1e-5, atol=1e-6)
    # the lesson's point: at t = 4 (D sure the sample is real) the vanilla G gets almost no
    # gradient, LSGAN a large one.
    assert abs(g[-1]) < 0.02 and viz.loss_vs_logit(GANLoss("lsgan").g_loss, [4.0])[1][0] == pytest.approx(3.0)


def test_loss_vs_logit_rejects_a_non_scalar_loss():
    with pytest.raises(ValueError, match="scalar"):
        viz.loss_vs_logit(lambda t: t.repeat(1, 3), [0.0, 1.0])


def test_plot_loss_vs_logit_draws_the_losses_and_gradient_sizes():
    fig = viz.plot_loss_vs_logit({"lsgan": GANLoss("lsgan").g_loss, "vanilla": GANLoss("vanilla").g_loss},
                                 lo=-2, hi=2, n=5, shade=(0, 2, "D says real"), marks={"boundary": 0.5})
    try:
        ax_l, ax_g = fig.axes
        assert len(ax_l.lines) >= 2 and len(ax_g.lines) >= 2
        x, y = ax_l.lines[0].get_data()
        np.testing.assert_allclose(x, [-2, -1, 0, 1, 2])
        np.testing.assert_allclose(y, 0.5 * (np.array([-2, -1, 0, 1, 2]) - 1.0) ** 2, atol=1e-6)
        _, gy = ax_g.lines[0].get_data()
        np.testing.assert_allclose(gy, np.abs(np.array([-2, -1, 0, 1, 2]) - 1.0), atol=1e-6)
    finally:
        plt.close(fig)
    with pytest.raises(ValueError):
        viz.plot_loss_vs_logit({})
    with pytest.raises(ValueError):
        viz.plot_loss_vs_logit({"x": GANLoss("lsgan").g_loss}, lo=1, hi=0)


# --------------------------------------------------------------------------- ablation table
RESULTS = {
    "pix2pix": {"mae_rgb_mean": 12.0, "auc": 0.80, "psnr": 21.0, "colorfulness_gap": -9.0},
    "lsgan": {"mae_rgb_mean": 11.0, "auc": 0.82, "psnr": 21.0, "colorfulness_gap": 4.0},
    "full": {"mae_rgb_mean": 11.5, "auc": 0.81, "psnr": 20.0, "colorfulness_gap": -2.0},
}
KEYS = ["mae_rgb_mean", "auc", "psnr", "colorfulness_gap"]


def test_best_runs_uses_each_metrics_direction():
    best = viz.best_runs(RESULTS, KEYS + ["n_images"])
    assert best == {
        "mae_rgb_mean": ["lsgan"],          # lowest
        "auc": ["lsgan"],                   # highest
        "psnr": ["pix2pix", "lsgan"],       # a tie: both win
        "colorfulness_gap": ["full"],       # closest to 0, sign ignored
    }                                       # n_images has no direction: left out


def test_metrics_table_marks_the_best_cells():
    text = viz.metrics_table(RESULTS, KEYS, labels={"mae_rgb_mean": "MAE"}, digits=2)
    lines = text.splitlines()
    assert lines[0].split() == ["run", "MAE", "auc", "psnr", "colorfulness_gap"]
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines[2:5]}
    assert rows["lsgan"] == ["11.00*", "0.82*", "21.00*", "4.00"]
    assert rows["pix2pix"] == ["12.00", "0.80", "21.00*", "-9.00"]
    assert rows["full"] == ["11.50", "0.81", "20.00", "-2.00*"]
    assert lines[-1].startswith("* best in its column")
    missing = viz.metrics_table({"a": {"auc": 0.5}, "b": {}}, ["auc"], mark_best=False)
    assert missing.splitlines()[-1].split() == ["b", "-"] and "*" not in missing
    with pytest.raises(ValueError):
        viz.metrics_table({}, KEYS)


def test_plot_metric_bars_outlines_the_winner():
    fig = viz.plot_metric_bars(RESULTS, ["mae_rgb_mean", "colorfulness_gap"])
    try:
        ax_mae, ax_gap = fig.axes
        heights = [p.get_height() for p in ax_mae.patches]
        assert heights == [12.0, 11.0, 11.5]
        widths = [p.get_linewidth() for p in ax_mae.patches]
        assert widths[1] == 2.0 and widths[0] != 2.0
        assert [p.get_linewidth() == 2.0 for p in ax_gap.patches] == [False, False, True]
        assert "lower is better" in ax_mae.get_title() and "closer to 0" in ax_gap.get_title()
        # honest axes: the bars start at 0, the values are written on them
        assert ax_mae.get_ylim()[0] <= 0.0
        assert [t.get_text() for t in ax_mae.texts] == ["12", "11", "11.5"]
    finally:
        plt.close(fig)
    # a NaN (a diverged run) never wins
    assert viz.best_runs({"a": {"auc": float("nan")}, "b": {"auc": 0.1}}, ["auc"]) == {"auc": ["b"]}
    assert viz.best_runs({"a": {"auc": float("nan")}}, ["auc"]) == {}
