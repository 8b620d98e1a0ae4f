"""Issue 26: one safe image loader (lessons_lib.data.load_image) for the command line, the demo
and the data sources. Each protection is checked through the loader and through `lessons colorize`
(the shipped default model on the CPU): palette, 16 bits, EXIF orientation, the pixel limit read
from the header, decompression bombs, the full-size-conversion limit, and shrinking while decoding."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bomb_images import png_header as _png_header
from lessons_lib import LessonsError
from lessons_lib.cli import main
from lessons_lib.data import load_image
from lessons_lib.data.images import DEFAULT_MAX_FULL_PIXELS

pytestmark = pytest.mark.usefixtures("one_thread")


def _colorize(src: Path, tmp_path: Path, capsys) -> tuple[int, str, Path]:
    out = tmp_path / f"{src.stem}_out.png"
    rc = main(["colorize", str(src), str(out), "--device", "cpu"])
    return rc, capsys.readouterr().err, out


def test_palette_image(tmp_path, capsys):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, 15:] = (200, 30, 40)
    p = tmp_path / "palette.png"
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(p)
    assert Image.open(p).mode == "P"
    img = load_image(p)
    assert img.mode == "RGB" and img.getpixel((20, 5)) == (200, 30, 40) and img.getpixel((2, 5)) == (0, 0, 0)
    rc, err, out = _colorize(p, tmp_path, capsys)
    assert rc == 0, err
    assert Image.open(out).size == (30, 20)


def test_sixteen_bit_image(tmp_path, capsys):
    a = np.linspace(0, 65535, 40 * 30).reshape(30, 40).astype(np.uint16)
    p = tmp_path / "deep.png"
    Image.fromarray(a).save(p)
    assert Image.open(p).mode.startswith("I;16")
    img = np.asarray(load_image(p))
    assert img.dtype == np.uint8 and img[0, 0, 0] == 0 and img[-1, -1, 0] == 255    # scaled, not clipped
    rc, err, out = _colorize(p, tmp_path, capsys)
    assert rc == 0, err
    assert Image.open(out).size == (40, 30)


def test_exif_orientation(tmp_path, capsys):
    exif = Image.Exif()
    exif[0x0112] = 6                       # display after rotating 90 degrees clockwise
    p = tmp_path / "phone.jpg"
    Image.new("RGB", (48, 24), (90, 120, 200)).save(p, exif=exif.tobytes(), quality=95)
    assert load_image(p).size == (24, 48)
    rc, err, out = _colorize(p, tmp_path, capsys)
    assert rc == 0, err
    assert Image.open(out).size == (24, 48)                    # the photo as it is shown, upright


def test_pixel_limit_is_read_from_the_header(tmp_path, capsys):
    p = _png_header(tmp_path / "big.png", 15000, 10000)      # 150 Mpx, no pixel data: never decoded
    with pytest.raises(LessonsError, match=r"15000x10000 = 150,000,000 pixels, more than the limit of 50,000,000"):
        load_image(p)
    rc, err, _ = _colorize(p, tmp_path, capsys)
    assert rc == 2 and "150,000,000 pixels, more than the limit of 120,000,000" in err
    assert "Traceback" not in err


def test_decompression_bomb(tmp_path, capsys):
    p = _png_header(tmp_path / "bomb.png", 40000, 40000)     # past Pillow's own bomb limit
    with pytest.raises(LessonsError, match="too large to decode safely .*the loader accepts at most 50,000,000 pixels"):
        load_image(p)
    rc, err, _ = _colorize(p, tmp_path, capsys)
    assert rc == 2 and "bomb.png is too large to decode safely" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def deep_large(tmp_path_factory) -> Path:
    """A 16-bit 7000 x 6000 PNG: 42 Mpx that must be converted at full size (~30 bytes a pixel)."""
    p = tmp_path_factory.mktemp("deep") / "deep_large.png"
    Image.fromarray(np.zeros((6000, 7000), np.uint16)).save(p, compress_level=1)
    return p


def test_full_size_conversions_are_bounded(deep_large, tmp_path, capsys):
    assert 7000 * 6000 > DEFAULT_MAX_FULL_PIXELS
    with pytest.raises(LessonsError, match=r"7000x6000 image of mode I;16.*the loader accepts at most 40 Mpx"):
        load_image(deep_large)
    rc, err, _ = _colorize(deep_large, tmp_path, capsys)
    assert rc == 2 and "at most 40 Mpx" in err and "save it as an 8-bit PNG or a JPEG" in err


def test_shrinks_while_decoding_and_says_so(tmp_path):
    p = tmp_path / "wide.jpg"
    Image.new("RGB", (4000, 3000), (10, 200, 30)).save(p, quality=90)
    notes: list[str] = []
    img = load_image(p, max_side=500, notes=notes)
    assert img.size == (500, 375)
    assert notes == ["Your 4000x3000 photo was shrunk to 500x375 (the loader works on at most 500 px on the "
                     "long side, to bound its memory)."]
    assert load_image(p).size == (4000, 3000)                 # no max_side: full size (the command line)
