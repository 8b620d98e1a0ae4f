"""Lesson 09's exercise: the contextual loss of the fusion network."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ._core import Case, Mistake, Result, check_function

__all__ = ["check_contextual_loss"]


def _cx(x: torch.Tensor, y: torch.Tensor, h: float = 0.5, centre: bool = True, relative: bool = True,
        max_axis: int = 1) -> torch.Tensor:
    """The contextual loss with one step changed (the known mistakes); all steps = the right answer."""
    mu = y.mean(dim=2, keepdim=True) if centre else 0.0
    xn, yn = F.normalize(x - mu, dim=1), F.normalize(y - mu, dim=1)
    d = (1 - torch.bmm(xn.transpose(1, 2), yn)).clamp_min(0)           # (B, N, M)
    if relative:
        d = d / (d.min(dim=2, keepdim=True).values + 1e-5)
    cx = torch.softmax(-d / h, dim=2)
    CX = cx.max(dim=max_axis).values.mean(dim=1)
    return (-torch.log(CX.clamp_min(1e-12))).mean()


def check_contextual_loss(fn: Callable[..., torch.Tensor]) -> Result:
    """Lesson 09: ``fn(x, y, h=0.5) -> loss``, the contextual loss of Mechrez et al. (2018).

    ``x`` (B, C, N) are the generated image's feature vectors, ``y`` (B, C, M) the target's;
    the answer is the scalar ``mean_b -log CX_b`` with centring by the target's mean,
    cosine distances, distances relative to each x_i's nearest y (eps 1e-5),
    ``w = exp((1 - d~) / h)`` normalised over the targets, and ``CX = mean_j max_i cx_ij`` -
    :func:`lessons_lib.losses.contextual_loss` with ``max_positions=None``.
    """
    from ..losses import contextual_loss

    g = torch.Generator().manual_seed(0)
    base = torch.randn(2, 8, 20, generator=g)
    cases = [
        Case("two random sets of 20 vectors", (torch.randn(2, 8, 20, generator=g), torch.randn(2, 8, 20, generator=g))),
        Case("y = x shuffled (the loss ignores positions)", (base, base[:, :, torch.randperm(20, generator=g)])),
        Case("sets of different sizes (12 and 30)", (torch.randn(1, 6, 12, generator=g) + 1.0,
                                                     torch.randn(1, 6, 30, generator=g) + 1.0)),
    ]

    def reference(x, y):
        return contextual_loss(x, y, max_positions=None)

    mistakes = [
        Mistake("centre both sets by the mean of the TARGET's features (y.mean(dim=2, keepdim=True)) before the "
                "cosine: without it all features point the same way and every distance is small.",
                lambda x, y: _cx(x, y, centre=False)),
        Mistake("divide each d_ij by min_k d_ik + 1e-5 (the distance to x_i's nearest target) before the "
                "exponential: the relative distance is what makes one match stand out.",
                lambda x, y: _cx(x, y, relative=False)),
        Mistake("CX is mean over targets j of the max over generated i: take max(dim=1) of the (B, N, M) "
                "matrix (over i), then the mean over j.", lambda x, y: _cx(x, y, max_axis=2)),
    ]
    return check_function("contextual loss", fn, reference, cases, mistakes=mistakes,
                          output_names=("loss",), atol=1e-5, rtol=1e-4,
                          reference_name="lessons_lib.losses.contextual_loss")
