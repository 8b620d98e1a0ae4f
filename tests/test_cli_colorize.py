"""`lessons colorize` and `lessons eval colorize` end to end: a model trained by `lessons train`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lessons_lib.cli import main
from lessons_lib.data import synthetic_image, tensor_to_image

TINY = ["--data", "synthetic", "--size", "32", "--batch-size", "4", "--steps", "2", "--device", "cpu",
        "--set", "g_base=8", "--set", "d_base=8", "--set", "d_layers=2", "--set", "limit=8",
        "--set", "val_limit=4", "--set", "sample_every=-1", "--set", "eval_every=-1",
        "--set", "progress=false"]


# tiny nets: one torch thread per test (the shared fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run") / "pix2pix"
    assert main(["train", "pix2pix", *TINY, "--out", str(out)]) == 0
    assert (out / "model.safetensors").is_file()
    return out


@pytest.fixture()
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    tensor_to_image(synthetic_image(0, 64, seed=3)).resize((37, 53)).save(path)
    return path


def test_colorize_writes_an_image_of_the_input_size(run, photo, tmp_path, capsys):
    out = tmp_path / "new" / "dir" / "colour.jpg"  # parent folders are created
    assert main(["colorize", str(photo), str(out), "--weights", str(run), "--device", "cpu"]) == 0
    assert f"wrote {out} (37x53)" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.format == "JPEG" and img.mode == "RGB" and img.size == (37, 53)
    png = tmp_path / "colour.png"
    assert main(["colorize", str(photo), str(png), "--weights", str(run / "model.json"), "--seed", "4"]) == 0
    with Image.open(png) as img:
        assert img.format == "PNG" and img.size == (37, 53)
        assert not np.array_equal(np.asarray(img), np.asarray(Image.open(photo).convert("RGB")))


def test_colorize_chroma_option(run, photo, tmp_path, capsys):
    out = tmp_path / "gray.png"
    assert main(["colorize", str(photo), str(out), "--weights", str(run), "--chroma", "0"]) == 0
    arr = np.asarray(Image.open(out)).astype(int)
    assert np.abs(arr - arr[..., :1]).max() <= 1
    before = out.read_bytes()
    assert main(["colorize", str(photo), str(out), "--weights", str(run), "--chroma", "9"]) == 2
    assert "chroma must be between 0 (gray) and 3" in capsys.readouterr().err
    assert out.read_bytes() == before                      # the earlier result is left alone


def test_colorize_refuses_to_overwrite_its_input(run, photo, capsys):
    before = photo.read_bytes()
    assert main(["colorize", str(photo), str(photo), "--weights", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "refusing to overwrite" in err
    assert photo.read_bytes() == before
    # the same file under another spelling of its path
    other = str(photo.parent / "." / photo.name)
    assert main(["colorize", str(photo), other, "--weights", str(run)]) == 2
    assert photo.read_bytes() == before


@pytest.mark.parametrize("argv, message", [
    (["--weights", "{tmp}/missing"], "no model at"),
    (["--model", "nope"], "unknown colorization model 'nope'; the shipped ones are: pix2pix"),
])
def test_colorize_without_a_model(photo, tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["colorize", str(photo), str(tmp_path / "o.png"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "o.png").exists()


def test_colorize_unknown_output_format(run, photo, tmp_path, capsys):
    assert main(["colorize", str(photo), str(tmp_path / "o.xyz"), "--weights", str(run)]) == 2
    assert "unknown image format" in capsys.readouterr().err
    assert main(["colorize", str(photo), str(tmp_path / "noext"), "--weights", str(run)]) == 2
    assert "give it an extension" in capsys.readouterr().err


def test_corrupt_image_is_a_clean_error_without_traceback(run, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature and nothing valid
    # main() is the console script's entry point: anything but a LessonsError would escape it
    assert main(["colorize", str(bad), str(tmp_path / "o.png"), "--weights", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "broken.png is not a readable image" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_eval_colorize_prints_and_writes_every_metric(run, tmp_path, capsys):
    out = tmp_path / "res" / "eval.json"
    assert main(["eval", "colorize", "--weights", str(run), "--data", "synthetic", "--split", "val",
                 "--size", "32", "--limit", "5", "--batch-size", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "gray input" in printed and "SSIM" in printed and f"wrote {out}" in printed
    res = json.loads(out.read_text())
    assert res["n_images"] == 5 and res["split"] == "val" and res["size"] == 32 and res["data"] == "synthetic"
    for name in ("model", "gray_baseline"):
        rep = res[name]
        assert set(rep["mae_rgb"]) == {"R", "G", "B", "mean"} and set(rep["mae_ab"]) == {"a", "b", "mean"}
        for k in ("auc", "psnr", "ssim", "colorfulness", "colorfulness_gt", "colorfulness_gap"):
            assert isinstance(rep[k], float), (name, k)
        for k in ("lpips", "fid"):
            assert isinstance(rep[k], (float, str)), (name, k)
        assert 0.0 <= rep["auc"] <= 1.0
    # same photos for both columns
    assert res["model"]["colorfulness_gt"] == pytest.approx(res["gray_baseline"]["colorfulness_gt"])


def test_eval_errors_are_clean(run, tmp_path, capsys):
    assert main(["eval", "colorize", "--weights", str(tmp_path / "none"), "--data", "synthetic"]) == 2
    assert "no model at" in capsys.readouterr().err
    assert main(["eval", "colorize", "--weights", str(run), "--data", str(tmp_path / "nodata")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
