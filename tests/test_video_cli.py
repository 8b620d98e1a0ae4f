"""Issue 24: `lessons colorize IN.mp4 OUT.mp4` end to end with the shipped models: containers,
timing, audio, the temporal switch, hints carried through a clip, and every kind of bad input."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from lessons_lib import LessonsError
from lessons_lib.cli import main
from lessons_lib.data import open_source
from lessons_lib.video import io as vio
from lessons_lib.video.colorize import FrameHint, colorize_frames, load_frame_hints, parse_frame_hint
from lessons_lib.video.flow import warping_error
from lessons_lib.video.io import probe, read_clip
from lessons_lib.video.synthetic import make_clip, save_clip

pytestmark = pytest.mark.usefixtures("one_thread")

W, H, N = 96, 72, 12


@pytest.fixture(scope="module")
def photos():
    src = open_source("samples", "train")
    return np.asarray(src[1].convert("RGB")), np.asarray(src[3].convert("RGB"))


@pytest.fixture(scope="module")
def pan(photos):
    return make_clip(photos[0], "pan", frames=N, size=(W, H), speed=2.0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, pan) -> Path:
    path = tmp_path_factory.mktemp("clips") / "pan.mp4"
    save_clip(path, pan.frames, 12, tone_hz=440)
    return path


@pytest.fixture(scope="module")
def nogan():
    from lessons_lib.colorization import Colorizer
    from lessons_lib.zoo import resolve_model

    return Colorizer(resolve_model("colorization", "nogan"), device="cpu")


def _frames(path):
    return [f.rgb for f in read_clip(path)]


def _chroma(rgb: np.ndarray) -> float:
    import cv2

    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).astype(np.float32)
    return float(np.hypot(lab[..., 1] - 128, lab[..., 2] - 128).mean())


def test_mp4_keeps_size_rate_frames_duration_and_audio(clip, tmp_path, capsys):
    out = tmp_path / "deep" / "colour.mp4"
    assert main(["colorize", str(clip), str(out), "--device", "cpu"]) == 0
    text = capsys.readouterr()
    assert f"wrote {out} ({W}x{H}, {N} frames at 12 fps)" in text.out
    assert "the input is in colour" in text.out and "audio copied (aac)" in text.out
    assert "frame/s" in text.err and "colorizing" in text.err                       # the progress bar
    a, b = probe(clip), probe(out)
    assert (b.width, b.height, b.fps, b.frames, b.audio) == (W, H, a.fps, N, "aac")
    assert abs(b.duration_s - a.duration_s) < 0.1
    frames = _frames(out)
    assert len(frames) == N and _chroma(frames[3]) > 2.0                            # in colour
    # the output keeps the input's lightness (its L*, up to the codec)
    import cv2

    gin = cv2.cvtColor(_frames(clip)[3], cv2.COLOR_RGB2Lab)[..., 0].astype(float)
    gout = cv2.cvtColor(frames[3], cv2.COLOR_RGB2Lab)[..., 0].astype(float)
    assert np.abs(gin - gout).mean() < 3.0


@pytest.mark.parametrize("ext", [".mkv", ".webm", ".avi", ".gif", ".mov"])
def test_other_containers(clip, tmp_path, ext):
    out = tmp_path / f"colour{ext}"
    assert main(["colorize", str(clip), str(out), "--no-progress", "--temporal", "off"]) == 0
    info = probe(out)
    assert (info.width, info.height) == (W, H) and len(_frames(out)) == N
    assert (info.audio is None) == (ext == ".gif")
    # and each container reads back in as a clip
    again = tmp_path / f"again{ext}.mp4"
    assert main(["colorize", str(out), str(again), "--no-progress"]) == 0
    assert len(_frames(again)) == N


def test_temporal_lowers_the_warping_error_on_a_known_pan(pan, nogan):
    gray = [np.repeat(f.mean(-1, keepdims=True), 3, -1).astype(np.uint8) for f in pan.frames]
    off = list(colorize_frames(gray, nogan, temporal=False))
    on = list(colorize_frames(gray, nogan, temporal=True))
    e_off = warping_error(off, pan.flows, pan.masks)["e_warp"]
    e_on = warping_error(on, pan.flows, pan.masks)["e_warp"]
    e_gray = warping_error(gray, pan.flows, pan.masks)["e_warp"]
    assert e_gray < e_on < 0.8 * e_off, (e_gray, e_on, e_off)
    assert np.array_equal(on[0], off[0])                             # the first frame is its own


def test_a_hint_is_carried_through_the_clip(photos, tmp_path):
    clip = make_clip(photos[0], "pan", frames=N, size=(W, H), speed=1.5)
    path = tmp_path / "pan.mp4"
    save_clip(path, clip.frames, 12)
    x, y = 48, 36
    for temporal in ("on", "off"):
        out = tmp_path / f"hint_{temporal}.mp4"
        assert main(["colorize", str(path), str(out), "--no-progress", "--temporal", temporal,
                     "--hint", f"{x},{y},#00c000@0"]) == 0
        frames = _frames(out)
        last = N - 1
        # where the hinted point is in the last frame (the true flow, followed back to frame 0)
        px, py = float(x), float(y)
        for t in range(1, N):
            f = clip.flows[t - 1]                                      # F_{t,t-1}; a pan: constant
            px, py = px - f[int(y), int(x), 0], py - f[int(y), int(x), 1]
        import cv2

        def green(frame, cx, cy):
            lab = cv2.cvtColor(frame, cv2.COLOR_RGB2Lab).astype(float)
            return -(lab[int(cy) - 2:int(cy) + 3, int(cx) - 2:int(cx) + 3, 1] - 128).mean()   # -a*: green
        assert green(frames[0], x, y) > 10
        if temporal == "on":
            assert green(frames[last], px, py) > 10
        else:
            assert green(frames[last], px, py) < green(frames[0], x, y) - 8


def test_hint_syntax_and_files(tmp_path):
    assert parse_frame_hint("120,80,#c0392b@7") == FrameHint(120.0, 80.0, "#c0392b", 7)
    assert parse_frame_hint("1,2,red").frame == 0
    with pytest.raises(LessonsError, match="whole number"):
        parse_frame_hint("1,2,red@x")
    with pytest.raises(LessonsError, match=">= 0"):
        parse_frame_hint("1,2,red@-1")
    p = tmp_path / "h.json"
    p.write_text('[{"x": 3, "y": 4, "color": "navy", "frame": 5}, {"x": 1, "y": 1, "color": "#ff0000"}]')
    assert load_frame_hints(p) == [FrameHint(3.0, 4.0, "#000080", 5), FrameHint(1.0, 1.0, "#ff0000", 0)]


# --------------------------------------------------------------------------- bad input
def _fails(args, capsys, *phrases):
    assert main(args) == 2
    err = capsys.readouterr().err
    for p in phrases:
        assert p in err, err
    return err


def test_corrupt_truncated_and_non_video_files(clip, tmp_path, capsys):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(5000))
    out = tmp_path / "out.mp4"
    _fails(["colorize", str(junk), str(out)], capsys, "cannot read", "as a video")
    half = tmp_path / "half.mp4"
    half.write_bytes(clip.read_bytes()[: clip.stat().st_size // 3])
    assert main(["colorize", str(half), str(out), "--no-progress"]) in (0, 2)
    err = capsys.readouterr()
    # either it is refused with a clear message, or the decodable part is written and the cut said
    assert ("error:" in err.err and not out.exists()) or "truncated" in err.out
    sound = tmp_path / "tone.m4a"
    import av

    with av.open(str(sound), "w") as o:
        a = o.add_stream("aac", rate=16000)
        f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        f.sample_rate, f.pts = 16000, 0
        for pk in list(a.encode(f)) + list(a.encode(None)):
            o.mux(pk)
    _fails(["colorize", str(sound), str(tmp_path / "o.mp4")], capsys, "has no video stream")
    _fails(["colorize", str(tmp_path / "missing.mp4"), str(out)], capsys, "no file at")
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_zero_frames(tmp_path, capsys):
    import av

    empty = tmp_path / "empty.mkv"
    with av.open(str(empty), "w") as o:
        v = o.add_stream("libx264", rate=12)
        v.width, v.height, v.pix_fmt = 32, 32, "yuv420p"
    out = tmp_path / "out.mp4"
    _fails(["colorize", str(empty), str(out), "--no-progress"], capsys, "no", "frames")
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_variable_rate_ten_bit_and_odd_sizes(pan, tmp_path, capsys):
    vfr = tmp_path / "vfr.mkv"
    pts = [0, 1, 2, 4, 7, 8, 9, 12, 13, 20, 21, 22]
    save_clip(vfr, pan.frames, 12, pts=pts, time_base=1 / 12)
    out = tmp_path / "vfr_out.mkv"
    assert main(["colorize", str(vfr), str(out), "--no-progress"]) == 0
    got = [f.time_s for f in read_clip(out)]
    assert np.allclose(got, np.array(pts) / 12, atol=0.002)           # every frame keeps its time
    ten = tmp_path / "ten.mkv"
    save_clip(ten, pan.frames, 12, codec="ffv1", pix_fmt="yuv420p10le")
    out = tmp_path / "ten_out.mp4"
    assert main(["colorize", str(ten), str(out), "--no-progress"]) == 0
    assert "more than 8 bits" in capsys.readouterr().out and len(_frames(out)) == N
    odd = tmp_path / "odd.mp4"
    save_clip(odd, [f[:47, :63] for f in pan.frames], 12)
    out = tmp_path / "odd_out.mp4"
    assert main(["colorize", str(odd), str(out), "--no-progress"]) == 0
    info = probe(out)
    assert (info.width, info.height, info.pix_fmt) == (63, 47, "yuv444p")
    assert "odd size" in capsys.readouterr().out


def test_out_equal_to_in_and_a_hint_beyond_the_end(clip, tmp_path, capsys):
    before = clip.read_bytes()
    _fails(["colorize", str(clip), str(clip)], capsys, "is the input file")
    assert clip.read_bytes() == before
    out = tmp_path / "o.mp4"
    _fails(["colorize", str(clip), str(out), "--hint", "10,10,red@40", "--no-progress"], capsys,
           f"a hint is on frame 40, but the clip has {N} frames")
    _fails(["colorize", str(clip), str(out), "--hint", f"{W + 5},10,red@0", "--no-progress"], capsys,
           "outside the image")
    _fails(["colorize", str(clip), str(tmp_path / "o.png")], capsys, "is a video")
    assert not out.exists()


def test_disk_full_leaves_no_output(clip, tmp_path, capsys, monkeypatch):
    out = tmp_path / "colour.mp4"
    out.write_bytes(b"the user's old file")
    real = vio.ClipWriter.write
    calls = {"n": 0}

    def enospc(self, *a, **k):
        calls["n"] += 1
        if calls["n"] >= 3:
            self._raise_write(OSError(errno.ENOSPC, "No space left on device"))
        return real(self, *a, **k)

    monkeypatch.setattr(vio.ClipWriter, "write", enospc)      # the muxer's ENOSPC, at the third frame
    _fails(["colorize", str(clip), str(out), "--no-progress"], capsys, "disk is full",
           "nothing was written under that name")
    assert out.read_bytes() == b"the user's old file"
    assert not list(tmp_path.glob(".*partial*"))


def test_a_real_write_failure_midway_leaves_no_output(clip, tmp_path):
    """The operating system refuses the write past 20 kB (RLIMIT_FSIZE, what a full disk does
    to a writer): the command fails with a message and leaves neither OUT nor a temporary file."""
    import subprocess
    import sys

    out = tmp_path / "big.mp4"
    big = tmp_path / "big_in.mp4"
    rng = np.random.default_rng(0)
    save_clip(big, [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(N)], 12)   # noise: large
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
            "from lessons_lib.cli import main\n"
            f"sys.exit(main(['colorize', {str(big)!r}, {str(out)!r}, '--no-progress']))\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and f"cannot write {out}" in r.stderr, r.stderr[-800:]
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_a_hint_on_a_middle_frame_reaches_both_ends(photos, tmp_path):
    """Tracked backwards to frame 0 and forwards to the last frame (the first pass keeps only
    the frames up to the hint's, then tracks on one frame at a time)."""
    import cv2

    clip = make_clip(photos[0], "pan", frames=N, size=(W, H), speed=1.5)
    path = tmp_path / "pan.mp4"
    save_clip(path, clip.frames, 12)
    k, x, y = N // 2, 48.0, 36.0
    out = tmp_path / "mid.mp4"
    assert main(["colorize", str(path), str(out), "--no-progress", "--hint", f"{x:g},{y:g},#00c000@{k}"]) == 0
    frames = _frames(out)
    d = clip.flows[0][36, 48]                                      # F_{t,t-1} of the pan: the same everywhere
    for t in (0, N - 1):
        px, py = x + (k - t) * d[0], y + (k - t) * d[1]            # back: p + F per step; forward: p - F
        lab = cv2.cvtColor(frames[t], cv2.COLOR_RGB2Lab).astype(float)
        green = -(lab[int(py) - 2:int(py) + 3, int(px) - 2:int(px) + 3, 1] - 128).mean()
        assert green > 10, (t, px, py, green)


def test_a_flood_of_hints_is_refused_before_any_work(clip, tmp_path, capsys):
    """The photos' hint cap (500) holds for a clip too: the CLI, and colorize_frames (the lesson's path)."""
    import json
    import time

    from lessons_lib.data.hints import MAX_HINTS

    many = tmp_path / "many.json"
    many.write_text(json.dumps([{"x": 1, "y": 1, "color": "#c0392b", "frame": 0}] * (MAX_HINTS + 1)))
    out = tmp_path / "out.mp4"
    t0 = time.perf_counter()
    assert main(["colorize", str(clip), str(out), "--hints", str(many), "--no-progress"]) == 2
    assert time.perf_counter() - t0 < 5 and not out.exists()
    err = capsys.readouterr().err
    assert f"too many hints: {MAX_HINTS + 1} given, the limit is {MAX_HINTS}" in err and "Traceback" not in err
    with pytest.raises(LessonsError, match="too many hints"):
        next(colorize_frames([np.zeros((8, 8, 3), np.uint8)], object(),
                             hints={0: [FrameHint(1, 1, "#c0392b", 0)] * (MAX_HINTS + 1)}))
