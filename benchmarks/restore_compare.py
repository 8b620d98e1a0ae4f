"""The seed-004 comparison: blurred input, NAFNet (x_R), inversion (x_G) and fusion (x_hat)
on celeba10k val, next to the seed's Table 1.

    python benchmarks/restore_compare.py all                  # train the 4 stages, then evaluate
    python benchmarks/restore_compare.py train nafnet         # one stage (resumes its run if there is one)
    python benchmarks/restore_compare.py train stylegan2 --steps 3000
    python benchmarks/restore_compare.py eval --limit 500     # evaluate the bundle of the fusion run
    python benchmarks/restore_compare.py ablate               # x_hat with x_G replaced by x_R / gray
    python benchmarks/restore_compare.py --quick all          # a tiny run on synthetic images (checks the script)

Every stage trains through the engine with its recipe (``run_recipe``, what ``lessons
train`` runs) into ``--runs/STAGE`` (default ``runs/restore``), later stages referring to the
earlier runs by path, exactly as a user would chain them::

    lessons train nafnet    --out runs/restore/nafnet    --steps 800 --batch-size 8
    lessons train stylegan2 --out runs/restore/stylegan2 --steps 1000 --batch-size 8 --set channel_max=64 ...
    lessons train inversion --out runs/restore/inversion --set nafnet_weights=runs/restore/nafnet \\
                            --set stylegan2_weights=runs/restore/stylegan2 ...
    lessons train fusion    --out runs/restore/fusion    --set nafnet_weights=... --set inversion_weights=...
    lessons eval restore --weights runs/restore/fusion/restorer --data celeba10k --size 64 --json out.json

A stage whose run already reached its steps is skipped; one with a checkpoint short of
them is resumed (``--resume``), so the script can be stopped and started again.

The budget (:data:`BUDGET`) is sized for the course's shared 2-core CPU: one thread per
process, batch 8, a few hundred to a thousand steps per stage - minutes, where the seed
trains each stage for 40,000 iterations on FFHQ at 512 px. The numbers measure this
pipeline at this budget, not the seed's method at its own.

Results: a table on stdout, ``benchmarks/out/restore_train_STAGE.json`` per stage and
``benchmarks/out/restore_compare.json`` for the evaluation.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, ROOT, machine_info, machine_line, write_json  # noqa: E402

from lessons_lib.shipping import stage_refs  # noqa: E402
from lessons_lib.zoo import SPECS  # noqa: E402

STAGES = ("nafnet", "stylegan2", "inversion", "fusion")

#: the CPU budget: steps and options per stage (batch 8, 64 px, celeba10k) - the shipped
#: restorer's (lessons_lib.zoo.SPECS["restorer"], `lessons models train restorer`), less the
#: options this script sets itself
BUDGET: dict[str, dict[str, Any]] = {
    stage: {k: v for k, v in opts.items() if k not in ("data", "size", "sample_every", "ckpt_every", "progress")}
    for stage, opts in SPECS["restorer"].stages.items()
}
QUICK: dict[str, dict[str, Any]] = {
    "nafnet": dict(steps=4, batch_size=4, width=4, enc_blocks=[1, 1], dec_blocks=[1, 1], eval_every=-1,
                   val_limit=8),
    "stylegan2": dict(steps=4, batch_size=4, z_dim=16, w_dim=16, n_mlp=2, channel_base=256, channel_max=16,
                      eval_every=-1),
    "inversion": dict(steps=4, batch_size=4, encoder_width=8, encoder_max_channels=16, eval_every=-1, val_limit=8),
    "fusion": dict(steps=4, batch_size=4, width=8, n_blocks=2, eval_every=2, val_limit=8),
}


def train_stage(stage: str, runs: Path, data: str, size: int, quick: bool, steps: int | None) -> dict[str, Any]:
    """Train (or resume, or skip) one stage; returns what it did."""
    from lessons_lib.recipes import get_recipe, recipe_to_dict, run_recipe
    from lessons_lib.train import load_checkpoint

    opts = dict((QUICK if quick else BUDGET)[stage])
    if steps is not None:
        opts["steps"] = steps
    out = runs / stage
    ckpt = out / "checkpoint.pt"
    done = int(load_checkpoint(ckpt)["step"]) if ckpt.is_file() else 0
    if done >= opts["steps"] and (out / "model.safetensors").is_file():
        print(f"{stage}: {out} already has {done} steps, skipped")
        path = OUT_DIR / f"restore_train_{stage}{'_quick' if quick else ''}.json"
        return json.loads(path.read_text()) if path.is_file() else {"stage": stage, "steps": done, "skipped": True}
    recipe = get_recipe(stage, data=data, size=size, out=str(out), device="cpu", progress=False, sample_every=200,
                        ckpt_every=100, resume=done > 0, overwrite=done == 0, **stage_refs(stage, runs), **opts)
    marks: list[tuple[int, float, float]] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = run_recipe(recipe, hooks=[lambda step, logs: marks.append((step, time.process_time(),
                                                                        time.perf_counter()))],
                        command=f"python benchmarks/restore_compare.py train {stage}" + (" --quick" if quick else ""))
    last = marks[-1] if marks else (done, time.process_time(), time.perf_counter())
    n = max(1, len(marks))
    rec = {
        "stage": stage,
        "config": recipe_to_dict(recipe),
        "steps": result.steps,
        "steps_this_session": len(marks),
        "train_cpu_min_this_session": (last[1] - cpu0) / 60,
        "train_wall_min_this_session": (last[2] - wall0) / 60,
        "wall_s_per_step": (last[2] - wall0) / n,
        "wall_s_total_from_card": result.wall_s,
        "final_losses": result.losses,
        "val_metrics": result.val_metrics,
        "best": result.best,
        "model_path": str(result.model_path),
        "machine": machine_info(),
    }
    write_json(rec, OUT_DIR / f"restore_train_{stage}{'_quick' if quick else ''}.json")
    return rec


def evaluate(runs: Path, data: str, size: int, limit: int | None, batch_size: int, quick: bool = False) -> dict[str, Any]:
    from lessons_lib.pipeline import Restorer
    from lessons_lib.restorer.evaluation import evaluate_restorer, format_restoration, seed_comparison_table

    bundle = runs / "fusion" / "restorer"
    weights = bundle if bundle.is_dir() else runs / "fusion"
    t0 = time.perf_counter()
    result = evaluate_restorer(Restorer(weights, device="cpu"), data, "val", size, limit=limit,
                               batch_size=batch_size)
    result["eval_wall_s"] = time.perf_counter() - t0
    tag = "_quick" if quick else ""
    result["training"] = {s: json.loads((OUT_DIR / f"restore_train_{s}{tag}.json").read_text())
                          for s in STAGES if (OUT_DIR / f"restore_train_{s}{tag}.json").is_file()}
    result["machine"] = machine_info()
    print(format_restoration(result))
    write_json(result, OUT_DIR / f"restore_compare{tag}.json")
    print()
    print(seed_comparison_table(result))
    return result


def xg_dependence(runs: Path, data: str, size: int, limit: int | None, batch_size: int,
                  quick: bool = False) -> dict[str, Any]:
    """How much of x_hat comes from x_G: the trained fusion net fed (x_R, x_G) - the real
    thing - then (x_R, x_R) and (x_R, flat gray 0.5) in place of x_G, on the same faces and
    kernels as the evaluation. If the scores barely move, the fusion net ignores x_G."""
    from lessons_lib.pipeline import Restorer
    from lessons_lib.restorer.evaluation import feature_net, mean_scores
    from lessons_lib.restorer.pairs import FaceCrops, blur_batch

    bundle = runs / "fusion" / "restorer"
    rest = Restorer(bundle if bundle.is_dir() else runs / "fusion", device="cpu")
    parts = rest.model
    bank = dict(parts.card["kernel_bank"])
    ds = FaceCrops(data, size, "val", train=False, n_kernels=bank["n"], eval_seed=bank.get("eval_seed", 0),
                   limit=limit)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False)

    def scored():
        for batch in loader:
            blurred, sharp = blur_batch(batch["image"], batch["kernel"], bank, torch.device("cpu"))
            outs = parts.run(blurred)
            with torch.no_grad():
                outs["x_hat_with_x_R_as_x_G"] = parts.fusion(outs["x_R"], outs["x_R"]).clamp(0, 1)
                outs["x_hat_with_gray_as_x_G"] = parts.fusion(outs["x_R"], torch.full_like(outs["x_R"], 0.5)).clamp(0, 1)
            yield {k: v for k, v in outs.items() if k.startswith(("x_hat", "x_R"))}, sharp

    scores = mean_scores(scored(), feature_net("vgg16", torch.device("cpu")))
    print("\nx_hat's dependence on x_G (fusion net fed other second inputs):")
    for name in ("x_R", "x_hat", "x_hat_with_x_R_as_x_G", "x_hat_with_gray_as_x_G"):
        print(f"  {name:24s} PSNR {scores[name + '_psnr']:6.2f}  SSIM {scores[name + '_ssim']:.3f}  "
              f"perceptual {scores[name + '_perceptual']:.4f}  sharpness {scores[name + '_sharpness']:.2f}")
    write_json(scores, OUT_DIR / f"restore_xg_dependence{'_quick' if quick else ''}.json")
    return scores


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("all", "train", "eval", "ablate"),
                   help="all: train the four stages and evaluate; ablate: x_hat with x_G replaced")
    p.add_argument("stage", nargs="?", choices=STAGES, help="with `train`: the stage")
    p.add_argument("--runs", default=str(ROOT / "runs" / "restore"), help="where the four runs go")
    p.add_argument("--data", default="celeba10k")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=None, help="with `train`: override the budget's steps")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first K val faces (default all 1,000)")
    p.add_argument("--batch-size", type=int, default=32, dest="batch_size", help="evaluation batch")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: the shared 2-core machine)")
    p.add_argument("--quick", action="store_true", help="tiny nets, 4 steps, synthetic 32 px images")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = Path(args.runs)
    data, size = (("synthetic", 32) if args.quick else (args.data, args.size))
    if args.quick:
        runs = runs.with_name(runs.name + "_quick")
    print(machine_line(machine_info()))
    if args.what == "train":
        if not args.stage:
            p.error("train needs a stage: " + ", ".join(STAGES))
        train_stage(args.stage, runs, data, size, args.quick, args.steps)
    elif args.what == "all":
        for s in STAGES:
            train_stage(s, runs, data, size, args.quick, None)
    if args.what in ("all", "eval"):
        evaluate(runs, data, size, 16 if args.quick else args.limit, args.batch_size, args.quick)
    if args.what in ("all", "ablate"):
        xg_dependence(runs, data, size, 16 if args.quick else args.limit, args.batch_size, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
