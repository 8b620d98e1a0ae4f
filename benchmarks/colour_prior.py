"""The colour classes of the kit's training photos (issue 25): which ab bins of 10 occur, the
empirical prior over them, its Gaussian smoothing and the class-rebalancing weights
(Zhang, Isola & Efros 2016, sec. 2.2), written as one JSON a class-head run reads.

    python benchmarks/colour_prior.py                      # nogan's packs, every train photo, 64 px
    python benchmarks/colour_prior.py --out runs/colour_prior.json --limit 2000
    lessons train classes --set class_prior=runs/colour_prior.json   # the run reads it instead of measuring

The select set (5% of each pack's train photos, :func:`lessons_lib.data.select_split`) is left
out, as the run leaves it out of training. A class-head run without ``class_prior`` measures
the same thing on ``class_prior_images`` photos when it starts; either way its model card
holds the bins, the prior, the smoothed prior and the weights (``"classes"``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from lessons_lib.color.classes import ColourClasses
from lessons_lib.colorization.tasks import colour_histogram
from lessons_lib.data import SELECT_FRACTION
from lessons_lib.recipes import get_recipe


def main(argv: list[str] | None = None) -> int:
    r = get_recipe("classes")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=r.data, help=f"training source (default {r.data})")
    ap.add_argument("--size", type=int, default=r.size, help=f"image size (default {r.size}, the model's)")
    ap.add_argument("--limit", type=int, default=None, help="photos, spread over the packs (default: all)")
    ap.add_argument("--select-fraction", type=float, default=SELECT_FRACTION,
                    help="the select set's share, left out (default 0.05; 0 = none)")
    ap.add_argument("--sigma", type=float, default=r.class_sigma, help="smoothing, Lab units (paper 5)")
    ap.add_argument("--lam", type=float, default=r.class_lambda, help="uniform mix (paper 0.5)")
    ap.add_argument("--out", default="runs/colour_prior.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    t0 = time.perf_counter()
    counts, src = colour_histogram(args.data, args.size, select_fraction=args.select_fraction, limit=args.limit)
    cc = ColourClasses.from_histogram(counts, sigma=args.sigma, lam=args.lam, source=src)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(cc.to_dict(), indent=1))
    w = cc.weights
    print(f"{cc.n} ab bins of 10 occur in {src['images']} photos ({src['pixels']:,} pixels) of {args.data}; "
          f"weights {float(w.min()):.2f}..{float(w.max()):.2f} (E_p~[w] = {float((cc.smoothed * w).sum()):.3f}); "
          f"{time.perf_counter() - t0:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
