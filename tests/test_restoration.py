"""The restorer's four stages on the engine, the bundle and the Restorer pipeline (seed 004).

Tiny nets on synthetic 32-px images: each stage trains a step or two, the later stages on
the earlier runs (as a user chains them), so every test here is also an integration test
of the chain. The perceptual terms use the kit's shipped feature network.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lessons_lib import LessonsError
from lessons_lib.checkpoints import load_model, read_card
from lessons_lib.recipes import build_task, get_recipe
from lessons_lib.train import train
from lessons_lib.restorer.bundle import BUNDLE_CARD, InversionPair, export_bundle, load_restorer_parts
from lessons_lib.restorer.evaluation import laplacian_energy, restoration_scores
from lessons_lib.restorer.pairs import FaceCrops, eval_kernel_index


# tiny nets: one torch thread per test (the shared fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(name: str, out: Path, **over):
    """The smoke variant of a stage recipe, trained into ``out``; no sample grids."""
    r = get_recipe(name).smoke()
    r = dataclasses.replace(r, allow_untrained=False) if hasattr(r, "allow_untrained") else r
    fields = {k: v for k, v in over.items() if k in {f.name for f in dataclasses.fields(r)}}
    train_kw = {k: v for k, v in over.items() if k not in fields}
    train_kw = {"out": str(out), "sample_every": -1, "device": "cpu", "steps": 1, **train_kw}
    return dataclasses.replace(r, train=r.train.replace(**train_kw), **fields)


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, Path]:
    """nafnet -> stylegan2 -> inversion -> fusion, 1-2 steps each, and the bundle."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("chain")
    runs = {s: root / s for s in ("nafnet", "stylegan2", "inversion", "fusion")}
    train(build_task(r := tiny("nafnet", runs["nafnet"])), r.train)
    train(build_task(r := tiny("stylegan2", runs["stylegan2"], steps=2)), r.train)
    r = tiny("inversion", runs["inversion"], nafnet_weights=str(runs["nafnet"]),
             stylegan2_weights=str(runs["stylegan2"]))
    train(build_task(r), r.train)
    r = tiny("fusion", runs["fusion"], nafnet_weights=str(runs["nafnet"]), inversion_weights=str(runs["inversion"]),
             steps=2, eval_every=1, best_metric="psnr", write_bundle=True)
    res = train(build_task(r), r.train)
    r.after_training(res)  # what run_recipe (lessons train) does: writes OUT/restorer unless write_bundle=False
    runs["bundle"] = export_bundle(root / "bundle", fusion=runs["fusion"] / "best.safetensors").parent
    return runs


# ----------------------------------------------------------------------------- data
def test_eval_kernels_depend_only_on_the_index():
    a = [eval_kernel_index(i, 1000, 0) for i in range(50)]
    assert a == [eval_kernel_index(i, 1000, 0) for i in range(50)]
    assert a != [eval_kernel_index(i, 1000, 1) for i in range(50)]
    assert len(set(a)) > 40 and all(0 <= k < 1000 for k in a)


def test_face_crops_are_centre_crops_with_fixed_val_kernels():
    val = FaceCrops("synthetic", 32, "val", train=False, n_kernels=16, eval_seed=3, limit=5)
    assert len(val) == 5
    item = val[2]
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.uint8
    assert int(item["kernel"]) == eval_kernel_index(2, 16, 3)
    assert torch.equal(val[2]["image"], item["image"])
    tr = FaceCrops("synthetic", 32, "train", train=True, n_kernels=16, limit=4)
    torch.manual_seed(0)
    draws = [(tr[0]["image"], int(tr[0]["kernel"])) for _ in range(20)]
    flips = {bool(torch.equal(img, tr.crops[0].flip(-1))) for img, _ in draws}
    assert flips == {True, False}                      # mirrored about half of the time
    assert len({k for _, k in draws}) > 3              # random kernels in training
    gen = FaceCrops("synthetic", 32, "train", train=True, n_kernels=0, limit=4)
    assert int(gen[0]["kernel"]) == -1
    with pytest.raises(IndexError):
        val[5]


def test_laplacian_energy_is_the_hand_computed_one_and_falls_with_blur():
    from scipy.ndimage import convolve

    from lessons_lib.data.blur import blur, motion_blur_kernel

    torch.manual_seed(0)
    x = torch.rand(2, 3, 20, 24)
    luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).numpy()
    k = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
    ref = [float((convolve(luma[b].astype(np.float64), k, mode="constant")[1:-1, 1:-1] ** 2).mean()) for b in range(2)]
    assert laplacian_energy(x).tolist() == pytest.approx(ref, rel=1e-5)
    blurred = blur(x, motion_blur_kernel(9, seed=1))
    assert (laplacian_energy(blurred) < 0.5 * laplacian_energy(x)).all()
    s = restoration_scores(blurred, x)
    assert s["sharpness"] < 0.5 and s["psnr"] < 40 and "perceptual" not in s
    assert restoration_scores(x, x)["sharpness"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- the stages
def test_nafnet_stage_trains_and_exports_a_restoration_model(chain):
    model, card = load_model(chain["nafnet"])
    assert model.arch == "nafnet" and card["task"] == "restoration" and card["stage"] == "nafnet"
    assert card["kernel_bank"] == {"n": 16, "size": 5, "seed": 0, "noise_std": 0.0, "eval_seed": 0}
    assert {"psnr", "ssim", "blurred_psnr", "x_R_psnr"} <= set(card["metrics"])
    assert card["metrics"]["psnr"] == card["metrics"]["x_R_psnr"]


def test_nafnet_resume_is_bit_exact(tmp_path):
    from lessons_lib.train import TrainingInterrupted

    r2 = tiny("nafnet", tmp_path / "a", steps=2)
    train(build_task(r2), r2.train)

    def stop_after_first(step, logs):
        if step == 1:
            raise KeyboardInterrupt  # what Ctrl-C does: the engine saves, then stops

    rb = tiny("nafnet", tmp_path / "b", steps=2)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train(build_task(rb), rb.train, hooks=[stop_after_first])
    rr = tiny("nafnet", tmp_path / "b", steps=2, resume=True)
    res = train(build_task(rr), rr.train)
    assert res.steps == 2
    a, _ = load_model(tmp_path / "a")
    b, _ = load_model(tmp_path / "b")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_stylegan2_stage_lazy_r1_mixing_and_ema(chain, tmp_path):
    r = tiny("stylegan2", tmp_path / "g", steps=1)
    task = build_task(r)
    res = train(task, r.train)
    assert "D_reg" in res.losses and res.losses["D_reg"] > 0  # R1 on step 0 (every 16th)
    assert task.reg_every == 16
    # D's Adam is rescaled for the lazy regulariser: lr * c and beta ** c, c = 16/17
    d_group = task.opts["D"].param_groups[0]
    assert d_group["lr"] == pytest.approx(r.lr * 16 / 17)
    assert d_group["betas"][1] == pytest.approx(r.beta2 ** (16 / 17))
    # EMA: ema <- beta ema + (1 - beta) G with beta = 0.5 ** (batch / (ema_kimg * 1000))
    G, E = task.nets["G"], task.nets["G_ema"]
    with torch.no_grad():
        for p in E.parameters():
            p.zero_()
        for p in G.parameters():
            p.fill_(1.0)
    task._batch = 4
    task._update_ema()
    beta = 0.5 ** (4 / (r.ema_kimg * 1000))
    assert all(torch.allclose(p, torch.full_like(p, 1 - beta)) for p in E.parameters())
    # style mixing: the crossover is one of the n_w codes when drawn, n_w (no mixing) otherwise
    batch = {"image": torch.zeros(4, 3, 32, 32, dtype=torch.uint8), "kernel": torch.full((4,), -1)}
    cuts = {int(task.prepare(batch, torch.device("cpu"))["cut"]) for _ in range(60)}
    assert cuts <= set(range(1, G.n_w + 1)) and len(cuts) > 3
    card = read_card(chain["stylegan2"])
    assert card["task"] == "stylegan2" and card["arch"] == "stylegan2_g"


def test_inversion_stage_loss_is_the_seeds_eq2(chain, tmp_path):
    r = tiny("inversion", tmp_path / "inv", nafnet_weights=str(chain["nafnet"]),
             stylegan2_weights=str(chain["stylegan2"]))
    task = build_task(r)
    task.device = torch.device("cpu")
    torch.manual_seed(0)
    task.setup(task.device)
    # G and D start from the stylegan2 run (G from its exported G_ema, D from its checkpoint)
    G0, _ = load_model(chain["stylegan2"])
    for (k, v), v0 in zip(task.nets["EG"].generator.state_dict().items(), G0.state_dict().values()):
        assert torch.equal(v, v0), k
    assert task.sources["stylegan2"]["discriminator"].endswith("checkpoint.pt")
    batch = {"image": (torch.rand(4, 3, 32, 32) * 255).to(torch.uint8), "kernel": torch.arange(4)}
    data = task.prepare(batch, task.device)
    state = task.forward(data)
    assert state["x_G"].shape == (4, 3, 32, 32) and state["x_R"].shape == (4, 3, 32, 32)
    out = task.loss("G", state, 0)
    expected = out["l1"] + 10 * out["perceptual"] + 0.3 * out["adv"]
    assert float(out["loss"].detach()) == pytest.approx(float(expected), rel=1e-5)
    from lessons_lib.metrics import perceptual_distance

    per = perceptual_distance(state["x_G"], state["sharp"], features=task.features)
    assert float(out["perceptual"]) == pytest.approx(float(per.detach()), rel=1e-5)
    d = task.loss("D", state, 0)
    assert set(d) == {"loss", "real", "fake"} and math.isfinite(float(d["loss"].detach()))
    # the run's export holds E and G in one network, with the card naming its sources
    pair, card = load_model(chain["inversion"])
    assert isinstance(pair, InversionPair) and card["stage"] == "inversion"
    assert card["sources"]["nafnet"]["weights"] == str(chain["nafnet"].resolve())
    assert "perceptual_features" in card


def test_fusion_stage_loss_is_the_seeds_eq3_and_keeps_the_best_psnr(chain):
    card = read_card(chain["fusion"] / "model.safetensors")
    assert card["stage"] == "fusion" and card["arch"] == "fusion_net"
    assert card["best"]["metric"] == "psnr" and (chain["fusion"] / "best.safetensors").is_file()
    assert (chain["fusion"] / "restorer" / BUNDLE_CARD).is_file()  # written by after_training
    r = tiny("fusion", chain["fusion"].parent / "unused", nafnet_weights=str(chain["nafnet"]),
             inversion_weights=str(chain["inversion"]))
    task = build_task(r)
    task.device = torch.device("cpu")
    task.setup(task.device)
    batch = {"image": (torch.rand(2, 3, 32, 32) * 255).to(torch.uint8), "kernel": torch.tensor([0, 5])}
    state = task.forward(task.prepare(batch, task.device))
    out = task.loss("G", state, 0)
    expected = out["l1"] + 10 * out["perceptual"] + 1.0 * (0.01 * out["cx_r"] + 0.05 * out["cx_g"])
    assert float(out["loss"].detach()) == pytest.approx(float(expected), rel=1e-5)
    from lessons_lib.losses import contextual_loss

    f = task.features
    cx_g = contextual_loss(f(state["x_hat"], ("f3",))["f3"], f(state["x_G"], ("f3",))["f3"])
    assert float(out["cx_g"]) == pytest.approx(float(cx_g.detach()), rel=1e-5)
    # the fusion recipe's schedule: lr / 10 at 20 % of the run
    full = get_recipe("fusion")
    assert full.train.lr_schedule == "step" and full.train.lr_milestones == (0.2,) and full.lr == 1e-3


def test_a_later_stage_without_its_inputs_says_what_to_train(chain, tmp_path):
    r = tiny("fusion", tmp_path / "f", nafnet_weights=str(tmp_path / "nope"))
    with pytest.raises(LessonsError, match=r"no NAFNet run at .*nope.*lessons train nafnet"):
        train(build_task(r), r.train)
    bad_size = tiny("inversion", tmp_path / "i", size=64, nafnet_weights=str(chain["nafnet"]),
                    stylegan2_weights=str(chain["stylegan2"]))
    with pytest.raises(LessonsError, match="trained at 32 px but this run uses 64 px"):
        train(build_task(bad_size), bad_size.train)


# ----------------------------------------------------------------------------- bundle + Restorer
def test_bundle_layout_and_loading(chain):
    b = chain["bundle"]
    card = json.loads((b / BUNDLE_CARD).read_text())
    assert card["format"] == "gan-lessons-restorer/1" and card["task"] == "restoration" and card["size"] == 32
    for c in ("nafnet", "encoder", "generator", "fusion"):
        assert (b / f"{c}.safetensors").is_file() and (b / f"{c}.json").is_file()
        assert card["components"][c] == f"{c}.safetensors"
    assert load_model(b / "encoder.safetensors")[0].arch == "inversion_encoder"
    assert load_model(b / "generator.safetensors")[0].arch == "stylegan2_g"
    parts = load_restorer_parts(b)
    assert parts.stage == "fusion" and parts.outputs == ("blurred", "x_R", "x_G", "x_hat")
    # the bundle restores exactly as the runs it came from
    from_runs = load_restorer_parts(chain["fusion"] / "best.safetensors")
    x = torch.rand(2, 3, 32, 32)
    a, c = parts.run(x), from_runs.run(x)
    for k in ("x_R", "x_G", "x_hat"):
        assert torch.allclose(a[k], c[k], atol=1e-6), k
    assert load_restorer_parts(chain["nafnet"]).outputs == ("blurred", "x_R")
    assert load_restorer_parts(chain["inversion"]).outputs == ("blurred", "x_R", "x_G")


def test_a_bundle_is_a_warm_start_for_the_later_stages(chain, tmp_path):
    """--set nafnet_weights=BUNDLE / inversion_weights=BUNDLE / stylegan2_weights=BUNDLE:
    the shipped restorer's parts start a lesson's fusion or inversion run."""
    from lessons_lib.restorer.bundle import load_stage

    b = chain["bundle"]
    parts = load_restorer_parts(b)
    x = torch.rand(2, 3, 32, 32)
    nafnet, card = load_stage(b, "nafnet", "NAFNet run")
    assert card["arch"] == "nafnet" and torch.equal(nafnet(x), parts.nafnet(x))
    pair, card = load_stage(b, "inversion_pair", "inversion run")
    assert card["arch"] == "inversion_encoder" and torch.equal(pair(x), parts.inversion(x))
    G, card = load_stage(b, "stylegan2_g", "StyleGAN2 run")
    assert card["arch"] == "stylegan2_g"
    for k, v in parts.inversion.generator.state_dict().items():
        assert torch.equal(G.state_dict()[k], v), k
    F_net, card = load_stage(b, "fusion_net", "fusion run")            # the warm start of a fusion run (init_weights)
    assert card["arch"] == "fusion_net" and torch.equal(F_net(x, x), parts.fusion(x, x))
    with pytest.raises(LessonsError, match="restorer bundle: it holds"):
        load_stage(b, "stylegan2_d", "discriminator")                 # a bundle ships no discriminator
    r = tiny("fusion", tmp_path / "warm", nafnet_weights=str(b), inversion_weights=str(b), residual=True)
    res = train(build_task(r), r.train)
    assert res.steps == 1 and (tmp_path / "warm" / "model.safetensors").is_file()


def test_bad_bundles_say_what_is_wrong(chain, tmp_path):
    import shutil

    from lessons_lib.pipeline import Restorer

    broken = tmp_path / "broken"
    shutil.copytree(chain["bundle"], broken)
    (broken / "generator.safetensors").unlink()
    with pytest.raises(LessonsError, match="incomplete: generator.safetensors"):
        Restorer(broken).load()
    (broken / BUNDLE_CARD).write_text("{not json")
    with pytest.raises(LessonsError, match="not valid JSON"):
        Restorer(broken).load()
    (broken / BUNDLE_CARD).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(LessonsError, match="not a restorer bundle card"):
        Restorer(broken).load()
    with pytest.raises(LessonsError, match="holds a stylegan2 model, not a restorer"):
        Restorer(chain["stylegan2"]).load()
    with pytest.raises(LessonsError, match="no restorer at"):
        Restorer(tmp_path / "empty")


def test_restorer_keeps_the_size_and_the_detail_above_its_resolution(chain):
    from lessons_lib.pipeline import Restorer
    from lessons_lib.restorer.bundle import BUNDLE_CARD as _  # noqa: F401

    rest = Restorer(chain["bundle"], device="cpu")
    assert rest.size == 32 and rest.output == "x_hat"
    rng = np.random.default_rng(0)
    img = Image.fromarray((rng.random((53, 37, 3)) * 255).astype(np.uint8))
    for out in ("x_R", "x_G", "x_hat"):
        res = rest(img, output=out)
        assert res.size == (37, 53) and res.mode == "RGB"
    # at the model's size the result is exactly the network's output
    face = Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8))
    x = torch.from_numpy(np.asarray(face).copy()).permute(2, 0, 1)[None].float() / 255
    y = rest.model.run(x)["x_hat"]
    got = torch.from_numpy(np.asarray(rest(face)).copy()).permute(2, 0, 1)[None].float() / 255
    assert (got - y).abs().max() <= 0.5 / 255 + 1e-6
    # a large image goes through the banded path: the same result as in one go
    big = Image.fromarray((rng.random((90, 70, 3)) * 255).astype(np.uint8))
    whole = np.asarray(Restorer(chain["bundle"], device="cpu")(big)).astype(int)
    banded = np.asarray(Restorer(chain["bundle"], device="cpu", band_pixels=700)(big)).astype(int)
    assert np.abs(whole - banded).max() <= 1
    with pytest.raises(LessonsError, match="not available"):
        Restorer(chain["nafnet"], device="cpu")(face, output="x_hat")
