"""Lesson 01's exercises: the GAN game of Goodfellow et al. (2014).

* :func:`check_optimal_discriminator` - the optimal discriminator of their Proposition 1,
  ``D*(x) = p_data(x) / (p_data(x) + p_g(x))``;
* :func:`check_equilibrium_value` - the value of the game at the global optimum
  ``p_g = p_data`` (their Theorem 1): ``V(D*, G*) = -log 4``;
* :func:`check_discriminator_loss` and :func:`check_generator_loss` - the discriminator's
  BCE loss and the non-saturating generator loss written from *logits*, graded against
  :class:`lessons_lib.losses.GANLoss` ``("vanilla")``.

The two references of the theory part, :func:`optimal_discriminator` and
:func:`game_value`, are public: the lesson plots them.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..losses import GANLoss
from ..toygan.tasks import DCGANTask, GANOptions, ToyGANTask
from ..train.engine import Trainer, train
from ._core import Case, Mistake, Result, check_function, run_student

__all__ = [
    "optimal_discriminator",
    "game_value",
    "check_optimal_discriminator",
    "check_equilibrium_value",
    "check_discriminator_loss",
    "check_generator_loss",
    "check_gan_step",
    "reference_gan_step",
]


# --------------------------------------------------------------------------- the theory
def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """The best discriminator for a fixed generator (Goodfellow et al. 2014, Proposition 1).

    For a fixed G, D maximises ``V = integral of p_data(x) log D(x) + p_g(x) log(1 - D(x)) dx``
    point by point; ``y -> a log y + b log(1 - y)`` peaks at ``y = a / (a + b)``, so

        D*(x) = p_data(x) / (p_data(x) + p_g(x)).

    Where neither density has mass (``p_data = p_g = 0``) any value is optimal; this
    returns 1/2 there (D has no information), instead of 0/0.

    Args:
        p_data, p_g: densities (or probabilities) >= 0 of the same shape, evaluated at the
            same points.
    Returns:
        D*(x) in [0, 1], same shape.
    """
    if p_data.shape != p_g.shape:
        raise ValueError(f"p_data {tuple(p_data.shape)} and p_g {tuple(p_g.shape)} must have the same shape")
    if bool((p_data < 0).any()) or bool((p_g < 0).any()):
        raise ValueError("densities cannot be negative")
    total = p_data + p_g
    return torch.where(total > 0, p_data / total.clamp_min(torch.finfo(total.dtype).tiny), torch.full_like(total, 0.5))


def game_value(p_data: torch.Tensor, p_g: torch.Tensor, dx: float) -> float:
    """``V(D*, G)`` for densities on a regular 1-D grid of spacing ``dx`` (a Riemann sum).

    Goodfellow et al. (2014), Theorem 1: with the optimal discriminator the game's value is

        V(D*, G) = E_{p_data}[log D*(x)] + E_{p_g}[log(1 - D*(x))] = -log 4 + 2 JSD(p_data || p_g),

    so it is smallest, ``-log 4 = -1.386``, exactly when ``p_g = p_data`` (the Jensen-Shannon
    divergence is 0 only there). Terms with zero density contribute 0 (``0 log 0 = 0``).
    """
    if p_data.shape != p_g.shape:
        raise ValueError(f"p_data {tuple(p_data.shape)} and p_g {tuple(p_g.shape)} must have the same shape")
    pd, pg = p_data.double(), p_g.double()
    # log D* = log p_data - log(p_data + p_g) and log(1 - D*) = log p_g - log(p_data + p_g):
    # summed this way, a point where p_g is 1e-300 of p_data (D* rounds to 1) still adds
    # its tiny share instead of 0 * log(0) = -inf.
    total = pd + pg
    return float((torch.xlogy(pd, pd) + torch.xlogy(pg, pg) - torch.xlogy(total, total)).sum() * dx)


# --------------------------------------------------------------------------- exercise: D*
def _densities(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(4, 8, generator=g) * 0.5 + 0.01, torch.rand(4, 8, generator=g) * 0.5 + 0.01


def _gaussians_on_a_grid() -> tuple[torch.Tensor, torch.Tensor]:
    """p_data = N(-1, 0.6^2) and p_g = N(1.5, 1) on [-4, 4]: the lesson's picture."""
    x = torch.linspace(-4.0, 4.0, 81)
    normal = lambda mu, s: torch.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))  # noqa: E731
    return normal(-1.0, 0.6), normal(1.5, 1.0)


def _disjoint_supports() -> tuple[torch.Tensor, torch.Tensor]:
    """Zeros on one side: D* is exactly 1 where only real data lives and 0 where only G's does."""
    p_data = torch.tensor([0.0, 0.0, 0.1, 0.4, 0.3, 0.2, 0.0])
    p_g = torch.tensor([0.3, 0.5, 0.2, 0.0, 0.0, 0.0, 0.0])
    # the last point has no mass at all: leave it out of the comparison, any D is optimal there
    return p_data[:-1], p_g[:-1]


_DSTAR_MISTAKES = [
    Mistake("you returned p_g / (p_data + p_g), the probability that x is FAKE; D outputs the "
            "probability that x is real: p_data on top.",
            lambda pd, pg: pg / (pd + pg)),
    Mistake("p_data / p_g is the density ratio, not a probability (it exceeds 1); normalise by "
            "the total: p_data / (p_data + p_g).",
            lambda pd, pg: pd / pg),
    Mistake("1/2 everywhere is D* only at the equilibrium p_g = p_data; here the two densities "
            "differ, so D* does too: p_data / (p_data + p_g).",
            lambda pd, pg: torch.full_like(pd, 0.5)),
]


def check_optimal_discriminator(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Result:
    """Grade ``fn(p_data, p_g) -> D*(x)`` (same shape) against :func:`optimal_discriminator`,
    which (with the check's own ``D*`` helper and :func:`game_value`) is forbidden."""
    cases = [
        Case("random densities (4, 8)", _densities(0)),
        Case("two Gaussians on a grid", _gaussians_on_a_grid()),
        Case("supports that barely overlap (zeros in p_data or p_g)", _disjoint_supports()),
    ]
    return check_function(
        "the optimal discriminator D*", fn, optimal_discriminator, cases, mistakes=_DSTAR_MISTAKES,
        output_names=("D*",), atol=1e-5, rtol=1e-5,
        reference_name="p_data / (p_data + p_g) (Goodfellow et al. 2014, Prop. 1)",
        forbid=(optimal_discriminator, _dstar, game_value, _ref_value),
    )


def _normal(x: torch.Tensor, mu: float, s: float) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))


def _value_cases() -> list[Case]:
    """Settings the lesson never shows: equilibria of other distributions, unequal pairs,
    disjoint supports (where 0 log 0 must count as 0), and another grid spacing."""
    x = torch.linspace(-6.0, 6.0, 601, dtype=torch.float64)
    dx = float(x[1] - x[0])
    laplace = torch.exp(-(x - 0.7).abs() / 0.8) / 1.6
    mixture = 0.3 * _normal(x, -2.0, 0.4) + 0.7 * _normal(x, 1.0, 0.9)
    u = torch.linspace(0.0, 1.0, 201, dtype=torch.float64)
    du = float(u[1] - u[0])
    left = torch.where(u < 0.5, torch.full_like(u, 2.0), torch.zeros_like(u))       # uniform on [0, 0.5)
    right = torch.where(u >= 0.5, torch.full_like(u, 2.0), torch.zeros_like(u))     # uniform on [0.5, 1]
    overlap = torch.where((u >= 0.25) & (u < 0.75), torch.full_like(u, 2.0), torch.zeros_like(u))
    return [
        Case("a Laplace against a mixture", (laplace, mixture, dx)),
        Case("p_g = p_data = a Laplace density", (laplace, laplace.clone(), dx)),
        Case("p_g = p_data = a skewed mixture", (mixture, mixture.clone(), dx)),
        Case("half-overlapping uniforms (zeros in both)", (left, overlap, du)),
        Case("disjoint uniforms: V = 0", (left, right, du)),
    ]


def _v_of(fn: Callable[..., Any]) -> Callable[..., torch.Tensor]:
    """The student's number as a float64 tensor, so that compare_tensors can grade it (a
    value that is no number is passed on as it is, for compare_tensors to name)."""
    def wrapped(p_data: torch.Tensor, p_g: torch.Tensor, dx: float) -> Any:
        value = fn(p_data, p_g, dx)
        try:
            return torch.as_tensor(float(value.item() if isinstance(value, torch.Tensor) else value),
                                   dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            return value
    return wrapped


def _ref_value(p_data: torch.Tensor, p_g: torch.Tensor, dx: float) -> torch.Tensor:
    return torch.as_tensor(game_value(p_data, p_g, dx), dtype=torch.float64)


def _masked(t: torch.Tensor, log_of: torch.Tensor) -> torch.Tensor:
    """t * log(log_of) with 0 log(.) = 0 (what a right answer gets from torch.xlogy or a mask)."""
    return torch.where(t > 0, t * torch.log(log_of.clamp_min(1e-300)), torch.zeros_like(t))


def _dstar(pd: torch.Tensor, pg: torch.Tensor) -> torch.Tensor:
    return pd / (pd + pg).clamp_min(1e-300)


_VALUE_MISTAKES = [
    Mistake("you return -log 4 whatever the densities: that is V(D*, G) only at p_g = p_data. "
            "Compute the two expectations from p_data, p_g and D* = p_data / (p_data + p_g).",
            lambda pd, pg, dx: torch.tensor(-math.log(4.0), dtype=torch.float64)),
    Mistake("the integral needs the grid spacing: a Riemann sum is sum(f(x_i)) * dx.",
            lambda pd, pg, dx: (_masked(pd, _dstar(pd, pg)) + _masked(pg, 1 - _dstar(pd, pg))).sum()),
    Mistake("only E_data[log D*] is there; V has a second term, E_g[log(1 - D*)].",
            lambda pd, pg, dx: _masked(pd, _dstar(pd, pg)).sum() * dx),
    Mistake("the sign: both terms are expectations of logs of numbers <= 1, so V(D*, G) <= 0.",
            lambda pd, pg, dx: -(_masked(pd, _dstar(pd, pg)) + _masked(pg, 1 - _dstar(pd, pg))).sum() * dx),
    Mistake("the logarithm is the natural one (torch.log); log2 gives V in bits, -2 at the equilibrium.",
            lambda pd, pg, dx: (_masked(pd, _dstar(pd, pg)) + _masked(pg, 1 - _dstar(pd, pg))).sum() * dx
            / math.log(2.0)),
    Mistake("the expectation over G's samples is weighted by p_g, not by p_data: "
            "V = integral p_data log D* + p_g log(1 - D*).",
            lambda pd, pg, dx: (_masked(pd, _dstar(pd, pg)) + _masked(pd, 1 - _dstar(pd, pg))).sum() * dx),
    Mistake("that is -log 4 + JSD: Theorem 1 says V(D*, G) = -log 4 + 2 JSD. Better, compute V from its "
            "definition.",
            lambda pd, pg, dx: (-math.log(4.0) + 0.5 * (_ref_value(pd, pg, dx) + math.log(4.0)))),
]


def check_equilibrium_value(fn: Callable[[torch.Tensor, torch.Tensor, float], Any]) -> Result:
    """Grade ``fn(p_data, p_g, dx) -> V(D*, G)``, the value of the game against the optimal
    discriminator for two densities on a regular 1-D grid of spacing ``dx`` (a Riemann sum of
    ``p_data log D* + p_g log(1 - D*)``, with ``0 log 0 = 0``), a float or a 0-d tensor.

    Checked against :func:`game_value` on settings the lesson never shows: the equilibrium
    ``p_g = p_data`` of two other distributions (``-log 4`` up to the grid's error), unequal
    pairs, and uniforms with zeros (disjoint supports: ``V = 0``). A typed ``-log 4`` fails on
    the unequal pairs. Forbidden: the package's :func:`game_value` and
    :func:`optimal_discriminator` (write D* yourself, or use your own ``my_optimal_d``).
    """
    result = check_function(
        "V(D*, G) from the densities", _v_of(fn) if callable(fn) else fn, _ref_value, _value_cases(),
        mistakes=_VALUE_MISTAKES, output_names=("V(D*, G)",), atol=1e-6, rtol=1e-6,
        reference_name="the Riemann sum of p_data log D* + p_g log(1 - D*) (Goodfellow et al. 2014, Thm. 1)",
        forbid=(game_value, optimal_discriminator, _ref_value, _dstar, _masked),
    )
    if any("NaN" in h for h in result.hints):
        result.hints.append("where one density is 0 its term is 0 * log 0, which counts as 0 (the limit): "
                            "torch.xlogy(p, D) returns 0 there, or keep only the points with p > 0.")
    return result


# --------------------------------------------------------------------------- exercise: the losses
_VANILLA = GANLoss("vanilla")


def _logits(shape: tuple[int, ...], seed: int, scale: float = 2.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def _unit_logits(n: int, seed: int) -> torch.Tensor:
    """Logits in (0.05, 0.95): a function that takes them for probabilities stays finite,
    so the check can name that mistake instead of reporting a NaN."""
    g = torch.Generator().manual_seed(seed)
    return 0.05 + 0.9 * torch.rand(n, 1, generator=g)


# The cases: any shape works (one logit per image, or a PatchGAN map), real and fake
# batches may differ in size, and the last case has the very confident logits that a
# trained discriminator produces, where log(sigmoid(x)) underflows in float32.
def _d_cases() -> list[Case]:
    return [
        Case("logits in (0, 1), shape (6, 1)", (_unit_logits(6, 1), _unit_logits(6, 2))),
        Case("random logits, shape (8, 1)", (_logits((8, 1), 3), _logits((8, 1), 4))),
        Case("PatchGAN maps (2, 1, 4, 4) and (3, 1, 4, 4)", (_logits((2, 1, 4, 4), 5), _logits((3, 1, 4, 4), 6))),
    ]


def _g_cases() -> list[Case]:
    return [
        Case("logits in (0, 1), shape (6, 1)", (_unit_logits(6, 7),)),
        Case("random logits, shape (8, 1)", (_logits((8, 1), 8),)),
        Case("a PatchGAN map (2, 1, 4, 4)", (_logits((2, 1, 4, 4), 9),)),
    ]


def _confident_d_case() -> Case:
    return Case("very confident logits (+-120)",
                (torch.tensor([[-120.0], [3.0], [120.0]]), torch.tensor([[120.0], [-3.0], [-120.0]])))


def _confident_g_case() -> Case:
    return Case("very confident logits (+-120)", (torch.tensor([[-120.0], [-40.0], [2.0], [120.0]]),))


_STABILITY_HINT = (
    "your formula is right on ordinary logits, but not on very confident ones ({case}): "
    "torch.sigmoid(-120) rounds to 0 in float32 and log(0) = -inf (likewise 1 - sigmoid(120)). "
    "Stay in logits: -log(sigmoid(x)) = F.softplus(-x) and -log(1 - sigmoid(x)) = F.softplus(x), "
    "exact for any x (F.binary_cross_entropy_with_logits does the same)."
)
_PROBABILITIES = ("the inputs are logits (any real number), not probabilities: apply torch.sigmoid first, "
                  "or better, use F.softplus / F.binary_cross_entropy_with_logits, which take logits.")
_SUM = "use the mean over the batch (and over the patches of a map), not the sum: E[.] is an average."

_D_MISTAKES = [
    Mistake(_PROBABILITIES, lambda r, f: -torch.log(r).mean() - torch.log(1 - f).mean()),
    Mistake("the sign: this is V(D, G), which D MAXIMISES; as a loss to minimise, D takes -V = "
            "softplus(-D(x)) + softplus(D(G(z))).",
            lambda r, f: -(F.softplus(-r).mean() + F.softplus(f).mean())),
    Mistake("the labels are swapped: real samples get the target 1 (BCE = softplus(-logit)) and "
            "generated ones the target 0 (BCE = softplus(logit)).",
            lambda r, f: F.softplus(r).mean() + F.softplus(-f).mean()),
    Mistake(_SUM, lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum()),
    Mistake("that is the average of the two BCE terms; Goodfellow's V adds them: "
            "L_D = BCE(D(x), 1) + BCE(D(G(z)), 0) (halving D's loss, as pix2pix does, is the "
            "training engine's business, not the loss's).",
            lambda r, f: 0.5 * (F.softplus(-r).mean() + F.softplus(f).mean())),
]

_G_MISTAKES = [
    Mistake(_PROBABILITIES, lambda f: -torch.log(f).mean()),
    Mistake("this is the saturating (minimax) loss log(1 - D(G(z))): it has almost no gradient "
            "while D easily spots the fakes. Use the non-saturating -log D(G(z)) = softplus(-logit).",
            lambda f: -F.softplus(f).mean()),
    Mistake("the sign: G wants D(G(z)) -> 1, i.e. to MINIMISE -log D(G(z)); you wrote +log D(G(z)), "
            "which pushes its samples towards 'fake'.",
            lambda f: -F.softplus(-f).mean()),
    Mistake("this is D's loss on the fakes (target 0); the generator wants D to say 'real', "
            "target 1: -log D(G(z)) = softplus(-logit).",
            lambda f: F.softplus(f).mean()),
    Mistake(_SUM, lambda f: F.softplus(-f).sum()),
]


# the package's losses (and the toy trainer that calls them): the student writes them here
_LOSS_FORBID = (GANLoss.d_loss, GANLoss.g_loss)


def _check_loss(exercise: str, fn: Callable[..., torch.Tensor], reference: Callable[..., torch.Tensor],
                cases: list[Case], confident: Case, mistakes: list[Mistake], reference_name: str) -> Result:
    result = check_function(exercise, fn, reference, cases, mistakes=mistakes, output_names=("the loss",),
                            atol=1e-5, rtol=1e-5, reference_name=reference_name, forbid=_LOSS_FORBID)
    if not result:
        return result
    # Right formula: does it survive the logits of a discriminator that is sure of itself?
    stable = check_function(exercise, fn, reference, [confident], output_names=("the loss",),
                            atol=1e-4, rtol=1e-4, forbid=_LOSS_FORBID)
    if not stable:
        return Result(exercise, False, [_STABILITY_HINT.format(case=confident.name)])
    n = len(cases) + 1
    names = ", ".join(c.name for c in cases + [confident])
    return Result(exercise, True, [], f"matches {reference_name} on {n} cases ({names}).")


def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Result:
    """Grade ``fn(real_logits, fake_logits) -> scalar``, the discriminator's BCE loss

        L_D = -E[log sigma(D(x))] - E[log(1 - sigma(D(G(z))))],

    against ``GANLoss("vanilla").d_loss``. Hints name the usual mistakes: logits taken for
    probabilities, the sign (maximising V instead of minimising -V), swapped labels, sum
    instead of mean, the average of the two terms, and log(sigmoid) underflow.
    """
    return _check_loss("the discriminator loss", fn, _VANILLA.d_loss, _d_cases(), _confident_d_case(),
                       _D_MISTAKES, 'GANLoss("vanilla").d_loss')


def check_generator_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> Result:
    """Grade ``fn(fake_logits) -> scalar``, the non-saturating generator loss

        L_G = -E[log sigma(D(G(z)))]        (Goodfellow et al. 2014, sec. 3),

    against ``GANLoss("vanilla").g_loss``. Hints name the saturating (minimax) form, the
    sign, D's label instead of G's, logits taken for probabilities, sum instead of mean,
    and log(sigmoid) underflow.
    """
    return _check_loss("the non-saturating generator loss", fn, _VANILLA.g_loss, _g_cases(),
                       _confident_g_case(), _G_MISTAKES, 'GANLoss("vanilla").g_loss')


# --------------------------------------------------------------------------- exercise: one training step
# The part's larger exercise: Algorithm 1 of Goodfellow et al. (2014) with k = 1 and the
# non-saturating generator loss, written as one function. The check runs the student's step
# and its own reference on identical copies of small seeded MLPs and compares what a step
# changes: both networks' parameters and the two losses. Before the step every parameter
# holds a stale gradient (what the previous step leaves behind: D's weights collect G's
# backward pass), so a missing zero_grad() changes the update; and a tensor hook on G's
# weights counts the backward passes that reach G: one (G's own loss) in a right step, two
# when D's loss forgot to detach G's samples.
def _step_nets(seed: int, z_dim: int = 3, hidden: int = 16) -> tuple[torch.nn.Module, torch.nn.Module]:
    with torch.random.fork_rng(devices=[]):       # seeded weights; the lesson's own random stream is untouched
        torch.manual_seed(seed)
        G = torch.nn.Sequential(torch.nn.Linear(z_dim, hidden), torch.nn.LeakyReLU(0.2), torch.nn.Linear(hidden, 2))
        D = torch.nn.Sequential(torch.nn.Linear(2, hidden), torch.nn.LeakyReLU(0.2), torch.nn.Linear(hidden, 1))
    return G, D


def _step_setting(seed: int, optimizer: str) -> dict[str, Any]:
    """Everything one case needs, rebuilt identically for each run (student, reference, mistakes)."""
    G, D = _step_nets(seed)
    g = torch.Generator().manual_seed(100 + seed)
    for p in list(G.parameters()) + list(D.parameters()):
        p.grad = 0.5 * torch.randn(p.shape, generator=g)          # the previous step's leftovers
    real = torch.randn(16, 2, generator=g) * 0.3 + torch.tensor([1.5, -0.5])
    z = torch.randn(16, 3, generator=g)
    if optimizer == "sgd":
        opt_G, opt_D = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)
    else:                                                          # the course's Adam(2e-4, beta1 0.5), larger lr
        opt_G = torch.optim.Adam(G.parameters(), lr=1e-2, betas=(0.5, 0.999))
        opt_D = torch.optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.999))
    return dict(G=G, D=D, opt_G=opt_G, opt_D=opt_D, real=real, z=z)


def _ns(t: torch.Tensor) -> torch.Tensor:          # -log sigma(t), the BCE of target 1
    return F.softplus(-t).mean()


def _step_variant(*, detach: bool = True, zero_d: bool = True, zero_g: bool = True, saturating: bool = False,
                  g_first: bool = False) -> Callable[..., tuple[float, float]]:
    """The reference step (all defaults) and the mistakes the check names (one flag each)."""

    def d_update(G, D, opt_D, real, z):
        fake = G(z)
        if zero_d:
            opt_D.zero_grad()
        loss = _ns(D(real)) + F.softplus(D(fake.detach() if detach else fake)).mean()
        loss.backward()
        opt_D.step()
        return float(loss.detach())

    def g_update(G, D, opt_G, z):
        if zero_g:
            opt_G.zero_grad()
        logits = D(G(z))
        loss = -F.softplus(logits).mean() if saturating else _ns(logits)   # log(1 - sigma(t)) = -softplus(t)
        loss.backward()
        opt_G.step()
        return float(loss.detach())

    def step(G, D, opt_G, opt_D, real, z):
        if g_first:
            g_loss = g_update(G, D, opt_G, z)
            return d_update(G, D, opt_D, real, z), g_loss
        d_loss = d_update(G, D, opt_D, real, z)
        return d_loss, g_update(G, D, opt_G, z)

    return step


reference_gan_step = _step_variant()

_STEP_MISTAKES = [
    ("the D step must see G's samples detached: D(G(z).detach()). Without .detach(), D's loss.backward() "
     "also sends gradients into G's weights (your step computed G's gradients twice); with opt_G.zero_grad() "
     "in the right place that is only wasted work, without it G's update is wrong - detach and D's step "
     "cannot change G.", dict(detach=False)),
    ("the D step must see G's samples detached: D(G(z).detach()). Without .detach() D's loss also puts "
     "gradients into G's weights, and since G's gradients are not zeroed before G's backward pass, G's "
     "update mixes D's objective into G's.", dict(detach=False, zero_g=False)),
    ("call opt_D.zero_grad() before D's backward pass (and opt_G.zero_grad() before G's): .backward() ADDS "
     "to .grad, so both networks' updates include the gradients left over from the previous step.",
     dict(zero_d=False, zero_g=False)),
    ("call opt_D.zero_grad() before D's loss.backward(): D's weights still hold gradients from the previous "
     "step (G's backward pass goes through D), and .backward() adds to them.", dict(zero_d=False)),
    ("call opt_G.zero_grad() before G's loss.backward(): .backward() adds to .grad, so G's update includes "
     "the gradients left over from the previous step.", dict(zero_g=False)),
    ("G's update uses the saturating (minimax) loss log(1 - D(G(z))) = -softplus(logit): its gradient "
     "vanishes when D rejects the fakes. Train G with the non-saturating -log D(G(z)) = softplus(-logit).",
     dict(saturating=True)),
    ("the order: Algorithm 1 updates D first (on real samples and detached fakes), then G through the "
     "UPDATED D. Your step updated G first.", dict(g_first=True)),
]

# what torch says when D's loss used G(z) undetached and G's loss then backs through the same G(z)
_SECOND_BACKWARD_HINT = (
    "your step back-propagated twice through G's graph (\"Trying to backward through the graph a second "
    "time\"): D's loss used G(z) without .detach(), so D's backward pass went through G and freed its graph. "
    "In the D step use D(fake.detach()): D's loss must not reach G's weights; G's own loss then backs "
    "through G(z) once.")

_STEP_CASES = (("small MLPs, SGD lr 0.1", 0, "sgd"), ("small MLPs, Adam lr 0.01, betas (0.5, 0.999)", 1, "adam"))


def _step_forbid() -> tuple:
    # ... and the check's own reference step (all its variants share one code object)
    return (GANLoss.d_loss, GANLoss.g_loss, GANOptions._gan_loss, ToyGANTask.loss, DCGANTask.loss,
            Trainer._step, train, reference_gan_step)


def _run_step(step: Callable[..., Any], seed: int, optimizer: str, exercise: str, case: str,
              forbid: tuple = ()) -> tuple[dict[str, Any] | None, Result | None]:
    """Run one step on a fresh setting; the outcome: parameters after, losses, backward passes into G."""
    s = _step_setting(seed, optimizer)
    passes = []
    first = next(s["G"].parameters())
    handle = first.register_hook(lambda grad: passes.append(1))
    try:
        value, verdict = run_student(exercise, step, s["G"], s["D"], s["opt_G"], s["opt_D"], s["real"], s["z"],
                                     forbid=forbid, case=case)
    finally:
        handle.remove()
    if verdict is not None:
        return None, verdict
    return dict(value=value, G=[p.detach().clone() for p in s["G"].parameters()],
                D=[p.detach().clone() for p in s["D"].parameters()], passes=len(passes)), None


def _same_params(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.allclose(x, y, atol=1e-6, rtol=1e-5) for x, y in zip(a, b))


def _as_losses(value: Any) -> tuple[float, float] | str:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        got = f"{len(value)} values" if isinstance(value, (tuple, list)) else type(value).__name__
        return f"return the two losses as a pair (d_loss, g_loss); you returned {got}."
    try:
        return tuple(float(v.item() if isinstance(v, torch.Tensor) else v) for v in value)
    except (TypeError, ValueError, RuntimeError):
        return "return the two losses as numbers (loss.item()), e.g. return d_loss.item(), g_loss.item()."


def _same_outcome(a: dict[str, Any], b: dict[str, Any]) -> bool:
    la, lb = _as_losses(a["value"]), _as_losses(b["value"])
    return (_same_params(a["G"], b["G"]) and _same_params(a["D"], b["D"]) and a["passes"] == b["passes"]
            and not isinstance(la, str) and not isinstance(lb, str)
            and all(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-6) for x, y in zip(la, lb)))


def check_gan_step(fn: Callable[..., tuple[float, float]]) -> Result:
    """Grade ``fn(G, D, opt_G, opt_D, real, z) -> (d_loss, g_loss)``: ONE step of the GAN game
    (Goodfellow et al. 2014, Algorithm 1 with k = 1, non-saturating G loss), the losses as floats:

    1. D step: ``L_D = BCE(D(real), 1) + BCE(D(G(z).detach()), 0)`` from logits, after
       ``opt_D.zero_grad()``, then ``opt_D.step()``;
    2. G step through the updated D: ``L_G = BCE(D(G(z)), 1) = -log D(G(z))``, after
       ``opt_G.zero_grad()``, then ``opt_G.step()``.

    The check builds small seeded MLPs (with stale gradients in every ``.grad``, as after a
    previous step), runs the student's step and its reference on identical copies (SGD and
    Adam), and compares both networks' parameters after the step, the two losses, and how
    many backward passes reached G (one). It names: a missing ``.detach()``, missing
    ``zero_grad()`` calls, the saturating G loss, G updated before D. The package's losses and
    training steps (``GANLoss.d_loss/g_loss``, the toy and DCGAN tasks' ``loss``, the engine's
    step and ``train``) are forbidden.
    """
    exercise = "one GAN training step"
    forbid = _step_forbid()
    for name, seed, optimizer in _STEP_CASES:
        got, verdict = _run_step(fn, seed, optimizer, exercise, name, forbid)
        if verdict is not None:
            if any("backward through the graph a second time" in h for h in verdict.hints):
                return Result(exercise, False, [f"on {name}: {_SECOND_BACKWARD_HINT}"])
            return verdict
        losses = _as_losses(got["value"])
        if isinstance(losses, str):
            return Result(exercise, False, [losses])
        want, _ = _run_step(reference_gan_step, seed, optimizer, exercise, name)
        if _same_outcome(got, want):
            continue
        for hint, flags in _STEP_MISTAKES:
            wrong, _ = _run_step(_step_variant(**flags), seed, optimizer, exercise, name)
            if _same_outcome(got, wrong):
                return Result(exercise, False, [f"on {name}: {hint}"])
        hints = []
        d_want, g_want = _as_losses(want["value"])
        if not math.isclose(losses[0], d_want, rel_tol=1e-5, abs_tol=1e-6):
            hints.append(f"your d_loss is {losses[0]:.5f}, expected {d_want:.5f} = BCE(D(real), 1) + "
                         "BCE(D(G(z)), 0), each a mean over the batch, computed before D's update.")
        if not math.isclose(losses[1], g_want, rel_tol=1e-5, abs_tol=1e-6):
            hints.append(f"your g_loss is {losses[1]:.5f}, expected {g_want:.5f} = -log D(G(z)) = "
                         "softplus(-D(G(z))).mean(), through the UPDATED D.")
        if got["passes"] != 1:
            hints.append(f"{got['passes']} backward passes reached G's weights (expected 1: G's own loss); "
                         "detach G's samples in D's step.")
        if not _same_params(got["D"], want["D"]):
            hints.append("D's parameters after your step differ from the reference's: one D update, "
                         "opt_D.zero_grad() -> L_D.backward() -> opt_D.step().")
        if not _same_params(got["G"], want["G"]):
            hints.append("G's parameters after your step differ from the reference's: one G update through "
                         "the updated D, opt_G.zero_grad() -> L_G.backward() -> opt_G.step().")
        return Result(exercise, False, [f"on {name}: {h}" for h in hints] or [f"on {name}: the step differs."])
    return Result(exercise, True, [], f"matches the reference step (D then G, non-saturating, detached fakes) "
                                      f"on {len(_STEP_CASES)} cases ({', '.join(c[0] for c in _STEP_CASES)}): "
                                      "parameters of G and D and both losses.")
