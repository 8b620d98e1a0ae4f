"""Every shipped model side by side (``lessons models compare``): :func:`compare_models`
scores them on the same held-out images, :func:`format_comparison` writes the tables.
"""
from __future__ import annotations

import os
from typing import Any

from ..colorization import Colorizer, evaluate_colorizer
from ..restoration import Restorer, evaluate_restorer
from .models import SPECS, default_model, list_models
from .ship import heldout_split, report_summary


# =========================================================================== the catalogue
# =========================================================================== one table
#: the columns of :func:`compare_models` (the distribution metrics when the kit's network is there)
_COMPARE_COLOR = ("psnr", "ssim", "auc", "colorfulness", "fid_kit", "kid_kit", "lpips_kit", "precision_kit",
                  "recall_kit")
_COMPARE_RESTORE = ("psnr", "ssim", "fid_kit", "kid_kit", "lpips_kit", "precision_kit", "recall_kit")


def compare_models(size: int | None = None, *, limit: int | None = None, restore_limit: int | None = None,
                   feature_metrics: bool = True, weights_dir: str | os.PathLike | None = None,
                   sources: tuple[str, ...] | None = None, face_source: str = "celeba10k") -> dict[str, Any]:
    """Every shipped model on the same held-out images (``lessons models compare``).

    Colorizers: the held-out sets of the default colorizer's card (scenes8 val, imagenet1k
    val, all of cbsd68: no model trained on them), each photo resized and centre-cropped to
    ``size`` (default: the default colorizer's evaluation size), colorized as ``lessons
    colorize`` does, with the gray input as a row. The restorer(s): celeba10k val with the
    blurred input and each output as rows. Each row: PSNR, SSIM (and AuC, colourfulness) and,
    with ``feature_metrics``, FID_kit, KID_kit, LPIPS_kit, precision and recall on the kit's
    feature network (:func:`lessons_lib.metrics.kit_feature_report`). ``limit`` /
    ``restore_limit``: the first K images of each set (default all); ``sources`` and
    ``face_source`` replace the held-out sets (e.g. ``"synthetic"`` where the packs are
    absent). Plain JSON.
    """
    default = SPECS[default_model("colorization")]
    size = int(size or default.size)
    out: dict[str, Any] = {"size": size, "colorization": {}, "restoration": {}, "features": None}
    for source in sources or default.eval_data:
        split = heldout_split(source)
        per: dict[str, Any] = {"rows": {}}
        for m in list_models("colorization", weights_dir):
            first = not per["rows"]                       # the gray input is scored once per set
            res = evaluate_colorizer(Colorizer(m["path"], device="cpu"), source, split, size=size, limit=limit,
                                     baseline=first, feature_metrics=feature_metrics)
            per["rows"][m["name"] + (" (default)" if m["default"] else "")] = report_summary(res["model"], _COMPARE_COLOR)
            if first:
                per["gray_input"] = report_summary(res["gray_baseline"], _COMPARE_COLOR)
                per["photos_colorfulness"] = res["model"]["colorfulness_gt"]
                per["n_images"] = res["n_images"]
                out["features"] = res["model"].get("features", out["features"])
        per["rows"]["gray input"] = per.pop("gray_input")
        out["colorization"][f"{source} {split}"] = per
    for m in list_models("restoration", weights_dir):
        restorer = Restorer(m["path"], device="cpu")
        res = evaluate_restorer(restorer, face_source, "val", limit=restore_limit, feature_metrics=feature_metrics)
        rows = {k: report_summary(res[k], _COMPARE_RESTORE + ("perceptual",)) for k in ("x_hat", "x_R", "x_G", "blurred")
                if k in res}
        out["restoration"][m["name"]] = {"rows": rows, "n_images": res["n_images"], "size": res["size"],
                                         "data": f"{face_source} val",
                                         "default_output": restorer.output}
    return out


def _cell(v: Any, digits: int) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def format_comparison(result: dict[str, Any]) -> str:
    """:func:`compare_models` as Markdown tables: one per held-out set, one per restorer."""
    digits = {"psnr": 2, "ssim": 3, "auc": 3, "colorfulness": 1, "fid_kit": 2, "kid_kit": 1, "lpips_kit": 3,
              "precision_kit": 2, "recall_kit": 2}
    names = {"psnr": "PSNR", "ssim": "SSIM", "auc": "AuC", "colorfulness": "colourful.", "fid_kit": "FID_kit",
             "kid_kit": "KID_kit x1e3", "lpips_kit": "LPIPS_kit", "precision_kit": "precision", "recall_kit": "recall"}
    lines: list[str] = []
    for source, per in result["colorization"].items():
        rows = per["rows"]
        keys = [k for k in _COMPARE_COLOR if any(k in r for r in rows.values())]
        gray = rows["gray input"]["psnr"]
        lines += [f"Colorizers on {source} ({per['n_images']} photos at {result['size']} px; the photos' "
                  f"colourfulness {per['photos_colorfulness']:.1f}):", "",
                  "| model | " + " | ".join(names[k] + (" (vs gray)" if k == "psnr" else "") for k in keys) + " |",
                  "|---|" + "---:|" * len(keys)]
        for name, r in rows.items():
            cells = []
            for k in keys:
                c = _cell(r.get(k), digits[k])
                if k == "psnr" and name != "gray input":
                    c += f" ({r['psnr'] - gray:+.2f})"
                if k == "colorfulness":
                    c += f" ({100 * r['colorfulness'] / per['photos_colorfulness']:.0f}%)"
                cells.append(c)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    for name, rep in result["restoration"].items():
        rows = rep["rows"]
        keys = [k for k in _COMPARE_RESTORE if any(k in r for r in rows.values())]
        lines += [f"Restorer {name} on {rep['data']} ({rep['n_images']} faces at {rep['size']} px; its default "
                  f"output: {rep['default_output']}):", "",
                  "| output | " + " | ".join(names[k] for k in keys) + " |", "|---|" + "---:|" * len(keys)]
        lines += [f"| {out} | " + " | ".join(_cell(r.get(k), digits[k]) for k in keys) + " |" for out, r in rows.items()]
        lines.append("")
    if result.get("features"):
        lines.append(f"_kit metrics: {result['features']}; lower FID/KID/LPIPS_kit is nearer the true images, "
                     "higher precision = more realistic, higher recall = more of the variety. They rank these "
                     "models on these images and are not comparable with papers' FID / KID / LPIPS.")
    return "\n".join(lines).rstrip()


