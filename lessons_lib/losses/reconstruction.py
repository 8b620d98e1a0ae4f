"""Reconstruction losses of the colorizers: L1 and the CycleGAN identity loss.

L1 (pix2pix, Isola et al. 2017, eq. 3): L_L1 = E[ ||y - G(x)||_1 ], weighted lambda = 100
in pix2pix. L1 rather than L2 because L2 averages the plausible colours of an object into
brown-gray; L1 blurs less (pix2pix sec. 3.1).

Identity loss (CycleGAN, Zhu et al. 2017, sec. 5.2 "photo generation from paintings"; seed
000 sec. 2.2): a generator G: X -> Y given a real image y of its TARGET domain should
return it unchanged,

    L_idt = E_y[ ||G(y) - y||_1 ]

so that G learns what to change (the missing colour) and what to keep. A colorizer's input
domain X is "colour images with the chroma removed" and its target domain Y is colour
images, in the model's colour space:

* ``color_space="rgb"`` (seeds 000 and 003): values in [-1, 1]. Colorization feeds
  x = gray(y) (three equal channels, the gray of the same L*: :func:`chroma_removed`), and
  identity feeds the colour image y and asks G(y) = y.
* ``color_space="lab"``: the normalised Lab image (L/50 - 1, a/110, b/110). A generator
  trained with the identity loss takes 3 channels (L, a, b): colorization feeds
  (L, 0, 0) (chroma removed), identity feeds (L, a_true, b_true) and asks its ab output to
  equal (a_true, b_true). L passes through untouched, so only ab is compared.
  Generators without identity may take L alone (in_channels=1), as pix2pix does.

In both cases ``identity_loss(G, colour_input, target) = mean |G(colour_input) - target|``;
:func:`identity_target` gives the target for a colour-space (y itself for RGB, its ab
planes for Lab).
"""
from __future__ import annotations

from typing import Callable

import torch

from ..color import rgb_to_gray

__all__ = ["COLOR_SPACES", "l1_loss", "identity_loss", "chroma_removed", "identity_target"]

COLOR_SPACES = ("rgb", "lab")


def _check_space(color_space: str) -> str:
    cs = color_space.lower() if isinstance(color_space, str) else color_space
    if cs not in COLOR_SPACES:
        from .. import LessonsError

        raise LessonsError(f"unknown color_space {color_space!r}; use one of: {', '.join(COLOR_SPACES)}")
    return cs


def _check_colour(x: torch.Tensor, color_space: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        what = "RGB in [-1, 1]" if color_space == "rgb" else "normalised (L, a, b)"
        raise ValueError(f"expected a colour batch (B, 3, H, W), {what}; got {shape}")


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 reconstruction loss E[|pred - target|], the mean over every element (pix2pix eq. 3).

    Shapes must match exactly (no silent broadcasting of, say, (B, 2, H, W) against (B, 3, H, W)).
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"l1_loss: prediction {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape"
        )
    return (pred.float() - target.float()).abs().mean()


def identity_loss(G: Callable[[torch.Tensor], torch.Tensor], colour_input: torch.Tensor,
                  target: torch.Tensor) -> torch.Tensor:
    """CycleGAN identity loss as the colorizers use it: mean |G(colour_input) - target|.

    ``colour_input`` is a real colour image in model space (RGB in [-1, 1], or Lab (L, a, b)
    normalised) and ``target`` what G must return for it: the image itself for RGB, its ab
    planes for Lab (:func:`identity_target`). See the module docstring for the definition.
    """
    return l1_loss(G(colour_input), target)


def chroma_removed(x: torch.Tensor, color_space: str) -> torch.Tensor:
    """The colorization input for a colour batch ``x`` in model space: x with its chroma removed.

    * ``"rgb"``: x in [-1, 1] (B, 3, H, W) -> the gray of the same CIE L* in three equal
      channels, in [-1, 1]: 2 * rgb_to_gray((x + 1) / 2) - 1 (lessons_lib.color).
    * ``"lab"``: x = (L/50 - 1, a/110, b/110) (B, 3, H, W) -> (L, 0, 0).
    """
    cs = _check_space(color_space)
    _check_colour(x, cs)
    if cs == "rgb":
        return rgb_to_gray((x + 1.0) / 2.0, keep_channels=True) * 2.0 - 1.0
    return torch.cat([x[:, :1], torch.zeros_like(x[:, 1:])], dim=1)


def identity_target(x: torch.Tensor, color_space: str) -> torch.Tensor:
    """What G must output for the colour input ``x`` under the identity loss.

    ``"rgb"``: x itself (B, 3, H, W); ``"lab"``: its ab planes (B, 2, H, W) (G outputs ab).
    """
    cs = _check_space(color_space)
    _check_colour(x, cs)
    return x if cs == "rgb" else x[:, 1:]
