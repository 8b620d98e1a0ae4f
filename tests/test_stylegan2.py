"""The small StyleGAN2 (lessons_lib.models.stylegan2)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lessons_lib.losses.adversarial import gan_loss, r1_penalty
from lessons_lib.models import build_model
from lessons_lib.models.layers import count_parameters
from lessons_lib.models.stylegan2 import (
    EqualConv2d,
    EqualLinear,
    ModulatedConv2d,
    minibatch_stddev,
    stylegan2_channels,
    stylegan2_n_w,
    upsample2x,
    w_index_after,
)

SMALL = dict(size=32, z_dim=32, w_dim=32, n_mlp=2, channel_base=512, channel_max=32)


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    g = build_model("stylegan2_g", **SMALL)
    with torch.no_grad():  # give the noise a visible strength (it starts at 0)
        for m in g.modules():
            if hasattr(m, "strength"):
                m.strength.fill_(0.1)
    return g.eval()


def test_shapes_and_code_count(G):
    z = torch.randn(3, 32)
    assert G(z).shape == (3, 3, 32, 32)
    assert G.n_w == stylegan2_n_w(32) == 8 and stylegan2_n_w(64) == 10
    assert G.channels == {4: 32, 8: 32, 16: 32, 32: 16}
    w = G.mapping(z)
    assert torch.allclose(G(w, input_is_w=True, noise="const"), G(z, noise="const"), atol=1e-6)
    ws = w[:, None].expand(-1, G.n_w, -1)
    assert torch.allclose(G(ws, input_is_w=True, noise="const"), G(z, noise="const"), atol=1e-6)
    with pytest.raises(ValueError, match=r"\(B, 32\)"):
        G(torch.randn(2, 7))
    with pytest.raises(ValueError, match="one code per layer"):
        G(torch.randn(2, 5, 32), input_is_w=True)
    with pytest.raises(ValueError, match="power of two"):
        build_model("stylegan2_g", size=48)


def test_noise_modes(G):
    z = torch.randn(2, 32)
    assert torch.equal(G(z, noise="const"), G(z, noise="const"))
    assert (G(z) - G(z)).abs().max() > 1e-4  # fresh noise each call
    assert (G(z, noise="zero") - G(z, noise="const")).abs().max() > 1e-4
    with pytest.raises(ValueError, match="noise"):
        G(z, noise="sometimes")


def test_style_mixing(G):
    torch.manual_seed(1)
    z1, z2 = torch.randn(2, 32), torch.randn(2, 32)
    a, b = G(z1, noise="const"), G(z2, noise="const")
    mixed = G.style_mix(z1, z2, crossover=4, noise="const")
    assert (mixed - a).abs().max() > 1e-3 and (mixed - b).abs().max() > 1e-3
    assert torch.allclose(G.style_mix(z1, z2, crossover=G.n_w, noise="const"), a, atol=1e-6)
    assert torch.allclose(G.style_mix(z1, z2, crossover=0, noise="const"), b, atol=1e-6)
    with pytest.raises(ValueError, match="crossover"):
        G.style_mix(z1, z2, crossover=G.n_w + 1)


def test_truncation_zero_gives_the_mean_image(G):
    z = torch.randn(4, 32)
    mean = G.mean_w(512, generator=torch.Generator().manual_seed(0))
    assert mean.shape == (32,)
    img = G(z, truncation=0.0, truncation_latent=mean, noise="const")
    assert torch.allclose(img, img[:1].expand_as(img), atol=1e-6)
    assert torch.allclose(img[:1], G(mean[None], input_is_w=True, noise="const"), atol=1e-5)
    half = G(z, truncation=0.5, noise="const")  # default centre: the tracked w_avg
    ws = G.w_avg + 0.5 * (G.mapping(z) - G.w_avg)
    assert torch.allclose(half, G(ws, input_is_w=True, noise="const"), atol=1e-5)


def test_w_avg_is_tracked_only_in_training():
    torch.manual_seed(0)
    g = build_model("stylegan2_g", **SMALL)
    before = g.w_avg.clone()
    g.eval()
    g(torch.randn(2, 32))
    assert torch.equal(g.w_avg, before)
    g.train()
    z = torch.randn(8, 32)
    w = g.mapping(z).detach()
    g(z)
    assert torch.allclose(g.w_avg, 0.995 * before + 0.005 * w.mean(0), atol=1e-6)


def test_equalised_learning_rate_scaling():
    torch.manual_seed(0)
    lin = EqualLinear(64, 8, bias_init=0.5, lr_mul=0.01)
    assert math.isclose(lin.scale, 0.01 / math.sqrt(64))
    x = torch.randn(5, 64)
    ref = F.linear(x, lin.weight * 0.01 / 8.0, lin.bias * 0.01)
    assert torch.allclose(lin(x), ref, atol=1e-6)
    assert torch.allclose(lin.bias * 0.01, torch.full((8,), 0.5))  # effective initial bias = bias_init
    big = EqualLinear(512, 512, lr_mul=0.01)
    eff = big.weight * big.scale  # effective weight: He-init std 1/sqrt(fan_in) whatever lr_mul
    assert abs(float(eff.detach().std()) - 1 / math.sqrt(512)) < 0.03 / math.sqrt(512)
    assert float(big.weight.detach().std()) > 50  # stored / lr_mul: Adam's steps are 100x smaller relative to it
    conv = EqualConv2d(16, 4, 3, padding=1)
    assert math.isclose(conv.scale, 1 / math.sqrt(16 * 9))
    y = torch.randn(1, 16, 6, 6)
    assert torch.allclose(conv(y), F.conv2d(y, conv.weight / 12.0, conv.bias, padding=1), atol=1e-5)


@torch.no_grad()
def test_demodulation_gives_unit_std_whatever_the_style():
    torch.manual_seed(0)
    conv = ModulatedConv2d(64, 32, 3, w_dim=16, demodulate=True)
    raw = ModulatedConv2d(64, 32, 3, w_dim=16, demodulate=False)
    raw.load_state_dict(conv.state_dict())
    x = torch.randn(2, 64, 40, 40)
    for scale in (0.3, 1.0, 5.0):
        w = scale * torch.randn(2, 16)
        out = conv(x, w)[:, :, 1:-1, 1:-1]  # interior: no zero padding
        assert abs(float(out.std()) - 1.0) < 0.08, (scale, float(out.std()))
    # without demodulation the output scale follows the style
    stds = [float(raw(x, s * torch.ones(2, 16))[:, :, 1:-1, 1:-1].std()) for s in (0.5, 4.0)]
    assert stds[1] > 2 * stds[0]


def test_fused_and_unfused_modconv_agree():
    torch.manual_seed(0)
    fused = ModulatedConv2d(8, 6, 3, w_dim=5, upsample=True, fused=True)
    plain = ModulatedConv2d(8, 6, 3, w_dim=5, upsample=True, fused=False)
    plain.load_state_dict(fused.state_dict())
    x, w = torch.randn(3, 8, 5, 5), torch.randn(3, 5)
    a, b = fused(x, w), plain(x, w)
    assert a.shape == (3, 6, 10, 10)
    assert torch.allclose(a, b, atol=1e-5)


def test_bilinear_upsampling_is_the_1331_filter_in_the_interior():
    x = torch.randn(1, 1, 6, 6)
    up = upsample2x(x)
    zeros = torch.zeros(1, 1, 12, 12)
    zeros[..., ::2, ::2] = x
    k = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8 * 2  # per axis: [1,3,3,1] normalised, gain 2 (zero insertion)
    ref = F.conv2d(F.pad(zeros, (2, 1, 2, 1)), torch.outer(k, k)[None, None])
    assert torch.allclose(up[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2], atol=1e-5)


def test_injecting_the_generators_own_features_reproduces_its_output(G):
    z = torch.randn(2, 32)
    img, info = G(z, noise="const", return_features=True)
    f16 = info["features"][16]
    assert f16.shape == (2, G.channels[16], 16, 16)
    assert set(info["features"]) == {4, 8, 16, 32}
    assert torch.equal(G(z, noise="const", inject_features=f16, inject_res=16), img)
    ws_after = info["ws"][:, w_index_after(16):]
    assert ws_after.shape[1] == G.n_w_after(16) == 4
    same = G.synthesis_from(16, f16, ws_after, skip=info["skips"][16], noise="const")
    assert torch.allclose(same, img, atol=1e-6)
    # BDInvert drops the coarse RGB skip; ToRGB outputs add up, so the difference is that
    # skip upsampled to the output size
    no_skip = G.synthesis_from(16, f16, ws_after, noise="const")
    assert torch.allclose(img - no_skip, upsample2x(info["skips"][16]), atol=1e-5)
    other = G(z, noise="const", inject_features=torch.randn_like(f16))
    assert (other - img).abs().max() > 1e-3
    with pytest.raises(ValueError, match=r"\(B, 32, 16, 16\)"):
        G(z, inject_features=torch.randn(2, 5, 16, 16))
    with pytest.raises(ValueError, match="codes after"):
        G.synthesis_from(16, f16, info["ws"])


def test_discriminator_shapes_minibatch_std_and_losses():
    torch.manual_seed(0)
    D = build_model("stylegan2_d", size=32, channel_base=512, channel_max=32)
    x = torch.randn(4, 3, 32, 32)
    assert D(x).shape == (4, 1)
    assert D(torch.randn(3, 3, 32, 32)).shape == (3, 1)  # 3 is not a multiple of 4: groups of 3
    with pytest.raises(ValueError, match="32x32"):
        D(torch.randn(2, 3, 16, 16))
    # minibatch stddev by hand: 4 samples in one group -> one std averaged over all features
    h = torch.randn(4, 5, 2, 2)
    y = minibatch_stddev(h, group_size=4)
    expected = h.std(dim=0, unbiased=False).mean()
    assert y.shape == (4, 6, 2, 2) and torch.allclose(y[:, 5], expected.expand(4, 2, 2), atol=1e-5)
    # the logistic losses of the kit apply to its logits; R1 is finite and positive
    G = build_model("stylegan2_g", **SMALL)
    fake = G(torch.randn(4, 32))
    real = x.requires_grad_(True)
    real_logits, fake_logits = D(real), D(fake.detach())
    loss = gan_loss("vanilla")
    assert torch.allclose(loss.d_loss(real_logits, fake_logits),
                          F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())
    r1 = r1_penalty(real_logits, real)
    assert torch.isfinite(r1) and r1 > 0
    loss.g_loss(D(fake)).backward()
    assert G.mapping.layers[0].weight.grad.abs().max() > 0 and G.const.grad.abs().max() > 0


def test_default_sizes_are_teaching_sized():
    g = build_model("stylegan2_g")
    d = build_model("stylegan2_d")
    assert g.size == 64 and g.n_w == 10 and stylegan2_channels(64) == {4: 128, 8: 128, 16: 128, 32: 128, 64: 64}
    assert 1e6 <= count_parameters(g) <= 5e6
    assert 1e6 <= count_parameters(d) <= 5e6
