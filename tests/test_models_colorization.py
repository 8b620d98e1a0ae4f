"""The colorization-family models: toy GAN, DCGAN, pix2pix U-Net, PatchGAN, NIN-MLP PatchGAN,
whole-image discriminator, and the shared layers (init, receptive-field arithmetic).

Shapes and parameter counts are compared with the pix2pix reference implementation's
published numbers; receptive fields are checked twice - by the layer arithmetic and
empirically, by which input pixels one output logit depends on.
"""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn

from lessons_lib import LessonsError
from lessons_lib.models import available_models, build_model
from lessons_lib.models.discriminators import pair, patchgan_receptive_field
from lessons_lib.models.gan import gaussian_mixture, gaussian_mixture_centers
from lessons_lib.models.layers import (
    ConvGeometry,
    conv_geometry,
    count_parameters,
    init_weights,
    norm_layer,
    output_size,
    receptive_field,
)
from lessons_lib.models.unet import unet_depth_for

torch.manual_seed(0)


def _count(model: nn.Module, cls) -> int:
    return sum(isinstance(m, cls) for m in model.modules())


# --------------------------------------------------------------------------- registry
def test_all_colorization_models_are_registered():
    names = set(available_models())
    assert {"toy_gan_g", "toy_gan_d", "dcgan_g", "dcgan_d", "unet", "patchgan", "nin_patchgan",
            "image_discriminator"} <= names


@pytest.mark.parametrize(
    "arch,config",
    [
        ("unet", {"in_channels": 3, "out_channels": 3, "base": 4, "image_size": 32, "norm": "instance"}),
        ("patchgan", {"in_channels": 6, "ndf": 4, "n_layers": 2}),
        ("nin_patchgan", {"in_channels": 3, "ndf": 4, "global_pool": True, "act": "relu", "dropout": 0.1}),
        ("image_discriminator", {"in_channels": 3, "ndf": 4, "image_size": 32}),
        ("dcgan_g", {"width": 8, "channels": 1}),
        ("toy_gan_d", {"hidden": 16, "layers": 2}),
    ],
)
def test_build_model_records_arch_and_json_config(arch, config):
    m = build_model(arch, **config)
    assert m.arch == arch and m.config == config
    # The config is plain JSON: a model card can store it and rebuild the same architecture.
    again = build_model(arch, **json.loads(json.dumps(m.config)))
    assert [p.shape for p in again.parameters()] == [p.shape for p in m.parameters()]


def test_build_model_bad_argument_is_a_lessons_error():
    with pytest.raises(LessonsError, match="unet"):
        build_model("unet", n_filters=3)


# --------------------------------------------------------------------------- toy GAN
def test_gaussian_mixture_ring():
    x, k = gaussian_mixture(4000, modes=8, radius=2.0, std=0.02, seed=1, return_modes=True)
    assert x.shape == (4000, 2) and x.dtype == torch.float32 and k.shape == (4000,)
    centers = gaussian_mixture_centers(8, 2.0)
    # Centres lie on the circle of radius 2 at angles 2*pi*k/8.
    torch.testing.assert_close(centers.norm(dim=1), torch.full((8,), 2.0))
    torch.testing.assert_close(centers[2], torch.tensor([0.0, 2.0]), atol=1e-6, rtol=0)
    # Every point is within 5 std of its own centre, and every mode is used roughly 1/8 of the time.
    assert (x - centers[k]).norm(dim=1).max() < 5 * 0.02 * math.sqrt(2)
    counts = torch.bincount(k, minlength=8).float() / 4000
    assert counts.min() > 0.09 and counts.max() < 0.16
    # The per-mode spread is the requested std.
    assert abs((x - centers[k]).std().item() - 0.02) < 0.002


def test_gaussian_mixture_seeded_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a = gaussian_mixture(64, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, gaussian_mixture(64, seed=7))
    assert not torch.equal(a, gaussian_mixture(64, seed=8))
    with pytest.raises(ValueError, match="modes"):
        gaussian_mixture(4, modes=0)


def test_toy_gan_shapes_and_errors():
    g = build_model("toy_gan_g", z_dim=3, hidden=16)
    d = build_model("toy_gan_d", hidden=16)
    z = g.sample_noise(5)
    assert z.shape == (5, 3)
    pts = g(z)
    assert pts.shape == (5, 2)
    assert d(pts).shape == (5, 1)
    assert _count(g, nn.Linear) == 4 and _count(d, nn.LeakyReLU) == 3
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        g(torch.randn(5, 2))
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        d(torch.randn(5, 2, 1))


# --------------------------------------------------------------------------- DCGAN
def test_dcgan_32_shapes_and_layers():
    g = build_model("dcgan_g", width=8)
    d = build_model("dcgan_d", width=8)
    x = g(torch.randn(3, 100))
    assert x.shape == (3, 3, 32, 32)
    assert x.abs().max() <= 1.0  # tanh output
    assert torch.equal(g(torch.zeros(2, 100, 1, 1)), g(torch.zeros(2, 100)))
    assert d(x).shape == (3, 1)
    # G: 4 transposed convs 1 -> 4 -> 8 -> 16 -> 32, BN on all but the output one.
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in convs] == [32, 16, 8, 3]
    assert _count(g, nn.BatchNorm2d) == 3 and _count(g, nn.ReLU) == 3
    # D: no BN on the first conv, BN on the next two, LeakyReLU(0.2).
    assert _count(d, nn.BatchNorm2d) == 2
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, nn.LeakyReLU))
    assert isinstance(d.net[0][0], nn.Conv2d) and isinstance(d.net[0][1], nn.LeakyReLU)


def test_dcgan_configurable_channels_and_size():
    g = build_model("dcgan_g", width=4, channels=1, image_size=64, z_dim=16)
    d = build_model("dcgan_d", width=4, channels=1, image_size=64)
    x = g(torch.randn(2, 16))
    assert x.shape == (2, 1, 64, 64) and d(x).shape == (2, 1)
    with pytest.raises(ValueError, match="64x64"):
        d(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="power of two"):
        build_model("dcgan_g", image_size=48)
    with pytest.raises(ValueError, match=r"\(B, 16\)"):
        g(torch.randn(2, 100))


# --------------------------------------------------------------------------- U-Net
@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_unet_depth_follows_image_size(size):
    g = build_model("unet", in_channels=1, out_channels=2, base=2, image_size=size)
    assert g.depth == int(math.log2(size))  # bottleneck 1x1
    y = g(torch.randn(2, 1, size, size))
    assert y.shape == (2, 2, size, size)
    assert y.abs().max() <= 1.0


def test_unet_rgb_and_explicit_depth_and_non_power_of_two():
    g = build_model("unet", in_channels=3, out_channels=3, base=4, depth=4)
    assert g(torch.randn(1, 3, 48, 32)).shape == (1, 3, 48, 32)  # any multiple of 16
    assert unet_depth_for(96) == 5  # 96 = 32 * 3: bottleneck 3x3
    g = build_model("unet", base=2, image_size=96)
    assert g(torch.randn(1, 1, 96, 96)).shape == (1, 2, 96, 96)


def test_unet_matches_pix2pix_reference_parameter_count():
    # The reference pix2pix "unet_256" (3 -> 3 channels, ngf 64) reports 54.414 M parameters.
    g = build_model("unet", in_channels=3, out_channels=3, image_size=256)
    assert g.depth == 8
    n = count_parameters(g)
    # Hand count, level by level (weights + BN scale/shift or bias):
    down = (3 * 64 * 16 + 64) + (64 * 128 * 16 + 256) + (128 * 256 * 16 + 512) + (256 * 512 * 16 + 1024) \
        + 3 * (512 * 512 * 16 + 1024) + (512 * 512 * 16 + 512)
    up = (512 * 512 * 16 + 1024) + 3 * (1024 * 512 * 16 + 1024) + (1024 * 256 * 16 + 512) \
        + (512 * 128 * 16 + 256) + (256 * 64 * 16 + 128) + (128 * 3 * 16 + 3)
    assert n == down + up == 54_414_531
    # The reference drops the biases of the input conv (64) and of the bottleneck conv (512),
    # which no norm follows; kept here. Without them the count is the reference's.
    assert round((n - 64 - 512) / 1e6, 3) == 54.414
    # Channels of the encoder: 64, 128, 256, 512, 512, 512, 512, 512 (capped at 8 * ngf).
    outs = [b[-1].out_channels if isinstance(b[-1], nn.Conv2d) else b[-2].out_channels for b in g.down]
    assert outs == [64, 128, 256, 512, 512, 512, 512, 512]


def test_unet_dropout_in_three_innermost_decoder_blocks():
    g = build_model("unet", base=2, image_size=256)
    with_drop = [i for i, b in enumerate(g.up) if any(isinstance(m, nn.Dropout) for m in b.modules())]
    assert with_drop == [5, 6, 7]  # the three innermost (depth 8: up[7] is the bottleneck's)
    assert all(m.p == 0.5 for m in g.modules() if isinstance(m, nn.Dropout))
    # Configurable; never on the output block.
    g = build_model("unet", base=2, image_size=32, dropout=0.3, dropout_blocks=10)
    with_drop = [i for i, b in enumerate(g.up) if any(isinstance(m, nn.Dropout) for m in b.modules())]
    assert with_drop == [1, 2, 3, 4]
    assert _count(build_model("unet", base=2, image_size=32, dropout=0.0), nn.Dropout) == 0
    # Dropout makes train-mode outputs random and eval-mode ones deterministic.
    g = build_model("unet", base=2, image_size=32)
    x = torch.randn(2, 1, 32, 32)
    assert not torch.equal(g(x), g(x))
    g.eval()
    assert torch.equal(g(x), g(x))


def test_unet_norm_and_activation_flags():
    default = build_model("unet", base=2, image_size=32)
    assert _count(default, nn.BatchNorm2d) == 3 + 4  # encoder levels 1-3 (not input, not bottleneck), decoder 1-4
    assert _count(default, nn.LeakyReLU) == 4 and _count(default, nn.ReLU) == 5
    plain = build_model("unet", base=2, image_size=32, plain=True)  # seed 003's plain U-Net
    assert _count(plain, nn.BatchNorm2d) == 0 and _count(plain, nn.LeakyReLU) == 0
    assert _count(plain, nn.ReLU) == 9
    # Without a norm after them, convs get a bias back.
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
    inst = build_model("unet", base=2, image_size=32, norm="instance", act="relu")
    assert _count(inst, nn.InstanceNorm2d) == 7 and _count(inst, nn.LeakyReLU) == 0
    with pytest.raises(ValueError, match="plain=True"):
        build_model("unet", plain=True, norm="batch")
    with pytest.raises(ValueError, match="unknown norm"):
        build_model("unet", base=2, image_size=32, norm="group")


def test_unet_batch_of_one_trains():
    # pix2pix trains with batch size 1: the 1x1 bottleneck has no BatchNorm, so this works.
    g = build_model("unet", base=2, image_size=32)
    y = g(torch.randn(1, 1, 32, 32))
    y.mean().backward()
    assert all(p.grad is not None for p in g.parameters())


def test_unet_skip_connections_carry_input_detail():
    # With the bottleneck path zeroed, the output still depends on the input (through skips).
    g = build_model("unet", base=2, image_size=32, dropout=0.0).eval()
    with torch.no_grad():
        for p in g.down[-1].parameters():
            p.zero_()
    x = torch.randn(1, 1, 32, 32, requires_grad=True)
    g(x)[0, :, 16, 16].sum().backward()
    assert x.grad.abs().sum() > 0


def test_unet_bad_inputs():
    g = build_model("unet", base=2, image_size=32)
    with pytest.raises(ValueError, match=r"multiples of 2\*\*5 = 32"):
        g(torch.randn(1, 1, 40, 40))
    with pytest.raises(ValueError, match="1 channel"):
        g(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="unsqueeze"):
        g(torch.randn(1, 32, 32))
    with pytest.raises(ValueError, match="multiple of 8"):
        build_model("unet", image_size=12)
    with pytest.raises(ValueError, match="depth"):
        build_model("unet", depth=2)


# --------------------------------------------------------------------------- PatchGAN
def test_patchgan_output_map_and_reference_size():
    d = build_model("patchgan", in_channels=3, ndf=2, n_layers=3)
    assert d(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    assert d.output_size(256) == 30
    # The reference NLayerDiscriminator (input 6, ndf 64, n_layers 3) has 2.769 M parameters.
    ref = build_model("patchgan", in_channels=6)
    assert round(count_parameters(ref) / 1e6, 3) == 2.769
    convs = [m for m in ref.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    assert _count(ref, nn.BatchNorm2d) == 3 and _count(ref, nn.Sigmoid) == 0


@pytest.mark.parametrize("n_layers,rf", [(1, 16), (2, 34), (3, 70)])
def test_patchgan_receptive_field_arithmetic(n_layers, rf):
    assert patchgan_receptive_field(n_layers) == rf
    assert build_model("patchgan", ndf=2, n_layers=n_layers).receptive_field == rf


def _empirical_receptive_field(d: nn.Module, in_channels: int, size: int) -> int:
    """Width of the input region one (central) output logit depends on, from its gradient."""
    d.eval()  # BN uses running statistics: each output depends only on its own patch
    x = torch.randn(1, in_channels, size, size, dtype=torch.float64, requires_grad=True)
    out = d.double()(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    cols = (x.grad.abs().sum(dim=(0, 1, 2)) > 0).nonzero().flatten()
    rows = (x.grad.abs().sum(dim=(0, 1, 3)) > 0).nonzero().flatten()
    # The region must lie inside the image (not clipped by a border) to measure its width.
    assert cols.min() > 0 and cols.max() < size - 1
    width = int(cols.max() - cols.min() + 1)
    assert width == int(rows.max() - rows.min() + 1) == len(cols)  # square and contiguous
    return width


@pytest.mark.parametrize("n_layers,size", [(1, 48), (2, 64), (3, 128)])
def test_patchgan_receptive_field_empirical(n_layers, size):
    d = build_model("patchgan", in_channels=2, ndf=4, n_layers=n_layers)
    assert _empirical_receptive_field(d, 2, size) == patchgan_receptive_field(n_layers)


def test_patchgan_input_errors():
    d = build_model("patchgan", in_channels=3, ndf=2)
    with pytest.raises(ValueError, match=r"pair\(cond, out\)"):
        d(torch.randn(1, 2, 64, 64))
    with pytest.raises(ValueError, match="at least"):
        d(torch.randn(1, 3, 16, 16))
    assert d(torch.randn(1, 3, d.min_input_size, d.min_input_size)).shape == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="n_layers"):
        build_model("patchgan", n_layers=0)


def test_pair_concatenates_and_checks():
    cond, out = torch.randn(2, 1, 16, 16), torch.randn(2, 2, 16, 16)
    x = pair(cond, out)
    assert x.shape == (2, 3, 16, 16)
    assert torch.equal(x[:, :1], cond) and torch.equal(x[:, 1:], out)
    with pytest.raises(ValueError, match="share batch size"):
        pair(cond, torch.randn(2, 2, 8, 8))


# --------------------------------------------------------------------------- NIN PatchGAN
def test_nin_patchgan_block_structure():
    d = build_model("nin_patchgan", in_channels=3, ndf=4, n_layers=3, mlp_layers=2, dropout=0.3)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    one_by_one = [c for c in convs if c.kernel_size == (1, 1)]
    assert len(one_by_one) == (3 + 1) * 2  # 2 stacked 1x1 convs in each of the 4 mlpconv blocks
    assert len(convs) == 4 + 8 + 1
    # Each 4x4 conv of a block is followed by exactly its mlp_layers 1x1 convs.
    kinds = [c.kernel_size[0] for c in convs]
    assert kinds == [4, 1, 1, 4, 1, 1, 4, 1, 1, 4, 1, 1, 4]
    drops = [m for m in d.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 12 and all(m.p == 0.3 for m in drops)
    assert _count(d, nn.BatchNorm2d) == 11  # every conv but the input one and the logit one
    assert _count(d, nn.LeakyReLU) == 12 and _count(d, nn.ReLU) == 0
    r = build_model("nin_patchgan", in_channels=3, ndf=4, act="relu", mlp_layers=1, dropout=0.0)
    assert _count(r, nn.ReLU) == 8 and _count(r, nn.LeakyReLU) == 0 and _count(r, nn.Dropout) == 0


def test_nin_patchgan_patch_map_and_receptive_field():
    d = build_model("nin_patchgan", in_channels=3, ndf=2)
    assert d.output_size(256) == 30  # same geometry as PatchGAN
    assert d(torch.randn(2, 3, 64, 64)).shape == (2, 1, 6, 6)
    assert d.receptive_field == 70  # 1x1 convs add non-linearity, not receptive field
    assert _empirical_receptive_field(d, 3, 128) == 70


def test_nin_patchgan_global_pool_head():
    d = build_model("nin_patchgan", in_channels=6, ndf=4, global_pool=True).eval()
    x = torch.randn(3, 6, 64, 64)
    y = d(x)
    assert y.shape == (3, 1)
    # NIN's head: the image logit is the average of the patch logits.
    torch.testing.assert_close(y, d.net(x).mean(dim=(2, 3)))


# --------------------------------------------------------------------------- image D
def test_image_discriminator():
    d = build_model("image_discriminator", in_channels=3, ndf=2, image_size=64)
    assert d(torch.randn(2, 3, 64, 64)).shape == (2, 1)
    assert d.receptive_field >= 64  # every logit sees the whole image
    strides = [g.stride for g in conv_geometry(d.net)]
    assert strides == [2, 2, 2, 2, 1]  # 64 -> 32 -> 16 -> 8 -> 4, then a 4x4 conv
    with pytest.raises(ValueError, match="64x64"):
        d(torch.randn(2, 3, 128, 128))
    d96 = build_model("image_discriminator", in_channels=3, ndf=2, image_size=96)
    assert d96(torch.randn(1, 3, 96, 96)).shape == (1, 1)


# --------------------------------------------------------------------------- layers
def test_init_weights_pix2pix_normal():
    m = init_weights(nn.Sequential(nn.Conv2d(64, 128, 4), nn.BatchNorm2d(4096), nn.Linear(10, 3)))
    w = m[0].weight
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    assert torch.equal(m[0].bias, torch.zeros(128))
    assert abs(m[1].weight.mean().item() - 1.0) < 2e-3 and abs(m[1].weight.std().item() - 0.02) < 2e-3
    assert torch.equal(m[1].bias, torch.zeros(4096))
    # Constructors apply it: the reference PatchGAN's big conv has std 0.02.
    d = build_model("patchgan", in_channels=6)
    assert abs(d.net[3][0].weight.std().item() - 0.02) < 1e-3


def test_receptive_field_and_output_size_arithmetic():
    # VGG-like chain: two 3x3 convs then a 2x2 pool then a 3x3 conv: RF 1+2+2+1+2*2 = 10.
    chain = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU(), nn.Conv2d(1, 1, 3, padding=1),
                          nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, padding=1))
    assert receptive_field(chain) == 10
    assert output_size(chain, 32) == 16
    assert receptive_field([ConvGeometry(3, 1, 0, dilation=2)]) == 5
    with pytest.raises(ValueError, match="transposed"):
        conv_geometry(nn.Sequential(nn.ConvTranspose2d(1, 1, 4, 2, 1)))
    with pytest.raises(ValueError, match="unknown norm"):
        norm_layer("layer", 4)
