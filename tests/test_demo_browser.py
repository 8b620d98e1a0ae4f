"""The demo in a real browser: Debian's Chromium, driven by Playwright (never a downloaded one).

A user's path through each tab: upload a bundled photo (Colorize) or click an example
(Restore), press the buttons, wait for the result images, take a screenshot (into
tmp_path; with ``LESSONS_SAVE_SCREENSHOT=1`` also ``docs/demo_colorize.png`` and
``docs/demo_restore.png``, the README's pictures).

Without ``/usr/bin/chromium`` (or the playwright package) the tests are skipped with the
reason, unless ``LESSONS_REQUIRE_BROWSER=1`` (set by the CI script): then they fail.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REQUIRE = os.environ.get("LESSONS_REQUIRE_BROWSER", "").strip() == "1"
SAVE = os.environ.get("LESSONS_SAVE_SCREENSHOT", "").strip() == "1"
DOCS = Path(__file__).resolve().parents[1] / "docs"
WAIT_MS = 120_000  # the longest wait for one step (the page, a result)


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason}, and LESSONS_REQUIRE_BROWSER=1 asks for the browser test")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def url(demo_url):
    return demo_url                 # conftest.py: the demo served on 127.0.0.1 for this module


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def photos() -> dict[str, str]:
    from lessons_lib.data.sources import open_source

    src = open_source("samples", "val")
    return {src.label(i): src.path(i) for i in range(len(src))}


def _page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 960})
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="domcontentloaded")
    page.locator("#colorize-button").wait_for(state="visible")
    return page, errors


def _loaded(page, selector: str) -> None:
    """Wait until the image under ``selector`` is decoded (natural width > 0)."""
    page.wait_for_function(
        "sel => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0; }",
        arg=selector, timeout=WAIT_MS)


def _save(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if SAVE:
        from PIL import Image

        DOCS.mkdir(exist_ok=True)
        with Image.open(shot) as im:  # a small PNG for the README: half size, 256 colours
            small = im.convert("RGB").resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)
            small.quantize(256, dither=Image.Dither.NONE).save(DOCS / name, optimize=True)
    return shot


def test_colorize_in_the_browser(browser, url, photos, tmp_path):
    page, errors = _page(browser, url)
    page.locator("#colorize-input input[type=file]").set_input_files(photos["astronaut"])
    _loaded(page, "#colorize-input img")
    page.click("#colorize-button")
    page.locator("#colorize-status").get_by_text("Colorized", exact=True).wait_for()
    _loaded(page, "#colorize-slider img")
    assert page.locator("#colorize-status").get_by_text("PSNR").count() >= 1
    page.click("#colorize-many-button")
    page.locator("#colorize-many-status").get_by_text("colouring", exact=False).first.wait_for()
    _loaded(page, "#colorize-gallery img")
    _save(page, tmp_path, "demo_colorize.png")
    assert not errors, errors
    page.close()


def test_colorgan_colourings_in_the_browser(browser, url, photos, tmp_path):
    """Pick ColorGAN in the model list and ask for 4 colourings of one photo."""
    page, errors = _page(browser, url)
    page.locator("#colorize-input input[type=file]").set_input_files(photos["chelsea"])
    _loaded(page, "#colorize-input img")
    page.locator("#colorize-model input").click()
    page.get_by_role("option").filter(has_text="colorgan").first.click()
    page.click("#colorize-many-button")
    page.locator("#colorize-many-status").get_by_text("colourings", exact=False).first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('#colorize-gallery img').length >= 4", timeout=WAIT_MS)
    status = page.locator("#colorize-many-status").inner_text()
    assert "by colorgan" in status and "4 colourings" in status, status
    _save(page, tmp_path, "demo_colourings.png")
    assert not errors, errors
    page.close()


def test_restore_in_the_browser(browser, url, photos, tmp_path):
    page, errors = _page(browser, url)
    page.get_by_role("tab", name="Restore").click()
    page.get_by_text("grace_hopper", exact=True).click()  # a bundled example, not an upload
    _loaded(page, "#restore-input img")
    page.click("#restore-button")
    page.locator("#restore-status").get_by_text("Restored", exact=True).wait_for()
    for part in ("blurred", "x_R", "x_G", "x_hat"):
        _loaded(page, f"#restore-{part} img")
    _save(page, tmp_path, "demo_restore.png")
    assert not errors, errors
    page.close()


def _set_picker(page, hex_colour: str) -> None:
    """Set the Colour hints tab's colour picker the way a visitor does: open it, type the hex
    code, confirm."""
    picker = page.locator("#hints-colour")
    picker.locator("button").first.click()
    box = page.locator("#hints-colour input[type=text]").first
    box.fill(hex_colour)
    box.press("Enter")
    page.keyboard.press("Escape")


def _image_bytes(page, selector: str) -> bytes:
    src = page.locator(selector).get_attribute("src")
    return page.request.get(src).body()


def test_place_two_hints_by_clicking(browser, url, photos, tmp_path):
    """Colour hints tab: pick a colour, click on the photo, twice; the result's colour around
    each click is the hint's colour (hue within 35 degrees, clearly saturated)."""
    import io
    import math

    import numpy as np
    import torch
    from PIL import Image

    from lessons_lib.color import rgb_uint8_to_lab

    page, errors = _page(browser, url)
    page.get_by_role("tab", name="Colour hints").click()
    page.locator("#hints-input input[type=file]").set_input_files(photos["coffee"])
    page.locator("#hints-status").get_by_text("no hints", exact=False).wait_for()
    _loaded(page, "#hints-view img")
    page.get_by_text("the picker's colour", exact=True).click()
    hints = [((540, 200), "#1040d0"), ((110, 260), "#20a040")]   # the wooden table blue, the saucer green
    for n, ((x, y), colour) in enumerate(hints, 1):
        _set_picker(page, colour)
        img = page.locator("#hints-view img")
        box = img.bounding_box()
        natural = page.evaluate("sel => [document.querySelector(sel).naturalWidth, "
                                "document.querySelector(sel).naturalHeight]", "#hints-view img")
        img.click(position={"x": x * box["width"] / natural[0], "y": y * box["height"] / natural[1]})
        page.locator("#hints-status").get_by_text(f"and {n} hint", exact=False).wait_for()
        _loaded(page, "#hints-result img")
    result = np.asarray(Image.open(io.BytesIO(_image_bytes(page, "#hints-result img"))).convert("RGB"))
    for (x, y), colour in hints:
        patch = result[y - 6:y + 7, x - 6:x + 7]
        lab = rgb_uint8_to_lab(torch.from_numpy(patch.transpose(2, 0, 1).copy())[None])
        a, b = float(lab[0, 1].mean()), float(lab[0, 2].mean())
        want = rgb_uint8_to_lab(torch.tensor([int(colour[i:i + 2], 16) for i in (1, 3, 5)],
                                             dtype=torch.uint8).view(1, 3, 1, 1))[0, 1:, 0, 0].tolist()
        gap = abs(math.degrees(math.atan2(b, a) - math.atan2(want[1], want[0]))) % 360
        assert min(gap, 360 - gap) < 35 and math.hypot(a, b) > 15, (colour, a, b, want)
    table = page.locator("#hints-table").inner_text()
    assert "#1040d0" in table and "#20a040" in table
    _save(page, tmp_path, "demo_hints.png")
    assert not errors, errors
    page.close()
