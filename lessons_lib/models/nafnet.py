"""NAFNet: the nonlinear-activation-free restoration network (the restorer's regression step).

Chen, Chu, Zhang & Sun, "Simple Baselines for Image Restoration", ECCV 2022
(arXiv:2204.04676). The seed (``seeds/004``) uses it to turn a motion-blurred face x into
x_R: accurate structure, but blurry detail (an L1/L2-trained regressor predicts the mean of
all the sharp images compatible with x).

The network is a U-shaped encoder/decoder of *NAFBlocks*, with no ReLU/GELU anywhere:

    NAFBlock(x):  y = x + beta  * conv1x1( SCA( SimpleGate( dwconv3x3( conv1x1_{c->2c}( LN(x) )))))
                  z = y + gamma * conv1x1( SimpleGate( conv1x1_{c->2c}( LN(y) )))
    SimpleGate(t) = t[:, :c] * t[:, c:]                         (paper eq. 3: the gate IS the nonlinearity)
    SCA(t)        = t * conv1x1(avgpool(t))                     (simplified channel attention, eq. 5)
    LN            = LayerNorm over the channels of each pixel   (LayerNorm2d, written out below)

``beta`` and ``gamma`` are per-channel scales initialised to zero, so that every NAFBlock
starts as the identity (the official code's choice). Encoder stages downsample with a 2x2
stride-2 conv (channels x2), decoder stages upsample with a 1x1 conv (c -> 2c) followed by
PixelShuffle(2) (-> c/2), the skips are *added*, and a global residual adds the input image
to the output: the network predicts the correction ``x_R - x``.

What holds at initialisation (tested): every NAFBlock is exactly the identity, so the
untrained network is a purely *linear* map of the input plus the input,
``f(x) = x + A x + b`` (intro conv, down convs, up convs, skip sums and ending conv are all
linear). With ``identity_init=True`` the ending conv is zero-initialised as well and the
untrained network is exactly the identity, ``f(x) = x``: training starts from "return the
blurred input" (the first step only moves the ending conv, every later step moves all
weights). The default follows the paper (``identity_init=False``).

Input sizes: the encoder halves the resolution ``len(enc_blocks)`` times, so H and W must
be multiples of ``2**len(enc_blocks)``. Any other size is padded (reflect, bottom/right)
up to the next multiple inside ``forward`` and the output is cropped back, so every size
works and the output always has the input's size.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register

__all__ = ["LayerNorm2d", "SimpleGate", "SimplifiedChannelAttention", "NAFBlock", "NAFNet"]


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channels of every pixel of a ``(B, C, H, W)`` map.

    ``y = (x - mean_c x) / sqrt(var_c x + eps) * weight + bias`` with the biased variance
    over the C channels at each position (NAFNet's LayerNorm2d; eps 1e-6 as there).
    Unlike BatchNorm it does not depend on the batch, so training and inference agree and
    batch size 1 is fine (restoration trains on small batches of large crops).
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(dim=1, keepdim=True)  # (B, 1, H, W)
        var = (x - mu).pow(2).mean(dim=1, keepdim=True)  # (B, 1, H, W)
        y = (x - mu) / torch.sqrt(var + self.eps)  # (B, C, H, W)
        return y * self.weight[None, :, None, None] + self.bias[None, :, None, None]


class SimpleGate(nn.Module):
    """``SimpleGate(x) = x1 * x2`` with ``x1, x2`` the two channel halves (NAFNet eq. 3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)  # (B, C/2, H, W) each
        return x1 * x2  # (B, C/2, H, W)


class SimplifiedChannelAttention(nn.Module):
    """``SCA(x) = x * conv1x1(avgpool(x))`` (NAFNet eq. 5): squeeze-excite without its MLP or sigmoid."""

    def __init__(self, channels: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)  # (B, C, 1, 1)
        self.conv = nn.Conv2d(channels, channels, 1)  # (B, C, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv(self.pool(x))  # (B, C, H, W)


class NAFBlock(nn.Module):
    """One NAFBlock (NAFNet Fig. 3c); the identity at initialisation (beta = gamma = 0)."""

    def __init__(self, c: int, dw_expand: int = 2, ffn_expand: int = 2):
        super().__init__()
        dw = c * dw_expand
        ffn = c * ffn_expand
        # spatial mixing half
        self.norm1 = LayerNorm2d(c)  # (B, c, H, W)
        self.conv1 = nn.Conv2d(c, dw, 1)  # (B, 2c, H, W)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)  # (B, 2c, H, W) depthwise 3x3
        self.gate = SimpleGate()  # (B, c, H, W)
        self.sca = SimplifiedChannelAttention(dw // 2)  # (B, c, H, W)
        self.conv3 = nn.Conv2d(dw // 2, c, 1)  # (B, c, H, W)
        # channel mixing half (the "FFN")
        self.norm2 = LayerNorm2d(c)  # (B, c, H, W)
        self.conv4 = nn.Conv2d(c, ffn, 1)  # (B, 2c, H, W)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1)  # (B, c, H, W)
        # Zero-initialised residual scales: the block starts as the identity, so a deep
        # stack trains as stably as a shallow one (the official code's init).
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.conv2(self.conv1(self.norm1(x)))  # (B, 2c, H, W)
        t = self.conv3(self.sca(self.gate(t)))  # (B, c, H, W)
        y = x + self.beta * t  # (B, c, H, W)
        t = self.conv5(self.gate(self.conv4(self.norm2(y))))  # (B, c, H, W)
        return y + self.gamma * t  # (B, c, H, W)


@register("nafnet")
class NAFNet(nn.Module):
    """NAFNet (Chen et al. ECCV 2022) for image restoration; input and output in the same range.

    Args:
        in_channels, out_channels: image channels (3 and 3; the global residual needs them equal).
        width: channels of the first stage (16-32 for the lessons; 32 or 64 in the paper);
            stage ``i`` has ``width * 2**i`` channels.
        enc_blocks: NAFBlocks per encoder stage; its length is the number of downsamplings.
        middle_blocks: NAFBlocks at the lowest resolution.
        dec_blocks: NAFBlocks per decoder stage (same length as ``enc_blocks``).
        global_residual: add the input to the output (predict the correction).
        identity_init: also zero the ending conv, so the untrained net is exactly the identity.

    The defaults (width 32, one block per stage, 4 stages) have about 4.5 M parameters;
    width 16 about 1.1 M.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 32,
        enc_blocks: list[int] = (1, 1, 1, 1),
        middle_blocks: int = 1,
        dec_blocks: list[int] = (1, 1, 1, 1),
        global_residual: bool = True,
        identity_init: bool = False,
    ):
        super().__init__()
        enc_blocks, dec_blocks = list(enc_blocks), list(dec_blocks)
        if len(enc_blocks) != len(dec_blocks):
            raise ValueError(
                f"enc_blocks and dec_blocks must have the same length (one decoder stage per encoder "
                f"stage), got {enc_blocks} and {dec_blocks}"
            )
        if global_residual and in_channels != out_channels:
            raise ValueError(
                f"the global residual adds the input to the output, so in_channels ({in_channels}) must "
                f"equal out_channels ({out_channels}); pass global_residual=False otherwise"
            )
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.in_channels = in_channels
        self.global_residual = global_residual
        self.levels = len(enc_blocks)

        self.intro = nn.Conv2d(in_channels, width, 3, padding=1)  # (B, w, H, W)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        c = width
        for n in enc_blocks:
            self.encoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))  # (B, c, h, w)
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))  # (B, 2c, h/2, w/2)
            c *= 2
        self.middle = nn.Sequential(*[NAFBlock(c) for _ in range(middle_blocks)])  # (B, c, H/2^L, W/2^L)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for n in dec_blocks:
            # 1x1 conv c -> 2c, then PixelShuffle(2) trades 4 channels for a 2x2 block: 2c/4 = c/2
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))  # (B, c/2, 2h, 2w)
            c //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))  # (B, c/2, 2h, 2w)
        self.ending = nn.Conv2d(width, out_channels, 3, padding=1)  # (B, out, H, W)
        if identity_init:
            nn.init.zeros_(self.ending.weight)
            nn.init.zeros_(self.ending.bias)

    @property
    def size_multiple(self) -> int:
        """H and W are padded internally to a multiple of this (``2**len(enc_blocks)``)."""
        return 2**self.levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"NAFNet expects a batch (B, {self.in_channels}, H, W), got shape {tuple(x.shape)}"
            )
        H, W = x.shape[-2:]
        m = self.size_multiple
        ph, pw = (-H) % m, (-W) % m
        inp = x
        if ph or pw:
            # reflect keeps image statistics at the border; it needs pad < size, else replicate
            mode = "reflect" if ph < H and pw < W else "replicate"
            inp = F.pad(x, (0, pw, 0, ph), mode=mode)  # (B, C, H', W'), H' and W' multiples of 2^L
        h = self.intro(inp)  # (B, w, H', W')
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            h = enc(h)  # (B, c, h, w)
            skips.append(h)
            h = down(h)  # (B, 2c, h/2, w/2)
        h = self.middle(h)  # (B, w*2^L, H'/2^L, W'/2^L)
        for dec, up, skip in zip(self.decoders, self.ups, reversed(skips)):
            h = up(h) + skip  # (B, c/2, 2h, 2w): skips are added, not concatenated
            h = dec(h)
        h = self.ending(h)  # (B, out, H', W')
        if self.global_residual:
            h = h + inp
        return h[..., :H, :W]  # (B, out, H, W)
