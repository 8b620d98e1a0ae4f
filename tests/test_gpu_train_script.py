"""benchmarks/gpu_train.py - the one command that trains every shipped model on a GPU -
checked on the CPU with its --quick mode (tiny nets, synthetic images, 2 steps a stage)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_train_quick_on_the_cpu_trains_measures_and_ships(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "gpu.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_train.py"), "--quick", "--device", "cpu",
         "--only", "pix2pix,nogan", "--runs", str(tmp_path / "runs"), "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    stages = [(r["model"], r["stage"]) for r in report["rows"]]
    assert stages == [("pix2pix", "pix2pix"), ("nogan", "nogan_pretrain"), ("nogan", "nogan")]
    for r in report["rows"]:
        assert r["steps"] == 2 and r["images_per_s"] > 0 and r["gflop_per_step"] > 0
        assert r["mfu"] is None                       # no peak to compare with on a CPU
    # the GAN phase's FLOPs are counted with G and D both learning, not the D-only warm-up
    pre, gan = report["rows"][1]["gflop_per_step"], report["rows"][2]["gflop_per_step"]
    assert gan > 0.5 * pre
    assert "MFU" in proc.stdout and "all models, calibration and shipping included" in proc.stdout
    for name in ("pix2pix", "nogan", "nogan_warm"):       # the warm start: the GPU run's phase 1
        card = json.loads((tmp_path / "runs" / "weights" / f"{name}.json").read_text())
        assert card["dtype"] == "float16"
        assert card["shipped"]["command"].startswith("python benchmarks/gpu_train.py")
        assert "synthetic" in card["shipped"]["metrics_heldout"]


def test_gpu_train_quick_trains_and_ships_the_class_head(tmp_path):
    """--only classes: the colour-class head (issue 25) is trained and measured, validated on
    the select set, and the model its rule chose is shipped with its T."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "gpu.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_train.py"), "--quick", "--device", "cpu",
         "--only", "classes", "--runs", str(tmp_path / "runs"), "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["model"], r["stage"], r["steps"]) for r in rows] == [("classes", "classes", 2)]
    assert rows[0]["images_per_s"] > 0 and rows[0]["gflop_per_step"] > 0
    card = json.loads((tmp_path / "runs" / "classes" / "selected.json").read_text())
    assert card["head"] == "classes" and card["select"]["validation"] is True
    assert card["selection"]["temperature"] == card["classes"]["temperature"]
    shipped = json.loads((tmp_path / "runs" / "weights" / "classes.json").read_text())
    assert shipped["classes"]["temperature"] == card["classes"]["temperature"]
    assert shipped["classes"]["correction"] == card["classes"]["correction"]
    assert shipped["shipped"]["training"]["selection"]["step"] == card["selection"]["step"]
