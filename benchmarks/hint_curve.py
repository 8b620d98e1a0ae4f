"""The shipped hint model (issue 14): PSNR and colourfulness against the number of hints, and
the latency of one update of the demo's Colour hints tab.

    python benchmarks/hint_curve.py [--sources scenes8,imagenet1k,cbsd68] [--counts 0,1,2,5,10,20,50]
                                    [--size 160] [--limit N] [--latency-runs 30] [--out FILE]

1. **PSNR against hints.** Each held-out photo (scenes8 val, imagenet1k val, cbsd68) is resized
   (short side) and centre-cropped to --size px and gets n hints from its own colours: Zhang
   et al.'s simulated user at the model's 64 px (centres Gaussian around the middle, squares
   of 1-9 px carrying the mean true ab; ``lessons_lib.pipeline.hint_curve``, seeded, so every
   run draws the same hints). The gray input and the automatic default colorizer (nogan) are
   scored on the same photos. Target: 10 hints at least 3 dB above the gray input.
2. **Latency.** What one click costs in the demo: ``demo.app.colorize_with_hints`` on a 512 x 512
   photo (decode, the model at 64 px, the full-size recombination, the markers) plus writing
   the two result PNGs Gradio serves, for 1, 2, ... hints as a user adds them. Target: p50
   under 0.3 s on the 2-core CPU (torch's threads: the demo's default).

Prints the tables and writes ``benchmarks/out/hint_curve.json``. Needs the data packs
(``../shared/data`` or ``LESSONS_DATA``); a missing pack is reported and skipped. Run it
alone on the machine: the latency is wall clock.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from _common import OUT_DIR, machine_info, machine_line, write_json


def curve_table(curves: dict) -> str:
    lines = ["| data | photos | gray input | nogan (automatic) | " + " | ".join(
        f"{n} hint{'s' if n != 1 else ''}" for n in next(iter(curves.values()))["counts"]) + " |"]
    lines.append("|---|---:|---:|---:|" + "---:|" * len(next(iter(curves.values()))["counts"]))
    for src, c in curves.items():
        row = [src, str(c["n_images"]), f"{c['gray']['psnr']:.2f}", f"{c['reference']['psnr']:.2f}"]
        row += [f"{p:.2f} ({p - c['gray']['psnr']:+.1f})" for p in c["psnr"]]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("colourfulness (the photos' own in the second column):")
    lines.append("")
    lines.append("| data | photos' | nogan | " + " | ".join(str(n) for n in next(iter(curves.values()))["counts"]) + " |")
    lines.append("|---|---:|---:|" + "---:|" * len(next(iter(curves.values()))["counts"]))
    for src, c in curves.items():
        row = [src, f"{c['colorfulness_gt']:.1f}", f"{c['reference']['colorfulness']:.1f}"]
        row += [f"{v:.1f}" for v in c["colorfulness"]]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def user_hint_sizes(hints_path, source: str, size: int, limit: int | None, n_hints: int = 10,
                    sides=(1, 3, 5, 7)) -> dict:
    """The user's path (``Colorizer(photo, hints=[(x, y, colour)])``, what the CLI and the
    demo do) with ``n_hints`` clicks per photo at the simulated user's positions, each giving
    the true mean colour of the 5 x 5 pixels around it, for several ``hint_size`` values."""
    import torch

    from lessons_lib import zoo
    from lessons_lib.data import make_loader, tensor_to_image
    from lessons_lib.data.hints import sample_hint_points
    from lessons_lib.metrics import psnr
    from lessons_lib.pipeline import Colorizer

    loader = make_loader(source, size, 1, split=zoo.heldout_split(source), train=False, limit=limit, drop_last=False)
    photos = [b[0] for b in loader]                                         # (3, S, S) uint8 each
    out = {}
    for side in sides:
        col = Colorizer(hints_path, device="cpu", hint_size=side)
        scores = []
        for i, rgb in enumerate(photos):
            pts = sample_hint_points(1, size, size, count=n_hints, max_patch=1,
                                     generator=torch.Generator().manual_seed(i))
            hints = []
            for y, x in zip(pts.y.tolist(), pts.x.tolist()):
                patch = rgb[:, max(0, y - 2):y + 3, max(0, x - 2):x + 3].float().mean(dim=(1, 2))
                hints.append((x, y, tuple(int(round(v)) for v in patch.tolist())))
            pred = col(tensor_to_image(rgb), hints=hints)
            truth = rgb.float()[None] / 255.0
            got = torch.from_numpy(np.array(pred)).permute(2, 0, 1).float()[None] / 255.0
            scores.append(float(psnr(got, truth)))
        out[side] = sum(scores) / len(scores)
    return {"source": source, "n_images": len(photos), "n_hints": n_hints, "psnr_by_hint_size": out}


def latency(runs: int, side: int) -> dict:
    """Wall time of one hints update in the demo at ``side`` px, hints added one at a time."""
    import torch
    from PIL import Image

    from demo.app import DemoModels, colorize_with_hints
    from demo.common import as_files
    from lessons_lib.data import sample_files

    models = DemoModels(device="cpu")
    photo = {f.stem: f for f in sample_files()}["astronaut"]
    img = Image.open(photo).convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
    path = OUT_DIR / f"hint_latency_{side}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    g = torch.Generator().manual_seed(0)
    colorize_with_hints(models, str(path), [])               # load the model once (not timed)
    hints, times = [], []
    for i in range(runs):
        x, y = (torch.rand(2, generator=g) * (side - 1)).tolist()
        rgb = torch.randint(0, 256, (3,), generator=g).tolist()
        hints.append({"x": round(x), "y": round(y), "color": "#{:02x}{:02x}{:02x}".format(*rgb)})
        t0 = time.perf_counter()
        out, marked, _ = colorize_with_hints(models, str(path), hints, len(hints) - 1)
        as_files((out, marked))                            # the two PNGs the page receives
        times.append(time.perf_counter() - t0)
    q = statistics.quantiles(times, n=10)
    return {"side": side, "runs": runs, "p50_s": statistics.median(times), "p90_s": q[8],
            "min_s": min(times), "max_s": max(times), "threads": torch.get_num_threads()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sources", default="scenes8,imagenet1k,cbsd68")
    p.add_argument("--counts", default="0,1,2,5,10,20,50")
    p.add_argument("--size", type=int, default=160)
    p.add_argument("--limit", type=int, default=None, help="at most this many photos per source")
    p.add_argument("--latency-runs", type=int, default=30, dest="latency_runs")
    p.add_argument("--latency-side", type=int, default=512, dest="latency_side")
    p.add_argument("--out", default=str(OUT_DIR / "hint_curve.json"))
    args = p.parse_args()

    from lessons_lib import LessonsError, zoo
    from lessons_lib.pipeline import Colorizer, hint_curve

    info = machine_info()
    print(machine_line(info))
    hints = Colorizer(zoo.model_path(zoo.HINT_MODEL), device="cpu")
    auto = Colorizer(zoo.model_path(zoo.default_model("colorization")), device="cpu")
    counts = [int(c) for c in args.counts.split(",")]
    curves, skipped = {}, {}
    for src in args.sources.split(","):
        t0 = time.perf_counter()
        try:
            curves[src] = hint_curve(hints, src, zoo.heldout_split(src), counts, size=args.size, limit=args.limit,
                                     reference=auto)
        except LessonsError as e:
            skipped[src] = str(e)
            print(f"{src}: skipped ({e})")
            continue
        print(f"{src}: {curves[src]['n_images']} photos in {time.perf_counter() - t0:.0f} s")
    if curves:
        print(f"\nPSNR (dB) of the shipped hint model at {args.size} px against the number of hints from the "
              f"true colours (in brackets: against the gray input)\n")
        print(curve_table(curves))
        ten = {s: c["psnr"][c["counts"].index(10)] - c["gray"]["psnr"] for s, c in curves.items() if 10 in c["counts"]}
        for s, d in ten.items():
            print(f"{s}: 10 hints {d:+.2f} dB over the gray input (target +3): {'met' if d >= 3 else 'MISSED'}")
    sizes = None
    if "imagenet1k" in curves:
        sizes = user_hint_sizes(zoo.model_path(zoo.HINT_MODEL), "imagenet1k", args.size, args.limit)
        print(f"\nthe user's path ({sizes['n_hints']} clicks per photo, the true colour around each, "
              f"{sizes['n_images']} imagenet1k photos): PSNR by hint_size (model pixels): " +
              ", ".join(f"{k}: {v:.2f}" for k, v in sizes["psnr_by_hint_size"].items()))
    lat = latency(args.latency_runs, args.latency_side)
    print(f"\none update of the demo at {lat['side']} px, {lat['runs']} clicks: p50 {lat['p50_s']:.3f} s, "
          f"p90 {lat['p90_s']:.3f} s (target p50 < 0.3 s: {'met' if lat['p50_s'] < 0.3 else 'MISSED'}), "
          f"{lat['threads']} torch threads")
    write_json({"machine": info, "size": args.size, "curves": curves, "skipped": skipped, "latency": lat,
                "user_hint_sizes": sizes,
                "hint_model": hints.card.get("name"), "reference": auto.card.get("name")}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
