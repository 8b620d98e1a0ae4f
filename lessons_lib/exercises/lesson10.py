"""Lesson 10's exercise: the Frechet distance between two Gaussians (Dowson & Landau 1982),
the formula inside FID (Heusel et al. 2017, eq. 6)."""
from __future__ import annotations

from typing import Callable

import torch

from ..metrics import frechet_distance, frechet_feature_distance
from ._core import Case, Mistake, Result, check_function, float_answer

__all__ = ["check_frechet_gaussians"]


def _spd(d: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    """A random symmetric positive-definite covariance (d, d), float64."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return scale * (a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64))


def _vec(d: int, seed: int) -> torch.Tensor:
    return torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _cases() -> list[Case]:
    one = lambda v: torch.tensor([v], dtype=torch.float64)          # noqa: E731
    return [
        # 1-D: d^2 = (mu1 - mu2)^2 + (s1 - s2)^2 (the covariances are variances s^2)
        Case("1-D, N(0, 2^2) vs N(1, 3^2)", (one(0.0), torch.tensor([[4.0]], dtype=torch.float64),
                                             one(1.0), torch.tensor([[9.0]], dtype=torch.float64))),
        Case("identical 4-D Gaussians", (_vec(4, 0), _spd(4, 1), _vec(4, 0), _spd(4, 1))),
        Case("diagonal covariances, 3-D", (_vec(3, 2), torch.diag(torch.tensor([1.0, 4.0, 0.25], dtype=torch.float64)),
                                           _vec(3, 3), torch.diag(torch.tensor([9.0, 1.0, 1.0], dtype=torch.float64)))),
        # full covariances that do not commute: sqrt(S1) sqrt(S2) is NOT (S1 S2)^(1/2) here
        Case("full covariances, 5-D", (_vec(5, 4), _spd(5, 5), _vec(5, 6), _spd(5, 7, 3.0))),
    ]


def _reference(mu1, s1, mu2, s2) -> torch.Tensor:
    return torch.tensor(frechet_distance(mu1, s1, mu2, s2), dtype=torch.float64)


def _msqrt(s: torch.Tensor) -> torch.Tensor:
    e, v = torch.linalg.eigh(s)
    return (v * e.clamp_min(0).sqrt()) @ v.T


_MISTAKES = [
    Mistake("the trace term is tr(S1 + S2 - 2 (S1 S2)^(1/2)): the factor 2 is missing.",
            lambda m1, s1, m2, s2: (m1 - m2).pow(2).sum() + (s1 + s2 - _msqrt(_msqrt(s1) @ s2 @ _msqrt(s1))).trace()),
    Mistake("(S1 S2)^(1/2) is not sqrt(S1) sqrt(S2) unless the covariances commute: take the square root of "
            "S1^(1/2) S2 S1^(1/2) (symmetric, same eigenvalues as S1 S2).",
            lambda m1, s1, m2, s2: (m1 - m2).pow(2).sum() + (s1 + s2 - 2 * _msqrt(s1) @ _msqrt(s2)).trace()),
    Mistake("an element-wise square root (s1 * s2).sqrt() is not a matrix square root: it ignores the "
            "off-diagonal structure.",
            lambda m1, s1, m2, s2: (m1 - m2).pow(2).sum() + (s1 + s2 - 2 * (s1 * s2).abs().sqrt()).trace()),
    Mistake("the mean term is missing: |mu1 - mu2|^2 is part of the distance.",
            lambda m1, s1, m2, s2: (s1 + s2 - 2 * _msqrt(_msqrt(s1) @ s2 @ _msqrt(s1))).trace()),
    Mistake("FID is the SQUARED Frechet distance d^2 (no square root at the end).",
            lambda m1, s1, m2, s2: torch.sqrt(((m1 - m2).pow(2).sum()
                                               + (s1 + s2 - 2 * _msqrt(_msqrt(s1) @ s2 @ _msqrt(s1))).trace()).clamp_min(0))),
    Mistake("the mean term is the squared Euclidean distance |mu1 - mu2|^2 = sum of squares, not a sum of "
            "absolute values.",
            lambda m1, s1, m2, s2: (m1 - m2).abs().sum() + (s1 + s2 - 2 * _msqrt(_msqrt(s1) @ s2 @ _msqrt(s1))).trace()),
]


def check_frechet_gaussians(fn: Callable[..., torch.Tensor]) -> Result:
    """Lesson 10: ``fn(mu1, sigma1, mu2, sigma2) -> d^2``, the squared Frechet distance of
    N(mu1, sigma1) and N(mu2, sigma2):

        d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))

    (Dowson & Landau 1982; FID, Heusel et al. 2017). Checked against
    :func:`lessons_lib.metrics.frechet_distance` on a 1-D case (closed form
    (mu1 - mu2)^2 + (s1 - s2)^2), identical Gaussians (0), diagonal and full, non-commuting
    covariances; the package's Frechet functions may not be called. Returns a float or a
    0-d tensor (float64 inputs)."""
    return check_function(
        "the Frechet distance of two Gaussians", float_answer(fn), _reference, _cases(), mistakes=_MISTAKES,
        output_names=("d^2",), atol=1e-6, rtol=1e-6, reference_name="lessons_lib.metrics.frechet_distance",
        forbid=[frechet_distance, frechet_feature_distance, _msqrt],
    )
