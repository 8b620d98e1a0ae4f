"""The colour-fidelity frontier of the shipped NoGAN colorizers: what a chroma gain buys.

    python benchmarks/colour_frontier.py [--gains 1,1.2,1.4,1.6] [--models nogan,nogan_warm]

A colorizer trained with L1 paints the median of the plausible colours: too timid. Two
ways to add colour are measured on the same held-out photos: the GAN phase (``nogan``
against its warm start ``nogan_warm``) and a plain gain on the predicted ab
(``Colorizer(chroma=g)``, ``lessons colorize --chroma g``). For each model, gain and
held-out set (the default colorizer's: scenes8 val, imagenet1k val, all of cbsd68; 160 px,
colorized as ``lessons colorize`` does) it prints PSNR against the gray input and the
colourfulness as a share of the photos', and marks the cells that meet issue 11's target
(at least +0.5 dB and 60 %). Writes ``benchmarks/out/colour_frontier.json``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, machine_info, machine_line, write_json  # noqa: E402

from lessons_lib import zoo  # noqa: E402
from lessons_lib.pipeline import Colorizer, evaluate_colorizer  # noqa: E402

PSNR_TARGET_DB = 0.5
COLOUR_TARGET = 0.60


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gains", default="1,1.2,1.4,1.6", help="chroma gains, comma-separated")
    ap.add_argument("--models", default="nogan,nogan_warm", help="shipped colorizers, comma-separated")
    ap.add_argument("--size", type=int, default=None, help="evaluation size (default: the default colorizer's)")
    args = ap.parse_args(argv)
    gains = [float(g) for g in args.gains.split(",")]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    spec = zoo.SPECS[zoo.default_model("colorization")]
    size = args.size or spec.size
    info = machine_info()
    rows: list[dict[str, Any]] = []
    for source in spec.eval_data:
        split = zoo.heldout_split(source)
        gray = None                                    # the gray input, scored once per set
        for name in models:
            for g in gains:
                res = evaluate_colorizer(Colorizer(zoo.model_path(name), device="cpu", chroma=g), source, split,
                                         size=size, baseline=gray is None)
                m, gray = res["model"], gray or res["gray_baseline"]
                rows.append({"set": f"{source} {split}", "n_images": res["n_images"], "model": name, "chroma": g,
                             "psnr": m["psnr"], "psnr_vs_gray": m["psnr"] - gray["psnr"], "ssim": m["ssim"],
                             "colorfulness": m["colorfulness"],
                             "colour_share": m["colorfulness"] / m["colorfulness_gt"]})
    lines = [machine_line(info), "", f"Held-out photos at {size} px; target: >= +{PSNR_TARGET_DB} dB over gray and "
             f">= {COLOUR_TARGET:.0%} of the photos' colourfulness (both: **)", "",
             "| set | model | chroma | PSNR vs gray | SSIM | colourfulness | % of photos |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        both = r["psnr_vs_gray"] >= PSNR_TARGET_DB and r["colour_share"] >= COLOUR_TARGET
        lines.append(f"| {r['set']} ({r['n_images']}) | {r['model']} | {r['chroma']:g} | {r['psnr_vs_gray']:+.2f} | "
                     f"{r['ssim']:.3f} | {r['colorfulness']:.1f} | {100 * r['colour_share']:.0f}%{' **' if both else ''} |")
    print("\n".join(lines))
    write_json({"machine": info, "size": size, "rows": rows}, OUT_DIR / "colour_frontier.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
