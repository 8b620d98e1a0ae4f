"""What one logit of a conv-chain discriminator sees (lesson 03): its receptive field, the
reach of its input gradient, and the geometry of a PatchGAN's logit map."""
from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from ..models.discriminators import PatchGAN
from ..models.layers import ConvGeometry, conv_geometry
from .images import as_image_list, to_display_array

__all__ = [
    "receptive_field_box",
    "logit_input_gradient",
    "show_receptive_field",
    "plot_patchgan_geometry",
]


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
    arr = to_display_array(as_image_list(image)[0])
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
        arr = to_display_array(as_image_list(image)[0])
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
