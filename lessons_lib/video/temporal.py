"""Temporal consistency: each frame's own colours blended with the previous output, warped.

A colorizer run frame by frame flickers: a small change of the gray input (noise, a shift,
compression) moves its prediction, so the colour of a wall jumps between frames that show
the same wall (Lai et al. 2018 measure it as the warping error, :mod:`.flow`). The method
here is flow-guided propagation with a per-pixel confidence:

1. the flows between frame t and t - 1 in both directions (:func:`.flow.optical_flow`, on
   the gray frames at the working size: colour is low-frequency, and the model itself sees
   64 x 64 pixels);
2. the previous *output* chroma warped into frame t: ``W_t = warp(ab_out_{t-1}, F_{t,t-1})``;
3. a confidence per pixel, ``c = M_fb * exp(-(e_L / tau)^2)``: ``M_fb`` is the forward-backward
   check (0 where p is occluded in t - 1 or the flow is unreliable) and ``e_L = |g_t -
   warp(g_{t-1}, F_{t,t-1})|`` the warping error of the gray frame itself (the flow may pass
   the check and still land on another surface; tau is in 8-bit gray levels);
4. the blend ``ab_out_t = ab_own_t + s * c * (W_t - ab_own_t)``, s = :attr:`TemporalConfig.strength`.

Along a trajectory that stays visible, step 4 is an exponential moving average of the
frame's own predictions with weight ``s``: independent per-frame noise of variance sigma^2
keeps ``(1 - s) / (1 + s) sigma^2`` (0.08 sigma^2 at s = 0.85), while the mean colour is the
model's own (the PSNR and colourfulness stay those of frame-by-frame colorization). Where c
is 0 - an occlusion, a newly visible region, a **scene cut** - the frame keeps its own
colours. A cut is declared when less than :attr:`TemporalConfig.cut_share` of the frame is
trusted (mean c); then nothing is carried over at all.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import LessonsError
from .flow import FLOW_METHODS, fb_mask, optical_flow, warp

__all__ = ["TemporalConfig", "StepInfo", "confidence", "blend", "TemporalBlender"]


@dataclass(frozen=True)
class TemporalConfig:
    """The temporal method's settings (defaults measured by ``benchmarks/video.py``).

    Attributes:
        strength: s, the weight a fully trusted pixel gives the warped previous output
            (0 = frame by frame, 1 = copy the first frame's colours for ever).
        tau: tolerance of the gray warping error, in 8-bit levels (exp(-1) at e_L = tau).
        cut_share: below this mean confidence a frame is a scene cut (nothing carried over).
        work_side: the long side (px) at which flow and blend run (never above the frame's).
        flow: ``"dis"`` or ``"farneback"``.
    """

    strength: float = 0.85
    tau: float = 12.0
    cut_share: float = 0.25
    work_side: int = 256
    flow: str = "dis"

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.strength) <= 1.0:
            raise LessonsError(f"the temporal strength must be in 0..1 (0 = frame by frame), got {self.strength}")
        if not float(self.tau) > 0:
            raise LessonsError(f"tau must be > 0 gray levels, got {self.tau}")
        if not 0.0 <= float(self.cut_share) <= 1.0:
            raise LessonsError(f"cut_share must be in 0..1, got {self.cut_share}")
        if int(self.work_side) < 16:
            raise LessonsError(f"work_side must be at least 16 px, got {self.work_side}")
        if self.flow not in FLOW_METHODS:
            raise LessonsError(f"unknown flow {self.flow!r}; use one of {', '.join(FLOW_METHODS)}")


@dataclass
class StepInfo:
    """What one step of :class:`TemporalBlender` did: ``cut`` (nothing carried over),
    ``trusted`` (mean confidence), and the two flows (None on the first frame / a cut's
    flows are still given) for whoever tracks points (the hints)."""

    cut: bool
    trusted: float
    flow_back: np.ndarray | None = None     # F_{t, t-1}
    flow_fwd: np.ndarray | None = None      # F_{t-1, t}
    extra: dict = field(default_factory=dict)


def confidence(gray: np.ndarray, gray_prev: np.ndarray, flow_back: np.ndarray, flow_fwd: np.ndarray,
               tau: float = 12.0) -> np.ndarray:
    """c(p) in [0, 1] on frame t's grid: the forward-backward mask times ``exp(-(e_L/tau)^2)``
    with ``e_L = |g_t - warp(g_{t-1}, F_{t,t-1})|`` (module docstring, step 3).

    ``gray``, ``gray_prev``: (H, W) uint8; ``flow_back`` = F_{t,t-1}, ``flow_fwd`` = F_{t-1,t}."""
    m = fb_mask(flow_back, flow_fwd)
    e = np.abs(gray.astype(np.float32) - warp(gray_prev.astype(np.float32), flow_back))
    return m * np.exp(-(e / np.float32(tau)) ** 2)


def blend(own: np.ndarray, warped: np.ndarray, conf: np.ndarray, strength: float) -> np.ndarray:
    """``own + s * c * (warped - own)``: per pixel, between the frame's own chroma (c = 0) and
    the warped previous output (s * c = 1). ``own``, ``warped``: (H, W, 2); ``conf``: (H, W)."""
    k = (np.float32(strength) * conf.astype(np.float32))[..., None]
    return own + k * (warped - own)


class TemporalBlender:
    """The method of the module docstring, one frame at a time::

        blender = TemporalBlender(TemporalConfig())
        for gray, own_ab in frames:                  # (h, w) uint8, (h, w, 2) float32 Lab units
            ab, info = blender.step(gray, own_ab)
    """

    def __init__(self, config: TemporalConfig | None = None) -> None:
        self.config = config or TemporalConfig()
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (the next one keeps its own colours)."""
        self._gray: np.ndarray | None = None
        self._ab: np.ndarray | None = None

    def step(self, gray: np.ndarray, own_ab: np.ndarray) -> tuple[np.ndarray, StepInfo]:
        cfg = self.config
        own_ab = np.asarray(own_ab, np.float32)
        if self._gray is None or self._gray.shape != gray.shape:
            info = StepInfo(cut=self._gray is not None, trusted=0.0)
            out = own_ab
        else:
            fb = optical_flow(gray, self._gray, cfg.flow)           # F_{t, t-1}
            ff = optical_flow(self._gray, gray, cfg.flow)           # F_{t-1, t}
            c = confidence(gray, self._gray, fb, ff, cfg.tau)
            trusted = float(c.mean())
            cut = trusted < cfg.cut_share
            info = StepInfo(cut=cut, trusted=trusted, flow_back=fb, flow_fwd=ff)
            if cut or cfg.strength == 0.0:
                out = own_ab
            else:
                out = blend(own_ab, warp(self._ab, fb), c, cfg.strength)
        self._gray, self._ab = gray, out
        return out, info
