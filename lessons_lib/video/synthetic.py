"""Clips with known motion, true flow and true colours, made from a still photo.

A real clip has no ground-truth flow and, once colorized, no true colours to compare with.
These clips have both: every frame is the photo seen by a camera whose motion is known
(a pan, a zoom), optionally with an object (a disc cut from a second photo) moving over
it. For frame t the camera maps frame pixel p to photo coordinates::

    A_t(p) = z_t (p - c_frame) + c_photo + d_t          (zoom z_t, shift d_t)

so the scene point at p in frame t appears in frame t - 1 at ``A_{t-1}^{-1}(A_t(p))``: the true
flow ``F_{t,t-1}(p) = A_{t-1}^{-1}(A_t(p)) - p``. A pixel is visible in t - 1 when that point
lies inside frame t - 1 and (with an object) on the same layer: the true occlusion mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import LessonsError

__all__ = ["MOTIONS", "SyntheticClip", "make_clip", "save_clip"]

MOTIONS = ("pan", "zoom", "object")


@dataclass
class SyntheticClip:
    """``frames`` (T of (H, W, 3) uint8, the true colours), ``flows`` (T - 1 true
    F_{t,t-1}, (H, W, 2) float32), ``masks`` (T - 1 (H, W) bool: visible in t - 1)."""

    name: str
    frames: list[np.ndarray]
    flows: list[np.ndarray]
    masks: list[np.ndarray]
    fps: float = 24.0


def _render(photo: np.ndarray, z: float, d: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    w, h = size
    ph, pw = photo.shape[:2]
    cf = np.array([(w - 1) / 2, (h - 1) / 2])
    cp = np.array([(pw - 1) / 2, (ph - 1) / 2]) + d
    # dst -> src: s = z p + (cp - z cf)
    m = np.array([[z, 0, cp[0] - z * cf[0]], [0, z, cp[1] - z * cf[1]]], np.float64)
    return cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def _camera_flow(z0: float, d0: np.ndarray, z1: float, d1: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """F_{t,t-1} for camera (z1, d1) at t and (z0, d0) at t - 1: A_0^{-1}(A_1(p)) - p."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    cf = np.array([(w - 1) / 2, (h - 1) / 2])
    qx = (z1 * (xs - cf[0]) + d1[0] - d0[0]) / z0 + cf[0]
    qy = (z1 * (ys - cf[1]) + d1[1] - d0[1]) / z0 + cf[1]
    return np.stack([qx - xs, qy - ys], -1).astype(np.float32)


def _inside(flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    qx, qy = xs + flow[..., 0], ys + flow[..., 1]
    return (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)


def make_clip(photo: np.ndarray, motion: str, *, frames: int = 24, size: tuple[int, int] = (320, 240),
              speed: float = 2.0, obj: np.ndarray | None = None, fps: float = 24.0) -> SyntheticClip:
    """A clip of ``frames`` frames of ``size = (W, H)`` from ``photo`` ((h, w, 3) uint8, at
    least as large as the frame for a pan).

    Args:
        motion: ``"pan"`` (the camera moves ``speed`` px per frame to the right and
            ``speed / 3`` down), ``"zoom"`` (it zooms in by ``speed`` / 200 per frame), or
            ``"object"`` (a slow pan, ``speed / 4`` px per frame, and a disc of ``obj`` (another
            photo; default: the photo's colours inverted) crossing the frame at ``speed`` x 1.5
            px per frame).
    """
    import cv2

    if motion not in MOTIONS:
        raise LessonsError(f"unknown motion {motion!r}; use one of {', '.join(MOTIONS)}")
    if frames < 2:
        raise LessonsError("a clip needs at least 2 frames")
    w, h = size
    photo = np.ascontiguousarray(photo[..., :3], dtype=np.uint8)
    ph, pw = photo.shape[:2]
    # the scale at which the frame fits into the photo with a margin for the motion
    z_fit = min((pw - 1) / (w + frames * speed * 1.1), (ph - 1) / (h + frames * speed * 0.4), 1.0)
    zs, ds = [], []
    for t in range(frames):
        if motion == "pan":
            z, d = z_fit, np.array([speed * z_fit * (t - frames / 2), speed / 3 * z_fit * (t - frames / 2)])
        elif motion == "zoom":
            z, d = z_fit * (1 - speed / 200) ** t, np.zeros(2)
        else:
            z, d = z_fit, np.array([speed / 4 * z_fit * (t - frames / 2), 0.0])
        zs.append(z)
        ds.append(d)
    out = [_render(photo, z, d, size) for z, d in zip(zs, ds)]
    flows = [_camera_flow(zs[t - 1], ds[t - 1], zs[t], ds[t], size) for t in range(1, frames)]
    masks = [_inside(f) for f in flows]
    if motion == "object":
        src = 255 - photo if obj is None else np.ascontiguousarray(obj[..., :3], dtype=np.uint8)
        r = max(8, min(w, h) // 5)
        disc = cv2.resize(src, (2 * r + 1, 2 * r + 1), interpolation=cv2.INTER_AREA)
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        alpha = ((xx * xx + yy * yy) <= r * r).astype(np.float32)
        u = np.array([speed * 1.5, speed * 0.25])
        start = np.array([r + 2.0, h / 2 - r - frames * u[1] / 2])
        layers = []
        for t in range(frames):
            x0, y0 = start + u * t
            m = np.array([[1, 0, x0], [0, 1, y0]], np.float64)
            img = cv2.warpAffine(disc, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
            a = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
            out[t] = (img * a + out[t] * (1 - a) + 0.5).astype(np.uint8)
            layers.append(a[..., 0] > 0.5)
        for t in range(1, frames):
            on = layers[t]
            flows[t - 1][on] = -u.astype(np.float32)
            f = flows[t - 1]
            ys, xs = np.mgrid[0:h, 0:w]
            qx = np.clip(np.rint(xs + f[..., 0]), 0, w - 1).astype(int)
            qy = np.clip(np.rint(ys + f[..., 1]), 0, h - 1).astype(int)
            same = layers[t - 1][qy, qx] == on
            edge = cv2.dilate(on.astype(np.uint8), np.ones((5, 5), np.uint8)) != \
                cv2.erode(on.astype(np.uint8), np.ones((5, 5), np.uint8))
            masks[t - 1] = _inside(f) & same & ~edge     # the disc's soft rim belongs to neither layer
    return SyntheticClip(name=motion, frames=out, flows=flows, masks=masks, fps=fps)


def save_clip(path, frames, fps: float = 24.0, *, tone_hz: float | None = None, codec: str | None = None,
              pix_fmt: str | None = None, pts: list[int] | None = None, time_base=None) -> None:
    """Write RGB frames (and, with ``tone_hz``, a sine tone of the clip's length as AAC /
    Opus) to ``path`` with PyAV: how the tests, the benchmark and the lesson make clips.

    ``codec`` / ``pix_fmt`` default to H.264 yuv420p (``ffv1`` + ``yuv420p10le`` makes a
    10-bit clip); ``pts`` with ``time_base`` gives each frame its own time (a variable rate)."""
    from fractions import Fraction
    from pathlib import Path

    import av

    ext = Path(path).suffix.lower()
    frames = list(frames)
    h, w = frames[0].shape[:2]
    codec = codec or {".webm": "libvpx-vp9", ".gif": "gif"}.get(ext, "libx264")
    rate = Fraction(fps).limit_denominator(1000)
    with av.open(str(path), "w") as o:
        v = o.add_stream(codec, rate=rate)
        v.width, v.height = w, h
        v.pix_fmt = pix_fmt or ("rgb8" if codec == "gif" else "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p")
        tb = Fraction(time_base).limit_denominator(1_000_000) if time_base is not None else 1 / rate
        a = None
        if tone_hz:
            a = o.add_stream("libopus" if ext == ".webm" else "aac", rate=48000 if ext == ".webm" else 16000)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[..., :3], dtype=np.uint8), format="rgb24")
            if v.pix_fmt != "rgb24":
                vf = vf.reformat(format=v.pix_fmt)
            vf.pts, vf.time_base = (pts[i] if pts is not None else i), tb
            for p in v.encode(vf):
                o.mux(p)
        for p in v.encode(None):
            o.mux(p)
        if a is not None:
            sr = a.codec_context.sample_rate
            end = (pts[-1] + 1) * tb if pts is not None else Fraction(len(frames)) / rate
            n = int(end * sr)
            wave = (0.2 * np.sin(2 * np.pi * tone_hz * np.arange(n) / sr)).astype(np.float32)[None]
            step = a.codec_context.frame_size or 1024
            for k in range(0, n, step):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, k:k + step]), format="fltp",
                                                layout="mono")
                af.sample_rate, af.pts = sr, k
                for p in a.encode(af):
                    o.mux(p)
            for p in a.encode(None):
                o.mux(p)
