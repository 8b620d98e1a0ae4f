"""Colour in Lab: the a/b axis colour maps and the L, a, b planes of a photo (lesson 00),
pix2pix's L1-vs-realism balance for one ambiguous pixel and the raw accuracy at one
threshold (lesson 02), one gray photo in several colourings (lesson 06)."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap

from .. import color
from ..color import rgb_to_gray
from ..metrics import raw_accuracy_curve
from .images import as_image_list, show_images, to_display_array

__all__ = [
    "lab_axis_colormap",
    "show_lab_planes",
    "loss_balance_landscape",
    "plot_loss_balance",
    "show_accuracy_at",
    "show_colourings",
]


def lab_axis_colormap(channel: str, limit: float, lightness: float = 65.0, n: int = 256):
    """A colormap that shows what the a or b axis means: the real colours along it.

    Entry i is the sRGB colour of Lab ``(lightness, t, 0)`` for ``channel="a"`` (green at
    -limit, gray at 0, magenta-red at +limit) or ``(lightness, 0, t)`` for ``channel="b"``
    (blue to gray to yellow), t running from -limit to +limit. It is diverging and centred
    on 0 by construction, and the colour bar reads in Lab units.
    """
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
    arr = to_display_array(as_image_list(rgb)[0])
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
            tensor), e.g. a :class:`lessons_lib.colorization.Colorizer` of a model with a noise
            input (ColorGAN): each seed draws another noise map, so another colouring.
        image: the photo or gray image to colorize (anything ``colorize`` takes).
        seeds: the seeds to show.
        truth: the colour photo, shown last (None: not shown).
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("show_colourings needs at least one seed")
    first = to_display_array(as_image_list(image)[0])
    gray = rgb_to_gray(torch.from_numpy(np.ascontiguousarray(first)).permute(2, 0, 1).float()[None]) \
        if first.ndim == 3 else torch.from_numpy(first).float()[None, None].expand(1, 3, -1, -1)
    images = [gray[0]] + [colorize(image, seed=s) for s in seeds]
    titles = ["gray input"] + [f"seed {s}" for s in seeds]
    if truth is not None:
        images.append(truth)
        titles.append("photo")
    return show_images(images, titles=titles, ncols=ncols or len(images), figsize=figsize, suptitle=suptitle)
