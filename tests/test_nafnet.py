"""NAFNet (lessons_lib.models.nafnet)."""
from __future__ import annotations

import pytest
import torch

from lessons_lib.models import build_model
from lessons_lib.models.layers import count_parameters
from lessons_lib.models.nafnet import LayerNorm2d, NAFBlock, SimpleGate, SimplifiedChannelAttention


def _small(**kw):
    cfg = dict(width=8, enc_blocks=[1, 1], middle_blocks=1, dec_blocks=[1, 1])
    cfg.update(kw)
    return build_model("nafnet", **cfg)


def test_layernorm2d_matches_layer_norm_over_channels():
    torch.manual_seed(0)
    ln = LayerNorm2d(6)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 6, 5, 7)
    ref = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (6,), ln.weight, ln.bias, eps=1e-6).permute(0, 3, 1, 2)
    assert torch.allclose(ln(x), ref, atol=1e-5)


def test_simple_gate_and_sca_by_hand():
    x = torch.randn(2, 6, 4, 4)
    assert torch.allclose(SimpleGate()(x), x[:, :3] * x[:, 3:])
    sca = SimplifiedChannelAttention(3)
    y = torch.randn(2, 3, 4, 4)
    att = torch.einsum("oc,bc->bo", sca.conv.weight[:, :, 0, 0], y.mean(dim=(2, 3))) + sca.conv.bias
    assert torch.allclose(sca(y), y * att[:, :, None, None], atol=1e-6)


def test_nafblock_is_identity_at_init_and_not_after_beta_gamma():
    torch.manual_seed(0)
    blk = NAFBlock(8)
    x = torch.randn(2, 8, 6, 6)
    assert torch.equal(blk(x), x)
    with torch.no_grad():
        blk.beta.fill_(0.1)
    assert (blk(x) - x).abs().max() > 1e-4


@pytest.mark.parametrize("hw", [(16, 16), (17, 23), (5, 9), (1, 3)])
def test_any_input_size(hw):
    net = _small()
    x = torch.rand(2, 3, *hw)
    y = net(x)
    assert y.shape == x.shape


def test_untrained_net_is_affine_plus_identity():
    """beta = gamma = 0: every NAFBlock is the identity, so only linear layers remain."""
    torch.manual_seed(0)
    net = _small()
    f = lambda t: net(t) - t  # noqa: E731
    a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    zero = torch.zeros_like(a)
    # g(x) = f(x) - x is affine: g(a + b) - g(0) = (g(a) - g(0)) + (g(b) - g(0))
    assert torch.allclose(f(a + b) - f(zero), (f(a) - f(zero)) + (f(b) - f(zero)), atol=1e-5)
    assert (f(a)).abs().max() > 1e-3  # but not the identity: the ending conv is random


def test_identity_init_is_exactly_the_identity_and_then_learns():
    torch.manual_seed(0)
    net = _small(identity_init=True)
    x = torch.rand(2, 3, 16, 20)
    assert torch.equal(net(x), x)
    target = torch.rand_like(x)
    loss = (net(x) - target).abs().mean()
    loss.backward()
    with_grad = {n for n, p in net.named_parameters() if p.grad is not None and p.grad.abs().max() > 0}
    assert with_grad == {"ending.weight", "ending.bias"}  # step 1: only the zeroed ending conv moves
    with torch.no_grad():  # one plain gradient step (an optimiser would do the same here)
        for p in net.parameters():
            if p.grad is not None:
                p -= 1e-2 * p.grad
                p.grad = None
    (net(x) - target).abs().mean().backward()
    assert net.encoders[0][0].beta.grad.abs().max() > 0 and net.intro.weight.grad.abs().max() > 0


def test_gradients_reach_every_parameter_family():
    torch.manual_seed(0)
    net = _small()
    with torch.no_grad():  # leave the zero init so that the gated branches carry gradient too
        for m in net.modules():
            if isinstance(m, NAFBlock):
                m.beta.fill_(0.5)
                m.gamma.fill_(0.5)
    x = torch.rand(2, 3, 16, 16)
    net(x).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
               or p.grad.abs().max() == 0]
    assert missing == []


def test_parameter_counts_in_the_teaching_range():
    n32 = count_parameters(build_model("nafnet"))
    n16 = count_parameters(build_model("nafnet", width=16))
    assert 1e6 <= n16 < n32 <= 5e6, (n16, n32)


def test_bad_inputs():
    net = _small()
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="same length"):
        build_model("nafnet", enc_blocks=[1, 1], dec_blocks=[1])
    with pytest.raises(ValueError, match="global residual"):
        build_model("nafnet", in_channels=1, out_channels=3)
