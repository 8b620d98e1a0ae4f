"""The restorer's figures (lessons 07-09): a camera path and its blur kernel, an image
blurred by it, restoration rows with their PSNR, StyleGAN's style-mixing grid."""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data.blur import blur
from ..metrics import psnr
from .images import show_images

__all__ = [
    "plot_trajectory",
    "show_blur",
    "show_restoration",
    "show_style_mixing",
]


# --------------------------------------------------------------------------- lessons 07-09: the restorer
def plot_trajectory(traj: Any, kernel: Any, figsize: tuple[float, float] | None = None, title: str | None = None):
    """A camera path (lesson 07) next to the blur kernel it makes; returns the Figure.

    Args:
        traj: ``(n_points, 2)`` positions in pixels (:func:`lessons_lib.data.blur.trajectory`),
            drawn coloured by time (dark = start of the exposure, light = end).
        kernel: the ``(N, N)`` PSF (:func:`~lessons_lib.data.blur.rasterize` of the path).
    """
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
            :meth:`lessons_lib.restoration.Restorer.restore_tensor` or ``RestorerParts.run``.
        sharp: ``(B, 3, H, W)`` ground truth: each title then carries the image's PSNR (dB).
        n: the first ``n`` faces.
    """
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
