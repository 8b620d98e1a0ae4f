"""The metric reports of the course: every colorization or restoration metric of a batch
in one plain-JSON dict (for model cards), their labels, and a text table of a report.
"""
from __future__ import annotations

import math

import torch

from .. import color
from .checks import rgb_pair
from .pixel import auc, colorfulness, colorfulness_gap, mae, psnr, raw_accuracy_curve, ssim
from .pretrained import UNAVAILABLE, fid, fid_available, lpips_available, lpips_distance

__all__ = ["METRIC_LABELS", "colorization_report", "restoration_report", "format_report"]


def _optional(available: bool, compute) -> float | str:
    return float(compute()) if available else UNAVAILABLE


def colorization_report(pred_rgb: torch.Tensor, target_rgb: torch.Tensor) -> dict:
    """Every colorization metric of the course for a batch of predictions and photos.

    Args:
        pred_rgb, target_rgb: (B, 3, H, W) or (3, H, W) RGB, float in [0, 1] or uint8.
    Returns a plain-JSON dict (floats, nested dicts, strings) for a model card:
        ``mae_rgb``: {"R", "G", "B", "mean"} in 0-255 units;
        ``mae_ab``: {"a", "b", "mean"} in Lab units;
        ``auc``: raw-accuracy AuC (t = 0..150 Lab units), in [0, 1];
        ``psnr`` (dB) and ``ssim`` on RGB in [0, 1], means over images;
        ``colorfulness``, ``colorfulness_gt``, ``colorfulness_gap`` (pred - photo);
        ``lpips`` (AlexNet) and ``fid``: floats, or :data:`UNAVAILABLE` without weights
        (FID also needs 2 images or more; with fewer it says so).
    """
    p, t = rgb_pair(pred_rgb, target_rgb)
    lab_p, lab_t = color.rgb_to_lab(p), color.rgb_to_lab(t)
    if p.shape[0] >= 2:
        fid_value = _optional(fid_available(), lambda: fid(p, t))
    else:
        fid_value = "unavailable (needs at least 2 images)" if fid_available() else UNAVAILABLE
    return {
        "n_images": int(p.shape[0]),
        "mae_rgb": mae(p * 255.0, t * 255.0, names=("R", "G", "B")),
        "mae_ab": mae(lab_p[:, 1:], lab_t[:, 1:], names=("a", "b")),
        "auc": auc(raw_accuracy_curve(lab_p, lab_t)),
        "psnr": float(psnr(p, t)),
        "ssim": float(ssim(p, t)),
        "colorfulness": float(colorfulness(p)),
        "colorfulness_gt": float(colorfulness(t)),
        "colorfulness_gap": colorfulness_gap(p, t),
        "lpips": _optional(lpips_available(), lambda: lpips_distance(p, t)),
        "fid": fid_value,
    }


def restoration_report(pred: torch.Tensor, target: torch.Tensor) -> dict:
    """PSNR (dB), SSIM and LPIPS (AlexNet; :data:`UNAVAILABLE` without weights) of restored
    RGB images against the sharp originals, all in [0, 1] (or uint8), means over images."""
    p, t = rgb_pair(pred, target)
    return {
        "n_images": int(p.shape[0]),
        "psnr": float(psnr(p, t)),
        "ssim": float(ssim(p, t)),
        "lpips": _optional(lpips_available(), lambda: lpips_distance(p, t)),
    }


#: Human-readable names of the report keys (tables of format_report, format_evaluation).
METRIC_LABELS = {
    "n_images": "images",
    "mae_rgb": "MAE RGB (0-255)",
    "mae_ab": "MAE ab (Lab units)",
    "auc": "raw accuracy AuC (0..150)",
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "colorfulness": "colorfulness",
    "colorfulness_gt": "colorfulness, ground truth",
    "colorfulness_gap": "colorfulness gap (pred - gt)",
    "lpips": "LPIPS (alex)",
    "fid": "FID",
    "fid_kit": "FID_kit (kit features; not FID)",
    "kid_kit": "KID_kit x1000 (kit features)",
    "lpips_kit": "LPIPS_kit (kit features, unweighted)",
    "precision_kit": "precision_kit (k=3)",
    "recall_kit": "recall_kit (k=3)",
    "fid_vgg16": "FID_vgg16 (VGG16 features; not FID)",
    "kid_vgg16": "KID_vgg16 x1000",
    "lpips_vgg16": "LPIPS_vgg16 (unweighted)",
    "precision_vgg16": "precision_vgg16 (k=3)",
    "recall_vgg16": "recall_vgg16 (k=3)",
    "features": "feature network",
}


def _fmt(v) -> str:
    if isinstance(v, (bool, str, int)):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return str(v)
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
    if isinstance(v, dict):
        return "  ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    return str(v)


def format_report(report: dict) -> str:
    """A report dict as aligned ``label  value`` lines (nested dicts on one line)."""
    if not isinstance(report, dict):
        raise TypeError(f"format_report takes a report dict, got {type(report).__name__}")
    labels = {k: METRIC_LABELS.get(k, k) for k in report}
    width = max((len(s) for s in labels.values()), default=0)
    return "\n".join(f"{labels[k]:<{width}}  {_fmt(v)}" for k, v in report.items())
