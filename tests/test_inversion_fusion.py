"""The inversion encoder and the fusion network (lessons_lib.models.inversion / fusion)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lessons_lib.models import build_model
from lessons_lib.models.fusion import ResidualBlock
from lessons_lib.models.inversion import InversionEncoder, invert

G_CFG = dict(size=32, z_dim=32, w_dim=32, n_mlp=2, channel_base=512, channel_max=32)


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return build_model("stylegan2_g", **G_CFG).eval()


@pytest.fixture(scope="module")
def E(G):
    torch.manual_seed(1)
    return InversionEncoder.for_generator(G, inject_res=16, width=8, max_channels=32)


def test_encoder_matches_the_generators_injection_point(G, E):
    assert E.arch == "inversion_encoder"
    assert E.config["g_size"] == 32 and E.config["g_channel_max"] == 32 and E.config["w_dim"] == 32
    x = torch.rand(2, 3, 32, 32)
    f, dw = E(x)
    assert f.shape == (2, G.channels[16], 16, 16)
    assert dw.shape == (2, G.n_w_after(16), G.w_dim) == (2, 4, 32)
    # pSp levels: the codes of 16x16 layers come from the 8x8 level, those of 32x32 layers from 16x16
    assert E.code_levels == [8, 8, 16, 16]
    # any input size is resized to the generator's
    f2, dw2 = E(torch.rand(1, 3, 45, 38))
    assert f2.shape == (1, G.channels[16], 16, 16) and dw2.shape == (1, 4, 32)
    with pytest.raises(ValueError, match="channel"):
        E(torch.rand(2, 1, 32, 32))


def test_untrained_encoder_starts_from_the_average_code(G, E):
    x = torch.rand(2, 3, 32, 32)
    x_G, (f, ws) = invert(E, G, x, return_latents=True)
    assert x_G.shape == (2, 3, 32, 32)
    assert torch.allclose(ws, G.w_avg.expand(2, 4, -1))
    # x_G is G's synthesis from the predicted map, mapped from [-1, 1] to [0, 1]
    ref = (G.synthesis_from(16, f, ws, noise="const") + 1) / 2
    assert torch.allclose(x_G, ref, atol=1e-6)
    assert torch.equal(invert(E, G, x), invert(E, G, x))  # constant noise: deterministic


def test_gradient_flows_end_to_end(G, E):
    E.zero_grad(set_to_none=True)
    G.zero_grad(set_to_none=True)
    x_R, target = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    loss = F.l1_loss(invert(E, G, x_R), target)
    loss.backward()
    assert E.stem.weight.grad.abs().max() > 0  # through the feature map into the backbone
    assert E.feature_head[-1].weight.grad.abs().max() > 0
    assert all(h.linear.weight.grad.abs().max() > 0 for h in E.style_heads)  # through the w codes
    assert G.blocks[-1].conv1.conv.weight.grad.abs().max() > 0  # the generator can be fine-tuned too
    assert G.mapping.layers[0].weight.grad is None  # synthesis_from does not use the mapping net


def test_encoder_for_another_generator_is_refused(E):
    other = build_model("stylegan2_g", size=32, z_dim=32, w_dim=16, n_mlp=1, channel_base=512, channel_max=32)
    with pytest.raises(ValueError, match="for_generator"):
        invert(E, other, torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="inject_res"):
        build_model("inversion_encoder", g_size=32, inject_res=32)


def test_fusion_net_structure_shapes_and_equation():
    torch.manual_seed(0)
    net = build_model("fusion_net", width=16)
    assert sum(isinstance(m, ResidualBlock) for m in net.modules()) == 8
    assert net.conv_r.out_channels == 16 and build_model("fusion_net").conv_r.out_channels == 64
    x_R, x_G = torch.rand(2, 3, 20, 28), torch.rand(2, 3, 20, 28)
    assert net(x_R, x_G).shape == (2, 3, 20, 28)
    bare = build_model("fusion_net", width=4, n_blocks=0)  # eq. 1 with Res = identity
    ref = bare.conv_out(bare.conv_r(x_R) + bare.conv_g(x_G))
    assert torch.allclose(bare(x_R, x_G), ref)


def test_fusion_gradient_reaches_both_inputs():
    torch.manual_seed(0)
    net = build_model("fusion_net", width=8)
    x_R = torch.rand(1, 3, 16, 16, requires_grad=True)
    x_G = torch.rand(1, 3, 16, 16, requires_grad=True)
    net(x_R, x_G).mean().backward()
    assert x_R.grad.abs().max() > 0 and x_G.grad.abs().max() > 0
    assert all(p.grad is not None for p in net.parameters())


def test_fusion_bad_inputs():
    net = build_model("fusion_net", width=4, n_blocks=1)
    with pytest.raises(ValueError, match="same shape"):
        net(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="x_G"):
        net(torch.rand(1, 3, 16, 16), torch.rand(3, 16, 16))
