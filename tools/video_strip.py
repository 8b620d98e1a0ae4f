"""The README's before/after strip of a clip the shipped model never saw (issue 24).

    python tools/video_strip.py [CLIP] [--out docs/video_strip.jpg] [--frames 4] [--width 320]

Colours CLIP (default: ``../shared/data/video/cockatoo.mp4``, a real clip; the shipped
models were trained on still photos) with the kit's video path - the default colorizer,
the temporal method on - and lays out evenly spaced frames: the gray input on top, the
colorized frames below. Everything comes from ``lessons_lib.video``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import cv2
    import numpy as np
    from PIL import Image, ImageDraw

    from lessons_lib.colorization import Colorizer
    from lessons_lib.video.colorize import colorize_frames
    from lessons_lib.video.flow import to_gray8
    from lessons_lib.video.io import read_clip
    from lessons_lib.zoo import resolve_model

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("clip", nargs="?", default=str(ROOT.parent / "shared" / "data" / "video" / "cockatoo.mp4"))
    p.add_argument("--out", default=str(ROOT / "docs" / "video_strip.jpg"))
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--width", type=int, default=320, help="width of each frame in the strip")
    a = p.parse_args()
    frames = [f.rgb for f in read_clip(a.clip)]
    h = round(frames[0].shape[0] * a.width / frames[0].shape[1])
    small = [cv2.resize(f, (a.width, h), interpolation=cv2.INTER_AREA) for f in frames]
    colorizer = Colorizer(resolve_model("colorization", None, None), device="cpu")
    out = list(colorize_frames(small, colorizer, temporal=True))
    picks = np.linspace(0, len(frames) - 1, a.frames).round().astype(int)
    gap, label = 4, 18
    strip = Image.new("RGB", (a.frames * a.width + (a.frames - 1) * gap, 2 * h + gap + 2 * label), "white")
    draw = ImageDraw.Draw(strip)
    draw.text((4, 3), "gray input (a clip the model never saw)", fill="black")
    draw.text((4, h + label + gap + 3), f"lessons colorize, temporal method on "
                                        f"({colorizer.card.get('name') or 'default model'})", fill="black")
    for j, t in enumerate(picks):
        x = j * (a.width + gap)
        strip.paste(Image.fromarray(np.repeat(to_gray8(small[t])[..., None], 3, -1)), (x, label))
        strip.paste(Image.fromarray(out[t]), (x, 2 * label + h + gap))
        draw.text((x + 4, label + 3), f"frame {t}", fill="white")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    strip.save(a.out, quality=88, optimize=True)
    print(f"wrote {a.out} ({strip.size[0]}x{strip.size[1]}, frames {', '.join(map(str, picks))} of {len(frames)})")


if __name__ == "__main__":
    main()
