"""Contextual loss (Mechrez, Talmi & Zelnik-Manor, "The Contextual Loss for Image
Transformation with Non-Aligned Data", ECCV 2018), as the restorer's fusion stage uses it
(seed 004 eq. 4: ``L_fc = 0.01 CX(x_R, x_hat) + 0.05 CX(x_G, x_hat)``).

An image is treated as a *set* of feature vectors (one per position of a feature map,
e.g. VGG activations). The loss asks that every target feature have some generated feature
that resembles it much more than the others do -- wherever it is. It compares statistics,
not pixels, so x_hat may borrow the texture of x_G without being aligned to it.

With x_i (generated, i = 1..N) and y_j (target, j = 1..M) the feature vectors (paper sec. 3):

    centre        x_i <- x_i - mu_y,   y_j <- y_j - mu_y        (mu_y: mean of the target's features)
    cosine        d_ij  = 1 - <x_i, y_j> / (|x_i| |y_j|)
    relative      d~_ij = d_ij / (min_k d_ik + eps),  eps = 1e-5
    similarity    w_ij  = exp((1 - d~_ij) / h),       h = 0.5 (band width)
    normalise     cx_ij = w_ij / sum_k w_ik           (= softmax over k of -d~_ik / h)
    CX(x, y)      = 1/M sum_j max_i cx_ij
    loss          = -log CX(x, y)

Identical sets give cx_ii ~ 1, CX ~ 1, loss ~ 0; the loss is invariant to any permutation
of positions (a set function). ``mu_y`` is computed per sample over positions (the
authors' TensorFlow code pools the whole batch; per sample keeps samples independent).

Memory: the N x M matrix is the cost -- 64x64 features give 4096^2 = 16.8 M entries per
sample for each of the few intermediate tensors autograd keeps, 128x128 give 268 M (1 GiB
each in float32). ``max_positions`` therefore subsamples positions first (same positions
in x and y when their maps have the same size, from a seeded generator, or a regular grid
with ``sampling="strided"``); see ``benchmarks/bench_contextual_memory.py``.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["contextual_loss", "contextual_similarity", "ContextualLoss", "SAMPLINGS"]

SAMPLINGS = ("random", "strided")


def _check_feat(t: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (B, C, H, W) or (B, C, N), got {type(t).__name__}")
    if t.ndim == 4:
        return t.flatten(2)  # (B, C, H*W)
    if t.ndim == 3:
        return t
    raise ValueError(f"{name} must be a feature map (B, C, H, W) or a set of vectors (B, C, N), got {tuple(t.shape)}")


def _strided(t: torch.Tensor, max_positions: int) -> torch.Tensor:
    """Every s-th row and column, s = ceil(sqrt(H W / max_positions)): at most max_positions left."""
    H, W = t.shape[-2:]
    s = max(1, math.ceil(math.sqrt(H * W / max_positions)))
    while math.ceil(H / s) * math.ceil(W / s) > max_positions:
        s += 1
    return t[..., ::s, ::s]


def _subsample(x4: torch.Tensor, y4: torch.Tensor, max_positions: int | None, sampling: str,
               generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; choose one of: {', '.join(SAMPLINGS)}")
    if max_positions is not None and max_positions < 1:
        raise ValueError(f"max_positions must be >= 1 or None (no subsampling), got {max_positions}")
    if sampling == "strided" and max_positions is not None:
        x4 = _strided(x4, max_positions) if x4.ndim == 4 else x4
        y4 = _strided(y4, max_positions) if y4.ndim == 4 else y4
    x, y = _check_feat(x4, "x_feat"), _check_feat(y4, "y_feat")
    if max_positions is None:
        return x, y

    def pick(n: int) -> torch.Tensor | None:
        if n <= max_positions:
            return None
        if sampling == "strided":  # sets (B, C, N) have no grid: evenly spaced indices
            return torch.linspace(0, n - 1, max_positions).round().long()
        gdev = generator.device if generator is not None else torch.device("cpu")
        return torch.randperm(n, generator=generator, device=gdev)[:max_positions]

    ix = pick(x.shape[2])
    iy = ix if x.shape[2] == y.shape[2] else pick(y.shape[2])  # aligned maps: compare like positions
    if ix is not None:
        x = x[:, :, ix.to(x.device)]
    if iy is not None:
        y = y[:, :, iy.to(y.device)]
    return x, y


def contextual_similarity(x: torch.Tensor, y: torch.Tensor, h: float = 0.5, eps: float = 1e-5) -> torch.Tensor:
    """The matrix ``cx_ij`` for sets ``x (B, C, N)`` and ``y (B, C, M)``: ``(B, N, M)``, rows sum to 1."""
    if x.shape[:2] != y.shape[:2]:
        raise ValueError(
            f"x and y must have the same batch size and channels, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if h <= 0:
        raise ValueError(f"the band width h must be > 0, got {h}")
    mu = y.mean(dim=2, keepdim=True)  # (B, C, 1) the target's mean feature
    xn = F.normalize(x - mu, dim=1)  # (B, C, N) unit vectors
    yn = F.normalize(y - mu, dim=1)  # (B, C, M)
    d = (1.0 - torch.bmm(xn.transpose(1, 2), yn)).clamp_min(0.0)  # (B, N, M) cosine distance d_ij
    d_rel = d / (d.min(dim=2, keepdim=True).values + eps)  # (B, N, M) d~_ij, relative to i's nearest y
    # w_ij / sum_k w_ik with w = exp((1 - d~)/h) is a softmax over k of -d~/h (the 1/h cancels):
    return torch.softmax(-d_rel / h, dim=2)  # (B, N, M)


def contextual_loss(
    x_feat: torch.Tensor,
    y_feat: torch.Tensor,
    h: float = 0.5,
    max_positions: int | None = 1024,
    sampling: str = "random",
    generator: torch.Generator | None = None,
    eps: float = 1e-5,
    reduction: str = "mean",
) -> torch.Tensor:
    """``-log CX(x, y)`` of the module docstring, for batched feature maps.

    Args:
        x_feat: features of the generated image, ``(B, C, H, W)`` (or a set ``(B, C, N)``).
        y_feat: features of the target, ``(B, C, H', W')``; sizes may differ (no alignment needed).
        h: band width (0.5, the paper's value for this use).
        max_positions: keep at most this many positions of each map (None: all; memory
            and time grow as (H W)^2).
        sampling: ``"random"`` (a seeded random subset, the same for the whole batch) or
            ``"strided"`` (a regular grid; deterministic).
        generator: torch Generator for the random subset (reproducible losses).
        reduction: ``"mean"`` over the batch, or ``"none"`` for one value per sample.
    """
    x, y = _subsample(x_feat, y_feat, max_positions, sampling, generator)
    with torch.autocast(device_type=x.device.type, enabled=False):  # float32: exp, min and log need it
        cx = contextual_similarity(x.float(), y.float(), h, eps)  # (B, N, M)
    CX = cx.max(dim=1).values.mean(dim=1)  # (B,) mean_j max_i cx_ij
    loss = -torch.log(CX.clamp_min(1e-12))
    if reduction == "none":
        return loss
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return loss.mean()


class ContextualLoss(nn.Module):
    """Module form of :func:`contextual_loss`; ``seed`` makes the random subsets reproducible."""

    def __init__(self, h: float = 0.5, max_positions: int | None = 1024, sampling: str = "random",
                 seed: int | None = None):
        super().__init__()
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}; choose one of: {', '.join(SAMPLINGS)}")
        self.h, self.max_positions, self.sampling = h, max_positions, sampling
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def forward(self, x_feat: torch.Tensor, y_feat: torch.Tensor) -> torch.Tensor:
        return contextual_loss(x_feat, y_feat, self.h, self.max_positions, self.sampling, self.generator)

    def extra_repr(self) -> str:
        return f"h={self.h}, max_positions={self.max_positions}, sampling={self.sampling!r}"
