"""Figures for the lessons: image rows, Lab planes, before/after, training curves.

Every function draws one new matplotlib figure and returns it; nothing calls
``plt.show()``. In JupyterLab the inline backend shows the figure at the end of the cell
(end the line with ``;`` so it is not shown twice); in a script, save it with
``fig.savefig(path)`` and ``plt.close(fig)``. The figures are made with ``pyplot`` so that
the notebook backend sees them, and each function opens exactly one: close what you get.

Images may be given in any of the forms the lessons handle: a PIL image, a numpy array
(H, W), (H, W, 3) or (H, W, 1), a torch tensor (3, H, W), (1, H, W), (H, W) or a batch
(B, C, H, W) (one image per item), float in [0, 1] or uint8.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from . import LessonsError, color

__all__ = [
    "plot_tradeoff",
    "show_colourings",
    "to_display_array",
    "show_images",
    "show_lab_planes",
    "before_after",
    "plot_curves",
    "plot_accuracy_curve",
    "lab_axis_colormap",
    # lesson 01
    "plot_optimal_discriminator",
    "discriminator_surface",
    "plot_toy_gan",
    "plot_gan_snapshots",
    # lesson 04
    "show_maps",
    # lesson 05
    "loss_vs_logit",
    "plot_loss_vs_logit",
    "best_runs",
    "metrics_table",
    "plot_metric_bars",
    # lessons 02 and 03
    "loss_balance_landscape",
    "plot_loss_balance",
    "show_accuracy_at",
    "receptive_field_box",
    "logit_input_gradient",
    "show_receptive_field",
    "plot_patchgan_geometry",
    # lessons 07-09
    "plot_trajectory",
    "show_blur",
    "show_restoration",
    "show_style_mixing",
    # architecture diagrams (lessons_lib.diagrams)
    "draw_architecture",
    "ARCHITECTURES",
]


# --------------------------------------------------------------------------- conversions
def _is_pil(x: Any) -> bool:
    return hasattr(x, "mode") and hasattr(x, "size") and hasattr(x, "convert")


def to_display_array(image: Any) -> np.ndarray:
    """Any single image -> numpy float array in [0, 1], (H, W) for gray or (H, W, 3).

    Floats outside [0, 1] are clipped (a model's raw output can overshoot); uint8 is
    divided by 255. Raises ValueError for a shape that is not one image.
    """
    if _is_pil(image):
        image = image.convert("L") if image.mode in ("L", "1", "I", "I;16", "F") else image.convert("RGB")
        arr = np.asarray(image, dtype=np.float32) / 255.0
        return arr
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.dim() == 4 and t.shape[0] == 1:
            t = t[0]
        if t.dim() == 3:
            if t.shape[0] not in (1, 3):
                raise ValueError(
                    f"an image tensor must be (3, H, W), (1, H, W) or (H, W), got {tuple(image.shape)}"
                )
            t = t.permute(1, 2, 0)
        elif t.dim() != 2:
            raise ValueError(
                f"an image tensor must be (3, H, W), (1, H, W) or (H, W), got {tuple(image.shape)}; "
                "for a batch (B, C, H, W) use show_images"
            )
        arr = t.numpy()
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[2] not in (1, 3):
            arr = np.transpose(arr, (1, 2, 0))  # channels-first numpy
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3)):
            raise ValueError(f"an image array must be (H, W), (H, W, 1) or (H, W, 3), got {arr.shape}")
    else:
        raise TypeError(f"cannot show an object of type {type(image).__name__} as an image")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == bool:
        return arr.astype(np.float32)
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def _as_image_list(images: Any) -> list[Any]:
    """A batch tensor, a list of images or one image -> a list of single images."""
    if isinstance(images, torch.Tensor):
        if images.dim() == 4:
            return list(images)
        return [images]
    if isinstance(images, np.ndarray):
        return list(images) if images.ndim == 4 else [images]
    if _is_pil(images):
        return [images]
    out: list[Any] = []
    for item in images:
        if isinstance(item, torch.Tensor) and item.dim() == 4:
            out.extend(list(item))
        else:
            out.append(item)
    return out


def _new_figure(nrows: int, ncols: int, figsize: tuple[float, float] | None, tile: float = 2.4, **kw):
    import matplotlib.pyplot as plt

    if figsize is None:
        figsize = (tile * ncols, tile * nrows)
    return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kw)


def _imshow(ax, arr: np.ndarray, title: str | None = None) -> None:
    """Draw an array from :func:`to_display_array` (gray on a fixed [0, 1] scale)."""
    if arr.ndim == 2:
        ax.imshow(arr, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(arr, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


# --------------------------------------------------------------------------- images
def show_images(
    images: Any,
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    figsize: tuple[float, float] | None = None,
    suptitle: str | None = None,
):
    """Show images in a grid of ``ncols`` columns; returns the Figure.

    One axes per image (empty cells of the last row are removed, so ``len(fig.axes)`` is
    the number of images). ``titles``, when given, has one entry per image.
    """
    items = _as_image_list(images)
    if not items:
        raise ValueError("show_images got no images")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"got {len(items)} images but {len(titles)} titles")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    arrays = [to_display_array(im) for im in items]  # bad input fails before a figure opens
    ncols = min(ncols, len(items))
    nrows = math.ceil(len(items) / ncols)
    fig, axes = _new_figure(nrows, ncols, figsize)
    for i, ax in enumerate(axes.flat):
        if i < len(items):
            _imshow(ax, arrays[i], titles[i] if titles is not None else None)
        else:
            fig.delaxes(ax)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def lab_axis_colormap(channel: str, limit: float, lightness: float = 65.0, n: int = 256):
    """A colormap that shows what the a or b axis means: the real colours along it.

    Entry i is the sRGB colour of Lab ``(lightness, t, 0)`` for ``channel="a"`` (green at
    -limit, gray at 0, magenta-red at +limit) or ``(lightness, 0, t)`` for ``channel="b"``
    (blue to gray to yellow), t running from -limit to +limit. It is diverging and centred
    on 0 by construction, and the colour bar reads in Lab units.
    """
    from matplotlib.colors import ListedColormap

    if channel not in ("a", "b"):
        raise ValueError(f"channel must be 'a' or 'b', got {channel!r}")
    t = torch.linspace(-limit, limit, n)
    lab = torch.zeros(1, 3, 1, n)
    lab[0, 0] = lightness
    lab[0, 1 if channel == "a" else 2, 0] = t
    rgb = color.lab_to_rgb(lab)[0, :, 0].T.numpy()  # (n, 3), clipped into the gamut
    return ListedColormap(rgb, name=f"lab_{channel}")


def show_lab_planes(rgb: Any, figsize: tuple[float, float] | None = None, ab_limit: float | None = None):
    """The photo, then its L, a and b planes, each with a colour bar in Lab units.

    ``rgb`` is one colour image in any form :func:`to_display_array` takes (of a batch,
    the first image is drawn).

    L is drawn in gray on [0, 100]. a and b use :func:`lab_axis_colormap` on a symmetric
    range [-m, m] centred on 0, where m is ``ab_limit`` or the largest |a|, |b| of the
    photo (at least 10, so that a nearly gray photo does not blow noise up into colour).
    The same m is used for a and b so that the two planes compare.

    Returns the Figure: ``fig.axes[:4]`` are the four images, ``fig.axes[4:]`` the three
    colour bars (L, a, b).
    """
    import matplotlib.pyplot as plt

    arr = to_display_array(_as_image_list(rgb)[0])
    if arr.ndim != 3:
        raise ValueError("show_lab_planes needs a colour (RGB) image, got a gray one")
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0)
    lab = color.rgb_to_lab(x)[0].numpy()  # (3, H, W)
    m = float(ab_limit) if ab_limit is not None else max(10.0, float(np.abs(lab[1:]).max()))
    if figsize is None:
        figsize = (13.0, 3.2)
    fig, axes = plt.subplots(1, 4, figsize=figsize, squeeze=True)
    axes[0].imshow(arr)
    axes[0].set_title("RGB photo", fontsize=10)
    panels = [
        ("L (lightness)", lab[0], "gray", 0.0, 100.0),
        ("a (green - / red +)", lab[1], lab_axis_colormap("a", m), -m, m),
        ("b (blue - / yellow +)", lab[2], lab_axis_colormap("b", m), -m, m),
    ]
    for ax, (title, plane, cmap, lo, hi) in zip(axes[1:], panels):
        im = ax.imshow(plane, cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def before_after(
    gray: Any,
    pred: Any,
    truth: Any | None = None,
    titles: Sequence[str] = ("input", "output", "ground truth"),
    figsize: tuple[float, float] | None = None,
):
    """Rows of (input, output[, ground truth]): one row per image of a batch.

    ``gray``, ``pred`` and ``truth`` are single images or batches of the same length.
    Returns the Figure with ``rows * (2 or 3)`` axes.
    """
    given = [gray, pred] + ([truth] if truth is not None else [])
    cols = [[to_display_array(im) for im in _as_image_list(g)] for g in given]
    lengths = {len(c) for c in cols}
    if len(lengths) != 1:
        raise ValueError(f"before_after needs the same number of images in each column, got {[len(c) for c in cols]}")
    nrows, ncols = lengths.pop(), len(cols)
    if nrows == 0:
        raise ValueError("before_after got no images")
    fig, axes = _new_figure(nrows, ncols, figsize, tile=2.6)
    for r in range(nrows):
        for c in range(ncols):
            _imshow(axes[r, c], cols[c][r], titles[c] if r == 0 and c < len(titles) else None)
    fig.tight_layout()
    return fig


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
    import matplotlib.pyplot as plt

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
    import matplotlib.pyplot as plt

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


# --------------------------------------------------------------------------- lesson 04: maps
def _as_map(m: Any, i: int) -> np.ndarray:
    """One 2-D float array from a tensor/array of shape (H, W), (1, H, W) or (1, 1, H, W)."""
    arr = m.detach().float().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m, dtype=float)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(
            f"map {i} has shape {tuple(np.shape(m))}: show_maps draws 2-D maps (H, W) - "
            "pick one image and one channel, e.g. logits[0, 0]"
        )
    return arr


def show_maps(
    maps: Any,
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    cmap: str = "viridis",
    center: float | None = None,
    shared: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    extent: tuple[float, float, float, float] | None = None,
    contours: int = 0,
    colorbar: bool = True,
    xlabel: str | None = None,
    ylabel: str | None = None,
    figsize: tuple[float, float] | None = None,
    suptitle: str | None = None,
):
    """Heatmaps of 2-D maps (a discriminator's patch logits, a loss per patch, a function of
    two input channels); returns the Figure.

    Args:
        maps: a sequence of maps, or a tensor (N, 1, H, W) / (N, H, W) (one map per item),
            or one map (H, W). Each map may carry leading dimensions of size 1.
        center: draw a diverging scale symmetric about this value (e.g. 0.5 between an
            LSGAN's labels 0 and 1), so equal distances above and below look alike.
        shared: one colour scale for all maps (compare their values), else one per map.
        vmin, vmax: fix the scale (override ``center`` and ``shared``).
        extent: (x0, x1, y0, y1): the maps are samples of a function on this rectangle
            (drawn with the origin at the bottom left and axes shown); None: pixel maps.
        contours: number of contour lines drawn on each map (0 = none).
    """
    import matplotlib.pyplot as plt

    if isinstance(maps, (torch.Tensor, np.ndarray)):
        arr = maps
        if arr.ndim == 4:
            if arr.shape[1] != 1:
                raise ValueError(f"show_maps takes (N, 1, H, W) batches of one-channel maps, got {tuple(arr.shape)}")
            items = [arr[i, 0] for i in range(arr.shape[0])]
        elif arr.ndim == 3:
            items = [arr[i] for i in range(arr.shape[0])]
        else:
            items = [arr]
    else:
        items = list(maps)
    if not items:
        raise ValueError("show_maps got no maps")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"got {len(items)} maps but {len(titles)} titles")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    arrays = [_as_map(m, i) for i, m in enumerate(items)]

    def scale(group: list[np.ndarray]) -> tuple[float, float]:
        lo = min(float(np.nanmin(a)) for a in group)
        hi = max(float(np.nanmax(a)) for a in group)
        if center is not None:
            half = max(abs(lo - center), abs(hi - center)) or 1e-12
            lo, hi = center - half, center + half
        if vmin is not None:
            lo = vmin
        if vmax is not None:
            hi = vmax
        return lo, hi

    common = scale(arrays) if shared else None
    ncols = min(ncols, len(arrays))
    nrows = math.ceil(len(arrays) / ncols)
    if figsize is None:
        figsize = (3.3 * ncols, 3.0 * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(arrays):
            fig.delaxes(ax)
            continue
        a = arrays[i]
        lo, hi = common if common is not None else scale([a])
        kw = dict(cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        if extent is not None:
            im = ax.imshow(a, origin="lower", extent=extent, aspect="auto", **kw)
        else:
            im = ax.imshow(a, **kw)
            ax.set_xticks([])
            ax.set_yticks([])
        if contours > 0 and min(a.shape) >= 2 and float(np.nanmax(a)) > float(np.nanmin(a)):
            h, w = a.shape
            if extent is not None:
                xs, ys = np.linspace(extent[0], extent[1], w), np.linspace(extent[2], extent[3], h)
            else:
                xs, ys = np.arange(w), np.arange(h)
            ax.contour(xs, ys, a, levels=contours, colors="k", linewidths=0.6, alpha=0.7)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
        if xlabel and extent is not None:
            ax.set_xlabel(xlabel, fontsize=8)
        if ylabel and extent is not None:
            ax.set_ylabel(ylabel, fontsize=8)
        if colorbar:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if suptitle:
        fig.suptitle(suptitle)
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
    import matplotlib.pyplot as plt

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
    import matplotlib.pyplot as plt

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
    import matplotlib.pyplot as plt

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


# --------------------------------------------------------------------------- lesson 01: the GAN game
def plot_optimal_discriminator(
    x: Sequence[float] | np.ndarray | torch.Tensor,
    p_data: Sequence[float] | np.ndarray | torch.Tensor,
    p_g: Sequence[float] | np.ndarray | torch.Tensor,
    d_star: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    title: str | None = None,
    ax=None,
    figsize: tuple[float, float] = (6.5, 3.4),
):
    """The 1-D picture of Goodfellow et al. (2014), fig. 1: two densities and a discriminator.

    ``p_data`` (blue) and ``p_g`` (orange) are drawn against the left axis; ``d_star`` (the
    optimal discriminator ``p_data / (p_data + p_g)``, or any D(x) in [0, 1]) as a dashed
    line against a right axis from 0 to 1, with the level 1/2 that D* takes everywhere at
    the equilibrium ``p_g = p_data``. Draws into ``ax`` when given; returns the Figure.
    """
    import matplotlib.pyplot as plt

    xs = np.asarray(torch.as_tensor(x, dtype=torch.float64)).ravel()
    pd = np.asarray(torch.as_tensor(p_data, dtype=torch.float64)).ravel()
    pg = np.asarray(torch.as_tensor(p_g, dtype=torch.float64)).ravel()
    if not (len(xs) == len(pd) == len(pg)):
        raise ValueError(f"x, p_data and p_g must have the same length, got {len(xs)}, {len(pd)}, {len(pg)}")
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    ax.fill_between(xs, pd, color="tab:blue", alpha=0.25)
    ax.plot(xs, pd, color="tab:blue", label="$p_{data}$ (real)")
    ax.fill_between(xs, pg, color="tab:orange", alpha=0.25)
    ax.plot(xs, pg, color="tab:orange", label="$p_g$ (generated)")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_xlim(xs.min(), xs.max())
    ax.set_ylim(bottom=0.0)
    handles, labels = ax.get_legend_handles_labels()
    if d_star is not None:
        ds = np.asarray(torch.as_tensor(d_star, dtype=torch.float64)).ravel()
        if len(ds) != len(xs):
            raise ValueError(f"d_star has {len(ds)} values for {len(xs)} points")
        ax2 = ax.twinx()
        line = ax2.plot(xs, ds, color="k", linestyle="--", label="$D^*(x)$ (right axis)")[0]
        ax2.axhline(0.5, color="gray", linestyle=":", linewidth=1)
        ax2.set_ylim(-0.02, 1.02)
        ax2.set_ylabel("D(x) = P(x is real)")
        handles.append(line)
        labels.append(line.get_label())
    ax.legend(handles, labels, fontsize=8, loc="upper left")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _points_np(points: Any, what: str) -> np.ndarray:
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().double().numpy()
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{what} must be 2-D points of shape (N, 2), got {arr.shape}")
    return arr


def discriminator_surface(discriminator: Any, extent: float = 3.0, resolution: int = 150) -> np.ndarray:
    """``sigmoid(D(x))`` on a ``resolution`` x ``resolution`` grid over ``[-extent, extent]^2``.

    ``discriminator`` maps (N, 2) points to logits (N, 1) (a toy GAN's D); it runs in eval
    mode without gradients on the device of its parameters, and is put back in its mode.
    Row 0 of the result is the TOP of the plane (y = +extent), as an image is drawn.
    """
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    ys, xs = torch.meshgrid(torch.linspace(extent, -extent, resolution),
                            torch.linspace(-extent, extent, resolution), indexing="ij")
    grid = torch.stack([xs.flatten(), ys.flatten()], dim=1)             # (R*R, 2): (x, y)
    params = list(discriminator.parameters()) if hasattr(discriminator, "parameters") else []
    device = params[0].device if params else torch.device("cpu")
    was_training = getattr(discriminator, "training", None)
    if was_training is not None:
        discriminator.eval()
    try:
        with torch.no_grad():
            logits = discriminator(grid.to(device)).float().cpu()
    finally:
        if was_training:
            discriminator.train()
    if logits.numel() != grid.shape[0]:
        raise ValueError(f"the discriminator returned {tuple(logits.shape)} for {grid.shape[0]} points; "
                         "expected one logit per point")
    return torch.sigmoid(logits).reshape(resolution, resolution).numpy()


def plot_toy_gan(
    real: Any,
    fake: Any,
    discriminator: Any = None,
    extent: float = 3.0,
    resolution: int = 150,
    title: str | None = None,
    ax=None,
    colorbar: bool = True,
    figsize: tuple[float, float] = (4.4, 3.8),
    max_points: int = 1000,
):
    """Real (blue) and generated (orange) 2-D points, over D's belief as a heatmap.

    The heatmap is ``D(x) = sigmoid(logit)`` = "probability that x is real" from
    :func:`discriminator_surface` (purple: D says real, orange: D says fake), with its
    decision boundary D = 1/2 as a black contour. Without ``discriminator`` only the points
    are drawn. At most ``max_points`` of each cloud are drawn. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    r = _points_np(real, "real")[:max_points]
    f = _points_np(fake, "fake")[:max_points]
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    if discriminator is not None:
        surface = discriminator_surface(discriminator, extent, resolution)
        im = ax.imshow(surface, extent=(-extent, extent, -extent, extent), origin="upper", cmap="PuOr",
                       vmin=0.0, vmax=1.0, alpha=0.75, interpolation="bilinear")
        if surface.min() < 0.5 < surface.max():
            xs = np.linspace(-extent, extent, resolution)
            ax.contour(xs, xs[::-1], surface, levels=[0.5], colors="k", linewidths=0.8)
        if colorbar:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="D(x) = P(real)")
    # real points first, larger and dark: where G covers a mode, its orange points sit on
    # top and a blue rim still shows the mode underneath
    ax.scatter(r[:, 0], r[:, 1], s=12, color="#08306b", label="real", linewidths=0)
    ax.scatter(f[:, 0], f[:, 1], s=4, color="tab:orange", label="generated", linewidths=0)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    if discriminator is None or not colorbar:
        ax.legend(fontsize=7, loc="upper right", markerscale=3)
    fig.tight_layout()
    return fig


def plot_gan_snapshots(
    real: Any,
    snapshots: Mapping[int, Any],
    extent: float = 3.0,
    ncols: int | None = None,
    resolution: int = 100,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
):
    """A toy GAN over training: one :func:`plot_toy_gan` panel per snapshot.

    ``snapshots`` maps a step to the generated points (N, 2), or to ``(points, D)`` to draw
    D's belief under them (e.g. a ``copy.deepcopy`` of the discriminator at that step).
    The panels share one colour scale (purple: D says real, orange: fake).
    """
    import matplotlib.pyplot as plt

    if not snapshots:
        raise ValueError("plot_gan_snapshots needs at least one snapshot")
    steps = sorted(snapshots)
    ncols = ncols or len(steps)
    nrows = math.ceil(len(steps) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize or (2.6 * ncols, 2.7 * nrows + 0.3), squeeze=False)
    for ax, step in zip(axes.flat, steps):
        snap = snapshots[step]
        fake, disc = (snap if isinstance(snap, (tuple, list)) else (snap, None))
        plot_toy_gan(real, fake, disc, extent=extent, resolution=resolution, ax=ax, colorbar=False,
                     title=f"step {step}")
        if ax is not axes.flat[0] and ax.get_legend() is not None:
            ax.get_legend().remove()
    for ax in list(axes.flat)[len(steps):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- lesson 02: L1 vs GAN, accuracy
def loss_balance_landscape(
    colours_ab: Any,
    lambda_l1: float,
    sigma: float = 12.0,
    extent: float = 110.0,
    n: int = 111,
) -> dict[str, Any]:
    """The pix2pix objective seen from ONE gray pixel whose true colour could be any of
    ``colours_ab`` (K plausible colours, equally likely, (K, 2) in Lab units).

    For a constant guess c = (a, b) on an n x n grid over [-extent, extent]^2:

    * ``l1``: E_k |c - y_k|_1 in model units (ab/110, averaged over the two channels, as
      :func:`lessons_lib.losses.l1_loss`): pix2pix eq. 3 for this pixel. Its minimum is the
      coordinate-wise median of the colours (``l1_optimum``).
    * ``realism``: -log of the density of plausible colours, a mixture of isotropic
      Gaussians of std ``sigma`` around them, up to a constant chosen so that an isolated
      colour scores 0: ``-log sum_k exp(-|c - y_k|^2 / (2 sigma^2))``. It stands in for the
      adversarial term: an optimal D is p_data / (p_data + p_g) (Goodfellow et al. 2014,
      Prop. 1), so a colour that real photos rarely show gets a low D and a high G loss.
      (A real D learns this from data; the toy only keeps its shape.)
    * ``total`` = realism + lambda_l1 * l1 (pix2pix eq. 4 with the stand-in), and its
      minimiser ``optimum``; also the mean colour (``l2_optimum``, the minimiser of L2).

    Returns a dict of numpy arrays (``a``, ``b`` axes of length n; ``l1``, ``realism``,
    ``total`` of shape (n, n), row i = b[i], column j = a[j]) and (2,) optima.
    """
    y = torch.as_tensor(colours_ab, dtype=torch.float64)
    if y.dim() != 2 or y.shape[1] != 2 or y.shape[0] < 1:
        raise ValueError(f"colours_ab must be K plausible (a, b) pairs, shape (K, 2), got {tuple(y.shape)}")
    if lambda_l1 < 0 or sigma <= 0 or n < 3:
        raise ValueError(f"need lambda_l1 >= 0, sigma > 0 and n >= 3, got {lambda_l1}, {sigma}, {n}")
    axis = torch.linspace(-extent, extent, n, dtype=torch.float64)
    bb, aa = torch.meshgrid(axis, axis, indexing="ij")            # (n, n): row = b, column = a
    c = torch.stack([aa, bb], dim=-1)                             # (n, n, 2)
    diff = c[:, :, None, :] - y[None, None]                        # (n, n, K, 2)
    l1 = diff.abs().mean(dim=-1).mean(dim=-1) / color.AB_SCALE    # (n, n): mean over channels and colours
    sq = diff.pow(2).sum(dim=-1) / (2.0 * sigma ** 2)              # (n, n, K)
    realism = -torch.logsumexp(-sq, dim=-1)                        # (n, n), 0 on an isolated colour
    total = realism + lambda_l1 * l1
    optimum = c.reshape(-1, 2)[int(torch.argmin(total))]
    # The L1 minimiser is the coordinate-wise median; for an even K every point between the two
    # middle values is one, and the midpoint is reported.
    k, srt = y.shape[0], y.sort(dim=0).values
    median = srt[k // 2] if k % 2 else 0.5 * (srt[k // 2 - 1] + srt[k // 2])
    return {
        "a": axis.numpy(), "b": axis.numpy(),
        "l1": l1.numpy(), "realism": realism.numpy(), "total": total.numpy(),
        "optimum": optimum.numpy(),
        "l1_optimum": median.numpy(),
        "l2_optimum": y.mean(dim=0).numpy(),
    }


def _lab_swatch(L: float, ab: Sequence[float]) -> np.ndarray:
    lab = torch.tensor([float(L), float(ab[0]), float(ab[1])], dtype=torch.float64).reshape(1, 3, 1, 1)
    return color.lab_to_rgb(lab)[0, :, 0, 0].numpy()


def plot_loss_balance(
    colours_ab: Any,
    lambda_l1: float,
    lightness: float = 60.0,
    sigma: float = 12.0,
    figsize: tuple[float, float] = (11.0, 4.0),
):
    """Where pix2pix's objective puts one ambiguous pixel, for an L1 weight ``lambda_l1``.

    Left: the total objective of :func:`loss_balance_landscape` over the ab plane, the
    plausible colours (dots in their colour), the optimum (white star), the L1 optimum
    (the median, black cross) and the L2 optimum (the mean, black plus). Right: swatches at
    lightness ``lightness`` of the plausible colours and of the three optima, each titled
    with its chroma sqrt(a^2 + b^2) (0 = gray). Returns the Figure.
    """
    import matplotlib.pyplot as plt

    land = loss_balance_landscape(colours_ab, lambda_l1, sigma=sigma)
    y = np.asarray(torch.as_tensor(colours_ab, dtype=torch.float64))
    a, b = land["a"], land["b"]
    fig, (ax, ax_s) = plt.subplots(1, 2, figsize=figsize, gridspec_kw={"width_ratios": [1.0, 1.35]})
    total = land["total"] - land["total"].min()
    im = ax.imshow(np.log1p(total), origin="lower", extent=(a[0], a[-1], b[0], b[-1]), cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="log(1 + objective - min)")
    for ab in y:
        ax.scatter(ab[0], ab[1], s=70, color=_lab_swatch(lightness, ab), edgecolors="white", linewidths=1.2)
    opt, med, mean = land["optimum"], land["l1_optimum"], land["l2_optimum"]
    ax.scatter(*med, marker="x", s=80, color="black", linewidths=2, label="L1 optimum (median)")
    ax.scatter(*mean, marker="+", s=100, color="black", linewidths=2, label="L2 optimum (mean)")
    ax.scatter(*opt, marker="*", s=220, color="white", edgecolors="black", label=f"optimum at lambda={lambda_l1:g}")
    ax.set_xlabel("a")
    ax.set_ylabel("b")
    ax.set_title(f"realism + {lambda_l1:g} x L1 over the ab plane", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    names = [f"colour {i + 1}" for i in range(len(y))] + ["optimum", "L1 (median)", "L2 (mean)"]
    abs_ = list(y) + [opt, med, mean]
    strip = np.ones((40, 44 * len(abs_), 3))
    for i, ab in enumerate(abs_):
        strip[:, 44 * i:44 * i + 40] = _lab_swatch(lightness, ab)
    ax_s.imshow(strip)
    for i, (name, ab) in enumerate(zip(names, abs_)):
        ax_s.text(44 * i + 20, 46, f"{name}\nchroma {math.hypot(ab[0], ab[1]):.0f}", ha="center", va="top", fontsize=7)
    ax_s.set_xlim(-2, 44 * len(abs_))
    ax_s.set_ylim(68, -2)
    ax_s.set_axis_off()
    ax_s.set_title(f"the same gray (L = {lightness:g}) in each plausible colour, and the guesses", fontsize=10)
    fig.tight_layout()
    return fig


def show_accuracy_at(
    preds: Mapping[str, Any] | Any,
    truth: Any,
    threshold: float,
    index: int = 0,
    figsize: tuple[float, float] | None = None,
):
    """The raw accuracy at one threshold t (Zhang et al. 2016): the curve and the pixels.

    ``preds`` is one batch of colorizations or ``{"name": batch}``, ``truth`` the photos,
    all (B, 3, H, W) RGB in [0, 1] (or uint8). Left: each model's raw-accuracy curve
    (:func:`lessons_lib.metrics.raw_accuracy_curve` over the whole batch), a vertical line
    at ``t`` and the accuracy there in the legend. Then, for image ``index``, one panel
    per model: the pixels whose ab error is <= t tinted green, the others red, over the
    gray photo. Returns the Figure; ``fig.accuracy_at`` holds ``{name: acc(t)}``.
    """
    import matplotlib.pyplot as plt

    from .metrics import raw_accuracy_curve

    runs = dict(preds) if isinstance(preds, Mapping) else {"model": preds}
    if not runs:
        raise ValueError("show_accuracy_at needs at least one batch of predictions")
    if not 0 <= threshold <= 150:
        raise ValueError(f"threshold is a distance in Lab units between 0 and 150, got {threshold}")
    t_img = torch.as_tensor(truth)
    if t_img.dim() == 3:
        t_img = t_img.unsqueeze(0)
    t_img = t_img.float() / 255.0 if t_img.dtype == torch.uint8 else t_img.float()
    lab_t = color.rgb_to_lab(t_img)
    if not 0 <= index < t_img.shape[0]:
        raise ValueError(f"index {index} is outside the batch of {t_img.shape[0]} images")
    thr = torch.arange(151, dtype=torch.float64)
    # Everything is computed (and checked) before a figure opens, so bad input leaks none.
    at: dict[str, float] = {}
    curves: dict[str, np.ndarray] = {}
    within: dict[str, np.ndarray] = {}
    for name, p in runs.items():
        p_img = torch.as_tensor(p)
        if p_img.dim() == 3:
            p_img = p_img.unsqueeze(0)
        p_img = p_img.float() / 255.0 if p_img.dtype == torch.uint8 else p_img.float()
        if p_img.shape != t_img.shape:
            raise ValueError(f"predictions {name!r} have shape {tuple(p_img.shape)}, the photos {tuple(t_img.shape)}")
        lab_p = color.rgb_to_lab(p_img)
        curves[name] = raw_accuracy_curve(lab_p, lab_t, thr)[1].numpy()
        # acc(t) at t itself (t may lie between the integer thresholds of the curve)
        at[name] = float(raw_accuracy_curve(lab_p, lab_t, [float(threshold), float(threshold) + 1e-9])[1][0])
        within[name] = ((lab_p[index, 1:] - lab_t[index, 1:]).pow(2).sum(dim=0).sqrt() <= threshold).numpy()  # (H, W)
    gray = lab_t[index, 0].numpy() / 100.0
    n = len(runs)
    if figsize is None:
        figsize = (4.8 + 2.9 * n, 3.6)
    fig, axes = plt.subplots(1, n + 1, figsize=figsize, gridspec_kw={"width_ratios": [1.6] + [1.0] * n},
                             squeeze=False)
    ax_c = axes[0, 0]
    for i, name in enumerate(runs):
        line = ax_c.plot(thr.numpy(), curves[name], label=f"{name}: {100 * at[name]:.1f}% within t")[0]
        ax_c.scatter([threshold], [at[name]], color=line.get_color(), zorder=3)
        ok = within[name]
        overlay = np.stack([gray] * 3, axis=-1) * 0.6
        overlay[ok] += np.array([0.0, 0.4, 0.0])
        overlay[~ok] += np.array([0.4, 0.0, 0.0])
        ax = axes[0, i + 1]
        ax.imshow(np.clip(overlay, 0, 1), interpolation="nearest")
        ax.set_title(f"{name}: {100 * ok.mean():.0f}% of this image\nwithin t (green)", fontsize=9)
        ax.set_axis_off()
    ax_c.axvline(threshold, color="gray", linestyle=":")
    ax_c.set_xlabel("threshold t on the ab distance (Lab units)")
    ax_c.set_ylabel("share of pixels within t")
    ax_c.set_xlim(0, 150)
    ax_c.set_ylim(0, 1.02)
    ax_c.grid(True, alpha=0.3)
    ax_c.legend(fontsize=8, loc="lower right")
    ax_c.set_title(f"raw accuracy, t = {threshold:g}", fontsize=10)
    fig.tight_layout()
    fig.accuracy_at = at
    return fig


# --------------------------------------------------------------------------- lesson 03: receptive fields
def receptive_field_box(layers: Any, index: int) -> tuple[int, int]:
    """The input pixels (first, last, inclusive, along one axis) that output position
    ``index`` of a conv chain depends on; may reach outside the image (into the padding).

    ``layers`` is a model or a list of :class:`~lessons_lib.models.layers.ConvGeometry`
    (see :func:`~lessons_lib.models.layers.conv_geometry`). Walking back from the output,
    a layer with kernel k, stride s, padding p and dilation d maps the interval [u, v] of
    its output to [s u - p, s v - p + d (k - 1)] of its input. The length of the result
    is :func:`~lessons_lib.models.layers.receptive_field`.
    """
    from .models.layers import ConvGeometry, conv_geometry

    geo = layers if isinstance(layers, list) and all(isinstance(g, ConvGeometry) for g in layers) \
        else conv_geometry(layers)
    u = v = int(index)
    for g in reversed(geo):
        u, v = g.stride * u - g.padding, g.stride * v - g.padding + g.dilation * (g.kernel - 1)
    return u, v


def logit_input_gradient(discriminator: Any, x: torch.Tensor, row: int, col: int) -> torch.Tensor:
    """|d D(x)[0, 0, row, col] / d x| summed over the input channels: (H, W) for image 0.

    The pixels where it is non-zero are exactly what that one logit looks at. D runs in
    eval mode (BatchNorm then uses its running statistics, a per-channel affine map; in
    training mode the batch mean would link every logit to every pixel) and is put back in
    its previous mode; its parameters receive no gradient.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a (B, C, H, W) batch, got {getattr(x, 'shape', type(x).__name__)}")
    was_training = discriminator.training
    discriminator.eval()
    try:
        inp = x.detach()[:1].clone().requires_grad_(True)
        out = discriminator(inp)
        if out.dim() != 4:
            raise ValueError(f"the discriminator returns {tuple(out.shape)}, not a patch map (B, 1, H', W')")
        if not (0 <= row < out.shape[2] and 0 <= col < out.shape[3]):
            raise ValueError(f"position ({row}, {col}) is outside the {out.shape[2]}x{out.shape[3]} logit map")
        (grad,) = torch.autograd.grad(out[0, 0, row, col], inp)
    finally:
        discriminator.train(was_training)
    return grad[0].abs().sum(dim=0)


def show_receptive_field(
    image: Any,
    gradient: torch.Tensor,
    box: tuple[tuple[int, int], tuple[int, int]],
    title: str | None = None,
    figsize: tuple[float, float] = (8.5, 4.0),
):
    """Two panels: the photo with the receptive-field square of one logit, and the size of
    that logit's input gradient (log scale) with the same square.

    ``box`` is ((row_first, row_last), (col_first, col_last)) from
    :func:`receptive_field_box`; ``gradient`` an (H, W) map from :func:`logit_input_gradient`.
    Returns the Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    arr = to_display_array(_as_image_list(image)[0])
    g = gradient.detach().cpu().double().numpy()
    if g.shape != arr.shape[:2]:
        raise ValueError(f"gradient map {g.shape} and image {arr.shape[:2]} differ in size")
    (r0, r1), (c0, c1) = box
    fig, axes = plt.subplots(1, 2, figsize=figsize)
    axes[0].imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
    nz = g[g > 0]
    floor = nz.min() if nz.size else 1e-12
    im = axes[1].imshow(np.log10(np.maximum(g, floor * 0.1)), cmap="magma")
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.04, label="log10 |gradient|")
    for ax in axes:
        ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False,
                               edgecolor="cyan", linewidth=2))
        ax.set_xlim(-0.5, arr.shape[1] - 0.5)
        ax.set_ylim(arr.shape[0] - 0.5, -0.5)
        ax.set_axis_off()
    axes[0].set_title(f"the {r1 - r0 + 1}x{c1 - c0 + 1} patch one logit judges", fontsize=10)
    axes[1].set_title("what that logit's gradient reaches", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_patchgan_geometry(n_layers: int, size: int = 256, image: Any | None = None,
                           figsize: tuple[float, float] = (9.0, 4.2)):
    """A PatchGAN with ``n_layers`` strided layers on a ``size`` x ``size`` input.

    Left: the image (or a blank square) with the receptive fields of the central logit and
    of its right-hand neighbour (they overlap; their offset is the product of the strides).
    Right: the logit map, one cell per patch. The numbers come from the built model
    (:class:`~lessons_lib.models.discriminators.PatchGAN` with width 1: the geometry does
    not depend on the width). Returns the Figure; ``fig.geometry`` holds
    ``{"receptive_field", "map_size", "stride"}``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from .models.discriminators import PatchGAN
    from .models.layers import conv_geometry

    D = PatchGAN(in_channels=1, ndf=1, n_layers=int(n_layers))
    m = D.output_size(size)
    if m < 1:
        raise ValueError(f"a {size}x{size} input is too small for a PatchGAN with n_layers={n_layers}: "
                         f"it needs at least {D.min_input_size} pixels")
    rf = D.receptive_field
    stride = math.prod(g.stride for g in conv_geometry(D))   # input pixels between neighbouring logits
    centre = m // 2
    arr = np.full((size, size), 0.92)
    if image is not None:
        arr = to_display_array(_as_image_list(image)[0])
        if arr.shape[:2] != (size, size):
            raise ValueError(f"the image is {arr.shape[0]}x{arr.shape[1]}, expected {size}x{size}")
    fig, (ax, ax_m) = plt.subplots(1, 2, figsize=figsize)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
    for col, colour in ((centre, "cyan"), (centre + 1, "yellow")):
        if col >= m:
            continue
        (r0, r1), (c0, c1) = receptive_field_box(D, centre), receptive_field_box(D, col)
        ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False,
                               edgecolor=colour, linewidth=2))
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    ax.set_axis_off()
    ax.set_title(f"n_layers={n_layers}: each logit sees {rf}x{rf} px\n(neighbours {stride} px apart)", fontsize=10)
    grid = np.full((m, m, 3), 0.2)                    # one cell per logit, the two drawn ones in colour
    grid[centre, centre] = (0.0, 1.0, 1.0)           # cyan, as its square on the left
    if centre + 1 < m:
        grid[centre, centre + 1] = (1.0, 1.0, 0.0)   # yellow
    ax_m.imshow(grid, interpolation="nearest")
    if m <= 64:
        ax_m.set_xticks(np.arange(-0.5, m, 1), minor=True)
        ax_m.set_yticks(np.arange(-0.5, m, 1), minor=True)
        ax_m.grid(which="minor", color="white", linewidth=0.3)
    ax_m.set_xticks([])
    ax_m.set_yticks([])
    ax_m.set_title(f"D's output: a {m}x{m} map = {m * m} patch verdicts", fontsize=10)
    fig.tight_layout()
    fig.geometry = {"receptive_field": rf, "map_size": m, "stride": stride}
    return fig


# --------------------------------------------------------------------------- lesson 06: diverse colourings
def show_colourings(
    colorize: Any,
    image: Any,
    seeds: Sequence[int] = (0, 1, 2, 3),
    truth: Any | None = None,
    ncols: int | None = None,
    figsize: tuple[float, float] | None = None,
    suptitle: str | None = None,
):
    """The gray input, one colouring per seed, and (optionally) the photo; returns the Figure.

    Args:
        colorize: called as ``colorize(image, seed=s)`` and returning an image (PIL, array or
            tensor), e.g. a :class:`lessons_lib.pipeline.Colorizer` of a model with a noise
            input (ColorGAN): each seed draws another noise map, so another colouring.
        image: the photo or gray image to colorize (anything ``colorize`` takes).
        seeds: the seeds to show.
        truth: the colour photo, shown last (None: not shown).
    """
    from .color import rgb_to_gray

    seeds = list(seeds)
    if not seeds:
        raise ValueError("show_colourings needs at least one seed")
    first = to_display_array(_as_image_list(image)[0])
    gray = rgb_to_gray(torch.from_numpy(np.ascontiguousarray(first)).permute(2, 0, 1).float()[None]) \
        if first.ndim == 3 else torch.from_numpy(first).float()[None, None].expand(1, 3, -1, -1)
    images = [gray[0]] + [colorize(image, seed=s) for s in seeds]
    titles = ["gray input"] + [f"seed {s}" for s in seeds]
    if truth is not None:
        images.append(truth)
        titles.append("photo")
    return show_images(images, titles=titles, ncols=ncols or len(images), figsize=figsize, suptitle=suptitle)


# --------------------------------------------------------------------------- lessons 07-09: the restorer
def plot_trajectory(traj: Any, kernel: Any, figsize: tuple[float, float] | None = None, title: str | None = None):
    """A camera path (lesson 07) next to the blur kernel it makes; returns the Figure.

    Args:
        traj: ``(n_points, 2)`` positions in pixels (:func:`lessons_lib.data.blur.trajectory`),
            drawn coloured by time (dark = start of the exposure, light = end).
        kernel: the ``(N, N)`` PSF (:func:`~lessons_lib.data.blur.rasterize` of the path).
    """
    import matplotlib.pyplot as plt

    pts = np.asarray(traj, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"traj must be an (n_points, 2) array, got shape {pts.shape}")
    k = torch.as_tensor(kernel).detach().float().cpu()
    if k.dim() != 2:
        raise ValueError(f"kernel must be an (N, N) tensor, got shape {tuple(k.shape)}")
    fig, (ax_t, ax_k) = plt.subplots(1, 2, figsize=figsize or (7.0, 3.4))
    ax_t.scatter(pts[:, 0], pts[:, 1], c=np.linspace(0, 1, len(pts)), cmap="viridis", s=2)
    ax_t.plot(pts[0, 0], pts[0, 1], "o", color="black", ms=4)
    ax_t.set_aspect("equal")
    ax_t.invert_yaxis()  # image convention: y grows downwards, like the kernel's rows
    ax_t.set_title("camera path (dark = start)", fontsize=10)
    ax_t.set_xlabel("x (pixels)")
    ax_t.set_ylabel("y (pixels)")
    ax_k.imshow((k / k.max().clamp_min(1e-12)).numpy(), cmap="inferno", interpolation="nearest")
    ax_k.set_title(f"its blur kernel ({k.shape[0]}x{k.shape[1]}, sum 1)", fontsize=10)
    ax_k.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_blur(image: Any, kernel: Any, figsize: tuple[float, float] | None = None):
    """The kernel, the sharp image and its blurred version ``k * x`` (lesson 07's widget); returns the Figure.

    ``image``: ``(1, 3, H, W)`` or ``(3, H, W)`` in [0, 1] (or uint8); ``kernel``: ``(N, N)``."""
    from .data.blur import blur

    x = torch.as_tensor(image)
    x = x[None] if x.dim() == 3 else x
    k = torch.as_tensor(kernel).detach().float()
    y = blur(x, k)
    kimg = (k / k.max().clamp_min(1e-12))[None].expand(3, -1, -1)
    return show_images([kimg, x[0], y[0]], titles=[f"kernel {k.shape[0]}x{k.shape[1]}", "sharp", "blurred = k * x"],
                       ncols=3, figsize=figsize or (8.4, 3.0))


_RESTORATION_TITLES = {"blurred": "blurred x", "x_R": "x_R (NAFNet)", "x_G": "x_G (inversion)",
                       "x_hat": "x_hat (fusion)", "sharp": "sharp"}


def show_restoration(outputs: Mapping[str, Any], sharp: Any | None = None, n: int = 4,
                     figsize: tuple[float, float] | None = None):
    """One row per face: blurred, x_R, x_G, x_hat (those given) and the sharp face; returns the Figure.

    Args:
        outputs: ``{"blurred": (B, 3, H, W), "x_R": ..., ...}`` in [0, 1], e.g.
            :meth:`lessons_lib.pipeline.Restorer.restore_tensor` or ``RestorerParts.run``.
        sharp: ``(B, 3, H, W)`` ground truth: each title then carries the image's PSNR (dB).
        n: the first ``n`` faces.
    """
    from .metrics import psnr

    keys = [k for k in ("blurred", "x_R", "x_G", "x_hat") if k in outputs]
    if not keys:
        raise ValueError("show_restoration needs at least one of blurred, x_R, x_G, x_hat")
    cols = {k: torch.as_tensor(outputs[k]).detach().float().cpu().clamp(0, 1) for k in keys}
    if sharp is not None:
        cols["sharp"] = torch.as_tensor(sharp).detach().float().cpu().clamp(0, 1)
    b = min(n, *(v.shape[0] for v in cols.values()))
    images, titles = [], []
    for i in range(b):
        for k, v in cols.items():
            images.append(v[i])
            t = _RESTORATION_TITLES[k]
            if sharp is not None and k != "sharp":
                t += f"\n{float(psnr(v[i:i + 1], cols['sharp'][i:i + 1])):.1f} dB"
            titles.append(t if i == 0 or sharp is not None else "")
    return show_images(images, titles=titles, ncols=len(cols), figsize=figsize or (2.0 * len(cols), 2.3 * b))


def show_style_mixing(generator: Any, z_rows: torch.Tensor, z_cols: torch.Tensor, crossover: int,
                      figsize: tuple[float, float] | None = None):
    """StyleGAN's style-mixing grid (lesson 08); returns the Figure.

    Row ``i`` takes its codes ``0 .. crossover-1`` (coarse layers: pose, face shape) from
    ``z_rows[i]`` and column ``j`` the rest (finer layers: colours, texture) from ``z_cols[j]``.
    The first row shows the column sources, the first column the row sources (all with
    the generator's fixed noise maps, so only the codes differ)."""
    G = generator
    R, C = z_rows.shape[0], z_cols.shape[0]

    def img(t: torch.Tensor) -> torch.Tensor:
        return ((t.float() + 1) / 2).clamp(0, 1).cpu()

    with torch.no_grad():
        cols = img(G(z_cols, noise="const"))
        rows = img(G(z_rows, noise="const"))
        mixed = img(G.style_mix(z_rows.repeat_interleave(C, 0), z_cols.repeat(R, 1), crossover, noise="const"))
    blank = torch.ones_like(cols[0])
    images = [blank] + list(cols)
    titles = ["rows: codes < %d\ncolumns: the rest" % crossover] + [f"column source {j}" for j in range(C)]
    for i in range(R):
        images += [rows[i]] + list(mixed[i * C:(i + 1) * C])
        titles += [f"row source {i}"] + [""] * C
    return show_images(images, titles=titles, ncols=C + 1, figsize=figsize or (1.6 * (C + 1), 1.7 * (R + 1)))


# Architecture diagrams drawn from the built models (lessons_lib.diagrams).
from .diagrams import draw_architecture, ARCHITECTURES  # noqa: E402
