"""The colour-fidelity frontier: what a chroma gain buys a regression colorizer, and where a
colour-class model's temperature lies against it (issue 25).

    python benchmarks/colour_frontier.py [--gains 1,1.2,1.4,1.6] [--models nogan,nogan_warm]
    python benchmarks/colour_frontier.py --classes runs/classes/selected.safetensors \\
        [--temperatures 1,0.77,0.58,0.45,0.38,0.3,0.2] [--corrections 0,0.5,1] [--models nogan]
    python benchmarks/colour_frontier.py --quick --classes RUN   # 8 photos per set: a check in a minute

A colorizer trained with L1 paints the median of the plausible colours: too timid. Two
ways to add colour to it are measured on the same held-out photos: the GAN phase (``nogan``
against its warm start ``nogan_warm``) and a plain gain on the predicted ab
(``Colorizer(chroma=g)``, ``lessons colorize --chroma g``). A colour-class model (Zhang,
Isola & Efros 2016; ``lessons train classes``) is measured over its decoding temperature
(``Colorizer(temperature=T)``, ``lessons colorize --temperature T``): one curve per prior
correction (``Colorizer(correction=c)``; default: the one its card chose).

For each model, setting and held-out set (the default colorizer's: scenes8 val, imagenet1k
val, all of cbsd68; 160 px, colorized as ``lessons colorize`` does) it prints PSNR against
the gray input and the colourfulness as a share of the photos', marks the cells that meet
issue 11's target (at least +0.5 dB and 60 %), and says per set whether the class model's
curve lies above the regression model's (more colourful at the same PSNR, compared where
their PSNR ranges overlap). Writes ``benchmarks/out/colour_frontier.json`` and the plot
``benchmarks/out/colour_frontier.png`` (PSNR vs colourfulness, one panel per set).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, machine_info, machine_line, write_json  # noqa: E402

from lessons_lib import zoo  # noqa: E402
from lessons_lib.pipeline import Colorizer, evaluate_colorizer  # noqa: E402

PSNR_TARGET_DB = 0.5
COLOUR_TARGET = 0.60
QUICK_LIMIT = 8


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _class_curve(name: str, correction: float) -> str:
    """The name of one of the class model's curves: its T at one prior correction."""
    return f"{name} c={correction:g}"


def _corrections(args, path) -> list[float]:
    """The prior corrections to draw a T-curve at: --corrections, else the card's own."""
    if args.corrections:
        return _floats(args.corrections)
    return [Colorizer(path, device="cpu").correction]


def _curves(args, size: int, sets: list[str]) -> list[dict[str, Any]]:
    """Every (set, model, setting) row: the regression models over the chroma gain, the class
    model over the temperature; the gray input scored once per set."""
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    rows: list[dict[str, Any]] = []
    for source in sets:
        split = zoo.heldout_split(source)
        gray = None
        runs: list[tuple[str, str, float, Colorizer]] = [
            (name, "chroma", g, Colorizer(zoo.model_path(name), device="cpu", chroma=g))
            for name in models for g in _floats(args.gains)]
        if args.classes:
            path = zoo.resolve_model("colorization", None, args.classes) if Path(args.classes).exists() \
                else zoo.model_path(args.classes)
            runs += [(_class_curve(args.classes_name, c), "temperature", t,
                      Colorizer(path, device="cpu", temperature=t, correction=c))
                     for c in _corrections(args, path) for t in _floats(args.temperatures)]
        for name, knob, value, colorizer in runs:
            res = evaluate_colorizer(colorizer, source, split, size=size, baseline=gray is None, limit=args.limit)
            m, gray = res["model"], gray or res["gray_baseline"]
            rows.append({"set": f"{source} {split}", "n_images": res["n_images"], "model": name, "knob": knob,
                         "value": value, "psnr": m["psnr"], "psnr_vs_gray": m["psnr"] - gray["psnr"],
                         "ssim": m["ssim"], "colorfulness": m["colorfulness"],
                         "colour_share": m["colorfulness"] / m["colorfulness_gt"]})
    return rows


def frontier_moves(rows: list[dict[str, Any]], regression: str, classes: str) -> dict[str, dict[str, Any]]:
    """Per set: at each PSNR of the class model's curve that the regression curve also reaches,
    the class model's colourfulness share minus the regression curve's there (linear between
    its points). ``moves``: every such margin > 0 (None when the ranges do not overlap)."""
    out: dict[str, dict[str, Any]] = {}
    for s in dict.fromkeys(r["set"] for r in rows):
        reg = sorted(((r["psnr_vs_gray"], r["colour_share"]) for r in rows
                      if r["set"] == s and r["model"] == regression), key=lambda p: p[0])
        cls = [(r["psnr_vs_gray"], r["colour_share"], r["value"]) for r in rows
               if r["set"] == s and r["model"] == classes]
        margins = []
        for x, y, t in cls:
            for (x0, y0), (x1, y1) in zip(reg, reg[1:]):
                if x0 <= x <= x1:
                    y_reg = y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
                    margins.append({"temperature": t, "psnr_vs_gray": x, "margin": y - y_reg})
                    break
        out[s] = {"margins": margins, "moves": all(m["margin"] > 0 for m in margins) if margins else None}
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(r["set"] for r in rows))
    fig, axes = plt.subplots(1, len(sets), figsize=(4.6 * len(sets), 4.0), squeeze=False)
    for ax, s in zip(axes[0], sets):
        for model in dict.fromkeys(r["model"] for r in rows if r["set"] == s):
            pts = [r for r in rows if r["set"] == s and r["model"] == model]
            knob = pts[0]["knob"]
            ax.plot([r["psnr_vs_gray"] for r in pts], [100 * r["colour_share"] for r in pts],
                    "o-" if knob == "chroma" else "s-", label=f"{model} ({'gain' if knob == 'chroma' else 'T'})")
            for r in pts:
                ax.annotate(f"{r['value']:g}", (r["psnr_vs_gray"], 100 * r["colour_share"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        ax.axvline(PSNR_TARGET_DB, color="gray", ls=":", lw=1)
        ax.axhline(100 * COLOUR_TARGET, color="gray", ls=":", lw=1)
        ax.set_title(f"{s} ({pts[0]['n_images']} photos)", fontsize=9)
        ax.set_xlabel("PSNR - gray input's (dB)")
        ax.set_ylabel("colourfulness, % of the photos'")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gains", default="1,1.2,1.4,1.6", help="chroma gains, comma-separated")
    ap.add_argument("--models", default="nogan,nogan_warm", help="shipped regression colorizers, comma-separated")
    ap.add_argument("--classes", default=None,
                    help="a colour-class model: a run folder, .safetensors, card, or a shipped name")
    ap.add_argument("--classes-name", default="classes", help="its name in the table and the plot")
    ap.add_argument("--temperatures", default="1,0.77,0.58,0.45,0.38,0.3,0.2",
                    help="the class model's decoding temperatures, comma-separated")
    ap.add_argument("--corrections", default=None,
                    help="the class model's prior corrections, one T-curve each, comma-separated (default: the "
                         "one its card chose)")
    ap.add_argument("--sets", default=None, help="held-out sources, comma-separated (default: the default "
                                                 "colorizer's: scenes8, imagenet1k, cbsd68)")
    ap.add_argument("--limit", type=int, default=None, help="photos per set (default: all)")
    ap.add_argument("--size", type=int, default=None, help="evaluation size (default: the default colorizer's)")
    ap.add_argument("--quick", action="store_true",
                    help=f"a check: {QUICK_LIMIT} photos per set, gains 1,1.4, temperatures 1,0.38,0.1")
    ap.add_argument("--out", default=str(OUT_DIR / "colour_frontier.json"), help="the JSON (the plot beside it)")
    args = ap.parse_args(argv)
    if args.quick:
        args.limit = args.limit or QUICK_LIMIT
        args.gains, args.temperatures = "1,1.4", "1,0.38,0.1"
    spec = zoo.SPECS[zoo.default_model("colorization")]
    size = args.size or spec.size
    sets = [s.strip() for s in args.sets.split(",")] if args.sets else list(spec.eval_data)
    info = machine_info()
    rows = _curves(args, size, sets)
    lines = [machine_line(info), "", f"Held-out photos at {size} px; target: >= +{PSNR_TARGET_DB} dB over gray and "
             f">= {COLOUR_TARGET:.0%} of the photos' colourfulness (both: **)", "",
             "| set | model | setting | PSNR vs gray | SSIM | colourfulness | % of photos |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        both = r["psnr_vs_gray"] >= PSNR_TARGET_DB and r["colour_share"] >= COLOUR_TARGET
        knob = "gain" if r["knob"] == "chroma" else "T"
        lines.append(f"| {r['set']} ({r['n_images']}) | {r['model']} | {knob} {r['value']:g} | "
                     f"{r['psnr_vs_gray']:+.2f} | {r['ssim']:.3f} | {r['colorfulness']:.1f} | "
                     f"{100 * r['colour_share']:.0f}%{' **' if both else ''} |")
    result: dict[str, Any] = {"machine": info, "size": size, "limit": args.limit, "rows": rows}
    if args.classes:
        regression = args.models.split(",")[0].strip()
        result["frontier_moves"] = {}
        for curve in dict.fromkeys(r["model"] for r in rows if r["knob"] == "temperature"):
            moves = frontier_moves(rows, regression, curve)
            result["frontier_moves"][curve] = moves
            lines += ["", f"Does the frontier move? ({curve} over T against {regression} over its gain, "
                          "at the same PSNR)"]
            for s, m in moves.items():
                if m["moves"] is None:
                    lines.append(f"- {s}: the two curves' PSNR ranges do not overlap")
                else:
                    worst = min(m["margins"], key=lambda x: x["margin"])
                    lines.append(f"- {s}: {'yes' if m['moves'] else 'no'}; the smallest margin "
                                 f"{100 * worst['margin']:+.0f} points at T = {worst['temperature']:g}")
    print("\n".join(lines))
    out = Path(args.out)
    write_json(result, out)
    print(f"wrote {plot(rows, out.with_suffix('.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
