"""`lessons data list` and `lessons data show`, run in-process through lessons_lib.cli.main."""
from __future__ import annotations

import pytest
from PIL import Image

from lessons_lib.cli import main


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    """No data packs and an empty home: the listing depends on nothing outside the test."""
    monkeypatch.setenv("LESSONS_DATA", str(tmp_path / "no-packs-here"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_data_list_prints_sources_and_sizes(clean_env, capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "samples" in rows and "synthetic" in rows
    assert "train 256, val 64, test 64" in rows["synthetic"] and "yes" in rows["synthetic"]
    assert "bundled" in rows["samples"] and " yes " in rows["samples"]
    assert "torchvision" in rows["cifar10"] and " no " in rows["cifar10"]


def test_data_show_samples_writes_a_png_of_the_right_size(clean_env, capsys):
    out = clean_env / "g.png"
    assert main(["data", "show", "samples", "--out", str(out), "-n", "4", "--size", "32"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.size == (4 * 32 + 5 * 2, 32 + 2 * 2)  # 4 tiles in one row, 2-pixel padding


def test_data_show_default_grid_of_synthetic(clean_env):
    out = clean_env / "syn.png"
    assert main(["data", "show", "synthetic", "--out", str(out), "--split", "val", "--size", "16"]) == 0
    with Image.open(out) as img:
        assert img.size == (8 * 16 + 9 * 2, 2 * 16 + 3 * 2)  # n=16 by default: 2 rows of 8


def test_data_show_errors_are_clean(clean_env, capsys):
    assert main(["data", "show", "no-such-source", "--out", str(clean_env / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown image source 'no-such-source'") and "samples" in err
    assert "Traceback" not in err
    assert main(["data", "show", "cifar10", "--out", str(clean_env / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "error: cifar10 (train) is not on this machine" in err and "download" in err
    assert main(["data", "show", "samples", "--out", str(clean_env / "x.png"), "--split", "dev"]) == 2
    assert "unknown split 'dev'" in capsys.readouterr().err
    assert not (clean_env / "x.png").exists()
