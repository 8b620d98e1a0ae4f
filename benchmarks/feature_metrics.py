"""How far "identical" is from zero, and how much a distance moves: the kit-feature metrics.

    python benchmarks/feature_metrics.py [--size 160] [--boot 200]

For each held-out colorization set (scenes8 val, imagenet1k val, all of cbsd68; none
trained on) the photos are cut into two disjoint halves (even and odd indices), and
FID_kit, KID_kit (x 1000), precision and recall are computed between the halves: the
value two samples of *the same* distribution get at this many images (FID is biased
upwards for small sets; KID is unbiased, so its halves' value scatters around 0). Then the
default colorizer's outputs and the gray input are compared with the photos, each with a
95 % percentile bootstrap interval (``--boot`` resamples of both sets): a difference
between two models smaller than these intervals is noise at this set size.

Needs the data packs (``../shared/data`` or ``LESSONS_DATA``). Prints a Markdown table and
writes ``benchmarks/out/feature_metrics.json``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, machine_info, machine_line, write_json  # noqa: E402

from lessons_lib import metrics, zoo  # noqa: E402
from lessons_lib.color import lab_normalized_to_rgb  # noqa: E402
from lessons_lib.data import lab_batch, make_loader  # noqa: E402
from lessons_lib.metrics import load_feature_net  # noqa: E402
from lessons_lib.pipeline import Colorizer  # noqa: E402


def _kid(a: torch.Tensor, b: torch.Tensor) -> float:
    return 1000.0 * metrics.kernel_distance(a, b)[0]


STATS = {"fid_kit": metrics.frechet_feature_distance, "kid_kit": _kid,
         "precision_kit": lambda r, f: metrics.precision_recall(r, f)[0],
         "recall_kit": lambda r, f: metrics.precision_recall(r, f)[1]}


def images(source: str, size: int, colorizer: Colorizer) -> dict[str, torch.Tensor]:
    """The photos of a held-out set at ``size``, their colorization and their gray version (uint8)."""
    out: dict[str, list[torch.Tensor]] = {"photos": [], "model": [], "gray input": []}
    for batch in make_loader(source, size, 16, split=zoo.heldout_split(source), train=False, drop_last=False):
        L, _ = lab_batch(batch, "cpu", "lab")
        out["photos"].append(batch)
        out["model"].append((colorizer.colorize_tensor(L) * 255).round().to(torch.uint8))
        gray = lab_normalized_to_rgb(L, torch.zeros_like(L).expand(-1, 2, -1, -1))
        out["gray input"].append((gray * 255).round().to(torch.uint8))
    return {k: torch.cat(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=None, help="evaluation size (default: the default colorizer's)")
    ap.add_argument("--boot", type=int, default=200, help="bootstrap resamples (default 200)")
    args = ap.parse_args(argv)
    info = machine_info()
    spec = zoo.SPECS[zoo.default_model("colorization")]
    size = args.size or spec.size
    net = load_feature_net("kit")
    colorizer = Colorizer(zoo.model_path(spec.name), device="cpu")
    result: dict[str, Any] = {"machine": info, "size": size, "features": net.description, "model": spec.name,
                              "sets": {}}
    lines = [machine_line(info), "", f"Feature network: {net.description}", "",
             "| set | images | compared | FID_kit | KID_kit x1e3 | precision | recall |",
             "|---|---:|---|---|---|---|---|"]
    for source in spec.eval_data:
        imgs = images(source, size, colorizer)
        emb = {k: metrics.image_embeddings(v, net) for k, v in imgs.items()}
        n = emb["photos"].shape[0]
        rows: dict[str, dict[str, Any]] = {}
        even, odd = emb["photos"][0::2], emb["photos"][1::2]
        rows["photos: even vs odd half"] = {k: {"value": f(even, odd)} for k, f in STATS.items()}
        for name in (spec.name, "gray input"):
            fake = emb["model" if name == spec.name else name]
            rows[f"{name} vs photos"] = {
                k: {"value": f(emb["photos"], fake),
                    "interval95": metrics.bootstrap_interval(f, emb["photos"], fake, n_boot=args.boot)}
                for k, f in STATS.items()}
        result["sets"][source] = {"n_images": n, "rows": rows}
        for label, row in rows.items():
            cells = []
            for k in STATS:
                v = row[k]
                cell = f"{v['value']:.2f}" if k != "kid_kit" else f"{v['value']:.1f}"
                if "interval95" in v:
                    lo, hi = v["interval95"]
                    cell += f" [{lo:.2f}, {hi:.2f}]" if k != "kid_kit" else f" [{lo:.1f}, {hi:.1f}]"
                cells.append(cell)
            lines.append(f"| {source} | {n if 'half' not in label else n // 2} | {label} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    write_json(result, OUT_DIR / "feature_metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
