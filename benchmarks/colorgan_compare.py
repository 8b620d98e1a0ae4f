"""ColorGAN (seed 001) against pix2pix and seed 000's full model, and ColorGAN's diversity.

Seed 001 (Shafiq & Lee) reports PSNR / SSIM on PASCAL VOC (1,712 test images at 256 px,
300 epochs on 15,413): ChromaGAN 24.154 / 0.926, ColTran 23.839 / 0.868, ColorGAN
24.333 / 0.938. Here three of the kit's recipes - ``pix2pix``, ``seed000_full`` and
``colorgan`` - get the same data, size, widths, batch, steps and seed, train through the
one engine on scenes8 (1,542 photos) and are evaluated like ``lessons eval colorize`` (the
model at its size, the true L kept) on scenes8 val (101 photos) and on CBSD68 (68 photos,
never trained on), with PSNR and SSIM (the seed's metrics), raw-accuracy AuC and the
colorfulness gap; the gray input (ab = 0) is the baseline row. Each recipe keeps its own
losses and optimiser (pix2pix: vanilla GAN + 100 L1, Adam 2e-4, linear decay; seed 000:
RGB, LSGAN + L1 + identity, NIN-MLP PatchGAN, Adam 2e-4; ColorGAN: WGAN-GP + 100
perceptual + 10 L1 + L_s, Adam 1e-4 / 2e-4, constant).

Diversity (seed 001's "different noise draws give different colourings"): for each of the
first ``--div-images`` scenes8 val photos, 8 colourings from seeds 0..7; the mean pairwise
ab distance (Lab units, Euclidean per pixel, averaged over pixels and the 28 pairs) and the
PSNR of each colouring against the photo (how far each is from the mean PSNR). pix2pix in
eval mode has no noise: its distance is 0 by construction (printed as the reference).

The seed's budget (300 epochs at 256 px) is far beyond the shared 2-core CPU: the defaults
are 64 px, 16-channel G and D (seed 000's ablation budget), batch 8, 300 steps (2,400
images, 1.6 epochs) - minutes per model, stated in the output with the CPU time.

    python benchmarks/colorgan_compare.py             # the comparison (needs the scenes8 and cbsd68 packs)
    python benchmarks/colorgan_compare.py --quick     # smoke check: 32 px, 3 steps, 8-channel nets
    python benchmarks/colorgan_compare.py --models --variants noise_std=1.0 lambda_s=0 \
        --out benchmarks/out/colorgan_variants.json  # what drives the diversity: two ColorGAN variants

Writes ``benchmarks/out/colorgan_compare.json``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (OUT_DIR, evaluate_run, format_table, headline, machine_info, machine_line,  # noqa: E402
                     train_and_evaluate, write_json)

MODELS = ("pix2pix", "seed000_full", "colorgan")
SEED_TABLE = {"ChromaGAN": (24.154, 0.926), "ColTran": (23.839, 0.868), "ColorGAN": (24.333, 0.938)}


def diversity(model_path: str, data: str, size: int, n_images: int, seeds: int = 8) -> dict[str, Any]:
    """Mean pairwise ab distance between ``seeds`` colourings of each image, and the PSNR
    of each colouring against the photo (:meth:`lessons_lib.pipeline.Colorizer.diversity`)."""
    from lessons_lib.color import AB_SCALE
    from lessons_lib.data import lab_batch, make_loader
    from lessons_lib.pipeline import Colorizer

    col = Colorizer(model_path, device="cpu")
    batch = next(iter(make_loader(data, size, n_images, split="val", train=False, drop_last=False,
                                  limit=n_images)))            # (N, 3, S, S) uint8, centre crops
    L, ab_true = lab_batch(batch, "cpu", "lab")
    d = col.diversity(L, truth=batch.float() / 255.0, seeds=range(seeds))
    ab_0 = col.predict_ab(L, seed=0) * AB_SCALE                                  # (N, 2, S, S) Lab units
    per_image = []
    for i in range(L.shape[0]):
        ps = d["psnr"][i]
        per_image.append({"mean_pairwise_ab": d["per_image"][i], "psnr_per_seed": ps,
                          "psnr_mean": statistics.mean(ps), "max_psnr_dev_db": d["psnr_dev_db"][i],
                          # scales to read the distance against: the chroma of seed 0's colouring
                          # and its ab error to the photo, both Lab units averaged over pixels
                          "ab_chroma_seed0": float(ab_0[i].norm(dim=0).mean()),
                          "ab_error_seed0": float((ab_0[i] - ab_true[i] * AB_SCALE).norm(dim=0).mean())})
    return {
        "seeds": seeds,
        "n_images": len(per_image),
        "first_image": per_image[0],
        "mean_pairwise_ab": d["mean_pairwise_ab"],
        "max_psnr_dev_db": d["max_psnr_dev_db"],
        "images_within_1db": sum(p["max_psnr_dev_db"] <= 1.0 for p in per_image),
        "ab_chroma_seed0": statistics.mean(p["ab_chroma_seed0"] for p in per_image),
        "ab_error_seed0": statistics.mean(p["ab_error_seed0"] for p in per_image),
        "per_image": per_image,
    }


def parse_variant(item: str) -> dict[str, Any]:
    """``"lambda_ms=0.3,noise_init=kaiming"`` -> ``{"lambda_ms": 0.3, "noise_init": "kaiming"}``
    (values are JSON; a bare word is a string)."""
    out: dict[str, Any] = {}
    for part in item.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise SystemExit(f"--variants: expected KEY=VALUE[,KEY=VALUE...], got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="32 px, 3 steps, 8-channel nets, 8 eval images")
    p.add_argument("--data", default="scenes8")
    p.add_argument("--test", default="cbsd68", help="a second evaluation set (its 'test' split)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=8, dest="batch_size")
    p.add_argument("--width", type=int, default=16, help="g_base and d_base")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-limit", type=int, default=None, dest="eval_limit", help="images per evaluation set")
    p.add_argument("--div-images", type=int, default=16, dest="div_images")
    p.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    p.add_argument("--variants", nargs="*", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                   help="extra colorgan runs, one per item of overrides (e.g. noise_std=1.0 "
                        "lambda_ms=0.3,noise_init=kaiming)")
    p.add_argument("--out", default=str(OUT_DIR / "colorgan_compare.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.steps, args.batch_size, args.width, args.eval_limit, args.div_images = 32, 3, 4, 8, 8, 2

    from lessons_lib.metrics import load_feature_net

    info = machine_info()
    print(f"machine: {machine_line(info)}")
    budget = {"data": args.data, "train_images": "all (limit=None)", "size": args.size, "steps": args.steps,
              "batch_size": args.batch_size, "images_seen": args.steps * args.batch_size, "g_base": args.width,
              "d_base": args.width, "seed": args.seed, "eval": f"{args.data} val + {args.test} test"}
    print("budget: " + ", ".join(f"{k} {v}" for k, v in budget.items()))
    features = load_feature_net("vgg16").description
    print(f"ColorGAN's perceptual features: {features}")
    runs: dict[str, dict[str, Any]] = {}
    jobs = [(name, name, {}) for name in args.models]
    for item in args.variants:
        jobs.append((f"colorgan {item}", "colorgan", parse_variant(item)))
    for label, name, override in jobs:
        extra: dict[str, Any] = dict(steps=args.steps, batch_size=args.batch_size, g_base=args.width,
                                     d_base=args.width, seed=args.seed, limit=None, val_limit=args.eval_limit)
        extra.update(override)                             # a variant may change any of them (steps=1500)
        folder = label.replace(" ", "_").replace("=", "-").replace(",", "_")
        r = train_and_evaluate(name, OUT_DIR / "runs" / f"cgcmp_{folder}", args.data, "val", args.size,
                               eval_limit=args.eval_limit, **extra)
        ev = evaluate_run(r["model_path"], args.test, "test", args.size, limit=args.eval_limit)
        r["test_model"], r["test_gray"], r["n_test_images"] = headline(ev["model"]), headline(ev["gray_baseline"]), \
            ev["n_images"]
        if name in ("colorgan", "pix2pix"):
            r["diversity"] = diversity(r["model_path"], args.data, args.size, args.div_images)
        runs[label] = r
        m, t = r["model"], r["test_model"]
        print(f"  {label:13s} {args.data} PSNR {m['psnr']:6.2f} SSIM {m['ssim']:.4f} | {args.test} PSNR {t['psnr']:6.2f} "
              f"SSIM {t['ssim']:.4f} | {r['train_cpu_min']:5.2f} CPU-min {r['train_wall_min']:5.2f} wall-min",
              flush=True)

    tables = {}
    for key, gray, label, n in (("model", "gray_baseline", args.data + " val", "n_eval_images"),
                                ("test_model", "test_gray", args.test, "n_test_images")):
        rows = [(name, r[key]) for name, r in runs.items()]
        rows.append(("gray input (ab = 0)", next(iter(runs.values()))[gray]))
        extra_cols = {name: {"CPU-min": f"{r['train_cpu_min']:.2f}"} for name, r in runs.items()}
        tables[label] = format_table(rows, extra_cols)
        print(f"\n{label} ({next(iter(runs.values()))[n]} images, {args.size} px):")
        print(tables[label])
    print("\nseed 001, Table 1 (PASCAL VOC, 256 px, 300 epochs): "
          + "; ".join(f"{k} {v[0]:.3f} / {v[1]:.3f}" for k, v in SEED_TABLE.items()))
    for name in runs:
        if "diversity" in runs[name]:
            d = runs[name]["diversity"]
            print(f"diversity {name}: mean pairwise ab distance {d['mean_pairwise_ab']:.4g} Lab units over "
                  f"{d['n_images']} images x {d['seeds']} seeds (first image {d['first_image']['mean_pairwise_ab']:.4g}); "
                  f"largest PSNR deviation from an image's mean {d['max_psnr_dev_db']:.3f} dB; "
                  f"{d['images_within_1db']}/{d['n_images']} images with every seed within 1 dB; for scale: chroma "
                  f"{d['ab_chroma_seed0']:.2f}, ab error to the photo {d['ab_error_seed0']:.2f}")
    write_json({"machine": info, "budget": budget, "perceptual_features": features, "seed_table": SEED_TABLE,
                "runs": runs, "tables": tables}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
