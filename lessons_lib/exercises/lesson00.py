"""Lesson 00's exercises: the Lab normalisation and a gray that keeps L."""
from __future__ import annotations

import functools
from typing import Callable

import torch

from .. import color
from ..data import image_to_tensor, open_source
from ._core import Case, Mistake, Result, check_function, compare_tensors

__all__ = ["check_lab_normalization", "check_lab_denormalization", "check_gray_keeps_L"]


# --------------------------------------------------------------------------- fixed inputs
def _random_lab(n: int = 2, size: int = 8, seed: int = 0) -> torch.Tensor:
    """Lab values spread over the whole range a model sees: L in [0, 100], a, b in [-110, 110]."""
    g = torch.Generator().manual_seed(seed)
    L = torch.rand(n, 1, size, size, generator=g) * 100.0
    ab = (torch.rand(n, 2, size, size, generator=g) * 2.0 - 1.0) * color.AB_SCALE
    return torch.cat([L, ab], dim=1)


def _random_rgb(n: int = 2, size: int = 8, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


def _edge_rgb() -> torch.Tensor:
    """Black, white, the primaries and secondaries: the corners of the sRGB cube, (1, 3, 2, 4)."""
    corners = torch.tensor(
        [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]],
        dtype=torch.float32,
    )
    return corners.T.reshape(1, 3, 2, 4)


def _photo_rgb(size: int = 32) -> torch.Tensor:
    """A real photo (the first bundled sample), (1, 3, size, size) float in [0, 1].

    Real photos have the smooth, mostly desaturated colour statistics that random values
    lack; a check that only used random values could miss a mistake there. Loaded once
    per session (students run a check many times), returned as a fresh copy.
    """
    return _photo_rgb_cached(size).clone()


@functools.lru_cache(maxsize=4)
def _photo_rgb_cached(size: int) -> torch.Tensor:
    source = open_source("samples", "train")
    img = source[0].convert("RGB").resize((size, size))
    return image_to_tensor(img).float().unsqueeze(0) / 255.0


# --------------------------------------------------------------------------- lesson 00
# The package's own versions of what the student writes: calling them fails the check
# (CallWatch). rgb_to_lab / lab_to_rgb stay allowed: the exercises build on them.
_NORMALIZE_FORBID = (color.normalize_lab, color.rgb_to_lab_normalized)
_DENORMALIZE_FORBID = (color.denormalize_lab, color.lab_normalized_to_rgb)

def _lab_cases() -> list[Case]:
    return [
        Case("random Lab values", (_random_lab(),)),
        Case("the corners of the RGB cube", (color.rgb_to_lab(_edge_rgb()),)),
        Case("a real photo", (color.rgb_to_lab(_photo_rgb()),)),
    ]


_NORMALIZATION_MISTAKES = [
    Mistake("L/100 maps L to [0, 1], but a tanh output lives in [-1, 1]: use L/50 - 1.",
            lambda lab: (lab[:, :1] / 100.0, lab[:, 1:] / 110.0)),
    Mistake("L/50 alone gives [0, 2]: subtract 1 to centre it on 0 (L/50 - 1).",
            lambda lab: (lab[:, :1] / 50.0, lab[:, 1:] / 110.0)),
    Mistake("(L - 50)/100 gives [-0.5, 0.5], half the tanh range: use L/50 - 1.",
            lambda lab: ((lab[:, :1] - 50.0) / 100.0, lab[:, 1:] / 110.0)),
    Mistake("a and b are centred on 0 already (gray has a = b = 0): divide by 110, do not shift them to [0, 1].",
            lambda lab: (lab[:, :1] / 50.0 - 1.0, (lab[:, 1:] + 110.0) / 220.0)),
    Mistake("ab/128 is the 8-bit OpenCV convention; this course (and pix2pix) divides a and b by 110.",
            lambda lab: (lab[:, :1] / 50.0 - 1.0, lab[:, 1:] / 128.0)),
    Mistake("ab/100 is not the course's convention: divide a and b by 110.",
            lambda lab: (lab[:, :1] / 50.0 - 1.0, lab[:, 1:] / 100.0)),
]


def check_lab_normalization(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> Result:
    """Lesson 00: ``fn(lab) -> (L_norm, ab_norm)``, the model-space normalisation.

    ``lab`` is (B, 3, H, W) with L in [0, 100]; the answer must be ``L/50 - 1`` with shape
    (B, 1, H, W) and ``ab/110`` with shape (B, 2, H, W), the normalisation of the pix2pix
    colorization reference (see :func:`lessons_lib.color.normalize_lab`). Checked on random
    Lab values, on the corners of the RGB cube and on a real photo.
    """
    return check_function(
        "Lab normalisation",
        fn,
        color.normalize_lab,
        _lab_cases(),
        mistakes=_NORMALIZATION_MISTAKES,
        output_names=("L", "ab"),
        atol=1e-5,
        rtol=1e-5,
        reference_name="lessons_lib.color.normalize_lab",
        forbid=_NORMALIZE_FORBID,
    )


def check_lab_denormalization(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Result:
    """Lesson 00: ``fn(L_norm, ab_norm) -> lab``, the inverse of the normalisation.

    The answer must be ``cat([(L + 1) * 50, ab * 110], dim=1)`` with shape (B, 3, H, W)
    (see :func:`lessons_lib.color.denormalize_lab`).
    """
    cases = [Case(c.name, color.normalize_lab(c.args[0])) for c in _lab_cases()]
    mistakes = [
        Mistake("(L + 1) * 50, not L * 50 + 1: add 1 first, then multiply.",
                lambda L, ab: torch.cat([L * 50.0 + 1.0, ab * 110.0], dim=1)),
        Mistake("L * 50 forgets the +1: the normalised L lies in [-1, 1], so it is (L + 1) * 50.",
                lambda L, ab: torch.cat([L * 50.0, ab * 110.0], dim=1)),
        Mistake("L * 100 undoes L/100, but the course normalises L as L/50 - 1: use (L + 1) * 50.",
                lambda L, ab: torch.cat([L * 100.0, ab * 110.0], dim=1)),
    ]
    return check_function(
        "Lab de-normalisation",
        fn,
        color.denormalize_lab,
        cases,
        mistakes=mistakes,
        output_names=("lab",),
        atol=1e-3,
        rtol=1e-5,
        reference_name="lessons_lib.color.denormalize_lab",
        forbid=_DENORMALIZE_FORBID,
    )


def check_gray_keeps_L(fn: Callable[[torch.Tensor], torch.Tensor], tolerance: float = 0.5) -> Result:
    """Lesson 00: ``fn(rgb) -> gray``, a gray RGB image with the same L* as the colour one.

    Many answers are right (any neutral colour with the right lightness), so the check is a
    property: ``rgb_to_lab(gray)`` must have the input's L within ``tolerance`` (L units,
    0.5 = half a step of an 8-bit L channel) and a = b = 0 within 1 unit; the output has
    shape (B, 3, H, W) (three equal channels, what an RGB colorizer takes as input).
    The usual "gray" formulas ((R+G+B)/3, the 0.299/0.587/0.114 luma) are close but do
    not keep L: the hint says by how much.
    """

    def judge(outs: tuple, args: tuple) -> str | None:
        (gray,), (rgb,) = outs, args
        expected_shape = tuple(rgb.shape)
        if not isinstance(gray, torch.Tensor):
            return compare_tensors(gray, rgb, what="your gray image")
        if tuple(gray.shape) != expected_shape:
            if gray.dim() == 4 and gray.shape[1] == 1:
                return (f"your gray image has shape {tuple(gray.shape)}: return 3 equal channels, "
                        f"shape {expected_shape} (gray.expand(-1, 3, -1, -1) or gray.repeat(1, 3, 1, 1)).")
            return f"your gray image has shape {tuple(gray.shape)}, expected {expected_shape}."
        if not gray.is_floating_point():
            return f"your gray image has dtype {gray.dtype}: return floats in [0, 1]."
        if not torch.isfinite(gray).all():
            return "your gray image contains NaN or infinite values."
        lab_in = color.rgb_to_lab(rgb)
        lab_out = color.rgb_to_lab(gray.clamp(0, 1))
        dL = (lab_out[:, 0] - lab_in[:, 0]).abs()
        chroma = lab_out[:, 1:].abs().amax()
        if float(dL.max()) > tolerance:
            return (f"the lightness L of your gray differs from the colour image's by up to {float(dL.max()):.2f} "
                    f"(mean {float(dL.mean()):.2f}; allowed {tolerance}). The (R+G+B)/3 average and the "
                    "0.299R+0.587G+0.114B luma mix gamma-encoded values and do not keep L exactly: "
                    "go through Lab (rgb_to_lab), set a = b = 0, and come back (lab_to_rgb).")
        if float(chroma) > 1.0:
            return (f"your image is not gray: |a| or |b| reaches {float(chroma):.2f}. "
                    "Set both chroma planes to 0 before converting back.")
        return None

    cases = [
        Case("random colours", (_random_rgb(),)),
        Case("the corners of the RGB cube", (_edge_rgb(),)),
        Case("a real photo", (_photo_rgb(),)),
    ]
    return check_function(
        "a gray image that keeps L",
        fn,
        None,
        cases,
        output_names=("gray",),
        judge=judge,
        forbid=(color.rgb_to_gray,),
    )
