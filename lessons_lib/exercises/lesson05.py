"""Lesson 05's exercises: the LSGAN discriminator and generator losses with targets a, b, c
(Mao et al. 2017, eq. 2; seed 000 eqs. (1)-(2))."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..losses import GANLoss
from ..losses import adversarial as _adv
from ._core import Case, Mistake, Result, check_function

__all__ = ["check_lsgan_d_loss", "check_lsgan_g_loss"]

#: The kit's LSGAN: GANLoss's methods (and the factory that builds one) are watched while the
#: student's function runs - the exercise is the equation itself.
_FORBID = [GANLoss.d_loss, GANLoss.g_loss, GANLoss.__init__, _adv.gan_loss]


def _logits(shape: tuple[int, ...], seed: int, centre: float = 0.5, spread: float = 1.0) -> torch.Tensor:
    """Raw discriminator outputs spread around ``centre`` (an LSGAN D has no sigmoid)."""
    g = torch.Generator().manual_seed(seed)
    return centre + spread * torch.randn(*shape, generator=g)


def _d_cases() -> list[Case]:
    return [
        # seed 000 / Mao's "0-1 coding": a = 0 (fake), b = 1 (real); PatchGAN maps (B, 1, H', W').
        Case("patch maps, a=0, b=1", (_logits((4, 1, 6, 6), 0, 0.7), _logits((4, 1, 6, 6), 1, 0.3), 0.0, 1.0)),
        # Mao et al. eq. (8): a = -1, b = 1 (with c = 0 it minimises the Pearson chi^2 divergence).
        Case("one logit per image, a=-1, b=1", (_logits((8, 1), 2, 0.5), _logits((8, 1), 3, -0.5), -1.0, 1.0)),
        # The two expectations are separate means: different numbers of real and fake logits.
        Case("3 real and 5 fake maps, a=0, b=1", (_logits((3, 1, 4, 4), 4), _logits((5, 1, 4, 4), 5), 0.0, 1.0)),
    ]


_D_MISTAKES = [
    Mistake("a and b are swapped: b is the label of REAL samples (the real term is (D(x) - b)^2) and a the label "
            "of FAKE ones ((D(G(z)) - a)^2).",
            lambda r, f, a, b: 0.5 * ((r - a) ** 2).mean() + 0.5 * ((f - b) ** 2).mean()),
    Mistake("your loss is twice the reference: each expectation carries a factor 1/2 (Mao et al. eq. 2).",
            lambda r, f, a, b: ((r - b) ** 2).mean() + ((f - a) ** 2).mean()),
    Mistake("LSGAN squares the raw output of D: do not apply a sigmoid first (the least-squares loss replaces "
            "the sigmoid cross-entropy).",
            lambda r, f, a, b: 0.5 * ((torch.sigmoid(r) - b) ** 2).mean() + 0.5 * ((torch.sigmoid(f) - a) ** 2).mean()),
    Mistake("the expectations are means, not sums: use .mean() so the loss does not grow with the batch and "
            "the patch map.",
            lambda r, f, a, b: 0.5 * ((r - b) ** 2).sum() + 0.5 * ((f - a) ** 2).sum()),
    Mistake("take the two expectations separately, E over real samples and E over fake ones: one mean over "
            "all the squared errors weighs the larger batch more.",
            lambda r, f, a, b: torch.cat([((r - b) ** 2).flatten(), ((f - a) ** 2).flatten()]).mean()),
    Mistake("least SQUARES: square the differences, (D(x) - b)**2, do not take their absolute value.",
            lambda r, f, a, b: 0.5 * (r - b).abs().mean() + 0.5 * (f - a).abs().mean()),
    Mistake("this is the vanilla (sigmoid cross-entropy) loss; LSGAN replaces it by least squares around a and b.",
            lambda r, f, a, b: F.softplus(-r).mean() + F.softplus(f).mean()),
    Mistake("one term is missing: D is trained on real samples (towards b) AND on fake ones (towards a).",
            lambda r, f, a, b: 0.5 * ((r - b) ** 2).mean()),
    Mistake("one term is missing: D is trained on real samples (towards b) AND on fake ones (towards a).",
            lambda r, f, a, b: 0.5 * ((f - a) ** 2).mean()),
]


def _d_reference(real: torch.Tensor, fake: torch.Tensor, a: float, b: float) -> torch.Tensor:
    return GANLoss("lsgan", a=a, b=b).d_loss(real, fake)


def check_lsgan_d_loss(fn: Callable[[torch.Tensor, torch.Tensor, float, float], torch.Tensor]) -> Result:
    """Lesson 05: ``fn(real_logits, fake_logits, a, b) -> loss``, the LSGAN discriminator loss

        L_D = 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]

    (Mao et al. 2017, eq. 2; seed 000 eq. (1)): a scalar tensor, means over every element
    of each map. Checked against ``GANLoss("lsgan", a=a, b=b).d_loss`` on PatchGAN maps with
    seed 000's a=0, b=1, on per-image logits with Mao's a=-1, b=1, and on real and fake
    batches of different sizes. Common mistakes (swapped a/b, a missing 1/2, a sigmoid, sums
    instead of means) are named.
    """
    return check_function(
        "the LSGAN discriminator loss",
        fn,
        _d_reference,
        _d_cases(),
        mistakes=_D_MISTAKES,
        output_names=("the loss",),
        atol=1e-5,
        rtol=1e-5,
        reference_name="GANLoss('lsgan', a, b).d_loss",
        forbid=_FORBID,
    )


_G_MISTAKES = [
    Mistake("G pushes D's output on its samples towards c (the value G wants D to believe, 'real' for "
            "seed 000), not towards a (the fake label): use (D(G(z)) - c)^2.",
            lambda f, c: 0.5 * ((f - 0.0) ** 2).mean()),
    Mistake("your loss is twice the reference: L_G = 1/2 E[(D(G(z)) - c)^2] (Mao et al. eq. 2).",
            lambda f, c: ((f - c) ** 2).mean()),
    Mistake("G MINIMISES its own objective 1/2 E[(D(G(z)) - c)^2]: there is no minus sign (the vanilla "
            "minimax game has one, LSGAN's two separate objectives do not).",
            lambda f, c: -0.5 * ((f - c) ** 2).mean()),
    Mistake("LSGAN squares the raw output of D: do not apply a sigmoid first.",
            lambda f, c: 0.5 * ((torch.sigmoid(f) - c) ** 2).mean()),
    Mistake("the expectation is a mean, not a sum.",
            lambda f, c: 0.5 * ((f - c) ** 2).sum()),
]


def check_lsgan_g_loss(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> Result:
    """Lesson 05 (optional): ``fn(fake_logits, c) -> loss``, the LSGAN generator loss
    ``L_G = 1/2 E[(D(G(z)) - c)^2]`` (Mao et al. 2017, eq. 2; seed 000 eq. (2)).

    Checked against ``GANLoss("lsgan", c=c).g_loss`` with seed 000's c = 1 and Mao's c = 0.
    """
    cases = [
        Case("patch maps, c=1", (_logits((4, 1, 6, 6), 10, 0.2), 1.0)),
        Case("one logit per image, c=0", (_logits((8, 1), 11, -0.6), 0.0)),
    ]
    return check_function(
        "the LSGAN generator loss",
        fn,
        lambda f, c: GANLoss("lsgan", c=c).g_loss(f),
        cases,
        mistakes=_G_MISTAKES,
        output_names=("the loss",),
        atol=1e-5,
        rtol=1e-5,
        reference_name="GANLoss('lsgan', c=c).g_loss",
        forbid=_FORBID,
    )
