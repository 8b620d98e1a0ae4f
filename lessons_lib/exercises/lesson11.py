"""Lesson 11's exercise: the spectral norm of a weight by power iteration, the estimate
inside spectral normalisation (Miyato et al. 2018, Algorithm 1)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch.nn.utils import parametrizations, spectral_norm as old_spectral_norm

from ..models.layers import add_spectral_norm, largest_singular_values
from ._core import Case, Forbid, Mistake, Result, check_function, float_answer

__all__ = ["check_spectral_norm"]


def _with_spectrum(out: int, inp: int, sigmas: list[float], seed: int, shape: tuple | None = None) -> torch.Tensor:
    """U diag(sigmas) V^T (out, inp) with random orthonormal U, V, reshaped to ``shape``."""
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(out, out, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(inp, inp, generator=g, dtype=torch.float64))
    k = len(sigmas)
    w = u[:, :k] @ torch.diag(torch.tensor(sigmas, dtype=torch.float64)) @ v[:, :k].T
    return w.reshape(shape) if shape is not None else w


def _cases() -> list[Case]:
    g = torch.Generator().manual_seed(11)
    a, b = torch.randn(6, 1, generator=g, dtype=torch.float64), torch.randn(1, 9, generator=g, dtype=torch.float64)
    return [
        # a rank-one W = a b^T: ONE step of power iteration is already exact
        Case("rank one (6, 9), n_iter=1", (a @ b, 1)),
        Case("a Linear weight (8, 5), sigma 3 over 1.2", (_with_spectrum(8, 5, [3.0, 1.2, 0.7, 0.2], 1), 60)),
        Case("a wide weight (4, 16), sigma 0.5", (_with_spectrum(4, 16, [0.5, 0.1, 0.05], 2), 60)),
        # a conv weight (out, in, k, k): its matrix is (out, in*k*k), as torch's spectral_norm takes it
        Case("a conv weight (6, 2, 3, 3)", (_with_spectrum(6, 18, [2.0, 0.9, 0.5, 0.3], 3, (6, 2, 3, 3)), 80)),
    ]


def _reference(w: torch.Tensor, n_iter: int) -> torch.Tensor:
    return torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), 2)


def _power(w: torch.Tensor, n: int, squared: bool = False) -> torch.Tensor:
    m = w.reshape(w.shape[0], -1)
    v = torch.ones(m.shape[1], dtype=m.dtype) / m.shape[1] ** 0.5
    for _ in range(max(n, 100)):
        v = m.T @ (m @ v)
        v = v / v.norm()
    s = (m @ v).norm()
    return s ** 2 if squared else s


_MISTAKES = [
    Mistake("that is the Frobenius norm sqrt(sum W_ij^2), the root of the sum of ALL squared singular "
            "values; the spectral norm is the largest one alone.",
            lambda w, n: w.reshape(w.shape[0], -1).norm()),
    Mistake("that is sigma^2: |W^T W v| for a unit v is the largest eigenvalue of W^T W, the square of the "
            "largest singular value; return |W v| (or its square root).",
            lambda w, n: _power(w, n, squared=True)),
    Mistake("the largest |W_ij| is not the spectral norm: sigma = max over unit vectors v of |W v|.",
            lambda w, n: w.abs().max()),
    Mistake("the largest row norm is only a lower bound of sigma: iterate v <- W^T W v / |W^T W v|.",
            lambda w, n: w.reshape(w.shape[0], -1).norm(dim=1).max()),
]


def _matrix_2norm(x: Any, ord: Any = None, axis: Any = None, *rest: Any, **kwargs: Any) -> bool:
    """True for a norm call that returns a singular value: ord 2, -2 or 'nuc' of a matrix (a
    2-D input, or two axes named); the same call on a vector (a power iteration's |v|) is fine."""
    axis = kwargs.get("dim", kwargs.get("axis", axis))
    ord = kwargs.get("ord", ord)
    if isinstance(ord, str):
        matrix_ord = ord == "nuc"
    else:
        matrix_ord = ord is not None and not isinstance(ord, bool) and ord in (2, -2)
    try:
        ndim = int(getattr(x, "ndim", None) if hasattr(x, "ndim") else np.ndim(x))
    except (TypeError, ValueError):  # pragma: no cover - not an array: the call itself will say so
        return False
    if isinstance(axis, int):
        return False
    return matrix_ord and (ndim >= 2 if axis is None else len(tuple(axis)) == 2)


def _shortcuts() -> list[Any]:
    """Every library call that hands over sigma_max: torch's, numpy's and scipy's SVDs, eigen-
    solvers and matrix norms (a norm only when it is the matrix 2-norm, :func:`_matrix_2norm`),
    every spectral_norm, and the check's own reference and power iteration."""
    out: list[Any] = [
        torch.linalg.matrix_norm, torch.linalg.svdvals, torch.linalg.svd, torch.svd, torch.svd_lowrank,
        torch.pca_lowrank, torch.lobpcg, torch.linalg.eigh, torch.linalg.eigvalsh, torch.linalg.eig,
        torch.linalg.eigvals, torch.linalg.matrix_rank, torch.linalg.pinv, torch.linalg.cond,
        parametrizations.spectral_norm, old_spectral_norm, add_spectral_norm, largest_singular_values,
        _reference, _power,
        Forbid(torch.linalg.norm, _matrix_2norm, "torch.linalg.norm(W, 2)"),
        Forbid(torch.norm, _matrix_2norm, "torch.norm(W, 2, dim=(0, 1))"),
        Forbid(np.linalg.norm, _matrix_2norm, "numpy.linalg.norm(W, 2)"),
        np.linalg.svd, np.linalg.eig, np.linalg.eigh, np.linalg.eigvals, np.linalg.eigvalsh, np.linalg.cond,
        np.linalg.pinv, np.linalg.matrix_rank,
    ]
    try:  # local: scipy is optional here (no direct dependency) and slow to import; forbidden when present
        import scipy.linalg as sla
        import scipy.sparse.linalg as ssla

        out += [sla.svd, sla.svdvals, sla.eig, sla.eigh, sla.eigvals, sla.eigvalsh, sla.pinv, ssla.svds,
                ssla.eigs, ssla.eigsh, ssla.lobpcg, Forbid(sla.norm, _matrix_2norm, "scipy.linalg.norm(W, 2)")]
    except ImportError:  # pragma: no cover - scipy is a dependency of the kit
        pass
    return out


def check_spectral_norm(fn: Callable[..., torch.Tensor]) -> Result:
    """Lesson 11: ``fn(W, n_iter) -> sigma``, the largest singular value of ``W`` (any shape
    (out, ...), taken as the matrix (out, -1), as spectral normalisation does) by ``n_iter``
    steps of power iteration:

        v <- W^T u / |W^T u|,   u <- W v / |W v|,   sigma = u^T W v   (= |W v|)

    Checked against ``torch.linalg.matrix_norm(W.reshape(out, -1), 2)`` on a rank-one
    matrix after ONE step (exact), on Linear and conv weights with a known spectrum; the
    SVDs, eigen-solvers and matrix 2-norms of torch, numpy and scipy (``torch.linalg.norm(W, 2)``,
    ``np.linalg.norm(W, 2)``, ``scipy.linalg.svdvals`` ...) and every spectral_norm may not be
    called (:func:`_shortcuts`); the norm of a vector may. Returns a float or a 0-d tensor
    (float64 inputs)."""
    return check_function(
        "the spectral norm by power iteration", float_answer(fn), _reference, _cases(), mistakes=_MISTAKES,
        output_names=("sigma",), atol=1e-5, rtol=1e-5, reference_name="torch.linalg.matrix_norm(W, 2)",
        forbid=_shortcuts(),
    )
