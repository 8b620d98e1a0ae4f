"""Time to quality: validation PSNR and colorfulness of the ``pix2pix`` recipe on scenes8
against CPU-minutes of training, with the gray-input baseline (ab = 0) as a line.

The question (issue 3): how long does a student on a 2-core laptop wait before the model
beats its own gray input? The gray input is a strong baseline for PSNR: it has the exact
L and a zero chroma, and most pixels of natural photos are nearly gray, so a colorizer
beats it only once its colours are right more often than wrong.

The run is the ``pix2pix`` recipe (U-Net with ngf 64, 70x70 PatchGAN with ndf 64, vanilla
GAN + 100 L1, Adam 2e-4 / 0.5) trained by the kit's engine, with three changes stated in
the output: the size (default 64 px, what a laptop can afford), the batch (default 8), and
a constant learning rate (the recipe's linear decay would tie the curve to a planned end).
A hook on the engine validates every ``--eval-every`` steps with the task's own
``evaluate`` (the true L, the predicted ab; every scenes8 val image, centre crops) and
stops the run after ``--cpu-minutes`` of training CPU time. Validation time is not
counted. At the end the gray baseline is measured on the same crops by
:func:`lessons_lib.pipeline.evaluate_colorizer` (with the exported final model).

    python benchmarks/time_to_quality.py                   # 64 px, 10 CPU-minutes
    python benchmarks/time_to_quality.py --quick           # smoke check: 32 px, 6 steps, 16 val images

Writes ``benchmarks/out/time_to_quality.json`` and ``benchmarks/time_to_quality.png``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, ROOT, TrainClock, evaluate_run, headline, machine_info, machine_line, write_json

from lessons_lib.recipes import build_task, get_recipe
from lessons_lib.train import TrainingInterrupted, train


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="32 px, 6 steps, 16 val images: a smoke check")
    p.add_argument("--data", default="scenes8")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8, dest="batch_size")
    p.add_argument("--cpu-minutes", type=float, default=10.0, dest="cpu_minutes",
                   help="stop after this much training CPU time (process time, both threads)")
    p.add_argument("--max-steps", type=int, default=5000, dest="max_steps")
    p.add_argument("--eval-every", type=int, default=15, dest="eval_every")
    p.add_argument("--val-limit", type=int, default=None, dest="val_limit", help="validation images (default all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/out/time_to_quality.json; "
                   "time_to_quality_quick.json with --quick)")
    p.add_argument("--plot", default=str(ROOT / "benchmarks" / "time_to_quality.png"))
    p.add_argument("--replot", metavar="JSON", help="no training: print the table and redraw the plot of a "
                   "JSON this script wrote")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = str(OUT_DIR / ("time_to_quality_quick.json" if args.quick else "time_to_quality.json"))
    if args.replot:
        import json

        results = json.loads(Path(args.replot).read_text())
        results["summary"] = summarize(results)
        report(results)
        write_json(results, args.out)
        plot(results, args.plot)
        return 0
    if args.quick:
        args.size, args.cpu_minutes, args.max_steps, args.eval_every, args.val_limit = 32, 0.5, 6, 3, 16
        args.batch_size = 4
        args.plot = str(OUT_DIR / "time_to_quality_quick.png")

    info = machine_info()
    print(f"machine: {machine_line(info)}")
    recipe = get_recipe(
        "pix2pix", data=args.data, size=args.size, val_limit=args.val_limit, steps=args.max_steps,
        batch_size=args.batch_size, lr_schedule="constant", device="cpu", seed=args.seed, sample_every=-1,
        eval_every=-1, n_samples=0, log_every=10, ckpt_every=10**6, progress=False,
    )
    task = build_task(recipe)
    clock = TrainClock()
    curve: list[dict[str, Any]] = []
    budget_s = args.cpu_minutes * 60.0

    def validate(step: int) -> None:
        ds = task.dataset("val", False)
        loader = DataLoader(ds, batch_size=32, shuffle=False)
        nets = task.nets.values()
        for n in nets:
            n.eval()
        with torch.no_grad():
            m = task.evaluate(loader)
        for n in nets:
            n.train()
        row = {"step": step, "images": step * args.batch_size, "train_cpu_min": clock.cpu_s / 60,
               "train_wall_min": clock.wall_s / 60, "psnr": m["psnr"], "ssim": m["ssim"], "auc": m["auc"],
               "mae_ab": m["mae_ab_mean"], "colorfulness": m["colorfulness"],
               "colorfulness_gt": m["colorfulness_gt"], "colorfulness_gap": m["colorfulness_gap"]}
        curve.append(row)
        print(f"  step {step:5d}  cpu {row['train_cpu_min']:6.2f} min  wall {row['train_wall_min']:6.2f} min  "
              f"PSNR {row['psnr']:6.2f}  colorfulness {row['colorfulness']:6.2f} (gap {row['colorfulness_gap']:+6.2f})",
              flush=True)

    def hook(step: int, logs: dict[str, float]) -> None:
        clock.pause()
        stop = clock.cpu_s >= budget_s
        if step % args.eval_every == 0 or step == 1 or stop or step == args.max_steps:
            validate(step)
        if stop:
            raise KeyboardInterrupt  # the engine saves its checkpoint and stops cleanly
        if step < args.max_steps:
            clock.resume()  # (after the last step the clock stays paused: export is not training)

    with tempfile.TemporaryDirectory(prefix="ttq_") as tmp:
        clock.resume()
        try:
            model_path = train(task, recipe.train.replace(out=tmp, overwrite=True), hooks=[hook]).model_path
        except TrainingInterrupted:
            model_path = None
        # the gray baseline on the same crops (centre crops of every val image), and the final
        # model through the pipeline as a cross-check of the in-training numbers
        from lessons_lib.checkpoints import save_model

        if model_path is None:
            model_path = save_model(task.nets["G"], Path(tmp) / "final", {**task.describe(), "kind": "final"})
        ev = evaluate_run(model_path, args.data, "val", args.size, limit=args.val_limit)
    gray = headline(ev["gray_baseline"])
    final_pipeline = headline(ev["model"])

    results = {"machine": info, "recipe": "pix2pix", "data": args.data, "size": args.size,
               "batch_size": args.batch_size, "lr_schedule": "constant", "cpu_minutes_budget": args.cpu_minutes,
               "val_images": ev["n_images"], "curve": curve, "gray_baseline": gray,
               "gray_baseline_colorfulness_gt": ev["gray_baseline"]["colorfulness_gt"],
               "final_model_pipeline": final_pipeline}
    results["summary"] = summarize(results)
    report(results)
    write_json(results, args.out)
    plot(results, args.plot)
    return 0


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """When and by how much the model beats the gray input's PSNR."""
    curve, g = results["curve"], results["gray_baseline"]["psnr"]
    above = [r for r in curve if r["psnr"] > g]
    peak = max(curve, key=lambda r: r["psnr"])
    for_good = next((r for i, r in enumerate(curve) if all(q["psnr"] > g for q in curve[i:])), None)
    return {
        "gray_psnr": g,
        "validations": len(curve),
        "validations_above_gray": len(above),
        "peak": {k: peak[k] for k in ("step", "train_cpu_min", "train_wall_min", "psnr", "colorfulness_gap")},
        "peak_margin_db": peak["psnr"] - g,
        "above_gray_from": for_good and {k: for_good[k] for k in ("step", "train_cpu_min")},
        "final": {k: curve[-1][k] for k in ("step", "train_cpu_min", "psnr", "colorfulness", "colorfulness_gap")},
    }


def report(results: dict[str, Any]) -> None:
    curve, gray, sm = results["curve"], results["gray_baseline"], results["summary"]
    print(f"\npix2pix on {results['data']} at {results['size']} px, batch {results['batch_size']}, constant lr 2e-4; "
          f"validation: {results['val_images']} val images")
    print(f"{'step':>6} {'CPU min':>8} {'wall min':>8} {'PSNR':>7} {'SSIM':>6} {'AuC':>6} {'colorf.':>7} {'gap':>7}")
    for r in curve:
        print(f"{r['step']:6d} {r['train_cpu_min']:8.2f} {r['train_wall_min']:8.2f} {r['psnr']:7.2f} {r['ssim']:6.3f} "
              f"{r['auc']:6.3f} {r['colorfulness']:7.2f} {r['colorfulness_gap']:+7.2f}")
    print(f"gray input (ab = 0): PSNR {gray['psnr']:.2f}, SSIM {gray['ssim']:.3f}, AuC {gray['auc']:.3f}, "
          f"colorfulness {gray['colorfulness']:.2f} (ground truth {results['gray_baseline_colorfulness_gt']:.2f})")
    print(f"final model through lessons eval colorize: PSNR {results['final_model_pipeline']['psnr']:.2f}")
    pk = sm["peak"]
    print(f"above the gray PSNR at {sm['validations_above_gray']} of {sm['validations']} validations; best "
          f"{pk['psnr']:.2f} dB ({sm['peak_margin_db']:+.2f} dB) at step {pk['step']} ({pk['train_cpu_min']:.1f} CPU-min); "
          + (f"above it at every validation from step {sm['above_gray_from']['step']} "
             f"({sm['above_gray_from']['train_cpu_min']:.1f} CPU-min)" if sm["above_gray_from"]
             else "not above it at every validation from any point on"))


def plot(results: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve, gray = results["curve"], results["gray_baseline"]
    x = [r["train_cpu_min"] for r in curve]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.0, 3.0), dpi=100)
    a1.plot(x, [r["psnr"] for r in curve], "o-", ms=3, label="pix2pix (val)")
    a1.axhline(gray["psnr"], color="gray", ls="--", label="gray input (ab = 0)")
    a1.set_xlabel("training CPU-minutes (process time, 2 threads)")
    a1.set_ylabel("PSNR (dB)")
    a1.legend(fontsize=7)
    a2.plot(x, [r["colorfulness"] for r in curve], "o-", ms=3, label="pix2pix (val)")
    a2.axhline(results["gray_baseline_colorfulness_gt"], color="green", ls=":", label="ground truth")
    a2.axhline(gray["colorfulness"], color="gray", ls="--", label="gray input")
    a2.set_xlabel("training CPU-minutes")
    a2.set_ylabel("colorfulness (Hasler-Suesstrunk)")
    a2.legend(fontsize=7)
    fig.suptitle(f"pix2pix on {results['data']} at {results['size']} px, batch {results['batch_size']} "
                 f"({results['machine']['cpu']}, {results['machine']['cores']} cores)", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
