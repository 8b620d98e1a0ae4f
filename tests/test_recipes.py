"""Recipes, the colorization task and the toy tasks on the engine (tiny sizes, synthetic data)."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lessons_lib import LessonsError
from lessons_lib.losses import gan_loss
from lessons_lib.recipes import (
    ColorizationRecipe,
    build_task,
    describe_recipes,
    for_lesson,
    get_recipe,
    list_recipes,
    recipe_to_dict,
)
from lessons_lib.train import TrainConfig, train
from lessons_lib.train.toy import mode_metrics, render_points

ALL = ["gan_toy", "dcgan", "pix2pix", "seed000_pix2pix", "seed000_lsgan", "seed000_identity", "seed000_patchgan",
       "seed000_full", "seed003_unet", "seed003_unet_bn", "seed003_gan", "seed003_gan_bn", "colorgan",
       "nogan_pretrain", "nogan", "hints", "classes", "nafnet", "stylegan2", "inversion", "fusion", "feature_net"]


# tiny nets: one torch thread per test (the shared fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def quick(tmp_path, recipe, **train_kw):
    """Train a recipe's smoke variant quickly in tmp_path; returns (task, result)."""
    kw = dict(out=str(tmp_path / recipe.name), sample_every=-1, eval_every=-1, device="cpu", steps=1)
    kw.update(train_kw)
    r = recipe.smoke()
    r = dataclasses.replace(r, train=r.train.replace(**kw))
    task = build_task(r)
    return task, train(task, r.train)


# ----------------------------------------------------------------------------- registry
def test_registry_lists_every_recipe_with_a_description():
    assert list_recipes() == ALL
    for name, description in describe_recipes():
        assert description and "\n" not in description, name
    for name in ALL:
        r = get_recipe(name)
        assert r.name == name and r.cite
        assert (r.train.steps is None) != (r.train.epochs is None)


@pytest.mark.parametrize("name", ALL)
def test_every_recipe_builds_and_its_smoke_variant_sets_up(name):
    r = get_recipe(name)
    task = build_task(r)                      # the full recipe: configs validate
    assert task.name == name
    small = r.smoke()
    assert small.train.steps is not None and small.train.steps <= 20
    task = build_task(small)
    task.setup(torch.device("cpu"))
    assert set(task.opts) == set(task.phases)
    assert task.export_key in task.nets


def test_pix2pix_is_the_reference_setting():
    r = get_recipe("pix2pix")
    assert (r.color_space, r.discriminator, r.d_layers, r.gan_loss, r.lambda_l1) == ("lab", "patchgan", 3, "vanilla", 100)
    assert (r.lr, r.beta1, r.beta2) == (2e-4, 0.5, 0.999) and r.train.lr_schedule == "linear"
    task = build_task(r)
    assert task.generator_config()["in_channels"] == 1 and task.generator_config()["out_channels"] == 2
    assert task.discriminator_config() == {"in_channels": 3, "ndf": 64, "n_layers": 3}
    assert task.phases == ("D", "G")


def _diff(a: str, b: str) -> dict:
    da, db = recipe_to_dict(get_recipe(a)), recipe_to_dict(get_recipe(b))
    return {k: (da[k], db[k]) for k in da if da[k] != db[k] and k not in ("name", "description")}


def test_seed000_ladder_changes_one_part_per_step():
    base = get_recipe("seed000_pix2pix")
    assert (base.color_space, base.discriminator, base.gan_loss, base.size) == ("rgb", "image", "vanilla", 128)
    assert (base.limit, base.val_limit, base.train.epochs, base.lr) == (1000, 100, 100, 2e-4)
    assert _diff("seed000_pix2pix", "seed000_lsgan") == {"gan_loss": ("vanilla", "lsgan")}
    assert _diff("seed000_lsgan", "seed000_identity") == {"lambda_identity": (0.0, 50.0)}
    assert _diff("seed000_identity", "seed000_patchgan") == {"discriminator": ("image", "patchgan")}
    assert _diff("seed000_patchgan", "seed000_full") == {"discriminator": ("patchgan", "nin_patchgan")}
    full = get_recipe("seed000_full")
    assert (full.lsgan_a, full.lsgan_b, full.lsgan_c) == (0.0, 1.0, 1.0)
    cfg = build_task(full).discriminator_config()
    assert cfg["in_channels"] == 6 and cfg["mlp_layers"] == 2 and cfg["global_pool"] is False


def test_seed003_variants():
    want = {"seed003_unet": (None, True), "seed003_unet_bn": (None, False),
            "seed003_gan": ("image", True), "seed003_gan_bn": ("image", False)}
    for name, (disc, plain) in want.items():
        r = get_recipe(name)
        assert (r.discriminator, r.g_plain) == (disc, plain)
        assert (r.data, r.size, r.color_space, r.train.epochs, r.val_split) == ("cifar10", 32, "rgb", 15, "test")
        task = build_task(r)
        assert task.phases == (("D", "G") if disc else ("G",))
        g = task.generator_config()
        assert g.get("plain", False) is plain and g["in_channels"] == 3 and g["out_channels"] == 3


def test_overrides_and_their_errors():
    r = get_recipe("pix2pix", steps=7, lambda_l1=10, **{"train.batch_size": 2}, discriminator=None)
    assert (r.train.steps, r.train.epochs, r.train.batch_size, r.lambda_l1, r.discriminator) == (7, None, 2, 10, None)
    assert get_recipe("pix2pix").train.epochs == 20  # a fresh copy each time
    with pytest.raises(LessonsError, match=r"unknown recipe 'pix3pix'; choose one of: gan_toy, dcgan, pix2pix"):
        get_recipe("pix3pix")
    with pytest.raises(LessonsError, match=r"unknown option\(s\) 'lamda_l1'.*valid options:.*lambda_l1.*steps"):
        get_recipe("pix2pix", lamda_l1=3)
    with pytest.raises(LessonsError, match="unknown discriminator 'mlp'; choose one of: patchgan, nin_patchgan, image, None"):
        get_recipe("pix2pix", discriminator="mlp")
    with pytest.raises(LessonsError, match="unknown gan_loss 'ls'"):
        get_recipe("seed000_full", gan_loss="ls")
    with pytest.raises(LessonsError, match="option lambda_l1 expects float, got 'big'"):
        get_recipe("pix2pix", lambda_l1="big")
    with pytest.raises(LessonsError, match="size must be a multiple of 8"):
        get_recipe("pix2pix", size=100)
    with pytest.raises(LessonsError, match="unknown option"):
        get_recipe("gan_toy", data="scenes8")  # the toy GAN has no image data


def test_recipe_and_training_field_names_do_not_collide():
    from lessons_lib.train.config import config_fields

    for name in ALL:
        own = {f.name for f in dataclasses.fields(get_recipe(name))} - {"train"}
        assert not own & set(config_fields()), name


def test_smoke_mode_picks_the_tiny_variant(monkeypatch):
    monkeypatch.setenv("LESSONS_MODE", "smoke")
    r = for_lesson("pix2pix", lambda_l1=50)
    assert (r.data, r.size, r.train.steps, r.lambda_l1) == ("synthetic", 32, 2, 50)
    for mode in ("class", "full"):               # sizes of those modes are passed by the lesson
        monkeypatch.setenv("LESSONS_MODE", mode)
        assert for_lesson("pix2pix").size == 128
    monkeypatch.delenv("LESSONS_MODE")
    monkeypatch.setenv("LESSONS_SMOKE", "1")       # the older switch still means smoke
    assert for_lesson("pix2pix").size == 32


# ----------------------------------------------------------------------------- colorization task
@pytest.mark.parametrize("space", ["lab", "rgb"])
@pytest.mark.parametrize("disc", ["patchgan", "nin_patchgan", "image", None])
def test_colorization_one_step(tmp_path, space, disc):
    r = get_recipe("pix2pix", color_space=space, discriminator=disc)
    task, res = quick(tmp_path, r)
    g = next(m for m in task.nets["G"].modules() if isinstance(m, torch.nn.Conv2d))
    assert g.in_channels == (1 if space == "lab" else 3)
    if disc is None:
        assert set(task.nets) == {"G"} and set(res.losses) == {"loss_G", "G_l1"}
    else:
        first = next(m for m in task.nets["D"].modules() if isinstance(m, torch.nn.Conv2d))
        assert first.in_channels == (3 if space == "lab" else 6)
        assert set(res.losses) == {"loss_D", "D_real", "D_fake", "loss_G", "G_l1", "G_gan"}
    assert all(math.isfinite(v) for v in res.losses.values())
    assert res.model_path.exists()


@pytest.mark.parametrize("space", ["lab", "rgb"])
def test_identity_loss_inputs(tmp_path, space):
    r = get_recipe("seed000_full", color_space=space)
    task, res = quick(tmp_path, r)
    assert "G_identity" in res.losses and res.losses["G_identity"] > 0
    L = torch.rand(2, 1, 4, 4) * 2 - 1
    if space == "lab":
        # a Lab G trained with identity takes (L, a, b); colorization feeds (L, 0, 0)
        assert task.generator_config()["in_channels"] == 3
        x = task.g_input(L)
        assert x.shape == (2, 3, 4, 4) and torch.equal(x[:, :1], L) and not x[:, 1:].any()
        ab = torch.rand(2, 2, 4, 4)
        assert torch.equal(task.colour_input({"cond": L, "target": ab}), torch.cat([L, ab], 1))
    else:
        gray = L.expand(-1, 3, -1, -1)
        assert task.g_input(gray) is gray


def test_d_loss_is_halved_for_vanilla_like_pix2pix(tmp_path):
    r = get_recipe("pix2pix").smoke()
    task = build_task(r)
    torch.manual_seed(0)
    task.setup(torch.device("cpu"))
    for m in task.nets.values():
        m.eval()  # deterministic BatchNorm, so D can be re-run for the reference
    batch = (torch.rand(4, 3, 32, 32) * 255).to(torch.uint8)
    state = task.forward(task.prepare(batch, torch.device("cpu")))
    out = task.loss("D", state, 0)
    D = task.nets["D"]
    real = D(torch.cat([state["cond"], state["target"]], 1))
    fake = D(torch.cat([state["cond"], state["fake"]], 1))
    ref = 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                 + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    assert out["loss"].item() == pytest.approx(ref.item(), rel=1e-5)
    # LSGAN: Mao et al.'s objective already holds the 1/2: 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(x))^2]
    task.gan = gan_loss("lsgan")
    task.d_weight = 1.0
    ref = 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()
    assert task.loss("D", state, 0)["loss"].item() == pytest.approx(ref.item(), rel=1e-5)


def test_wgan_adds_the_gradient_penalty(tmp_path):
    r = get_recipe("pix2pix", gan_loss="wgan")
    task, res = quick(tmp_path, r, d_steps=2)
    assert res.losses["D_gp"] >= 0 and "D_gp" in res.losses


def test_evaluate_and_samples(tmp_path):
    from lessons_lib.metrics import colorization_report

    r = get_recipe("pix2pix")
    task, res = quick(tmp_path, r, steps=2, sample_every=0, eval_every=0)
    # final validation = the mean of colorization_report over the 8 val images (one batch of 4 + 4)
    for key in ("psnr", "ssim", "auc", "colorfulness_gap"):
        assert key in res.val_metrics, res.val_metrics
    ds = task.dataset("val", False)
    batch = torch.stack([ds[i] for i in range(len(ds))])
    with torch.no_grad():
        for m in task.nets.values():
            m.eval()
        data = task.prepare(batch, torch.device("cpu"))
        pred = task.to_rgb(data["cond"], task.nets["G"](task.g_input(data["cond"])))
    ref = colorization_report(pred[:4], batch[:4].float() / 255)
    ref2 = colorization_report(pred[4:], batch[4:].float() / 255)
    for key in ("psnr", "ssim", "auc", "colorfulness_gap"):
        assert res.val_metrics[key] == pytest.approx((ref[key] + ref2[key]) / 2, rel=1e-4, abs=1e-6), key
    assert res.val_metrics["mae_rgb_mean"] == pytest.approx(
        (ref["mae_rgb"]["mean"] + ref2["mae_rgb"]["mean"]) / 2, rel=1e-4)
    assert res.val_metrics["n_images"] == 8 and "fid" not in res.val_metrics
    # the sample grid: 3 rows (gray input, colorization, truth) of the 4 fixed images, 32 px tiles
    from PIL import Image

    grid = tmp_path / "pix2pix" / "samples" / "step_000002.png"
    with Image.open(grid) as im:
        assert im.size == (4 * 32 + 5 * 2, 3 * 32 + 4 * 2)
        px = torch.from_numpy(np.array(im.convert("RGB"))).float()
    first_row = px[2:34, 2:34]  # the gray input: R = G = B up to rounding
    assert (first_row.max(-1).values - first_row.min(-1).values).max() <= 2
    card = (tmp_path / "pix2pix" / "model.json").read_text()
    assert '"recipe": "pix2pix"' in card and '"g_input": "L"' in card and '"data": "synthetic"' in card


# ----------------------------------------------------------------------------- toy tasks
def test_mode_metrics_and_render_points():
    from lessons_lib.models.gan import gaussian_mixture_centers

    c = gaussian_mixture_centers(8, 2.0)
    every = c.repeat(10, 1)
    m = mode_metrics(every, c, std=0.02)
    assert m == {"modes_covered": 8.0, "high_quality": 1.0, "mean_distance": pytest.approx(0.0, abs=1e-6)}
    one = c[:1].repeat(80, 1)
    assert mode_metrics(one, c, std=0.02)["modes_covered"] == 1.0
    far = torch.zeros(80, 2)  # the centre of the ring: 2 away from every mode
    assert mode_metrics(far, c, std=0.02)["high_quality"] == 0.0
    img = render_points(torch.tensor([[2.9, 2.9]]), torch.zeros(1, 2), size=64, extent=3.0)
    assert img.shape == (1, 3, 64, 64)
    # pixel of (x, y): column floor((x + 3) / 6 * 64), row 63 - floor((y + 3) / 6 * 64) (y up)
    assert torch.allclose(img[0, :, 31, 32], torch.tensor([1.0, 0.5, 0.05]))   # fake at the origin: orange
    assert torch.allclose(img[0, :, 1, 62], torch.tensor([0.12, 0.47, 0.71]))  # real near the top right: blue
    assert (img[0] != 1).any(0).sum() == 2                                     # white elsewhere


def test_toy_gan_trains_and_reports_modes(tmp_path):
    task, res = quick(tmp_path, get_recipe("gan_toy"), steps=20, eval_every=0, sample_every=0)
    assert set(res.val_metrics) == {"modes_covered", "high_quality", "mean_distance"}
    assert 0 <= res.val_metrics["modes_covered"] <= 8
    assert (tmp_path / "gan_toy" / "samples" / "step_000020.png").exists()
    assert res.losses["loss_D"] > 0


def test_dcgan_trains(tmp_path):
    task, res = quick(tmp_path, get_recipe("dcgan"), steps=2, sample_every=0)
    assert task.nets["G"](torch.randn(2, 100)).shape == (2, 3, 32, 32)
    assert (tmp_path / "dcgan" / "samples" / "step_000002.png").exists()
    assert res.val_metrics == {}


def test_recipe_is_plain_json():
    import json

    d = recipe_to_dict(get_recipe("seed000_full"))
    assert json.loads(json.dumps(d)) == d
    assert d["type"] == "ColorizationRecipe" and d["train"]["epochs"] == 100
    assert isinstance(get_recipe("pix2pix"), ColorizationRecipe)
    assert isinstance(get_recipe("pix2pix").train, TrainConfig)


@pytest.mark.parametrize("name", ALL)
def test_recipe_from_dict_inverts_recipe_to_dict(name):
    """What a card stores (``recipe_to_dict``) reads back as the same recipe, tuples included."""
    from lessons_lib.recipes import recipe_from_dict

    for r in (get_recipe(name), get_recipe(name).smoke()):
        d = recipe_to_dict(r)
        back = recipe_from_dict(json.loads(json.dumps(d)))       # as a JSON card holds it
        assert back == r and type(back) is type(r)
        assert recipe_to_dict(back) == d


def test_recipe_from_dict_refuses_what_it_cannot_rebuild():
    from lessons_lib.recipes import recipe_from_dict

    d = recipe_to_dict(get_recipe("pix2pix", lambda_l1=50.0, perceptual_layers=("f1",), perceptual_weights=(2.0,)))
    back = recipe_from_dict(d)
    assert back.lambda_l1 == 50.0 and back.perceptual_layers == ("f1",)
    with pytest.raises(LessonsError, match="unknown recipe type 'NoSuchRecipe'"):
        recipe_from_dict({**d, "type": "NoSuchRecipe"})
    with pytest.raises(LessonsError, match="ColorizationRecipe has no field.* lambda_nope"):
        recipe_from_dict({**d, "lambda_nope": 1})
    with pytest.raises(LessonsError, match="TrainConfig has no field.* warp"):
        recipe_from_dict({**d, "train": {**d["train"], "warp": 9}})
    with pytest.raises(LessonsError, match="discriminator"):
        recipe_from_dict({**d, "discriminator": "bogus"})      # validated like get_recipe


def test_every_recipe_type_names_its_task_by_import():
    """``recipe.Task`` is the class build_task builds, from the recipe's own product package."""
    for name in ALL:
        r = get_recipe(name)
        assert isinstance(r.Task, type)
        product = type(r).__module__.rsplit(".", 1)[0]
        assert r.Task.__module__.startswith(product + "."), (name, r.Task.__module__)
