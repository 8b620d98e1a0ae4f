"""Inference: a trained model in, any photo in, a photo of the same size out.

The one pipeline that the command line (``lessons colorize``, ``lessons eval colorize``),
the lessons, the benchmarks and the demo share::

    from lessons_lib.pipeline import Colorizer

    colorize = Colorizer("runs/pix2pix")            # a run folder, a .safetensors or a .json card
    photo = colorize("grandparents.jpg")             # path, bytes, PIL image or numpy array
    photo.save("grandparents_colour.png")            # RGB, the same size as the input

The face restorer of seed 004 (``lessons restore``, ``lessons eval restore``) has the same
shape, ``Restorer("runs/fusion/restorer")("face.jpg")``; how it treats sizes is in
:class:`Restorer`, the bundle it loads in :mod:`lessons_lib.train.restoration`.

What :class:`Colorizer` does with an image of any size ``W x H``
--------------------------------------------------------------------
1. :func:`lessons_lib.data.load_image` opens it (EXIF orientation, 16-bit, CMYK, RGBA,
   palette, animated... all become 8-bit RGB; a corrupt file is a clear
   :class:`~lessons_lib.LessonsError`). A colour photo is treated as the gray photo with the
   same L* (its own colours are never looked at).
2. The **whole image is resized** to the model's training size ``S x S`` (bicubic,
   antialiased), whatever its aspect ratio: the network sees a squeezed or stretched
   picture. Cropping would leave parts of the photo without colour and padding would waste
   the model's few pixels; a convolutional colorizer cares about local texture, which a
   moderate stretch keeps, and the stretch is undone in step 4.
3. The generator predicts the chroma at ``S x S``: the ab planes for a Lab model (pix2pix,
   ColorGAN), or an RGB image for the RGB models of seeds 000 and 003, whose ab planes are
   taken (``rgb_to_lab``) and whose own lightness is dropped.
4. The ab planes are upsampled (bilinear) to ``W x H`` and recombined with the **original,
   full-resolution L**, as colorization tools do (Zhang et al. 2016; DeOldify; DDColor):
   chroma is smooth, lightness carries the edges, so the output is as sharp as the input
   even when the model runs at 128 px.

Lightness is kept exactly: where the predicted colour ``(L, a, b)`` falls outside the sRGB
gamut, the chroma ``(a, b)`` is scaled down (hue kept) until it fits, instead of clipping
R, G and B, which would change L and the hue. The output's L* therefore equals the input's
up to 8-bit rounding (< 0.5 L units).

Memory bound
------------
The full-size recombination runs in bands of rows of about ``band_pixels`` pixels (default
2**20 = 1 Mpx): each band's R, G and B planes are read from the input's 8-bit pixels, its ab
rows are interpolated from the small ab map, and 8-bit output planes are computed and
pasted into the output, so no full-size float plane ever exists (a 12000 x 9000 photo's L
alone would be 432 MB in float32). Peak memory is then about

    8 bytes/pixel  (the decoded input and the output image; Pillow keeps RGB as 4 bytes)
  + ~40 bytes x band_pixels (~40 MB for the default band: the band's planes, its ab rows,
    Pillow's copies, and the colour conversion's temporaries, which are per block of 65,536
    pixels and thread)
  + 8 x S x W bytes (the ab map interpolated to the full width) + the model at S x S,

about 1 GB for a 12000 x 9000 photo, and independent of the photo's size except for the
first term. Images above ``max_pixels`` (default 120 Mpx) are refused with a clear message.

Speed
-----
Per pixel the recombination computes only what the 8-bit output needs: the input's
luminance Y (a table lookup per channel; its a and b are never used) and the new colour in
*linear* RGB, where the gamut test needs no sRGB curve; only the pixels outside the gamut
are bisected, and the 8-bit values come from linear light by a table, without pow()
(``_colorize_band``; the float path :func:`lab_to_rgb_keep_lightness` shares the core).
Measured on the course machine (AMD EPYC, 2 cores shared with other jobs; the shipped
128-px pix2pix; wall clock; "before" is commit b2b07ce, which computed the input's full Lab
and ran every bisection step and the output through the complete Lab -> sRGB conversion):

* 512 x 512: 0.07 s per photo, 0.19 s before (2 torch threads;
  ``benchmarks/bench_demo_latency.py``, ``benchmarks/RESULTS.md``).
* 4000 x 3000 (12 Mpx), one torch thread: 1.7 s with the model's colours (5.7 s before);
  2.6 s when every pixel is out of gamut, a saturated random chroma map (15.9 s before).
* 12000 x 9000 (108 Mpx), one torch thread: 13 s with the model's colours; 22 s when every
  pixel is out of gamut (139 s before),

with 6-9 bytes per pixel above what the process held before (the decoded copy and the
output, 8 bytes per pixel, plus the bands: 0.9 GB at 12000 x 9000).

Models with a noise input
-------------------------
A generator whose model card says ``"g_noise": true`` (ColorGAN) is called as
``G(x, generator=g)`` with ``g = torch.Generator(device).manual_seed(seed)``: it draws its
noise from ``g``, so one seed gives one colouring and different seeds different ones.
Without a seed the Colorizer uses seed 0: the output is always reproducible.

Models that take colour hints
-----------------------------
A generator whose card says ``"g_input": "L+hints"`` (the shipped ``hints`` model, Zhang,
Zhu et al. 2017) reads ``(L, hint a, hint b, mask)``. ``colorizer(photo, hints=[...])``
takes the user's hints as ``X,Y,COLOUR`` strings, ``{"x", "y", "color"}`` dicts or
:class:`lessons_lib.data.hints.Hint` (pixels of the input photo, colours as ``#rrggbb`` or
CSS names): each becomes a square of :attr:`Colorizer.hint_size` model pixels carrying the
colour's ab (its own lightness is dropped: the photo's L is kept). Without hints such a
model colorizes alone; hints given to a model without hint inputs are refused.

Models are loaded lazily, on the first call, never at import.
"""
from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import LessonsError

__all__ = [
    "BAND_PIXELS",
    "MAX_PIXELS",
    "Colorizer",
    "Restorer",
    "evaluate_colorizer",
    "hint_curve",
    "simulated_hint_maps",
    "format_evaluation",
    "lab_to_rgb_keep_lightness",
    "recombine",
]

#: Largest image (pixels) the pipelines accept: 120 Mpx covers a 12000 x 9000 scan; its
#: decoded input and output take about 8 bytes per pixel (~1 GB at this limit).
MAX_PIXELS = 120_000_000
#: Pixels per band of the full-size recombination (see the module docstring).
BAND_PIXELS = 1 << 20
# Bisection steps of the chroma scale that brings an out-of-gamut colour into sRGB:
# 8 halvings leave the chroma within 1/256 of the gamut boundary (< 0.6 ab units for any
# chroma a tanh output can reach, 110 * sqrt(2)): far below a visible difference.
_GAMUT_STEPS = 8
# How far outside [0, 1] an sRGB value may be and still count as inside
# (float32 round-off of the Lab -> RGB matrices); clipping such values moves L by < 0.01.
_GAMUT_TOL = 1e-4
# Pillow's reducing_gap: shrink by an integer factor with a box filter first, then resample
# exactly (fast on big photos, and per Pillow's docs indistinguishable at 3.0).
_REDUCING_GAP = 3.0

_RUN_HINT = "train one with `lessons train pix2pix --out {path}` or pass --weights"


# =========================================================================== colour helpers
# The gamut mapping works in *linear* RGB. Its inside test compares sRGB values with
# [-tol, 1 + tol]; the sRGB curve is increasing, so the same test on linear values uses the
# two limits mapped through its inverse, and the bisection never evaluates pow(1/2.4).
_LIN_LO = -_GAMUT_TOL / 12.92                               # srgb = 12.92 lin below 0.0031308
_LIN_HI = ((1.0 + _GAMUT_TOL + 0.055) / 1.055) ** 2.4        # srgb = 1.055 lin^(1/2.4) - 0.055
# 8-bit output straight from linear light: the 255 decision levels ``T_v = lin((v - 0.5) / 255)``
# are at least 1 / (255 * 12.92) = 3.0e-4 apart, so a table of 4096 bins of [0, 1] holds at
# most one of them per bin: level = base[bin] + (lin >= threshold[bin]), no pow, no rounding.
_Q_BINS = 4096
# Pixels per block of the colour path on the CPU. Each block is ~70 element-wise passes
# (~250 with the bisection); per-op overhead dominates small blocks: one band of 1 Mpx took
# 380 ms in blocks of 10,240 pixels, 210 ms in blocks of 32,768, 135 ms in blocks of
# 65,536-131,072 (one thread, busy machine). The blocks run on torch.get_num_threads()
# Python threads, never on the calling thread when there are several: on the busy course
# machine the same blocks run one after the other on the main thread, whose ops ATen then
# splits among its OpenMP threads, took 1.4 s instead of 0.16 s (every op waited for a
# descheduled OpenMP thread; a plain multiply of 200 k elements took 8 ms there against
# 0.05 ms on a worker thread). See also lessons_lib.color.
_COLOR_BLOCK = 1 << 16
_gamut_cache: dict[tuple, dict[str, torch.Tensor]] = {}


def _gamut_consts(device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Constants of the fast Lab -> RGB path on a device, prepared once and cached: the
    XYZ -> linear RGB columns, each 8-bit channel's share of ``Y`` (a (3, 256) table) and
    the quantisation tables of :func:`_linear_to_uint8`."""
    key = (str(device), dtype)
    if key not in _gamut_cache:
        import numpy as np

        from .color import _matrices, _srgb_lut

        c = _matrices(device, dtype)
        rgb_from_xyz = c["rgb_from_xyz"].reshape(3, 3).t()       # rows R, G, B; columns X, Y, Z
        y_row = c["xyz_from_rgb"].reshape(3, 3)[:, 1]            # Y/Yn = sum_c y_row[c] lin(c)
        # decision levels in float64, then as stored (float32): a level's bin is where its
        # stored value falls, so the table and the comparison agree exactly
        s = (np.arange(1, 256, dtype=np.float64) - 0.5) / 255.0
        t = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4).astype(np.float32)
        edges = np.arange(_Q_BINS + 1, dtype=np.float32) / _Q_BINS
        base = np.searchsorted(t, edges, side="right").astype(np.uint8)  # levels <= bin start
        thr = np.full(_Q_BINS + 1, np.inf, dtype=np.float32)
        bins = (t * _Q_BINS).astype(np.int64)
        inner = t > bins.astype(np.float32) / _Q_BINS                  # strictly inside its bin
        assert np.bincount(bins[inner], minlength=_Q_BINS + 1).max() <= 1, "two levels in one bin"
        thr[bins[inner]] = t[inner]
        _gamut_cache[key] = {
            "m_x": rgb_from_xyz[:, 0:1].contiguous(),            # (3, 1)
            "m_y": rgb_from_xyz[:, 1:2].contiguous(),
            "m_z": rgb_from_xyz[:, 2:3].contiguous(),
            "y_lut": (y_row.view(3, 1) * _srgb_lut(device, dtype).view(1, 256)).contiguous(),  # (3, 256)
            "q_base": torch.from_numpy(base).to(device),          # (4097,) uint8
            "q_thr": torch.from_numpy(thr).to(device, torch.float32),
        }
    return _gamut_cache[key]


def _f_fast(t: torch.Tensor) -> torch.Tensor:
    """CIE f(t) (:func:`lessons_lib.color._f`) for the 8-bit path: the cube root as
    ``exp(log(t) / 3)`` (3x faster than pow(t, 1/3) on the CPU) and, like
    :func:`_f_inv_flat_`, no branch mask: ``cbrt(max(t, e)) + 7.787 (min(t, e) - e)`` with
    ``e = (6/29)^3``, where the two pieces meet up to 3e-7 (0.00004 L units)."""
    from .color import _EPS_LAB, _KAPPA

    cube = t.clamp_min(_EPS_LAB).log_().mul_(1.0 / 3.0).exp_()
    return cube.add_(torch.clamp_max(t, _EPS_LAB).sub_(_EPS_LAB), alpha=_KAPPA)


def _f_inv_(f: torch.Tensor) -> torch.Tensor:
    """CIE f^-1 (:func:`lessons_lib.color._f_inv`), written into ``f`` (a temporary)."""
    from .color import _F_INV_THRESHOLD, _F_OFFSET, _KAPPA

    line = torch.sub(f, _F_OFFSET).div_(_KAPPA)
    cube = torch.mul(f, f).mul_(f)
    return torch.where(f > _F_INV_THRESHOLD, cube, line, out=f)


def _f_inv_flat_(f: torch.Tensor) -> torch.Tensor:
    """CIE f^-1 without a branch mask (the 8-bit path): ``max(f, t)^3 + (min(f, t) - t) / 7.787``
    with ``t = 6/29``; the line of :func:`_f_inv_` meets the cube at ``t`` up to 4e-8 (its
    constants are rounded), so the two agree to 4e-8 in X, Y, Z (1e-4 of an 8-bit level).
    No torch.where, which costs three plain passes on the CPU: 30% of the bisection."""
    from .color import _F_INV_THRESHOLD, _KAPPA

    low = torch.clamp_max(f, _F_INV_THRESHOLD).sub_(_F_INV_THRESHOLD)    # <= 0, 0 above t
    f.clamp_min_(_F_INV_THRESHOLD)
    cube = torch.mul(f, f).mul_(f)
    return cube.add_(low, alpha=1.0 / _KAPPA)


def _chroma_to_linear(fy: torch.Tensor, y_part: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                      k: torch.Tensor | None, c: dict[str, torch.Tensor], f_inv=_f_inv_) -> torch.Tensor:
    """Linear RGB ``(3, n)`` of the colours ``(L, k a, k b)`` (``k=None``: 1), given
    ``fy = f(Y)`` (from L) and ``y_part = m_y Y`` (XYZ -> RGB's Y column times Y):
    ``fx = fy + k a / 500``, ``fz = max(fy - k b / 200, 0)`` (:mod:`lessons_lib.color`'s clamp)."""
    if k is None:
        fx, fz = torch.add(fy, a, alpha=1.0 / 500.0), torch.add(fy, b, alpha=-1.0 / 200.0)
    else:
        fx, fz = torch.addcmul(fy, k, a, value=1.0 / 500.0), torch.addcmul(fy, k, b, value=-1.0 / 200.0)
    X = f_inv(fx)
    Z = f_inv(fz.clamp_min_(0.0))
    return torch.addcmul(y_part, c["m_x"], X).addcmul_(c["m_z"], Z)


def _inside(lin: torch.Tensor) -> torch.Tensor:
    """(3, n) linear RGB -> (n,) float: 1.0 inside sRGB (up to the gamut tolerance), else 0.0.

    Element-wise minimum / maximum of the three rows and comparisons written into float
    tensors: on the CPU a reduction over dim 0 (aminmax) was 14x slower, and a comparison
    that makes a bool tensor 3x slower than one that writes floats (as is adding bools).
    """
    lo = torch.minimum(lin[0], lin[1])
    hi = torch.maximum(lin[0], lin[1])
    torch.minimum(lo, lin[2], out=lo)
    torch.maximum(hi, lin[2], out=hi)
    return torch.ge(lo, _LIN_LO, out=lo).mul_(torch.le(hi, _LIN_HI, out=hi))


def _keep_lightness_linear(Y: torch.Tensor, fy: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                           steps: int, f_inv=_f_inv_) -> torch.Tensor:
    """The core of :func:`lab_to_rgb_keep_lightness` on flat pixels: ``Y`` (relative
    luminance), ``fy = f(Y)``, ``a``, ``b``, each (n,) -> linear RGB (3, n), inside the gamut
    up to its tolerance (not clipped).

    Every pixel is converted once with its full chroma; only the pixels outside the gamut
    are bisected: gathered first when they are fewer than half; otherwise all pixels are
    bisected and those inside keep ``k = 1``. The trial point ``k = lo + 2^-i`` is exactly
    the straightforward bisection's midpoint ``(lo + hi) / 2``, the bracket being
    ``2^-(i-1)`` wide at step ``i`` (``lo`` moves to ``k`` or stays; dyadic, so exact).
    ``f_inv``: :func:`_f_inv_` (exact branches) or :func:`_f_inv_flat_` (faster).
    """
    c = _gamut_consts(Y.device, Y.dtype)
    y_part = c["m_y"] * Y                                        # (3, n)
    lin = _chroma_to_linear(fy, y_part, a, b, None, c, f_inv)
    inside = _inside(lin)                                        # (n,) 1.0 / 0.0
    n = inside.numel()
    n_out = n - int(inside.sum())
    if n_out == 0:
        return lin
    gather = 2 * n_out < n
    if gather:
        idx = torch.nonzero(inside == 0).squeeze(1)
        fy, a, b = fy.index_select(0, idx), a.index_select(0, idx), b.index_select(0, idx)
        y_part = y_part.index_select(1, idx)
    lo = torch.zeros_like(fy)
    for i in range(1, steps + 1):
        step = 2.0 ** -i
        lo.add_(_inside(_chroma_to_linear(fy, y_part, a, b, torch.add(lo, step), c, f_inv)), alpha=step)
    if gather:
        return lin.index_copy_(1, idx, _chroma_to_linear(fy, y_part, a, b, lo, c, f_inv))
    k = lo.add_(inside.mul_(torch.rsub(lo, 1.0)))                # 1 inside, lo outside (exact)
    return _chroma_to_linear(fy, y_part, a, b, k, c, f_inv)


def _linear_to_uint8(lin: torch.Tensor, c: dict[str, torch.Tensor]) -> torch.Tensor:
    """Linear RGB -> 8-bit sRGB, ``round(255 * srgb(clip(lin, 0, 1)))`` by table (see
    ``_Q_BINS``): equal to the float formula except where float32 round-off of pow() decides
    a tie, i.e. within 8-bit rounding. ``lin`` must be finite."""
    i = torch.mul(lin, float(_Q_BINS)).clamp_(0.0, float(_Q_BINS)).to(torch.int32).view(-1)
    q = c["q_base"].index_select(0, i).view(lin.shape)
    return q.add_(lin >= c["q_thr"].index_select(0, i).view(lin.shape))


def _map_blocks(fn, n: int, device: torch.device) -> None:
    """``fn(slice)`` over ``n`` pixels: on the CPU in blocks of ``_COLOR_BLOCK`` pixels run
    by ``torch.get_num_threads()`` worker threads (not the caller's: see ``_COLOR_BLOCK``),
    or on the calling thread when torch has one thread; on other devices in one call."""
    if device.type != "cpu":
        fn(slice(0, n))
        return
    blocks = [slice(s, min(n, s + _COLOR_BLOCK)) for s in range(0, n, _COLOR_BLOCK)]

    def run(block: slice) -> None:
        with torch.no_grad():  # grad mode is per thread
            fn(block)

    threads = torch.get_num_threads()
    if threads <= 1:
        for block in blocks:
            run(block)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(threads, len(blocks))) as pool:
        list(pool.map(run, blocks))


def lab_to_rgb_keep_lightness(lab: torch.Tensor, steps: int = _GAMUT_STEPS) -> torch.Tensor:
    """Lab ``(B, 3, H, W)`` -> sRGB in [0, 1] that keeps L* (and the hue) of every pixel.

    A network may predict any ``(a, b)`` for a lightness ``L``; many such colours lie
    outside the sRGB gamut. Clipping R, G and B (what :func:`lessons_lib.color.lab_to_rgb`
    does) changes the pixel's lightness and hue. Here the chroma of each out-of-gamut pixel
    is scaled instead, ``(a, b) <- k (a, b)`` with the largest ``k`` in [0, 1] that is inside
    the gamut, found by bisection (``steps`` halvings; ``k = 0`` - the gray of lightness L -
    is always inside for L in [0, 100]).

    The result is the straightforward formula's (bisect every pixel, testing
    ``lab_to_rgb(..., clip=False)`` against [0, 1]) up to float round-off, computed faster:
    only out-of-gamut pixels are bisected, and in linear RGB (the inside test needs no sRGB
    curve; it is applied once, at the end). Float32 (float64 stays float64); no gradient.
    """
    from .color import _as_batch, _float_dtype, linear_to_srgb

    x, _ = _as_batch(lab, "lab")
    if lab.dim() != 4:
        raise ValueError(f"lab must have shape (B, 3, H, W), got {tuple(lab.shape)}")
    dtype = _float_dtype(x)
    B, _, H, W = x.shape
    flat = x.detach().to(dtype).reshape(B, 3, H * W)
    out = torch.empty((B, 3, H * W), dtype=dtype, device=x.device)
    for i in range(B):
        def convert(s: slice, i: int = i) -> None:
            L, a, b = flat[i, 0, s], flat[i, 1, s], flat[i, 2, s]
            fy = torch.add(L, 16.0).div_(116.0)                      # f(Y/Yn) from L
            lin = _keep_lightness_linear(_f_inv_(fy.clone()), fy, a, b, steps)
            out[i, :, s] = linear_to_srgb(lin.clamp_(0.0, 1.0)).clamp_(0.0, 1.0)

        with torch.no_grad():
            _map_blocks(convert, H * W, x.device)
    return out.view(B, 3, H, W)


def _colorize_band(planes: torch.Tensor, ab: torch.Tensor, steps: int = _GAMUT_STEPS) -> torch.Tensor:
    """The recombination of one band: the 8-bit R, G and B planes ``(3, n)`` of the input
    (its L is kept) and the chroma ``(2, n)`` in Lab units -> the output's 8-bit planes
    ``(3, n)``: what ``round(255 * lab_to_rgb_keep_lightness(Lab))`` gives, up to 8-bit rounding.

    Only what the output needs is computed: of the input pixel its luminance ``Y`` (three
    lookups in a table of each channel's share; its a and b are never needed) and ``f(Y)``;
    linear RGB of the new colour, bisected where out of gamut
    (:func:`_keep_lightness_linear`); 8-bit values straight from linear light
    (:func:`_linear_to_uint8`). Planes in and out because Pillow splits and merges them
    in a fraction of the time torch takes to interleave channels.
    """
    c = _gamut_consts(planes.device, torch.float32)
    out = torch.empty_like(planes)
    lut = c["y_lut"]

    def convert(s: slice) -> None:
        Y = lut[0].index_select(0, planes[0, s].to(torch.int32))         # (m,) Y / Yn
        Y.add_(lut[1].index_select(0, planes[1, s].to(torch.int32)))
        Y.add_(lut[2].index_select(0, planes[2, s].to(torch.int32)))
        lin = _keep_lightness_linear(Y, _f_fast(Y), ab[0, s], ab[1, s], steps, _f_inv_flat_)  # (3, m)
        out[:, s] = _linear_to_uint8(lin, c)

    with torch.no_grad():
        _map_blocks(convert, planes.shape[1], planes.device)
    return out


def _source_index(out_size: int, in_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear sampling positions of ``F.interpolate(mode="bilinear", align_corners=False)``
    along one axis: output pixel ``i`` reads ``src = max((i + 0.5) * in/out - 0.5, 0)``,
    between ``i0 = floor(src)`` and ``i1 = min(i0 + 1, in - 1)`` with weight ``src - i0``.
    Written out so that a band of output rows can be computed alone, identically."""
    scale = in_size / out_size
    src = ((torch.arange(out_size, device=device, dtype=torch.float64) + 0.5) * scale - 0.5).clamp_min(0.0)
    i0 = src.floor().long().clamp_max(in_size - 1)
    i1 = (i0 + 1).clamp_max(in_size - 1)
    return i0, i1, (src - i0).float()


def recombine(image, ab: torch.Tensor, *, band_pixels: int = BAND_PIXELS,
              device: torch.device | str | None = None):
    """Full-resolution L of ``image`` + the small ab map ``ab`` -> an RGB PIL image.

    Args:
        image: the original RGB PIL image ``W x H`` (its L* plane is kept).
        ab: ``(2, h, w)`` chroma in Lab units (not divided by 110), any ``h x w``.
        band_pixels: rows are processed in bands of about this many pixels (at least one
            row): memory stays bounded whatever the image size (module docstring).
        device: where to compute (default: where ``ab`` is).

    ``ab`` is upsampled bilinearly (exactly ``F.interpolate(..., mode="bilinear",
    align_corners=False)``, computed band by band) and the colour is built as
    :func:`lab_to_rgb_keep_lightness` builds it, by its 8-bit path (``_colorize_band``).
    """
    import numpy as np
    from PIL import Image

    if not isinstance(image, Image.Image) or image.mode != "RGB":
        raise ValueError("image must be an RGB PIL image (lessons_lib.data.load_image makes one from anything)")
    if ab.dim() != 3 or ab.shape[0] != 2:
        raise ValueError(f"ab must have shape (2, h, w), got {tuple(ab.shape)}")
    if band_pixels < 1:
        raise ValueError(f"band_pixels must be >= 1, got {band_pixels}")
    dev = torch.device(device) if device is not None else ab.device
    W, H = image.size
    h, w = ab.shape[1:]
    ab = ab.to(dev, torch.float32)
    if not bool(torch.isfinite(ab).all()):
        raise LessonsError("the model predicted NaN or infinite chroma: its weights are broken "
                           "(retrain or re-export it)")
    # 1) along x once: (2, h, w) -> (2, h, W), small (h is the model's size)
    x0, x1, wx = _source_index(W, w, dev)
    ab_x = torch.lerp(ab[:, :, x0], ab[:, :, x1], wx)                  # (2, h, W)
    y0, y1, wy = _source_index(H, h, dev)
    rows = max(1, band_pixels // max(W, 1))
    out = Image.new("RGB", (W, H))
    for r0 in range(0, H, rows):
        r1 = min(H, r0 + rows)
        # 2) along y for this band only: (2, r1 - r0, W)
        wyb = wy[r0:r1].view(1, -1, 1)
        ab_band = torch.lerp(ab_x[:, y0[r0:r1]], ab_x[:, y1[r0:r1]], wyb).view(2, -1)
        # the band's R, G and B planes (Pillow splits them in C; np.stack copies them)
        planes = torch.from_numpy(np.stack([np.asarray(p) for p in image.crop((0, r0, W, r1)).split()]))
        pixels = _colorize_band(planes.view(3, -1).to(dev), ab_band).cpu().numpy()   # (3, n) uint8
        merged = Image.merge("RGB", [Image.frombuffer("L", (W, r1 - r0), pixels[i], "raw", "L", 0, 1)
                                     for i in range(3)])
        out.paste(merged, (0, r0))
    return out


# =========================================================================== weights
def _resolve_weights(weights: str | os.PathLike) -> Path:
    """The ``.safetensors`` file of a run folder, a ``.safetensors``, its ``.json`` card or
    their common stem (:func:`lessons_lib.checkpoints.resolve_checkpoint`), with the
    message a user needs when there is no model there at all."""
    from .checkpoints import resolve_checkpoint

    p = Path(weights).expanduser()
    stem = p.with_suffix("") if p.suffix.lower() in (".safetensors", ".json") else p
    if not (p.exists() or stem.with_name(stem.name + ".safetensors").exists()):
        raise LessonsError(f"no model at {p}: " + _RUN_HINT.format(path=stem))
    if p.is_dir() and not any(p.glob("*.safetensors")):
        raise LessonsError(f"no model at {p}: the folder holds no model.safetensors; " + _RUN_HINT.format(path=p))
    return resolve_checkpoint(p)


class _Pipeline:
    """What every inference pipeline shares: the weights, the device, lazy loading, images in.

    Subclasses set ``task`` (the model card's ``"task"``) and implement ``__call__``.
    """

    #: the card's "task" this pipeline serves
    task: ClassVar[str] = ""
    #: the command for each task, for the "wrong model" message
    _COMMANDS: ClassVar[dict[str, str]] = {"colorization": "lessons colorize", "restoration": "lessons restore"}

    def __init__(self, weights: str | os.PathLike, device: str | torch.device = "auto", *,
                 max_pixels: int = MAX_PIXELS) -> None:
        self.weights = Path(weights).expanduser()
        self._st_path = self._locate(self.weights)  # cheap: stat only, nothing loaded
        self._device_name = device
        self.max_pixels = int(max_pixels)
        self._card: dict[str, Any] | None = None
        self._model: nn.Module | None = None
        self._device: torch.device | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.weights)!r}, device={str(self._device_name)!r})"

    def _locate(self, weights: Path) -> Path:
        """The file the weights are read from (a subclass may read another layout)."""
        return _resolve_weights(weights)

    # ------------------------------------------------------------------ lazy parts
    @property
    def card(self) -> dict[str, Any]:
        """The model card (plain JSON dict), read on first access; checked for the task."""
        if self._card is None:
            from .checkpoints import read_card

            card = read_card(self._st_path)
            got = card.get("task")
            if got != self.task:
                cmd = self._COMMANDS.get(str(got))
                kind = f"{got} model" if isinstance(got, str) else "model without a task in its card"
                hint = f"; use `{cmd}`" if cmd else f"; pass the weights of a {self.task} model"
                raise LessonsError(f"{self.weights} holds a {kind}, not a {self.task} model{hint}")
            self._card = card
        return self._card

    @property
    def device(self) -> torch.device:
        """The device the model runs on (``"auto"``: cuda, then mps, then cpu)."""
        if self._device is None:
            from .device import resolve_device

            self._device = resolve_device(str(self._device_name))
        return self._device

    @property
    def model(self) -> nn.Module:
        """The network, loaded on first use (thread-safe), in eval mode on :attr:`device`."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from .checkpoints import load_model

                    self.card  # the task check comes before loading any weights  # noqa: B018
                    model, _ = load_model(self._st_path, device=self.device)
                    # eval mode: BatchNorm's running statistics and no dropout, so that one
                    # image always gives one result (pix2pix keeps dropout on at test time
                    # as its only noise; a pipeline wants reproducible output).
                    self._model = model.float().eval().requires_grad_(False)
        return self._model

    def load(self) -> _Pipeline:
        """Load the model now (otherwise the first call does); returns self."""
        self.model  # noqa: B018
        return self

    # ------------------------------------------------------------------ images
    def _open(self, image: Any):
        """Any image-like input -> 8-bit RGB PIL image (see :func:`lessons_lib.data.load_image`)."""
        from .data import load_image

        return load_image(image, max_pixels=self.max_pixels)


# =========================================================================== Colorizer
#: The largest chroma gain a Colorizer accepts (beyond it most colours leave the gamut).
MAX_CHROMA = 3.0
#: The side (model pixels) of the square a user's hint becomes (the training patches were 1-9 px)
HINT_SIZE = 3


class Colorizer(_Pipeline):
    """A trained colorizer as a function: ``Colorizer(weights)(image) -> PIL.Image``.

    Args:
        weights: a run folder (holding ``model.safetensors`` and ``model.json``, what
            ``lessons train`` writes), a ``.safetensors`` file or its ``.json`` card.
        device: ``"auto"`` (cuda, then mps, then cpu), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        max_pixels: larger images are refused (memory: see the module docstring).
        band_pixels: band size of the full-resolution recombination.
        hint_size: the side, in model pixels, of the square a user's hint becomes (a hint
            model only; its training patches were 1-9 px).
        chroma: a gain on the predicted ab (1 = the model's own colours, 0 = gray, 1.3 = 30 %
            more saturated). A colorizer trained with L1 paints timid colours (the median of
            the plausible ones); the gain buys colourfulness for fidelity, measured by
            ``benchmarks/colour_frontier.py``. The hue is unchanged; out-of-gamut colours are
            brought back keeping the lightness, as always.

    Attributes (read lazily from the model card): :attr:`card`, :attr:`size` (the training
    size S), :attr:`color_space` (``"lab"`` or ``"rgb"``), :attr:`g_input` (how the
    generator is fed), :attr:`has_noise`.
    """

    task = "colorization"

    def __init__(self, weights: str | os.PathLike, device: str | torch.device = "auto", *,
                 max_pixels: int = MAX_PIXELS, band_pixels: int = BAND_PIXELS, chroma: float = 1.0,
                 hint_size: int = HINT_SIZE) -> None:
        super().__init__(weights, device, max_pixels=max_pixels)
        if not isinstance(hint_size, int) or not 1 <= hint_size <= 16:
            raise LessonsError(f"hint_size is the side of a hint's square in model pixels, 1-16, got {hint_size!r}")
        self.hint_size = hint_size
        if band_pixels < 1:
            raise ValueError(f"band_pixels must be >= 1, got {band_pixels}")
        self.band_pixels = int(band_pixels)
        try:
            chroma = float(chroma)
        except (TypeError, ValueError):
            raise LessonsError(f"chroma must be a number (1 = the model's colours), got {chroma!r}") from None
        if not 0.0 <= chroma <= MAX_CHROMA:
            raise LessonsError(f"chroma must be between 0 (gray) and {MAX_CHROMA:g}, got {chroma:g}; "
                               "1 keeps the model's colours, 1.2-1.5 makes them more vivid")
        self.chroma = chroma

    # ------------------------------------------------------------------ card facts
    @property
    def size(self) -> int:
        """The model's training size S: every image is resized to S x S for the network."""
        size = self.card.get("size")
        if not isinstance(size, int) or size < 1:
            raise LessonsError(f"the model card of {self._st_path} has no valid 'size' (the training image size)")
        return size

    @property
    def color_space(self) -> str:
        """``"lab"`` (G predicts ab) or ``"rgb"`` (G predicts RGB, seeds 000 / 003)."""
        cs = self.card.get("color_space")
        if cs not in ("lab", "rgb"):
            raise LessonsError(f"the model card of {self._st_path} has color_space {cs!r}; expected 'lab' or 'rgb'")
        return cs

    @property
    def g_input(self) -> str:
        """How G is fed: ``"L"`` (B,1,S,S), ``"L00"`` ((L, 0, 0), B,3,S,S), ``"gray3"``
        (the gray image in 3 channels, [-1, 1]) or ``"L+hints"`` ((L, hint a, hint b, mask),
        B,4,S,S); from the card, else from the colour space and the generator's input channels."""
        gi = self.card.get("g_input")
        if gi in ("L", "L00", "gray3", "L+hints"):
            return gi
        if self.color_space == "rgb":
            return "gray3"
        return "L00" if getattr(self.model, "in_channels", 1) == 3 else "L"

    @property
    def takes_hints(self) -> bool:
        """True for a model that reads colour hints (card ``"g_input": "L+hints"``)."""
        return self.g_input == "L+hints"

    def _refuse_hints(self) -> None:
        name = self.card.get("name") or self.card.get("recipe") or str(self.weights)
        raise LessonsError(f"the model {name} takes no colour hints; use the shipped hint model "
                           "(--model hints) or weights trained with the hints recipe (lessons train hints)")

    def hint_map(self, hints: Sequence[Any], image_size: tuple[int, int]) -> torch.Tensor:
        """A user's hints on a photo of ``image_size = (width, height)`` -> the hint channels
        the model reads, ``(1, 3, S, S)`` (hint a, hint b, mask; ab / 110) on :attr:`device`.

        Each hint (``"X,Y,COLOUR"``, ``{"x", "y", "color"}``, ``(x, y, colour)`` or a
        :class:`~lessons_lib.data.hints.Hint`; checked to lie inside the photo) becomes a
        square of :attr:`hint_size` model pixels centred where (x, y) falls at S x S,
        carrying the colour's ab; a later hint over an earlier one wins."""
        from .color import AB_SCALE, rgb_uint8_to_lab
        from .data.hints import HintPoints, check_hints, paint_hints

        hints = check_hints(hints, image_size)
        s, k = self.size, min(self.hint_size, self.size)
        W, H = image_size
        n = len(hints)
        if n == 0:
            return torch.zeros(1, 3, s, s, device=self.device)
        # the centre of pixel (x, y) is (x + 0.5, y + 0.5); at S x S it lies at (x + 0.5) * S / W
        cx = torch.tensor([(h.x + 0.5) * s / W for h in hints], dtype=torch.float64)
        cy = torch.tensor([(h.y + 0.5) * s / H for h in hints], dtype=torch.float64)
        top = lambda c: (c - k / 2.0).round().long().clamp_(0, s - k)  # noqa: E731
        pts = HintPoints(image=torch.zeros(n, dtype=torch.long), y=top(cy), x=top(cx),
                         size=torch.full((n,), k, dtype=torch.long))
        rgb = torch.tensor([h.rgb for h in hints], dtype=torch.uint8).T.reshape(1, 3, n, 1)
        ab = rgb_uint8_to_lab(rgb)[0, 1:, :, 0].T / AB_SCALE                # (n, 2) the colours' ab / 110
        hint_ab, mask = paint_hints(pts, ab.float(), 1, s, s, device=self.device)
        return torch.cat([hint_ab, mask], dim=1)

    @property
    def has_noise(self) -> bool:
        """True when the generator takes a noise source (card ``"g_noise": true``)."""
        return bool(self.card.get("g_noise", False))

    # ------------------------------------------------------------------ the network
    def _generator_input(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised L ``(B, 1, S, S)`` (and hint channels ``(B, 3, S, S)`` for a hint model)
        -> what G was trained on (see :attr:`g_input`)."""
        from .color import lab_normalized_to_rgb

        gi = self.g_input
        if hints is not None and gi != "L+hints":
            self._refuse_hints()
        if gi == "L+hints":
            from .data.hints import hint_input

            if hints is None:
                return hint_input(L)                                          # no hints: zeros
            return torch.cat([L, hints.to(L.device, L.dtype)], 1)             # (B, 4, S, S)
        if gi == "L":
            return L                                                          # (B, 1, S, S)
        if gi == "L00":
            return torch.cat([L, torch.zeros_like(L).expand(-1, 2, -1, -1)], 1)  # (B, 3, S, S)
        # gray3: the colour with this L and a = b = 0, in [-1, 1] (= lab_batch's rgb gray3)
        gray = lab_normalized_to_rgb(L, torch.zeros_like(L).expand(-1, 2, -1, -1))
        return gray * 2.0 - 1.0                                               # (B, 3, S, S)

    def _run_generator(self, L_small: torch.Tensor, seed: int | None,
                       hints: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised L at S x S (and hint channels at S x S) -> normalised ab (B, 2, S, S) (ab / 110)."""
        from .color import AB_SCALE, rgb_to_lab

        x = self._generator_input(L_small, hints)
        with torch.no_grad():
            if self.has_noise:
                g = torch.Generator(device=x.device).manual_seed(0 if seed is None else int(seed))
                out = self.model(x, generator=g)
            else:
                out = self.model(x)
            out = out.float()
        if self.color_space == "lab":
            ab = out                                                          # (B, 2, S, S) ab/110
        else:
            rgb = ((out + 1.0) / 2.0).clamp(0.0, 1.0)                         # (B, 3, S, S) in [0, 1]
            ab = rgb_to_lab(rgb)[:, 1:] / AB_SCALE                            # its ab, /110
        return ab if self.chroma == 1.0 else ab * self.chroma

    def predict_ab(self, L: torch.Tensor, seed: int | None = None, hints: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised L ``(B, 1, H, W)`` (``L/50 - 1``, what :func:`lessons_lib.data.lab_batch`
        gives) -> normalised ab ``(B, 2, H, W)`` (``ab/110``) at the same size.

        L is resized to the model size S (bilinear, antialiased) when ``H x W != S x S``,
        and the predicted ab are resized back (bilinear). ``hints`` (a hint model only):
        ``(B, 3, h, w)`` = (hint a, hint b, mask), at S x S or at any size, which is brought to
        S x S by :func:`lessons_lib.data.hints.downsample_hints` (a hinted pixel stays hinted)."""
        if not isinstance(L, torch.Tensor):
            raise TypeError(f"L must be a torch.Tensor, got {type(L).__name__}")
        if L.dim() != 4 or L.shape[1] != 1:
            raise ValueError(f"L must have shape (B, 1, H, W), got {tuple(L.shape)}")
        if not L.is_floating_point():
            raise ValueError(f"L must be a float tensor (L/50 - 1), got {L.dtype}")
        if L.numel() and float(L.max()) > 1.5:
            raise ValueError("L looks like L* in 0..100; pass the normalised L/50 - 1 "
                             "(lessons_lib.color.normalize_lab or lessons_lib.data.lab_batch)")
        if hints is not None:
            if not self.takes_hints:
                self._refuse_hints()
            if not isinstance(hints, torch.Tensor) or hints.dim() != 4 or hints.shape[1] != 3 \
                    or hints.shape[0] != L.shape[0]:
                got = tuple(hints.shape) if isinstance(hints, torch.Tensor) else type(hints).__name__
                raise ValueError(f"hints must be a tensor (B, 3, h, w) = (hint a, hint b, mask) with L's batch "
                                 f"size {L.shape[0]}, got {got}")
        s = self.size
        L = L.to(self.device, torch.float32)
        h, w = L.shape[-2:]
        small = L if (h, w) == (s, s) else F.interpolate(L, size=(s, s), mode="bilinear",
                                                           align_corners=False, antialias=True)
        if hints is not None:
            from .data.hints import downsample_hints

            hints = downsample_hints(hints.to(self.device, torch.float32), (s, s))
        ab = self._run_generator(small, seed, hints)
        if (h, w) != (s, s):
            ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
        return ab

    def colorize_tensor(self, L: torch.Tensor, seed: int | None = None, hints: torch.Tensor | None = None
                        ) -> torch.Tensor:
        """Batched colorization: normalised L ``(B, 1, H, W)`` -> RGB ``(B, 3, H, W)`` in [0, 1].

        The input L is kept (recombined with the predicted ab by
        :func:`lab_to_rgb_keep_lightness`), exactly as :meth:`__call__` does for one photo.
        ``hints`` as in :meth:`predict_ab`.
        """
        return self._recombine_batch(L, self.predict_ab(L, seed, hints))

    @staticmethod
    def _recombine_batch(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """Normalised L (B, 1, H, W) and normalised ab (B, 2, H, W) -> RGB in [0, 1], L kept."""
        from .color import AB_SCALE, L_SCALE

        L = L.to(ab.device, torch.float32)
        lab = torch.cat([(L + 1.0) * L_SCALE, ab * AB_SCALE], dim=1)          # (B, 3, H, W) Lab
        return lab_to_rgb_keep_lightness(lab)

    def diversity(self, L: torch.Tensor, truth: torch.Tensor | None = None,
                  seeds: Sequence[int] = range(8)) -> dict[str, Any]:
        """How much the colourings of several seeds differ (seed 001's "diverse colorization",
        measured as in benchmarks/colorgan_compare.py).

        Args:
            L: normalised L ``(B, 1, H, W)``.
            truth: the photos, RGB ``(B, 3, H, W)`` in [0, 1], for each seed's PSNR (optional).
            seeds: at least 2 seeds.
        Returns ``mean_pairwise_ab`` (Lab units: the per-pixel ab distance between two
        colourings, averaged over pixels and all pairs of seeds; 0 for a model without noise),
        ``per_image`` (the same per image), ``chroma`` (mean ab length of the first seed's
        colouring, for scale) and, with ``truth``, ``psnr`` (B rows x one per seed),
        ``psnr_dev_db`` (per image: the largest distance of a seed's PSNR from the image's
        mean) and ``max_psnr_dev_db`` (their maximum).
        """
        from .color import AB_SCALE
        from .metrics import mean_pairwise_distance, psnr

        seeds = [int(s) for s in seeds]
        if len(seeds) < 2:
            raise ValueError(f"diversity needs at least 2 seeds, got {seeds}")
        abs_ = [self.predict_ab(L, seed=s) for s in seeds]                      # (B, 2, H, W) ab / 110
        per_image = mean_pairwise_distance([ab * AB_SCALE for ab in abs_], reduction="none")  # (B,) Lab units
        out: dict[str, Any] = {"seeds": seeds, "mean_pairwise_ab": float(per_image.mean()),
                               "per_image": per_image.tolist(),
                               "chroma": float((abs_[0] * AB_SCALE).norm(dim=1).mean())}
        if truth is not None:
            truth = truth.to(self.device, torch.float32)
            by_seed = torch.stack([psnr(self._recombine_batch(L, ab), truth, reduction="none")
                                   for ab in abs_], dim=1).double()             # (B, seeds) dB
            dev = (by_seed - by_seed.mean(dim=1, keepdim=True)).abs().amax(dim=1)  # (B,)
            out["psnr"] = by_seed.tolist()
            out["psnr_dev_db"] = dev.tolist()
            out["max_psnr_dev_db"] = float(dev.max())
        return out

    # ------------------------------------------------------------------ one photo
    def __call__(self, image: Any, seed: int | None = None, hints: Sequence[Any] | None = None):
        """Colorize one image (path, bytes, file object, PIL image, numpy array, tensor).

        Returns an RGB PIL image of the input's size whose L* is the input's; ``seed``
        picks the colouring of a model with a noise input (default 0; ignored otherwise);
        ``hints``: a user's colour hints for a hint model (see :meth:`hint_map`).
        """
        from PIL import Image

        from .color import AB_SCALE, normalize_lab, rgb_uint8_to_lab
        from .data import image_to_tensor

        img = self._open(image)
        s = self.size
        small = img if img.size == (s, s) else img.resize((s, s), Image.Resampling.BICUBIC,
                                                          reducing_gap=_REDUCING_GAP)
        rgb8 = image_to_tensor(small)[None].to(self.device)                 # (1, 3, S, S) uint8
        L_small, _ = normalize_lab(rgb_uint8_to_lab(rgb8))                  # (1, 1, S, S)
        hint_maps = None
        if hints:
            if not self.takes_hints:
                self._refuse_hints()
            hint_maps = self.hint_map(hints, img.size)                      # (1, 3, S, S)
        ab = self._run_generator(L_small, seed, hint_maps)[0] * AB_SCALE    # (2, S, S) Lab units
        return recombine(img, ab, band_pixels=self.band_pixels, device=self.device)


# =========================================================================== evaluation
def _accumulate(total: dict[str, Any], report: dict[str, Any], weight: int) -> None:
    """Add ``weight * value`` of every number of ``report`` into ``total`` (nested dicts too);
    a string (an "unavailable ..." metric) is kept as it is."""
    for k, v in report.items():
        if isinstance(v, dict):
            _accumulate(total.setdefault(k, {}), v, weight)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            prev = total.get(k, 0.0)
            total[k] = (prev if isinstance(prev, (int, float)) else 0.0) + float(v) * weight
        else:
            total[k] = v


def _divide(total: dict[str, Any], n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in total.items():
        if isinstance(v, dict):
            out[k] = _divide(v, n)
        elif isinstance(v, float):
            out[k] = v / n
        else:
            out[k] = v
    return out


def evaluate_colorizer(
    colorizer: Colorizer,
    source: Any,
    split: str = "val",
    size: int | None = None,
    *,
    limit: int | None = None,
    batch_size: int = 16,
    seed: int | None = None,
    num_workers: int = 0,
    baseline: bool = True,
    feature_metrics: bool = False,
    hints: int | None = None,
) -> dict[str, Any]:
    """Colorize the gray versions of a source's images and measure against the colours.

    Every image of ``split`` is resized (short side) and centre-cropped to ``size x size``
    (:func:`lessons_lib.data.make_loader` with ``train=False``; default: the model's size),
    its L plane is colorized with :meth:`Colorizer.colorize_tensor` (what ``lessons
    colorize`` produces: the model at its size, the true L kept) and compared with the
    photo by :func:`lessons_lib.metrics.colorization_report`: MAE (RGB per channel, ab),
    raw-accuracy AuC, PSNR, SSIM, colorfulness, that of the photos and the gap, LPIPS and
    FID (or "unavailable (no pretrained weights)").

    With ``baseline=True`` the same metrics are computed for the trivial "gray input"
    colorizer (ab = 0, the gray photo itself), so that one sees whether the model beats
    doing nothing.

    Every metric of the report is a mean over images or a share over pixels of equal-size
    images, so the per-batch reports combine exactly by weighting with the batch size; FID,
    which is not a mean, is computed once on the whole set (only when its weights exist).

    With ``feature_metrics=True`` each report also holds the distribution metrics of the
    whole set on the kit's feature network (:func:`lessons_lib.metrics.kit_feature_report`:
    ``fid_kit``, ``kid_kit``, ``lpips_kit``, ``precision_kit``, ``recall_kit`` and the
    network's description with its accuracy), or says why they are unavailable.

    With ``hints=N`` (a hint model only) every image gets N hints from its own colours, as a
    user who knows them would give: Zhang et al.'s simulated user at the model's size S
    (:func:`lessons_lib.data.hints.sample_hint_points` with ``count=N``: centres Gaussian
    around the middle, squares of 1-9 px carrying the mean true ab, computed on the photo's
    ab resized to S x S), drawn from a generator seeded ``seed + batch index`` (the same
    hints for every model and run).

    Returns ``{"weights", "recipe", "data", "split", "size", "n_images", "seed", "model":
    report, "gray_baseline": report}`` (plain JSON; with ``"hints": N`` when given).
    """
    from .color import lab_normalized_to_rgb
    from .data import lab_batch, make_loader
    from .metrics import UNAVAILABLE, colorization_report, fid, fid_available, kit_feature_report

    size = int(size) if size is not None else colorizer.size
    if size < 8:
        raise LessonsError(f"size must be at least 8 pixels, got {size}")
    if hints is not None:
        if not colorizer.takes_hints:
            colorizer._refuse_hints()
        if not isinstance(hints, int) or hints < 0:
            raise LessonsError(f"hints is the number of simulated hints per image, a whole number >= 0, got {hints!r}")
    colorizer.load()
    device = colorizer.device
    loader = make_loader(source, size, batch_size, split=split, train=False, num_workers=num_workers,
                         limit=limit, drop_last=False)
    runs = {"model": {}, "gray_baseline": {}} if baseline else {"model": {}}
    keep_fid = fid_available()
    keep = keep_fid or feature_metrics
    kept: dict[str, list[torch.Tensor]] = {k: [] for k in (*runs, "truth")}
    n = 0
    for i, batch in enumerate(loader):                     # (B, 3, S, S) uint8
        L, ab_true = lab_batch(batch, device, "lab")       # (B, 1, S, S), L/50 - 1; ab/110
        truth = batch.to(device).float() / 255.0           # (B, 3, S, S) in [0, 1]
        hint_maps = None
        if hints is not None:
            hint_maps = simulated_hint_maps(ab_true, colorizer.size, hints, (0 if seed is None else int(seed)) + i)
        preds = {"model": colorizer.colorize_tensor(L, seed, hints=hint_maps)}
        if baseline:
            preds["gray_baseline"] = lab_normalized_to_rgb(L, torch.zeros_like(L).expand(-1, 2, -1, -1))
        b = batch.shape[0]
        for name, pred in preds.items():
            _accumulate(runs[name], colorization_report(pred, truth), b)
            if keep:
                kept[name].append((pred * 255).round().to(torch.uint8).cpu())
        if keep:
            kept["truth"].append(batch.cpu())
        n += b
    if n == 0:
        raise LessonsError(f"no images to evaluate in {source!r} split {split!r}")
    result: dict[str, Any] = {
        "weights": str(colorizer.weights),
        "recipe": colorizer.card.get("recipe"),
        "data": str(source),
        "split": split,
        "size": size,
        "n_images": n,
        "seed": 0 if seed is None else int(seed),
    }
    if hints is not None:
        result["hints"] = hints
    for name, total in runs.items():
        report = _divide(total, n)
        report["n_images"] = n
        if not keep_fid:
            report["fid"] = UNAVAILABLE
        elif n < 2:
            report["fid"] = "unavailable (needs at least 2 images)"
        else:
            report["fid"] = fid(torch.cat(kept[name]), torch.cat(kept["truth"]))
        if feature_metrics:
            report.update(kit_feature_report(torch.cat(kept[name]), torch.cat(kept["truth"])))
        result[name] = report
    return result



def simulated_hint_maps(ab: torch.Tensor, size: int, count: int, seed: int) -> torch.Tensor:
    """``count`` hints per image from the true ``ab`` (B, 2, H, W) (ab / 110), as the hint
    channels ``(B, 3, size, size)`` of a hint model: Zhang et al.'s simulated user on the ab
    resized to ``size`` (area average), from a generator seeded ``seed``."""
    from .data.hints import render_hints, sample_hint_points

    small = ab if tuple(ab.shape[-2:]) == (size, size) else F.interpolate(ab.float(), size=(size, size), mode="area")
    pts = sample_hint_points(ab.shape[0], size, size, count=count, generator=torch.Generator().manual_seed(seed))
    hint_ab, mask = render_hints(small.float(), pts)
    return torch.cat([hint_ab, mask], dim=1)


def hint_curve(colorizer: Colorizer, source: Any, split: str = "val", counts: Sequence[int] = (0, 1, 2, 5, 10, 20, 50),
               size: int | None = None, *, limit: int | None = None, seed: int = 0,
               reference: Colorizer | None = None) -> dict[str, Any]:
    """PSNR and colourfulness of a hint model against the number of hints from the true
    colours (:func:`evaluate_colorizer` with ``hints=n`` for each n of ``counts``), with the
    gray input and, when given, an automatic ``reference`` colorizer on the same images.

    Returns ``{"data", "split", "size", "n_images", "counts", "psnr", "colorfulness",
    "gray": {"psnr", "colorfulness"}, "reference": {"name", "psnr", "colorfulness"} | None,
    "colorfulness_gt"}``."""
    rows = [evaluate_colorizer(colorizer, source, split, size, limit=limit, seed=seed, hints=int(n),
                               baseline=(k == 0)) for k, n in enumerate(counts)]
    first = rows[0]
    out: dict[str, Any] = {
        "data": str(source), "split": split, "size": first["size"], "n_images": first["n_images"],
        "counts": [int(n) for n in counts], "psnr": [r["model"]["psnr"] for r in rows],
        "colorfulness": [r["model"]["colorfulness"] for r in rows],
        "gray": {"psnr": first["gray_baseline"]["psnr"], "colorfulness": first["gray_baseline"]["colorfulness"]},
        "colorfulness_gt": first["model"]["colorfulness_gt"], "reference": None,
    }
    if reference is not None:
        ref = evaluate_colorizer(reference, source, split, first["size"], limit=limit, seed=seed, baseline=False)
        out["reference"] = {"name": reference.card.get("name") or reference.card.get("recipe"),
                            "psnr": ref["model"]["psnr"], "colorfulness": ref["model"]["colorfulness"]}
    return out


def _flat_rows(report: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for k, v in report.items():
        if isinstance(v, dict):
            rows += _flat_rows(v, f"{prefix}{k} ")
        else:
            rows.append((f"{prefix}{k}", v))
    return rows


def format_evaluation(result: dict[str, Any]) -> str:
    """The result of :func:`evaluate_colorizer` as a table: one metric per row, the model
    and the gray-input baseline side by side (the metric names of
    :func:`lessons_lib.metrics.format_report`)."""
    from .metrics import METRIC_LABELS

    columns = [k for k in ("model", "gray_baseline") if k in result]
    if not columns:
        raise ValueError("not an evaluate_colorizer result: no 'model' report in it")
    rows = {name: dict(_flat_rows(result[name])) for name in columns}
    network = rows[columns[0]].pop("features", None)          # a description: printed below
    for c in columns[1:]:
        rows[c].pop("features", None)
    keys = list(rows[columns[0]])

    def label(key: str) -> str:
        head, _, rest = key.partition(" ")
        return f"{METRIC_LABELS.get(head, head)} {rest}".strip()

    def fmt(v: Any) -> str:
        if v is None:                                   # e.g. precision / recall of a tiny set
            return "n/a"
        if isinstance(v, float):
            if not math.isfinite(v):
                return str(v)
            return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
        return str(v)

    header = ["metric", *("model" if c == "model" else "gray input" for c in columns)]
    table = [header] + [[label(k), *(fmt(rows[c].get(k, "")) for c in columns)] for k in keys]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    title = (f"{result.get('recipe') or result.get('weights')} on {result.get('data')} "
             f"[{result.get('split')}], {result.get('n_images')} images at {result.get('size')} px")
    lines = [title] + ["  ".join(c.ljust(wd) for c, wd in zip(r, widths)).rstrip() for r in table]
    if network is not None:
        lines.append(f"feature network of the _kit metrics: {network} (values rank models on these "
                     "images; they are not papers' FID / KID / LPIPS)")
    return "\n".join(lines)


# =========================================================================== Restorer
class Restorer(_Pipeline):
    """The face restorer of seed 004 as a function: ``Restorer(weights)(image) -> PIL.Image``.

    Args:
        weights: a restorer bundle (a folder with ``restorer.json``, what ``lessons train
            fusion`` writes into ``OUT/restorer``; layout in :mod:`lessons_lib.train.restoration`),
            or the run folder of one stage: ``nafnet`` (x_R only), ``inversion`` (x_R, x_G) or
            ``fusion`` (all three; its card names the earlier runs).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        output: what ``__call__`` returns by default: ``"x_hat"`` (fusion), ``"x_G"``
            (inversion) or ``"x_R"`` (NAFNet); default the last stage the weights have.

    What it does with an image of any size ``W x H``: the networks run on aligned face
    crops at their training size ``S`` (64 px for the course's celeba10k run); the whole
    image is resized to ``S x S`` (bicubic, antialiased), restored there, and the change
    the restorer made, ``delta = out_S - in_S``, is upsampled (bilinear, band by band so
    memory stays bounded) and added to the original: ``out = in + up(delta)``. At the model's
    resolution the result is the restorer's output; finer detail of the input, which the
    model never saw, is kept as it was. A photo that is not a centred face is still
    deblurred by NAFNet (``output="x_R"``), but x_G and x_hat will look like a face.

    ``.model`` is a :class:`lessons_lib.train.restoration.RestorerParts` (the loaded nets).
    """

    task = "restoration"

    def __init__(self, weights: str | os.PathLike, device: str | torch.device = "auto", *,
                 output: str | None = None, max_pixels: int = MAX_PIXELS, band_pixels: int = BAND_PIXELS) -> None:
        super().__init__(weights, device, max_pixels=max_pixels)
        if band_pixels < 1:
            raise ValueError(f"band_pixels must be >= 1, got {band_pixels}")
        self.band_pixels = int(band_pixels)
        self._output = output

    def _locate(self, weights: Path) -> Path:
        from .train.restoration import locate_restorer

        return locate_restorer(weights)

    @property
    def card(self) -> dict[str, Any]:
        """The restorer's card (a bundle's ``restorer.json`` or the run's model card), checked."""
        if self._card is None:
            from .train.restoration import restorer_card

            self._card = restorer_card(self._st_path)
        return self._card

    @property
    def model(self):  # -> RestorerParts
        """The loaded networks (:class:`~lessons_lib.train.restoration.RestorerParts`), on first use."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from .train.restoration import load_restorer_parts

                    self.card  # noqa: B018 - the task check comes before loading any weights
                    self._model = load_restorer_parts(self._st_path, device=self.device)
        return self._model

    @property
    def size(self) -> int:
        """The face size S the networks were trained at."""
        return self.model.size

    @property
    def outputs(self) -> tuple[str, ...]:
        """What this restorer can return: ``("blurred", "x_R"[, "x_G"[, "x_hat"]])``."""
        return self.model.outputs

    @property
    def output(self) -> str:
        """The default output of :meth:`__call__`: the one asked for, else the one the card
        names (``default_output``: a shipped restorer's is chosen by
        :func:`lessons_lib.zoo.choose_restorer_output`'s rule on held-out faces), else the
        last stage the weights have."""
        if self._output is not None:
            return self._check_output(self._output)
        named = self.card.get("default_output")
        return named if named in self.outputs[1:] else self.outputs[-1]

    @property
    def output_reason(self) -> str | None:
        """Why the card names its default output (None when it names none)."""
        return self.card.get("default_output_why")

    def _check_output(self, output: str) -> str:
        if output not in self.outputs[1:]:
            raise LessonsError(f"output {output!r} is not available from {self.weights} (stage {self.model.stage}); "
                               f"choose one of {', '.join(self.outputs[1:])}")
        return output

    def restore_tensor(self, blurred: torch.Tensor) -> dict[str, torch.Tensor]:
        """Batched restoration: ``(B, 3, H, W)`` in [0, 1] -> ``{"blurred", "x_R", "x_G", "x_hat"}``
        (those the weights have), each ``(B, 3, H, W)`` in [0, 1].

        Faces of another size than S are resized to S (bilinear, antialiased) and the
        outputs resized back: an evaluation at a size the model was not trained at."""
        from .models.layers import check_image_batch

        check_image_batch(blurred, 3, "blurred")
        if not blurred.is_floating_point():
            raise ValueError(f"blurred must be float in [0, 1], got {blurred.dtype}")
        x = blurred.to(self.device, torch.float32)
        s = self.size
        h, w = x.shape[-2:]
        small = x if (h, w) == (s, s) else F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False,
                                                           antialias=True)
        outs = self.model.run(small)
        if (h, w) != (s, s):
            outs = {k: (x if k == "blurred" else F.interpolate(v, size=(h, w), mode="bilinear", align_corners=False,
                                                               antialias=True).clamp(0, 1))
                    for k, v in outs.items()}
        return outs

    def __call__(self, image: Any, output: str | None = None):
        """Restore one image (path, bytes, PIL image, numpy array, tensor) -> RGB PIL image of its size."""
        import numpy as np
        from PIL import Image

        from .data import image_to_tensor

        out_name = self._check_output(output) if output is not None else self.output
        img = self._open(image)
        s = self.size
        W, H = img.size
        small = img if img.size == (s, s) else img.resize((s, s), Image.Resampling.BICUBIC,
                                                          reducing_gap=_REDUCING_GAP)
        x = image_to_tensor(small)[None].to(self.device).float() / 255.0   # (1, 3, S, S)
        y = self.model.run(x)[out_name]                                     # (1, 3, S, S)
        if (W, H) == (s, s):
            pixels = (y[0] * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            return Image.fromarray(np.ascontiguousarray(pixels))
        delta = (y - x)[0]                                                  # (3, S, S) what the model changed
        if W * H <= self.band_pixels:  # small: in one go, antialiased when shrinking
            full = image_to_tensor(img)[None].to(self.device).float() / 255.0
            up = F.interpolate(delta[None], size=(H, W), mode="bilinear", align_corners=False,
                               antialias=W < s or H < s)
            pixels = ((full + up).clamp(0, 1)[0] * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            return Image.fromarray(np.ascontiguousarray(pixels))
        # large: bilinear upsampling of delta, band by band (as recombine does for ab)
        dev = self.device
        x0, x1, wx = _source_index(W, s, dev)
        d_x = torch.lerp(delta[:, :, x0], delta[:, :, x1], wx)             # (3, S, W)
        y0, y1, wy = _source_index(H, s, dev)
        rows = max(1, self.band_pixels // W)
        out = Image.new("RGB", (W, H))
        for r0 in range(0, H, rows):
            r1 = min(H, r0 + rows)
            d_band = torch.lerp(d_x[:, y0[r0:r1]], d_x[:, y1[r0:r1]], wy[r0:r1].view(1, -1, 1))  # (3, rows, W)
            band = np.asarray(img.crop((0, r0, W, r1)), dtype=np.uint8)    # (rows, W, 3)
            band_t = torch.from_numpy(band.transpose(2, 0, 1).copy()).to(dev).float() / 255.0
            pixels = ((band_t + d_band).clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            out.paste(Image.fromarray(np.ascontiguousarray(pixels)), (0, r0))
        return out
