"""The practical colorizer (issue 11): NoGAN's phases on the one engine - a warm-started G
(``init_g``), the critic warm-up (``d_pretrain_steps`` through ``Task.active_phases``), the
models kept at every validation (``keep_evals``) and the checkpoint chosen by rule
(``checkpoints.select_eval``) - plus the CPU-time curve, the restorer's residual fusion and
its default-output rule. Tiny nets and synthetic images: seconds on one thread."""
from __future__ import annotations

import csv
import dataclasses
import json
import shutil

import pytest
import torch

from lessons_lib import LessonsError, shipping, zoo
from lessons_lib.checkpoints import load_model, read_card, save_model, select_eval
from lessons_lib.models import build_model
from lessons_lib.recipes import apply_overrides, build_task, get_recipe, run_recipe
from lessons_lib.train import train


# tiny nets: one torch thread per test (the shared fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def _smoke(name, out, **kw):
    r = get_recipe(name).smoke()
    return apply_overrides(r, out=str(out), device="cpu", sample_every=-1, **kw)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """Phase 1 (G alone, L1 + perceptual) for 3 steps: the warm start of phase 2."""
    out = tmp_path_factory.mktemp("nogan") / "pretrain"
    torch.set_num_threads(1)
    result = run_recipe(_smoke("nogan_pretrain", out, steps=3, eval_every=0, lambda_perceptual=1.0))
    return result


def _params(net):
    return {k: v.detach().clone() for k, v in net.named_parameters()}


def test_phase1_trains_g_alone_with_the_perceptual_term(pretrained):
    rows = list(csv.DictReader(open(pretrained.metrics_csv)))
    assert "G_perceptual" in rows[0] and float(rows[-1]["G_perceptual"]) > 0
    assert not any(k.startswith("loss_D") for k in rows[0])          # no discriminator at all
    card = read_card(pretrained.model_path)
    assert card["recipe"] == "nogan_pretrain" and "kit" in card["perceptual_features"]
    assert card["cpu_time_s"] > 0 and card["wall_time_s"] > 0


def test_critic_warm_up_leaves_g_alone_then_the_gan_phase_moves_it(pretrained, tmp_path):
    warm, _ = load_model(pretrained.model_path)
    r = _smoke("nogan", tmp_path / "gan", steps=2, eval_every=1, d_pretrain_steps=2,
               init_g=str(pretrained.model_path))
    task = build_task(r)
    train(task, r.train)
    after = _params(task.nets["G"])
    for k, v in _params(warm).items():                              # D-only steps: G's weights untouched
        assert torch.equal(after[k], v), k
    d_rows = list(csv.DictReader(open(tmp_path / "gan" / "metrics.csv")))
    assert "loss_D" in d_rows[-1] and "loss_G" not in d_rows[-1]

    r2 = _smoke("nogan", tmp_path / "gan2", steps=3, eval_every=1, d_pretrain_steps=1,
                init_g=str(pretrained.model_path))
    task2 = build_task(r2)
    train(task2, r2.train)
    moved = _params(task2.nets["G"])
    assert any(not torch.equal(moved[k], v) for k, v in _params(warm).items())
    assert task2.active_phases(0) == ("D",) and task2.active_phases(1) == ("D", "G")


def test_evals_are_kept_from_the_warm_start_on_and_one_is_selected_by_rule(pretrained, tmp_path):
    out = tmp_path / "gan"
    result = run_recipe(_smoke("nogan", out, steps=3, eval_every=1, d_pretrain_steps=1,
                               init_g=str(pretrained.model_path)))
    kept = sorted(p.name for p in (out / "evals").glob("*.safetensors"))
    assert kept == [f"step_{i:06d}.safetensors" for i in range(4)]   # step 0 = the warm start
    # the step-0 eval is phase 1's final model, scored on the same validation images
    assert read_card(out / "evals" / "step_000000")["metrics"]["psnr"] == pytest.approx(
        pretrained.val_metrics["psnr"], abs=1e-4)
    chosen = json.loads((out / "selected.json").read_text())["selection"]
    rows = chosen["candidates"]
    best = max(r["psnr"] for r in rows)
    allowed = [r for r in rows if r["psnr"] >= best - 0.3]
    assert chosen["colorfulness"] == max(r["colorfulness"] for r in allowed)
    assert (out / "selected.safetensors").read_bytes() == (out / "evals" / chosen["from"]).read_bytes()
    assert result.out == out
    # the curve against CPU time: every validation row carries its CPU seconds, increasing
    cpu = [float(r["cpu_s"]) for r in csv.DictReader(open(out / "val_metrics.csv"))]
    assert len(cpu) == 4 and cpu == sorted(cpu) and cpu[-1] > 0
    curve = zoo.training_curve(out, cpu_offset_s=3600)
    assert [c["step"] for c in curve] == [0, 1, 2, 3] and curve[0]["cpu_h"] >= 1.0
    assert set(curve[0]) >= {"psnr", "ssim", "colorfulness", "cpu_h"}


def _fake_evals(folder, rows):
    """evals/step_N.safetensors of a tiny registered net, with the given metrics in the cards."""
    net = build_model("unet", in_channels=1, out_channels=2, base=4, depth=3, image_size=8)
    (folder / "evals").mkdir(parents=True)
    for step, psnr, cf in rows:
        save_model(net, folder / "evals" / f"step_{step:06d}", {"steps": step,
                                                                 "metrics": {"psnr": psnr, "colorfulness": cf}})


def test_select_eval_rule_by_hand(tmp_path):
    _fake_evals(tmp_path, [(0, 22.0, 10.0), (100, 21.8, 20.0), (200, 21.71, 30.0), (300, 21.6, 40.0)])
    pick = select_eval(tmp_path)
    assert (pick["step"], pick["best_psnr"]) == (200, 22.0)          # 21.6 is 0.4 dB below: out
    assert select_eval(tmp_path, tolerance=0.5)["step"] == 300
    assert select_eval(tmp_path, tolerance=0.0)["step"] == 0
    assert "within 0.3 of the run's best psnr" in pick["rule"]
    with pytest.raises(LessonsError, match="no evals in .*keep_evals=True"):
        select_eval(tmp_path / "nothing")
    with pytest.raises(LessonsError, match="has no 'ssim' or 'colorfulness' metric"):
        select_eval(tmp_path, fidelity="ssim")


def test_bad_nogan_options_get_clear_errors(pretrained, tmp_path):
    with pytest.raises(LessonsError, match="d_pretrain_steps warms up a discriminator, but discriminator is None"):
        get_recipe("nogan_pretrain", d_pretrain_steps=10)
    with pytest.raises(LessonsError, match="set keep_evals=True"):
        get_recipe("nogan", keep_evals=False)
    with pytest.raises(LessonsError, match="select_psnr_tolerance must be >= 0"):
        get_recipe("nogan", select_psnr_tolerance=-1.0)
    with pytest.raises(LessonsError, match="d_pretrain_steps must be >= 0"):
        get_recipe("nogan", d_pretrain_steps=-5)
    # a warm start of another size: the message names the option that differs
    r = _smoke("nogan", tmp_path / "bad", steps=1, g_base=12, init_g=str(pretrained.model_path))
    with pytest.raises(LessonsError, match=r"init_g .* holds another generator .*base: weights 8 vs recipe 12"):
        train(build_task(r), r.train)
    r = _smoke("nogan", tmp_path / "missing", steps=1, init_g=str(tmp_path / "nope"))
    with pytest.raises(LessonsError, match=r"init_g=.*nope does not exist: make it with `lessons train nogan_pretrain"):
        train(build_task(r), r.train)


def test_nogan_starts_from_its_pretraining_run_by_default(pretrained, tmp_path, monkeypatch):
    """`lessons train nogan` alone continues runs/nogan_pretrain (as the restorer's stages default to
    runs/<stage>); without that run it is refused with the command that makes it, never a random G."""
    assert get_recipe("nogan").init_g == "runs/nogan_pretrain"
    monkeypatch.chdir(tmp_path)
    r = apply_overrides(get_recipe("nogan").smoke(), init_g="runs/nogan_pretrain", out=str(tmp_path / "gan"),
                        device="cpu", sample_every=-1, steps=1, eval_every=1, d_pretrain_steps=1)
    with pytest.raises(LessonsError, match=r"warm start init_g=runs/nogan_pretrain does not exist: make it with "
                                           r"`lessons train nogan_pretrain --out runs/nogan_pretrain`"):
        train(build_task(r), r.train)
    shutil.copytree(pretrained.out, tmp_path / "runs" / "nogan_pretrain")
    task = build_task(r)
    train(task, r.train)
    warm, _ = load_model(pretrained.model_path)                # one D-only step: G is the warm start
    after = _params(task.nets["G"])
    assert all(torch.equal(after[k], v) for k, v in _params(warm).items())
    assert task.describe()["init_g"] == "runs/nogan_pretrain"


def test_cpu_time_adds_up_over_a_resume(tmp_path):
    r = _smoke("nogan_pretrain", tmp_path / "run", steps=2, eval_every=-1)
    first = run_recipe(r)
    before = read_card(first.model_path)["cpu_time_s"]
    again = run_recipe(dataclasses.replace(r, train=r.train.replace(steps=4, resume=True)))
    after = read_card(again.model_path)["cpu_time_s"]
    assert after > before > 0


# ----------------------------------------------------------------------------- the restorer
def test_residual_fusion_starts_as_x_R_and_learns():
    torch.manual_seed(0)
    f = build_model("fusion_net", width=8, n_blocks=2, residual=True)
    x_R, x_G = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    out = f(x_R, x_G)
    assert torch.equal(out, x_R)                                       # exactly x_R at step 0
    (out - torch.rand_like(out)).abs().mean().backward()
    assert f.conv_out.weight.grad.abs().sum() > 0                      # and it can move
    plain = build_model("fusion_net", width=8, n_blocks=2)
    assert not torch.allclose(plain(x_R, x_G), x_R)                    # the seed's form: a new image
    with pytest.raises(ValueError, match="in_channels .* must equal out_channels"):
        build_model("fusion_net", in_channels=3, out_channels=1, residual=True)


def test_residual_fusion_round_trips_through_a_checkpoint(tmp_path):
    f = build_model("fusion_net", width=8, n_blocks=1, residual=True)
    save_model(f, tmp_path / "f", {})
    g, card = load_model(tmp_path / "f")
    assert card["config"]["residual"] is True and g.residual


def _report(blur, reg, hat, p_reg=0.2, p_hat=0.1):
    return {"blurred": {"psnr": blur}, "x_R": {"psnr": reg, "perceptual": p_reg},
            "x_hat": {"psnr": hat, "perceptual": p_hat}}


def test_restorer_output_rule():
    out, why = zoo.choose_restorer_output(_report(26.7, 28.4, 27.9))
    assert out == "x_hat" and "within 1 dB of x_R" in why and "27.90 dB" in why
    out, why = zoo.choose_restorer_output(_report(26.7, 28.4, 25.8))   # the shipped restorer
    assert out == "x_R" and "beats the blurred input" in why and "within 1 dB of x_R" in why
    out, why = zoo.choose_restorer_output(_report(26.7, 28.4, 28.3, p_hat=0.3))
    assert out == "x_R" and "nearer the sharp faces" in why
    assert zoo.choose_restorer_output(None)[0] == "x_R"


def test_restorer_follows_its_cards_default_output(tmp_path):
    from lessons_lib.pipeline import Restorer

    bundle = tmp_path / "restorer"
    shutil.copytree(zoo.model_path("restorer"), bundle)
    card_path = bundle / "restorer.json"
    card = json.loads(card_path.read_text())
    for choice in ("x_R", "x_hat"):
        card["default_output"], card["default_output_why"] = choice, f"{choice}: because"
        card_path.write_text(json.dumps(card))
        r = Restorer(bundle, device="cpu")
        assert r.output == choice and r.output_reason == f"{choice}: because"
        assert Restorer(bundle, device="cpu", output="x_G").output == "x_G"   # asked for: obeyed
    card.pop("default_output"), card.pop("default_output_why")
    card_path.write_text(json.dumps(card))
    assert Restorer(bundle, device="cpu").output == "x_hat"                  # none named: the last stage


def test_heldout_split_finds_val_or_test():
    assert zoo.heldout_split("synthetic") == "val"
    assert zoo.heldout_split("no_such_pack") == "val"        # the caller reports it unavailable


def test_nogan_train_and_ship_chain_in_smoke_mode(tmp_path):
    runs = tmp_path / "runs" / "nogan"
    shipping.train_shipped("nogan", runs, smoke=True, device="cpu")
    assert (runs / "nogan" / "selected.safetensors").is_file()
    zoo.ship("nogan", runs, to=tmp_path / "w", eval_data=("synthetic",))
    card = json.loads((tmp_path / "w" / "nogan.json").read_text())
    training = card["shipped"]["training"]
    assert set(training["stages"]) == {"nogan_pretrain", "nogan"}
    assert training["selection"]["rule"].startswith("the largest colorfulness")
    assert {c["stage"] for c in training["curve"]} == {"nogan_pretrain", "nogan"}
    cpu = [c["cpu_h"] for c in training["curve"]]
    assert cpu == sorted(cpu) and training["cpu_hours"] >= cpu[-1]
    held = card["shipped"]["metrics_heldout"]["synthetic"]
    assert held["size"] == zoo.SPECS["nogan"].size and held["split"] == "val"


def test_scale_jitter_draws_a_short_side_per_item_reproducibly():
    from PIL import Image

    from lessons_lib.data import ColorizationDataset, open_source

    ds = ColorizationDataset(open_source("synthetic", "train"), 16, train=True, max_load_size=48)
    img = Image.new("RGB", (96, 64))
    img.paste((255, 0, 0), (0, 0, 48, 64))                     # left half red, right half black
    crops = [ds.transform(img, seed) for seed in range(12)]
    assert all(torch.equal(c, ds.transform(img, seed)) for seed, c in enumerate(crops))   # same seed, same crop
    reds = {int((c[0] > 128).sum()) for c in crops}
    assert len(reds) > 3                                         # the scale (and crop) change with the seed
    plain = ColorizationDataset(open_source("synthetic", "train"), 16, train=True)
    assert torch.equal(plain.transform(img, 5), ColorizationDataset(
        open_source("synthetic", "train"), 16, train=True, max_load_size=16).transform(img, 5))
    with pytest.raises(LessonsError, match="max_load_size .* must be >= load_size"):
        ColorizationDataset(open_source("synthetic", "train"), 16, max_load_size=8)
    with pytest.raises(LessonsError, match="scale_jitter is the largest short side over size"):
        get_recipe("nogan", scale_jitter=0.5)
