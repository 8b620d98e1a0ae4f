"""Scoring a colorizer on a data source against the gray input, the hint curve, how far one
hint reaches (its locality), and the evaluation table."""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from .. import LessonsError
from .colorizer import Colorizer
from ..color import lab_normalized_to_rgb
from ..data import lab_batch, make_loader
from ..data.hints import render_hints, sample_hint_points
# the scores through the package, looked up at call time: FID is used when its weights are present
# (fid_available), and a test or a caller may swap it on lessons_lib.metrics
from .. import metrics
from ..metrics import METRIC_LABELS
from ..metrics.accumulate import BatchMeans, set_scores

__all__ = ["evaluate_colorizer", "simulated_hint_maps", "hint_curve", "hint_locality", "format_evaluation"]


# =========================================================================== evaluation
def _check_request(colorizer: Colorizer, size: int | None, hints: int | None) -> int:
    """The evaluation size (default: the model's), refused under 8 px; ``hints`` only for a hint
    model, and a whole number >= 0."""
    size = int(size) if size is not None else colorizer.size
    if size < 8:
        raise LessonsError(f"size must be at least 8 pixels, got {size}")
    if hints is not None:
        if not colorizer.takes_hints:
            colorizer._refuse_hints()
        if not isinstance(hints, int) or hints < 0:
            raise LessonsError(f"hints is the number of simulated hints per image, a whole number >= 0, got {hints!r}")
    return size


def evaluate_colorizer(
    colorizer: Colorizer,
    source: Any,
    split: str = "val",
    size: int | None = None,
    *,
    limit: int | None = None,
    batch_size: int = 16,
    seed: int | None = None,
    num_workers: int = 0,
    baseline: bool = True,
    feature_metrics: bool = False,
    hints: int | None = None,
) -> dict[str, Any]:
    """Colorize the gray versions of a source's images and measure against the colours.

    Every image of ``split`` is resized (short side) and centre-cropped to ``size x size``
    (:func:`lessons_lib.data.make_loader` with ``train=False``; default: the model's size),
    its L plane is colorized with :meth:`Colorizer.colorize_tensor` (what ``lessons
    colorize`` produces: the model at its size, the true L kept) and compared with the
    photo by :func:`lessons_lib.metrics.colorization_report`: MAE (RGB per channel, ab),
    raw-accuracy AuC, PSNR, SSIM, colorfulness, that of the photos and the gap, LPIPS and
    FID (or "unavailable (no pretrained weights)").

    With ``baseline=True`` the same metrics are computed for the trivial "gray input"
    colorizer (ab = 0, the gray photo itself), so that one sees whether the model beats
    doing nothing.

    Every metric of the report is a mean over images or a share over pixels of equal-size
    images, so the per-batch reports combine exactly by weighting with the batch size; FID,
    which is not a mean, is computed once on the whole set (only when its weights exist).

    With ``feature_metrics=True`` each report also holds the distribution metrics of the
    whole set on the kit's feature network (:func:`lessons_lib.metrics.kit_feature_report`:
    ``fid_kit``, ``kid_kit``, ``lpips_kit``, ``precision_kit``, ``recall_kit`` and the
    network's description with its accuracy), or says why they are unavailable.

    With ``hints=N`` (a hint model only) every image gets N hints from its own colours, as a
    user who knows them would give: Zhang et al.'s simulated user at the model's size S
    (:func:`lessons_lib.data.hints.sample_hint_points` with ``count=N``: centres Gaussian
    around the middle, squares of 1-9 px carrying the mean true ab, computed on the photo's
    ab resized to S x S), drawn from a generator seeded ``seed + batch index`` (the same
    hints for every model and run).

    Returns ``{"weights", "recipe", "data", "split", "size", "n_images", "seed", "model":
    report, "gray_baseline": report}`` (plain JSON; with ``"hints": N`` when given).
    """
    size = _check_request(colorizer, size, hints)
    colorizer.load()
    device = colorizer.device
    loader = make_loader(source, size, batch_size, split=split, train=False, num_workers=num_workers,
                         limit=limit, drop_last=False)
    runs = {name: BatchMeans() for name in (("model", "gray_baseline") if baseline else ("model",))}
    keep_fid = metrics.fid_available()
    keep = keep_fid or feature_metrics
    kept: dict[str, list[torch.Tensor]] = {k: [] for k in (*runs, "truth")}
    n = 0
    for i, batch in enumerate(loader):                     # (B, 3, S, S) uint8
        L, ab_true = lab_batch(batch, device, "lab")       # (B, 1, S, S), L/50 - 1; ab/110
        truth = batch.to(device).float() / 255.0           # (B, 3, S, S) in [0, 1]
        hint_maps = None
        if hints is not None:
            hint_maps = simulated_hint_maps(ab_true, colorizer.size, hints, (0 if seed is None else int(seed)) + i)
        preds = {"model": colorizer.colorize_tensor(L, seed, hints=hint_maps)}
        if baseline:
            preds["gray_baseline"] = lab_normalized_to_rgb(L, torch.zeros_like(L).expand(-1, 2, -1, -1))
        b = batch.shape[0]
        for name, pred in preds.items():
            runs[name].add(metrics.colorization_report(pred, truth), b)
            if keep:
                kept[name].append((pred * 255).round().to(torch.uint8).cpu())
        if keep:
            kept["truth"].append(batch.cpu())
        n += b
    if n == 0:
        raise LessonsError(f"no images to evaluate in {source!r} split {split!r}")
    result: dict[str, Any] = {
        "weights": str(colorizer.weights),
        "recipe": colorizer.card.get("recipe"),
        "data": str(source),
        "split": split,
        "size": size,
        "n_images": n,
        "seed": 0 if seed is None else int(seed),
    }
    if hints is not None:
        result["hints"] = hints
    for name, acc in runs.items():
        report = acc.means()
        report["n_images"] = n
        report.update(set_scores(kept[name], kept["truth"], fid=True, feature_metrics=feature_metrics))
        result[name] = report
    return result



def simulated_hint_maps(ab: torch.Tensor, size: int, count: int, seed: int) -> torch.Tensor:
    """``count`` hints per image from the true ``ab`` (B, 2, H, W) (ab / 110), as the hint
    channels ``(B, 3, size, size)`` of a hint model: Zhang et al.'s simulated user on the ab
    resized to ``size`` (area average), from a generator seeded ``seed``."""
    small = ab if tuple(ab.shape[-2:]) == (size, size) else F.interpolate(ab.float(), size=(size, size), mode="area")
    pts = sample_hint_points(ab.shape[0], size, size, count=count, generator=torch.Generator().manual_seed(seed))
    hint_ab, mask = render_hints(small.float(), pts)
    return torch.cat([hint_ab, mask], dim=1)


def hint_curve(colorizer: Colorizer, source: Any, split: str = "val", counts: Sequence[int] = (0, 1, 2, 5, 10, 20, 50),
               size: int | None = None, *, limit: int | None = None, seed: int = 0,
               reference: Colorizer | None = None) -> dict[str, Any]:
    """PSNR and colourfulness of a hint model against the number of hints from the true
    colours (:func:`evaluate_colorizer` with ``hints=n`` for each n of ``counts``), with the
    gray input and, when given, an automatic ``reference`` colorizer on the same images.

    Returns ``{"data", "split", "size", "n_images", "counts", "psnr", "colorfulness",
    "gray": {"psnr", "colorfulness"}, "reference": {"name", "psnr", "colorfulness"} | None,
    "colorfulness_gt"}``."""
    rows = [evaluate_colorizer(colorizer, source, split, size, limit=limit, seed=seed, hints=int(n),
                               baseline=(k == 0)) for k, n in enumerate(counts)]
    first = rows[0]
    out: dict[str, Any] = {
        "data": str(source), "split": split, "size": first["size"], "n_images": first["n_images"],
        "counts": [int(n) for n in counts], "psnr": [r["model"]["psnr"] for r in rows],
        "colorfulness": [r["model"]["colorfulness"] for r in rows],
        "gray": {"psnr": first["gray_baseline"]["psnr"], "colorfulness": first["gray_baseline"]["colorfulness"]},
        "colorfulness_gt": first["model"]["colorfulness_gt"], "reference": None,
    }
    if reference is not None:
        ref = evaluate_colorizer(reference, source, split, first["size"], limit=limit, seed=seed, baseline=False)
        out["reference"] = {"name": reference.card.get("name") or reference.card.get("recipe"),
                            "psnr": ref["model"]["psnr"], "colorfulness": ref["model"]["colorfulness"]}
    return out


#: the hues (degrees in the ab plane) a locality hint's colour is drawn from, at chroma 55
LOCALITY_HUES = tuple(range(0, 360, 30))


def _far_colour(L: float, ab0: torch.Tensor, min_shift: float, rng: "np.random.Generator"):
    """A hint colour whose ab lies at least ``min_shift`` Lab units from the model's own
    ``ab0 (2,)`` there: a seeded pick among 12 hues at chroma 55 and the pixel's lightness
    (kept in 35..75 so that the colour exists in sRGB), as the 8-bit RGB a user would give,
    and its ab after the round trip. None when no hue is far enough."""
    import numpy as np

    from ..color import lab_to_rgb, rgb_uint8_to_lab

    Lc = min(max(float(L), 35.0), 75.0)
    hues = np.deg2rad(np.array(LOCALITY_HUES, dtype=np.float64))
    lab = torch.tensor([[Lc, 55.0 * math.cos(h), 55.0 * math.sin(h)] for h in hues], dtype=torch.float32)
    rgb = (lab_to_rgb(lab.T.reshape(1, 3, -1, 1)).clamp(0, 1) * 255).round().to(torch.uint8)   # (1, 3, n, 1)
    ab = rgb_uint8_to_lab(rgb)[0, 1:, :, 0].T                                                   # (n, 2) Lab units
    far = [i for i in range(len(hues)) if float((ab[i] - ab0).norm()) >= min_shift]
    if not far:
        return None
    i = far[int(rng.integers(len(far)))]
    return tuple(int(v) for v in rgb[0, :, i, 0].tolist()), ab[i]


def hint_locality(colorizer: Colorizer, photos: Sequence[torch.Tensor], *, seed: int = 0, n_segments: int = 24,
                  area: tuple[float, float] = (0.02, 0.3), min_shift: float = 40.0) -> dict[str, Any]:
    """How far one hint reaches (issue 25, item 4): per photo, one hint inside one object,
    the change of ab it causes inside the object and outside.

    ``photos``: uint8 RGB ``(3, H, W)`` each, never chosen on. For each photo: SLIC
    superpixels (Achanta et al. 2012, ``skimage.segmentation.slic``, ``n_segments``,
    compactness 10) on the photo give the objects; a seeded pick among the segments of
    ``area`` (a share of the photo) is the hinted region; the hint goes to its deepest pixel
    (farthest from its border), with a colour at least ``min_shift`` Lab units from the
    model's own there (:func:`_far_colour`). With ab0 the colorization without the hint and
    ab1 with it (full size, Lab units):

    * ``inside``, ``outside``: the mean |ab1 - ab0| in the region and in the rest;
    * ``ratio`` = inside / outside (issue 25's target: >= 4);
    * ``reach``: the mean over the region of ``(|ab0 - h| - |ab1 - h|) / |ab0 - h|``, the share
      of the way from the model's colour to the hint's h that was travelled (1 = painted in the
      hint's colour; target >= 0.7).

    Returns ``{"n_images", "inside", "outside", "ratio" (of the means), "median_ratio",
    "reach", "share_ratio_4" (photos whose own ratio >= 4), "rows"}``."""
    import numpy as np
    from scipy.ndimage import distance_transform_edt
    from skimage.segmentation import slic

    from ..color import AB_SCALE

    if not colorizer.takes_hints:
        colorizer._refuse_hints()
    rng = np.random.default_rng(seed)
    rows = []
    for i, rgb in enumerate(photos):
        if rgb.dim() != 3 or rgb.shape[0] != 3 or rgb.dtype != torch.uint8:
            raise LessonsError(f"photo {i}: expected uint8 RGB (3, H, W), got {tuple(rgb.shape)} {rgb.dtype}")
        H, W = rgb.shape[-2:]
        seg = slic(rgb.permute(1, 2, 0).numpy(), n_segments=n_segments, compactness=10, start_label=0,
                   channel_axis=-1)
        share = np.bincount(seg.ravel()) / seg.size
        fits = [k for k in range(len(share)) if area[0] <= share[k] <= area[1]]
        if not fits:
            continue
        region = seg == fits[int(rng.integers(len(fits)))]
        # the deepest pixel of the region, its distance to the photo's border counted too
        depth = distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
        y, x = np.unravel_index(int(depth.argmax()), region.shape)
        L, _ = lab_batch(rgb[None], colorizer.device)
        ab0 = colorizer.predict_ab(L)[0].cpu() * AB_SCALE                           # (2, H, W) Lab units
        picked = _far_colour((float(L[0, 0, y, x]) + 1.0) * 50.0, ab0[:, y, x], min_shift, rng)
        if picked is None:
            continue
        colour, h = picked
        hints = colorizer.hint_map([(int(x), int(y), colour)], (W, H))
        ab1 = colorizer.predict_ab(L, hints=hints)[0].cpu() * AB_SCALE
        change = (ab1 - ab0).norm(dim=0)                                             # (H, W)
        inside_mask = torch.from_numpy(region)
        inside, outside = float(change[inside_mask].mean()), float(change[~inside_mask].mean())
        d0 = (ab0 - h.view(2, 1, 1)).norm(dim=0)[inside_mask]
        d1 = (ab1 - h.view(2, 1, 1)).norm(dim=0)[inside_mask]
        rows.append({"image": i, "point": [int(x), int(y)], "colour": list(colour),
                     "region_share": float(region.mean()), "inside": inside, "outside": outside,
                     "ratio": inside / max(outside, 1e-6),
                     "reach": float(((d0 - d1) / d0.clamp_min(1e-6)).mean())})
    if not rows:
        raise LessonsError("no photo had a region of the asked size with a far hint colour: give more photos")
    mean = lambda k: float(np.mean([r[k] for r in rows]))  # noqa: E731
    return {"n_images": len(rows), "inside": mean("inside"), "outside": mean("outside"),
            "ratio": mean("inside") / max(mean("outside"), 1e-6),
            "median_ratio": float(np.median([r["ratio"] for r in rows])), "reach": mean("reach"),
            "share_ratio_4": float(np.mean([r["ratio"] >= 4 for r in rows])), "rows": rows}


def _flat_rows(report: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for k, v in report.items():
        if isinstance(v, dict):
            rows += _flat_rows(v, f"{prefix}{k} ")
        else:
            rows.append((f"{prefix}{k}", v))
    return rows


def format_evaluation(result: dict[str, Any]) -> str:
    """The result of :func:`evaluate_colorizer` as a table: one metric per row, the model
    and the gray-input baseline side by side (the metric names of
    :func:`lessons_lib.metrics.format_report`)."""
    columns = [k for k in ("model", "gray_baseline") if k in result]
    if not columns:
        raise ValueError("not an evaluate_colorizer result: no 'model' report in it")
    rows = {name: dict(_flat_rows(result[name])) for name in columns}
    network = rows[columns[0]].pop("features", None)          # a description: printed below
    for c in columns[1:]:
        rows[c].pop("features", None)
    keys = list(rows[columns[0]])

    def label(key: str) -> str:
        head, _, rest = key.partition(" ")
        return f"{METRIC_LABELS.get(head, head)} {rest}".strip()

    def fmt(v: Any) -> str:
        if v is None:                                   # e.g. precision / recall of a tiny set
            return "n/a"
        if isinstance(v, float):
            if not math.isfinite(v):
                return str(v)
            return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
        return str(v)

    header = ["metric", *("model" if c == "model" else "gray input" for c in columns)]
    table = [header] + [[label(k), *(fmt(rows[c].get(k, "")) for c in columns)] for k in keys]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    title = (f"{result.get('recipe') or result.get('weights')} on {result.get('data')} "
             f"[{result.get('split')}], {result.get('n_images')} images at {result.get('size')} px")
    lines = [title] + ["  ".join(c.ljust(wd) for c, wd in zip(r, widths)).rstrip() for r in table]
    if network is not None:
        lines.append(f"feature network of the _kit metrics: {network} (values rank models on these "
                     "images; they are not papers' FID / KID / LPIPS)")
    return "\n".join(lines)
