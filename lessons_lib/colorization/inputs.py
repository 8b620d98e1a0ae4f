"""What a colorizer's generator reads: the one function that training
(:class:`~lessons_lib.colorization.tasks.ColorizationTask`) and inference
(:class:`~lessons_lib.colorization.Colorizer`) both call, so the two cannot drift apart.

A model's card records the kind (``"g_input"``); :func:`generator_input_kind` derives it from
the recipe when the card is written, and :func:`generator_input` builds the tensor:

==========  ===================  ==============================================================
kind        shape                what
==========  ===================  ==============================================================
``L``       (B, 1, S, S)         the normalised lightness ``L / 50 - 1`` (pix2pix in Lab, ColorGAN)
``L00``     (B, 3, S, S)         ``(L, 0, 0)``: a Lab G that also takes a colour image, for the
                                 CycleGAN identity loss (seed 000 in Lab)
``gray3``   (B, 3, S, S)         the gray image with this L (a = b = 0) as RGB in [-1, 1] (the
                                 RGB models of seeds 000 and 003)
``L+hints`` (B, 4, S, S)         ``(L, hint a, hint b, mask)`` (Zhang, Zhu et al. 2017); no
                                 hints: zeros, so the model also colorizes alone
==========  ===================  ==============================================================
"""
from __future__ import annotations

import torch

from .. import LessonsError
from ..color import lab_normalized_to_rgb
from ..data.hints import hint_input

__all__ = ["G_INPUTS", "generator_input", "generator_input_kind"]

#: every kind of generator input, as a model card's ``"g_input"`` names it
G_INPUTS = ("L", "L00", "gray3", "L+hints")


def generator_input_kind(color_space: str, *, hints: bool = False, chroma_input: bool = False) -> str:
    """The kind of input of a generator trained in ``color_space`` (``"lab"`` or ``"rgb"``) that
    reads colour hints (``hints``) or also a colour image (``chroma_input``: the identity loss)."""
    if color_space == "rgb":
        return "gray3"
    if hints:
        return "L+hints"
    return "L00" if chroma_input else "L"


def generator_input(kind: str, cond: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
    """What G of input ``kind`` (:data:`G_INPUTS`) reads, from ``cond``: the normalised L
    ``(B, 1, S, S)``, or for ``"gray3"`` also the gray image already in 3 channels (what
    :func:`~lessons_lib.data.lab_batch` gives an RGB model); ``hints`` ``(B, 3, S, S)`` = (hint a,
    hint b, mask), only for ``"L+hints"`` (None: no hints)."""
    if kind not in G_INPUTS:
        raise LessonsError(f"unknown generator input {kind!r}; choose one of: {', '.join(G_INPUTS)}")
    if hints is not None and kind != "L+hints":
        raise LessonsError(f"a generator with input {kind!r} reads no colour hints")
    if kind == "gray3" and cond.shape[1] == 3:
        return cond                                                            # (B, 3, S, S) already gray3
    if cond.shape[1] != 1:
        raise LessonsError(f"generator_input expects the L plane (B, 1, S, S), got {tuple(cond.shape)}")
    if kind == "L":
        return cond                                                            # (B, 1, S, S)
    if kind == "L+hints":
        if hints is None:
            return hint_input(cond)                                            # no hints: zeros
        return torch.cat([cond, hints.to(cond.device, cond.dtype)], dim=1)     # (B, 4, S, S)
    chroma0 = torch.zeros_like(cond).expand(-1, 2, -1, -1)
    if kind == "L00":
        return torch.cat([cond, chroma0], dim=1)                               # (B, 3, S, S)
    # gray3: the colour with this L and a = b = 0, in [-1, 1] (= lab_batch's gray3 for RGB models)
    return lab_normalized_to_rgb(cond, chroma0) * 2.0 - 1.0                    # (B, 3, S, S)
