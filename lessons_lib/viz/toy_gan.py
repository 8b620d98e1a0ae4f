"""The GAN game in pictures (lessons 01 and 11): the optimal discriminator of two 1-D
densities, a toy 2-D GAN's points over D's belief, and snapshots over training."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = [
    "plot_optimal_discriminator",
    "discriminator_surface",
    "plot_toy_gan",
    "plot_gan_snapshots",
]


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
