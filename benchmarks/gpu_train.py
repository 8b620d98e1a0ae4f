"""Train every shipped model on one GPU in about ten minutes, and say how well the GPU was used.

    python benchmarks/gpu_train.py                      # cuda, 10 minutes in all, weights to runs/gpu/weights
    python benchmarks/gpu_train.py --ship-to lessons_lib/weights   # replace the shipped weights
    python benchmarks/gpu_train.py --quick --device cpu # the CI check: tiny nets, synthetic data, 2 steps
    python benchmarks/gpu_train.py --only classes --minutes 8   # the colour-class head (issue 25) alone

For each shipped model (:data:`lessons_lib.zoo.SPECS`) and each of its stages the script

1. builds the stage's recipe with the spec's options and the GPU plan below (:data:`GPU_PLAN`:
   128-256 px colorizers with the seeds' widths, larger batches);
2. **counts the FLOPs of one training step** (forward and backward of every phase) with
   ``torch.utils.flop_counter.FlopCounterMode`` on a one-step run;
3. **calibrates**: times ``--calib-steps`` steps (the first few are warm-up, not counted)
   and sets the stage's length so that it fills its share of ``--minutes``;
4. trains it through the one engine (``run_recipe``, bf16 autocast and channels_last on
   CUDA) into ``--runs/NAME[/STAGE]``, the same layout ``lessons models train`` uses, so
   :func:`lessons_lib.zoo.ship` can score and store it.

It prints a table per stage - steps, images/s, TFLOP/s achieved, and the **MFU** (model
FLOPs utilisation: achieved FLOP/s over the GPU's dense bf16 peak, :data:`PEAK_BF16_TFLOPS`,
or ``--peak-tflops``) - and writes it to ``benchmarks/out/gpu_train.json``. The FLOPs are
the step's own (no optimiser, no data loading), so the MFU is the honest fraction of the
peak that went into the networks; the loader, Lab conversion, validation and the small
nets' kernel launches are what the rest was spent on.

The colour-class model of issue 25 (``classes``) ships like the others: its run keeps the
model its recipe's rule chose on the select set (``RUN/selected.safetensors``), which
:func:`lessons_lib.zoo.ship` stores. With ``--only`` the selected stages share all of
``--minutes`` (their shares are rescaled to sum to 1).

The restorer's faces (celeba10k, 89 x 109 px) stay at 64 px: a larger size would only
upscale them. On the CPU (``--device cpu``) the MFU column is left empty.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from _common import OUT_DIR, machine_info, machine_line, write_json

import torch

from lessons_lib import shipping, zoo
from lessons_lib.recipes import apply_overrides, get_recipe, run_recipe

#: Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from the vendors' data sheets; the
#: first name found in ``torch.cuda.get_device_name()`` wins.
PEAK_BF16_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "L4": 121.0,
                    "A10": 125.0, "RTX 4090": 165.2, "RTX 3090": 71.0, "V100": 125.0, "T4": 65.0}

#: What changes on a GPU (sizes, widths, batches), per model and stage; everything else is
#: the shipped spec's. ``share``: the stage's part of the time budget (rescaled so that the
#: models of one run share all of ``--minutes``).
GPU_PLAN: dict[str, dict[str, dict[str, Any]]] = {
    "nogan": {
        "nogan_pretrain": dict(size=128, g_base=32, batch_size=64, eval_every=0, share=0.17),
        "nogan": dict(size=128, g_base=32, batch_size=64, eval_every=50, d_pretrain_steps=100, share=0.07),
    },
    "pix2pix": {"pix2pix": dict(size=256, g_base=64, d_base=64, batch_size=16, share=0.14)},
    "seed000_full": {"seed000_full": dict(size=128, g_base=64, d_base=64, batch_size=16, share=0.08)},
    "colorgan": {"colorgan": dict(size=128, g_base=64, d_base=64, batch_size=16, share=0.14)},
    "restorer": {
        "nafnet": dict(batch_size=32, width=32, share=0.12),
        "stylegan2": dict(batch_size=32, share=0.12),
        "inversion": dict(batch_size=16, share=0.08),
        "fusion": dict(batch_size=16, share=0.06),
    },
}

#: The colour-class head at 128 px starts afresh (nogan_warm is a 64-px U-Net, one level
#: shallower), or from this run's nogan_pretrain when ``--only nogan,classes`` trained it first.
GPU_PLAN["classes"] = {"classes": dict(size=128, g_base=32, batch_size=64, eval_every=100, share=0.15)}

_FIXED = dict(progress=False, sample_every=0, ckpt_every=10**6)


def _gan_from_the_start(recipe) -> dict[str, Any]:
    """Probes measure the GAN step, not NoGAN's cheaper D-only warm-up steps."""
    return {"d_pretrain_steps": 0} if getattr(recipe, "d_pretrain_steps", 0) else {}


def peak_tflops(device: torch.device, given: float | None) -> float | None:
    if given is not None:
        return given
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def _stages(name: str) -> dict[str, dict[str, Any]]:
    """A model's stages and their recipe options: the zoo spec's."""
    return zoo.SPECS[name].stages


def _warm_start(name: str, runs: Path, quick: bool) -> dict[str, Any]:
    """The class head's init_g: this run's nogan_pretrain when it trained first, else none."""
    if name != "classes":
        return {}
    pre = runs / "nogan" / "nogan_pretrain" / "model.safetensors"
    return {"init_g": str(pre) if pre.is_file() and not quick else None}


def _recipe(name: str, stage: str, root: Path, opts: dict[str, Any], plan: dict[str, Any], device: str,
            quick: bool, **extra: Any):
    multi = len(_stages(name)) > 1
    out = root / stage if multi else root
    refs = shipping.stage_refs(stage, root) if multi else {}
    common = dict(out=str(out), device=device, **refs, **_FIXED, **extra)
    if quick:
        return apply_overrides(get_recipe(stage).smoke(), **common)
    plan = {k: v for k, v in plan.items() if k != "share"}
    return get_recipe(stage, **{**opts, **plan, **common})


#: Gradient penalties differentiate a gradient (double backward), which PyTorch's FLOP
#: counter cannot follow; their FLOPs are left out of the count (the MFU is then a lower bound).
_PENALTIES = {"lambda_gp": 0.0, "r1_gamma": 0.0}


def step_flops(recipe) -> tuple[float, bool]:
    """FLOPs of one training step (every phase's forward and backward), counted by PyTorch;
    and whether a gradient penalty had to be left out of the count."""
    from torch.utils.flop_counter import FlopCounterMode

    def count(**extra: Any) -> float:
        probe = apply_overrides(recipe, steps=1, **_gan_from_the_start(recipe), eval_every=-1, sample_every=-1, keep_evals=False, overwrite=True,
                                resume=False, out=str(Path(recipe.train.out).with_name(Path(recipe.train.out).name
                                                                                      + "_flops")),
                                **({"select_psnr_tolerance": None} if hasattr(recipe, "select_psnr_tolerance")
                                   else {}), **extra)
        with FlopCounterMode(display=False) as counter:
            run_recipe(probe)
        return float(counter.get_total_flops())

    penalties = {k: v for k, v in _PENALTIES.items() if getattr(recipe, k, 0) > 0}
    if not penalties:
        return count(), False
    return count(**penalties), True


def timed_steps_per_s(recipe, steps: int, warmup: int) -> float:
    """Steps per second of ``recipe``'s training step after ``warmup`` steps (CUDA-synchronised)."""
    marks: list[float] = []

    def hook(step: int, logs: dict[str, float]) -> None:
        if torch.cuda.is_available() and recipe.train.device != "cpu":
            torch.cuda.synchronize()
        marks.append(time.perf_counter())

    probe = apply_overrides(recipe, steps=warmup + steps, **_gan_from_the_start(recipe), eval_every=-1, sample_every=-1, keep_evals=False,
                            overwrite=True, resume=False,
                            out=str(Path(recipe.train.out).with_name(Path(recipe.train.out).name + "_calib")),
                            **({"select_psnr_tolerance": None} if hasattr(recipe, "select_psnr_tolerance") else {}))
    run_recipe(probe, hooks=[hook])
    if len(marks) <= warmup + 1:
        return 1.0 / max(marks[-1] - marks[0], 1e-6) if len(marks) > 1 else 1.0
    return (len(marks) - 1 - warmup) / (marks[-1] - marks[warmup])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget of all models together")
    ap.add_argument("--runs", default="runs/gpu", help="run folders (one per model)")
    ap.add_argument("--ship-to", default=None, help="where the weights and cards go (default RUNS/weights)")
    ap.add_argument("--only", default=None, help="comma-separated model names (default: all)")
    ap.add_argument("--calib-steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak")
    ap.add_argument("--eval-limit", type=int, default=None, help="held-out images per source when shipping")
    ap.add_argument("--quick", action="store_true", help="tiny nets, synthetic data, 2 steps each (a CPU check)")
    ap.add_argument("--out", default=str(OUT_DIR / "gpu_train.json"))
    args = ap.parse_args(argv)

    names = args.only.split(",") if args.only else list(GPU_PLAN)
    unknown = [n for n in names if n not in GPU_PLAN]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {', '.join(GPU_PLAN)}")
    from lessons_lib.device import resolve_device

    device = resolve_device(args.device)
    peak = peak_tflops(device, args.peak_tflops)
    info = machine_info()
    print(machine_line(info), f"| device {device}, bf16 peak {peak or 'unknown'} TFLOP/s")
    runs = Path(args.runs)
    ship_to = Path(args.ship_to) if args.ship_to else runs / "weights"
    budget_s = args.minutes * 60
    # the chosen stages share the whole budget (the shares are rescaled to sum to 1)
    scale = 1.0 / max(sum(GPU_PLAN[n].get(st, {}).get("share", 0.05) for n in names for st in _stages(n)), 1e-9)
    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    for name in names:
        stages = _stages(name)
        root = runs / name
        for stage, opts in stages.items():
            plan = GPU_PLAN[name].get(stage, {})
            base = _recipe(name, stage, root, opts, plan, str(device), args.quick,
                           **_warm_start(name, runs, args.quick))
            flops, without_penalty = step_flops(base)
            if args.quick:
                steps_s, steps = timed_steps_per_s(base, 1, 1), 2
            else:
                steps_s = timed_steps_per_s(base, args.calib_steps, args.warmup)
                steps = max(10, int(plan.get("share", 0.05) * scale * budget_s * steps_s * 0.9))
            recipe = apply_overrides(base, steps=steps, overwrite=True)
            t0 = time.perf_counter()
            result = run_recipe(recipe, command=f"python benchmarks/gpu_train.py (stage {stage} of {name})")
            wall = time.perf_counter() - t0
            batch = recipe.train.batch_size
            achieved = flops * steps_s / 1e12
            row = {"model": name, "stage": stage, "size": getattr(recipe, "size", None), "batch": batch,
                   "steps": result.steps, "wall_s": round(wall, 1), "images_per_s": round(steps_s * batch, 1),
                   "engine_images_per_s": round(result.images_per_s, 1), "gflop_per_step": round(flops / 1e9, 2),
                   "flops_without_gradient_penalty": without_penalty,
                   "tflop_per_s": round(achieved, 3), "mfu": round(achieved / peak, 4) if peak else None}
            rows.append(row)
            print(f"{name}/{stage}: {row['steps']} steps in {wall:.0f} s, {row['images_per_s']} images/s, "
                  f"{row['tflop_per_s']} TFLOP/s" + (f", MFU {100 * row['mfu']:.1f}%" if peak else ""), flush=True)
        spec = zoo.SPECS[name]
        used = {st: {**opts, **{k: v for k, v in GPU_PLAN[name].get(st, {}).items() if k != "share"}}
                for st, opts in spec.stages.items()}
        path = zoo.ship(name, root, to=ship_to, limit=args.eval_limit,
                        eval_data=("synthetic",) if args.quick else None,
                        command=f"python benchmarks/gpu_train.py --minutes {args.minutes:g} --device {args.device}",
                        recipe_options=used)
        print(f"shipped {name} -> {path}", flush=True)
        for warm, spec_w in zoo.SPECS.items():          # a warm start is a stage of this model's runs
            if spec_w.runs_dir and spec_w.runs_dir.split("/")[0] == name:
                stage = next(iter(spec_w.stages))
                path = zoo.ship(warm, root / stage, to=ship_to, limit=args.eval_limit,
                                eval_data=("synthetic",) if args.quick else None,
                                command=f"python benchmarks/gpu_train.py (stage {stage} of {name})",
                                recipe_options={stage: used[stage]})
                print(f"shipped {warm} -> {path}", flush=True)
    total = time.perf_counter() - t_all
    print()
    print(f"{'model/stage':28} {'size':>5} {'batch':>5} {'steps':>6} {'img/s':>8} {'GFLOP/step':>11} "
          f"{'TFLOP/s':>8} {'MFU':>6}")
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
        print(f"{r['model'] + '/' + r['stage']:28} {str(r['size']):>5} {r['batch']:>5} {r['steps']:>6} "
              f"{r['images_per_s']:>8} {r['gflop_per_step']:>11} {r['tflop_per_s']:>8} {mfu:>6}")
    print(f"all models, calibration and shipping included: {total / 60:.1f} min")
    write_json({"machine": info, "device": str(device), "peak_bf16_tflops": peak, "quick": args.quick,
                "minutes_budget": args.minutes, "total_s": round(total, 1), "weights": str(ship_to), "rows": rows},
               args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
