"""Colorize a clip: frames in, frames out, with the temporal method and carried hints.

:func:`colorize_frames` is the core (any iterable of RGB frames, e.g. a synthetic clip in
memory); :func:`colorize_clip` wraps it between a :class:`~.io.ClipReader` and an atomic
:class:`~.io.ClipWriter` (what ``lessons colorize IN.mp4 OUT.mp4`` and the demo's Video tab
call). Per frame:

1. the frame is shrunk to the working size (long side :attr:`TemporalConfig.work_side`,
   area filter) and to the model's S x S; its gray (luma) is what the flow reads, and the
   L* of the S x S frame is what the model reads (a colour frame is used as its gray);
2. the model predicts the frame's own ab at S x S (frames are batched, 8 at a time), which
   is upsampled to the working size;
3. the temporal blend (:class:`~.temporal.TemporalBlender`) mixes it with the previous
   output (``temporal=False``: skipped, the frame-by-frame baseline);
4. the ab at the working size is recombined with the frame's full-resolution L*
   (:func:`lessons_lib.color.gamut.recombine`), so the output keeps the input's lightness
   and sharpness exactly as a photo does.

Hints
-----
A hint is given on one frame (``X,Y,COLOUR@FRAME``; pixels of the full frame). It is
carried through the clip by the same flows: the point is tracked forward (``p + F_{t-1,t}(p)``)
and backward (``p + F_{t,t-1}(p)``) from its frame, each step kept only while the
forward-backward check holds at the point and it stays inside the frame; a scene cut ends
the track. On every frame the hint model gets the tracked hints at their tracked positions,
and the blend carries the colour they caused between them. With ``temporal=False`` a hint
acts on its own frame only.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .. import LessonsError
from ..data.hints import check_hint_count
from .flow import optical_flow, to_gray8, track_points
from .io import ClipReader, ClipWriter, check_video_paths
from .temporal import TemporalBlender, TemporalConfig

__all__ = ["BATCH", "FrameHint", "parse_frame_hint", "load_frame_hints", "work_size", "colorize_frames",
           "colorize_clip", "track_hints", "gray_clip", "frame_at"]

#: frames the model colours per call (batching amortises the per-call overhead of the net)
BATCH = 8
#: mean chroma (Lab units) above which a clip is called "in colour" (a gray clip is < 1)
COLOUR_CHROMA = 3.0


@dataclass(frozen=True)
class FrameHint:
    """A user's hint on frame ``frame``: pixel (x, y) of the full frame should be ``color``."""

    x: float
    y: float
    color: str
    frame: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "color": self.color, "frame": self.frame}


def _frame_number(text: Any, source: str) -> int:
    try:
        f = int(str(text).strip())
    except ValueError:
        raise LessonsError(f"{source}: the frame after @ must be a whole number (0 = the first frame), "
                           f"got {text!r}") from None
    if f < 0:
        raise LessonsError(f"{source}: the frame must be >= 0 (0 = the first frame), got {f}")
    return f


def parse_frame_hint(text: str) -> FrameHint:
    """``"X,Y,COLOUR@FRAME"`` (``@FRAME`` optional: frame 0) -> a :class:`FrameHint`; the
    colour's syntax is checked now (as a photo's hint), the point against the frame later."""
    from ..data.hints import parse_hint

    if not isinstance(text, str):
        raise LessonsError(f"a hint is X,Y,COLOUR@FRAME (e.g. 120,80,#c0392b@0), got {text!r}")
    body, at, frame = text.rpartition("@")
    if not at:
        body, frame = text, "0"
    h = parse_hint(body)
    return FrameHint(h.x, h.y, h.hex, _frame_number(frame, f"hint {text!r}"))


def load_frame_hints(path: str | os.PathLike) -> list[FrameHint]:
    """A hints file as the demo writes it: ``[{"x", "y", "color", "frame"}, ...]`` (``frame``
    optional, default 0; a photo's hints file works and puts every hint on frame 0)."""
    from ..data.hints import load_hints

    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return [FrameHint(h.x, h.y, h.hex, 0) for h in load_hints(p)]    # its clear messages
    items = data.get("hints") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return [FrameHint(h.x, h.y, h.hex, 0) for h in load_hints(p)]
    frames = [_frame_number(it.pop("frame", 0), f"{p.name}: hint {i + 1}") if isinstance(it, dict) else 0
              for i, it in enumerate(items)]
    tmp = json.dumps(items)
    from ..data.hints import check_hints

    hints = check_hints(json.loads(tmp), source=f"{p.name}: hint")
    return [FrameHint(h.x, h.y, h.hex, f) for h, f in zip(hints, frames)]


def work_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(w, h) with the long side at most ``side`` and the frame's aspect ratio."""
    s = min(1.0, side / max(width, height))
    return max(8, round(width * s)), max(8, round(height * s))


# =========================================================================== the hints' tracks
def track_hints(grays: Sequence[np.ndarray], hints: Sequence[FrameHint], full_size: tuple[int, int],
                flow: str = "dis", cuts: Sequence[bool] | None = None) -> dict[int, list[FrameHint]]:
    """Where each hint is on every frame of ``grays`` (the clip at the working size, (h, w)
    uint8): ``{frame: [FrameHint at its tracked position, ...]}`` (module docstring).

    Only the frames where a track is alive are keys; tracking runs both ways from each
    hint's frame and stops at a lost point or a cut (``cuts[t]``: frame t starts a scene)."""
    W, H = full_size
    h, w = grays[0].shape
    sx, sy = w / W, h / H
    n = len(grays)
    out: dict[int, list[FrameHint]] = {}
    flows: dict[tuple[int, int], np.ndarray] = {}

    def F(a: int, b: int) -> np.ndarray:
        if (a, b) not in flows:
            flows[(a, b)] = optical_flow(grays[a], grays[b], flow)
        return flows[(a, b)]

    for hint in hints:
        k = hint.frame
        out.setdefault(k, []).append(hint)
        for step in (1, -1):
            p = np.array([[(hint.x + 0.5) * sx - 0.5, (hint.y + 0.5) * sy - 0.5]], np.float32)
            t = k
            while 0 <= t + step < n:
                nxt = t + step
                if cuts is not None and cuts[max(t, nxt)]:
                    break
                p, ok = track_points(p, F(t, nxt), F(nxt, t))
                if not ok[0]:
                    break
                t = nxt
                x = float(np.clip((p[0, 0] + 0.5) / sx - 0.5, 0, W - 1))
                y = float(np.clip((p[0, 1] + 0.5) / sy - 0.5, 0, H - 1))
                out.setdefault(t, []).append(FrameHint(x, y, hint.color, t))
    return out


# =========================================================================== frames
def _own_ab(colorizer, smalls: list[np.ndarray], hint_maps: list | None, seed: int | None, work: tuple[int, int]):
    """The model's ab for a batch of S x S RGB frames -> list of (h, w, 2) float32 Lab units."""
    import cv2
    import torch

    from ..color import AB_SCALE, normalize_lab, rgb_uint8_to_lab

    rgb = torch.from_numpy(np.stack(smalls)).permute(0, 3, 1, 2).to(colorizer.device)    # (B, 3, S, S) uint8
    L, _ = normalize_lab(rgb_uint8_to_lab(rgb))                                            # (B, 1, S, S)
    hints = None
    if hint_maps is not None:
        hints = torch.cat(hint_maps, 0)                                                    # (B, 3, S, S)
    ab = (colorizer.predict_ab(L, seed=seed, hints=hints) * AB_SCALE).permute(0, 2, 3, 1).cpu().numpy()
    return [cv2.resize(np.ascontiguousarray(a, dtype=np.float32), work, interpolation=cv2.INTER_LINEAR)
            for a in ab]


def colorize_frames(frames: Iterable[np.ndarray], colorizer, *, temporal: bool = True,
                    config: TemporalConfig | None = None, hints: dict[int, list[FrameHint]] | None = None,
                    seed: int | None = None, stats: dict | None = None) -> Iterator[np.ndarray]:
    """RGB frames (H, W, 3) uint8 in, colorized RGB frames out, in order (module docstring).

    Args:
        colorizer: a :class:`lessons_lib.colorization.colorizer.Colorizer`.
        temporal: the temporal blend (False: every frame alone, the baseline).
        hints: ``{frame: [FrameHint, ...]}`` (what :func:`track_hints` gives, or a user's
            hints by frame); needs a hint model.
        stats: filled with ``cuts`` (frames where a scene starts), ``trusted`` (mean
            confidence per frame), ``colour_input`` (the first frame's mean chroma).
    """
    import cv2
    import torch
    from PIL import Image

    from ..color.gamut import recombine

    cfg = config or TemporalConfig()
    blender = TemporalBlender(cfg)
    check_hint_count(sum(len(v) for v in (hints or {}).values()))   # the photos' cap (500), all frames together
    s = colorizer.size
    if hints and not colorizer.takes_hints:
        raise LessonsError("hints need a hint model (--model hints, the default when hints are given)")
    stats = stats if stats is not None else {}
    stats.setdefault("cuts", [])
    stats.setdefault("trusted", [])
    it = iter(frames)
    index = 0
    while True:
        chunk = []
        for f in it:
            chunk.append(np.ascontiguousarray(f[..., :3], dtype=np.uint8))
            if len(chunk) == BATCH:
                break
        if not chunk:
            return
        H, W = chunk[0].shape[:2]
        work = work_size(W, H, cfg.work_side)
        smalls_work = [cv2.resize(f, work, interpolation=cv2.INTER_AREA) if (W, H) != work else f for f in chunk]
        smalls = [cv2.resize(f, (s, s), interpolation=cv2.INTER_AREA) for f in smalls_work]
        if index == 0:
            lab = cv2.cvtColor(smalls[0], cv2.COLOR_RGB2Lab).astype(np.float32)
            stats["colour_input"] = float(np.hypot(lab[..., 1] - 128, lab[..., 2] - 128).mean())
        maps = None
        if colorizer.takes_hints:
            maps = [colorizer.hint_map([(h.x, h.y, h.color) for h in (hints or {}).get(index + i, [])], (W, H))
                    for i in range(len(chunk))]
        own = _own_ab(colorizer, smalls, maps, seed, work)
        for i, frame in enumerate(chunk):
            gray = to_gray8(smalls_work[i])
            if temporal:
                ab, info = blender.step(gray, own[i])
                if info.cut:
                    stats["cuts"].append(index)
                stats["trusted"].append(info.trusted)
            else:
                ab = own[i]
            ab_t = torch.from_numpy(np.ascontiguousarray(ab.transpose(2, 0, 1)))
            out = recombine(Image.fromarray(frame), ab_t, band_pixels=colorizer.band_pixels)
            yield np.asarray(out)
            index += 1


# =========================================================================== files
def _progress(total: int | None, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="frame", desc="colorizing", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, smoothing=0.1)


def _first_pass(src, hints: Sequence[FrameHint], cfg: TemporalConfig, carry: bool) -> dict[int, list[FrameHint]]:
    """Check the hints against the clip (frame inside the clip, point inside the frame) and,
    with ``carry``, track them. The frames are read once at the working size; only those up
    to the last hint's frame are kept (the backward tracks need them), after it the forward
    tracks go on one frame at a time and the reading stops when no track is left, so a long
    film costs no memory."""
    import cv2

    from ..data.hints import check_hints

    by_frame: dict[int, list[FrameHint]] = {}
    for h in hints:
        by_frame.setdefault(h.frame, []).append(h)
    with ClipReader(src) as r:
        info = r.info
        size = (info.width, info.height)
        check_hints([(h.x, h.y, h.color) for h in hints], size)
        last = max(h.frame for h in hints)
        work = work_size(info.width, info.height, cfg.work_side)
        sx, sy = work[0] / size[0], work[1] / size[1]
        grays: list[np.ndarray] = []
        cuts: list[bool] = []
        blender = TemporalBlender(cfg)
        zeros = np.zeros((work[1], work[0], 2), np.float32)
        tracks: dict[int, list[FrameHint]] = by_frame
        pts, colours = np.zeros((0, 2), np.float32), []
        n = 0
        for t, f in enumerate(r.frames(max_frames=None if carry else last + 1)):
            n = t + 1
            g = to_gray8(cv2.resize(f.rgb, work, interpolation=cv2.INTER_AREA))
            if not carry:
                continue
            info_t = blender.step(g, zeros)[1]
            if t <= last:
                grays.append(g)
                cuts.append(info_t.cut)
                if t == last:
                    tracks = track_hints(grays, hints, size, cfg.flow, cuts)
                    alive = tracks.get(last, [])
                    pts = np.array([[(h.x + 0.5) * sx - 0.5, (h.y + 0.5) * sy - 0.5] for h in alive], np.float32)
                    colours = [h.color for h in alive]
                    grays = []
                continue
            if info_t.cut or not len(pts):
                break
            pts, ok = track_points(pts.reshape(-1, 2), info_t.flow_fwd, info_t.flow_back)
            pts, colours = pts[ok], [c for c, k in zip(colours, ok) if k]
            for (x, y), c in zip(pts, colours):
                tracks.setdefault(t, []).append(FrameHint(float(np.clip((x + 0.5) / sx - 0.5, 0, size[0] - 1)),
                                                          float(np.clip((y + 0.5) / sy - 0.5, 0, size[1] - 1)), c, t))
    if last >= n:
        raise LessonsError(f"a hint is on frame {last}, but the clip has {n} frames (0..{n - 1}); nothing was written")
    return tracks


def colorize_clip(src: str | os.PathLike, out: str | os.PathLike, colorizer, *, temporal: bool = True,
                  config: TemporalConfig | None = None, hints: Sequence[FrameHint] = (), seed: int | None = None,
                  progress: bool = True, on_frame: Callable[[int, int | None], None] | None = None,
                  max_seconds: float | None = None, max_side: int | None = None) -> dict[str, Any]:
    """Colorize the clip ``src`` into ``out`` (container from ``out``'s extension), keeping
    size, timing and audio (:mod:`.io`); returns a summary dict (frames, seconds, fps, notes).

    ``on_frame(done, total)`` is called after each frame (the demo's progress bar);
    ``max_seconds`` / ``max_side`` refuse longer or larger clips before any work."""
    cfg = config or TemporalConfig()
    out = check_video_paths(src, out)
    check_hint_count(len(hints))            # the photos' cap (500): the CLI, the demo's Video tab, the API
    if hints and not colorizer.takes_hints:
        raise LessonsError("hints need a hint model (--model hints, the default when hints are given)")
    with ClipReader(src) as r:
        info = r.info
    if max_seconds is not None and info.duration_s and info.duration_s > max_seconds + 0.05:
        raise LessonsError(f"the clip is {info.duration_s:.1f} s long; the limit here is {max_seconds:g} s: "
                           "trim it, or use `lessons colorize` on your own machine")
    if max_side is not None and min(info.width, info.height) > max_side:
        raise LessonsError(f"the clip is {info.width}x{info.height}; the limit here is {max_side}p: "
                           "scale it down, or use `lessons colorize` on your own machine")
    by_frame = _first_pass(src, hints, cfg, carry=temporal) if hints else {}
    notes: list[str] = []
    if info.ten_bit:
        notes.append(f"the input is {info.pix_fmt} (more than 8 bits): it is colorized and written at 8 bits")
    if info.width % 2 or info.height % 2:
        notes.append(f"odd size {info.width}x{info.height}: written with full-resolution chroma (yuv444p)")
    stats: dict[str, Any] = {}
    t0 = time.perf_counter()
    n = 0
    with ClipReader(src) as r, ClipWriter(out, info, audio_stream=r.audio_stream) as w, \
            _progress(info.frames_estimate, progress) as bar:
        frames = r.frames(audio_sink=w.add_audio_packet)
        meta: list = []

        def rgb_only():
            for f in frames:
                meta.append((f.pts, f.time_base))
                yield f.rgb

        for rgb in colorize_frames(rgb_only(), colorizer, temporal=temporal, config=cfg, hints=by_frame,
                                   seed=seed, stats=stats):
            pts, tb = meta.pop(0)
            w.write(rgb, pts, tb)
            n += 1
            bar.update(1)
            if on_frame is not None:
                on_frame(n, info.frames_estimate)
        if n == 0:
            raise LessonsError(f"{src} has no video frames to colorize; nothing was written")
        if w.audio_note:
            notes.append(w.audio_note)
    wall = time.perf_counter() - t0
    if stats.get("colour_input", 0.0) > COLOUR_CHROMA:
        notes.insert(0, "the input is in colour: its colours were not used (its gray was colorized)")
    if info.frames and n < info.frames * 0.98:
        notes.append(f"the clip ended after {n} of the {info.frames} frames its header states (truncated?)")
    return {"frames": n, "seconds": wall, "fps": n / wall if wall > 0 else float("inf"), "width": info.width,
            "height": info.height, "rate": float(info.fps), "temporal": temporal, "cuts": stats.get("cuts", []),
            "hints": len(hints), "notes": notes, "out": str(out)}


def gray_clip(src: str | os.PathLike, out: str | os.PathLike) -> Path:
    """The clip as a black-and-white film (each frame's luma in three channels), same size,
    timing and audio: what the colorizer reads, to show beside its output."""
    out = check_video_paths(src, out)
    with ClipReader(src) as r, ClipWriter(out, r.info, audio_stream=r.audio_stream) as w:
        for f in r.frames(audio_sink=w.add_audio_packet):
            w.write(np.repeat(to_gray8(f.rgb)[..., None], 3, -1), f.pts, f.time_base)
    return out


def frame_at(src: str | os.PathLike, index: int) -> np.ndarray:
    """Frame ``index`` (from 0) of a clip, RGB (H, W, 3) uint8 (decoded from the start)."""
    last = None
    n = 0
    with ClipReader(src) as r:
        for f in r.frames(max_frames=int(index) + 1):
            last, n = f.rgb, n + 1
    if last is None or n <= index:
        raise LessonsError(f"the clip has {n} frames (0..{n - 1}); there is no frame {index}")
    return last
