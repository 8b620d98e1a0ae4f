"""`lessons train` for the four restorer stages, `lessons restore` and `lessons eval restore`, end to end."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lessons_lib.cli import main
from lessons_lib.data import synthetic_image, tensor_to_image

COMMON = ["--data", "synthetic", "--size", "32", "--batch-size", "4", "--steps", "1", "--device", "cpu",
          "--set", "limit=8", "--set", "val_limit=4", "--set", "sample_every=-1", "--set", "progress=false"]
BLUR = ["--set", "n_kernels=16"]  # every stage but the generative prior blurs faces
SMALL = {
    "nafnet": ["--set", "width=4", "--set", "enc_blocks=[1, 1]", "--set", "dec_blocks=[1, 1]"],
    "stylegan2": ["--set", "z_dim=16", "--set", "w_dim=16", "--set", "n_mlp=2", "--set", "channel_base=256",
                  "--set", "channel_max=16", "--set", "eval_every=-1"],
    "inversion": ["--set", "encoder_width=8", "--set", "encoder_max_channels=16", "--set", "eval_every=-1"],
    "fusion": ["--set", "width=8", "--set", "n_blocks=2", "--set", "eval_every=1"],
}


# tiny nets: one torch thread per test (the shared fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """The four stages trained with `lessons train`, chained by --set *_weights=, as a user would."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    for stage in ("nafnet", "stylegan2", "inversion", "fusion"):
        args = ["train", stage, *COMMON, *SMALL[stage], *(BLUR if stage != "stylegan2" else []),
                "--out", str(root / stage)]
        if stage == "inversion":
            args += ["--set", f"nafnet_weights={root / 'nafnet'}", "--set", f"stylegan2_weights={root / 'stylegan2'}"]
        if stage == "fusion":
            args += ["--set", f"nafnet_weights={root / 'nafnet'}", "--set", f"inversion_weights={root / 'inversion'}"]
        assert main(args) == 0, stage
    return root


@pytest.fixture()
def photo(tmp_path) -> Path:
    path = tmp_path / "face.png"
    tensor_to_image(synthetic_image(0, 64, seed=3)).resize((37, 53)).save(path)
    return path


def test_the_fusion_run_writes_a_bundle_and_restore_keeps_the_size(runs, photo, tmp_path, capsys):
    bundle = runs / "fusion" / "restorer"
    assert (bundle / "restorer.json").is_file()
    out = tmp_path / "sub" / "restored.png"
    assert main(["restore", str(photo), str(out), "--weights", str(bundle), "--device", "cpu"]) == 0
    said = capsys.readouterr().out
    assert f"wrote {out} (37x53): x_hat of the fusion restorer at 32 px" in said
    with Image.open(out) as img:
        assert img.size == (37, 53) and img.mode == "RGB"
        restored = np.asarray(img)
    # the other outputs, and the run folders of single stages
    for weights, output in ((bundle, "x_G"), (runs / "nafnet", "x_R"), (runs / "inversion", "x_G")):
        path = tmp_path / f"{output}.jpg"
        assert main(["restore", str(photo), str(path), "--weights", str(weights), "--output", output]) == 0
        with Image.open(path) as img:
            assert img.size == (37, 53) and img.format == "JPEG"
    assert not np.array_equal(restored, np.asarray(Image.open(photo).convert("RGB")))


def test_eval_restore_reports_every_stage(runs, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["eval", "restore", "--weights", str(runs / "fusion" / "restorer"), "--data", "synthetic",
                 "--size", "32", "--limit", "6", "--batch-size", "4", "--json", str(out), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "blurred input" in text and "x_hat (fusion)" in text and "not LPIPS" in text
    result = json.loads(out.read_text())
    assert {"weights", "stage", "data", "split", "size", "n_images", "kernel_bank", "perceptual_features",
            "labels", "blurred", "x_R", "x_G", "x_hat"} <= set(result)
    assert result["n_images"] == 6 and result["size"] == 32 and result["stage"] == "fusion"
    assert result["kernel_bank"]["n"] == 16 and result["kernel_bank"]["size"] == 5
    assert result["perceptual_features"].startswith(("kit", "vgg16"))
    for k in ("blurred", "x_R", "x_G", "x_hat"):
        assert {"psnr", "ssim", "perceptual", "sharpness", "lpips", "fid"} <= set(result[k]), k
        assert isinstance(result[k]["psnr"], float) and 0 < result[k]["ssim"] <= 1
    assert result["labels"]["perceptual"].endswith("not LPIPS)")
    # the same kernels every time: a second evaluation (other batches) gives the same numbers
    again = tmp_path / "again.json"
    assert main(["eval", "restore", "--weights", str(runs / "fusion" / "restorer"), "--data", "synthetic",
                 "--size", "32", "--limit", "6", "--json", str(again)]) == 0
    for k in ("blurred", "x_hat"):
        assert json.loads(again.read_text())[k]["psnr"] == pytest.approx(result[k]["psnr"], rel=1e-5)
    # a NAFNet run alone reports the blurred input and x_R only
    assert main(["eval", "restore", "--weights", str(runs / "nafnet"), "--data", "synthetic", "--limit", "4",
                 "--json", str(again)]) == 0
    assert {"blurred", "x_R"} <= set(json.loads(again.read_text())) and "x_G" not in json.loads(again.read_text())


def test_bad_weights_are_clear_errors(runs, photo, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "restorer.json").write_text(json.dumps({"format": "gan-lessons-restorer/1", "components": {}}))
    assert main(["restore", str(photo), str(tmp_path / "o.png"), "--weights", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "lists no nafnet, encoder, generator, fusion" in err
    assert "Traceback" not in err
    assert main(["restore", str(photo), str(tmp_path / "o.png"), "--weights", str(tmp_path / "none")]) == 2
    assert "no restorer at" in capsys.readouterr().err
    assert main(["restore", str(photo), str(tmp_path / "o.png"), "--model", "nope"]) == 2
    assert "unknown restoration model 'nope'; the shipped ones are: restorer" in capsys.readouterr().err
    assert main(["restore", str(photo), str(tmp_path / "o.png"), "--model", "pix2pix"]) == 2
    assert "unknown restoration model 'pix2pix'" in capsys.readouterr().err
    assert main(["restore", str(photo), str(tmp_path / "o.png"), "--model", "restorer", "--weights", "x"]) == 2
    assert "either --weights (your own run) or --model" in capsys.readouterr().err
    assert main(["restore", str(photo), str(tmp_path / "o.png"), "--weights", str(runs / "stylegan2")]) == 2
    assert "holds a stylegan2 model, not a restorer" in capsys.readouterr().err
    assert main(["restore", str(photo), str(tmp_path / "o.png"), "--weights", str(runs / "nafnet"),
                 "--output", "x_hat"]) == 2
    assert "output 'x_hat' is not available" in capsys.readouterr().err
    bad_image = tmp_path / "bad.png"
    bad_image.write_bytes(b"not an image")
    assert main(["restore", str(bad_image), str(tmp_path / "o.png"), "--weights", str(runs / "nafnet")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["eval", "restore", "--weights", str(runs / "nafnet"), "--data", "synthetic", "--json",
                 str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
