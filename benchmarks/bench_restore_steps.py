"""Time and memory of one training step of each restorer stage (seed 004) at 64x64 on this CPU.

    python benchmarks/bench_restore_steps.py                  # the four stages, batch 8, 64 px
    python benchmarks/bench_restore_steps.py --batch-size 16 --steps 8
    python benchmarks/bench_restore_steps.py --quick          # 32 px, 3 steps: checks the script

Each stage (``nafnet``, ``stylegan2``, ``inversion``, ``fusion``) runs in a fresh Python
process with the sizes of ``restore_compare.py``'s budget: it builds the stage's recipe and
trains ``--steps`` steps through the engine (``lessons_lib.train.train``, the same code as
``lessons train``) on celeba10k (synthetic images when the pack is missing). The later
stages need the earlier ones' weights: the script writes *untrained* networks of the right
architecture into a temporary folder first (a step costs the same whatever the weights).

What is measured:

* time: median wall time per step after ``--warmup`` steps, from an engine hook called at
  the end of every step (data loading, blurring on the device, every forward / backward /
  optimiser update of the step; not the checkpoints, which are switched off);
* memory: the process's peak resident set size (``ru_maxrss``), and how much of it the
  training added over the process just before ``train()`` started (nets, optimiser
  states, activations and gradients of the largest step, the kernel bank, the feature
  network and the data loader; torch's compiler module, which the first optimiser of a
  process imports, is loaded before the baseline).

On the course machine (2 cores shared with other jobs) the wall time depends on the load:
the table states the load average at the start. Results: a table on stdout and
``benchmarks/out/bench_restore_steps.json``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, ROOT, machine_info, machine_line, write_json  # noqa: E402

STAGES = ("nafnet", "stylegan2", "inversion", "fusion")


def _child(stage: str, size: int, batch: int, steps: int, warmup: int, data: str, threads: int) -> dict[str, Any]:
    """Runs in a fresh process: build the stage, train ``steps`` steps, report."""
    import resource
    import time

    import numpy as np
    import torch

    from restore_compare import BUDGET

    from lessons_lib.checkpoints import save_model
    from lessons_lib.models import build_model
    from lessons_lib.recipes import build_task, get_recipe
    from lessons_lib.train import train

    torch.set_num_threads(threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_restore_"))
    opts = {k: v for k, v in BUDGET[stage].items() if k not in ("steps", "eval_every", "val_limit", "batch_size")}
    if size < 64:  # --quick: smaller nets
        opts = {"nafnet": dict(width=8), "stylegan2": dict(channel_base=256, channel_max=32),
                "inversion": {}, "fusion": {}}[stage]
    # untrained earlier stages of the budget's architectures (a card with task/stage/size)
    g_cfg = get_recipe("stylegan2", size=size, **{k: v for k, v in (BUDGET["stylegan2"] if size >= 64 else
                                                                      dict(channel_base=256, channel_max=32)).items()
                                                  if k in ("channel_base", "channel_max")}).generator_config()
    card = {"task": "restoration", "size": size}
    torch.manual_seed(0)
    naf = build_model("nafnet", width=BUDGET["nafnet"]["width"] if size >= 64 else 8)
    (tmp / "nafnet").mkdir()
    save_model(naf, tmp / "nafnet" / "model", {**card, "stage": "nafnet"})
    G = build_model("stylegan2_g", **g_cfg)
    (tmp / "stylegan2").mkdir()
    save_model(G, tmp / "stylegan2" / "model", {**card, "task": "stylegan2", "stage": "stylegan2"})
    from lessons_lib.models.inversion import InversionEncoder

    r_inv = get_recipe("inversion")
    E = InversionEncoder.for_generator(G, inject_res=16, width=r_inv.encoder_width,
                                       max_channels=r_inv.encoder_max_channels)
    pair = build_model("inversion_pair", generator=dict(G.config), encoder=dict(E.config))
    (tmp / "inversion").mkdir()
    save_model(pair, tmp / "inversion" / "model", {**card, "stage": "inversion"})

    refs = {"inversion": dict(nafnet_weights=str(tmp / "nafnet"), stylegan2_weights=str(tmp / "stylegan2")),
            "fusion": dict(nafnet_weights=str(tmp / "nafnet"), inversion_weights=str(tmp / "inversion"))}
    recipe = get_recipe(stage, data=data, size=size, batch_size=batch, steps=steps, out=str(tmp / "run"),
                        device="cpu", progress=False, sample_every=-1, eval_every=-1, ckpt_every=10**6,
                        n_samples=0, limit=max(64, batch * steps), **refs.get(stage, {}), **opts)
    task = build_task(recipe)
    # the first optimiser of a process imports torch._dynamo (~150 MB): do it before the
    # baseline, so that "added by training" is the training's own memory
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    rss0 = _rss()
    marks: list[float] = []
    t0 = time.perf_counter()
    train(task, recipe.train, hooks=[lambda step, logs: marks.append(time.perf_counter())])
    per_step = np.diff([t0] + marks)[warmup:]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    learning = dict.fromkeys(k for ph in task.phases for k in task.phase_nets(ph))
    params = {k: sum(p.numel() for p in task.nets[k].parameters()) for k in learning}
    frozen = {}
    for name in ("nafnet", "inversion"):
        if hasattr(task, name):
            frozen[name] = sum(p.numel() for p in getattr(task, name).parameters())
    return {
        "stage": stage, "size": size, "batch_size": batch, "steps_timed": len(per_step),
        "median_s_per_step": float(np.median(per_step)), "min_s_per_step": float(np.min(per_step)),
        "images_per_s": batch / float(np.median(per_step)),
        "peak_rss_mb": peak / 2**20, "train_added_mb": (peak - rss0) / 2**20,
        "trained_parameters": params, "frozen_parameters": frozen,
        "perceptual_features": getattr(task.features, "description", None),
    }


def _rss() -> int:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8, dest="batch_size")
    p.add_argument("--steps", type=int, default=6, help="steps per stage (the first --warmup are not timed)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--data", default="celeba10k")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="32 px, batch 4, 3 steps, synthetic images")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.batch_size, args.steps, args.warmup, args.data = 32, 4, 3, 1, "synthetic"
    if args.child:
        print(json.dumps(_child(args.child, args.size, args.batch_size, args.steps, args.warmup, args.data,
                                args.threads)))
        return 0
    from lessons_lib import LessonsError
    from lessons_lib.data import open_source

    try:
        open_source(args.data, "train")
    except LessonsError:
        print(f"{args.data} not found: timing on synthetic images instead")
        args.data = "synthetic"
    info = machine_info()
    info["threads"] = args.threads
    print(machine_line(info))
    rows = []
    for stage in args.stages:
        cmd = [sys.executable, __file__, "--child", stage, "--size", str(args.size), "--batch-size",
               str(args.batch_size), "--steps", str(args.steps), "--warmup", str(args.warmup), "--data", args.data,
               "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            print(proc.stdout[-2000:], proc.stderr[-4000:])
            raise SystemExit(f"stage {stage} failed")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{stage:10s} {r['median_s_per_step']:7.2f} s/step  {r['images_per_s']:6.1f} img/s  "
              f"peak RSS {r['peak_rss_mb']:7.0f} MB  (+{r['train_added_mb']:.0f} MB for training)")
    print()
    print("| stage | trained nets (parameters) | frozen | s / step | images / s | peak RSS (MB) | added by training (MB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        tr = ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in r["trained_parameters"].items())
        fr = ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in r["frozen_parameters"].items()) or "-"
        print(f"| {r['stage']} | {tr} | {fr} | {r['median_s_per_step']:.2f} | {r['images_per_s']:.1f} | "
              f"{r['peak_rss_mb']:.0f} | {r['train_added_mb']:.0f} |")
    write_json({"machine": info, "size": args.size, "batch_size": args.batch_size, "steps": args.steps,
                "warmup": args.warmup, "data": args.data, "stages": rows},
               OUT_DIR / f"bench_restore_steps{'_quick' if args.quick else ''}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
