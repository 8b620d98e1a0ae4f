"""The colour-class head (issue 25) end to end: the select split, the recipe's checks, the
warm start from a regression G, a tiny run that trains, exports, is chosen by the (checkpoint,
T) rule on the select set, loads in the Colorizer and decodes at two temperatures with
different colourfulness; the CLI's --temperature and its errors. Tiny nets: about a minute."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lessons_lib import LessonsError, zoo
from lessons_lib.checkpoints import read_card
from lessons_lib.colorization import Colorizer
from lessons_lib.data import image_to_tensor, open_source, sample_files, select_split
from lessons_lib.metrics import colorfulness
from lessons_lib.recipes import apply_overrides, build_task, get_recipe, run_recipe

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]


def _tiny(out, **kw):
    r = get_recipe("classes").smoke()
    base = dict(out=str(out), device="cpu", sample_every=-1, select_fraction=0.05, val_split="select")
    base.update(kw)
    return apply_overrides(r, **base)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """40 steps of batch 8 at 32 px on the synthetic source, validated once on the select set."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("classes") / "run"
    r = _tiny(out, steps=40, batch_size=8, lr=5e-3, eval_every=40, val_limit=None, limit=None,
              class_prior_images=32, temperatures=(1.0, 0.38, 0.1))
    return run_recipe(r)


def test_select_split_is_seeded_disjoint_and_per_pack():
    src = open_source("synthetic+samples", "train")
    n_syn, n_all = len(open_source("synthetic", "train")), len(src)
    train, select = select_split(src, 0.05)
    assert sorted(train + select) == list(range(n_all)) and not set(train) & set(select)
    assert sum(i < n_syn for i in select) == round(0.05 * n_syn)           # 13 of 256
    assert sum(i >= n_syn for i in select) == max(1, round(0.05 * (n_all - n_syn)))
    assert select_split(open_source("synthetic+samples", "train"), 0.05) == (train, select)
    assert select_split(src, 0.05, seed=1)[1] != select                    # the seed decides
    assert select_split(src, 0.0) == (list(range(n_all)), [])
    with pytest.raises(LessonsError, match="in \\[0, 1\\)"):
        select_split(src, 1.0)


def test_the_select_set_is_never_trained_on(tmp_path):
    task = build_task(_tiny(tmp_path / "r", limit=None, val_limit=None))
    train_ds, val_ds = task.dataset("train", True), task.dataset("val", False)
    src = open_source("synthetic", "train")
    train_idx, select_idx = select_split(src, 0.05)
    assert len(train_ds) == len(train_idx) == 256 - 13 and len(val_ds) == len(select_idx) == 13
    assert list(val_ds.indices) == select_idx and not set(train_ds.indices) & set(select_idx)


@pytest.mark.parametrize("kw, message", [
    (dict(val_split="select", select_fraction=0.0), "set select_fraction > 0"),
    (dict(head="logits"), "head"),
    (dict(head="classes", color_space="rgb"), "color_space='lab'"),
    (dict(head="classes", temperature=0.0), "temperatures must be > 0"),
    (dict(head="classes", class_lambda=0.0), "class_lambda in \\(0, 1\\]"),
    (dict(select_fraction=0.6), "select_fraction"),
])
def test_recipe_refuses_bad_class_options(kw, message):
    with pytest.raises(LessonsError, match=message):
        get_recipe("nogan_pretrain", **kw)


def test_colorgan_refuses_the_class_head():
    with pytest.raises(LessonsError, match="class head belongs to the U-Net"):
        get_recipe("colorgan", head="classes")


def test_class_head_starts_from_a_regression_g_but_its_output_layer(tmp_path):
    warm = run_recipe(apply_overrides(get_recipe("nogan_pretrain").smoke(), out=str(tmp_path / "warm"),
                                      device="cpu", sample_every=-1, steps=1, eval_every=0))
    task = build_task(_tiny(tmp_path / "c", init_g=str(warm.model_path), class_prior_images=16))
    task.setup(torch.device("cpu"))
    from lessons_lib.checkpoints import load_model
    src, _ = load_model(warm.model_path)
    mine, theirs = task.nets["G"].state_dict(), src.state_dict()
    differ = sorted(k for k in mine if mine[k].shape != theirs[k].shape or not torch.equal(mine[k], theirs[k]))
    assert differ == ["up.0.1.bias", "up.0.1.weight"]                       # the last conv: 2 -> Q channels
    assert mine["up.0.1.weight"].shape == (task.classes.n, 16, 1, 1)       # a 1x1 conv at half size: 2 c0 -> Q
    L = torch.rand(2, 1, 32, 32) * 2 - 1
    task.nets["G"].eval()
    assert task.nets["G"](L).shape == (2, task.classes.n, 16, 16)
    assert task.decode(task.nets["G"](L), size=(32, 32)).shape == (2, 2, 32, 32)
    full = build_task(_tiny(tmp_path / "f", init_g=str(warm.model_path), class_prior_images=16, class_stride=1))
    full.setup(torch.device("cpu"))
    assert full.nets["G"](L).shape == (2, full.classes.n, 32, 32)           # the transposed conv to full size
    # another width is refused, naming the option
    with pytest.raises(LessonsError, match="base: weights 8 vs recipe 16"):
        build_task(_tiny(tmp_path / "d", init_g=str(warm.model_path), g_base=16, class_prior_images=16)
                   ).setup(torch.device("cpu"))


def test_tiny_run_trains_exports_and_chooses_t_on_the_select_set(tiny_run):
    card = read_card(tiny_run.out / "selected.safetensors")
    assert card["head"] == "classes" and card["g_input"] == "L"
    cls = card["classes"]
    assert cls["n_bins"] == len(cls["centres_ab"]) == len(cls["weights"]) == card["config"]["out_channels"]
    assert card["config"]["out_act"] == "none"
    assert all(c[0] % 10 == 0 and c[1] % 10 == 0 for c in cls["centres_ab"])      # the grid of 10
    smoothed, w = torch.tensor(cls["smoothed_prior"]), torch.tensor(cls["weights"])
    assert float((smoothed * w).sum()) == pytest.approx(1.0, abs=1e-6)            # E_p~[w] = 1
    assert cls["source"]["images"] == 32 and cls["source"]["select_fraction_excluded"] == 0.05
    assert card["select"] == {"fraction": 0.05, "of": "synthetic train", "seed": 25,
                              "excluded_from_training": True, "validation": True}
    sel = card["selection"]
    assert cls["temperature"] == sel["temperature"] in (1.0, 0.38, 0.1)
    assert {c["temperature"] for c in sel["candidates"]} == {1.0, 0.38, 0.1}
    assert "gray input's + 0.7 dB" in sel["rule"]
    assert cls["correction"] == sel["correction"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert len(sel["candidates"]) == 2 * 3 * 5                      # (step 0, step 40) x T x prior correction
    m = card["metrics"]
    assert m["n_images"] == 13                                                     # the select set
    assert m["colorfulness_T0.1"] > m["colorfulness_T1"]
    assert {"psnr_T1_c1", "colorfulness_T0.38_c0.5"} <= set(m) and "psnr_T1_c0" not in m


def test_colorizer_prior_correction(tiny_run):
    L = torch.rand(2, 1, 32, 32) * 2 - 1
    c0 = Colorizer(tiny_run.out / "selected.safetensors", device="cpu", correction=0.0)
    c1 = Colorizer(tiny_run.out / "selected.safetensors", device="cpu", correction=1.0)
    card = read_card(tiny_run.out / "selected.json")
    assert Colorizer(tiny_run.out / "selected.safetensors").correction == card["classes"]["correction"]
    assert c0.correction == 0.0 and c1.correction == 1.0
    assert not torch.allclose(c0.predict_ab(L, temperature=1.0), c1.predict_ab(L, temperature=1.0))
    with pytest.raises(LessonsError, match="prior correction undoes a share"):
        Colorizer(tiny_run.out, correction=1.5)
    with pytest.raises(LessonsError, match="has no temperature; a temperature \\(and a prior correction\\)"):
        Colorizer(zoo.model_path("nogan"), device="cpu", correction=0.5).predict_ab(L)


def test_revalidate_scores_the_kept_models_again_and_chooses_again(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run.out, run)
    before = json.loads((run / "evals" / "step_000040.json").read_text())
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "lessons_lib.cli", "train", "classes", "--out", str(run), "--revalidate",
           "--set", "temperatures=[1.0, 0.5]", "--set", "class_corrections=[0, 1]", "--device", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "revalidated 2 models" in done.stdout
    after = json.loads((run / "evals" / "step_000040.json").read_text())
    assert after["metrics_before"] == before["metrics"]
    assert after["metrics"]["psnr_T1"] == pytest.approx(before["metrics"]["psnr_T1"], abs=1e-4)  # same model
    assert "psnr_T0.5_c1" in after["metrics"] and "psnr_T0.38" not in after["metrics"]
    sel = read_card(run / "selected.json")["selection"]
    assert {(c["temperature"], c["correction"]) for c in sel["candidates"]} == {(1.0, 0), (0.5, 0), (1.0, 1),
                                                                             (0.5, 1)}
    # no run there: a clear error, no traceback
    bad = subprocess.run([*cmd[:6], str(tmp_path / "none"), "--revalidate"], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert bad.returncode != 0 and "--revalidate scores a finished run" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_colorizer_decodes_at_two_temperatures(tiny_run):
    c = Colorizer(tiny_run.out / "selected.safetensors", device="cpu")
    assert c.class_head and c.default_temperature == read_card(tiny_run.out / "selected.json")["classes"]["temperature"]
    photo = str(sample_files()[0])
    cf = {t: float(colorfulness(image_to_tensor(c(photo, temperature=t))[None].float() / 255)) for t in (1.0, 0.1)}
    assert cf[0.1] > cf[1.0] + 2.0, cf                                             # the mode is more colourful
    L = torch.rand(2, 1, 32, 32) * 2 - 1
    ab1, ab01 = c.predict_ab(L, temperature=1.0), c.predict_ab(L, temperature=0.01)
    assert ab1.shape == ab01.shape == (2, 2, 32, 32) and torch.isfinite(ab01).all()
    assert float(ab01.norm(dim=1).mean()) > float(ab1.norm(dim=1).mean())
    # the Colorizer's T is the default of every call; a call's T wins
    c2 = Colorizer(tiny_run.out / "selected.safetensors", device="cpu", temperature=0.1)
    assert torch.equal(c2.predict_ab(L), c.predict_ab(L, temperature=0.1))
    for bad in (0, -0.5, "warm"):
        with pytest.raises(LessonsError, match="temperature must be"):
            c.predict_ab(L, temperature=bad)
    with pytest.raises(LessonsError, match="temperature must be > 0"):
        Colorizer(tiny_run.out, temperature=0.0)


def test_cli_temperature(tiny_run, tmp_path):
    photo = str(sample_files()[0])
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "lessons_lib.cli", "colorize", photo, *a],  # noqa: E731
                                    capture_output=True, text=True, env=env, cwd=tmp_path)
    ok = run(str(tmp_path / "a.png"), "--weights", str(tiny_run.out / "selected.safetensors"),
             "--temperature", "0.2", "--device", "cpu")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "a.png").is_file()
    zero = run(str(tmp_path / "b.png"), "--weights", str(tiny_run.out), "--temperature", "0")
    assert zero.returncode != 0 and "temperature must be > 0" in zero.stderr
    regression = run(str(tmp_path / "c.png"), "--model", "nogan", "--temperature", "0.4")
    assert regression.returncode != 0 and "regresses ab and has no temperature" in regression.stderr
    assert not (tmp_path / "b.png").exists() and not (tmp_path / "c.png").exists()
    # the prior correction: another colouring; out of range and on a regression model, refused
    for alpha, name in (("0", "c0.png"), ("1", "c1.png")):
        done = run(str(tmp_path / name), "--weights", str(tiny_run.out / "selected.safetensors"),
                   "--temperature", "0.2", "--correction", alpha, "--device", "cpu")
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "c0.png").read_bytes() != (tmp_path / "c1.png").read_bytes()
    bad = run(str(tmp_path / "e.png"), "--weights", str(tiny_run.out), "--correction", "2")
    assert bad.returncode != 0 and "prior correction undoes a share" in bad.stderr
    reg = run(str(tmp_path / "f.png"), "--model", "nogan", "--correction", "0.5")
    assert reg.returncode != 0 and "a temperature (and a prior correction)" in reg.stderr
    assert not (tmp_path / "e.png").exists() and not (tmp_path / "f.png").exists()
    assert "Traceback" not in bad.stderr + reg.stderr


def test_demo_temperature(tiny_run):
    sys.path.insert(0, str(ROOT))
    from demo import app as demo_app
    from demo import colorize_tab

    class Models:                       # the demo's catalogue with the tiny class model in it
        default_colour_model = "tiny"
        colorizer_ = Colorizer(tiny_run.out / "selected.safetensors", device="cpu")

        def colorizer(self, name):
            return self.colorizer_

    photo = str(sample_files()[0])
    # at correction 0 (the paper's decoding) a lower T is more colourful
    (gray, hot), status = demo_app.colorize_photo(Models(), photo, "tiny", 0, 0.1, 0.0)
    (_, cool), _ = demo_app.colorize_photo(Models(), photo, "tiny", 0, 1.0, 0.0)
    assert "temperature 0.1, prior correction 0" in status
    assert colorize_tab._colourfulness(hot) > colorize_tab._colourfulness(cool)
    (_, undone), status1 = demo_app.colorize_photo(Models(), photo, "tiny", 0, 0.1, 1.0)
    assert "prior correction 1" in status1 and colorize_tab._colourfulness(undone) != colorize_tab._colourfulness(hot)
    with pytest.raises(LessonsError, match="temperature must be > 0"):
        demo_app.colorize_photo(Models(), photo, "tiny", 0, 0)
    with pytest.raises(LessonsError, match="prior correction undoes a share"):
        demo_app.colorize_photo(Models(), photo, "tiny", 0, 0.5, 1.5)
    shipped = demo_app.DemoModels(device="cpu")
    assert shipped.temperature("nogan") is None and shipped.correction("nogan") is None   # no sliders for nogan
    card = json.loads(zoo.model_path("classes").with_suffix(".json").read_text())
    assert shipped.temperature("classes") == card["classes"]["temperature"]
    assert shipped.correction("classes") == card["classes"]["correction"]
    with pytest.raises(LessonsError, match="no temperature"):
        demo_app.colorize_photo(shipped, photo, "nogan", 0, 0.5)
    with pytest.raises(LessonsError, match="no temperature"):
        demo_app.colorize_photo(shipped, photo, "nogan", 0, None, 0.5)


def _frontier_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("colour_frontier", ROOT / "benchmarks" / "colour_frontier.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_frontier_moves_compares_at_the_same_psnr():
    fm = _frontier_module().frontier_moves
    row = lambda m, x, y, v: {"set": "s", "model": m, "psnr_vs_gray": x, "colour_share": y, "value": v}  # noqa: E731
    rows = [row("nogan", 1.0, 0.40, 1.0), row("nogan", 0.0, 0.60, 1.4),          # the gain's line
            row("cls", 0.5, 0.55, 0.5), row("cls", 0.9, 0.30, 1.0), row("cls", -2.0, 0.9, 0.1)]
    got = fm(rows, "nogan", "cls")["s"]
    # at +0.5 dB the gain's line is at 0.50: +0.05; at +0.9 at 0.42: -0.12; -2 dB is outside its range
    assert [(m["temperature"], round(m["margin"], 6)) for m in got["margins"]] == [(0.5, 0.05), (1.0, -0.12)]
    assert got["moves"] is False
    assert fm([r for r in rows if r["value"] != 1.0 or r["model"] == "nogan"], "nogan", "cls")["s"]["moves"] is True


def test_frontier_benchmark_draws_the_class_curve(tiny_run, tmp_path):
    out = tmp_path / "frontier.json"
    assert _frontier_module().main(["--models", "nogan", "--gains", "1,1.4", "--classes", str(tiny_run.out),
                                    "--temperatures", "1,0.1", "--sets", "synthetic", "--limit", "4",
                                    "--size", "32", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    got = [(r["model"], r["knob"], r["value"]) for r in rep["rows"]]
    assert got == [("nogan", "chroma", 1.0), ("nogan", "chroma", 1.4), ("classes c=0", "temperature", 1.0),
                   ("classes c=0", "temperature", 0.1)]                     # the card's correction: 0
    cls = {r["value"]: r for r in rep["rows"] if r["model"] == "classes c=0"}
    assert cls[0.1]["colorfulness"] > cls[1.0]["colorfulness"]
    assert set(rep["frontier_moves"]) == {"classes c=0"}
    assert set(rep["frontier_moves"]["classes c=0"]) == {"synthetic val"}
    assert out.with_suffix(".png").stat().st_size > 10_000
    # one T-curve per prior correction asked for
    assert _frontier_module().main(["--models", "nogan", "--gains", "1", "--classes", str(tiny_run.out),
                                    "--temperatures", "1", "--corrections", "0,1", "--sets", "synthetic",
                                    "--limit", "2", "--size", "32", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert [r["model"] for r in rep["rows"]] == ["nogan", "classes c=0", "classes c=1"]
    c0, c1 = (r for r in rep["rows"] if r["knob"] == "temperature")
    assert c0["colorfulness"] != c1["colorfulness"]
