"""Pixel metrics: MAE, raw accuracy and its AuC, PSNR, SSIM, colorfulness, diversity.

Plain tensor maths on image batches, no network and no weights; the definitions and their
sources are in the table of :mod:`lessons_lib.metrics`.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .checks import as_batch, as_float, image_pair, reduce_per_image, rgb_pair

__all__ = ["mae", "raw_accuracy_curve", "auc", "psnr", "ssim", "colorfulness", "colorfulness_gap",
           "mean_pairwise_distance"]


# --------------------------------------------------------------------------- MAE
def mae(
    pred: torch.Tensor,
    target: torch.Tensor,
    per_channel: bool = True,
    names: Sequence[str] | None = None,
) -> dict[str, float] | float:
    """Mean absolute error, ``mean |pred - target|`` over batch and pixels.

    The MAE "per colour channel" of Nazeri et al. 2018 (used by seed 000). It is in the
    units of the input: multiply [0, 1] RGB by 255 for the customary 0-255 figure, and pass
    ab in Lab units for an ab MAE (:func:`colorization_report` does both).

    Args:
        pred, target: (B, C, H, W) or (C, H, W), same shape.
        per_channel: True returns ``{name: MAE of that channel, ..., "mean": overall}``;
            False returns the overall mean as a float.
        names: the channel names (default ``c0, c1, ...``), e.g. ``("R", "G", "B")``.
    """
    p, t = image_pair(pred, target)
    err = (p - t).abs()
    overall = float(err.mean())
    if not per_channel:
        return overall
    c = p.shape[1]
    names = list(names) if names is not None else [f"c{i}" for i in range(c)]
    if len(names) != c:
        raise ValueError(f"{len(names)} channel names {names} for {c} channels")
    per = err.mean(dim=(0, 2, 3))
    out = {n: float(v) for n, v in zip(names, per)}
    out["mean"] = overall
    return out


# --------------------------------------------------------------------------- raw accuracy
def _ab(x: torch.Tensor, name: str) -> torch.Tensor:
    x = as_batch(x, name)
    if x.shape[1] == 3:
        return x[:, 1:]
    if x.shape[1] == 2:
        return x
    raise ValueError(
        f"{name} must be Lab (B, 3, H, W) or ab (B, 2, H, W) in Lab units, got {tuple(x.shape)}"
    )


def raw_accuracy_curve(
    pred_ab: torch.Tensor,
    target_ab: torch.Tensor,
    thresholds: Sequence[float] | torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw accuracy of Zhang et al. (ECCV 2016, Colorful Image Colorization, section 3.1).

    ``acc(t) = share of pixels with || ab_pred - ab_target ||_2 <= t``, over every pixel of
    the batch pooled together, for thresholds ``t = 0, 1, ..., 150`` (default). The
    distance is in Lab units, *un-normalised* (not the models' ab/110).

    Args:
        pred_ab, target_ab: Lab ``(B, 3, H, W)`` (L is ignored) or ab ``(B, 2, H, W)``
            tensors in Lab units, same shape.
        thresholds: increasing distances (Lab units); default ``0..150``.
    Returns:
        ``(thresholds, acc)``: two float64 tensors of the same length, acc in [0, 1].
    """
    p, t = _ab(pred_ab, "pred_ab"), _ab(target_ab, "target_ab")
    if p.shape != t.shape:
        raise ValueError(
            f"pred_ab and target_ab must have the same shape, got pred_ab {tuple(pred_ab.shape)} "
            f"and target_ab {tuple(target_ab.shape)}"
        )
    thr = torch.arange(151, dtype=torch.float64) if thresholds is None else torch.as_tensor(thresholds, dtype=torch.float64).flatten()
    if thr.numel() < 2 or bool((thr[1:] <= thr[:-1]).any()):
        raise ValueError("thresholds must be at least two increasing values")
    dist = (p.double() - t.to(p.device).double()).pow(2).sum(dim=1).sqrt().flatten().cpu()
    # acc(t) = #(dist <= t) / N: one sort and a binary search per threshold, instead of an
    # N x 151 comparison table.
    counts = torch.searchsorted(dist.sort().values, thr, right=True)
    return thr, counts.double() / dist.numel()


def auc(curve: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Area under a raw-accuracy curve, normalised to [0, 1] (Zhang et al. 2016).

    Trapezoidal integral of ``acc(t)`` over the thresholds divided by their span
    (150 for the default ``0..150``): 1 means every pixel exactly right, 0 every pixel
    farther than the largest threshold.
    """
    thr, acc = (torch.as_tensor(c, dtype=torch.float64) for c in curve)
    if thr.shape != acc.shape or thr.numel() < 2:
        raise ValueError(f"a curve is (thresholds, acc) of equal length >= 2, got {tuple(thr.shape)} and {tuple(acc.shape)}")
    return float(torch.trapezoid(acc, thr) / (thr[-1] - thr[0]))


# --------------------------------------------------------------------------- PSNR, SSIM
def psnr(
    pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)`` per image.

    The MSE is over all channels and pixels of each image (as
    ``skimage.metrics.peak_signal_noise_ratio`` on one image); identical images give
    ``inf``. ``reduction="mean"`` averages the per-image values, ``"none"`` returns (B,).
    """
    p, t = image_pair(pred, target)
    mse = (p - t).pow(2).mean(dim=(1, 2, 3))
    return reduce_per_image(10.0 * torch.log10(data_range**2 / mse), reduction)


def _gaussian_window(sigma: float, truncate: float, device, dtype) -> torch.Tensor:
    """The 1-D Gaussian of scipy.ndimage: radius int(truncate sigma + 0.5), sum 1."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return (w / w.sum()).to(device, dtype)


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Structural similarity (Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 2004, eq. 13).

    ``SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``
    with ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``, L = ``data_range``, and local means,
    variances and covariance weighted by a Gaussian window (sigma 1.5, 11 taps).

    It matches ``skimage.metrics.structural_similarity(pred, target, channel_axis=-1,
    data_range=L, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` -- the
    setting of Wang et al. -- per image: the SSIM map of each channel is averaged over the
    pixels at least 5 from the border (skimage crops the border that its padding reached;
    a "valid" convolution computes exactly those), then over channels. Batched, runs on any
    device, differentiable (usable as a loss: ``1 - ssim(...)``).

    Returns the mean over images (``reduction="mean"``) or one value per image ("none").
    Images must be at least 11 x 11 pixels.
    """
    p, t = image_pair(pred, target)
    c, h, w = p.shape[1:]
    win = _gaussian_window(sigma, 3.5, p.device, p.dtype)  # truncate 3.5: skimage's 11 taps
    n = win.numel()
    if h < n or w < n:
        raise ValueError(f"SSIM needs images of at least {n}x{n} pixels (its Gaussian window), got {h}x{w}")
    # Separable Gaussian filter of the five maps x, y, x^2, y^2, xy for every channel at once.
    maps = torch.cat([p, t, p * p, t * t, p * t], dim=1)  # (B, 5C, H, W)
    k = 5 * c
    maps = F.conv2d(maps, win.view(1, 1, n, 1).expand(k, 1, n, 1), groups=k)
    maps = F.conv2d(maps, win.view(1, 1, 1, n).expand(k, 1, 1, n), groups=k)
    mu_x, mu_y, e_xx, e_yy, e_xy = maps.split(c, dim=1)  # each (B, C, H-10, W-10)
    # Population (co)variances: E[xy] - E[x]E[y] (use_sample_covariance=False).
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov = e_xy - mu_x * mu_y
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return reduce_per_image(s.mean(dim=(1, 2, 3)), reduction)


# --------------------------------------------------------------------------- colorfulness
def colorfulness(rgb: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Colorfulness of Hasler & Suesstrunk (SPIE 2003, "Measuring colourfulness in natural
    images", the metric M^(3) of their eq. 3), as DDColor reports it.

    On 0-255 RGB (float [0, 1] input is multiplied by 255; uint8 is used as is):
    ``rg = R - G``, ``yb = (R + G)/2 - B``,
    ``CF = sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)`` per image
    (population standard deviations over the image's pixels). A gray image scores 0;
    the authors call ~15 "slightly colourful", ~33 "moderately", ~59 "quite", ~82 "highly".
    """
    x = as_batch(rgb, "rgb")
    if x.shape[1] != 3:
        raise ValueError(f"colorfulness needs RGB images (B, 3, H, W), got {tuple(rgb.shape)}")
    x = as_float(x) * 255.0
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    rg = (r - g).flatten(1)
    yb = (0.5 * (r + g) - b).flatten(1)
    std = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False))
    mean = torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2)
    return reduce_per_image(std + 0.3 * mean, reduction)


def colorfulness_gap(pred: torch.Tensor, target: torch.Tensor) -> float:
    """``CF(pred) - CF(target)``, each averaged over the batch.

    Negative: the colorization is washed out / sepia (the common complaint about
    colorizers trained with L1 alone); positive: more saturated than the photo.
    """
    p, t = rgb_pair(pred, target)
    return float(colorfulness(p) - colorfulness(t))


def mean_pairwise_distance(samples: Sequence[torch.Tensor], reduction: str = "mean") -> torch.Tensor:
    """Diversity of several outputs for the same inputs (ColorGAN, seed 001: one gray photo,
    a colouring per noise seed): the per-pixel Euclidean distance over channels between two
    outputs, averaged over pixels and over all pairs.

        div(x_1..x_K) = 2 / (K (K - 1)) sum_{i<j} mean_hw || x_i[:, h, w] - x_j[:, h, w] ||_2

    Args:
        samples: K >= 2 tensors of one shape (B, C, H, W) - e.g. ab planes in Lab units.
    Returns one value per image (``reduction="none"``) or their mean. 0 when all outputs are equal.
    """
    xs = [as_batch(x, f"samples[{i}]").float() for i, x in enumerate(samples)]
    if len(xs) < 2:
        raise ValueError(f"mean_pairwise_distance needs at least 2 outputs, got {len(xs)}")
    if any(x.shape != xs[0].shape for x in xs):
        raise ValueError(f"every output must have the same shape, got {[tuple(x.shape) for x in xs]}")
    total = xs[0].new_zeros(xs[0].shape[0])
    pairs = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            total = total + (xs[i] - xs[j]).norm(dim=1).mean(dim=(1, 2))
            pairs += 1
    return reduce_per_image(total / pairs, reduction)
