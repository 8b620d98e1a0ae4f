"""The demo's Video tab: upload a clip, get it back colorized next to its gray version.

A thin layer over :mod:`lessons_lib.video` (the same code as ``lessons colorize IN.mp4
OUT.mp4``): :func:`colorize_video` checks the limits (:data:`MAX_SECONDS`, :data:`MAX_SIDE`),
writes the gray film the model reads and the colorized clip (H.264 MP4 with the input's
audio, which every browser plays), with the temporal method on or off and the visitor's
hints, each on a frame of their choice and carried through the clip. The job runs through
the app's queue and reports its progress frame by frame; ``/colorize_video`` is its API.

``build_video_tab(models)`` is called by :func:`demo.app.build_app` inside its ``gr.Blocks``;
its requests run through :func:`demo.common.guard` (a clear message instead of a traceback).
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

import gradio as gr
from PIL import Image, ImageDraw

from lessons_lib import LessonsError
from lessons_lib.video.colorize import colorize_clip, frame_at, gray_clip, parse_frame_hint
from lessons_lib.video.io import probe

from .common import OUT_DIR, guard, new_hint

__all__ = ["MAX_SECONDS", "MAX_SIDE", "LIMITS", "colorize_video", "clip_facts", "hint_frame", "add_hint",
           "build_video_tab"]

#: The longest clip the demo colours (seconds); a longer one is refused with a message.
MAX_SECONDS = 20.0
#: The largest clip the demo colours: its short side at most this (720p).
MAX_SIDE = 720
LIMITS = (f"Clips up to **{MAX_SECONDS:g} s** and **{MAX_SIDE}p** (short side at most {MAX_SIDE} px); "
          "anything FFmpeg reads (mp4, mov, mkv, webm, avi, animated gif). Longer or larger: trim it, or use "
          "`lessons colorize IN.mp4 OUT.mp4` on your own machine, which has no limit.")


def _path(video: Any) -> str:
    if video is None:
        raise LessonsError("upload a clip first")
    if isinstance(video, dict):                     # the API's {"video": file}
        video = video.get("video") or video.get("path")
        if isinstance(video, dict):
            video = video.get("path")
    return str(video)


def _hints(hints: Any) -> list:
    out = []
    for i, h in enumerate(hints or []):
        if isinstance(h, str):
            out.append(parse_frame_hint(h))
        elif isinstance(h, dict) and {"x", "y"} <= set(h):
            colour = h.get("color", h.get("colour"))
            out.append(parse_frame_hint(f"{h['x']},{h['y']},{colour}@{int(h.get('frame', 0))}"))
        else:
            raise LessonsError(f"hint {i + 1}: give {{\"x\", \"y\", \"color\", \"frame\"}}, got {h!r}")
    return out


def clip_facts(video: Any) -> tuple[dict[str, Any], str]:
    """The uploaded clip's header and a line about it, refusing clips over the limits."""
    info = probe(_path(video))
    if info.duration_s and info.duration_s > MAX_SECONDS + 0.05:
        raise LessonsError(f"the clip is {info.duration_s:.1f} s long; the limit here is {MAX_SECONDS:g} s: "
                           "trim it, or use `lessons colorize` on your own machine")
    if min(info.width, info.height) > MAX_SIDE:
        raise LessonsError(f"the clip is {info.width}x{info.height}; the limit here is {MAX_SIDE}p: "
                           "scale it down, or use `lessons colorize` on your own machine")
    frames = info.frames_estimate or 1
    return {"frames": frames, "width": info.width, "height": info.height}, info.describe()


def colorize_video(models, video: Any, temporal: bool = True, hints: Any = None,
                   on_frame: Callable[[int, int | None], None] | None = None) -> tuple[str, str, str]:
    """One request of the tab: ``(gray clip, colorized clip, status)``, both MP4 files."""
    src = _path(video)
    clip_facts(src)
    hint_list = _hints(hints)
    colorizer = models.hint_colorizer() if hint_list else models.colorizer(None)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    fd, out = tempfile.mkstemp(prefix="video-", suffix=".mp4", dir=OUT_DIR)
    os.close(fd)
    os.unlink(out)                                 # the writer renames onto the name at the end
    gray = out.replace("video-", "gray-")
    r = colorize_clip(src, out, colorizer, temporal=bool(temporal), hints=hint_list, progress=False,
                      on_frame=on_frame, max_seconds=MAX_SECONDS, max_side=MAX_SIDE)
    gray_clip(src, gray)
    name = colorizer.card.get("name") or colorizer.card.get("recipe")
    notes = "".join(f"\n* {n}" for n in r["notes"])
    carried = f", {len(hint_list)} hint(s) carried through the clip" if hint_list else ""
    status = (f"**{r['frames']} frames** ({r['width']}x{r['height']}, {r['rate']:.3g} fps) colorized by {name}, "
              f"temporal method **{'on' if temporal else 'off'}**{carried}, {r['seconds']:.1f} s." + notes)
    return gray, out, status


def hint_frame(video: Any, frame: Any, hints: Any) -> Image.Image:
    """Frame ``frame`` of the clip with the hints placed on it marked (white ring, hint colour inside)."""
    k = int(frame or 0)
    img = Image.fromarray(frame_at(_path(video), k))
    draw = ImageDraw.Draw(img)
    r = max(4, min(img.size) // 60)
    for h in _hints(hints):
        if h.frame == k:
            draw.ellipse([h.x - r - 2, h.y - r - 2, h.x + r + 2, h.y + r + 2], outline="white", width=2)
            draw.ellipse([h.x - r, h.y - r, h.x + r, h.y + r], fill=h.color)
    return img


def add_hint(hints: Any, x: float, y: float, colour: str, frame: Any) -> list[dict[str, Any]]:
    """The hints with one more: pixel (x, y) of frame ``frame`` should be ``colour``."""
    return list(hints or []) + [{**new_hint(x, y, colour), "frame": int(frame or 0)}]


def build_video_tab(models) -> None:
    """The Video tab and its events (call inside ``gr.Blocks``)."""
    with gr.Tab("Video", id="video"):
        gr.Markdown("**Colorize a clip without flicker.** Each frame is coloured by the model, then blended with "
                    "the previous output carried along the optical flow, where the flow can be trusted (lesson 13). "
                    "Switch the temporal method off to see the frame-by-frame flicker. A hint placed on one frame "
                    "is carried through the clip.\n\n" + LIMITS, elem_id="video-limits")
        with gr.Row():
            with gr.Column(scale=1):
                v_in = gr.Video(label="your clip", sources=["upload"], elem_id="video-input", height=260)
                v_temporal = gr.Checkbox(value=True, label="temporal method (no flicker)", elem_id="video-temporal")
                v_frame = gr.Slider(0, 1, value=0, step=1, label="frame for a hint", elem_id="video-frame")
                v_picker = gr.ColorPicker(value="#c0392b", label="hint colour", elem_id="video-colour")
                v_hints = gr.JSON(value=[], label="hints (x, y, colour, frame)", elem_id="video-hints")
                with gr.Row():
                    v_clear = gr.Button("Clear hints", elem_id="video-clear")
                    v_btn = gr.Button("Colorize the clip", variant="primary", elem_id="video-button")
            with gr.Column(scale=2):
                v_view = gr.Image(label="click to place a hint on this frame", type="pil", format="png",
                                  interactive=False, elem_id="video-view", height=260)
                v_status = gr.Markdown("Upload a clip.", elem_id="video-status")
                with gr.Row():
                    v_gray = gr.Video(label="gray input", elem_id="video-gray", interactive=False)
                    v_out = gr.Video(label="colorized", elem_id="video-output", interactive=False)

        def on_upload(video):
            if video is None:
                return gr.Slider(maximum=1, value=0), None, [], "Upload a clip."

            def run():
                facts, line = clip_facts(video)
                return (gr.Slider(maximum=max(1, facts["frames"] - 1), value=0), hint_frame(video, 0, []), [],
                        f"{line}. Click on the frame to place a hint, or press **Colorize the clip**.")
            return guard(run, 3)          # refused: no frame, no hints, the message

        def on_frame(video, frame, hints):
            if video is None:
                return None, "Upload a clip."
            return guard(lambda: (hint_frame(video, frame, hints), f"frame {int(frame)}"), 1)

        def on_click(video, frame, hints, colour, evt: gr.SelectData):
            def run():
                new = add_hint(hints, evt.index[0], evt.index[1], colour, frame)
                return new, hint_frame(video, frame, new), f"{len(new)} hint(s); the last on frame {int(frame)}"
            out = guard(run, 2)
            return out if out[0] is not None else (hints, out[1], out[2])

        def on_run(video, temporal, hints, progress=gr.Progress()):
            def tick(done, total):
                progress((done, total) if total else done, desc="colorizing", unit="frames")
            return guard(lambda: colorize_video(models, video, temporal, hints, on_frame=tick), 2)

        v_in.change(on_upload, [v_in], [v_frame, v_view, v_hints, v_status], api_visibility="private")
        v_frame.release(on_frame, [v_in, v_frame, v_hints], [v_view, v_status], api_visibility="private")
        v_view.select(on_click, [v_in, v_frame, v_hints, v_picker], [v_hints, v_view, v_status],
                      api_visibility="private")
        v_clear.click(lambda video, frame: (([], hint_frame(video, frame, [])) if video is not None else ([], None)),
                      [v_in, v_frame], [v_hints, v_view], api_visibility="private")
        v_btn.click(on_run, [v_in, v_temporal, v_hints], [v_gray, v_out, v_status], api_name="colorize_video")
