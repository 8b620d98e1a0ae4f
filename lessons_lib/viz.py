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
    "to_display_array",
    "show_images",
    "show_lab_planes",
    "before_after",
    "plot_curves",
    "plot_accuracy_curve",
    "lab_axis_colormap",
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
