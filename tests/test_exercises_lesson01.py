"""Lesson 01: the checks of the GAN-game exercises and the lesson's plots."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from lessons_lib import viz  # noqa: E402
from lessons_lib.exercises import (  # noqa: E402
    check_discriminator_loss,
    check_equilibrium_value,
    check_gan_step,
    check_generator_loss,
    check_optimal_discriminator,
    game_value,
    optimal_discriminator,
)
from lessons_lib.losses import GANLoss  # noqa: E402

VANILLA = GANLoss("vanilla")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _normal(x: torch.Tensor, mu: float, s: float) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))


# --------------------------------------------------------------------------- the references
def test_optimal_discriminator_by_hand():
    p_data = torch.tensor([0.3, 0.0, 0.2, 0.0, 1.0])
    p_g = torch.tensor([0.1, 0.4, 0.2, 0.0, 0.0])
    d = optimal_discriminator(p_data, p_g)
    # 0.3 / 0.4; only G's mass -> 0; equal -> 1/2; no mass -> 1/2 by convention; only real -> 1
    assert torch.allclose(d, torch.tensor([0.75, 0.0, 0.5, 0.5, 1.0]))


def test_optimal_discriminator_maximises_the_pointwise_objective():
    # Prop. 1's argument: y -> a log y + b log(1 - y) peaks at a / (a + b); check on a fine grid.
    a, b = torch.tensor(0.37), torch.tensor(0.11)
    y = torch.linspace(1e-4, 1 - 1e-4, 100001)
    best = y[torch.argmax(a * torch.log(y) + b * torch.log(1 - y))]
    assert abs(float(best) - float(optimal_discriminator(a, b))) < 2e-4


def test_optimal_discriminator_rejects_bad_densities():
    with pytest.raises(ValueError, match="same shape"):
        optimal_discriminator(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="negative"):
        optimal_discriminator(torch.tensor([0.5, -0.1]), torch.ones(2))


def test_game_value_is_minus_log4_plus_twice_the_jsd():
    x = torch.linspace(-10, 10, 20001, dtype=torch.float64)
    dx = float(x[1] - x[0])
    p = _normal(x, 0.0, 1.0)
    assert game_value(p, p, dx) == pytest.approx(-math.log(4), abs=1e-6)
    # disjoint supports: JSD = log 2, so V = -log 4 + 2 log 2 = 0
    left, right = (x < 0).double() * 0.1, (x > 0).double() * 0.1   # two uniforms of mass 1 each
    assert game_value(left, right, dx) == pytest.approx(0.0, abs=1e-9)
    # a partial overlap: the JSD computed independently from its definition
    q = _normal(x, 1.5, 0.7)
    m = 0.5 * (p + q)
    jsd = 0.5 * float((torch.xlogy(p, p) - torch.xlogy(p, m)).sum() * dx) \
        + 0.5 * float((torch.xlogy(q, q) - torch.xlogy(q, m)).sum() * dx)
    assert game_value(p, q, dx) == pytest.approx(-math.log(4) + 2 * jsd, abs=1e-9)
    assert -math.log(4) < game_value(p, q, dx) < 0.0


# --------------------------------------------------------------------------- D*
def test_d_star_check_accepts_the_formula_and_names_the_mistakes():
    ok = check_optimal_discriminator(lambda pd, pg: pd / (pd + pg))
    assert ok and "3 cases" in str(ok)
    fake_prob = check_optimal_discriminator(lambda pd, pg: pg / (pd + pg))
    assert not fake_prob and "probability that x is FAKE" in str(fake_prob)
    ratio = check_optimal_discriminator(lambda pd, pg: pd / pg)
    assert not ratio and "density ratio" in str(ratio)
    half = check_optimal_discriminator(lambda pd, pg: torch.full_like(pd, 0.5))
    assert not half and "equilibrium" in str(half)
    broken = check_optimal_discriminator(lambda pd, pg: pd.reshape(-1))
    assert not broken and "shape" in str(broken)
    raises = check_optimal_discriminator(lambda pd, pg: undefined_name)  # noqa: F821
    assert not raises and "NameError" in str(raises)


def _my_game_value(p_data, p_g, dx):
    d = p_data / (p_data + p_g)
    terms = torch.xlogy(p_data, d) + torch.xlogy(p_g, 1 - d)
    return float(terms.nan_to_num(0.0).sum() * dx)    # 0/0 where both are 0: no mass, no term


def test_equilibrium_value_check_grades_a_function_on_unseen_settings():
    assert check_equilibrium_value(_my_game_value)
    # the equilibrium of any distribution is -log 4 (times its mass on the grid)
    x = torch.linspace(-8, 8, 2001, dtype=torch.float64)
    p = _normal(x, 0.3, 1.1)
    assert _my_game_value(p, p, float(x[1] - x[0])) == pytest.approx(-math.log(4), abs=1e-6)
    # a typed number fails: it is right only at p_g = p_data
    r = check_equilibrium_value(lambda pd, pg, dx: -math.log(4))
    assert not r and "whatever the densities" in str(r)
    assert check_equilibrium_value(lambda pd, pg, dx: None).status == "wrong"
    assert "pass your function itself" in str(check_equilibrium_value(-math.log(4)))


def _dstar(pd, pg):
    return pd / (pd + pg)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda pd, pg, dx: (torch.xlogy(pd, _dstar(pd, pg)) + torch.xlogy(pg, 1 - _dstar(pd, pg))).nan_to_num().sum(),
         "grid spacing"),
        (lambda pd, pg, dx: torch.xlogy(pd, _dstar(pd, pg)).nan_to_num().sum() * dx, "second term"),
        (lambda pd, pg, dx: -(torch.xlogy(pd, _dstar(pd, pg))
                              + torch.xlogy(pg, 1 - _dstar(pd, pg))).nan_to_num().sum() * dx, "the sign"),
        (lambda pd, pg, dx: (torch.xlogy(pd, _dstar(pd, pg)) + torch.xlogy(pg, 1 - _dstar(pd, pg))).nan_to_num().sum()
         * dx / math.log(2), "natural one"),
        (lambda pd, pg, dx: (pd * torch.log(_dstar(pd, pg)) + pg * torch.log(1 - _dstar(pd, pg))).sum() * dx,
         "0 * log 0"),
    ],
)
def test_equilibrium_value_check_names_each_mistake(wrong, words):
    r = check_equilibrium_value(wrong)
    assert not r and words in str(r), str(r)


def test_equilibrium_value_check_forbids_the_package_and_reports_not_done():
    r = check_equilibrium_value(lambda pd, pg, dx: game_value(pd, pg, dx))
    assert not r and "game_value" in str(r) and "watched" in str(r)
    r = check_equilibrium_value(lambda pd, pg, dx: float((torch.xlogy(pd, optimal_discriminator(pd, pg))
                                                           + torch.xlogy(pg, 1 - optimal_discriminator(pd, pg)))
                                                          .sum() * dx))
    assert not r and "optimal_discriminator" in str(r)

    def stub(pd, pg, dx):
        raise NotImplementedError

    assert check_equilibrium_value(stub).status == "not_done"


# --------------------------------------------------------------------------- the losses
def test_d_loss_check_accepts_bce_with_logits_and_forbids_the_package():
    r = check_discriminator_loss(VANILLA.d_loss)
    assert not r and "GANLoss.d_loss" in str(r) and "watched" in str(r)
    assert check_discriminator_loss(lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean())

    def stub(r, f):
        raise NotImplementedError

    assert check_discriminator_loss(stub).status == "not_done"

    def bce(r, f):
        return (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))

    assert check_discriminator_loss(bce)
    assert check_discriminator_loss(lambda r, f: -F.logsigmoid(r).mean() - F.logsigmoid(-f).mean())


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda r, f: -torch.log(r).mean() - torch.log(1 - f).mean(), "logits (any real number)"),
        (lambda r, f: torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean(), "MAXIMISES"),
        (lambda r, f: F.softplus(r).mean() + F.softplus(-f).mean(), "labels are swapped"),
        (lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum(), "mean over the batch"),
        (lambda r, f: F.binary_cross_entropy_with_logits(
            torch.cat([r, f]), torch.cat([torch.ones_like(r), torch.zeros_like(f)])), "average of the two"),
        (lambda r, f: torch.zeros(()), "differs from the expected"),
        (lambda r, f: None, "return"),
    ],
)
def test_d_loss_check_names_each_mistake(wrong, words):
    result = check_discriminator_loss(wrong)
    assert not result
    assert words in str(result), str(result)


def test_d_loss_check_catches_log_sigmoid_underflow():
    naive = lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean()  # noqa: E731
    # right on ordinary logits ...
    r, f = torch.randn(8, 1), torch.randn(8, 1)
    assert torch.allclose(naive(r, f), VANILLA.d_loss(r, f), atol=1e-5)
    # ... but inf on confident ones, and the check says so
    result = check_discriminator_loss(naive)
    assert not result and "very confident" in str(result) and "F.softplus" in str(result)


def test_g_loss_check_accepts_logsigmoid_and_forbids_the_package():
    r = check_generator_loss(VANILLA.g_loss)
    assert not r and "GANLoss.g_loss" in str(r)
    assert check_generator_loss(lambda f: F.softplus(-f).mean())
    assert check_generator_loss(lambda f: -F.logsigmoid(f).mean())
    assert check_generator_loss(lambda f: F.binary_cross_entropy_with_logits(f, torch.ones_like(f)))


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda f: torch.log(1 - torch.sigmoid(f)).mean(), "saturating (minimax)"),
        (lambda f: torch.log(torch.sigmoid(f)).mean(), "the sign"),
        (lambda f: F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)), "D's loss on the fakes"),
        (lambda f: -torch.log(f).mean(), "not probabilities"),
        (lambda f: F.softplus(-f).sum(), "not the sum"),
        (lambda f: -torch.log(torch.sigmoid(f)).mean(), "very confident"),
    ],
)
def test_g_loss_check_names_each_mistake(wrong, words):
    result = check_generator_loss(wrong)
    assert not result
    assert words in str(result), str(result)


def test_the_minimax_g_loss_really_saturates():
    # The claim behind the hint: at D(G(z)) = sigmoid(-6) the minimax loss has ~1/400 of the
    # non-saturating one's gradient (sigmoid(t) vs 1 - sigmoid(t) w.r.t. the logit t).
    t = torch.tensor([[-6.0]], requires_grad=True)
    (g_mm,) = torch.autograd.grad(torch.log(1 - torch.sigmoid(t)).mean(), t)
    (g_ns,) = torch.autograd.grad(VANILLA.g_loss(t), t)
    assert g_mm.abs().item() == pytest.approx(torch.sigmoid(torch.tensor(-6.0)).item(), rel=1e-4)
    assert g_ns.abs().item() == pytest.approx(1 - torch.sigmoid(torch.tensor(-6.0)).item(), rel=1e-4)
    assert g_ns.abs().item() / g_mm.abs().item() > 400


# --------------------------------------------------------------------------- the plots
class _HalfPlane(nn.Module):
    """A fixed 'discriminator' whose logit is 4x: real on the right, fake on the left."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[4.0, 0.0]]))
            self.lin.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def test_discriminator_surface_values_and_orientation():
    d = _HalfPlane().train()
    s = viz.discriminator_surface(d, extent=2.0, resolution=5)
    xs = np.linspace(-2, 2, 5)
    assert s.shape == (5, 5)
    assert np.allclose(s, 1 / (1 + np.exp(-4 * xs))[None, :].repeat(5, 0), atol=1e-6)  # depends on x only
    assert d.training  # the mode is restored

    class _Up(nn.Module):
        def forward(self, p):
            return p[:, 1:] * 4.0  # real at the top

    top_down = viz.discriminator_surface(_Up(), extent=2.0, resolution=5)
    assert top_down[0, 0] > 0.99 and top_down[-1, 0] < 0.01  # row 0 is y = +extent
    with pytest.raises(ValueError, match="one logit per point"):
        viz.discriminator_surface(lambda p: p, extent=1.0, resolution=4)


def test_plot_toy_gan_draws_points_heatmap_and_boundary():
    real, fake = torch.randn(50, 2), torch.randn(30, 2) + 1
    fig = viz.plot_toy_gan(real, fake, _HalfPlane(), extent=3.0, resolution=40)
    ax = fig.axes[0]
    offsets = [c.get_offsets() for c in ax.collections if hasattr(c, "get_offsets") and len(c.get_offsets())]
    sizes = sorted(len(o) for o in offsets if len(o) in (30, 50))
    assert sizes == [30, 50]
    assert len(ax.images) == 1 and ax.images[0].get_array().shape == (40, 40)
    assert len(fig.axes) == 2  # the colour bar
    fig2 = viz.plot_toy_gan(real, fake)
    assert len(fig2.axes[0].images) == 0 and fig2.axes[0].get_legend() is not None
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        viz.plot_toy_gan(torch.randn(5, 3), fake)


def test_plot_gan_snapshots_one_panel_per_step():
    real = torch.randn(40, 2)
    snaps = {100: torch.randn(20, 2), 1: (torch.randn(20, 2), _HalfPlane()), 50: torch.randn(20, 2)}
    fig = viz.plot_gan_snapshots(real, snaps, ncols=2, resolution=20)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["step 1", "step 50", "step 100"]
    assert len(fig.axes) == 4 and not fig.axes[3].axison  # 2x2 grid, the spare one hidden
    assert len(fig.axes[0].images) == 1 and len(fig.axes[1].images) == 0
    with pytest.raises(ValueError, match="at least one"):
        viz.plot_gan_snapshots(real, {})


def test_plot_optimal_discriminator_draws_densities_and_d_star():
    x = torch.linspace(-4, 4, 101)
    p_data, p_g = _normal(x, -1, 0.6), _normal(x, 1.5, 1.0)
    d = optimal_discriminator(p_data, p_g)
    fig = viz.plot_optimal_discriminator(x, p_data, p_g, d, title="D*")
    ax, ax2 = fig.axes
    assert np.allclose(ax.lines[0].get_ydata(), p_data.numpy(), atol=1e-6)
    assert np.allclose(ax.lines[1].get_ydata(), p_g.numpy(), atol=1e-6)
    assert np.allclose(ax2.lines[0].get_ydata(), d.numpy(), atol=1e-6)
    assert ax2.get_ylim() == (-0.02, 1.02)
    with pytest.raises(ValueError, match="same length"):
        viz.plot_optimal_discriminator(x, p_data[:-1], p_g)
    with pytest.raises(ValueError, match="d_star"):
        viz.plot_optimal_discriminator(x, p_data, p_g, d[:5])


# --------------------------------------------------------------------------- the larger exercise: one GAN step
def _my_gan_step(G, D, opt_G, opt_D, real, z):
    fake = G(z)
    opt_D.zero_grad()
    d_loss = (F.binary_cross_entropy_with_logits(D(real), torch.ones(len(real), 1))
              + F.binary_cross_entropy_with_logits(D(fake.detach()), torch.zeros(len(z), 1)))
    d_loss.backward()
    opt_D.step()
    opt_G.zero_grad()
    g_loss = F.softplus(-D(fake)).mean()
    g_loss.backward()
    opt_G.step()
    return d_loss.item(), g_loss.item()


def _step(*, detach=True, zero_d=True, zero_g=True, saturating=False, g_first=False, loss=None):
    """A student's step written out, with one mistake switched on."""

    def d_part(G, D, opt_D, real, z):
        if zero_d:
            opt_D.zero_grad()
        fake = G(z)
        lf = D(fake.detach() if detach else fake)
        d = loss.d_loss(D(real), lf) if loss else F.softplus(-D(real)).mean() + F.softplus(lf).mean()
        d.backward()
        opt_D.step()
        return d.item()

    def g_part(G, D, opt_G, z):
        if zero_g:
            opt_G.zero_grad()
        t = D(G(z))
        g = loss.g_loss(t) if loss else (torch.log(1 - torch.sigmoid(t)).mean() if saturating else F.softplus(-t).mean())
        g.backward()
        opt_G.step()
        return g.item()

    def step(G, D, opt_G, opt_D, real, z):
        if g_first:
            g = g_part(G, D, opt_G, z)
            return d_part(G, D, opt_D, real, z), g
        d = d_part(G, D, opt_D, real, z)
        return d, g_part(G, D, opt_G, z)

    return step


def test_gan_step_accepts_a_right_step():
    r = check_gan_step(_my_gan_step)
    assert r.passed, r
    assert check_gan_step(_step())              # zero_grad placed elsewhere, softplus instead of BCE


@pytest.mark.parametrize(
    "flags, words",
    [
        (dict(detach=False), "detached: D(G(z).detach())"),
        (dict(detach=False, zero_g=False), "mixes D's objective"),
        (dict(zero_d=False), "opt_D.zero_grad() before D's loss.backward()"),
        (dict(zero_g=False), "opt_G.zero_grad() before G's loss.backward()"),
        (dict(zero_d=False, zero_g=False), "both networks' updates"),
        (dict(saturating=True), "saturating (minimax) loss"),
        (dict(g_first=True), "updated G first"),
    ],
)
def test_gan_step_names_each_mistake(flags, words):
    r = check_gan_step(_step(**flags))
    assert not r and words in str(r), str(r)


def test_gan_step_names_a_missing_detach_that_reuses_the_fakes():
    def reuses(G, D, opt_G, opt_D, real, z):
        fake = G(z)
        opt_D.zero_grad()
        d = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()      # no .detach()
        d.backward()
        opt_D.step()
        opt_G.zero_grad()
        g = F.softplus(-D(fake)).mean()                                   # backward through G's freed graph
        g.backward()
        opt_G.step()
        return d.item(), g.item()

    r = check_gan_step(reuses)
    assert not r and "D(fake.detach())" in str(r) and "second" in str(r), str(r)


def test_gan_step_forbids_the_package_and_reports_not_done():
    r = check_gan_step(_step(loss=VANILLA))
    assert not r and "GANLoss.d_loss" in str(r) and "watched" in str(r)

    from lessons_lib.train.toy import GANOptions

    def via_toy_task(G, D, opt_G, opt_D, real, z):
        class T(GANOptions):
            pass

        t = T()
        t.nets, t.recipe, t.gan = {"D": D}, type("R", (), {"instance_noise": 0.0, "lambda_ms": 0.0})(), VANILLA
        loss = t._gan_loss("D", {"real": real, "fake": G(z)}, 0)["loss"]
        return loss.item(), loss.item()

    r = check_gan_step(via_toy_task)
    assert not r and "_gan_loss" in str(r)

    def stub(G, D, opt_G, opt_D, real, z):
        raise NotImplementedError

    assert check_gan_step(stub).status == "not_done"


def test_gan_step_reports_wrong_returns_and_other_differences():
    assert "pair (d_loss, g_loss)" in str(check_gan_step(lambda G, D, oG, oD, r, z: None))

    def half_d(G, D, opt_G, opt_D, real, z):
        fake = G(z)
        opt_D.zero_grad()
        d = 0.5 * (F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean())
        d.backward()
        opt_D.step()
        opt_G.zero_grad()
        g = F.softplus(-D(fake)).mean()
        g.backward()
        opt_G.step()
        return d.item(), g.item()

    r = check_gan_step(half_d)
    assert not r and "your d_loss is" in str(r) and "D's parameters" in str(r)
    assert "pass your function itself" in str(check_gan_step(3))
