"""Issue 23: does DiffAugment keep D from memorising the kit's GAN phase's training photos?

    python benchmarks/diffaugment.py [--data scenes8] [--stride 32] [--train-images 48]
                                     [--steps 150] [--d-warmup 30] [--batch 16] [--seeds 0]
                                     [--out FILE]

The kit's GAN phase is the ``nogan`` recipe (a warm-started U-Net G, a 32-channel PatchGAN
that warms up alone, then the GAN term at 0.2 against L1 100), here on a small subset:
every ``--stride``-th photo of the pack's training split (all its classes), the first
``--train-images`` of them, 64 px, started from the shipped ``nogan_warm`` generator. The
same run is made twice per seed, without and with DiffAugment (Zhao et al. 2020: colour,
translation, cutout on real and fake, in D's and G's steps; the recipe option
``diffaugment``), and after it:

* **D's overfitting gap**: D's mean logit on its training photos minus on the held-out
  photos of the pack's val split (same classes, never trained on), D in eval mode, photos
  centre-cropped and not augmented (``lessons_lib.train.diffaugment.d_overfitting_gap``);
  0 = D finds both equally real; the larger, the more D has memorised (with its standard
  error over the photos: a gap within two of them is not evidence);
* what the run gives a user: validation PSNR and colourfulness of G on the held-out photos.

Prints a table and writes ``benchmarks/out/diffaugment.json``. Needs the pack (``../shared/data``
or ``LESSONS_DATA``). The defaults: 48 photos seen 50 times each by D (150 steps of 16).
"""
from __future__ import annotations

import argparse
import time

from _common import OUT_DIR, ROOT, machine_info, machine_line, write_json

POLICY = "color,translation,cutout"


def one_run(args, seed: int, policy: str, out_dir) -> dict:
    import torch

    from lessons_lib.recipes import build_task, get_recipe
    from lessons_lib.train import train
    from lessons_lib.train.diffaugment import d_overfitting_gap

    recipe = get_recipe(
        "nogan", data=args.data, train_stride=args.stride, limit=args.train_images, val_limit=args.heldout,
        init_g=str(ROOT / "lessons_lib" / "weights" / "nogan_warm.safetensors"), diffaugment=policy,
        d_pretrain_steps=args.d_warmup, select_psnr_tolerance=None, steps=args.steps, batch_size=args.batch,
        seed=seed, out=str(out_dir), overwrite=True, progress=False, sample_every=-1, eval_every=-1,
        keep_evals=False, n_samples=0, ckpt_every=10**6, device="cpu", num_workers=0)
    task = build_task(recipe)
    if args.measure_only:                     # the runs' last checkpoints, measured again
        from lessons_lib.train import load_checkpoint

        ckpt = load_checkpoint(out_dir / "checkpoint.pt")
        task.setup(torch.device("cpu"))
        for k, state in ckpt["nets"].items():
            task.nets[k].load_state_dict(state)
        steps, epochs, cpu, wall, losses = ckpt["step"], None, ckpt.get("cpu_s", 0.0), ckpt.get("wall_s", 0.0), {}
    else:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = train(task, recipe.train, command=f"benchmarks/diffaugment.py seed {seed} diffaugment={policy!r}")
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        steps, epochs, losses = result.steps, result.epochs, result.losses
    gap = d_overfitting_gap(task)
    task.nets["G"].eval()                     # G as it is shipped: BatchNorm's running statistics, no dropout
    with torch.no_grad():
        ev = task.evaluate(torch.utils.data.DataLoader(task.dataset("val", False), batch_size=50))
    return {"seed": seed, "diffaugment": policy, "steps": steps, "epochs": epochs,
            "train_cpu_min": cpu / 60, "train_wall_min": wall / 60, **gap,
            "val_psnr": ev["psnr"], "val_colorfulness": ev["colorfulness"], "final_losses": losses}


def table(rows: list[dict]) -> str:
    lines = ["| seed | DiffAugment | D logit on training photos | on held-out photos | gap (logit) +- SE "
             "| gap (prob) | val PSNR | val colourfulness | CPU-min |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['diffaugment'] or 'off'} | {r['train_logit']:+.3f} | {r['heldout_logit']:+.3f} "
                     f"| {r['gap']:+.3f} +- {r['gap_se']:.3f} | {r['gap_prob']:+.4f} | {r['val_psnr']:.2f} "
                     f"| {r['val_colorfulness']:.1f} | {r['train_cpu_min']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="scenes8")
    ap.add_argument("--stride", type=int, default=32, help="every k-th training photo (all classes)")
    ap.add_argument("--train-images", type=int, default=48)
    ap.add_argument("--heldout", type=int, default=None, help="held-out photos (default: the whole val split)")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--d-warmup", type=int, default=30, help="steps of D alone first (nogan: 300)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--out", default=str(OUT_DIR / "diffaugment.json"))
    ap.add_argument("--measure-only", action="store_true",
                    help="measure the runs' last checkpoints again (benchmarks/out/diffaugment_runs) without training")
    args = ap.parse_args()
    info = machine_info()
    print(machine_line(info))
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for policy in ("", POLICY):
            row = one_run(args, seed, policy, OUT_DIR / "diffaugment_runs" / f"s{seed}_{'da' if policy else 'plain'}")
            rows.append(row)
            print(f"seed {seed}, DiffAugment {policy or 'off'}: gap {row['gap']:+.3f} logit "
                  f"(train {row['train_logit']:+.3f}, held-out {row['heldout_logit']:+.3f}), "
                  f"PSNR {row['val_psnr']:.2f}, {row['train_cpu_min']:.1f} CPU-min", flush=True)
    print()
    print(table(rows))
    plain = [r["gap"] for r in rows if not r["diffaugment"]]
    aug = [r["gap"] for r in rows if r["diffaugment"]]
    summary = {"mean_gap_off": sum(plain) / len(plain), "mean_gap_on": sum(aug) / len(aug)}
    print(f"\nmean gap: off {summary['mean_gap_off']:+.3f}, DiffAugment {summary['mean_gap_on']:+.3f} (logit)")
    write_json({"machine": info, "args": vars(args), "policy": POLICY, "rows": rows, "summary": summary}, args.out)


if __name__ == "__main__":
    main()
