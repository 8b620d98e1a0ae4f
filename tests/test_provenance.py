"""Issue 23: every image `lessons colorize` and `lessons restore` write carries a note in its
PNG metadata: the model, the version, and "colorized by a model" / "restored by a model"."""
from __future__ import annotations

import pytest
from PIL import Image

from lessons_lib.cli import main
from lessons_lib.data import synthetic_image, tensor_to_image
from lessons_lib.pipeline import Colorizer
from lessons_lib.pipeline.base import PROVENANCE_KEYS, provenance_of, save_image
from lessons_lib.zoo import resolve_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def photo(tmp_path):
    path = tmp_path / "photo.png"
    tensor_to_image(synthetic_image(0, 64, seed=3)).resize((90, 60)).save(path)
    return path


def _text(path):
    with Image.open(path) as im:
        im.load()
        return dict(im.text)


def test_lessons_colorize_writes_the_note(photo, tmp_path):
    out = tmp_path / "colour.png"
    assert main(["colorize", str(photo), str(out), "--device", "cpu"]) == 0
    note = _text(out)
    assert set(PROVENANCE_KEYS) <= set(note), note
    assert note["Description"].startswith("colorized by a model: nogan") and "not a record" in note["Description"]
    assert note["Model"] == "nogan" and "gan-lessons" in note["Version"] and "sha256" in note["Version"]
    hinted = tmp_path / "hinted.png"
    assert main(["colorize", str(photo), str(hinted), "--hint", "10,10,red", "--device", "cpu"]) == 0
    assert _text(hinted)["Model"] == "hints (1 hints)"


def test_lessons_restore_writes_the_note(tmp_path):
    face = tmp_path / "face.png"
    tensor_to_image(synthetic_image(1, 64, seed=5)).save(face)
    out = tmp_path / "sharp.png"
    assert main(["restore", str(face), str(out), "--device", "cpu"]) == 0
    note = _text(out)
    assert note["Description"].startswith("restored by a model: restorer (") and "gan-lessons" in note["Version"]
    xr = tmp_path / "xr.png"
    assert main(["restore", str(face), str(xr), "--output", "x_R", "--device", "cpu"]) == 0
    assert _text(xr)["Model"] == "restorer (x_R)"


def test_the_pipeline_marks_its_output_and_a_jpeg_keeps_a_comment(photo, tmp_path):
    colorizer = Colorizer(resolve_model("colorization", "pix2pix"), device="cpu")
    out = colorizer(photo)
    assert provenance_of(out)["Description"].startswith("colorized by a model: pix2pix")
    jpg = tmp_path / "c.jpg"
    save_image(out, jpg, quality=90)
    with Image.open(jpg) as im:
        assert b"colorized by a model" in im.info.get("comment", b"")
        assert "colorized by a model" in im.getexif()[0x010E]
