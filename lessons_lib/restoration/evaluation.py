"""The restorer's scores: PSNR, SSIM, sharpness and the perceptual distance of every stage's
output, :func:`evaluate_restorer` on a held-out face set, and the seed's Table 1 beside it.

``L_per`` and the perceptual distance use the kit's feature network or VGG16 (*not* LPIPS);
LPIPS and FID only when their weights are on disk.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.nn as nn

from .. import LessonsError, metrics
from ..metrics.accumulate import BatchMeans, set_scores
from .bundle import OUTPUTS
from .blurred_faces import FaceCrops, blur_batch
from ..data.blur import kernel_size_for
from ..metrics import METRIC_LABELS, load_feature_net
from ..models.layers import check_image_batch

__all__ = [
    "restoration_scores",
    "laplacian_energy",
    "mean_scores",
    "feature_net",
    "evaluate_restorer",
    "format_restoration",
    "SEED004_TABLE",
    "seed_comparison_table",
]

_PERCEPTUAL_LABEL = "perceptual distance (feature net, not LPIPS)"


def laplacian_energy(images: torch.Tensor) -> torch.Tensor:
    """Mean squared Laplacian of the luma, per image: ``(B, 3, H, W)`` in [0, 1] -> ``(B,)``.

    A no-reference measure of crispness (the "variance of the Laplacian" focus measure of
    Pech-Pacheco et al., ICPR 2000): the 3x3 Laplacian ``[[0,1,0],[1,-4,1],[0,1,0]]`` responds
    to edges and fine texture, which blur removes and a GAN prior puts back (rightly or not).
    On its own it does not say the detail is *right*: read it next to PSNR."""
    import torch.nn.functional as F

    check_image_batch(images, 3, "images")
    w = torch.tensor([0.299, 0.587, 0.114], device=images.device, dtype=torch.float32).view(1, 3, 1, 1)
    luma = (images.float() * w).sum(dim=1, keepdim=True)                # (B, 1, H, W) ITU-R BT.601
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=images.device).view(1, 1, 3, 3)
    return F.conv2d(luma, k).pow(2).mean(dim=(1, 2, 3))                 # (B,) valid convolution: no border


def restoration_scores(pred: torch.Tensor, sharp: torch.Tensor, features: nn.Module | None = None) -> dict[str, Any]:
    """PSNR (dB), SSIM, sharpness and the perceptual distance of restored images against the sharp ones.

    ``sharpness`` is the mean over images of ``laplacian_energy(pred) / laplacian_energy(sharp)``
    (1: as crisp as the truth; a blurry image is well below 1; above 1: more high-frequency
    energy than the truth - noise or invented texture).
    ``pred``, ``sharp``: ``(B, 3, H, W)`` in [0, 1] (clamped here). The perceptual distance
    is :func:`lessons_lib.metrics.perceptual_distance` with ``features`` (the kit's feature
    network or VGG16) - a plain feature distance, *not* LPIPS; LPIPS is added only when its
    own weights are on disk (:func:`lessons_lib.metrics.lpips_available`). Means over images."""
    p, t = pred.float().clamp(0, 1), sharp.float().clamp(0, 1)
    out: dict[str, Any] = {"psnr": float(metrics.psnr(p, t)), "ssim": float(metrics.ssim(p, t)),
                           "sharpness": float((laplacian_energy(p) / laplacian_energy(t).clamp_min(1e-12)).mean())}
    if features is not None:
        out["perceptual"] = float(metrics.perceptual_distance(p, t, features=features))
    if metrics.lpips_available():
        out["lpips"] = float(metrics.lpips_distance(p, t))
    return out


def mean_scores(batches: Iterable[tuple[dict[str, torch.Tensor], torch.Tensor]], features) -> dict[str, float]:
    """Means over images of :func:`restoration_scores` for every named output, ``name_metric`` keys."""
    acc = BatchMeans()
    for outputs, sharp in batches:
        acc.add({f"{name}_{k}": v for name, pred in outputs.items()
                 for k, v in restoration_scores(pred, sharp, features).items()}, sharp.shape[0])
    return {"n_images": float(acc.n), **acc.means()} if acc.n else {}


def feature_net(prefer: str, device: torch.device):
    """The perceptual feature network (``"vgg16"`` when on disk, else the kit's; never random)."""
    return load_feature_net(prefer, device=device)


def _eval_bank_params(card: dict[str, Any], size: int, model_size: int) -> dict[str, Any]:
    """The kernel bank of an evaluation at ``size``: the restorer's own (its card) at its
    training size; at another size the same number and seed of kernels, resized by
    :func:`~lessons_lib.data.blur.kernel_size_for` so the blur covers the same share of the face."""
    bank = dict(card.get("kernel_bank") or {"n": 1000, "seed": 0})
    bank.setdefault("n", 1000)
    bank.setdefault("seed", 0)
    if size != model_size or "size" not in bank:
        bank["size"] = kernel_size_for(size)
    bank["noise_std"] = float(bank.get("noise_std", 0.0))
    return bank


def evaluate_restorer(restorer, source: Any, split: str = "val", size: int | None = None, *,
                      limit: int | None = None, batch_size: int = 16, seed: int | None = None,
                      num_workers: int = 0, feature_metrics: bool = False) -> dict[str, Any]:
    """Blur the faces of a source with the bank's kernels and score every stage's output.

    Image ``i`` of ``split`` (short side resized to ``size``, centre crop; default the
    restorer's size) is blurred with bank kernel :func:`~lessons_lib.restoration.blurred_faces.eval_kernel_index` ``(i, n, seed)``
    (default seed: the one in the restorer's card), restored with
    :meth:`lessons_lib.restoration.Restorer.restore_tensor` and compared with the sharp face:
    PSNR, SSIM, the perceptual distance of the kit's feature network (*not* LPIPS; VGG16
    when its weights are on disk), and LPIPS / FID only when their weights are on disk.
    The same is reported for the blurred input itself, the baseline every output must beat.
    ``feature_metrics=True`` adds the distribution metrics on the kit's feature network
    (:func:`lessons_lib.metrics.kit_feature_report`: FID_kit, KID_kit, precision, recall).

    Returns plain JSON: ``{"weights", "data", "split", "size", "n_images", "kernel_bank",
    "perceptual_features", "labels", "blurred": {...}, "x_R": {...}, "x_G": {...},
    "x_hat": {...}}`` (the stages the restorer has).
    """
    from torch.utils.data import DataLoader

    parts = restorer.load().model
    model_size = parts.size
    size = int(size) if size is not None else model_size
    if size < 16:
        raise LessonsError(f"size must be at least 16 pixels (SSIM's window is 11), got {size}")
    bank = _eval_bank_params(parts.card, size, model_size)
    eval_seed = int(seed) if seed is not None else int(bank.get("eval_seed", 0))
    bank["eval_seed"] = eval_seed
    ds = FaceCrops(source, size, split, train=False, n_kernels=bank["n"], eval_seed=eval_seed, limit=limit)
    if len(ds) == 0:
        raise LessonsError(f"no images to evaluate in {source!r} split {split!r}")
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    device = restorer.device
    try:
        features = feature_net("vgg16", device)
    except LessonsError:
        features = None
    keep_fid = metrics.fid_available() and len(ds) >= 2
    keep = keep_fid or feature_metrics
    kept: dict[str, list[torch.Tensor]] = {}

    def scored():
        g = torch.Generator().manual_seed(eval_seed)  # the noise, if the bank has any
        for batch in loader:
            blurred, sharp = blur_batch(batch["image"], batch["kernel"], {**bank, "noise_std": 0.0}, device)
            if bank["noise_std"] > 0:
                noise = torch.randn(blurred.shape, generator=g).to(device)
                blurred = (blurred + bank["noise_std"] * noise).clamp(0, 1)
            outs = restorer.restore_tensor(blurred)
            if keep:
                for k, v in {**outs, "sharp": sharp}.items():
                    kept.setdefault(k, []).append((v * 255).round().to(torch.uint8).cpu())
            yield outs, sharp

    scores = mean_scores(scored(), features)
    n = int(scores.pop("n_images"))
    result: dict[str, Any] = {
        "weights": str(restorer.weights),
        "stage": parts.stage,
        "data": str(source),
        "split": split,
        "size": size,
        "model_size": model_size,
        "n_images": n,
        "kernel_bank": bank,
        "perceptual_features": features.description if features is not None else metrics.UNAVAILABLE,
        "labels": {"psnr": "PSNR (dB)", "ssim": "SSIM", "perceptual": _PERCEPTUAL_LABEL, "lpips": "LPIPS (alex)",
                   "fid": "FID", "sharpness": "sharpness (Laplacian energy / sharp)"},
    }
    for name in parts.outputs:
        rep: dict[str, Any] = {k[len(name) + 1:]: v for k, v in scores.items() if k.startswith(name + "_")}
        if features is None:
            rep["perceptual"] = metrics.UNAVAILABLE
        if "lpips" not in rep:
            rep["lpips"] = metrics.UNAVAILABLE
        rep.update(set_scores(kept.get(name, []), kept.get("sharp", []), fid=True, feature_metrics=feature_metrics))
        result[name] = rep
    return result


def format_restoration(result: dict[str, Any]) -> str:
    """The result of :func:`evaluate_restorer` as a table: one metric per row, the blurred
    input and each stage's output side by side."""
    columns = [k for k in OUTPUTS if k in result]
    if not columns:
        raise ValueError("not an evaluate_restorer result: no 'blurred' report in it")
    labels = result.get("labels", {})
    keys = [k for k in ("psnr", "ssim", "perceptual", "sharpness", "lpips", "fid", "fid_kit", "kid_kit",
                        "lpips_kit", "precision_kit", "recall_kit")
            if any(k in result[c] for c in columns)]
    labels = {**METRIC_LABELS, **labels}
    names = {"blurred": "blurred input", "x_R": "x_R (NAFNet)", "x_G": "x_G (inversion)", "x_hat": "x_hat (fusion)"}

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
        if v is None:
            return "n/a"
        return "n/a" if isinstance(v, str) and v.startswith("unavailable") else str(v)

    table = [["metric", *(names[c] for c in columns)]]
    table += [[labels.get(k, k), *(fmt(result[c].get(k, "")) for c in columns)] for k in keys]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    title = (f"{result.get('weights')} on {result.get('data')} [{result.get('split')}], {result.get('n_images')} "
             f"faces at {result.get('size')} px, blurred with {result['kernel_bank']['n']} kernels of "
             f"{result['kernel_bank']['size']} px (seed {result['kernel_bank'].get('eval_seed', 0)})")
    lines = [title] + ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    unavailable = [labels.get(k, k) for k in keys if any(isinstance(result[c].get(k), str) for c in columns)]
    if unavailable:
        lines.append(f"n/a ({', '.join(unavailable)}): unavailable, their pretrained weights are not on this disk")
    lines.append(f"perceptual features: {result.get('perceptual_features')}")
    network = result[columns[0]].get("features")
    if network is not None:
        lines.append(f"feature network of the _kit metrics: {network}")
    return "\n".join(lines)


#: Seed 004, Table 1: (method, PSNR, SSIM, LPIPS, FID) - FFHQ 512 px training, 3,000
#: CelebA-HQ test faces blurred with 71x71 kernels, 40k iterations per stage.
SEED004_TABLE = (
    ("HINet", 29.63, 0.81, 0.31, 40.97),
    ("NAFNet", 29.53, 0.81, 0.31, 42.18),
    ("GFP-GAN", 23.09, 0.63, 0.34, 10.73),
    ("GPEN", 20.60, 0.56, 0.43, 15.48),
    ("Ours (fusion)", 28.52, 0.76, 0.30, 9.59),
)


def seed_comparison_table(result: dict[str, Any]) -> str:
    """A Markdown table: the seed's Table 1, then the rows of an :func:`evaluate_restorer` result.

    Ours has no LPIPS or FID unless their weights are on disk; its perceptual distance (the
    kit's feature network, *not* LPIPS) and sharpness get their own columns, empty for the
    seed's rows, so that no number is placed under a heading it does not measure."""
    def f(v: Any, fmt: str) -> str:
        return fmt.format(v) if isinstance(v, (int, float)) else "n/a"

    lines = ["| method | PSNR (dB) | SSIM | LPIPS | FID | perceptual dist. (not LPIPS) | sharpness |",
             "|---|---|---|---|---|---|---|"]
    for name, p, s, lp, fid in SEED004_TABLE:
        lines.append(f"| seed 004: {name} | {p:.2f} | {s:.2f} | {lp:.2f} | {fid:.2f} | | |")
    names = {"blurred": "ours: blurred input", "x_R": "ours: NAFNet (x_R)", "x_G": "ours: inversion (x_G)",
             "x_hat": "ours: fusion (x_hat)"}
    for k in OUTPUTS:
        if k in result:
            r = result[k]
            lines.append(f"| {names[k]} | {f(r.get('psnr'), '{:.2f}')} | {f(r.get('ssim'), '{:.3f}')} | "
                         f"{f(r.get('lpips'), '{:.3f}')} | {f(r.get('fid'), '{:.2f}')} | "
                         f"{f(r.get('perceptual'), '{:.4f}')} | {f(r.get('sharpness'), '{:.2f}')} |")
    return "\n".join(lines)

