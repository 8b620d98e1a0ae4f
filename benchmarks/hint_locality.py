"""Does one hint stay on its object? The shipped hint model's locality, before and after the
edge-aware confinement (issue 25, item 4), and what the confinement costs.

    python benchmarks/hint_locality.py [--sources scenes8,imagenet1k,cbsd68] [--limit N]
                                       [--counts 0,1,2,5,10] [--latency-runs 10] [--out FILE]
    python benchmarks/hint_locality.py --select 40 --grid   # the choice of sigma, beta (select set)

1. **Locality** (``lessons_lib.colorization.hint_locality``). Each held-out photo (160 px) is cut
   into SLIC superpixels; one hint goes to the deepest pixel of a seeded segment of 2-30% of
   the photo, in a colour at least 40 Lab units from the model's own there. Printed: the mean
   |delta ab| inside the segment and outside, their ratio (target >= 4), and the reach, the share
   of the way to the hint's colour travelled inside (target >= 70%), for the network alone
   (``confine=False``) and as served (the card's ``confine``).
2. **The hint curve** (``hint_curve``): PSNR against the number of true-colour hints, both ways
   (target: 10 hints >= gray + 3 dB).
3. **Latency** of one confined update at 512 x 512 with 1, 10, 100 and 500 hints (the demo's
   cap), wall clock: run it alone on the machine.
4. ``--grid``: the sweep the defaults were chosen by, on photos of the select set (train photos
   that no checkpoint choice of the hint model used; the network saw them in training, the
   confinement's three numbers did not).

Writes ``benchmarks/out/hint_locality.json``. Needs the data packs; a missing one is skipped.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _common import OUT_DIR, machine_info, machine_line, write_json

GRID = [dict(sigma=s, beta=b, pull=0.9) for s in (0.2, 0.3, 0.45) for b in (0.3, 0.6, 1.0)]


def _photos(source: str, limit: int | None):
    from lessons_lib import zoo
    from lessons_lib.data import make_loader

    loader = make_loader(source, 160, 1, split=zoo.heldout_split(source), train=False, limit=limit, drop_last=False)
    return [b[0] for b in loader]


def _select_photos(n: int):
    from lessons_lib.data import ColorizationDataset, open_source, select_split

    src = open_source("scenes8+flowers5+imagenet1k", "train")
    chosen = select_split(src)[1]
    ds = ColorizationDataset(src, 160, train=False)
    return [ds[i] for i in chosen[::max(1, len(chosen) // n)][:n]]


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "rows"}


def locality_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["| photos | served as | n | inside (Lab) | outside (Lab) | ratio | median ratio | reach | ratio >= 4 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, r in rows.items():
        src, way = key.split(" | ")
        lines.append(f"| {src} | {way} | {r['n_images']} | {r['inside']:.1f} | {r['outside']:.1f} | {r['ratio']:.1f} | "
                     f"{r['median_ratio']:.1f} | {100 * r['reach']:.0f}% | {100 * r['share_ratio_4']:.0f}% |")
    return "\n".join(lines)


def latency(runs: int, counts=(1, 10, 100, 500)) -> dict[str, Any]:
    import numpy as np
    from PIL import Image

    from lessons_lib import zoo
    from lessons_lib.colorization import Colorizer
    from lessons_lib.data import sample_files

    img = Image.open(sample_files()[0]).convert("RGB").resize((512, 512))
    rng = np.random.default_rng(0)
    out = {}
    for way, conf in (("network alone", False), ("as served", "card")):
        col = Colorizer(zoo.model_path("hints"), device="cpu", confine=conf)
        for n in counts:
            hints = [(int(x), int(y), "#c0392b") for x, y in rng.integers(0, 512, size=(n, 2))]
            col(img, hints=hints)                                       # warm-up
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                col(img, hints=hints)
                times.append(time.perf_counter() - t)
            out[f"{way} | {n}"] = {"p50_s": statistics.median(times), "max_s": max(times), "runs": runs}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", default="scenes8,imagenet1k,cbsd68")
    ap.add_argument("--limit", type=int, default=None, help="photos per set (default: all)")
    ap.add_argument("--counts", default="0,1,2,5,10,20,50", help="hint counts of the curve")
    ap.add_argument("--latency-runs", type=int, default=10, help="timed runs per hint count (0: no latency)")
    ap.add_argument("--grid", action="store_true", help="the sweep of sigma and beta on the select set")
    ap.add_argument("--select", type=int, default=40, help="select-set photos of the sweep")
    ap.add_argument("--out", default=str(OUT_DIR / "hint_locality.json"))
    args = ap.parse_args(argv)

    from lessons_lib import LessonsError, zoo
    from lessons_lib.colorization import Colorizer, hint_curve, hint_locality

    info = machine_info()
    print(machine_line(info))
    result: dict[str, Any] = {"machine": info, "confine": zoo.SPECS["hints"].serving.get("confine")}
    path = zoo.model_path("hints")
    if args.grid:
        photos = _select_photos(args.select)
        sweep = {}
        for conf in [False, *GRID]:
            r = _summary(hint_locality(Colorizer(path, device="cpu", confine=conf), photos))
            sweep[str(conf)] = r
            print(f"{conf}: ratio {r['ratio']:.1f}, reach {100 * r['reach']:.0f}%, ratio >= 4 on "
                  f"{100 * r['share_ratio_4']:.0f}%", flush=True)
        ok = {k: r for k, r in sweep.items() if k != "False" and r["ratio"] >= 8}
        pick = max(ok, key=lambda k: ok[k]["reach"]) if ok else None
        print(f"rule (the most reach among ratio >= 8, twice the target): {pick}")
        result["grid"] = {"photos": len(photos), "sweep": sweep, "pick": pick}
    counts = [int(c) for c in args.counts.split(",")]
    loc, curves = {}, {}
    for source in [s.strip() for s in args.sources.split(",") if s.strip()]:
        try:
            photos = _photos(source, args.limit)
        except LessonsError as e:
            print(f"{source}: skipped ({e})")
            continue
        for way, conf in (("network alone", False), ("as served", "card")):
            col = Colorizer(path, device="cpu", confine=conf)
            loc[f"{source} | {way}"] = _summary(hint_locality(col, photos))
            c = hint_curve(col, source, zoo.heldout_split(source), counts, size=160, limit=args.limit)
            curves[f"{source} | {way}"] = {"counts": c["counts"], "psnr": c["psnr"], "gray": c["gray"]["psnr"],
                                          "colorfulness": c["colorfulness"], "n_images": c["n_images"]}
    print()
    print(locality_table(loc))
    print()
    print("| photos | served as | " + " | ".join(f"{n} hints" for n in counts) + " |")
    print("|---|---|" + "---:|" * len(counts))
    for key, c in curves.items():
        src, way = key.split(" | ")
        print(f"| {src} ({c['n_images']}) | {way} | " + " | ".join(f"{p - c['gray']:+.2f}" for p in c["psnr"]) + " |")
    result.update(locality=loc, curves=curves)
    if args.latency_runs:
        lat = latency(args.latency_runs)
        print()
        print("| served as | hints | p50 (s) | max (s) |")
        print("|---|---:|---:|---:|")
        for key, r in lat.items():
            way, n = key.split(" | ")
            print(f"| {way} | {n} | {r['p50_s']:.3f} | {r['max_s']:.3f} |")
        result["latency_512px"] = lat
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
