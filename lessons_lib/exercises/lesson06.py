"""Lesson 06's exercises: the WGAN-GP gradient penalty of ColorGAN's critic
(Gulrajani et al. 2017, algorithm 1, eq. 3), checked against
:func:`lessons_lib.losses.gradient_penalty`, and the mode-seeking term (Mao et al. 2019,
eq. 3), checked against :func:`lessons_lib.losses.mode_seeking_loss`.

    x_hat = eps * x + (1 - eps) * x_fake,    eps ~ U[0, 1], one per sample
    GP    = lambda * E[(||grad_{x_hat} D(x_hat)||_2 - 1)^2]

The student's function has the package's signature, ``fn(critic, real, fake, lambda_gp,
generator)``, and must draw eps as ``torch.rand((B, 1, 1, 1), generator=generator)`` (one
number per sample, broadcast over C, H, W): the check hands both functions a generator
seeded the same way, so the same eps comes out.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..losses import gradient_penalty, mode_seeking_loss, r1_penalty
from ..losses.diversity import mode_seeking_ratio
from ._core import Case, Mistake, Result, check_function, run_student

__all__ = ["check_gradient_penalty", "check_mode_seeking_loss"]


def _critics() -> tuple[nn.Module, nn.Module]:
    """Two small fixed critics: a patch critic (B, 1, h, w) and a one-logit-per-image one."""
    g = torch.Generator().manual_seed(6)

    def init(m: nn.Module) -> nn.Module:
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
        return m

    patch = init(nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3)))       # (B, 1, H-4, W-4)
    image = init(nn.Sequential(nn.Conv2d(2, 3, 3, 2, 1), nn.Tanh(), nn.Flatten(), nn.Linear(27, 1)))  # (B, 1)
    return patch, image


def _cases() -> list[Case]:
    g = torch.Generator().manual_seed(7)
    patch, image = _critics()
    r1, f1 = torch.rand(4, 3, 8, 8, generator=g), torch.rand(4, 3, 8, 8, generator=g)
    r2, f2 = torch.randn(3, 2, 6, 6, generator=g), torch.randn(3, 2, 6, 6, generator=g)
    return [
        # (critic, real, fake, lambda_gp, seed of eps) - the seed becomes a generator below
        Case("a patch critic, lambda 10 (the paper's value)", (patch, r1, f1, 10.0, 0)),
        Case("a one-logit critic on 2-channel maps, lambda 10", (image, r2, f2, 10.0, 1)),
        Case("the patch critic with lambda 1", (patch, r1, f1, 1.0, 2)),
    ]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _eps(real: torch.Tensor, seed: int, per_pixel: bool = False) -> torch.Tensor:
    shape = real.shape if per_pixel else (real.shape[0],) + (1,) * (real.dim() - 1)
    return torch.rand(shape, generator=_gen(seed))


def _grad_norm(critic, real, fake, seed, *, at: str = "mix", per_pixel: bool = False, whole_batch: bool = False):
    eps = _eps(real, seed, per_pixel)
    x = {"mix": eps * real + (1 - eps) * fake, "real": real.clone(), "wrong_way": eps * fake + (1 - eps) * real}[at]
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    if whole_batch:
        return grad.flatten().norm(2)
    return grad.flatten(1).norm(2, dim=1)


_MISTAKES = [
    Mistake("your function returns zero: the stub is still in place. Mix real and fake with eps, ask autograd "
            "for the critic's gradient there, and penalise (||grad|| - 1)^2.",
            lambda c, r, f, lam, s: torch.zeros(())),
    Mistake("the penalty squares the distance to 1: (||grad|| - 1)^2, not |(||grad|| - 1)|.",
            lambda c, r, f, lam, s: lam * (_grad_norm(c, r, f, s) - 1).abs().mean()),
    Mistake("the target norm is 1: penalise (||grad|| - 1)^2, not ||grad||^2 (that would push the critic "
            "towards a constant).",
            lambda c, r, f, lam, s: lam * (_grad_norm(c, r, f, s) ** 2).mean()),
    Mistake("the lambda factor is missing (lambda_gp = 10 in the paper).",
            lambda c, r, f, lam, s: ((_grad_norm(c, r, f, s) - 1) ** 2).mean()),
    Mistake("eps is ONE number per sample, shape (B, 1, 1, 1), broadcast over channels and pixels: each "
            "x_hat lies on the straight line between one real and one fake sample.",
            lambda c, r, f, lam, s: lam * ((_grad_norm(c, r, f, s, per_pixel=True) - 1) ** 2).mean()),
    Mistake("the gradient is taken at the interpolates x_hat = eps * real + (1 - eps) * fake, not at the "
            "real samples (that would be closer to R1).",
            lambda c, r, f, lam, s: lam * ((_grad_norm(c, r, f, s, at="real") - 1) ** 2).mean()),
    Mistake("eps multiplies the REAL samples: x_hat = eps * real + (1 - eps) * fake (the package's order; "
            "with your order the same eps gives another point).",
            lambda c, r, f, lam, s: lam * ((_grad_norm(c, r, f, s, at="wrong_way") - 1) ** 2).mean()),
    Mistake("the norm is per sample: flatten each sample's gradient (grad.flatten(1)) and take its norm, "
            "then the mean over the batch - not one norm of the whole batch's gradient.",
            lambda c, r, f, lam, s: lam * ((_grad_norm(c, r, f, s, whole_batch=True) - 1) ** 2)),
    Mistake("E[...] is a mean over the samples, not a sum.",
            lambda c, r, f, lam, s: lam * ((_grad_norm(c, r, f, s) - 1) ** 2).sum()),
    Mistake("this is the one-sided penalty max(0, ||grad|| - 1)^2 (discussed in the WGAN-GP paper, app. "
            "E); the kit, like the paper's experiments, penalises both sides: (||grad|| - 1)^2.",
            lambda c, r, f, lam, s: lam * (F.relu(_grad_norm(c, r, f, s) - 1) ** 2).mean()),
]


def _reference(critic, real, fake, lambda_gp, seed):
    return gradient_penalty(critic, real, fake, lambda_gp=lambda_gp, generator=_gen(seed))


_GP_FORBID = [gradient_penalty, r1_penalty]
_MS_FORBID = [mode_seeking_loss, mode_seeking_ratio]


def _critic_grads(penalty_fn, critic: nn.Module, real, fake, lam, seed):
    """The gradients the penalty sends to the critic's parameters (what D's optimiser uses)."""
    critic = copy.deepcopy(critic)
    critic.zero_grad(set_to_none=True)
    penalty_fn(critic, real.clone(), fake.clone(), lam, seed).backward()
    return [p.grad for p in critic.parameters()]


def _no_path_hint(why: str) -> str:
    return (f"{why}: the penalty has no path back to the critic's parameters, so D's optimiser step would ignore "
            "it. Build the gradient with torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True): "
            "the penalty is a function of that gradient, and its own backward pass must run through it.")


def check_gradient_penalty(fn: Callable[..., torch.Tensor]) -> Result:
    """Lesson 06: ``fn(critic, real, fake, lambda_gp=10.0, generator=None) -> penalty``.

        x_hat = eps * real + (1 - eps) * fake,  eps = torch.rand((B, 1, 1, 1), generator=generator)
        GP    = lambda_gp * mean_over_samples (||grad_{x_hat} critic(x_hat).sum()||_2 - 1)^2

    (Gulrajani et al. 2017, eq. 3), a scalar that can be back-propagated (build the gradient
    with ``create_graph=True``): after the values, the check back-propagates the student's
    penalty and compares the critic's parameter gradients with the reference's - a penalty
    computed without ``create_graph`` has no path to them and fails. The kit's
    ``gradient_penalty`` (and ``r1_penalty``) are forbidden. Checked against :func:`lessons_lib.losses.gradient_penalty`
    on a patch critic and a one-logit critic, with lambda 10 and 1; common mistakes (no
    square, ||grad||^2, eps per pixel, the gradient at the real samples, one norm for the
    whole batch, a sum, the one-sided variant) are named.
    """

    exercise = "the WGAN-GP gradient penalty"

    def student(critic, real, fake, lambda_gp, seed):
        return fn(critic, real, fake, lambda_gp, _gen(seed))

    student.__name__ = getattr(fn, "__name__", "fn")
    result = check_function(
        exercise,
        student,
        _reference,
        _cases(),
        mistakes=_MISTAKES,
        output_names=("the penalty",),
        atol=1e-5,
        rtol=1e-4,
        reference_name="lessons_lib.losses.gradient_penalty",
        forbid=[*_GP_FORBID, _reference, _grad_norm],
    )
    if not result.passed:
        return result
    # The value is right; now the gradient it sends to D's weights (the reason GP exists).
    for case in _cases():
        critic, real, fake, lam, seed = case.args
        want = _critic_grads(_reference, critic, real, fake, lam, seed)
        try:
            got, verdict = run_student(exercise, _critic_grads, student, critic, real, fake, lam, seed,
                                       forbid=_GP_FORBID, case=case.name)
        except RuntimeError as exc:  # pragma: no cover - run_student turns errors into verdicts
            return Result(exercise, False, [_no_path_hint(f"on {case.name}, backward() failed ({exc})")])
        if verdict is not None:
            if "does not require grad" in verdict.message or "grad_fn" in verdict.message:
                return Result(exercise, False, [_no_path_hint(f"on {case.name}, penalty.backward() failed")])
            return verdict
        if all(g is None for g in got):
            return Result(exercise, False, [_no_path_hint(f"on {case.name}, no critic parameter got a gradient")])
        for g, w, p in zip(got, want, critic.parameters()):
            g = torch.zeros_like(p) if g is None else g          # a last bias has no effect on the input gradient
            w = torch.zeros_like(p) if w is None else w
            if not torch.allclose(g, w, atol=1e-5, rtol=1e-3):
                return Result(exercise, False, [f"on {case.name}: the penalty's value is right but the gradient it sends "
                                                "to the critic's parameters differs from the reference's: compute "
                                                "x_hat from detached real and fake samples, and the gradient with "
                                                "create_graph=True."])
    return Result(exercise, True, [], result.detail + " Its backward pass reaches the critic's parameters "
                                      "with the reference's gradients.")


# --------------------------------------------------------------------------- mode seeking
def _ms_cases() -> list[Case]:
    g = torch.Generator().manual_seed(11)
    ab1 = 0.3 * torch.randn(4, 2, 8, 8, generator=g)
    ab2 = ab1 + 0.05 * torch.randn(4, 2, 8, 8, generator=g)              # two colourings, close
    z1, z2 = 0.1 * torch.randn(4, 16, 1, 1, generator=g), 0.1 * torch.randn(4, 16, 1, 1, generator=g)
    w1, w2 = 0.1 * torch.randn(2, 8, 2, 2, generator=g), 0.1 * torch.randn(2, 8, 2, 2, generator=g)
    far = torch.rand(2, 2, 16, 16, generator=g) * 2 - 1
    return [
        Case("two close colourings of 4 photos, noise of ColorGAN's scale (sigma 0.1)", (ab1, ab2, z1, z2)),
        Case("two unrelated colourings of 2 photos, noise maps (2, 8, 2, 2)",
             (far, torch.rand(2, 2, 16, 16, generator=g) * 2 - 1, w1, w2)),
        Case("identical colourings (a collapsed generator)", (ab1, ab1.clone(), z1, z2)),
    ]


def _ms_ratio(a, b, z1, z2, d_out=None, d_z=None):
    d_out = d_out or (lambda x, y: (x - y).abs().mean())
    d_z = d_z or (lambda x, y: (x - y).abs().mean())
    return d_out(a, b) / d_z(z1, z2)


_MS_MISTAKES = [
    Mistake("your function returns zero: the stub is still in place. Divide the mean absolute difference of "
            "the two outputs by that of the two noise draws, and return 1 / (ratio + eps).",
            lambda a, b, z1, z2: torch.zeros(())),
    Mistake("this is the ratio itself; G MINIMISES the loss, so return its reciprocal 1 / (ratio + 1e-5) - "
            "minimising the ratio would pull the colourings together.",
            lambda a, b, z1, z2: _ms_ratio(a, b, z1, z2)),
    Mistake("this is -ratio: it also rewards diversity, but without bound (G could push the outputs apart "
            "forever); MSGAN uses 1 / (ratio + 1e-5), whose pull fades as the outputs separate.",
            lambda a, b, z1, z2: -_ms_ratio(a, b, z1, z2)),
    Mistake("the eps goes in the denominator next to the ratio: 1 / (ratio + 1e-5); without it, two "
            "identical colourings give a division by zero.",
            lambda a, b, z1, z2: 1.0 / _ms_ratio(a, b, z1, z2)),
    Mistake("divide by the distance between the noise draws: the ratio is output distance PER unit of "
            "noise distance (d_I / d_z).",
            lambda a, b, z1, z2: 1.0 / ((a - b).abs().mean() + 1e-5)),
    Mistake("the distances are mean ABSOLUTE differences (L1), not mean squared ones.",
            lambda a, b, z1, z2: 1.0 / (_ms_ratio(a, b, z1, z2, lambda x, y: ((x - y) ** 2).mean(),
                                                  lambda x, y: ((x - y) ** 2).mean()) + 1e-5)),
    Mistake("each distance is a MEAN over all elements, not a sum: sums would change with the image size.",
            lambda a, b, z1, z2: 1.0 / (_ms_ratio(a, b, z1, z2, lambda x, y: (x - y).abs().sum(),
                                                  lambda x, y: (x - y).abs().sum()) + 1e-5)),
]


def check_mode_seeking_loss(fn: Callable[..., torch.Tensor]) -> Result:
    """Lesson 06: ``fn(ab_1, ab_2, z_1, z_2) -> loss``, the mode-seeking term of MSGAN
    (Mao et al. 2019, eq. 3) as G minimises it:

        ratio = mean|ab_1 - ab_2| / mean|z_1 - z_2|,      loss = 1 / (ratio + 1e-5)

    a scalar. Checked against :func:`lessons_lib.losses.mode_seeking_loss` on close, far and
    identical colourings; common mistakes (the ratio itself, no eps, no division by the
    noise distance, squares, sums) are named.
    """
    return check_function(
        "the mode-seeking loss",
        fn,
        mode_seeking_loss,
        _ms_cases(),
        mistakes=_MS_MISTAKES,
        output_names=("the loss",),
        atol=1e-4,
        rtol=1e-4,
        reference_name="lessons_lib.losses.mode_seeking_loss",
        forbid=[*_MS_FORBID, _ms_ratio],
    )
