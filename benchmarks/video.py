"""Video colorization (issue 24): the temporal method against frame-by-frame on the same clips.

    python benchmarks/video.py [--quality-only | --speed-only] [--frames 36] [--photos 3]
                               [--size 320x240] [--speed-frames 120] [--quick] [--out FILE]

1. **Quality** (does not depend on the machine's load):
   * synthetic clips made from held-out photos (cbsd68, never seen in training; the bundled
     photos when the pack is absent) by a known camera motion - a pan, a zoom, a disc of a
     second photo moving over a slow pan (``lessons_lib.video.synthetic``) - so the true flow,
     the true occlusion mask and the true colours are known;
   * ``cockatoo.mp4`` (a real clip; ``../shared/data/video``): the true colours are its own
     frames; its flow for E_warp is OpenCV's Farneback on the true frames, at 640 x 360 (the
     method itself uses DIS on the gray frames at 256 px, so the measure is not the method's
     own flow), the occlusion mask from the forward-backward check.
   Per clip and method (temporal on / off): Lai et al.'s E_warp of the output and, for
   reference, of the gray input (its L) and of the true colours; per-frame PSNR, SSIM and
   colourfulness (Hasler & Suesstrunk) against the true colours, averaged over frames.
   ``--sweep`` adds the trade-off: E_warp and PSNR against the temporal strength.
2. **Speed and memory** (wall clock: run it alone on the machine): ``lessons colorize`` on the
   cockatoo clip at 720p (as it is, with its audio) and at 480p (made from it), from decode to
   encode, temporal on and off, each in a fresh process with 2 torch threads; frames/s and the
   process's peak resident memory.

Targets: E_warp of the output at least 50 % below frame-by-frame; PSNR within 0.3 dB;
colourfulness within 10 %; at least 5 frames/s at 480p on 2 cores. Prints the tables and
writes ``benchmarks/out/video.json`` (a ``--speed-only`` or ``--quality-only`` run keeps
the other part of an earlier report there).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import OUT_DIR, ROOT, machine_info, machine_line, write_json

SHARED = ROOT.parent / "shared" / "data"
COCKATOO = SHARED / "video" / "cockatoo.mp4"


# --------------------------------------------------------------------------- clips
def held_out_photos(n: int) -> tuple[list[np.ndarray], str]:
    from lessons_lib.data import open_source

    for name in ("cbsd68", str(SHARED / "cbsd68.zip")):
        try:
            src = open_source(name, "test")
            break
        except Exception:  # noqa: BLE001 - fall back to the next place, then to the bundled photos
            src = None
    label = "cbsd68 test"
    if src is None:
        src, label = open_source("samples", "train"), "bundled samples (cbsd68 not found)"
    step = max(1, len(src) // (2 * n))
    imgs = [src[i * step] for i in range(2 * n)]
    imgs = [i[0] if isinstance(i, tuple) else i for i in imgs]
    return [np.asarray(i.convert("RGB")) for i in imgs], label


def synthetic_clips(photos, frames: int, size: tuple[int, int]):
    from lessons_lib.video.synthetic import make_clip

    n = len(photos) // 2
    clips = []
    for i in range(n):
        for motion in ("pan", "zoom", "object"):
            c = make_clip(photos[i], motion, frames=frames, size=size, obj=photos[n + i], speed=2.0)
            c.name = f"{motion}#{i}"
            clips.append(c)
    return clips


def cockatoo_clip(frames: int | None, size=(640, 360)):
    """The real clip's true frames at ``size`` and its Farneback flows + fb masks."""
    import cv2

    from lessons_lib.video.flow import fb_mask, optical_flow
    from lessons_lib.video.io import read_clip
    from lessons_lib.video.synthetic import SyntheticClip

    full = [f.rgb for f in read_clip(COCKATOO, max_frames=frames)]
    small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in full]
    flows, masks = [], []
    for t in range(1, len(small)):
        fb = optical_flow(small[t], small[t - 1], "farneback")
        ff = optical_flow(small[t - 1], small[t], "farneback")
        flows.append(fb)
        masks.append(fb_mask(fb, ff))
    return full, SyntheticClip("cockatoo", small, flows, masks, fps=20.0)


# --------------------------------------------------------------------------- measures
def frame_scores(outs, truth) -> dict:
    import torch

    from lessons_lib.metrics import colorfulness, psnr, ssim

    o = torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2).float() / 255
    t = torch.from_numpy(np.stack(truth)).permute(0, 3, 1, 2).float() / 255
    return {"psnr": float(psnr(o, t).mean()), "ssim": float(ssim(o, t).mean()),
            "cf": float(colorfulness(o).mean()), "cf_truth": float(colorfulness(t).mean())}


def ab_planes(frames) -> list[np.ndarray]:
    """The a*, b* planes of RGB frames (OpenCV's 8-bit Lab, so /255 puts them on E_warp's
    scale): the colour alone, whose warping error the gray input cannot contribute to."""
    import cv2

    return [cv2.cvtColor(f, cv2.COLOR_RGB2Lab)[..., 1:] for f in frames]


def measure(clip, colorizer, strengths=(None,), full_frames=None) -> dict:
    """Both methods (and any extra strengths) on one clip: E_warp, PSNR, SSIM, CF."""
    import cv2

    from lessons_lib.video.colorize import colorize_frames
    from lessons_lib.video.flow import warping_error
    from lessons_lib.video.temporal import TemporalConfig

    src = full_frames if full_frames is not None else clip.frames
    size = clip.frames[0].shape[1::-1]
    gray = [np.repeat(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None], 3, -1) for f in clip.frames]
    row = {"frames": len(clip.frames), "size": f"{size[0]}x{size[1]}",
           "occluded_share": float(1 - np.mean([m.mean() for m in clip.masks])),
           "e_warp_gray": warping_error(gray, clip.flows, clip.masks)["e_warp"],
           "e_warp_truth": warping_error(clip.frames, clip.flows, clip.masks)["e_warp"],
           "e_warp_ab_truth": warping_error(ab_planes(clip.frames), clip.flows, clip.masks)["e_warp"]}
    runs = [("off", False, None)] + [("on" if s is None else f"s={s:g}", True, s) for s in strengths]
    for name, temporal, s in runs:
        cfg = TemporalConfig() if s is None else TemporalConfig(strength=s)
        stats: dict = {}
        t0 = time.perf_counter()
        outs = list(colorize_frames(src, colorizer, temporal=temporal, config=cfg, stats=stats))
        wall = time.perf_counter() - t0
        if full_frames is not None:
            outs = [cv2.resize(o, size, interpolation=cv2.INTER_AREA) for o in outs]
        row[name] = {"e_warp": warping_error(outs, clip.flows, clip.masks)["e_warp"],
                     "e_warp_ab": warping_error(ab_planes(outs), clip.flows, clip.masks)["e_warp"],
                     **frame_scores(outs, clip.frames),
                     "cuts": len(stats.get("cuts", [])), "wall_s": wall}
    return row


# --------------------------------------------------------------------------- speed
CHILD = r"""
import json, resource, sys, time, torch
torch.set_num_threads(2)
from lessons_lib.colorization import Colorizer
from lessons_lib.zoo import resolve_model
from lessons_lib.video.colorize import colorize_clip
src, out, temporal = sys.argv[1], sys.argv[2], sys.argv[3] == "on"
c = Colorizer(resolve_model("colorization", None, None), device="cpu").load()
t0 = time.perf_counter()
r = colorize_clip(src, out, c, temporal=temporal, progress=False)
wall = time.perf_counter() - t0
print(json.dumps({"frames": r["frames"], "wall_s": wall, "fps": r["frames"] / wall,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def speed(frames: int, tmp: Path) -> list[dict]:
    import cv2

    from lessons_lib.video.io import ClipReader, ClipWriter
    from lessons_lib.video.synthetic import save_clip  # noqa: F401 - the same writer as the tests

    rows = []
    clips = {}
    for label, size in (("720p", (1280, 720)), ("480p", (854, 480))):
        path = tmp / f"cockatoo_{label}.mp4"
        with ClipReader(COCKATOO) as r:
            info = r.info
            from dataclasses import replace

            info = replace(info, width=size[0], height=size[1])
            with ClipWriter(path, info, audio_stream=r.audio_stream) as w:
                for f in r.frames(audio_sink=w.add_audio_packet, max_frames=frames):
                    rgb = f.rgb if (f.rgb.shape[1], f.rgb.shape[0]) == size else \
                        cv2.resize(f.rgb, size, interpolation=cv2.INTER_AREA)
                    w.write(rgb, f.pts, f.time_base)
        clips[label] = path
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="2")
    for label, path in clips.items():
        for temporal in ("on", "off"):
            out = tmp / f"out_{label}_{temporal}.mp4"
            p = subprocess.run([sys.executable, "-c", CHILD, str(path), str(out), temporal], capture_output=True,
                               text=True, env=env, check=False)
            if p.returncode != 0:
                raise SystemExit(f"the speed run failed:\n{p.stderr[-2000:]}")
            res = json.loads(p.stdout.strip().splitlines()[-1])
            rows.append({"clip": f"cockatoo {label}", "temporal": temporal, **res})
    return rows


# --------------------------------------------------------------------------- report
def table(rows: dict) -> str:
    head = (f"{'clip':12s} {'occl':>5s} {'Ewarp gray':>10s} {'Ewarp off':>9s} {'Ewarp on':>9s} {'change':>7s} "
            f"{'ab off':>7s} {'ab on':>7s} {'PSNR off':>8s} {'PSNR on':>8s} {'SSIM off':>8s} {'SSIM on':>8s} {'CF off':>7s} {'CF on':>7s} "
            f"{'CF true':>7s} {'cuts':>4s}")
    lines = [head, "-" * len(head)]
    for name, r in rows.items():
        off, on = r["off"], r["on"]
        lines.append(f"{name:12s} {r['occluded_share']:5.1%} {r['e_warp_gray']:10.4f} {off['e_warp']:9.4f} "
                     f"{on['e_warp']:9.4f} {on['e_warp'] / off['e_warp'] - 1:+7.0%} {off['e_warp_ab']:7.4f} "
                     f"{on['e_warp_ab']:7.4f} {off['psnr']:8.2f} "
                     f"{on['psnr']:8.2f} {off['ssim']:8.3f} {on['ssim']:8.3f} {off['cf']:7.1f} {on['cf']:7.1f} "
                     f"{r['off']['cf_truth']:7.1f} {on['cuts']:4d}")
    return "\n".join(lines)


def summary(rows: dict) -> dict:
    def mean(key, method):
        return float(np.mean([r[method][key] for r in rows.values()]))

    syn = {k: v for k, v in rows.items() if k != "cockatoo"}
    out = {}
    for label, sel in (("synthetic", syn), ("cockatoo", {k: v for k, v in rows.items() if k == "cockatoo"})):
        if not sel:
            continue
        e_off = float(np.mean([r["off"]["e_warp"] for r in sel.values()]))
        e_on = float(np.mean([r["on"]["e_warp"] for r in sel.values()]))
        e_gray = float(np.mean([r["e_warp_gray"] for r in sel.values()]))
        p_off = float(np.mean([r["off"]["psnr"] for r in sel.values()]))
        p_on = float(np.mean([r["on"]["psnr"] for r in sel.values()]))
        c_off = float(np.mean([r["off"]["cf"] for r in sel.values()]))
        c_on = float(np.mean([r["on"]["cf"] for r in sel.values()]))
        ab_off = float(np.mean([r["off"]["e_warp_ab"] for r in sel.values()]))
        ab_on = float(np.mean([r["on"]["e_warp_ab"] for r in sel.values()]))
        out[label] = {"e_warp_off": e_off, "e_warp_on": e_on, "e_warp_gray": e_gray,
                      "e_warp_ab_off": ab_off, "e_warp_ab_on": ab_on, "e_warp_ab_change": ab_on / ab_off - 1,
                      "e_warp_change": e_on / e_off - 1,
                      # the part of E_warp the colours add above the gray input's own
                      "e_warp_above_gray_change": (e_on - e_gray) / (e_off - e_gray) - 1,
                      "psnr_off": p_off, "psnr_on": p_on, "psnr_change_db": p_on - p_off,
                      "cf_off": c_off, "cf_on": c_on, "cf_change": c_on / c_off - 1}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quality-only", action="store_true")
    p.add_argument("--speed-only", action="store_true")
    p.add_argument("--frames", type=int, default=36, help="frames per synthetic clip")
    p.add_argument("--photos", type=int, default=3, help="held-out photos (x 3 motions)")
    p.add_argument("--size", default="320x240", help="synthetic clips' size WxH")
    p.add_argument("--cockatoo-frames", type=int, default=None, help="frames of the real clip (default: all)")
    p.add_argument("--speed-frames", type=int, default=120, help="frames per speed run")
    p.add_argument("--sweep", action="store_true", help="also temporal strengths 0.5, 0.7, 0.95 (the trade-off)")
    p.add_argument("--quick", action="store_true", help="a seconds-long check of the script: tiny clips")
    p.add_argument("--out", default=str(OUT_DIR / "video.json"))
    a = p.parse_args()
    if a.quick:
        a.frames, a.photos, a.size, a.cockatoo_frames, a.speed_frames = 8, 1, "96x72", 10, 10
    import torch

    torch.set_num_threads(2)
    from lessons_lib.colorization import Colorizer
    from lessons_lib.zoo import resolve_model

    info = machine_info()
    print(machine_line(info))
    report: dict = {"machine": info, "args": vars(a)}
    colorizer = Colorizer(resolve_model("colorization", None, None), device="cpu").load()
    report["model"] = colorizer.card.get("name") or colorizer.card.get("recipe")
    if not a.speed_only:
        w, h = (int(v) for v in a.size.split("x"))
        photos, label = held_out_photos(a.photos)
        strengths = (None, 0.5, 0.7, 0.95) if a.sweep else (None,)
        rows = {}
        for clip in synthetic_clips(photos, a.frames, (w, h)):
            rows[clip.name] = measure(clip, colorizer, strengths)
            print(f"  {clip.name}: done", flush=True)
        if COCKATOO.is_file():
            full, clip = cockatoo_clip(a.cockatoo_frames)
            rows["cockatoo"] = measure(clip, colorizer, strengths, full_frames=full)
        else:
            print(f"(no {COCKATOO}: the real clip is left out)")
        report["photos"] = label
        report["quality"] = rows
        report["summary"] = summary(rows)
        print(f"\nQuality ({report['model']}; synthetic clips from {label}, {a.frames} frames at {a.size}; "
              "E_warp in [0, 1] RGB units; PSNR/SSIM/CF per frame vs the true colours)")
        print(table(rows))
        for k, s in report["summary"].items():
            print(f"{k}: E_warp {s['e_warp_off']:.4f} -> {s['e_warp_on']:.4f} ({s['e_warp_change']:+.0%}; the part "
                  f"above the gray input's {s['e_warp_gray']:.4f}: {s['e_warp_above_gray_change']:+.0%}; of the ab planes "
                  f"alone {s['e_warp_ab_off']:.4f} -> {s['e_warp_ab_on']:.4f}: {s['e_warp_ab_change']:+.0%}), PSNR "
                  f"{s['psnr_change_db']:+.2f} dB, colourfulness {s['cf_change']:+.1%}")
        if a.sweep:
            print("\nTrade-off (mean over the synthetic clips): strength, E_warp, PSNR, CF")
            syn = [r for k, r in rows.items() if k != "cockatoo"]
            for key in ["off", "s=0.5", "s=0.7", "on", "s=0.95"]:
                print(f"  {key:6s} {np.mean([r[key]['e_warp'] for r in syn]):.4f} "
                      f"{np.mean([r[key]['psnr'] for r in syn]):6.2f} {np.mean([r[key]['cf'] for r in syn]):6.1f}")
    if not a.quality_only:
        if not COCKATOO.is_file():
            print(f"(no {COCKATOO}: no speed run)")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                rows = speed(a.speed_frames, Path(tmp))
            report["speed"] = rows
            print("\nSpeed (lessons colorize, decode to encode, 2 torch threads, one process per run)")
            print(f"{'clip':15s} {'temporal':8s} {'frames':>6s} {'fps':>6s} {'peak MB':>8s}")
            for r in rows:
                print(f"{r['clip']:15s} {r['temporal']:8s} {r['frames']:6d} {r['fps']:6.2f} {r['peak_rss_mb']:8.0f}")
    # a --speed-only or --quality-only run keeps the other part of an earlier report
    old = Path(a.out)
    if old.is_file() and (a.speed_only or a.quality_only):
        try:
            kept = json.loads(old.read_text())
        except ValueError:
            kept = {}
        for key in ("quality", "summary", "photos") if a.speed_only else ("speed",):
            if key in kept and key not in report:
                report[key] = kept[key]
    write_json(report, a.out)


if __name__ == "__main__":
    main()
