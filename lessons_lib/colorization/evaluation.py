"""Scoring a colorizer on a data source against the gray input, the hint curve, and the
evaluation table."""
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

__all__ = ["evaluate_colorizer", "simulated_hint_maps", "hint_curve", "format_evaluation"]


# =========================================================================== evaluation
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
    size = int(size) if size is not None else colorizer.size
    if size < 8:
        raise LessonsError(f"size must be at least 8 pixels, got {size}")
    if hints is not None:
        if not colorizer.takes_hints:
            colorizer._refuse_hints()
        if not isinstance(hints, int) or hints < 0:
            raise LessonsError(f"hints is the number of simulated hints per image, a whole number >= 0, got {hints!r}")
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
