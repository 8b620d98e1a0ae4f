"""Held-out quality against CPU-hours: the practical colorizer (NoGAN) and any other run, on one plot.

    python benchmarks/colorizer_curve.py                                   # the shipped nogan's card
    python benchmarks/colorizer_curve.py --run pix2pix=runs/pix2pix_budget # + a run on the same data

Each curve is a run's own validation rows (``val_metrics.csv``: PSNR, SSIM, colourfulness
and the ``cpu_s`` the engine records at each validation, over all resumes). The shipped
``nogan`` model's card carries its curve over both of its stages (``training.curve``: L1
pre-training, then the critic warm-up and GAN phase, CPU time added up), with the step the
selection rule chose marked. A run passed with ``--run LABEL=DIR`` is read from its folder;
to be on the same axes it must validate on the same images at the same size (for the
comparison in RESULTS.md: ``lessons train pix2pix --data scenes8+flowers5+imagenet1k --size 64
--set g_base=32 --batch-size 32 --set eval_every=1000`` - the pix2pix recipe on NoGAN's data,
size and width). The gray input (ab = 0) on the same validation images is drawn as a line.

Writes ``benchmarks/colorizer_curve.png`` and ``benchmarks/out/colorizer_curve.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from _common import OUT_DIR, ROOT, write_json

import torch

from lessons_lib import zoo


def gray_baseline(data: str, size: int, limit: int | None = None) -> dict[str, float]:
    """PSNR, SSIM and colourfulness of the gray input (ab = 0) and the photos' colourfulness
    on ``data``'s val split at ``size`` (the engine's validation images: centre crops)."""
    from lessons_lib.color import lab_normalized_to_rgb
    from lessons_lib.data import lab_batch, make_loader
    from lessons_lib.metrics import colorfulness, psnr, ssim

    sums = {"psnr": 0.0, "ssim": 0.0, "colorfulness": 0.0, "photos_colorfulness": 0.0}
    n = 0
    for batch in make_loader(data, size, 64, split="val", train=False, drop_last=False, limit=limit):
        L, _ = lab_batch(batch, "cpu", "lab")
        truth = batch.float() / 255.0
        gray = lab_normalized_to_rgb(L, torch.zeros_like(L).expand(-1, 2, -1, -1))
        b = len(batch)
        sums["psnr"] += float(psnr(gray, truth)) * b
        sums["ssim"] += float(ssim(gray, truth)) * b
        sums["colorfulness"] += float(colorfulness(gray)) * b
        sums["photos_colorfulness"] += float(colorfulness(truth)) * b
        n += b
    return {k: v / n for k, v in sums.items()} | {"n_images": n}


def nogan_curve(card_path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    card = json.loads(card_path.read_text())
    training = card["shipped"]["training"]
    return training["curve"], training.get("selection") or {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--card", default=str(zoo.WEIGHTS_DIR / "nogan.json"), help="the shipped NoGAN model's card")
    ap.add_argument("--run", action="append", default=[], help="LABEL=RUN_DIR: another run's validation curve")
    ap.add_argument("--gan-run", action="append", default=[],
                    help="LABEL=RUN_DIR: another GAN phase from the same warm start (drawn after phase 1's CPU time)")
    ap.add_argument("--png", default=str(ROOT / "benchmarks" / "colorizer_curve.png"))
    ap.add_argument("--out", default=str(OUT_DIR / "colorizer_curve.json"))
    args = ap.parse_args(argv)

    card = json.loads(Path(args.card).read_text())
    data, size = card["data"], card["size"]
    curves: dict[str, list[dict[str, Any]]] = {}
    curve, selection = nogan_curve(Path(args.card))
    curves["nogan (shipped)"] = curve
    warm_s = 3600 * max((r["cpu_h"] for r in curve if r.get("stage") == "nogan_pretrain"), default=0.0)
    for item, offset in [(i, 0.0) for i in args.run] + [(i, warm_s) for i in args.gan_run]:
        label, _, folder = item.partition("=")
        if not folder:
            ap.error(f"--run and --gan-run take LABEL=RUN_DIR, got {item!r}")
        curves[label] = zoo.training_curve(folder, cpu_offset_s=offset)
        if not curves[label]:
            ap.error(f"{folder} has no val_metrics.csv with cpu_s (train it with eval_every > 0)")
    gray = gray_baseline(data, size)
    print(f"validation: {data} val at {size} px ({gray['n_images']} images); gray input PSNR {gray['psnr']:.2f}, "
          f"SSIM {gray['ssim']:.3f}; photos' colourfulness {gray['photos_colorfulness']:.1f}")
    print(f"{'curve':22} {'CPU-h':>6} {'step':>6} {'PSNR':>6} {'vs gray':>8} {'SSIM':>6} {'colourf.':>8} {'% photos':>8}")
    for label, rows in curves.items():
        for r in rows:
            print(f"{label:22} {r['cpu_h']:6.2f} {r['step']:6d} {r['psnr']:6.2f} {r['psnr'] - gray['psnr']:+8.2f} "
                  f"{r['ssim']:6.3f} {r['colorfulness']:8.1f} {100 * r['colorfulness'] / gray['photos_colorfulness']:7.0f}%")
    ttq = None
    if selection:
        print(f"shipped: step {selection.get('step')} of the GAN phase - {selection.get('rule')}")
        gan = [r for r in curve if r.get("stage") == "nogan"]
        reached = next((r for r in gan if r["colorfulness"] >= selection["colorfulness"] - 1e-9), None)
        if gan and reached:
            # from the warm start (the GAN phase's step 0 = the shipped nogan_warm) to the shipped colour
            ttq = {"step": reached["step"], "cpu_min": round(60 * (reached["cpu_h"] - gan[0]["cpu_h"]), 1),
                   "colorfulness": reached["colorfulness"], "warm_start_colorfulness": gan[0]["colorfulness"]}
            print(f"time to quality from the warm start: {ttq['cpu_min']} CPU-minutes (step {ttq['step']}): "
                  f"colourfulness {ttq['warm_start_colorfulness']:.1f} -> {ttq['colorfulness']:.1f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, key, title in zip(axes, ("psnr", "ssim", "colorfulness"), ("PSNR (dB)", "SSIM", "colourfulness")):
        for label, rows in curves.items():
            ax.plot([r["cpu_h"] for r in rows], [r[key] for r in rows], marker=".", label=label)
        ax.axhline(gray[key], color="gray", ls="--", label="gray input")
        if key == "colorfulness":
            ax.axhline(gray["photos_colorfulness"], color="k", ls=":", label="the photos")
            ax.axhline(0.6 * gray["photos_colorfulness"], color="tab:red", ls=":", lw=1, label="60% of the photos")
        if selection and curve:
            pick = next((r for r in curve if r.get("stage") == "nogan" and r["step"] == selection.get("step")), None)
            if pick:
                ax.plot([pick["cpu_h"]], [pick[key]], "r*", ms=12, label="shipped (rule)")
        ax.set_xlabel("CPU-hours (process time of all its threads)")
        ax.set_title(f"{title}, {data} val, {size} px")
    axes[0].legend(fontsize=8)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.png, dpi=90)
    print(f"wrote {args.png}")
    write_json({"data": data, "size": size, "gray": gray, "curves": curves, "selection": selection,
                "time_to_quality_from_warm_start": ttq}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
