"""Lesson 13's exercise: Lai et al.'s (2018) warping error with its occlusion mask.

The student writes ``warping_error(frames, flows, masks) -> E_warp``::

    E_warp = 1/(T - 1) sum_{t=2..T} [ sum_p M_t(p) |O_t(p) - warp(O_{t-1}, F_{t,t-1})(p)| / sum_p M_t(p) ]

frames O_1..O_T ((H, W, 3) float arrays in [0, 1]), flows ``flows[t - 1] = F_{t,t-1}`` and
masks ``masks[t - 1] = M_t`` ((H, W) bool, True where the pixel is visible in frame t - 1);
the absolute difference is averaged over the three channels. The warping itself is given
(``lessons_lib.video.flow.warp``); the package's ``warping_error`` may not be called.
Checked on clips the lesson never shows, whose masks differ in size from frame to frame (so
that pooling all pixels of all frames gives another number than the per-frame mean), against
six common mistakes, each named.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ..video.flow import warp, warping_error
from ._core import Case, Mistake, Result, check_function

__all__ = ["check_warping_error"]


def _clip(seed: int, t: int, h: int, w: int, shift: tuple[float, float]):
    """A random textured clip moved by a constant flow, with masks of varying size."""
    import cv2  # local, as in lessons_lib.video.flow: OpenCV is slow to import and only this helper needs it

    rng = np.random.default_rng(seed)
    base = rng.random((h + 8, w + 8, 3)).astype(np.float32)
    frames = []
    for k in range(t):
        dx, dy = shift[0] * k, shift[1] * k
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        frames.append(cv2.warpAffine(base, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_REFLECT))
    # the frames also flicker: a per-frame colour offset (what the warping error measures)
    frames = [np.clip(f + rng.normal(0, 0.05, 3).astype(np.float32), 0, 1) for f in frames]
    flows = [np.broadcast_to(np.float32([-shift[0], -shift[1]]), (h, w, 2)).copy() for _ in range(t - 1)]
    masks = []
    for k in range(t - 1):
        m = np.ones((h, w), bool)
        cut = 2 + 3 * k                                  # a growing occluded band: masks differ in size
        m[:, w - cut:] = False
        m[rng.random((h, w)) < 0.1] = False
        masks.append(m)
    return frames, flows, masks


def _cases() -> list[Case]:
    return [Case("3 frames of 20 x 24, flow (1.5, 0)", _clip(13, 3, 20, 24, (1.5, 0.0))),
            Case("5 frames of 16 x 30, flow (0.7, -1.2)", _clip(31, 5, 16, 30, (0.7, -1.2)))]


def _ref(frames, flows, masks) -> torch.Tensor:
    return torch.tensor(warping_error(frames, flows, masks)["e_warp"], dtype=torch.float64)


def _per_frame(frames, flows, masks, diff_fn, reduce_fn) -> torch.Tensor:
    vals = []
    for t in range(1, len(frames)):
        d = diff_fn(frames[t], frames[t - 1], flows[t - 1])
        vals.append(reduce_fn(d, masks[t - 1]))
    return torch.tensor(float(np.mean(vals)), dtype=torch.float64)


def _absdiff(cur, prev, f):
    return np.abs(cur - warp(prev, f)).mean(-1)


_MISTAKES = [
    Mistake("that is the mean over ALL pixels: occluded pixels (M_t = 0) have no match in frame t - 1 and must "
            "be left out: average over the pixels where the mask is True only.",
            lambda fr, fl, ms: _per_frame(fr, fl, ms, _absdiff, lambda d, m: d.mean())),
    Mistake("that is the mean over the OCCLUDED pixels: the mask is True where the pixel is visible, and those "
            "are the pixels to average.",
            lambda fr, fl, ms: _per_frame(fr, fl, ms, _absdiff, lambda d, m: d[~m].mean())),
    Mistake("you pooled the pixels of all frames into one mean; Lai et al. average each frame over its own mask "
            "first, then average the T - 1 frame values (frames with small masks weigh as much as the others).",
            lambda fr, fl, ms: torch.tensor(float(sum(_absdiff(fr[t], fr[t - 1], fl[t - 1])[ms[t - 1]].sum()
                                                      for t in range(1, len(fr))) /
                                                  sum(m.sum() for m in ms)), dtype=torch.float64)),
    Mistake("you warped the wrong frame: the flow F_{t,t-1} lives on frame t's grid and brings frame t - 1 into "
            "frame t, so compare O_t with warp(O_{t-1}, F_{t,t-1}).",
            lambda fr, fl, ms: _per_frame(fr, fl, ms, lambda c, p, f: np.abs(p - warp(c, f)).mean(-1),
                                          lambda d, m: d[m].mean())),
    Mistake("that is a squared error; E_warp is the mean ABSOLUTE difference (an L1 distance).",
            lambda fr, fl, ms: _per_frame(fr, fl, ms, lambda c, p, f: ((c - warp(p, f)) ** 2).mean(-1),
                                          lambda d, m: d[m].mean())),
    Mistake("you summed the three channels; average them (E_warp is in the frames' units: 0.01 = 1 % of the range).",
            lambda fr, fl, ms: _per_frame(fr, fl, ms, lambda c, p, f: np.abs(c - warp(p, f)).sum(-1),
                                          lambda d, m: d[m].mean())),
    Mistake("you compared each frame with the previous one without warping it: bring O_{t-1} into frame t first, "
            "warp(O_{t-1}, F_{t,t-1}), or the camera's motion counts as flicker.",
            lambda fr, fl, ms: _per_frame(fr, fl, ms, lambda c, p, f: np.abs(c - p).mean(-1),
                                          lambda d, m: d[m].mean())),
]


def _number(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A float, a numpy scalar or a 0-d array/tensor -> a float64 0-d tensor."""
    if not callable(fn):
        return fn

    def wrapped(*args: Any) -> Any:
        out = fn(*args)
        if isinstance(out, (float, int, np.floating, np.integer)) or (isinstance(out, np.ndarray) and out.ndim == 0):
            return torch.tensor(float(out), dtype=torch.float64)
        return out

    wrapped.__name__ = getattr(fn, "__name__", "fn")
    return wrapped


def check_warping_error(fn: Callable[..., Any]) -> Result:
    """Lesson 13: ``fn(frames, flows, masks) -> E_warp`` (module docstring), a number."""
    return check_function(
        "the warping error with its occlusion mask (Lai et al. 2018)", _number(fn), _ref, _cases(),
        mistakes=_MISTAKES, output_names=("E_warp",), atol=1e-5, rtol=1e-4,
        reference_name="lessons_lib.video.flow.warping_error", forbid=[warping_error])
