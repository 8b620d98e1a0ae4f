"""Seed 003's study on CIFAR-10: U-Net against GAN(U-Net), with and without LeakyReLU + BatchNorm,
measured with the metrics the seed's authors said they lacked (MAE, AuC, PSNR).

Seed 003 (a course project, "Colorization Black & White image using GAN") trains four
colorizers on CIFAR-10 (32x32, RGB) for 15 epochs and compares them by eye. The kit's
recipes ``seed003_unet``, ``seed003_unet_bn``, ``seed003_gan`` and ``seed003_gan_bn`` are
trained here by the one engine on the CIFAR-10 training split (shuffled over all 50,000
images) and evaluated with ``lessons eval colorize`` (the model at 32 px, the true L kept)
on a class-balanced subset of the test split (every 10th image: 100 per class by default),
next to the gray input (ab = 0).

15 epochs (11,700 steps of 64) are out of reach on a shared 2-core CPU: the default budget
is 50 steps of batch 32 (1,600 images, 0.032 epoch) with 16-channel nets (the recipes: 64),
the same for all four, one seed; the output states it with the CPU-minutes each took.

    python benchmarks/study_seed003.py
    python benchmarks/study_seed003.py --quick        # smoke check: 3 steps, 8-channel nets, 50 test images

Writes ``benchmarks/out/study_seed003.json``. Needs the CIFAR-10 files (torchvision's, or
the course pack ``cifar10.zip`` in the data folder).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, format_table, machine_info, machine_line, strided_source, train_and_evaluate, write_json

VARIANTS = ("seed003_unet", "seed003_unet_bn", "seed003_gan", "seed003_gan_bn")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 steps of batch 8, 8-channel nets, 50 test images")
    p.add_argument("--data", default="cifar10")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32, dest="batch_size")
    p.add_argument("--width", type=int, default=16, help="g_base and d_base (the recipes: 64)")
    p.add_argument("--test-stride", type=int, default=10, dest="test_stride",
                   help="evaluate every N-th test image (10: 1,000 images, 100 per class)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recipes", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/out/study_seed003.json; "
                   "study_seed003_quick.json with --quick)")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = str(OUT_DIR / ("study_seed003_quick.json" if args.quick else "study_seed003.json"))
    if args.quick:
        args.steps, args.batch_size, args.width, args.test_stride = 3, 8, 8, 200

    info = machine_info()
    print(f"machine: {machine_line(info)}")
    test = strided_source(args.data, "test", args.test_stride)
    budget = {"data": args.data, "size": 32, "steps": args.steps, "batch_size": args.batch_size,
              "images_seen": args.steps * args.batch_size, "epochs": round(args.steps * args.batch_size / 50000, 3),
              "g_base": args.width, "d_base": args.width, "seed": args.seed, "test_images": len(test),
              "test_subset": f"every {args.test_stride}th test image"}
    print("budget: " + ", ".join(f"{k} {v}" for k, v in budget.items()))
    runs_dir = OUT_DIR / "runs" / ("quick" if args.quick else "")  # quick runs never overwrite real ones
    runs = []
    for name in args.recipes:
        r = train_and_evaluate(name, runs_dir / name, test, "test", 32, steps=args.steps,
                               batch_size=args.batch_size, g_base=args.width, d_base=args.width, seed=args.seed,
                               data=args.data, val_limit=64)
        runs.append(r)
        m = r["model"]
        print(f"  {name:16s} MAE {m['mae_rgb']:6.2f}  AuC {m['auc']:.4f}  PSNR {m['psnr']:6.2f}"
              f"  {r['train_cpu_min']:5.2f} CPU-min  {r['train_wall_min']:5.2f} wall-min", flush=True)
    rows = [(r["recipe"], r["model"]) for r in runs] + [("gray input (ab = 0)", runs[0]["gray_baseline"])]
    extra = {r["recipe"]: {"CPU-min": f"{r['train_cpu_min']:.2f}",
                           "final L1 (G)": f"{r['final_losses'].get('G_l1', float('nan')):.4f}"} for r in runs}
    table = format_table(rows, extra)
    print(f"\nseed 003 on CIFAR-10: {args.steps} steps x batch {args.batch_size} at 32 px "
          f"({budget['epochs']} epoch), width {args.width}, seed {args.seed}; {len(test)} test images")
    print(table)
    write_json({"machine": info, "budget": budget, "runs": runs, "table": table}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
