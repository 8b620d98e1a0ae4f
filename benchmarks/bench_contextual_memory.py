"""Peak memory and time of the contextual loss, with and without position subsampling.

    python benchmarks/bench_contextual_memory.py                 # 64x64 and 128x128 feature maps
    python benchmarks/bench_contextual_memory.py --sizes 32 64 --max-gb 2

The contextual loss compares every position of one feature map with every position of the
other: an (HW) x (HW) matrix per sample, and autograd keeps a few of them for the backward
pass, so memory grows as (HW)^2 -- 16.8 M entries at 64x64, 268 M (1 GiB in float32) at
128x128. ``max_positions`` subsamples positions first (random or strided), bounding the
matrix at max_positions^2.

What is measured, for one forward + backward pass of ``contextual_loss`` on a batch of
``--batch`` feature maps with ``--channels`` channels (float32, CPU):

* peak memory: each case runs in a fresh Python subprocess; the number is the process's
  peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, Linux) minus its
  resident size just before the call (inputs already allocated). This is what the loss
  itself adds to a training step; tracemalloc would not see PyTorch's allocations.
* time: median wall time of ``--repeats`` forward + backward passes (after one warm-up).

Cases whose estimated memory (8 matrices of (HW)^2 float32 per sample) exceeds ``--max-gb``
are skipped and reported with the estimate. Results: a table on stdout and
``benchmarks/out/bench_contextual.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "bench_contextual.json"
# float32 (HW)^2 tensors alive at the peak (cosine, distance, relative distance, logits,
# softmax, their gradients): about 7.4 measured at 64x64; 8 keeps the estimate on the safe side
_MATRICES = 8


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _child(size: int, channels: int, batch: int, max_positions: int | None, sampling: str, repeats: int) -> dict:
    """Run one case in this (fresh) process and return its measurements."""
    import resource

    import torch

    from lessons_lib.losses.contextual import contextual_loss

    torch.manual_seed(0)
    x = torch.randn(batch, channels, size, size, requires_grad=True)
    y = torch.randn(batch, channels, size, size)
    gen = torch.Generator().manual_seed(0)
    # the warm-up runs on a tiny map so that it does not raise the peak
    contextual_loss(x[:, :, :4, :4], y[:, :, :4, :4], max_positions=None).backward()
    x.grad = None
    before = _rss_bytes()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        loss = contextual_loss(x, y, max_positions=max_positions, sampling=sampling, generator=gen)
        loss.backward()
        times.append(time.perf_counter() - t0)
        x.grad = None
        del loss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    times.sort()
    return {"peak_mib": round(max(0, peak - before) / 2**20, 1), "time_s": round(times[len(times) // 2], 4)}


def _positions(size: int, max_positions: int | None, sampling: str) -> int:
    n = size * size
    if max_positions is None or n <= max_positions:
        return n
    if sampling == "strided":
        import math

        s = max(1, math.ceil(math.sqrt(n / max_positions)))
        while math.ceil(size / s) ** 2 > max_positions:
            s += 1
        return math.ceil(size / s) ** 2
    return max_positions


def _machine() -> dict:
    import torch

    from lessons_lib.device import hardware_info

    cpu = hardware_info(torch.device("cpu"))["device_name"]
    try:
        with open("/proc/meminfo") as f:
            mem_gib = int(f.readline().split()[1]) / 2**20
    except OSError:
        mem_gib = float("nan")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "torch": torch.__version__,
        "torch_threads": int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="feature map sizes (H = W)")
    p.add_argument("--channels", type=int, default=64, help="feature channels (VGG relu1_2 has 64)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--max-positions", type=int, default=1024, help="the subsampled cases keep this many")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-gb", type=float, default=10.0, help="skip cases estimated above this (GiB)")
    p.add_argument("--json", default=str(OUT))
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:  # internal: one measurement in a fresh process
        size, channels, batch, mp, sampling = args.child
        res = _child(int(size), int(channels), int(batch), None if mp == "none" else int(mp), sampling, args.repeats)
        print(json.dumps(res))
        return 0

    rows = []
    print(_header(), flush=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for size in args.sizes:
        for mp, sampling in ((None, "random"), (args.max_positions, "random"), (args.max_positions, "strided")):
            n = _positions(size, mp, sampling)
            est_gib = _MATRICES * n * n * 4 * args.batch / 2**30
            row = {"size": size, "positions": n, "max_positions": mp, "sampling": sampling if mp else "none",
                   "channels": args.channels, "batch": args.batch, "estimate_gib": round(est_gib, 3)}
            if est_gib > args.max_gb:
                row.update(skipped=f"estimated {est_gib:.1f} GiB > --max-gb {args.max_gb}")
            else:
                repeats = args.repeats if n <= 4096 else 1
                cmd = [sys.executable, __file__, "--repeats", str(repeats), "--child", str(size), str(args.channels),
                       str(args.batch), "none" if mp is None else str(mp), sampling]
                out = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    why = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
                    row.update(skipped=f"failed: {why}")
                else:
                    row.update(json.loads(out.stdout.strip().splitlines()[-1]))
            rows.append(row)
            print(_format_row(row), flush=True)

    result = {"benchmark": "contextual loss forward + backward, CPU float32", "machine": _machine(), "rows": rows,
              "memory_method": "fresh subprocess per case; peak RSS (getrusage ru_maxrss) minus RSS before the call"}
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    m = result["machine"]
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, torch {m['torch']}, "
          f"{m['torch_threads']} thread(s)")
    print(f"wrote {path}")
    return 0


def _header() -> str:
    return (f"{'map':>9} {'sampling':>9} {'positions':>9} {'estimate':>10} {'peak MiB':>9} {'time s':>8}\n"
            + "-" * 60)


def _format_row(r: dict) -> str:
    if "skipped" in r:
        tail = f"{'-':>9} {'-':>8}  ({r['skipped']})"
    else:
        tail = f"{r['peak_mib']:9.0f} {r['time_s']:8.3f}"
    return (f"{r['size']:>4}x{r['size']:<4} {r['sampling']:>9} {r['positions']:>9} "
            f"{r['estimate_gib'] * 1024:8.0f}Mi {tail}")


if __name__ == "__main__":
    raise SystemExit(main())
