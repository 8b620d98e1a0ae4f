"""Images and maps in grids: any image form -> a display array, image grids, input/output
rows, heatmaps of 2-D maps (a discriminator's patch logits, a loss per patch)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = [
    "to_display_array",
    "as_image_list",
    "show_images",
    "before_after",
    "show_maps",
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


def as_image_list(images: Any) -> list[Any]:
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
    items = as_image_list(images)
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
    cols = [[to_display_array(im) for im in as_image_list(g)] for g in given]
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


def _map_items(maps: Any) -> list:
    """The maps of :func:`show_maps`'s argument: a sequence, a batch (N, 1, H, W) or (N, H, W), or one map."""
    if not isinstance(maps, (torch.Tensor, np.ndarray)):
        return list(maps)
    if maps.ndim == 4:
        if maps.shape[1] != 1:
            raise ValueError(f"show_maps takes (N, 1, H, W) batches of one-channel maps, got {tuple(maps.shape)}")
        return [maps[i, 0] for i in range(maps.shape[0])]
    if maps.ndim == 3:
        return [maps[i] for i in range(maps.shape[0])]
    return [maps]


def _map_scale(group: list[np.ndarray], center: float | None, vmin: float | None,
               vmax: float | None) -> tuple[float, float]:
    """The colour scale (lo, hi) of a group of maps: their range, made symmetric about ``center``
    when given, with ``vmin`` / ``vmax`` overriding either end."""
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


def _draw_map(ax, a: np.ndarray, scale: tuple[float, float], cmap: str,
              extent: tuple[float, float, float, float] | None, contours: int):
    """One heatmap of :func:`show_maps` on ``ax``: pixels, or a function sampled on ``extent``
    (origin at the bottom left, axes shown), with contour lines when asked; returns the image."""
    kw = dict(cmap=cmap, vmin=scale[0], vmax=scale[1], interpolation="nearest")
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
    return im


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
    items = _map_items(maps)
    if not items:
        raise ValueError("show_maps got no maps")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"got {len(items)} maps but {len(titles)} titles")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    arrays = [_as_map(m, i) for i, m in enumerate(items)]
    common = _map_scale(arrays, center, vmin, vmax) if shared else None
    ncols = min(ncols, len(arrays))
    nrows = math.ceil(len(arrays) / ncols)
    fig, axes = _new_figure(nrows, ncols, figsize if figsize is not None else (3.3 * ncols, 3.0 * nrows))
    for i, ax in enumerate(axes.flat):
        if i >= len(arrays):
            fig.delaxes(ax)
            continue
        a = arrays[i]
        scale = common if common is not None else _map_scale([a], center, vmin, vmax)
        im = _draw_map(ax, a, scale, cmap, extent, contours)
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
