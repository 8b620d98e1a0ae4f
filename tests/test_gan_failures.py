"""Lesson 11's options ("when GAN training fails, and how it is mended"): the saturating G
loss, one-sided label smoothing, instance noise, TTUR, spectral norm, resize-convolution
up-sampling, the engine's G EMA; and that their defaults leave every model as it was."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lessons_lib import LessonsError, recipes
from lessons_lib.losses import GANLoss, gan_loss
from lessons_lib.models import build_model
from lessons_lib.models.layers import (add_spectral_norm, largest_singular_values, upsample_conv,
                                       upsampling_overlap)
from lessons_lib.train import train

from test_engine import TinyTask, assert_identical, cfg, state_of  # the engine's tiny task

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- losses
def test_saturating_g_loss_is_log_one_minus_d_and_its_gradient_vanishes():
    f = torch.tensor([-8.0, -2.0, 0.0, 3.0], requires_grad=True)
    sat = gan_loss("saturating")
    assert sat.saturating and sat.mode == "vanilla"
    assert GANLoss("vanilla", saturating=True).saturating
    loss = sat.g_loss(f)
    assert loss.item() == pytest.approx(torch.log(1 - torch.sigmoid(f.detach())).mean().item(), abs=1e-6)
    (g,) = torch.autograd.grad(loss, f)
    assert torch.allclose(g, -torch.sigmoid(f.detach()) / 4, atol=1e-7)
    (g_ns,) = torch.autograd.grad(gan_loss("vanilla").g_loss(f), f)
    # where D rejects the sample (logit -8) the saturating gradient is ~1e3 times weaker
    assert abs(g[0]) < 1e-3 * abs(g_ns[0])
    # D's loss is the same in both
    r = torch.tensor([1.0, 2.0])
    assert sat.d_loss(r, f.detach()).item() == pytest.approx(gan_loss("vanilla").d_loss(r, f.detach()).item())


def test_one_sided_label_smoothing_is_bce_against_0_9_on_reals_only():
    r, f = torch.randn(64), torch.randn(64)
    ls = gan_loss("vanilla", real_label=0.9)
    want = (F.binary_cross_entropy_with_logits(r, torch.full_like(r, 0.9))
            + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))
    assert ls.d_loss(r, f).item() == pytest.approx(want.item(), rel=1e-6)
    assert ls.g_loss(f).item() == pytest.approx(gan_loss("vanilla").g_loss(f).item())  # G's loss unchanged
    # D's optimum on a real sample is the finite logit log(0.9 / 0.1)
    x = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([x], lr=1.0)
    for _ in range(500):
        opt.zero_grad()
        ls.d_loss(x, torch.full((1,), -30.0)).backward()
        opt.step()
    assert x.item() == pytest.approx(math.log(9.0), abs=1e-3)
    with pytest.raises(ValueError, match="vanilla"):
        GANLoss("hinge", real_label=0.9)
    with pytest.raises(ValueError, match="real_label"):
        GANLoss("vanilla", real_label=0.0)
    with pytest.raises(LessonsError, match="real_label"):
        recipes.get_recipe("gan_toy", gan_loss="hinge", real_label=0.9)


def test_instance_noise_is_added_to_both_d_inputs_and_annealed():
    r = recipes.get_recipe("gan_toy", instance_noise=0.5, instance_noise_steps=100, real_label=0.9)
    task = recipes.build_task(r)
    torch.manual_seed(0)
    task.setup(torch.device("cpu"))
    assert [task.noise_std(s) for s in (0, 50, 100, 150)] == [0.5, 0.25, 0.0, 0.0]
    real, fake, z = torch.randn(16, 2), torch.randn(16, 2), torch.randn(16, 2)
    torch.manual_seed(1)
    out = task.loss("D", {"real": real, "fake": fake, "z": z}, 50)
    torch.manual_seed(1)
    n_real, n_fake = 0.25 * torch.randn(16, 2), 0.25 * torch.randn(16, 2)
    D = task.nets["D"]
    with torch.no_grad():
        want = gan_loss("vanilla", real_label=0.9).d_loss(D(real + n_real), D(fake + n_fake))
    assert out["loss"].item() == pytest.approx(want.item(), rel=1e-6)
    assert out["noise"].item() == pytest.approx(0.25)
    # off by default: no noise, no draw
    plain = recipes.build_task(recipes.get_recipe("gan_toy"))
    plain.setup(torch.device("cpu"))
    assert plain.noise_std(0) == 0.0 and plain._d_input(real, 0) is real


def test_toy_and_dcgan_tasks_log_g_gradient_and_take_the_options(tmp_path):
    r = recipes.get_recipe("gan_toy", gan_loss="saturating", lr_d=3e-3, d_spectral_norm=True, lambda_ms=0.1)
    r = r.smoke()
    task = recipes.build_task(r)
    res = train(task, r.train.replace(out=str(tmp_path / "toy"), steps=6, log_every=3))
    assert {"G_grad", "G_ms", "loss_D"} <= set(res.losses)
    assert res.losses["G_grad"] > 0
    assert task.opts["D"].param_groups[0]["lr"] == pytest.approx(3e-3)
    assert task.opts["G"].param_groups[0]["lr"] == pytest.approx(r.lr)
    assert hasattr(task.nets["D"].net[0], "parametrizations")
    d = recipes.get_recipe("dcgan", g_upsample="resize", d_spectral_norm=True, real_label=0.9,
                           instance_noise=0.1).smoke()
    dt = recipes.build_task(d)
    res = train(dt, d.train.replace(out=str(tmp_path / "dc")))
    assert dt.nets["G"].config["upsample"] == "resize" and dt.nets["D"].config["spectral_norm"] is True
    assert not any(isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2) for m in dt.nets["G"].modules())
    with pytest.raises(LessonsError, match="g_upsample"):
        recipes.get_recipe("dcgan", g_upsample="pixelshuffle")


# ----------------------------------------------------------------------------- spectral norm
@pytest.mark.parametrize("arch, kw, x", [
    ("toy_gan_d", {}, (16, 2)),
    ("dcgan_d", {"width": 8}, (4, 3, 32, 32)),
    ("patchgan", {"in_channels": 3, "ndf": 8, "n_layers": 2}, (2, 3, 32, 32)),
    ("nin_patchgan", {"in_channels": 3, "ndf": 8, "n_layers": 2}, (2, 3, 32, 32)),
    ("image_discriminator", {"in_channels": 6, "ndf": 8, "image_size": 32}, (2, 6, 32, 32)),
])
def test_spectral_norm_bounds_the_largest_singular_value(arch, kw, x):
    torch.manual_seed(0)
    plain = build_model(arch, **kw)
    torch.manual_seed(0)
    sn = build_model(arch, spectral_norm=True, **kw)
    n_weights = len(largest_singular_values(plain))
    assert n_weights == len(largest_singular_values(sn)) > 0
    sn.train()
    with torch.no_grad():
        for _ in range(30):  # power iteration: one step per forward pass in train mode
            out = sn(torch.randn(*x))
    assert out.shape == plain(torch.randn(*x)).shape
    sigmas = largest_singular_values(sn)
    assert max(sigmas) == pytest.approx(1.0, abs=0.05) and min(sigmas) > 0.9, sigmas
    if arch == "toy_gan_d":  # PyTorch's default init: sigma > 1 without spectral norm
        assert max(largest_singular_values(plain)) > 1.2
    # a further step of gradient descent cannot push sigma above 1
    opt = torch.optim.SGD(sn.parameters(), lr=10.0)
    opt.zero_grad()
    sn(torch.randn(*x)).mean().backward()
    opt.step()
    with torch.no_grad():
        for _ in range(30):
            sn(torch.randn(*x))
    assert max(largest_singular_values(sn)) == pytest.approx(1.0, abs=0.05)


def test_add_spectral_norm_is_idempotent():
    m = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    add_spectral_norm(m)
    add_spectral_norm(m)
    assert len(m[0].parametrizations.weight) == 1


# ----------------------------------------------------------------------------- up-sampling
def test_transposed_conv_overlap_is_uneven_and_resize_conv_is_even():
    k3 = upsampling_overlap(3, 2, 8)
    assert k3.shape == (16, 16)
    assert set(k3[1:-2, 1:-2].unique().tolist()) == {1.0, 2.0, 4.0}    # the checkerboard
    k4 = upsampling_overlap(4, 2, 8)
    assert set(k4[1:-1, 1:-1].unique().tolist()) == {4.0}              # even inside, not at the border
    assert k4[0, 0] == 1.0
    for mode in ("resize", "bilinear"):
        r = upsampling_overlap(3, 2, 8, mode=mode)
        assert torch.allclose(r[1:-1, 1:-1], torch.full((14, 14), 9.0))


def test_resize_conv_maps_a_flat_image_to_a_flat_image_for_any_weights():
    torch.manual_seed(0)
    x = torch.ones(1, 4, 6, 6)
    with torch.no_grad():
        t = upsample_conv(4, 2, "transpose")(x)[0, :, 2:-2, 2:-2]
        r = upsample_conv(4, 2, "resize")(x)[0, :, 2:-2, 2:-2]
    assert t.shape == r.shape == (2, 8, 8)
    assert (t - t.mean(dim=(1, 2), keepdim=True)).abs().max() > 1e-3      # random weights: a checkerboard
    assert (r - r.mean(dim=(1, 2), keepdim=True)).abs().max() < 1e-5      # none


@pytest.mark.parametrize("mode", ["resize", "bilinear"])
def test_generators_take_upsample_and_keep_their_shapes(mode):
    g = build_model("dcgan_g", z_dim=8, width=8, upsample=mode)
    assert g(torch.randn(2, 8)).shape == (2, 3, 32, 32)
    u = build_model("unet", in_channels=1, out_channels=2, base=8, image_size=32, upsample=mode)
    y = u(torch.randn(2, 1, 32, 32))
    assert y.shape == (2, 2, 32, 32) and y.abs().max() <= 1
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in u.modules())
    with pytest.raises(ValueError, match="upsample"):
        build_model("unet", base=8, image_size=32, upsample="nope").config


def test_defaults_leave_the_models_unchanged():
    # the state-dict keys (what the shipped weights are loaded into) are the historical ones
    u = build_model("unet", in_channels=1, out_channels=2, base=8, image_size=32)
    assert isinstance(u.up[0][1], nn.ConvTranspose2d) and "up.0.1.weight" in u.state_dict()
    assert isinstance(u.up[1][1], nn.ConvTranspose2d)
    g = build_model("dcgan_g", z_dim=8, width=8)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g.modules()) == 4
    for arch in ("patchgan", "dcgan_d", "toy_gan_d"):
        assert not any("parametrizations" in k for k in build_model(arch).state_dict())
    # the recipes build the same configs as before (no new keys in the cards)
    task = recipes.build_task(recipes.get_recipe("pix2pix"))
    assert "upsample" not in task.generator_config() and "spectral_norm" not in task.discriminator_config()
    r = recipes.get_recipe("pix2pix", g_upsample="resize", d_spectral_norm=True, real_label=0.9)
    t2 = recipes.build_task(r)
    assert t2.generator_config()["upsample"] == "resize" and t2.discriminator_config()["spectral_norm"]


# ----------------------------------------------------------------------------- G EMA
def test_g_ema_is_the_closed_form_average(tmp_path):
    beta = 0.8
    task = TinyTask()
    history = []

    def hook(step, logs):
        history.append(task.nets["G"].lin.weight.detach().clone())

    res = train(task, cfg(tmp_path, steps=7, lr_schedule="constant", g_ema=beta, sample_every=-1), hooks=[hook])
    assert set(task.nets) == {"G", "D", "G_ema"}
    w0 = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)  # the end state
    k = len(history)
    # ema_k = beta^k w_0 + sum_j (1 - beta) beta^(k - j) w_j; w_0 = G's initial weights = ema_0
    init = TinyTask()
    torch.manual_seed(3)
    init.setup(torch.device("cpu"))
    want = beta ** k * init.nets["G"].lin.weight
    for j, w in enumerate(history, start=1):
        want = want + (1 - beta) * beta ** (k - j) * w
    got = task.nets["G_ema"].lin.weight
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.equal(w0["nets"]["G_ema"]["lin.weight"], got)
    assert not torch.allclose(got, task.nets["G"].lin.weight)
    # the exported model is the average
    from lessons_lib.checkpoints import load_model

    assert torch.allclose(load_model(res.model_path)[0].lin.weight, got)


def test_g_ema_survives_resume_bit_exactly(tmp_path):
    straight = TinyTask()
    train(straight, cfg(tmp_path, "a", steps=20, lr_schedule="constant", g_ema=0.9))
    first = TinyTask()
    train(first, cfg(tmp_path, "b", steps=10, lr_schedule="constant", g_ema=0.9))
    second = TinyTask()
    train(second, cfg(tmp_path, "b", steps=20, lr_schedule="constant", g_ema=0.9, resume=True))
    assert_identical(state_of(straight), state_of(second))
    assert "G_ema.lin.weight" in state_of(second)


def test_g_ema_off_changes_nothing_and_bad_values_are_refused(tmp_path):
    a, b = TinyTask(), TinyTask()
    train(a, cfg(tmp_path, "a", steps=6))
    train(b, cfg(tmp_path, "b", steps=6, g_ema=0.0))
    assert_identical(state_of(a), state_of(b))
    assert "G_ema" not in a.nets
    with pytest.raises(LessonsError, match="g_ema"):
        train(TinyTask(), cfg(tmp_path, "c", g_ema=1.0))
