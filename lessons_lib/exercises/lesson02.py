"""Lesson 02's exercises: the pix2pix generator objective (GAN term + lambda * L1), NoGAN's
rule for choosing the shipped checkpoint (section 8, "a good model on a laptop"), and the
annealed mean that decodes a colour-class head (section 9, Zhang, Isola & Efros 2016)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..checkpoints import choose_by_rule, select_eval
from ..color.classes import annealed_distribution, annealed_mean, decode_classes
from ..colorization.tasks import ColorizationTask
from ..losses import GANLoss, gan_loss, l1_loss
from ._core import Case, Mistake, Result, check_function, run_student

__all__ = ["check_generator_objective", "pix2pix_generator_objective", "check_checkpoint_rule",
           "check_annealed_mean"]


def pix2pix_generator_objective(
    d_fake_logits: torch.Tensor, fake_ab: torch.Tensor, real_ab: torch.Tensor, lambda_l1: float
) -> torch.Tensor:
    """The pix2pix generator loss (Isola et al. 2017, eq. 4, G's side), the reference answer.

        L_G = E[-log sigma(D(x, G(x)))] + lambda_L1 * E[|y - G(x)|]

    The first term is the non-saturating form of E[log(1 - D(x, G(x)))] (Goodfellow et al.
    2014, sec. 3), averaged over every patch logit of the map; the second is the mean
    absolute error over every ab value (pix2pix eq. 3). Both come from the package:
    ``gan_loss("vanilla").g_loss`` and :func:`lessons_lib.losses.l1_loss`, the same calls
    as :class:`lessons_lib.colorization.tasks.ColorizationTask` makes.
    """
    return gan_loss("vanilla").g_loss(d_fake_logits) + lambda_l1 * l1_loss(fake_ab, real_ab)


def _cases() -> list[Case]:
    """Fixed inputs: a 70x70 PatchGAN-like logit map and ab planes in [-1, 1] (model space)."""
    g = torch.Generator().manual_seed(2)
    cases = []
    for name, (b, hw, map_hw, lam) in {
        "a patch map, lambda 100": (2, 16, 6, 100.0),
        "one logit per image, lambda 10": (3, 8, 1, 10.0),
        "a confident D, lambda 1": (2, 8, 4, 1.0),
    }.items():
        logits = torch.randn(b, 1, map_hw, map_hw, generator=g) * 2.0
        if name.startswith("a confident"):
            logits = logits - 6.0  # D is sure the fakes are fake: where the minimax loss saturates
        fake = torch.tanh(torch.randn(b, 2, hw, hw, generator=g))
        real = torch.tanh(torch.randn(b, 2, hw, hw, generator=g))
        cases.append(Case(name, (logits, fake, real, lam)))
    return cases


_MISTAKES = [
    Mistake(
        "this is the minimax (saturating) form log(1 - sigma(D)): when D confidently rejects the fakes "
        "its gradient vanishes. pix2pix, like Goodfellow et al. sec. 3, trains G to maximise log D "
        "instead: use -log(sigma(D)) = softplus(-D).",
        lambda d, f, r, lam: torch.log1p(-torch.sigmoid(d)).mean() + lam * (f - r).abs().mean(),
    ),
    Mistake(
        "the L1 term is missing its weight: multiply the mean absolute error by lambda_l1.",
        lambda d, f, r, lam: F.softplus(-d).mean() + (f - r).abs().mean(),
    ),
    Mistake(
        "lambda multiplies the GAN term here; in pix2pix it weighs the L1 term (GAN + lambda * L1).",
        lambda d, f, r, lam: lam * F.softplus(-d).mean() + (f - r).abs().mean(),
    ),
    Mistake(
        "that is the squared error (L2). pix2pix uses L1, |y - G(x)|, which blurs less (sec. 3.1).",
        lambda d, f, r, lam: F.softplus(-d).mean() + lam * ((f - r) ** 2).mean(),
    ),
    Mistake(
        "the GAN term should be the loss of G, -log sigma(D(x, G(x))): you used log sigma(D) (the sign is flipped).",
        lambda d, f, r, lam: -F.softplus(-d).mean() + lam * (f - r).abs().mean(),
    ),
    Mistake(
        "you labelled the fakes 0 in G's loss, which is D's target for them; G wants D to say 1 (real): "
        "BCE against ones, i.e. softplus(-D).",
        lambda d, f, r, lam: F.softplus(d).mean() + lam * (f - r).abs().mean(),
    ),
    Mistake(
        "the D output are logits, not probabilities: apply the sigmoid (or use softplus(-D) = -log sigma(D)).",
        lambda d, f, r, lam: -torch.log(d.clamp_min(1e-12)).mean() + lam * (f - r).abs().mean(),
    ),
    Mistake(
        "the L1 term is summed over the pixels instead of averaged: use .mean(), as pix2pix's nn.L1Loss does.",
        lambda d, f, r, lam: F.softplus(-d).mean() + lam * (f - r).abs().sum(),
    ),
    Mistake(
        "the GAN term is summed over the patch logits; pix2pix averages the patch map (.mean()).",
        lambda d, f, r, lam: F.softplus(-d).sum() + lam * (f - r).abs().mean(),
    ),
    Mistake(
        "only the L1 term is there: add the adversarial term -log sigma(D(x, G(x))) = softplus(-D).",
        lambda d, f, r, lam: lam * (f - r).abs().mean(),
    ),
    Mistake(
        "only the GAN term is there: add lambda_l1 times the mean absolute error |y - G(x)|.",
        lambda d, f, r, lam: F.softplus(-d).mean(),
    ),
]


def _objective_forbid() -> tuple:
    """The package's pieces of this loss, the task that adds them, and torch's L1 (nn.L1Loss
    reaches F.l1_loss too): the student writes both terms."""
    return (GANLoss.g_loss, GANLoss.d_loss, l1_loss, pix2pix_generator_objective, ColorizationTask.loss, F.l1_loss)


def check_generator_objective(
    fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor],
) -> Result:
    """Lesson 02: ``fn(d_fake_logits, fake_ab, real_ab, lambda_l1) -> loss``, G's pix2pix loss.

    ``d_fake_logits`` is D's logit map for (L, G(L)), shape (B, 1, H', W') (or (B, 1, 1, 1));
    ``fake_ab`` and ``real_ab`` are (B, 2, H, W) in model space. The answer must be a scalar
    tensor equal to :func:`pix2pix_generator_objective`: the non-saturating GAN term averaged
    over the logits plus ``lambda_l1`` times the mean absolute error. Checked on a patch map,
    on a whole-image logit and on a D that confidently rejects the fakes (where the minimax
    form saturates); the common mistakes are named.
    """
    return check_function(
        "the pix2pix generator objective",
        fn,
        pix2pix_generator_objective,
        _cases(),
        mistakes=_MISTAKES,
        output_names=("the loss",),
        atol=1e-4,
        rtol=1e-4,
        reference_name="gan_loss('vanilla').g_loss(D) + lambda_l1 * l1_loss(fake, real)",
        forbid=_objective_forbid(),
    )


# --------------------------------------------------------------------------- NoGAN's checkpoint rule
#: (name, PSNR of each validation in training order, colourfulness, tolerance in dB); the
#: values are exact in binary, so "within 0.25 dB" has no rounding at its edge
_RULE_CASES = [
    ("a GAN phase that trades PSNR for colour", [22.0, 21.875, 21.75, 21.5], [20.0, 25.0, 30.0, 40.0], 0.25),
    ("PSNR that first rises (the best is not the warm start)", [21.5, 22.0, 21.875, 21.25], [20.0, 22.0, 30.0, 35.0],
     0.25),
    ("tolerance 0: the best PSNR itself", [21.0, 21.5, 21.25], [10.0, 12.0, 30.0], 0.0),
    ("the most colourful is far below", [22.0, 21.5, 21.875, 20.0], [18.0, 26.0, 24.0, 60.0], 0.5),
    ("a tie in colourfulness: the later one", [22.0, 21.875, 21.875], [20.0, 25.0, 25.0], 0.5),
    ("a run that collapsed in the middle", [22.0, 19.0, 21.0], [20.0, 60.0, 30.0], 0.5),
]

_RULE_MISTAKES: list[tuple[str, Callable[[list, list, float], int]]] = [
    ("you took the most colourful of all: the PSNR window (within the tolerance of the best PSNR) comes first.",
     lambda p, c, t: max(range(len(c)), key=lambda i: (c[i], i))),
    ("you took the best PSNR: within the window, the rule wants the most colourful one.",
     lambda p, c, t: max(range(len(p)), key=lambda i: p[i])),
    ("the window starts at the first validation's PSNR (the warm start); it starts at the BEST PSNR of the run.",
     lambda p, c, t: max([i for i in range(len(p)) if p[i] >= p[0] - t], key=lambda i: (c[i], i))),
    ("the window starts at the last validation's PSNR; it starts at the BEST PSNR of the run.",
     lambda p, c, t: max([i for i in range(len(p)) if p[i] >= p[-1] - t], key=lambda i: (c[i], i))),
    ("a candidate exactly `tolerance` below the best is inside the window: use >=, not >.",
     lambda p, c, t: max([i for i in range(len(p)) if p[i] > max(p) - t] or [max(range(len(p)), key=p.__getitem__)],
                         key=lambda i: (c[i], i))),
    ("of two equally colourful candidates the rule keeps the later one (more training): compare (colour, index).",
     lambda p, c, t: max([i for i in range(len(p)) if p[i] >= max(p) - t], key=lambda i: (c[i], -i))),
]


def check_checkpoint_rule(fn: Callable[[list, list, float], int]) -> Result:
    """Lesson 02, section 8: ``fn(psnr, colourfulness, tolerance) -> index``, the validation
    NoGAN ships: among those whose PSNR is within ``tolerance`` dB of the run's best, the most
    colourful; of equals, the later. ``psnr`` and ``colourfulness`` are lists of floats in
    training order. The reference is :func:`lessons_lib.checkpoints.choose_by_rule`, the rule
    ``lessons models train nogan`` applies; the common mistakes are named. Calling
    ``choose_by_rule`` or ``select_eval`` fails the check."""
    exercise = "NoGAN's checkpoint rule"
    answers, wants = [], []
    for name, psnr, colour, tol in _RULE_CASES:
        wants.append(choose_by_rule(psnr, colour, tol))
        got, verdict = run_student(exercise, fn, list(psnr), list(colour), tol,
                                   forbid=(choose_by_rule, select_eval), case=f"'{name}'")
        if verdict is not None:
            return verdict
        try:
            answers.append(int(got.item() if isinstance(got, torch.Tensor) else got))
        except (TypeError, ValueError, RuntimeError):
            return Result(exercise, False, [f"on '{name}': return the index of the chosen validation (an int), "
                                            f"got {type(got).__name__}."])
    wrong_at = [i for i, (got, want) in enumerate(zip(answers, wants)) if got != want]
    if wrong_at:
        name, psnr, colour, tol = _RULE_CASES[wrong_at[0]]
        # a known mistake is named when it gives the student's answer on every case
        for hint, wrong in _RULE_MISTAKES:
            if [wrong(list(p), list(c), t) for _, p, c, t in _RULE_CASES] == answers:
                return Result(exercise, False, [f"on '{name}': {hint}"])
        return Result(exercise, False, [f"on '{name}' (PSNR {psnr}, colourfulness {colour}, tolerance {tol}) "
                                        f"you chose index {answers[wrong_at[0]]}, the rule chooses {wants[wrong_at[0]]}."])
    return Result(exercise, True, [], f"matches lessons_lib.checkpoints.choose_by_rule on {len(_RULE_CASES)} cases.")


# --------------------------------------------------------------------------- section 9
def _annealed_cases() -> list[Case]:
    g = torch.Generator().manual_seed(2)
    centres = torch.tensor([[0.0, 0.0], [40.0, 10.0], [-30.0, 50.0], [10.0, -60.0], [70.0, 70.0]])
    logits = torch.randn(2, 5, 3, 4, generator=g) * 2.0
    sharp = torch.tensor([900.0, 0.0, -900.0, 890.0, 5.0]).reshape(1, 5, 1, 1)   # exp() overflows
    return [Case("T = 1, the mean of the distribution", (logits, centres, 1.0)),
            Case("T = 0.38, the paper's", (logits, centres, 0.38)),
            Case("T = 2, warmer than the mean", (logits, centres, 2.0)),
            Case("logits of +-900 at T = 0.05 (a naive exp overflows)", (sharp, centres, 0.05))]


_ANNEALED_MISTAKES = [
    Mistake("you multiplied the logits by T; the annealed distribution divides log z by T "
            "(f_T = softmax(logits / T)), so a small T sharpens it.",
            lambda lg, c, t: torch.einsum("bqhw,qc->bchw", torch.softmax(lg * t, 1), c)),
    Mistake("that is the mode (the most likely bin) at every T; the annealed mean is the mean of the "
            "bin centres under softmax(logits / T), which only tends to the mode as T -> 0.",
            lambda lg, c, t: c[lg.argmax(1)].permute(0, 3, 1, 2)),
    Mistake("that is the mean at T = 1 whatever T is: divide the logits by T before the softmax.",
            lambda lg, c, t: torch.einsum("bqhw,qc->bchw", torch.softmax(lg, 1), c)),
]


def check_annealed_mean(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> Result:
    """Lesson 02, section 9: ``fn(logits (B, Q, H, W), centres (Q, 2), T) -> ab (B, 2, H, W)``,
    Zhang et al.'s annealed mean (eq. 5): the mean of the bin centres under
    ``f_T = softmax(logits / T)`` over the Q bins. Compared with
    :func:`lessons_lib.color.classes.annealed_mean` on four cases, one of which overflows a
    naive ``exp``; the package's decoders are refused, torch's softmax is allowed."""
    return check_function(
        "the annealed mean", fn, annealed_mean, _annealed_cases(), mistakes=_ANNEALED_MISTAKES,
        output_names=("ab",), atol=1e-3, rtol=1e-4, reference_name="lessons_lib.color.classes.annealed_mean",
        forbid=(annealed_distribution, decode_classes))
