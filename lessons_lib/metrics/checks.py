"""Input checks and reductions shared by the metrics modules.

Every metric takes image batches ``(B, C, H, W)`` (a single ``(C, H, W)`` image too) as
torch tensors; these helpers bring them to that shape and to a float dtype, check that
prediction and target agree, and reduce per-image values (``reduction="mean"`` or ``"none"``).
"""
from __future__ import annotations

import torch

__all__ = ["as_batch", "image_pair", "as_float", "rgb_pair", "reduce_per_image"]


def as_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        return x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W) or (C, H, W), got {tuple(x.shape)}")
    return x


def image_pair(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as (B, C, H, W) float tensors on pred's device; same shape or ValueError."""
    p, t = as_batch(pred, "pred"), as_batch(target, "target")
    if p.shape != t.shape:
        raise ValueError(
            f"pred and target must have the same shape, got pred {tuple(pred.shape)} "
            f"and target {tuple(target.shape)}"
        )
    dtype = torch.promote_types(as_float(p).dtype, as_float(t).dtype)
    return as_float(p).to(dtype), as_float(t).to(p.device, dtype)


def as_float(x: torch.Tensor) -> torch.Tensor:
    """Float view of an image: uint8 becomes [0, 1]; half precision is promoted to float32."""
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
        return x.float()
    return x


def rgb_pair(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p, t = image_pair(pred, target)
    if p.shape[1] != 3:
        raise ValueError(f"expected RGB images (B, 3, H, W), got shape {tuple(pred.shape)}")
    return p, t


def reduce_per_image(per_image: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_image.mean()
    if reduction == "none":
        return per_image
    raise ValueError(f"unknown reduction {reduction!r}: use 'mean' or 'none'")
