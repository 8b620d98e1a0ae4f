"""Optical flow, warping, the forward-backward occlusion check and the warping error.

Conventions (every function here uses them)
-------------------------------------------
A flow ``F_ab`` is an (H, W, 2) float32 array of (dx, dy) in pixels, defined on frame a:
pixel p = (x, y) of frame a shows the point that frame b shows at ``p + F_ab(p)``.
Brightness constancy (Horn & Schunck 1981) is the assumption every method below starts from::

    I_a(p) = I_b(p + F_ab(p))      linearised: I_x u + I_y v + I_t = 0

one equation for two unknowns (u, v) per pixel (the aperture problem), so a method adds a
prior: Farneback (2003) fits a quadratic polynomial to each neighbourhood; DIS (Kroeger
et al. 2016, "Fast Optical Flow using Dense Inverse Search") matches patches coarse to fine
by inverse-compositional search and densifies them with a variational step. Both run on a
CPU in milliseconds at a few hundred pixels (OpenCV's ``DISOpticalFlow``,
``calcOpticalFlowFarneback``).

**Warping** b into a's frame is ``warp(b, F_ab)(p) = b(p + F_ab(p))`` (bilinear; a pixel whose
match falls outside b is marked invalid).

**Forward-backward check** (Sundaram, Brox & Keutzer 2010, as used by Ruder et al. 2016 and
Lai et al. 2018): follow F_ab to b and F_ba back; where p is visible in both frames the two
cancel. p is taken as *occluded* (or the flow as wrong) when::

    |F_ab(p) + F_ba(p + F_ab(p))|^2 > 0.01 (|F_ab(p)|^2 + |F_ba(p + F_ab(p))|^2) + 0.5

**Warping error** (Lai et al. 2018, eq. 9), with O_t the output frames in [0, 1], flows
from each frame t to t - 1 and M_t the non-occluded mask::

    E_warp = 1/(T - 1) sum_{t=2..T} [ sum_p M_t(p) ||O_t(p) - warp(O_{t-1}, F_{t,t-1})(p)||_1 / sum_p M_t(p) ]

(the absolute difference is averaged over the channels, so that E_warp is in the frames'
units: 0.01 = 1 % of the range).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import LessonsError

__all__ = ["FLOW_METHODS", "optical_flow", "warp", "fb_error", "fb_mask", "track_points", "warping_error",
           "flow_to_rgb", "to_gray8"]

FLOW_METHODS = ("dis", "farneback")
# Sundaram et al.'s forward-backward tolerance: relative (0.01) and absolute (0.5 px^2)
FB_REL = 0.01
FB_ABS = 0.5


def _cv2():
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - a dependency of the package
        raise LessonsError("video needs OpenCV: pip install opencv-python-headless") from e
    return cv2


_DIS: dict[int, object] = {}


def to_gray8(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB (or (H, W) already) -> (H, W) uint8 luma, what the flow reads."""
    if frame.ndim == 2:
        return np.ascontiguousarray(frame, dtype=np.uint8)
    return _cv2().cvtColor(np.ascontiguousarray(frame), _cv2().COLOR_RGB2GRAY)


def optical_flow(a: np.ndarray, b: np.ndarray, method: str = "dis") -> np.ndarray:
    """The flow ``F_ab`` (H, W, 2) float32 from frame a to frame b (module docstring):
    ``a(p) ~ b(p + F_ab(p))``. ``a``, ``b``: (H, W) uint8 gray or (H, W, 3) uint8 RGB.

    ``method``: ``"dis"`` (OpenCV's DIS, preset MEDIUM: ~1-3 ms at 256 x 144) or
    ``"farneback"`` (pyramid of 3 levels, window 15, 3 iterations: OpenCV's example values)."""
    cv2 = _cv2()
    ga, gb = to_gray8(a), to_gray8(b)
    if ga.shape != gb.shape:
        raise ValueError(f"the two frames differ in size: {ga.shape} and {gb.shape}")
    if method == "dis":
        # one DIS object per thread-free process is fine: OpenCV's calc is re-entrant per object,
        # and the pipelines call it from one thread; keyed by preset only
        dis = _DIS.get(0)
        if dis is None:
            dis = _DIS[0] = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(ga, gb, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    raise LessonsError(f"unknown optical flow method {method!r}; use one of {', '.join(FLOW_METHODS)}")


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def warp(img: np.ndarray, flow: np.ndarray, *, return_valid: bool = False):
    """``warp(b, F_ab)(p) = b(p + F_ab(p))``: frame b brought into a's frame (bilinear).

    ``img``: (H, W) or (H, W, C) float32 or uint8; ``flow``: (H, W, 2) on a's grid (the same
    H x W). With ``return_valid`` also the mask (H, W) bool of pixels whose match lies inside b."""
    cv2 = _cv2()
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    mx = xs + flow[..., 0]
    my = ys + flow[..., 1]
    out = cv2.remap(img, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if return_valid:
        valid = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        return out, valid
    return out


def fb_error(flow_ab: np.ndarray, flow_ba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The forward-backward residual on a's grid: ``d(p) = F_ab(p) + F_ba(p + F_ab(p))``.

    Returns ``(|d|^2, |F_ab|^2 + |F_ba(p + F_ab)|^2)``, both (H, W) float32, what
    :func:`fb_mask` compares (module docstring)."""
    back = warp(flow_ba, flow_ab)                                       # F_ba at p + F_ab(p)
    d = flow_ab + back
    return (d * d).sum(-1), (flow_ab * flow_ab).sum(-1) + (back * back).sum(-1)


def fb_mask(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """Sundaram et al.'s check: True where p of frame a is visible in b and the two flows
    agree (not occluded, flow trusted); False where ``p + F_ab(p)`` leaves the frame."""
    err2, mag2 = fb_error(flow_ab, flow_ba)
    h, w = flow_ab.shape[:2]
    xs, ys = _grid(h, w)
    mx, my = xs + flow_ab[..., 0], ys + flow_ab[..., 1]
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    return (err2 <= FB_REL * mag2 + FB_ABS) & inside


def warping_error(frames: Sequence[np.ndarray], flows: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> dict:
    """Lai et al.'s E_warp of a clip (module docstring).

    Args:
        frames: T frames O_1..O_T, (H, W, C) or (H, W), uint8 (read as /255) or float in [0, 1].
        flows: T - 1 flows, ``flows[t - 1] = F_{t, t-1}`` on frame t's grid.
        masks: T - 1 (H, W) bool masks M_t (True: not occluded).
    Returns ``{"e_warp": mean over t, "per_frame": [T - 1 values]}``; a frame whose mask is
    empty contributes nothing (it is left out of the mean).
    """
    if len(frames) < 2:
        raise ValueError("the warping error needs at least two frames")
    if not len(flows) == len(masks) == len(frames) - 1:
        raise ValueError(f"need T - 1 = {len(frames) - 1} flows and masks, got {len(flows)} and {len(masks)}")
    per: list[float] = []
    for t in range(1, len(frames)):
        cur, prev = _unit(frames[t]), _unit(frames[t - 1])
        m = np.asarray(masks[t - 1], dtype=bool)
        if not m.any():
            per.append(float("nan"))
            continue
        diff = np.abs(cur - warp(prev, np.asarray(flows[t - 1], np.float32)))
        if diff.ndim == 3:
            diff = diff.mean(-1)
        per.append(float(diff[m].mean()))
    vals = [v for v in per if v == v]
    return {"e_warp": float(np.mean(vals)) if vals else float("nan"), "per_frame": per}


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


def flow_to_rgb(flow: np.ndarray, max_motion: float | None = None) -> np.ndarray:
    """A flow field as colours (the usual picture: hue = direction, saturation = speed,
    normalised by ``max_motion`` px or the field's largest), (H, W, 3) uint8."""
    cv2 = _cv2()
    mag, ang = cv2.cartToPolar(flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32))
    top = float(max_motion) if max_motion else float(mag.max()) or 1.0
    hsv = np.zeros(flow.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = (ang * 90 / np.pi).astype(np.uint8)          # OpenCV's hue is 0..179
    hsv[..., 1] = np.clip(mag / top * 255, 0, 255).astype(np.uint8)
    hsv[..., 2] = 255
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def track_points(points: np.ndarray, flow_ab: np.ndarray, flow_ba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Follow points of frame a into frame b: ``q = p + F_ab(p)`` (F sampled bilinearly).

    ``points``: (N, 2) float (x, y) on a's grid. Returns ``(q, ok)``: the positions in b and
    (N,) bool, True where q lies inside b and the forward-backward check holds at p (a point
    that is occluded in b, or whose flow the two directions disagree on, is lost)."""
    cv2 = _cv2()
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    if len(pts) == 0:
        return pts, np.zeros(0, bool)
    h, w = flow_ab.shape[:2]
    mx, my = pts[:, :1].reshape(1, -1).copy(), pts[:, 1:].reshape(1, -1).copy()
    fwd = cv2.remap(flow_ab, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]   # (N, 2)
    q = pts + fwd
    back = cv2.remap(flow_ba, q[:, :1].reshape(1, -1).copy(), q[:, 1:].reshape(1, -1).copy(),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
    d = fwd + back
    ok = ((d * d).sum(-1) <= FB_REL * ((fwd * fwd).sum(-1) + (back * back).sum(-1)) + FB_ABS)
    ok &= (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)
    return q, ok
