"""Lab conversion throughput: per-image scikit-image vs batched lessons_lib.color.

The reference pix2pix colorization loader converts every image on its own with
``skimage.color.rgb2lab`` (float64 numpy, one HxWx3 uint8 array at a time). The kit
converts whole batches in torch, float32, with a lookup table for the sRGB curve of 8-bit
input. This script times both on the same images (random crops of the photos bundled with
scikit-image) and reports images/s, the speed-up, and the largest difference from skimage.

    python benchmarks/bench_color.py                   # 256 crops of 256x256, 3 repeats
    python benchmarks/bench_color.py --n 64 --repeats 5 --json out.json
    python benchmarks/bench_color.py --quick           # 16 crops, 1 repeat: does it run?

Rows:
  skimage   rgb2lab on each HxWx3 uint8 crop in a Python loop (the reference loader);
  uint8     lessons_lib.color.rgb_uint8_to_lab on the (B, 3, H, W) uint8 batch;
  float     lessons_lib.color.rgb_to_lab on the same batch as float32 in [0, 1];
  ... 1 thread: the same with torch.set_num_threads(1), for a core-for-core comparison
            (numpy's rgb2lab runs on one core);
  cuda      the uint8 batch on the GPU, conversion only and with the host-to-device copy,
            when a CUDA GPU is present.
Each figure is the median over ``--repeats`` timed runs after one warm-up run; images per
CPU-second (all threads of the process counted) is printed beside images/s, since on a
machine shared with other jobs the wall time also counts time spent waiting for a core.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
# _common also puts the repository root on sys.path: runs from a clone without installing.
from _common import OUT_DIR, machine_info, machine_line, write_json  # noqa: E402

from lessons_lib import color  # noqa: E402


def make_crops(n: int, size: int, seed: int) -> np.ndarray:
    """n random size x size crops (uint8, N x H x W x 3) of scikit-image's colour photos."""
    from skimage import data

    photos = [getattr(data, name)() for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")]
    photos = [p for p in photos if p.shape[0] >= size and p.shape[1] >= size]
    rng = np.random.default_rng(seed)
    crops = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        p = photos[rng.integers(len(photos))]
        y, x = rng.integers(0, p.shape[0] - size + 1), rng.integers(0, p.shape[1] - size + 1)
        crops[i] = p[y : y + size, x : x + size]
    return crops


def timeit(fn, repeats: int, sync=None) -> tuple[float, float]:
    """Median wall seconds and median process CPU seconds of ``repeats`` runs after one
    warm-up. CPU time counts every thread of this process: on a machine shared with other
    jobs it shows the work done, while wall time also counts the waiting."""
    fn()
    if sync:
        sync()
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        if sync:
            sync()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=256, help="number of images (default 256)")
    ap.add_argument("--size", type=int, default=256, help="crop size in pixels (default 256)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row (median; default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", "--out", dest="json", default=str(OUT_DIR / "bench_color.json"),
                    help="where to write the results (default benchmarks/out/bench_color.json)")
    ap.add_argument("--quick", action="store_true", help="16 images, 1 repeat: checks that the script works")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.repeats = min(args.n, 16), 1

    from skimage import __version__ as skimage_version
    from skimage.color import rgb2lab

    machine = machine_info()  # CPU, cores, torch and its threads, load average at start
    crops = make_crops(args.n, args.size, args.seed)
    batch_u8 = torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous()  # (B, 3, H, W) uint8
    batch_f32 = batch_u8.float() / 255.0
    threads = torch.get_num_threads()

    # Accuracy: every image against skimage (float64).
    ref = np.stack([rgb2lab(c) for c in crops]).astype(np.float64)  # (N, H, W, 3)
    lab_u8 = color.rgb_uint8_to_lab(batch_u8).permute(0, 2, 3, 1).double().numpy()
    lab_f32 = color.rgb_to_lab(batch_f32).permute(0, 2, 3, 1).double().numpy()
    diff_u8 = float(np.abs(lab_u8 - ref).max())
    diff_f32 = float(np.abs(lab_f32 - ref).max())
    del ref, lab_u8, lab_f32

    rows = []

    def add(name: str, times: tuple[float, float], max_diff: float | None, note: str) -> None:
        wall, cpu = times
        rows.append({"method": name, "seconds": wall, "cpu_seconds": cpu, "images_per_s": args.n / wall,
                     "images_per_cpu_s": args.n / cpu if cpu > 0 else None, "max_abs_diff_lab": max_diff,
                     "note": note})

    def per_image() -> None:
        for c in crops:
            rgb2lab(c)

    def u8() -> None:
        color.rgb_uint8_to_lab(batch_u8)

    def f32() -> None:
        color.rgb_to_lab(batch_f32)

    add("skimage.color.rgb2lab per image", timeit(per_image, args.repeats), 0.0, "float64 numpy, 1 core")
    add(f"rgb_uint8_to_lab batch ({threads} threads)", timeit(u8, args.repeats), diff_u8, "uint8 LUT path, float32")
    add(f"rgb_to_lab float32 batch ({threads} threads)", timeit(f32, args.repeats), diff_f32, "float path, differentiable")
    if threads > 1:
        torch.set_num_threads(1)
        try:
            add("rgb_uint8_to_lab batch (1 thread)", timeit(u8, args.repeats), diff_u8, "core for core")
            add("rgb_to_lab float32 batch (1 thread)", timeit(f32, args.repeats), diff_f32, "core for core")
        finally:
            torch.set_num_threads(threads)

    gpu = None
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
        dev_u8 = batch_u8.cuda()
        sync = torch.cuda.synchronize
        lab_gpu = color.rgb_uint8_to_lab(dev_u8).permute(0, 2, 3, 1).double().cpu().numpy()
        ref = np.stack([rgb2lab(c) for c in crops])
        diff_gpu = float(np.abs(lab_gpu - ref).max())
        del lab_gpu, ref
        add("rgb_uint8_to_lab batch (cuda)", timeit(lambda: color.rgb_uint8_to_lab(dev_u8), args.repeats, sync),
            diff_gpu, gpu)
        add("rgb_uint8_to_lab batch (cuda, incl. copy)",
            timeit(lambda: color.rgb_uint8_to_lab(batch_u8.cuda()), args.repeats, sync), diff_gpu,
            "host-to-device copy included")

    base = rows[0]["images_per_s"]
    for r in rows:
        r["speedup"] = r["images_per_s"] / base

    machine.update(
        numpy=np.__version__,
        scikit_image=skimage_version,
        gpu=gpu,
        # Above the core count, other jobs competed for the CPU during the run: the
        # wall-clock figures are then pessimistic (images per CPU-second much less so).
        load_avg_1min_at_end=round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    )
    result = {"benchmark": "lab_conversion", "images": args.n, "size": args.size, "repeats": args.repeats,
              "machine": machine, "rows": rows}

    print(f"Lab conversion, {args.n} images of {args.size}x{args.size} (median of {args.repeats})")
    print(machine_line(machine) + f"; load average {machine['load_avg_1min_at_end']} at the end")
    print(f"numpy {machine['numpy']}, scikit-image {machine['scikit_image']}, GPU {gpu or 'none'}")
    print()
    print("| method | images/s | speed-up | images per CPU-second | max abs diff vs skimage (Lab) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        d = "reference" if r is rows[0] else f"{r['max_abs_diff_lab']:.1e}"
        per_cpu = f"{r['images_per_cpu_s']:.0f}" if r["images_per_cpu_s"] else "-"
        print(f"| {r['method']} | {r['images_per_s']:.0f} | {r['speedup']:.1f}x | {per_cpu} | {d} |")
    print()
    write_json(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
