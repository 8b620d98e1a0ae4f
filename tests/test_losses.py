"""Adversarial and reconstruction losses against hand-computed values and library references."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from skimage.color import rgb2lab

from lessons_lib import LessonsError
from lessons_lib.losses import (
    GAN_LOSSES,
    GANLoss,
    chroma_removed,
    gan_loss,
    gradient_penalty,
    identity_loss,
    identity_target,
    l1_loss,
    r1_penalty,
)

R = torch.tensor([1.0, 3.0])   # logits on real samples
FK = torch.tensor([0.0, 2.0])  # logits on generated samples


# --------------------------------------------------------------------------- vanilla
def test_vanilla_at_zero_logits_is_log2():
    z = torch.zeros(4, 1)
    loss = gan_loss("vanilla")
    # sigma(0) = 1/2: each BCE term is -log(1/2) = log 2.
    assert loss.d_loss(z, z).item() == pytest.approx(2 * math.log(2), rel=1e-6)
    assert loss.g_loss(z).item() == pytest.approx(math.log(2), rel=1e-6)


def test_vanilla_is_the_logistic_nonsaturating_loss():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(3, 1, 5, 5, generator=g) * 3, torch.randn(3, 1, 5, 5, generator=g) * 3
    loss = GANLoss("vanilla")
    d_ref = F.softplus(-real).mean() + F.softplus(fake).mean()
    g_ref = F.softplus(-fake).mean()
    torch.testing.assert_close(loss.d_loss(real, fake), d_ref)
    torch.testing.assert_close(loss.g_loss(fake), g_ref)
    # Same as PyTorch's BCE-with-logits against labels 1 (real) / 0 (fake) ...
    bce = nn.BCEWithLogitsLoss()
    torch.testing.assert_close(loss.d_loss(real, fake),
                               bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
    # ... and the non-saturating G loss is -log sigma(D(G(z))), not log(1 - sigma(D(G(z)))).
    torch.testing.assert_close(loss.g_loss(fake), -torch.log(torch.sigmoid(fake)).mean())
    # "logistic" and "non-saturating" name the same loss.
    torch.testing.assert_close(gan_loss("logistic").d_loss(real, fake), d_ref)
    torch.testing.assert_close(gan_loss("non-saturating").g_loss(fake), g_ref)


def test_vanilla_is_stable_for_huge_logits():
    big = torch.tensor([100.0, -100.0])
    loss = gan_loss("vanilla")
    assert torch.isfinite(loss.d_loss(big, big)) and torch.isfinite(loss.g_loss(big))
    assert loss.g_loss(torch.tensor([-100.0])).item() == pytest.approx(100.0)


# --------------------------------------------------------------------------- lsgan
def test_lsgan_seed000_coding():
    loss = gan_loss("lsgan")  # a=0, b=1, c=1
    # D: 1/2 mean((1-1)^2, (3-1)^2) + 1/2 mean((0-0)^2, (2-0)^2) = 1/2*2 + 1/2*2 = 2
    assert loss.d_loss(R, FK).item() == pytest.approx(2.0)
    # G: 1/2 mean((0-1)^2, (2-1)^2) = 0.5
    assert loss.g_loss(FK).item() == pytest.approx(0.5)


def test_lsgan_targets_are_honoured():
    loss = gan_loss("lsgan", a=-1.0, b=1.0, c=0.0)  # Mao et al.'s -1/1/0 coding
    # D: 1/2 mean(0, 4) + 1/2 mean((0+1)^2, (2+1)^2) = 1 + 2.5
    assert loss.d_loss(R, FK).item() == pytest.approx(3.5)
    # G: 1/2 mean(0, 4) = 1
    assert loss.g_loss(FK).item() == pytest.approx(1.0)
    assert "a=-1.0" in repr(loss)


# --------------------------------------------------------------------------- wgan, hinge
def test_wgan_values():
    loss = gan_loss("wgan")
    assert loss.d_loss(R, FK).item() == pytest.approx(1.0 - 2.0)  # E[D(fake)] - E[D(real)]
    assert loss.g_loss(FK).item() == pytest.approx(-1.0)
    assert gan_loss("wgan-gp").mode == "wgan"


def test_hinge_values():
    loss = gan_loss("hinge")
    real, fake = torch.tensor([0.5, 2.0]), torch.tensor([-2.0, 0.5])
    # relu(1 - [0.5, 2]) = [0.5, 0]; relu(1 + [-2, 0.5]) = [0, 1.5]  -> 0.25 + 0.75
    assert loss.d_loss(real, fake).item() == pytest.approx(1.0)
    assert loss.g_loss(fake).item() == pytest.approx(0.75)


@pytest.mark.parametrize("mode", GAN_LOSSES)
def test_patch_maps_average_over_every_logit(mode):
    loss = gan_loss(mode)
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    # A patch map is the same as the flat list of its logits.
    torch.testing.assert_close(loss.d_loss(real, fake), loss.d_loss(real.flatten(), fake.flatten()))
    torch.testing.assert_close(loss.g_loss(fake), loss.g_loss(fake.reshape(-1, 1)))
    # bf16 logits from an autocast region give a float32 loss.
    assert loss.g_loss(fake.bfloat16()).dtype == torch.float32


def test_generator_gradient_points_towards_real():
    fake = torch.zeros(3, requires_grad=True)
    for mode in GAN_LOSSES:
        fake.grad = None
        gan_loss(mode).g_loss(fake).backward()
        assert (fake.grad < 0).all(), mode  # raising D(G(z)) lowers every G loss


def test_unknown_loss_name_and_misplaced_targets():
    with pytest.raises(LessonsError) as e:
        gan_loss("wasserstien")
    for name in ("vanilla", "lsgan", "wgan", "hinge"):
        assert name in str(e.value)
    with pytest.raises(ValueError, match="lsgan"):
        gan_loss("hinge", a=0.0)
    with pytest.raises(LessonsError, match="label_smoothing"):
        gan_loss("vanilla", label_smoothing=0.9)   # real_label=0.9 is the option (lesson 11)
    with pytest.raises(ValueError, match="empty"):
        gan_loss("vanilla").g_loss(torch.zeros(0))


# --------------------------------------------------------------------------- penalties
def _linear_critic(w: torch.Tensor):
    return lambda x: (x.flatten(1) * w.flatten()).sum(dim=1, keepdim=True)


def test_gradient_penalty_zero_for_unit_gradient_critic():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(4, 2, 3, 3, generator=g), torch.randn(4, 2, 3, 3, generator=g)
    w = torch.randn(2, 3, 3, generator=g)
    gp = gradient_penalty(_linear_critic(w / w.norm()), real, fake)
    assert gp.item() == pytest.approx(0.0, abs=1e-8)
    # ||w|| = 2 everywhere: lambda * (2 - 1)^2 = 10.
    gp2 = gradient_penalty(_linear_critic(2 * w / w.norm()), real, fake, lambda_gp=10.0)
    assert gp2.item() == pytest.approx(10.0, rel=1e-5)


def test_gradient_penalty_nonlinear_critic_and_backprop():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 1))
    real, fake = torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    assert gp.item() > 0
    gp.backward()  # the penalty trains the critic: a double-backward graph exists
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in critic[1].parameters())
    # Same eps generator -> same value.
    again = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    assert again.item() == pytest.approx(gp.item())


def test_gradient_penalty_conditional_closure():
    cond = torch.randn(2, 1, 4, 4)
    real, fake = torch.randn(2, 2, 4, 4), torch.randn(2, 2, 4, 4)
    w = torch.randn(3, 4, 4)
    critic = _linear_critic(w)
    # Only the output half is interpolated: the gradient is w's output channels.
    gp = gradient_penalty(lambda y: critic(torch.cat([cond, y], 1)), real, fake, lambda_gp=1.0)
    assert gp.item() == pytest.approx((w[1:].norm().item() - 1) ** 2, rel=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, real, fake[:1])


def test_r1_penalty_linear_discriminator():
    w = torch.tensor([[0.5, -2.0, 1.0]])
    x = torch.randn(6, 3).requires_grad_(True)
    logits = x @ w.T
    # grad_x D = w for every sample: gamma/2 * ||w||^2 = 5 * 5.25
    assert r1_penalty(logits, x, gamma=10.0).item() == pytest.approx(5.0 * 5.25)
    assert r1_penalty(x @ w.T, x, gamma=1.0).item() == pytest.approx(0.5 * 5.25)
    with pytest.raises(ValueError, match="requires_grad_"):
        r1_penalty(torch.randn(6, 3) @ w.T, torch.randn(6, 3))


# --------------------------------------------------------------------------- reconstruction
def test_l1_loss_matches_torch_and_checks_shapes():
    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(l1_loss(a, b), F.l1_loss(a, b))
    with pytest.raises(ValueError, match="same shape"):
        l1_loss(a, b[:, :2])


def test_identity_loss_rgb_and_lab():
    torch.manual_seed(0)
    y = torch.rand(2, 3, 8, 8) * 2 - 1
    # RGB: an identity generator returns the colour image unchanged -> loss 0.
    assert identity_loss(lambda t: t, y, identity_target(y, "rgb")).item() == 0.0
    # Lab: G takes (L, a, b) and outputs ab; passing a, b through is perfect.
    assert identity_loss(lambda t: t[:, 1:], y, identity_target(y, "lab")).item() == 0.0
    # A generator that outputs no colour pays mean |ab|.
    zero_ab = identity_loss(lambda t: torch.zeros_like(t[:, 1:]), y, identity_target(y, "lab"))
    assert zero_ab.item() == pytest.approx(y[:, 1:].abs().mean().item())
    with pytest.raises(ValueError, match="same shape"):
        identity_loss(lambda t: t, y, identity_target(y, "lab"))


def test_chroma_removed_rgb_keeps_lightness_and_drops_colour():
    from skimage import data

    img = data.astronaut()[::16, ::16]  # 32x32 bundled photo
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    gray = chroma_removed(x, "rgb")
    assert gray.shape == x.shape and gray.min() >= -1 and gray.max() <= 1
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    lab_in = rgb2lab(((x[0] + 1) / 2).permute(1, 2, 0).numpy().astype(np.float64))
    lab_gray = rgb2lab(((gray[0] + 1) / 2).permute(1, 2, 0).numpy().astype(np.float64))
    np.testing.assert_allclose(lab_gray[..., 0], lab_in[..., 0], atol=0.05)  # same L*
    assert np.abs(lab_gray[..., 1:]).max() < 0.05  # no chroma


def test_chroma_removed_lab_and_errors():
    x = torch.rand(2, 3, 4, 4) * 2 - 1
    out = chroma_removed(x, "lab")
    assert torch.equal(out[:, :1], x[:, :1]) and torch.equal(out[:, 1:], torch.zeros(2, 2, 4, 4))
    assert chroma_removed(x, "LAB").shape == x.shape
    with pytest.raises(LessonsError, match="rgb, lab"):
        chroma_removed(x, "hsv")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        chroma_removed(x[:, :1], "lab")


def test_d_step_and_g_step_are_one_step_of_each_side():
    """The one D/G step every task uses: D's loss on real and the DETACHED fake (no gradient
    reaches G in the D step), the logged means, the `see` hook; G's term reaches the fake."""
    torch.manual_seed(0)
    D = torch.nn.Linear(3, 1)
    real, fake = torch.randn(8, 3), torch.randn(8, 3, requires_grad=True)
    gan = GANLoss("vanilla")
    out = gan.d_step(D, real, fake)
    assert torch.allclose(out["loss"], gan.d_loss(D(real), D(fake)))
    assert float(out["real"]) == pytest.approx(float(D(real).mean()))
    out["loss"].backward()
    assert fake.grad is None and D.weight.grad is not None          # detached: G untouched
    noisy = gan.d_step(D, real, fake, see=lambda x: x + 1.0)
    assert float(noisy["fake"]) == pytest.approx(float(D(fake + 1.0).mean()))
    g = gan.g_step(D, fake)
    assert torch.allclose(g, gan.g_loss(D(fake)))
    g.backward()
    assert fake.grad is not None and float(fake.grad.abs().sum()) > 0
