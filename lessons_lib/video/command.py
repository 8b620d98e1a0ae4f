"""``lessons colorize IN.mp4 OUT.mp4``: the command line's video path (called by
:func:`lessons_lib.cli._cmd_colorize` when OUT is a video container)."""
from __future__ import annotations

from pathlib import Path

from .. import LessonsError
from .io import VIDEO_EXTENSIONS

__all__ = ["INPUT_EXTENSIONS", "is_video_job", "add_video_options", "colorize_video_command"]

#: extensions read as video (anything FFmpeg reads works when OUT is a video container)
INPUT_EXTENSIONS = set(VIDEO_EXTENSIONS) | {".mpg", ".mpeg", ".ts", ".m2ts", ".wmv", ".flv", ".3gp", ".ogv", ".mxf"}


def is_video_job(src: str, out: str) -> bool:
    """True when OUT is a video container; a video IN with an image OUT is refused."""
    if Path(out).suffix.lower() in VIDEO_EXTENSIONS:
        return True
    ext_in = Path(src).suffix.lower()
    if ext_in in INPUT_EXTENSIONS and ext_in != ".gif":
        raise LessonsError(f"{src} is a video: give OUT a video extension ({', '.join(sorted(VIDEO_EXTENSIONS))})")
    return False


def add_video_options(p) -> None:
    """The options only a clip uses (the photo options --model --chroma --hint --hints apply too)."""
    p.add_argument("--temporal", choices=("on", "off"), default="on",
                   help="video: blend each frame's colours with the previous output along the optical flow "
                        "(on, default: no flicker) or colour every frame alone (off: the baseline)")
    p.add_argument("--temporal-strength", type=float, default=None, dest="temporal_strength",
                   help="video: how much of the previous output a trusted pixel keeps, 0..1 (default 0.85)")
    p.add_argument("--no-progress", action="store_true", dest="no_progress", help="video: no progress bar")


def colorize_video_command(args) -> int:
    from ..colorization.colorizer import HINT_SIZE, Colorizer
    from ..zoo import HINT_MODEL, resolve_model
    from .colorize import colorize_clip, load_frame_hints, parse_frame_hint
    from ..data.hints import check_hint_count
    from .io import check_video_paths, probe
    from .temporal import TemporalConfig

    out = check_video_paths(args.in_image, args.out_image)
    hints = [parse_frame_hint(h) for h in args.hint] + (load_frame_hints(args.hints) if args.hints else [])
    check_hint_count(len(hints))                     # before the clip is probed or a model loads
    cfg = TemporalConfig() if args.temporal_strength is None else TemporalConfig(strength=args.temporal_strength)
    info = probe(args.in_image)                      # a clear message before any model loads
    model = args.model or (HINT_MODEL if hints and not args.weights else None)
    colorizer = Colorizer(resolve_model("colorization", model, args.weights), device=args.device,
                          chroma=args.chroma, hint_size=HINT_SIZE if args.hint_size is None else args.hint_size,
                          temperature=args.temperature, correction=args.correction)
    colorizer.temperature_for(None)   # a T or correction for a model without a class head: refused before decoding
    print(f"{args.in_image}: {info.describe()}")
    r = colorize_clip(args.in_image, out, colorizer, temporal=args.temporal == "on", config=cfg, hints=hints,
                      seed=args.seed, progress=not args.no_progress)
    for note in r["notes"]:
        print(f"note: {note}")
    name = colorizer.card.get("name") or colorizer.card.get("recipe") or colorizer.weights
    with_hints = f", {len(hints)} hint{'s' * (len(hints) != 1)} carried" if hints else ""
    cuts = f", {len(r['cuts'])} scene cut{'s' * (len(r['cuts']) != 1)}" if r["cuts"] else ""
    print(f"wrote {out} ({r['width']}x{r['height']}, {r['frames']} frames at {r['rate']:.3g} fps) colorized by "
          f"{name}, temporal {args.temporal}{with_hints}{cuts}, {r['fps']:.1f} frames/s")
    return 0
