"""Image-quality metrics for colorization and restoration, in PyTorch.

Every function takes image batches ``(B, C, H, W)`` (a single ``(C, H, W)`` image is
accepted too) as torch tensors, float in ``[0, 1]`` unless said otherwise (uint8 RGB is
accepted where the input is an RGB image), and checks that prediction and target agree in
shape. What is measured, in which units, and where each definition comes from:

================  =====================================================  ==================
metric            definition                                             source
================  =====================================================  ==================
MAE               mean |pred - target| per channel, in the input's       Nazeri et al. 2018,
                  units (the report: RGB in 0-255 and ab in Lab units)   seed 000
raw accuracy      share of pixels whose ab distance <= t, t = 0..150     Zhang et al.,
                  (Lab units); AuC = area under it, normalised to [0,1]  ECCV 2016
PSNR              10 log10(data_range^2 / MSE), per image                 -
SSIM              Gaussian-window SSIM (sigma 1.5, K1 .01, K2 .03)       Wang et al. 2004
colorfulness      sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mu_rg^2 + mu_yb^2)  Hasler & Suesstrunk
                  on 0-255 RGB, rg = R - G, yb = (R + G)/2 - B           2003
LPIPS             learned distance of unit-normalised AlexNet/VGG        Zhang et al.,
                  features (needs pretrained weights on disk)           CVPR 2018
FID               Frechet distance of Inception pool3 features          Heusel et al. 2017
                  (needs pretrained weights on disk)
perceptual        LPIPS's formula with every channel weighing 1, on     Zhang et al. 2018
distance          any feature network (the kit's): not LPIPS            (baseline)
FID_kit           FID's formula on the kit network's pooled f4          Heusel et al. 2017
                  features (any set size; biased up for small sets)
KID_kit           unbiased MMD^2, cubic polynomial kernel, kit features Binkowski et al. 2018
precision /       share of fake (real) vectors inside the k-NN balls    Kynkaanniemi et al.
recall            of the real (fake) set, k = 3                         2019
================  =====================================================  ==================

The ``_kit`` metrics (:func:`feature_report`) use the kit's own feature network, whose
validation accuracy every report prints beside them: they rank models against each other
on the same images, but their values are not comparable with papers' FID or KID.

LPIPS and FID are computed only when their pretrained weights are already on this disk
(see :func:`weights_dir`); nothing is ever downloaded, and a network with random weights
never produces a number: the reports then say exactly :data:`UNAVAILABLE`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import LessonsError, color

__all__ = [
    "UNAVAILABLE",
    "METRIC_LABELS",
    "mae",
    "raw_accuracy_curve",
    "auc",
    "psnr",
    "ssim",
    "colorfulness",
    "colorfulness_gap",
    "mean_pairwise_distance",
    "weights_dir",
    "lpips_available",
    "lpips_distance",
    "fid_available",
    "fid",
    "frechet_distance",
    "perceptual_distance",
    "frechet_feature_distance",
    "polynomial_kernel",
    "mmd2_unbiased",
    "kernel_distance",
    "precision_recall",
    "bootstrap_interval",
    "image_embeddings",
    "feature_report",
    "kit_feature_report",
    "colorization_report",
    "restoration_report",
    "format_report",
]

#: What a report says for a metric whose pretrained network is not on this disk.
UNAVAILABLE = "unavailable (no pretrained weights)"


# --------------------------------------------------------------------------- input checks
def _batch(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        return x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W) or (C, H, W), got {tuple(x.shape)}")
    return x


def _pair(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as (B, C, H, W) float tensors on pred's device; same shape or ValueError."""
    p, t = _batch(pred, "pred"), _batch(target, "target")
    if p.shape != t.shape:
        raise ValueError(
            f"pred and target must have the same shape, got pred {tuple(pred.shape)} "
            f"and target {tuple(target.shape)}"
        )
    dtype = torch.promote_types(_float(p).dtype, _float(t).dtype)
    return _float(p).to(dtype), _float(t).to(p.device, dtype)


def _float(x: torch.Tensor) -> torch.Tensor:
    """Float view of an image: uint8 becomes [0, 1]; half precision is promoted to float32."""
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
        return x.float()
    return x


def _rgb_pair(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p, t = _pair(pred, target)
    if p.shape[1] != 3:
        raise ValueError(f"expected RGB images (B, 3, H, W), got shape {tuple(pred.shape)}")
    return p, t


def _reduce(per_image: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_image.mean()
    if reduction == "none":
        return per_image
    raise ValueError(f"unknown reduction {reduction!r}: use 'mean' or 'none'")


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
    p, t = _pair(pred, target)
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
    x = _batch(x, name)
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
    p, t = _pair(pred, target)
    mse = (p - t).pow(2).mean(dim=(1, 2, 3))
    return _reduce(10.0 * torch.log10(data_range**2 / mse), reduction)


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
    p, t = _pair(pred, target)
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
    return _reduce(s.mean(dim=(1, 2, 3)), reduction)


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
    x = _batch(rgb, "rgb")
    if x.shape[1] != 3:
        raise ValueError(f"colorfulness needs RGB images (B, 3, H, W), got {tuple(rgb.shape)}")
    x = _float(x) * 255.0
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    rg = (r - g).flatten(1)
    yb = (0.5 * (r + g) - b).flatten(1)
    std = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False))
    mean = torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2)
    return _reduce(std + 0.3 * mean, reduction)


def colorfulness_gap(pred: torch.Tensor, target: torch.Tensor) -> float:
    """``CF(pred) - CF(target)``, each averaged over the batch.

    Negative: the colorization is washed out / sepia (the common complaint about
    colorizers trained with L1 alone); positive: more saturated than the photo.
    """
    p, t = _rgb_pair(pred, target)
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
    xs = [_batch(x, f"samples[{i}]").float() for i, x in enumerate(samples)]
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
    return _reduce(total / pairs, reduction)


# --------------------------------------------------------------------------- pretrained nets
# LPIPS backbones (torchvision's ImageNet weights, file names as torchvision caches them) and
# the layers LPIPS reads: the ReLU outputs of AlexNet's five conv layers (features[0:2],
# [2:5], [5:8], [8:10], [10:12]) or VGG16's relu1_2, 2_2, 3_3, 4_3, 5_3 (features[0:4],
# [4:9], [9:16], [16:23], [23:30]); the lpips package v0.1 (Zhang et al. 2018) does the same.
_LPIPS_NETS = {
    "alex": ("alexnet-owt-7be5be79.pth", (2, 5, 8, 10, 12)),
    "vgg": ("vgg16-397923af.pth", (4, 9, 16, 23, 30)),
}
# LPIPS v0.1 input scaling, applied to images in [-1, 1] (the lpips package's ScalingLayer).
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)
# The Inception-v3 of TensorFlow's FID code, ported to PyTorch by pytorch-fid.
_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"

# Loaded networks, keyed by what they were loaded from (path and modification time), so a
# weights file put in place or replaced later is picked up.
_nets: dict[tuple, nn.Module] = {}


def _stamp(paths) -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns) for p in paths)


def weights_dir() -> Path:
    """Where pretrained weights are looked for: torch hub's ``checkpoints`` folder
    (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``), the
    folder torchvision and pytorch-fid download into. Nothing here downloads."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _lpips_linear_file(net: str) -> Path | None:
    """The LPIPS v0.1 linear layers for ``net``: ``lpips_<net>.pth`` in :func:`weights_dir`,
    or ``weights/v0.1/<net>.pth`` inside an installed ``lpips`` package."""
    candidates = [weights_dir() / f"lpips_{net}.pth"]
    try:
        import importlib.util

        spec = importlib.util.find_spec("lpips")
        if spec is not None and spec.origin:
            candidates.append(Path(spec.origin).parent / "weights" / "v0.1" / f"{net}.pth")
    except (ImportError, ValueError):
        pass
    return next((p for p in candidates if p.is_file()), None)


def _check_net(net: str) -> None:
    if net not in _LPIPS_NETS:
        raise ValueError(f"unknown LPIPS network {net!r}: use one of {sorted(_LPIPS_NETS)}")


def lpips_available(net: str = "alex") -> bool:
    """True when both LPIPS weight files for ``net`` ("alex" or "vgg") are on disk:
    the torchvision backbone (``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``) in
    :func:`weights_dir`, and the LPIPS linear layers (see :func:`_lpips_linear_file`)."""
    _check_net(net)
    return (weights_dir() / _LPIPS_NETS[net][0]).is_file() and _lpips_linear_file(net) is not None


def _load_pth(path: Path) -> dict[str, torch.Tensor]:
    """A third-party ``.pth`` state dict, read with torch's restricted loader
    (``weights_only=True``: tensors and containers only, no arbitrary objects)."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means a bad file
        raise LessonsError(f"cannot read the weights file {path}: {e}. Delete it and put a good copy there.") from None
    if not isinstance(sd, dict):
        raise LessonsError(f"{path} does not hold a state dict; delete it and put a good copy there")
    return sd


class _LPIPS(nn.Module):
    """LPIPS v0.1 (Zhang, Isola, Efros, Shechtman & Wang, CVPR 2018, eq. 1):

    ``d(x, y) = sum_l mean_hw sum_c w_lc (f_lc(x)/|f_l(x)| - f_lc(y)/|f_l(y)|)^2``, with
    f_l the backbone's ReLU features at layer l, normalised to unit length over channels at
    each pixel, and w_l >= 0 the learned per-channel weights (a 1x1 conv without bias, as
    in the lpips package; the paper writes the same as ``|| w_l (.) diff ||^2``).
    """

    def __init__(self, net: str, backbone: dict[str, torch.Tensor], linear: dict[str, torch.Tensor]):
        super().__init__()
        import torchvision

        cuts = _LPIPS_NETS[net][1]
        # Built on the meta device (no memory, no random init of the unused classifier),
        # then given real storage that the strict load below fills completely.
        with torch.device("meta"):
            full = (torchvision.models.alexnet if net == "alex" else torchvision.models.vgg16)(weights=None)
        features = full.features.to_empty(device="cpu")
        try:
            features.load_state_dict({k[len("features."):]: v for k, v in backbone.items() if k.startswith("features.")})
        except RuntimeError as e:
            raise LessonsError(f"the {net} backbone weights do not fit torchvision's network: {str(e)[:300]}") from None
        starts = (0,) + cuts[:-1]
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in zip(starts, cuts))
        self.lins = nn.ParameterList()
        for i, sl in enumerate(self.slices):
            w = linear.get(f"lin{i}.model.1.weight", linear.get(f"lin{i}.model.0.weight"))
            channels = [m for m in sl if isinstance(m, nn.Conv2d)][-1].out_channels
            if w is None or tuple(w.shape) != (1, channels, 1, 1):
                raise LessonsError(f"the LPIPS linear-layer file for {net!r} lacks lin{i} of shape (1, {channels}, 1, 1)")
            self.lins.append(nn.Parameter(w.float(), requires_grad=False))
        self.register_buffer("shift", torch.tensor(_LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_LPIPS_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y: (B, 3, H, W) in [0, 1] -> (B,) distances."""
        h = torch.cat([x, y]) * 2.0 - 1.0  # [0, 1] -> [-1, 1], the range LPIPS was trained on
        h = (h - self.shift) / self.scale
        total = x.new_zeros(x.shape[0])
        for sl, w in zip(self.slices, self.lins):
            h = sl(h)
            f = h / (h.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)  # unit length per pixel
            fx, fy = f.chunk(2)
            total = total + F.conv2d((fx - fy) ** 2, w).mean(dim=(1, 2, 3))
        return total


def lpips_distance(
    pred: torch.Tensor, target: torch.Tensor, net: str = "alex", reduction: str = "mean"
) -> torch.Tensor:
    """LPIPS distance (lower = more alike) between RGB images in [0, 1] (or uint8).

    Only with the pretrained weights on disk (:func:`lpips_available`); otherwise a
    :class:`LessonsError` says which files to put where. Never random weights.
    """
    _check_net(net)
    p, t = _rgb_pair(pred, target)
    if not lpips_available(net):
        raise LessonsError(
            f"LPIPS is {UNAVAILABLE}: put torchvision's {_LPIPS_NETS[net][0]} and the lpips "
            f"package's weights/v0.1/{net}.pth (as lpips_{net}.pth) into {weights_dir()}, "
            "or `pip install lpips` for the latter"
        )
    files = (weights_dir() / _LPIPS_NETS[net][0], _lpips_linear_file(net))
    key = ("lpips", net, str(p.device), *_stamp(files))
    if key not in _nets:
        backbone, linear = (_load_pth(f) for f in files)  # type: ignore[arg-type]
        _nets[key] = _LPIPS(net, backbone, linear).to(p.device)
    model = _nets[key]
    with torch.no_grad():
        d = model(p.float(), t.float())
    return _reduce(d, reduction)


def fid_available() -> bool:
    """True when the FID Inception weights (``pt_inception-2015-12-05-6726825d.pth``, the
    file pytorch-fid downloads) are in :func:`weights_dir`."""
    return (weights_dir() / _FID_FILE).is_file()


class _FIDInception(nn.Module):
    """Inception-v3 pool3 features (2048-d) as TensorFlow's FID code computes them.

    torchvision's Inception3 with 1008 classes, whose mixed blocks pool like TensorFlow:
    average pools ignore the zero padding (``count_include_pad=False``) and the last block
    takes a 3x3 max pool instead (facts of the TF graph, as documented by pytorch-fid).
    Input: RGB in [0, 1], resized to 299x299 (bilinear), scaled to [-1, 1].
    """

    def __init__(self, state_dict: dict[str, torch.Tensor]):
        super().__init__()
        from torchvision.models.inception import Inception3

        with torch.device("meta"):  # no random init: the strict load fills every tensor
            net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
        self.net = net.to_empty(device="cpu")
        try:
            self.net.load_state_dict(state_dict)
        except RuntimeError as e:
            raise LessonsError(f"the FID Inception weights do not fit the network: {str(e)[:300]}") from None
        self.requires_grad_(False).eval()

    @staticmethod
    def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)

    @staticmethod
    def _tf_max_pool(x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)

    @staticmethod
    def _mixed(block: nn.Module, x: torch.Tensor, pool) -> torch.Tensor:
        """One mixed block (torchvision's A, C or E layout) with the given pooling branch."""
        kind = type(block).__name__
        if kind == "InceptionA":
            branches = [
                block.branch1x1(x),
                block.branch5x5_2(block.branch5x5_1(x)),
                block.branch3x3dbl_3(block.branch3x3dbl_2(block.branch3x3dbl_1(x))),
            ]
        elif kind == "InceptionC":
            seven = block.branch7x7_3(block.branch7x7_2(block.branch7x7_1(x)))
            dbl = x
            for i in range(1, 6):
                dbl = getattr(block, f"branch7x7dbl_{i}")(dbl)
            branches = [block.branch1x1(x), seven, dbl]
        else:  # InceptionE: the 3x3 branches split into 1x3 and 3x1 halves
            three = block.branch3x3_1(x)
            dbl = block.branch3x3dbl_2(block.branch3x3dbl_1(x))
            branches = [
                block.branch1x1(x),
                torch.cat([block.branch3x3_2a(three), block.branch3x3_2b(three)], 1),
                torch.cat([block.branch3x3dbl_3a(dbl), block.branch3x3dbl_3b(dbl)], 1),
            ]
        branches.append(block.branch_pool(pool(x)))
        return torch.cat(branches, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 2048)."""
        n = self.net
        h = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2.0 - 1.0
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1, n.Conv2d_3b_1x1, n.Conv2d_4a_3x3, n.maxpool2):
            h = layer(h)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
            h = self._mixed(getattr(n, name), h, self._tf_avg_pool)
        h = n.Mixed_6a(h)  # reduction blocks (B, D) pool without padding: no difference
        for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            h = self._mixed(getattr(n, name), h, self._tf_avg_pool)
        h = n.Mixed_7a(h)
        h = self._mixed(n.Mixed_7b, h, self._tf_avg_pool)
        h = self._mixed(n.Mixed_7c, h, self._tf_max_pool)
        return h.mean(dim=(2, 3))  # (B, 2048) pool3


def frechet_distance(
    mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor
) -> float:
    """Frechet distance of two Gaussians (Dowson & Landau 1982; FID, Heusel et al. 2017):

    ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))``.

    ``tr((S1 S2)^(1/2))`` is computed as the sum of the square roots of the eigenvalues of
    the symmetric matrix ``S1^(1/2) S2 S1^(1/2)`` (same eigenvalues as S1 S2), in float64:
    no complex intermediate as with a general matrix square root.
    """
    mu1, mu2, s1, s2 = (torch.as_tensor(v, dtype=torch.float64) for v in (mu1, mu2, sigma1, sigma2))
    evals, evecs = torch.linalg.eigh(s1)
    root1 = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T
    middle = root1 @ s2 @ root1
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu1 - mu2).pow(2).sum() + s1.trace() + s2.trace() - 2 * tr_sqrt)


def _fid_features(x: torch.Tensor, batch_size: int) -> torch.Tensor:
    path = weights_dir() / _FID_FILE
    key = ("fid", str(x.device), *_stamp([path]))
    if key not in _nets:
        _nets[key] = _FIDInception(_load_pth(path)).to(x.device)
    net = _nets[key]
    with torch.no_grad():
        return torch.cat([net(x[i : i + batch_size].float()) for i in range(0, x.shape[0], batch_size)]).double()


def fid(pred: torch.Tensor, target: torch.Tensor, batch_size: int = 16) -> float:
    """Frechet Inception Distance between two sets of RGB images in [0, 1] (or uint8).

    The sets may differ in size but need at least 2 images each. FID is biased upwards
    for small sets (thousands of images are usual): compare figures computed on equally
    many images only. Only with the weights on disk (:func:`fid_available`); otherwise a
    :class:`LessonsError` says which file to put where.
    """
    p, t = _float(_batch(pred, "pred")), _float(_batch(target, "target"))
    for name, x in (("pred", p), ("target", t)):
        if x.shape[1] != 3:
            raise ValueError(f"FID needs RGB images (B, 3, H, W); {name} has shape {tuple(x.shape)}")
        if x.shape[0] < 2:
            raise ValueError(f"FID needs at least 2 images per set; {name} has {x.shape[0]}")
    if not fid_available():
        raise LessonsError(f"FID is {UNAVAILABLE}: put pytorch-fid's {_FID_FILE} into {weights_dir()}")
    stats = []
    for x in (p, t):
        f = _fid_features(x, batch_size)
        stats += [f.mean(0), torch.cov(f.T)]
    return frechet_distance(*stats)


# --------------------------------------------------------------------------- feature distance
def perceptual_distance(
    pred: torch.Tensor, target: torch.Tensor, features: nn.Module, reduction: str = "mean"
) -> torch.Tensor:
    """A plain perceptual distance on any feature network -- honestly *not* LPIPS.

    ``d(x, y) = sum_l mean_hw sum_c (f_lc(x)/|f_l(x)| - f_lc(y)/|f_l(y)|)^2``: the features of
    each layer l are normalised to unit length over channels at each pixel, as in LPIPS
    (Zhang et al., CVPR 2018, eq. 1), but every channel weighs 1 -- the paper's unlearned
    baseline. LPIPS proper (:func:`lpips_distance`) also learns per-channel weights from
    human judgements, so the two numbers are not comparable. Lower = more alike; each layer
    adds at most 4 (opposite unit vectors), identical images score 0.

    Args:
        pred, target: RGB (B, 3, H, W) in [0, 1] (or uint8), same shape.
        features: a module mapping RGB in [0, 1] to a dict ``{layer: (B, C, h, w)}`` or a
            sequence of such maps, e.g. :class:`lessons_lib.models.features.PerceptualFeatures`.
            Gradients flow to ``pred`` (no ``no_grad`` here: the caller decides).
    Returns the mean over images (``reduction="mean"``) or one value per image ("none").
    """
    p, t = _rgb_pair(pred, target)
    out = features(torch.cat([p, t]))
    maps = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (list, tuple)) else None
    if not maps or not all(isinstance(m, torch.Tensor) and m.dim() == 4 for m in maps):
        raise TypeError("features must return a dict or a sequence of (B, C, h, w) feature maps")
    total = p.new_zeros(p.shape[0])
    for m in maps:
        m = m / (m.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)  # unit length per pixel
        fx, fy = m.chunk(2)
        total = total + (fx - fy).pow(2).sum(dim=1).mean(dim=(1, 2)).to(total.dtype)
    return _reduce(total, reduction)


# --------------------------------------------------------------------------- distributions
# FID, KID, precision and recall compare two *sets* of images through the features of an
# image classifier. Computed on the kit's own network they are named ``FID_kit``, ``KID_kit``
# ...: their values depend on the network and are not comparable with papers' figures
# (which use ImageNet Inception-v3 pool3 features on 10k-50k images).

def _features_2d(x: torch.Tensor, name: str) -> torch.Tensor:
    f = torch.as_tensor(x)
    if f.dim() != 2 or f.shape[0] < 2 or not f.is_floating_point():
        raise ValueError(f"{name} must be a float matrix (N, D) of N >= 2 feature vectors, "
                         f"got {tuple(f.shape)} {f.dtype}")
    if not torch.isfinite(f).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return f.double()


def _same_dim(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two feature sets differ in dimension ({a.shape[1]} and {b.shape[1]}): "
                         "compute both with the same network and layer")


def frechet_feature_distance(feat_a: torch.Tensor, feat_b: torch.Tensor) -> float:
    """FID's formula on two sets of feature vectors ``(N, D)`` and ``(M, D)``: the Frechet
    distance of the Gaussians with their means and (unbiased) covariances. Biased upwards for
    small N (it is a plug-in estimate): compare values computed on equally many images."""
    a, b = _features_2d(feat_a, "feat_a"), _features_2d(feat_b, "feat_b")
    _same_dim(a, b)
    return frechet_distance(a.mean(0), torch.cov(a.T).reshape(a.shape[1], -1),
                            b.mean(0), torch.cov(b.T).reshape(b.shape[1], -1))


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3, coef0: float = 1.0,
                      gamma: float | None = None) -> torch.Tensor:
    """KID's kernel (Binkowski et al. 2018): ``k(x, y) = (gamma x.y + coef0) ** degree``,
    ``gamma = 1 / D`` by default. ``(N, D), (M, D) -> (N, M)``."""
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)
    return (g * x @ y.T + coef0) ** degree


def mmd2_unbiased(feat_a: torch.Tensor, feat_b: torch.Tensor, kernel=polynomial_kernel) -> float:
    """The unbiased estimate of the squared maximum mean discrepancy (Gretton et al. 2012,
    eq. 3): ``mean_{i != j} k(a_i, a_j) + mean_{i != j} k(b_i, b_j) - 2 mean_{i, j} k(a_i, b_j)``.
    Its expectation is exactly 0 when both sets come from the same distribution, so it can be
    negative on a finite sample; that is what makes it usable on a few hundred images."""
    a, b = _features_2d(feat_a, "feat_a"), _features_2d(feat_b, "feat_b")
    _same_dim(a, b)
    n, m = a.shape[0], b.shape[0]
    kaa, kbb, kab = kernel(a, a), kernel(b, b), kernel(a, b)
    saa = (kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
    sbb = (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
    return float(saa + sbb - 2 * kab.mean())


def kernel_distance(feat_a: torch.Tensor, feat_b: torch.Tensor, *, subsets: int = 100,
                    subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018, sec. 3): the unbiased MMD^2 with the cubic polynomial
    kernel, averaged over ``subsets`` random subsets of ``min(subset_size, N, M)`` vectors of
    each set (as their reference code does). Returns ``(mean, standard deviation over the
    subsets)``. With both sets no larger than ``subset_size`` the estimate is computed once
    on the whole sets (standard deviation 0)."""
    a, b = _features_2d(feat_a, "feat_a"), _features_2d(feat_b, "feat_b")
    _same_dim(a, b)
    if int(subset_size) < 2:
        raise ValueError(f"subset_size must be at least 2, got {subset_size}")
    if a.shape[0] <= subset_size and b.shape[0] <= subset_size:
        return mmd2_unbiased(a, b), 0.0
    k = min(int(subset_size), a.shape[0], b.shape[0])
    gen = torch.Generator().manual_seed(int(seed))
    vals = torch.tensor([mmd2_unbiased(a[torch.randperm(a.shape[0], generator=gen)[:k]],
                                       b[torch.randperm(b.shape[0], generator=gen)[:k]])
                         for _ in range(max(1, int(subsets)))], dtype=torch.float64)
    return float(vals.mean()), float(vals.std(unbiased=False))


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of distributions (Kynkaanniemi et al. 2019, sec. 2).

    Each set's manifold is the union of balls around its vectors, each ball reaching that
    vector's ``k``-th nearest neighbour in the same set (the paper: k = 3). **Precision** is
    the share of fake vectors inside the real manifold (are the samples realistic?),
    **recall** the share of real vectors inside the fake manifold (do the samples cover the
    variety of the real ones?). A timid model that paints every photo the same plausible way
    has high precision and low recall. Both in [0, 1]."""
    r, f = _features_2d(real, "real"), _features_2d(fake, "fake")
    _same_dim(r, f)
    if not 1 <= int(k) < min(r.shape[0], f.shape[0]):
        raise ValueError(f"k must be in 1 .. {min(r.shape[0], f.shape[0]) - 1} "
                         f"(fewer than the vectors of each set), got {k}")

    def radii(x: torch.Tensor) -> torch.Tensor:          # distance to the k-th neighbour (self excluded)
        return torch.cdist(x, x).kthvalue(int(k) + 1, dim=1).values

    def inside(points: torch.Tensor, centres: torch.Tensor, r_c: torch.Tensor) -> float:
        return float((torch.cdist(points, centres) <= r_c[None, :]).any(dim=1).double().mean())

    return inside(f, r, radii(r)), inside(r, f, radii(f))


def bootstrap_interval(stat, feat_a: torch.Tensor, feat_b: torch.Tensor, *, n_boot: int = 200,
                       level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of ``stat(feat_a, feat_b) -> float``: both sets are
    resampled with replacement ``n_boot`` times (Efron & Tibshirani 1993, ch. 13). It shows
    how much a distance moves when other images of the same kind are drawn."""
    a, b = _features_2d(feat_a, "feat_a"), _features_2d(feat_b, "feat_b")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    gen = torch.Generator().manual_seed(int(seed))
    vals = torch.tensor([float(stat(a[torch.randint(a.shape[0], (a.shape[0],), generator=gen)],
                                    b[torch.randint(b.shape[0], (b.shape[0],), generator=gen)]))
                         for _ in range(max(2, int(n_boot)))], dtype=torch.float64)
    lo, hi = torch.quantile(vals, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
    return float(lo), float(hi)


def image_embeddings(images: torch.Tensor, features: nn.Module, *, layer: str = "f4",
                     batch_size: int = 32) -> torch.Tensor:
    """One feature vector per image: the global average of a feature network's ``layer`` map
    (e.g. the kit's, :func:`lessons_lib.models.features.load_feature_net` ``("kit")``; ``f4``
    is what its classifier head reads). RGB ``(N, 3, H, W)`` in [0, 1] or uint8 -> ``(N, C)``
    float64."""
    x = _float(_batch(images, "images"))
    if x.shape[1] != 3:
        raise ValueError(f"images must be RGB (N, 3, H, W), got shape {tuple(x.shape)}")
    net = features
    with torch.no_grad():
        out = [net(x[i : i + batch_size], (layer,))[layer].mean(dim=(2, 3)) for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out).double()


def feature_report(pred: torch.Tensor, target: torch.Tensor, features: nn.Module, *, k: int = 3) -> dict:
    """The distribution metrics of a set of outputs against their true images, on one
    feature network (:func:`lessons_lib.models.features.load_feature_net`): ``fid_kit``, ``kid_kit`` (x 1000, as papers print
    KID), ``lpips_kit`` (the mean paired :func:`perceptual_distance`: LPIPS's formula without
    its learned weights), ``precision_kit``, ``recall_kit`` and ``features`` (which network,
    with its validation accuracy: a distance is only as meaningful as the features). The
    suffix names the network: ``_kit`` or ``_vgg16``. Needs 2 images or more per set (and
    more than ``k``; precision and recall are ``None`` below that)."""
    p, t = _rgb_pair(pred, target)
    if p.shape[0] < 2:
        raise ValueError(f"distribution metrics need at least 2 images, got {p.shape[0]}")
    net = features
    tag = getattr(net, "source", "kit")
    fp, ft = image_embeddings(p, net), image_embeddings(t, net)
    with torch.no_grad():
        lp = float(torch.cat([perceptual_distance(p[i : i + 32], t[i : i + 32], net, reduction="none")
                              for i in range(0, p.shape[0], 32)]).mean())
    prec, rec = precision_recall(ft, fp, k=k) if p.shape[0] > k else (None, None)
    return {
        f"fid_{tag}": frechet_feature_distance(fp, ft),
        f"kid_{tag}": 1000.0 * kernel_distance(fp, ft)[0],
        f"lpips_{tag}": lp,
        f"precision_{tag}": prec,
        f"recall_{tag}": rec,
        "features": getattr(net, "description", type(net).__name__),
    }


def kit_feature_report(pred: torch.Tensor, truth: torch.Tensor) -> dict:
    """:func:`feature_report` on the kit's shipped feature network, or ``{"features": why
    not}`` when the network is missing or the set has fewer than 2 images."""
    from .models.features import load_feature_net

    if _batch(pred, "pred").shape[0] < 2:
        return {"features": "unavailable (distribution metrics need at least 2 images)"}
    try:
        net = load_feature_net("kit")
    except LessonsError as e:
        return {"features": f"unavailable ({e})"}
    return feature_report(pred, truth, net)


# --------------------------------------------------------------------------- reports
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
    p, t = _rgb_pair(pred_rgb, target_rgb)
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
    p, t = _rgb_pair(pred, target)
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
