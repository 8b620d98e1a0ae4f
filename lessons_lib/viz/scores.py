"""Runs compared by their scores (lessons 05 and 10): the best run per metric, a plain-text
table, one bar chart per metric, and the trade-off plane of two metrics."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt

__all__ = [
    "best_runs",
    "metrics_table",
    "plot_metric_bars",
    "plot_tradeoff",
]


# Which way is better, by metric name (the keys of ColorizationTask.evaluate / colorization_report).
_BETTER = {"auc": "max", "psnr": "max", "ssim": "max", "colorfulness_gap": "zero", "lpips": "min", "fid": "min",
           "fid_kit": "min", "kid_kit": "min", "lpips_kit": "min", "precision_kit": "max", "recall_kit": "max"}


def _direction(key: str) -> str | None:
    if key in _BETTER:
        return _BETTER[key]
    if key.startswith("mae"):
        return "min"
    return None


def best_runs(results: Mapping[str, Mapping[str, float]], keys: Sequence[str]) -> dict[str, list[str]]:
    """For each metric in ``keys`` with a known direction, the run(s) with the best value.

    Larger is better for AuC, PSNR, SSIM; smaller for MAE (``mae_*``), LPIPS, FID; closest
    to 0 for ``colorfulness_gap`` (as colourful as the photos, not more, not less). Ties
    (equal to 1e-9 relative) all win; runs without the metric are skipped.
    """
    out: dict[str, list[str]] = {}
    for key in keys:
        way = _direction(key)
        vals = {name: float(r[key]) for name, r in results.items()
                if key in r and isinstance(r[key], (int, float)) and math.isfinite(float(r[key]))}
        if way is None or not vals:
            continue
        score = {name: (-v if way == "max" else abs(v) if way == "zero" else v) for name, v in vals.items()}
        top = min(score.values())
        out[key] = [name for name, s in score.items() if math.isclose(s, top, rel_tol=1e-9, abs_tol=1e-12)]
    return out


def metrics_table(
    results: Mapping[str, Mapping[str, float]],
    keys: Sequence[str],
    labels: Mapping[str, str] | None = None,
    digits: int = 3,
    mark_best: bool = True,
) -> str:
    """A plain-text table: one row per run, one column per metric, the best value of each
    column marked ``*`` (see :func:`best_runs`). Missing values print as ``-``."""
    if not results:
        raise ValueError("metrics_table got no runs")
    labels = dict(labels or {})
    best = best_runs(results, keys) if mark_best else {}
    heads = [labels.get(k, k) for k in keys]
    rows = []
    for name, r in results.items():
        cells = []
        for k in keys:
            v = r.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                cell = f"{float(v):.{digits}f}" + ("*" if name in best.get(k, []) else " ")
            else:
                cell = "- "
            cells.append(cell)
        rows.append((name, cells))
    name_w = max(len("run"), *(len(n) for n in results))
    widths = [max(len(h), *(len(r[1][j]) for r in rows)) for j, h in enumerate(heads)]
    lines = ["run".ljust(name_w) + "  " + "  ".join(h.rjust(w) for h, w in zip(heads, widths))]
    lines.append("-" * len(lines[0]))
    for name, cells in rows:
        lines.append(name.ljust(name_w) + "  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths)))
    if mark_best and best:
        lines.append("* best in its column (MAE: lowest; AuC, PSNR, SSIM: highest; colorfulness gap: closest to 0)")
    return "\n".join(lines)


def plot_metric_bars(
    results: Mapping[str, Mapping[str, float]],
    keys: Sequence[str],
    labels: Mapping[str, str] | None = None,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
):
    """One bar chart per metric, one bar per run (in the order given), the best bar(s)
    outlined in black (see :func:`best_runs`), each bar labelled with its value; returns
    the Figure. The bars start at 0: small differences stay small (read the labels)."""
    if not results or not keys:
        raise ValueError("plot_metric_bars needs runs and metric keys")
    labels = dict(labels or {})
    names = list(results)
    best = best_runs(results, keys)
    if figsize is None:
        figsize = (2.6 * len(keys) + 0.6, 3.4)
    fig, axes = plt.subplots(1, len(keys), figsize=figsize, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes.flat, keys):
        vals = [float(results[n].get(key, float("nan"))) for n in names]
        bars = ax.bar(range(len(names)), vals, color=[colours[i % len(colours)] for i in range(len(names))])
        for n, bar in zip(names, bars):
            if n in best.get(key, []):
                bar.set_edgecolor("black")
                bar.set_linewidth(2.0)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
        way = {"max": "higher is better", "min": "lower is better", "zero": "closer to 0 is better"}.get(
            _direction(key) or "", "")
        ax.set_title(f"{labels.get(key, key)}\n({way})" if way else labels.get(key, key), fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
        # Bars start at 0 (no zoom that would blow a difference in the 4th digit up to the
        # full height); the exact values are written on the bars instead.
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        ax.bar_label(bars, labels=[f"{v:.3g}" if math.isfinite(v) else "-" for v in vals], fontsize=7,
                     padding=2)
        ax.margins(y=0.15)
        ax.axhline(0.0, color="k", linewidth=0.8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_tradeoff(
    results: Mapping[str, Mapping[str, float]],
    x: str,
    y: str,
    labels: Mapping[str, str] | None = None,
    highlight: Sequence[str] = ("gray input",),
    figsize: tuple[float, float] = (6.4, 4.4),
    title: str | None = None,
    better: Mapping[str, str] | None = None,
):
    """Every run as one point on the plane of two metrics (e.g. PSNR against KID_kit), with
    an arrow towards "better" on each axis (from :func:`best_runs`' directions) and the runs
    that lie on the front (no other run better on both) joined by a line: the
    distortion-perception trade-off of Blau & Michaeli (2018) drawn from measurements.
    Runs in ``highlight`` (the trivial answer) are drawn as a hollow square. ``better`` maps a
    metric to "max" or "min" where :func:`best_runs` knows no direction. Returns the Figure."""
    pts = {n: (float(r[x]), float(r[y])) for n, r in results.items()
           if isinstance(r.get(x), (int, float)) and isinstance(r.get(y), (int, float))}
    if len(pts) < 2:
        raise ValueError(f"plot_tradeoff needs at least 2 runs with both {x!r} and {y!r}")
    labels = dict(labels or {})
    better = dict(better or {})
    wx, wy = better.get(x) or _direction(x) or "min", better.get(y) or _direction(y) or "max"
    for key, way in ((x, wx), (y, wy)):
        if way not in ("max", "min"):
            raise ValueError(f"plot_tradeoff: the direction of {key!r} must be 'max' or 'min', got {way!r}")
    sx, sy = (-1 if wx == "max" else 1), (-1 if wy == "max" else 1)   # smaller score = better
    front = [n for n, (a, b) in pts.items()
             if not any(sx * c <= sx * a and sy * d <= sy * b and (c, d) != (a, b) for c, d in pts.values())]
    fig, ax = plt.subplots(figsize=figsize)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    xs, ys = [p[0] for p in pts.values()], [p[1] for p in pts.values()]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    placed: list[tuple[float, float, tuple[int, int]]] = []
    for i, (n, (a, b)) in enumerate(pts.items()):
        if n in highlight:
            ax.scatter([a], [b], s=90, marker="s", facecolors="none", edgecolors="k", linewidths=1.5, zorder=3)
        else:
            ax.scatter([a], [b], s=60, color=colours[i % len(colours)], zorder=3)
        # a label next to a point already labelled nearby goes below it, then to its left
        near = [off for (c, d, off) in placed if abs(c - a) < 0.12 * span_x and abs(d - b) < 0.06 * span_y]
        offset = next(o for o in ((6, 5), (6, -12), (-6, 5), (-6, -12), (6, 16)) if o not in near)
        placed.append((a, b, offset))
        ax.annotate(n, (a, b), textcoords="offset points", xytext=offset, fontsize=8,
                    ha="left" if offset[0] > 0 else "right")
    fr = sorted((pts[n] for n in front), key=lambda p: p[0])
    if len(fr) > 1:
        ax.plot([p[0] for p in fr], [p[1] for p in fr], "k--", linewidth=0.8, alpha=0.6, label="front (no run better on both)")
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel(f"{labels.get(x, x)} ({'higher' if wx == 'max' else 'lower'} is better)")
    ax.set_ylabel(f"{labels.get(y, y)} ({'higher' if wy == 'max' else 'lower'} is better)")
    ax.grid(True, alpha=0.3)
    ax.margins(0.18)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
