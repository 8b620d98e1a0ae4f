"""The class-rebalanced cross-entropy of a colour-class head (Zhang, Isola & Efros 2016, eq. 2):

    L_cl(Z^, Z) = - (1 / HW) sum_{h,w} v(Z_{h,w}) sum_q Z_{h,w,q} log Z^_{h,w,q}

with Z the soft-encoded target (k = 5 nearest bins, Gaussian sigma 5;
:func:`lessons_lib.color.classes.soft_encode`), Z^ = softmax(logits) and
v(Z_{h,w}) = w_{q*} the rebalancing weight of the pixel's nearest bin q* (eq. 3). The
target is kept sparse (k indices and weights per pixel), so the loss gathers k log-
probabilities per pixel instead of multiplying a dense Q-channel target.
"""
from __future__ import annotations

import torch

from ..color.classes import NEIGHBOURS, SIGMA, soft_encode

__all__ = ["class_cross_entropy", "rebalanced_class_loss"]


def class_cross_entropy(logits: torch.Tensor, index: torch.Tensor, weight: torch.Tensor,
                        pixel_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over pixels of ``- v * sum_k weight_k log softmax(logits)[index_k]``.

    Args:
        logits: ``(B, Q, H, W)``.
        index, weight: the sparse target ``(B, k, H, W)`` (bins and their weights summing to 1).
        pixel_weight: v, ``(B, H, W)`` (None: 1 everywhere, the plain cross-entropy).
    """
    logp = torch.log_softmax(logits.float(), dim=1)                             # (B, Q, H, W)
    ce = -(logp.gather(1, index) * weight.to(logp.dtype)).sum(dim=1)            # (B, H, W)
    if pixel_weight is not None:
        ce = ce * pixel_weight.to(ce.dtype)
    return ce.mean()


def rebalanced_class_loss(logits: torch.Tensor, ab: torch.Tensor, centres: torch.Tensor,
                          class_weights: torch.Tensor | None, k: int = NEIGHBOURS,
                          sigma: float = SIGMA) -> torch.Tensor:
    """Zhang et al. eq. 2 from the true ab ``(B, 2, H, W)`` (Lab units, the units of
    ``centres (Q, 2)``): soft-encode, then the cross-entropy weighted by the nearest bin's
    ``class_weights (Q,)`` (None: unweighted)."""
    index, weight = soft_encode(ab, centres, k=k, sigma=sigma)                  # (B, k, H, W) each
    v = None
    if class_weights is not None:
        v = class_weights.to(logits.device, torch.float32)[index[:, 0]]           # (B, H, W) w of the nearest bin
    return class_cross_entropy(logits, index, weight, v)
