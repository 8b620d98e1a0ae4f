"""`lessons train`: list, train on synthetic data, model card with the command, resume, errors."""
from __future__ import annotations

import json
import sys

import pytest
import torch

from lessons_lib.cli import main
from lessons_lib.recipes import list_recipes

TINY = ["--data", "synthetic", "--size", "32", "--batch-size", "4",
        "--set", "g_base=8", "--set", "d_base=8", "--set", "limit=8", "--set", "val_limit=4",
        "--set", "sample_every=-1", "--set", "progress=false"]


# tiny nets: one torch thread per test (the shared fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def test_list_prints_every_recipe_on_one_line(capsys):
    assert main(["train", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list_recipes()
    assert "NIN-MLP PatchGAN" in next(line for line in lines if line.startswith("seed000_full "))


def test_train_two_steps_writes_model_and_card(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    argv = ["train", "seed003_gan_bn", *TINY, "--steps", "2", "--out", str(out), "--seed", "5", "--lr", "1e-3",
            "--device", "cpu"]
    monkeypatch.setattr(sys, "argv", ["lessons", *argv])  # as the console script sees it
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "trained seed003_gan_bn for 2 steps" in printed and "model:" in printed
    assert (out / "model.safetensors").exists() and (out / "checkpoint.pt").exists()
    card = json.loads((out / "model.json").read_text())
    assert card["command"].startswith("lessons train seed003_gan_bn --data synthetic --size 32")
    assert "--set g_base=8" in card["command"] and card["command"].endswith("--device cpu")
    assert card["recipe"] == "seed003_gan_bn" and card["data"] == "synthetic" and card["size"] == 32
    assert card["steps"] == 2
    rc = card["recipe_config"]
    assert rc["lr"] == 1e-3 and rc["g_base"] == 8 and rc["train"]["seed"] == 5 and rc["train"]["steps"] == 2
    assert card["train_config"]["batch_size"] == 4
    assert "psnr" in card["metrics"]  # validated at the end on the 4 test images
    assert card["hardware"]["device"] == "cpu"
    # the exported generator loads back (safetensors + card) and colorizes a gray batch
    from lessons_lib.checkpoints import load_model

    model, loaded = load_model(out / "model.safetensors", expect_arch="unet")
    assert loaded["recipe"] == "seed003_gan_bn" and loaded["g_input"] == "gray3"
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["step", "epoch", "lr_D", "lr_G"] and "G_l1" in header


def test_resume_reads_the_run_back_and_extends_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "seed003_unet", *TINY, "--steps", "2", "--out", str(out)]) == 0
    # only the new length: data, size, widths... come from the checkpoint
    assert main(["train", "seed003_unet", "--out", str(out), "--resume", "--steps", "4"]) == 0
    captured = capsys.readouterr()
    assert "resumed" in captured.err and "trained seed003_unet for 4 steps" in captured.out
    card = json.loads((out / "model.json").read_text())
    assert card["steps"] == 4 and card["recipe_config"]["g_base"] == 8 and card["data"] == "synthetic"
    assert card["command"].startswith("lessons train seed003_unet --steps 4 --out") and "--resume" in card["command"]
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["2", "4"]  # log_every 25: a row at the end of each run
    # the same folder with another recipe
    assert main(["train", "seed003_gan", "--out", str(out), "--resume", "--steps", "6"]) == 2
    assert "holds a run of recipe 'seed003_unet'" in capsys.readouterr().err


def test_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["train", "pix3pix", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown recipe 'pix3pix'; choose one of: gan_toy, dcgan, pix2pix")
    assert main(["train", "pix2pix", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["train", "pix2pix", "--set", "lamda_l1=3", "--steps", "1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown option(s) 'lamda_l1'" in err and "lambda_l1" in err
    assert main(["train", "pix2pix", "--set", "lambda_l1", "--out", str(tmp_path / "x")]) == 2
    assert "--set expects KEY=VALUE" in capsys.readouterr().err
    assert main(["train", "pix2pix", "--set", "discriminator=mlp", "--out", str(tmp_path / "x")]) == 2
    assert "choose one of: patchgan, nin_patchgan, image, None" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "--list" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: --steps and --epochs exclude each other
        main(["train", "pix2pix", "--steps", "1", "--epochs", "2"])
    assert not (tmp_path / "x").exists()


def test_set_values_are_typed(tmp_path):
    from lessons_lib.cli import _parse_value

    assert _parse_value("3") == 3 and _parse_value("0.5") == 0.5 and _parse_value("null") is None
    assert _parse_value("None") is None and _parse_value("true") is True and _parse_value("[1, 2]") == [1, 2]
    assert _parse_value("nin_patchgan") == "nin_patchgan"
