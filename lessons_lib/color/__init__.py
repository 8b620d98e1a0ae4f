"""Colour spaces in PyTorch: sRGB <-> CIE Lab (D65), the models' normalisation, gray.

Everything works on batched tensors ``(B, 3, H, W)`` (a single ``(3, H, W)`` image is
accepted too), on any device, and is differentiable, so a loss can be written in Lab
while the network outputs RGB and vice versa.

The maths (IEC 61966-2-1 sRGB and CIE 1976 L*a*b*, with the constants scikit-image uses,
so that the two agree to float32 precision):

    sRGB companding     c_lin = c / 12.92                      if c <= 0.04045
                        c_lin = ((c + 0.055) / 1.055) ** 2.4   otherwise
    linear RGB -> XYZ   [X Y Z] = M @ [R G B],  M = sRGB primaries, D65 white
    XYZ -> Lab          f(t) = t ** (1/3)              if t > 0.008856 (= (6/29)^3)
                        f(t) = 7.787 t + 16/116        otherwise
                        L = 116 f(Y/Yn) - 16,  a = 500 (f(X/Xn) - f(Y/Yn)),  b = 200 (f(Y/Yn) - f(Z/Zn))

L lies in [0, 100]; a and b in about [-86, 98] and [-108, 95] for sRGB colours. Every
model of the kit sees ``L/50 - 1`` and ``ab/110`` (the pix2pix colorization reference
normalisation), i.e. values in about [-1, 1] that match a tanh output.

Speed: the reference pix2pix loader converts one image at a time with
``skimage.color.rgb2lab`` in float64 on the CPU. Here the conversion runs on whole batches
in float32 on the training device, folds the white point and the Lab rows into two small
matrices, for 8-bit input replaces the sRGB curve by a 256-entry lookup table
(``rgb_uint8_to_lab``), works on the CPU in cache-sized blocks of pixels shared among
threads, and reuses its temporaries (in-place ops) when no gradient is needed: see
``benchmarks/bench_color.py`` and ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

__all__ = [
    "rgb_to_lab",
    "lab_to_rgb",
    "rgb_uint8_to_lab",
    "srgb_to_linear",
    "linear_to_srgb",
    "normalize_lab",
    "denormalize_lab",
    "rgb_to_lab_normalized",
    "lab_normalized_to_rgb",
    "rgb_to_gray",
    "gray_to_rgb",
    "L_SCALE",
    "AB_SCALE",
]

# Normalisation of the pix2pix colorization reference: L in [0, 100] -> [-1, 1], ab / 110.
L_SCALE = 50.0
AB_SCALE = 110.0

# sRGB (linear) -> XYZ, D65, the matrix of IEC 61966-2-1 as scikit-image writes it.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
# D65 reference white for the 2-degree observer (scikit-image's default illuminant).
_WHITE_D65 = (0.95047, 1.0, 1.08883)
_EPS_LAB = 0.008856  # (6/29)^3: below it f() is linear
_KAPPA = 7.787       # slope of the linear part of f()
_F_OFFSET = 16.0 / 116.0
_F_INV_THRESHOLD = 0.2068966  # f(_EPS_LAB) = 6/29: where the inverse switches branch

_matrix_cache: dict[tuple, dict[str, torch.Tensor]] = {}
_lut_cache: dict[tuple, torch.Tensor] = {}


def _columns(m: torch.Tensor) -> torch.Tensor:
    """A 3x3 matrix as its columns shaped (3, 1, 3, 1, 1), ready for :func:`_apply3`."""
    return m.t().reshape(3, 1, 3, 1, 1)


def _matrices(device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The constants of both directions on a device, prepared once and cached.

    Forward:  t = (M / white) rgb_lin;  [L a b] = A f(t) + [-16 0 0].
    Backward: f = A^-1 ([L a b] + [16 0 0]) = A^-1 [L a b] + A^-1 [16 0 0];  rgb_lin = (M / white)^-1 f^-1(f).
    The white point is folded into M, and each offset into the first multiply-add.
    """
    key = (str(device), dtype)
    if key not in _matrix_cache:
        m = torch.tensor(_XYZ_FROM_RGB, dtype=torch.float64)
        white = torch.tensor(_WHITE_D65, dtype=torch.float64)
        m_white = m / white[:, None]  # rows divided by the white point: X/Xn, Y/Yn, Z/Zn directly
        lab_from_f = torch.tensor(((0.0, 116.0, 0.0), (500.0, -500.0, 0.0), (0.0, 200.0, -200.0)), dtype=torch.float64)
        f_from_lab = torch.linalg.inv(lab_from_f)
        consts = {
            "xyz_from_rgb": _columns(m_white),
            "lab_from_f": _columns(lab_from_f),
            "lab_offset": torch.tensor((-16.0, 0.0, 0.0), dtype=torch.float64).view(1, 3, 1, 1),
            "f_from_lab": _columns(f_from_lab),
            "f_offset": (f_from_lab @ torch.tensor((16.0, 0.0, 0.0), dtype=torch.float64)).view(1, 3, 1, 1),
            "rgb_from_xyz": _columns(torch.linalg.inv(m_white)),
        }
        _matrix_cache[key] = {k: v.to(device, dtype) for k, v in consts.items()}
    return _matrix_cache[key]


def _as_batch(x: torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    """Accept (3, H, W) or (B, 3, H, W); return the batch and whether it was unbatched."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    shape = tuple(x.shape)  # reported as given, before a batch dimension is added
    if x.dim() not in (3, 4):
        raise ValueError(f"{name} must have shape (B, 3, H, W) or (3, H, W), got {shape}")
    if x.shape[-3] != 3:
        raise ValueError(
            f"{name} must have 3 channels (B, 3, H, W) or (3, H, W), got shape {shape} "
            "(for channels-last numpy images use tensor.permute(2, 0, 1))"
        )
    single = x.dim() == 3
    return (x.unsqueeze(0) if single else x), single


def _apply3(cols: torch.Tensor, x: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
    """``out_i = sum_j m_ij x_j (+ offset_i)`` on the channels of (B, 3, H, W).

    ``cols`` is the matrix as :func:`_columns` lays it out. Three broadcast multiply-adds
    rather than a matmul: a (3, 3) @ (3, N) product is too small for BLAS, whose thread
    start-up dominated it (40 ms for 384 pixels on a busy 2-core machine against 0.1 ms
    here). The in-place adds are safe for autograd (addcmul does not keep its input).
    """
    if offset is None:
        out = cols[0] * x[:, 0:1]
    else:
        out = torch.addcmul(offset, cols[0], x[:, 0:1])
    return out.addcmul_(cols[1], x[:, 1:2]).addcmul_(cols[2], x[:, 2:3])


def _float_dtype(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() and x.dtype != torch.float16 and x.dtype != torch.bfloat16 else torch.float32


# On the CPU the batch is converted in blocks of at most this many pixels, on
# torch.get_num_threads() Python threads (torch releases the GIL inside each op):
# - each conversion is ~20 element-wise passes; over a whole batch (64 x 256 x 256 x 3
#   float32 = 50 MB) every pass streams from main memory, while a block (3 x 40 KiB in
#   float32) stays in the L2 cache between passes;
# - 10240 pixels x 3 channels = 30720 elements is under ATen's 32768-element grain, so no op
#   starts an OpenMP team of its own: the parallelism is one block per thread. On a busy
#   machine (more runnable processes than cores) an OpenMP barrier per op waits for
#   descheduled threads: 64 images took 19 s that way against 0.4 s for this scheme.
# On a GPU the whole batch is one launch per op, which is what a GPU wants: not split.
_BLOCK_PIXELS = 10240


def _blockwise(fn, x: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
    """``fn`` applied to (B, 3, H, W) ``x`` block by block (CPU), written into one output.

    ``fn`` must act on each pixel alone (element-wise ops and 3x3 channel matrices), so the
    blocks (runs of whole images, or bands of rows of one large image) are independent.
    With gradients the blocks run one after the other and autograd follows the slice
    assignments; without, they are shared among ``torch.get_num_threads()`` threads.
    """
    b, _, h, w = x.shape
    if x.device.type != "cpu" or b * h * w <= _BLOCK_PIXELS:
        return fn(x)
    out = torch.empty((b, 3, h, w), dtype=out_dtype, device=x.device)
    if h * w <= _BLOCK_PIXELS:  # several whole images per block
        step = _BLOCK_PIXELS // (h * w)
        blocks = [(slice(i, i + step), slice(None)) for i in range(0, b, step)]
    else:  # bands of rows of one image
        rows = max(1, _BLOCK_PIXELS // w)
        blocks = [(slice(i, i + 1), slice(r, r + rows)) for i in range(b) for r in range(0, h, rows)]
    if torch.is_grad_enabled() and x.requires_grad:
        for bi, ri in blocks:
            out[bi, :, ri] = fn(x[bi, :, ri])
        return out

    def run(block: tuple[slice, slice]) -> None:
        bi, ri = block
        with torch.no_grad():  # grad mode is per thread: say it in the workers too
            out[bi, :, ri] = fn(x[bi, :, ri])

    workers = min(torch.get_num_threads(), len(blocks))
    if workers <= 1:
        for block in blocks:
            run(block)
    else:
        # A pool per call (thread start-up is ~0.1 ms): nothing outlives the call, so a
        # process forked later (DataLoader workers) inherits no dead pool.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, blocks))
    return out


def _inplace_ok(x: torch.Tensor) -> bool:
    """True when no gradient will flow through ``x``: element-wise steps may then reuse
    their own temporaries (in-place ops) instead of allocating new ones."""
    return not (torch.is_grad_enabled() and x.requires_grad)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB companding inverse (IEC 61966-2-1): values in [0, 1] -> linear light.

    ``((c + 0.055) / 1.055) ** 2.4`` is evaluated on ``max(c, 0.04045)`` so that pow() never
    sees a negative base (NaN gradient in the branch torch.where does not pick).
    """
    low = rgb / 12.92
    high = rgb.clamp_min(0.04045)
    if _inplace_ok(rgb):
        high.add_(0.055).div_(1.055).pow_(2.4)
    else:
        high = ((high + 0.055) / 1.055) ** 2.4
    return torch.where(rgb <= 0.04045, low, high)


def linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    """sRGB companding: linear light -> sRGB values (not clipped)."""
    low = lin * 12.92
    high = lin.clamp_min(0.0031308)
    if _inplace_ok(lin):
        high.pow_(1.0 / 2.4).mul_(1.055).sub_(0.055)
    else:
        high = 1.055 * high ** (1.0 / 2.4) - 0.055
    return torch.where(lin <= 0.0031308, low, high)


def _f(t: torch.Tensor) -> torch.Tensor:
    """CIE f(t): cube root above (6/29)^3, the tangent line 7.787 t + 16/116 below."""
    # The cube root is taken of max(t, (6/29)^3) so that neither pow() nor its gradient
    # meets 0 or a negative t (torch.where back-propagates into both branches).
    cube = t.clamp_min(_EPS_LAB)
    cube = cube.pow_(1.0 / 3.0) if _inplace_ok(t) else cube ** (1.0 / 3.0)
    line = torch.add(t.new_tensor(_F_OFFSET), t, alpha=_KAPPA)  # one pass for 16/116 + 7.787 t
    return torch.where(t > _EPS_LAB, cube, line)


def _f_inv(f: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_f`: f^3 above 6/29, (f - 16/116) / 7.787 below."""
    return torch.where(f > _F_INV_THRESHOLD, f * f * f, (f - _F_OFFSET) / _KAPPA)


def _linear_to_lab(lin: torch.Tensor) -> torch.Tensor:
    """Linear RGB (B, 3, H, W) -> Lab: XYZ/white in one matrix, f(), Lab rows in another."""
    c = _matrices(lin.device, lin.dtype)
    return _apply3(c["lab_from_f"], _f(_apply3(c["xyz_from_rgb"], lin)), c["lab_offset"])


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> CIE Lab (D65): L in [0, 100], a and b unscaled.

    Args:
        rgb: (B, 3, H, W) or (3, H, W) float tensor in [0, 1] (uint8 is accepted and
            goes to :func:`rgb_uint8_to_lab`, the lookup-table path).
    Returns:
        Lab tensor of the same shape, float32 (float64 if the input was float64).
    """
    if isinstance(rgb, torch.Tensor) and rgb.dtype == torch.uint8:
        return rgb_uint8_to_lab(rgb)
    x, single = _as_batch(rgb, "rgb")
    x = x.to(_float_dtype(x))
    lab = _blockwise(lambda blk: _linear_to_lab(srgb_to_linear(blk)), x, x.dtype)
    return lab[0] if single else lab


def _srgb_lut(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = (str(device), dtype)
    if key not in _lut_cache:
        levels = torch.arange(256, dtype=torch.float64) / 255.0
        _lut_cache[key] = srgb_to_linear(levels).to(device, dtype)
    return _lut_cache[key]


def rgb_uint8_to_lab(rgb: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """8-bit sRGB (B, 3, H, W) or (3, H, W) uint8 -> Lab, a lookup table for companding.

    An 8-bit channel has only 256 values, so the sRGB curve (a pow(2.4) per pixel in the
    float path) is computed once for the 256 levels, in float64, and every pixel becomes one
    gather; the rest is two 3x3 matrix products and the cube root. Returns ``dtype``.
    """
    x, single = _as_batch(rgb, "rgb")
    if x.dtype != torch.uint8:
        raise TypeError(f"rgb_uint8_to_lab expects a uint8 tensor, got {x.dtype}")
    lut = _srgb_lut(x.device, dtype)

    def gather(blk: torch.Tensor) -> torch.Tensor:
        # One pass to contiguous int32 (index_select takes it; half the traffic of the
        # int64 that lut[x] needs), one gather.
        idx = blk.to(torch.int32, memory_format=torch.contiguous_format)
        return lut.index_select(0, idx.view(-1)).view(blk.shape)

    lab = _blockwise(lambda blk: _linear_to_lab(gather(blk)), x, dtype)
    return lab[0] if single else lab


def _lab_to_linear(lab: torch.Tensor) -> torch.Tensor:
    """Lab (B, 3, H, W) -> linear RGB, not clipped (out-of-gamut values stay out)."""
    c = _matrices(lab.device, lab.dtype)
    f = _apply3(c["f_from_lab"], lab, c["f_offset"])  # (fx, fy, fz) = A^-1 (L + 16, a, b)
    # fz = fy - b/200 goes negative for too much yellow at a given L: it is set to 0, as
    # scikit-image does, and the final clip brings the colour back into the gamut.
    f = torch.cat([f[:, :2], f[:, 2:].clamp_min(0.0)], dim=1)
    return _apply3(c["rgb_from_xyz"], _f_inv(f))


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """CIE Lab (D65) -> sRGB in [0, 1].

    Out-of-gamut colours (any a, b a network may predict) are handled without NaN:
    a negative Z (too much yellow for the given L) is set to 0 as scikit-image does, and
    the result is clipped to [0, 1] unless ``clip=False``.
    """
    x, single = _as_batch(lab, "lab")
    x = x.to(_float_dtype(x))

    def convert(blk: torch.Tensor) -> torch.Tensor:
        rgb = linear_to_srgb(_lab_to_linear(blk))
        return rgb.clamp(0.0, 1.0) if clip else rgb

    rgb = _blockwise(convert, x, x.dtype)
    return rgb[0] if single else rgb


def normalize_lab(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lab (B, 3, H, W) -> (L/50 - 1, ab/110): shapes (B, 1, H, W) and (B, 2, H, W)."""
    x, single = _as_batch(lab, "lab")
    L = x[:, :1] / L_SCALE - 1.0
    ab = x[:, 1:] / AB_SCALE
    return (L[0], ab[0]) if single else (L, ab)


def denormalize_lab(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize_lab`: (L in [-1, 1], ab/110) -> Lab (B, 3, H, W)."""
    if L.dim() != ab.dim() or L.shape[-2:] != ab.shape[-2:]:
        raise ValueError(
            f"L {tuple(L.shape)} and ab {tuple(ab.shape)} must share batch and spatial size"
        )
    ch = 0 if L.dim() == 3 else 1
    if L.shape[ch] != 1 or ab.shape[ch] != 2:
        raise ValueError(f"expected L with 1 channel and ab with 2, got {tuple(L.shape)} and {tuple(ab.shape)}")
    return torch.cat([(L + 1.0) * L_SCALE, ab * AB_SCALE], dim=ch)


def rgb_to_lab_normalized(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB (float in [0, 1] or uint8) -> the model inputs/targets (L/50 - 1, ab/110)."""
    return normalize_lab(rgb_to_lab(rgb))


def lab_normalized_to_rgb(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Model space (L/50 - 1, ab/110) -> sRGB in [0, 1] (clipped, never NaN)."""
    return lab_to_rgb(denormalize_lab(L, ab))


def rgb_to_gray(rgb: torch.Tensor, method: str = "lab", keep_channels: bool = True) -> torch.Tensor:
    """What a black-and-white photo of the scene looks like.

    method:
        ``"lab"`` (default): the colour with the same L* and a = b = 0, i.e. exactly what a
            Lab colorizer sees; converting it back to Lab gives the same L plane.
        ``"luma"``: ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B on the gamma-encoded
            values (what PIL's ``convert("L")`` and most photo tools do).
    keep_channels: True returns (B, 3, H, W) with three equal channels (the input of the
        RGB colorizers of seeds 000 and 003); False returns (B, 1, H, W).
    """
    x, single = _as_batch(rgb, "rgb")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    if method == "lab":
        lab = rgb_to_lab(x)
        gray = lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], dim=1))[:, :1]
    elif method == "luma":
        w = x.new_tensor((0.299, 0.587, 0.114)).view(1, 3, 1, 1)
        gray = (x * w).sum(dim=1, keepdim=True)
    else:
        raise ValueError(f"unknown gray method {method!r}: use 'lab' or 'luma'")
    if keep_channels:
        gray = gray.expand(-1, 3, -1, -1).contiguous()
    return gray[0] if single else gray


def gray_to_rgb(gray: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) gray -> (B, 3, H, W) with three equal channels."""
    if gray.dim() not in (3, 4) or gray.shape[-3] != 1:
        raise ValueError(f"gray must have shape (B, 1, H, W) or (1, H, W), got {tuple(gray.shape)}")
    return gray.expand(*gray.shape[:-3], 3, *gray.shape[-2:]).contiguous()
