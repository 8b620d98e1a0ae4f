"""Generated colour images for fast tests and smoke-mode lessons.

A colorizer can only learn if colour is *predictable from the gray image*. Random noise
would teach nothing, and flat colour patches would hide every bug. Each image here is a
small landscape whose colours follow rules a network can discover from L alone:

* a sky at the top, blue, darker blue high up and pale near the horizon (colour follows
  position and brightness), sometimes with soft white clouds;
* a ground below a tilted horizon, of one of three kinds told apart by *texture*: grass
  (green, fine noise), sand (tan, smooth with diagonal ripples), fields (stripes
  alternating between a dark green and a bright yellow: colour follows luminance);
* one to three objects whose colour family is fixed by their *shape*: discs are warm
  (red -> yellow as they get brighter), rectangles are cool (navy -> cyan), triangles are
  purple -> pink; each is shaded, so brightness varies inside the object.

Every image is a pure function of ``(seed, index)`` (NumPy's ``default_rng([seed, i])``):
``synthetic_images(10, seed=0)[:4]`` equals ``synthetic_images(4, seed=0)``, and a data
source can generate image ``i`` on demand without making the others.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["synthetic_images", "synthetic_image"]

# Colour anchors (sRGB in [0, 1]) between which each element interpolates.
_SKY_HIGH = np.array([0.12, 0.30, 0.78])
_SKY_LOW = np.array([0.72, 0.84, 0.96])
_GRASS = np.array([0.20, 0.50, 0.15])
_SAND = np.array([0.85, 0.72, 0.48])
_FIELD_DARK = np.array([0.12, 0.36, 0.10])
_FIELD_BRIGHT = np.array([0.95, 0.85, 0.30])
_WARM = (np.array([0.75, 0.08, 0.06]), np.array([1.00, 0.88, 0.25]))   # red -> yellow
_COOL = (np.array([0.08, 0.12, 0.50]), np.array([0.35, 0.85, 0.95]))   # navy -> cyan
_PURPLE = (np.array([0.38, 0.08, 0.48]), np.array([0.98, 0.50, 0.82]))  # purple -> pink


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise: a ``cells x cells`` random grid upsampled bilinearly to ``size x size``."""
    grid = rng.random((cells + 1, cells + 1))
    pos = np.linspace(0.0, cells, size)
    i0 = np.minimum(pos.astype(int), cells - 1)
    f = pos - i0
    # Interpolate along x then y (separable bilinear).
    rows = grid[:, i0] * (1 - f) + grid[:, i0 + 1] * f            # (cells+1, size)
    return rows[i0, :] * (1 - f)[:, None] + rows[i0 + 1, :] * f[:, None]  # (size, size)


def _mix(pair: tuple[np.ndarray, np.ndarray], t: np.ndarray | float) -> np.ndarray:
    t = np.asarray(t)[..., None]
    return pair[0] * (1 - t) + pair[1] * t


def synthetic_image(index: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Image number ``index`` of the series ``seed``: uint8 ``(3, size, size)``."""
    if size < 8:
        raise ValueError(f"synthetic images need size >= 8, got {size}")
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, index & 0xFFFFFFFFFFFFFFFF])
    v, u = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")  # row, column

    # --- sky above a tilted horizon
    horizon = rng.uniform(0.3, 0.7) + rng.uniform(-0.15, 0.15) * (u - 0.5)  # (S, S)
    sky_t = np.clip(v / np.maximum(horizon, 1e-3), 0, 1)
    img = _mix((_SKY_HIGH, _SKY_LOW), sky_t)                                  # (S, S, 3)
    if rng.random() < 0.4:  # soft clouds: thresholded value noise blended towards white
        clouds = np.clip((_smooth_noise(rng, size, 4) - 0.55) * 3.0, 0, 1)
        img = img * (1 - clouds[..., None]) + 0.97 * clouds[..., None]

    # --- ground: kind told apart by texture
    ground = v >= horizon
    depth = np.clip((v - horizon) / np.maximum(1 - horizon, 1e-3), 0, 1)   # 0 at horizon, 1 at bottom
    kind = rng.integers(3)
    if kind == 0:    # grass: green with fine noise, darker towards the viewer
        tex = rng.random((size, size)) * 0.5 + _smooth_noise(rng, size, 6) * 0.5
        gcol = _GRASS[None, None] * (0.75 + 0.5 * tex[..., None]) * (1.1 - 0.35 * depth[..., None])
    elif kind == 1:  # sand: smooth, with diagonal ripples
        angle = rng.uniform(0, np.pi)
        ripple = 0.5 + 0.5 * np.sin((u * np.cos(angle) + v * np.sin(angle)) * rng.uniform(20, 40))
        gcol = _SAND[None, None] * (0.85 + 0.15 * ripple[..., None]) * (1.05 - 0.2 * depth[..., None])
    else:            # fields: stripes, dark green <-> bright yellow (colour follows luminance)
        freq = rng.uniform(6, 14)
        stripe = (np.sin((u + 0.3 * v) * freq * np.pi) > 0).astype(float)
        gcol = _mix((_FIELD_DARK, _FIELD_BRIGHT), stripe * rng.uniform(0.6, 1.0))
    img = np.where(ground[..., None], gcol, img)

    # --- one to three shaded objects, colour family fixed by shape
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0.15, 0.85, size=2)
        r = rng.uniform(0.08, 0.2)
        brightness = rng.uniform(0, 1)
        shape = rng.integers(3)
        if shape == 0:    # disc, radial shading (bright centre)
            d = np.sqrt((u - cx) ** 2 + (v - cy) ** 2) / r
            mask = d <= 1
            shade = 1.0 - 0.35 * d
            colour = _mix(_WARM, brightness)
        elif shape == 1:  # rectangle, vertical shading (lit from above)
            half_w, half_h = r, r * rng.uniform(0.5, 1.5)
            mask = (np.abs(u - cx) <= half_w) & (np.abs(v - cy) <= half_h)
            shade = 1.0 - 0.3 * np.clip((v - cy + half_h) / (2 * half_h), 0, 1)
            colour = _mix(_COOL, brightness)
        else:             # upward triangle, horizontal shading
            top, bottom = cy - r, cy + r
            t = np.clip((v - top) / (2 * r), 0, 1)
            mask = (v >= top) & (v <= bottom) & (np.abs(u - cx) <= t * r)
            shade = 1.0 - 0.3 * np.clip((u - cx + r) / (2 * r), 0, 1)
            colour = _mix(_PURPLE, brightness)
        obj = colour[None, None] * shade[..., None]
        img = np.where(mask[..., None], obj, img)

    # A little sensor noise so that no region is perfectly flat.
    img = img + rng.normal(0.0, 0.012, size=img.shape)
    out = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)  # (S, S, 3)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))  # (3, S, S)


def synthetic_images(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """``n`` generated landscapes as a uint8 tensor ``(n, 3, size, size)``.

    Deterministic: the same ``(n, size, seed)`` always gives the same pixels, and image
    ``i`` depends only on ``(seed, i, size)``. See the module docstring for what they show.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if size < 8:
        raise ValueError(f"synthetic images need size >= 8, got {size}")
    if n == 0:
        return torch.zeros(0, 3, size, size, dtype=torch.uint8)
    return torch.stack([synthetic_image(i, size, seed) for i in range(n)])
