"""The demo's Video tab (issue 24): through its API with gradio_client, and in headless Chromium."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio")

from gradio_client import Client, handle_file  # noqa: E402

from demo import video_tab  # noqa: E402
from lessons_lib.data import open_source  # noqa: E402
from lessons_lib.video.io import probe, read_clip  # noqa: E402
from lessons_lib.video.synthetic import make_clip, save_clip  # noqa: E402

TIMEOUT = 300
W, H, N = 96, 72, 10


@pytest.fixture(scope="module")
def url(demo_url):
    return demo_url                 # conftest.py: the demo served on 127.0.0.1 for this module


@pytest.fixture(scope="module")
def client(url):
    return Client(url, verbose=False)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    photo = np.asarray(open_source("samples", "train")[1].convert("RGB"))
    c = make_clip(photo, "pan", frames=N, size=(W, H), speed=1.5)
    path = tmp_path_factory.mktemp("video") / "pan.mp4"
    save_clip(path, c.frames, 10, tone_hz=330)
    return path


def _video_path(v) -> str:
    return v["video"] if isinstance(v, dict) else v


def _chroma(rgb) -> float:
    import cv2

    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).astype(np.float32)
    return float(np.hypot(lab[..., 1] - 128, lab[..., 2] - 128).mean())


def test_api_colorizes_a_clip_and_returns_its_gray_version(client, clip):
    gray, colour, status = client.submit(handle_file(str(clip)), True, [],
                                         api_name="/colorize_video").result(timeout=TIMEOUT)
    g, c = _video_path(gray), _video_path(colour)
    assert f"**{N} frames**" in status and "temporal method **on**" in status, status
    for path in (g, c):
        info = probe(path)
        assert (info.width, info.height, info.audio) == (W, H, "aac") and info.codec == "h264"
    gframes, cframes = [f.rgb for f in read_clip(g)], [f.rgb for f in read_clip(c)]
    assert len(gframes) == len(cframes) == N
    assert _chroma(gframes[2]) < 1.5 < _chroma(cframes[2])


def test_api_carries_a_hint_and_switches_the_temporal_method_off(client, clip):
    hints = [{"x": 48, "y": 36, "color": "#1040d0", "frame": 0}]
    _, colour, status = client.submit(handle_file(str(clip)), False, hints,
                                      api_name="/colorize_video").result(timeout=TIMEOUT)
    assert "temporal method **off**" in status and "1 hint(s)" in status, status
    first = next(iter(read_clip(_video_path(colour)))).rgb
    import cv2

    lab = cv2.cvtColor(first, cv2.COLOR_RGB2Lab).astype(float)
    assert lab[33:40, 45:52, 2].mean() - 128 < -8                     # blue: b* well below 0 at the hint


def test_limits_are_stated_and_enforced(client, clip, tmp_path, monkeypatch):
    assert "20 s" in video_tab.LIMITS and "720p" in video_tab.LIMITS and "lessons colorize" in video_tab.LIMITS
    long = tmp_path / "long.mp4"
    save_clip(long, [np.zeros((16, 16, 3), np.uint8)] * 3, fps=0.1)              # 3 frames = 30 s
    _, _, status = client.submit(handle_file(str(long)), True, [],
                                 api_name="/colorize_video").result(timeout=TIMEOUT)
    assert "limit here is 20 s" in status and "trim it, or use `lessons colorize`" in status, status
    big = tmp_path / "big.mp4"
    save_clip(big, [np.zeros((724, 1288, 3), np.uint8)] * 2, fps=10)
    _, _, status = client.submit(handle_file(str(big)), True, [],
                                 api_name="/colorize_video").result(timeout=TIMEOUT)
    assert "limit here is 720p" in status, status
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(3000))
    _, _, status = client.submit(handle_file(str(junk)), True, [],
                                 api_name="/colorize_video").result(timeout=TIMEOUT)
    assert "Could not do that" in status and "as a video" in status, status
    _, _, status = client.submit(handle_file(str(clip)), True, [{"x": 1, "y": 1, "color": "red",
                                                                             "frame": 99}],
                                 api_name="/colorize_video").result(timeout=TIMEOUT)
    assert "a hint is on frame 99" in status, status


def test_hint_helpers(clip):
    hints = video_tab.add_hint([], 10.4, 20.6, "navy", 3)
    assert hints == [{"x": 10, "y": 21, "color": "#000080", "frame": 3}]
    img = video_tab.hint_frame(clip, 3, hints)
    assert img.size == (W, H) and img.getpixel((10, 21)) == (0, 0, 128)
    assert video_tab.hint_frame(clip, 2, hints).getpixel((10, 21)) != (0, 0, 128)   # only on its frame


# --------------------------------------------------------------------------- the browser
CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
def test_video_tab_in_the_browser(url, clip):
    if not CHROMIUM.exists():
        if os.environ.get("LESSONS_REQUIRE_BROWSER", "").strip() == "1":
            pytest.fail(f"{CHROMIUM} is not installed, and LESSONS_REQUIRE_BROWSER=1 asks for the browser test")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync = pytest.importorskip("playwright.sync_api")
    with sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM),
                              args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = b.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(120_000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_role("tab", name="Video").click()
            assert "20 s" in page.locator("#video-limits").inner_text()
            page.locator("#video-input input[type=file]").set_input_files(str(clip))
            page.locator("#video-status").get_by_text("Click on the frame", exact=False).wait_for()
            page.wait_for_function("() => { const i = document.querySelector('#video-view img');"
                                   " return i && i.complete && i.naturalWidth > 0; }")
            img = page.locator("#video-view img")
            box = img.bounding_box()
            img.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
            page.locator("#video-status").get_by_text("1 hint(s)", exact=False).wait_for()
            page.click("#video-button")
            page.locator("#video-status").get_by_text("frames**", exact=False).or_(
                page.locator("#video-status").get_by_text("colorized by", exact=False)).first.wait_for()
            page.wait_for_function("() => document.querySelectorAll('#video-output video').length > 0 && "
                                   "document.querySelectorAll('#video-gray video').length > 0")
            status = page.locator("#video-status").inner_text()
            assert "colorized by" in status and "1 hint(s) carried" in status, status
            assert not errors, errors
        finally:
            b.close()
