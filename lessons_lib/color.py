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
matrices, and for 8-bit input replaces the sRGB curve by a 256-entry lookup table
(``rgb_uint8_to_lab``): see ``benchmarks/bench_color.py``.
"""
from __future__ import annotations

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
    "split_lab",
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
# A tiny floor keeps pow() away from 0 and negatives, so gradients stay finite in the
# branch torch.where does not select (where() still back-propagates through both).
_TINY = 1e-10

_matrix_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}
_lut_cache: dict[tuple, torch.Tensor] = {}


def _matrices(device: torch.device, dtype: torch.dtype):
    """(xyz_from_rgb / white, its inverse, lab_from_f, f_from_lab) on a device, cached."""
    key = (str(device), dtype)
    if key not in _matrix_cache:
        m = torch.tensor(_XYZ_FROM_RGB, dtype=torch.float64)
        white = torch.tensor(_WHITE_D65, dtype=torch.float64)
        m_white = m / white[:, None]          # rows divided by the white point: XYZ/Xn directly
        # [L a b] = lab_from_f @ [fx fy fz] + [-16 0 0]
        lab_from_f = torch.tensor(
            ((0.0, 116.0, 0.0), (500.0, -500.0, 0.0), (0.0, 200.0, -200.0)), dtype=torch.float64
        )
        _matrix_cache[key] = (
            m_white.to(device, dtype),
            torch.linalg.inv(m_white).to(device, dtype),
            lab_from_f.to(device, dtype),
            torch.linalg.inv(lab_from_f).to(device, dtype),
        )
    return _matrix_cache[key]


def _as_batch(x: torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    """Accept (3, H, W) or (B, 3, H, W); return the batch and whether it was unbatched."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
        single = True
    elif x.dim() == 4:
        single = False
    else:
        raise ValueError(
            f"{name} must have shape (B, 3, H, W) or (3, H, W), got {tuple(x.shape)}"
        )
    if x.shape[1] != 3:
        raise ValueError(
            f"{name} must have 3 channels in dimension 1, got shape {tuple(x.shape)} "
            "(for channels-last numpy images use tensor.permute(2, 0, 1))"
        )
    return x, single


def _apply3(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 matrix to the channel dimension of (B, 3, H, W)."""
    b, _, h, w = x.shape
    return torch.matmul(m, x.reshape(b, 3, h * w)).reshape(b, 3, h, w)


def _float_dtype(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() and x.dtype != torch.float16 and x.dtype != torch.bfloat16 else torch.float32


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB companding inverse (IEC 61966-2-1): values in [0, 1] -> linear light."""
    low = rgb / 12.92
    high = ((rgb.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4
    return torch.where(rgb <= 0.04045, low, high)


def linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    """sRGB companding: linear light -> sRGB values (not clipped)."""
    low = lin * 12.92
    high = 1.055 * lin.clamp_min(0.0031308) ** (1.0 / 2.4) - 0.055
    return torch.where(lin <= 0.0031308, low, high)


def _f(t: torch.Tensor) -> torch.Tensor:
    # CIE f(t): cube root above (6/29)^3, a line below (continuous at the switch).
    return torch.where(t > _EPS_LAB, t.clamp_min(_TINY) ** (1.0 / 3.0), _KAPPA * t + _F_OFFSET)


def _f_inv(f: torch.Tensor) -> torch.Tensor:
    return torch.where(f > _F_INV_THRESHOLD, f ** 3, (f - _F_OFFSET) / _KAPPA)


def _linear_to_lab(lin: torch.Tensor) -> torch.Tensor:
    m_white, _, lab_from_f, _ = _matrices(lin.device, lin.dtype)
    f = _f(_apply3(m_white, lin))
    lab = _apply3(lab_from_f, f)
    # L gets the -16 offset; a and b have none.
    return lab - lab.new_tensor((16.0, 0.0, 0.0)).view(1, 3, 1, 1)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> CIE Lab (D65): L in [0, 100], a and b unscaled.

    Args:
        rgb: (B, 3, H, W) or (3, H, W) float tensor in [0, 1] (uint8 is accepted and
            divided by 255; for 8-bit data :func:`rgb_uint8_to_lab` is faster).
    Returns:
        Lab tensor of the same shape, float32 (float64 if the input was float64).
    """
    if isinstance(rgb, torch.Tensor) and rgb.dtype == torch.uint8:
        return rgb_uint8_to_lab(rgb)
    x, single = _as_batch(rgb, "rgb")
    x = x.to(_float_dtype(x))
    lab = _linear_to_lab(srgb_to_linear(x))
    return lab[0] if single else lab


def _srgb_lut(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = (str(device), dtype)
    if key not in _lut_cache:
        levels = torch.arange(256, dtype=torch.float64) / 255.0
        _lut_cache[key] = srgb_to_linear(levels).to(device, dtype)
    return _lut_cache[key]


def rgb_uint8_to_lab(rgb: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """8-bit sRGB (B, 3, H, W) uint8 -> Lab, with a 256-entry lookup table for companding.

    The lookup replaces the pow(2.4) of every pixel by one gather, the main saving over
    a float pipeline; the rest is two 3x3 matrix products and the cube root.
    """
    x, single = _as_batch(rgb, "rgb")
    if x.dtype != torch.uint8:
        raise TypeError(f"rgb_uint8_to_lab expects a uint8 tensor, got {x.dtype}")
    lut = _srgb_lut(x.device, dtype)
    lin = lut[x.long()]  # (B, 3, H, W) in linear light
    lab = _linear_to_lab(lin)
    return lab[0] if single else lab


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """CIE Lab (D65) -> sRGB in [0, 1].

    Out-of-gamut colours (any a, b a network may predict) are handled without NaN:
    a negative Z (too much yellow for the given L) is set to 0 as scikit-image does, and
    the result is clipped to [0, 1] unless ``clip=False``.
    """
    x, single = _as_batch(lab, "lab")
    x = x.to(_float_dtype(x))
    _, rgb_from_xyzw, _, f_from_lab = _matrices(x.device, x.dtype)
    shifted = x + x.new_tensor((16.0, 0.0, 0.0)).view(1, 3, 1, 1)
    f = _apply3(f_from_lab, shifted)
    # fz = fy - b/200 goes negative for too much yellow at a given L: it is set to 0, as
    # scikit-image does, and the final clip brings the colour back into the gamut.
    f = torch.cat([f[:, :2], f[:, 2:].clamp_min(0.0)], dim=1)
    xyz = _f_inv(f)
    lin = _apply3(rgb_from_xyzw, xyz)
    rgb = linear_to_srgb(lin)
    if clip:
        rgb = rgb.clamp(0.0, 1.0)
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


def split_lab(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) Lab -> (L (B, 1, H, W), ab (B, 2, H, W)), no scaling."""
    x, single = _as_batch(lab, "lab")
    return (x[0, :1], x[0, 1:]) if single else (x[:, :1], x[:, 1:])


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
