"""The seed 000 ablation ladder on scenes8: does the full model win?

Seed 000 (Wang & Joe, "Colorful Image Colorization using GAN with MLP") trains, on 1,000
Places365 images at 128 px, a ladder of colorizers - pix2pix, + LSGAN, + identity loss,
+ PatchGAN, + NIN-MLP PatchGAN (the full model) - and claims the full model colours best.
Here each step of the ladder is the kit's recipe (``seed000_pix2pix`` ... ``seed000_full``,
RGB, whole-image D first) trained by the one engine on the first 1,000 scenes8 training
images (``limit=1000``, the recipes' default) and evaluated on the first 100 scenes8 val
images (``lessons eval colorize``: the model at its size, the true L kept) with MAE, AuC,
PSNR, SSIM and the colorfulness gap; the gray input (ab = 0) is the baseline row.

Every rung gets the same budget - the same steps, size, batch, widths and seed(s) - stated
in the output with the CPU-minutes each took (rungs with the identity loss run G twice per
step, so they cost more CPU for the same steps). The seed's 100 epochs at 128 px with
64-channel nets are far beyond a shared 2-core CPU; the defaults here are 64 px,
16-channel G and D, batch 8, 60 steps (0.48 epoch of the 1,000 images).

    python benchmarks/ablation_seed000.py                     # the ladder, seed 0
    python benchmarks/ablation_seed000.py --seeds 0 1         # two seeds: mean and both values
    python benchmarks/ablation_seed000.py --quick             # smoke check: 32 px, 3 steps, 8-channel nets

Writes ``benchmarks/out/ablation_seed000.json``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, format_table, machine_info, machine_line, train_and_evaluate, write_json

LADDER = ("seed000_pix2pix", "seed000_lsgan", "seed000_identity", "seed000_patchgan", "seed000_full")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="32 px, 3 steps, 8-channel nets, 8 val images")
    p.add_argument("--data", default="scenes8")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=8, dest="batch_size")
    p.add_argument("--width", type=int, default=16, help="g_base and d_base (the seed: 64)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--val-limit", type=int, default=100, dest="val_limit", help="val images (the seed: 100)")
    p.add_argument("--recipes", nargs="+", default=list(LADDER), choices=LADDER)
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/out/ablation_seed000.json; "
                   "ablation_seed000_quick.json with --quick)")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = str(OUT_DIR / ("ablation_seed000_quick.json" if args.quick else "ablation_seed000.json"))
    if args.quick:
        args.size, args.steps, args.batch_size, args.width, args.val_limit = 32, 3, 4, 8, 8

    info = machine_info()
    print(f"machine: {machine_line(info)}")
    budget = {"data": args.data, "train_images": 1000, "size": args.size, "steps": args.steps,
              "batch_size": args.batch_size, "g_base": args.width, "d_base": args.width, "seeds": args.seeds,
              "val_images": args.val_limit, "lr_schedule": "constant (the recipes')"}
    print("budget: " + ", ".join(f"{k} {v}" for k, v in budget.items()))
    runs_dir = OUT_DIR / "runs" / ("quick" if args.quick else "")  # quick runs never overwrite real ones
    runs = []
    for seed in args.seeds:
        for name in args.recipes:
            r = train_and_evaluate(name, runs_dir / f"{name}_s{seed}", args.data, "val", args.size,
                                   eval_limit=args.val_limit, steps=args.steps, batch_size=args.batch_size,
                                   g_base=args.width, d_base=args.width, seed=seed, val_limit=args.val_limit)
            r["seed"] = seed
            runs.append(r)
            m = r["model"]
            print(f"  seed {seed} {name:18s} PSNR {m['psnr']:6.2f}  AuC {m['auc']:.4f}  gap {m['colorfulness_gap']:+6.2f}"
                  f"  {r['train_cpu_min']:5.2f} CPU-min  {r['train_wall_min']:5.2f} wall-min", flush=True)

    keys = list(runs[0]["model"])
    rows, extra = [], {}
    for name in args.recipes:
        mine = [r for r in runs if r["recipe"] == name]
        rows.append((name, {k: statistics.mean(r["model"][k] for r in mine) for k in keys}))
        extra[name] = {"CPU-min": f"{statistics.mean(r['train_cpu_min'] for r in mine):.2f}",
                       "final L1 (G)": f"{statistics.mean(r['final_losses'].get('G_l1', float('nan')) for r in mine):.4f}"}
        if len(mine) > 1:
            extra[name]["PSNR per seed"] = " / ".join(f"{r['model']['psnr']:.2f}" for r in mine)
    rows.append(("gray input (ab = 0)", runs[0]["gray_baseline"]))
    table = format_table(rows, extra)
    print(f"\nseed 000 ladder on {args.data}: {args.steps} steps x batch {args.batch_size} at {args.size} px, "
          f"width {args.width}, seeds {args.seeds}; means over seeds; {runs[0]['n_eval_images']} val images")
    print(table)
    ranked = sorted((n for n, _ in rows[:-1]), key=lambda n: -dict(rows)[n]["psnr"])
    print("ranking by PSNR: " + " > ".join(ranked))
    write_json({"machine": info, "budget": budget, "runs": runs, "table": table}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
