"""Colour for display: Lab -> sRGB that keeps every pixel's lightness (gamut mapping by
chroma scaling), and the full-resolution recombination of a photo's own L* with a small
predicted ab map, band by band - the two hot paths of the colorizer
(:class:`lessons_lib.colorization.Colorizer`).

The same CIE maths as :mod:`lessons_lib.color` (its matrices, its sRGB table, its f and
f^-1 constants), arranged for speed: the gamut test in linear RGB, the bisection only on
out-of-gamut pixels, 8-bit output by table, blocks of pixels on worker threads. Each fast
form is checked against the formula in tests/test_pipeline.py.
"""
from __future__ import annotations

import torch

from .. import LessonsError
from . import (_EPS_LAB, _F_INV_THRESHOLD, _F_OFFSET, _KAPPA, _as_batch, _float_dtype, _matrices, _srgb_lut,
               linear_to_srgb)

__all__ = ["BAND_PIXELS", "lab_to_rgb_keep_lightness", "recombine", "source_index"]

#: Pixels per band of the full-size recombination (see the module docstring).
BAND_PIXELS = 1 << 20
# Bisection steps of the chroma scale that brings an out-of-gamut colour into sRGB:
# 8 halvings leave the chroma within 1/256 of the gamut boundary (< 0.6 ab units for any
# chroma a tanh output can reach, 110 * sqrt(2)): far below a visible difference.
_GAMUT_STEPS = 8
# How far outside [0, 1] an sRGB value may be and still count as inside
# (float32 round-off of the Lab -> RGB matrices); clipping such values moves L by < 0.01.
_GAMUT_TOL = 1e-4
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
    cube = t.clamp_min(_EPS_LAB).log_().mul_(1.0 / 3.0).exp_()
    return cube.add_(torch.clamp_max(t, _EPS_LAB).sub_(_EPS_LAB), alpha=_KAPPA)


def _f_inv_(f: torch.Tensor) -> torch.Tensor:
    """CIE f^-1 (:func:`lessons_lib.color._f_inv`), written into ``f`` (a temporary)."""
    line = torch.sub(f, _F_OFFSET).div_(_KAPPA)
    cube = torch.mul(f, f).mul_(f)
    return torch.where(f > _F_INV_THRESHOLD, cube, line, out=f)


def _f_inv_flat_(f: torch.Tensor) -> torch.Tensor:
    """CIE f^-1 without a branch mask (the 8-bit path): ``max(f, t)^3 + (min(f, t) - t) / 7.787``
    with ``t = 6/29``; the line of :func:`_f_inv_` meets the cube at ``t`` up to 4e-8 (its
    constants are rounded), so the two agree to 4e-8 in X, Y, Z (1e-4 of an 8-bit level).
    No torch.where, which costs three plain passes on the CPU: 30% of the bisection."""
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


def source_index(out_size: int, in_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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
    x0, x1, wx = source_index(W, w, dev)
    ab_x = torch.lerp(ab[:, :, x0], ab[:, :, x1], wx)                  # (2, h, W)
    y0, y1, wy = source_index(H, h, dev)
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
