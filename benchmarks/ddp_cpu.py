"""Data-parallel training on the CPU (issue 15, item 5): ``lessons train --nproc 2`` (torchrun,
DDP over gloo, each process one thread) against one process at the same global batch.

    python benchmarks/ddp_cpu.py [--steps 30] [--repeats 2] [--quick] [--out FILE]

Each configuration trains a recipe through the command line, as a user would, in a fresh
temporary run folder:

* ``1 proc, T threads`` - ``lessons train RECIPE`` with torch's intra-op threads set to the
  machine's cores (the default of a one-process run);
* ``1 proc, 1 thread`` - the same with one thread (what each rank of the DDP run gets);
* ``2 procs x 1 thread`` - ``lessons train RECIPE --nproc 2``: each rank trains on its half of
  every global batch and DDP averages the gradients.

The rate is the median of the engine's own per-log-interval ``images_per_s`` column in
``metrics.csv`` (global images: the engine counts the global batch), the first two rows
dropped as warm-up; start-up (imports, torchrun's rendezvous, data loading) is not in it but
is reported as the wall time of the whole command. The blocks alternate (1, 2, 2, 1, ...) so
that a change in the machine's load hits both sides alike. On a machine with C cores two
processes can at best equal one process with C threads when the work parallelises well
inside one process; DDP pays for the gradient all-reduce and buys a larger batch per core
for work that does not (small layers, Python overhead).

Recipes: ``gan_toy`` (MLPs on 2-D points: overhead-bound) and ``pix2pix`` at 64 px on the scenes8
pack, batch 16 (convolutions: compute-bound; needs ../shared/data or LESSONS_DATA). Writes
``benchmarks/out/ddp_cpu.json``. Run it alone on the machine.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import OUT_DIR, machine_info, machine_line, write_json

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "gan_toy": ["gan_toy", "--batch-size", "256", "--set", "n_points=4096", "--set", "n_val=256"],
    "pix2pix": ["pix2pix", "--data", "scenes8", "--size", "64", "--batch-size", "16"],
}


def run_once(case: str, steps: int, nproc: int, threads: int) -> dict:
    args = CASES[case]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "lessons_lib.cli", "train", *args, "--steps", str(steps), "--device", "cpu",
               "--out", str(out), "--set", "log_every=5", "--set", "sample_every=-1", "--set", "progress=false",
               "--set", "eval_every=-1"]
        if nproc > 1:
            cmd += ["--nproc", str(nproc)]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{case} nproc={nproc} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        with open(out / "metrics.csv", newline="") as f:
            rates = [float(r["images_per_s"]) for r in csv.DictReader(f)]
    timed = rates[2:] if len(rates) > 3 else rates
    return {"images_per_s": statistics.median(timed), "rows": len(rates), "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--quick", action="store_true", help="10 steps, one repeat: a smoke check")
    ap.add_argument("--out", default=str(OUT_DIR / "ddp_cpu.json"))
    a = ap.parse_args()
    if a.quick:
        a.steps, a.repeats = 10, 1
    cores = os.cpu_count() or 1
    configs = [("1 proc, %d threads" % cores, 1, cores), ("1 proc, 1 thread", 1, 1), ("2 procs x 1 thread", 2, 1)]
    info = machine_info()
    results: dict = {}
    for case in a.cases.split(","):
        runs: dict[str, list[dict]] = {c[0]: [] for c in configs}
        for rep in range(a.repeats):
            order = configs if rep % 2 == 0 else configs[::-1]
            for label, nproc, threads in order:
                r = run_once(case, a.steps, nproc, threads)
                runs[label].append(r)
                print(f"{case:8s} {label:20s} {r['images_per_s']:9.1f} images/s  (command {r['wall_s']:.1f} s)",
                      file=sys.stderr)
        results[case] = {label: {"images_per_s": statistics.median(r["images_per_s"] for r in rs),
                                 "wall_s": statistics.median(r["wall_s"] for r in rs), "runs": rs}
                         for label, rs in runs.items()}
    print(f"\nmachine: {machine_line(info)}; {a.steps} steps, {a.repeats} repeat(s)\n")
    labels = [c[0] for c in configs]
    print("| recipe | " + " | ".join(labels) + " | 2 procs / 1 proc (all cores) | 2 procs / 1 proc (1 thread) |")
    print("|---|" + "---:|" * (len(labels) + 2))
    for case, r in results.items():
        one_all, one_1, two = (r[lab]["images_per_s"] for lab in labels)
        cells = [f"{r[lab]['images_per_s']:.1f} ({r[lab]['wall_s']:.0f} s)" for lab in labels]
        print(f"| {case} | " + " | ".join(cells) + f" | {two / one_all:.2f} | {two / one_1:.2f} |")
        r["ratio_vs_all_cores"], r["ratio_vs_one_thread"] = two / one_all, two / one_1
    print("\nimages/s (global, median of the timed log rows); in brackets the whole command's wall time")
    write_json({"machine": info, "steps": a.steps, "repeats": a.repeats, "results": results}, a.out)


if __name__ == "__main__":
    main()
