"""Lesson 07's exercise: motion blur as a convolution with the camera's path (a PSF)."""
from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn.functional as F

from ..data import blur as blur_mod
from ..data import image_to_tensor, open_source
from ..data.blur import blur, motion_blur_kernel
from ..restoration import blurred_faces as pairs
from ._core import Case, Mistake, Result, check_function

__all__ = ["check_motion_blur"]


def _photo(size: int = 24) -> torch.Tensor:
    """The first bundled sample photo, (1, 3, size, size) in [0, 1] (a fresh copy)."""
    return _photo_cached(size).clone()


@functools.lru_cache(maxsize=2)
def _photo_cached(size: int) -> torch.Tensor:
    img = open_source("samples", "train")[0].convert("RGB").resize((size, size))
    return image_to_tensor(img).float().unsqueeze(0) / 255.0


def _shift_kernel() -> torch.Tensor:
    """A 5x5 kernel whose whole mass sits one pixel below and two right of the centre.

    Convolving with it moves the image down 1 and right 2 pixels; a correlation (the kernel
    not flipped) moves it up and left instead: the case that tells the two apart."""
    k = torch.zeros(5, 5)
    k[3, 4] = 1.0
    return k


@functools.lru_cache(maxsize=4)
def _kernel(size: int, seed: int) -> torch.Tensor:
    """A camera-shake kernel (drawn once per session: the walk of 2,000 points takes a moment)."""
    return motion_blur_kernel(size, seed=seed)


def _no_flip(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    B, C, H, W = images.shape
    n = kernel.shape[-1]
    x = F.pad(images.reshape(1, B * C, H, W), (n // 2,) * 4, mode="reflect")
    return F.conv2d(x, kernel.expand(B * C, 1, n, n), groups=B * C).reshape(B, C, H, W)


def _zero_pad(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    B, C, H, W = images.shape
    n = kernel.shape[-1]
    w = kernel.flip(-1, -2).expand(B * C, 1, n, n)
    return F.conv2d(images.reshape(1, B * C, H, W), w, padding=n // 2, groups=B * C).reshape(B, C, H, W)


def check_motion_blur(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Result:
    """Lesson 07: ``fn(images, kernel) -> blurred``, the blur ``y = k * x`` of every channel.

    ``images`` is (B, C, H, W) in [0, 1], ``kernel`` an (N, N) PSF with N odd (non-negative,
    sum 1). The answer must be a true 2-D *convolution* (``F.conv2d`` computes a correlation:
    flip the kernel first) with reflect padding of N // 2 on every side, so the output has
    the input's shape and no dark frame - :func:`lessons_lib.data.blur.blur`. Checked on a
    kernel that shifts the image (which tells convolution from correlation), on a real
    motion-blur kernel and a photo, and on a batch of several images. Calling the kit's
    ``blur`` (or ``make_blurred_batch``, ``blur_batch``, ``BlurredPairs``) or scipy's
    convolutions fails the check: ``F.conv2d`` (a correlation) is the tool to use.
    """
    g = torch.Generator().manual_seed(0)
    forbid = _forbidden()
    cases = [
        Case("a kernel that moves the image 1 down and 2 right", (torch.rand(1, 3, 12, 14, generator=g),
                                                                    _shift_kernel())),
        Case("a camera-shake kernel on a photo", (_photo(), _kernel(7, 3).clone())),
        Case("a batch of 2 images with 1 channel", (torch.rand(2, 1, 16, 16, generator=g),
                                                    _kernel(5, 4).clone())),
    ]
    mistakes = [
        Mistake("F.conv2d computes a correlation: flip the kernel (kernel.flip(-1, -2)) to get a convolution - "
                "otherwise the blur runs along the camera's path backwards (the image moves the wrong way).",
                _no_flip),
        Mistake("padding=N//2 in conv2d pads with zeros, which darkens a frame around the image: pad with "
                "F.pad(..., mode='reflect') instead and convolve without padding.", _zero_pad),
    ]
    return check_function("motion blur as a convolution", fn, blur, cases, mistakes=mistakes,
                          output_names=("blurred",), atol=1e-5, rtol=1e-4,
                          reference_name="lessons_lib.data.blur.blur", forbid=forbid)


def _forbidden() -> list:
    """The kit's blur and the helpers built on it, and scipy's convolutions (which flip the
    kernel for the student): each does what the exercise asks. ``F.conv2d`` stays allowed -
    it is the correlation the student turns into a convolution."""
    fns = [blur_mod.blur, blur_mod.make_blurred_batch, blur_mod.BlurredPairs.__call__, pairs.blur_batch]
    try:  # local: scipy is optional here (no direct dependency) and slow to import; forbidden when present
        import scipy.ndimage as ndi
        import scipy.signal as sig

        fns += [ndi.convolve, sig.convolve2d, sig.convolve, sig.fftconvolve, sig.oaconvolve]
    except ImportError:  # pragma: no cover - scipy is a dependency of the kit's dev extras
        pass
    return fns
