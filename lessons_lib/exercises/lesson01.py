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
from typing import Callable

import torch
import torch.nn.functional as F

from ..losses import GANLoss
from ._core import Case, Mistake, Result, check_function, check_value

__all__ = [
    "optimal_discriminator",
    "game_value",
    "check_optimal_discriminator",
    "check_equilibrium_value",
    "check_discriminator_loss",
    "check_generator_loss",
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
    """Grade ``fn(p_data, p_g) -> D*(x)`` (same shape) against :func:`optimal_discriminator`."""
    cases = [
        Case("random densities (4, 8)", _densities(0)),
        Case("two Gaussians on a grid", _gaussians_on_a_grid()),
        Case("supports that barely overlap (zeros in p_data or p_g)", _disjoint_supports()),
    ]
    return check_function(
        "the optimal discriminator D*", fn, optimal_discriminator, cases, mistakes=_DSTAR_MISTAKES,
        output_names=("D*",), atol=1e-5, rtol=1e-5,
        reference_name="p_data / (p_data + p_g) (Goodfellow et al. 2014, Prop. 1)",
    )


def check_equilibrium_value(answer: float) -> Result:
    """Grade the value of the game ``V(D*, G)`` when ``p_g = p_data`` (expected ``-log 4``)."""
    return check_value(
        "V(D*, G) at p_g = p_data", answer, -math.log(4.0), atol=1e-3,
        mistakes={
            math.log(4.0): "the sign: both terms are logs of D* = 1/2 < 1, so both are negative.",
            -math.log(2.0): "that is one term; V has two, E_data[log D*] and E_g[log(1 - D*)], "
                            "each equal to log(1/2).",
            0.5: "1/2 is D*(x) itself; the question asks for V = E[log D*] + E[log(1 - D*)].",
            0.0: "V is not 0 at the equilibrium: D* = 1/2 everywhere, and log(1/2) < 0.",
            -2.0: "log(1/2) is -0.693, not -1: use the natural logarithm (math.log).",
        },
    )


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


def _check_loss(exercise: str, fn: Callable[..., torch.Tensor], reference: Callable[..., torch.Tensor],
                cases: list[Case], confident: Case, mistakes: list[Mistake], reference_name: str) -> Result:
    result = check_function(exercise, fn, reference, cases, mistakes=mistakes, output_names=("the loss",),
                            atol=1e-5, rtol=1e-5, reference_name=reference_name)
    if not result:
        return result
    # Right formula: does it survive the logits of a discriminator that is sure of itself?
    stable = check_function(exercise, fn, reference, [confident], output_names=("the loss",),
                            atol=1e-4, rtol=1e-4)
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
