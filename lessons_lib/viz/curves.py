"""Curves: training logs (a CSV or a dict of lists), the raw-accuracy curve, and a loss of
one discriminator output with its gradient (lesson 05)."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import LessonsError

__all__ = [
    "plot_curves",
    "plot_accuracy_curve",
    "loss_vs_logit",
    "plot_loss_vs_logit",
]


# --------------------------------------------------------------------------- curves
def _read_curves(source: str | Path | Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """A CSV log (a header row, one row per logged step) or a dict -> columns of floats.

    Empty cells (a metric logged less often than the losses) become NaN, which matplotlib
    leaves out of the line.
    """
    if isinstance(source, Mapping):
        return {str(k): [float(v) for v in vals] for k, vals in source.items()}
    path = Path(source)
    if not path.is_file():
        raise LessonsError(f"no training log at {path}: pass the CSV the training run wrote (or a dict of lists)")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise LessonsError(f"the training log {path} has no rows yet: train for a few steps first")
    columns: dict[str, list[float]] = {}
    for name in rows[0].keys():
        if name is None:
            continue
        values = []
        for row in rows:
            cell = (row.get(name) or "").strip()
            try:
                values.append(float(cell) if cell else math.nan)
            except ValueError:
                values = []  # a text column (a phase name, a timestamp): not a curve
                break
        if values:
            columns[name] = values
    return columns


def _smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average (TensorBoard-style), skipping NaN; weight in [0, 1)."""
    if weight <= 0:
        return values
    out = np.empty_like(values)
    last = math.nan
    for i, v in enumerate(values):
        if math.isnan(v):
            out[i] = math.nan
            continue
        last = v if math.isnan(last) else weight * last + (1 - weight) * v
        out[i] = last
    return out


def plot_curves(
    source: str | Path | Mapping[str, Sequence[float]],
    keys: Iterable[str] | None = None,
    x: str | None = None,
    smooth: float = 0.0,
    separate: bool = False,
    logy: bool = False,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
):
    """Training curves from a CSV log or a dict of lists; returns the Figure.

    Args:
        source: path of a CSV with a header (e.g. ``step,loss_G,loss_D``) or a dict
            ``{"loss_G": [...], ...}``.
        keys: the columns to draw (default: every numeric column except ``x``).
        x: the column for the horizontal axis (default ``step`` if present, else the row
            number).
        smooth: exponential moving average weight in [0, 1) (0.9 = heavy smoothing);
            GAN losses are noisy, the trend is what a lesson discusses.
        separate: one axes per key (generator and discriminator losses have different
            scales) instead of all on one axes.
        logy: logarithmic vertical axis.
    """
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smooth must be in [0, 1), got {smooth}")
    cols = _read_curves(source)
    if x is None and "step" in cols:
        x = "step"
    if x is not None and x not in cols:
        raise LessonsError(f"no column {x!r} for the x axis; the log has: {', '.join(cols)}")
    keys = [k for k in cols if k != x] if keys is None else list(keys)
    missing = [k for k in keys if k not in cols]
    if missing:
        raise LessonsError(f"no column(s) {', '.join(map(repr, missing))} in the log; it has: {', '.join(cols)}")
    if not keys:
        raise LessonsError("nothing to plot: the log has no numeric column besides the x axis")
    xs = np.asarray(cols[x], dtype=float) if x is not None else None
    for key in keys:
        if xs is not None and len(cols[key]) != len(xs):
            raise LessonsError(f"column {key!r} has {len(cols[key])} values but {x!r} has {len(xs)}")
    n_axes = len(keys) if separate else 1
    if figsize is None:
        figsize = (4.2 * n_axes, 3.2) if separate else (6.5, 3.6)
    fig, axes = plt.subplots(1, n_axes, figsize=figsize, squeeze=False)
    for i, key in enumerate(keys):
        ax = axes[0, i if separate else 0]
        y = np.asarray(cols[key], dtype=float)
        xk = xs if xs is not None else np.arange(len(y))
        ok = ~np.isnan(y)
        if smooth > 0:
            ax.plot(xk[ok], y[ok], alpha=0.25, linewidth=1)  # raw values, faint
            ax.plot(xk[ok], _smooth(y, smooth)[ok], label=key, color=ax.lines[-1].get_color())
        else:
            ax.plot(xk[ok], y[ok], label=key)
        if separate:
            ax.set_title(key, fontsize=10)
    for ax in axes.flat:
        ax.set_xlabel(x or "logged row")
        ax.grid(True, alpha=0.3)
        if logy:
            ax.set_yscale("log")
        if not separate:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_accuracy_curve(
    thresholds: Sequence[float] | np.ndarray | torch.Tensor,
    acc: Sequence[float] | np.ndarray | torch.Tensor | Mapping[str, Any],
    label: str | None = None,
    figsize: tuple[float, float] = (5.5, 3.8),
    title: str = "Raw accuracy (Zhang et al. 2016)",
):
    """The raw-accuracy curve: share of pixels whose ab error is <= t, against t.

    ``acc`` is one curve (same length as ``thresholds``, values in [0, 1]) or a dict
    ``{"model name": curve, ...}`` to compare models on one axes (put the AuC from
    :mod:`lessons_lib.metrics` in the name if you want it in the legend).
    """
    t = np.asarray(torch.as_tensor(thresholds, dtype=torch.float64))
    raw = dict(acc) if isinstance(acc, Mapping) else {label or "accuracy": acc}
    curves = {name: np.asarray(torch.as_tensor(c, dtype=torch.float64)) for name, c in raw.items()}
    for name, y in curves.items():
        if y.shape != t.shape:
            raise ValueError(f"curve {name!r} has {y.shape[0] if y.ndim else 0} values but there are {t.shape[0]} thresholds")
    fig, ax = plt.subplots(figsize=figsize)
    for name, y in curves.items():
        ax.plot(t, y, label=name)
    ax.set_xlabel("threshold t on the ab distance")
    ax.set_ylabel("share of pixels within t")
    ax.set_ylim(0.0, 1.02)
    ax.set_xlim(float(t.min()), float(t.max()))
    ax.grid(True, alpha=0.3)
    if len(curves) > 1 or label is not None:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- lesson 05: losses, ablation tables
def loss_vs_logit(fn: Any, logits: Sequence[float] | np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """A loss of ONE discriminator output and its derivative, on a grid of outputs.

    ``fn`` maps a tensor of D outputs to a scalar loss (e.g. ``GANLoss("lsgan").g_loss``);
    it is called on each value t alone, as a (1, 1) tensor, so its mean over elements is
    the loss of that one sample. Returns ``(loss(t), dloss/dt)`` as float64 arrays, the
    derivative by autograd - the gradient a generator receives through D for that sample.
    """
    t_all = torch.as_tensor(logits, dtype=torch.float64).flatten()
    values, grads = np.empty(len(t_all)), np.empty(len(t_all))
    for i, t0 in enumerate(t_all):
        t = t0.reshape(1, 1).clone().requires_grad_(True)
        out = fn(t)
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            raise ValueError("loss_vs_logit: fn must return a scalar tensor (the loss of its input)")
        (g,) = torch.autograd.grad(out.reshape(()), t, allow_unused=True)
        values[i] = float(out.detach())
        grads[i] = 0.0 if g is None else float(g)
    return values, grads


def plot_loss_vs_logit(
    losses: Mapping[str, Any],
    lo: float = -5.0,
    hi: float = 5.0,
    n: int = 201,
    xlabel: str = "D's output on the sample",
    shade: tuple[float, float, str] | None = None,
    marks: Mapping[str, float] | None = None,
    ylim: tuple[float, float] | None = None,
    figsize: tuple[float, float] = (10.0, 3.6),
    title: str | None = None,
):
    """Two panels: each loss against D's output on one sample, and the size of its gradient.

    Args:
        losses: ``{"name": fn}`` with ``fn`` as in :func:`loss_vs_logit` (e.g. the bound
            methods ``GANLoss("vanilla").g_loss`` and ``GANLoss("lsgan").g_loss``).
        lo, hi, n: the grid of outputs.
        shade: ``(x0, x1, label)``: a band to highlight (e.g. where D calls a sample real).
        marks: ``{"label": x}``: vertical dotted lines (a decision boundary, a target).
        ylim: limits of the loss panel (the gradient panel starts at 0).
    """
    if not losses:
        raise ValueError("plot_loss_vs_logit needs at least one loss")
    if not hi > lo or n < 2:
        raise ValueError(f"need lo < hi and n >= 2, got lo={lo}, hi={hi}, n={n}")
    t = np.linspace(lo, hi, n)
    fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=figsize)
    for name, fn in losses.items():
        v, g = loss_vs_logit(fn, t)
        line = ax_l.plot(t, v, label=name)[0]
        ax_g.plot(t, np.abs(g), label=name, color=line.get_color())
    for ax in (ax_l, ax_g):
        if shade is not None:
            ax.axvspan(shade[0], shade[1], color="tab:green", alpha=0.08, label=shade[2])
        for label, x in (marks or {}).items():
            ax.axvline(x, color="gray", linestyle=":", linewidth=1)
            ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), fontsize=7, rotation=90,
                        va="top", ha="right", color="gray")
        ax.set_xlabel(xlabel)
        ax.set_xlim(lo, hi)
        ax.grid(True, alpha=0.3)
    ax_l.set_ylabel("loss of the sample")
    ax_g.set_ylabel("|d loss / d output|  (gradient size)")
    ax_g.set_ylim(bottom=0.0)
    if ylim is not None:
        ax_l.set_ylim(*ylim)
    ax_l.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
