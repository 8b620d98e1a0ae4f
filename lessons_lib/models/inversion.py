"""The inversion encoder of the restorer (seed 004, section 2.2): x_R -> (f_16, w codes) -> x_G.

The seed maps the regression output x_R into the latent space of a StyleGAN2 generator G
so that G re-draws the face with its learned, sharp detail. Its encoder E predicts

* a 16x16 intermediate feature map ``f_16`` of G, which *replaces* that layer's output, as
  in BDInvert (Kang, Kim & Cho, "GAN Inversion for Out-of-Range Images with Geometric
  Transformations", ICCV 2021): a spatial code keeps the layout (pose, position) that a
  single w cannot; and
* the w codes of every layer after that point, pSp-style (Richardson et al., "Encoding in
  Style: a StyleGAN Encoder for Image-to-Image Translation", CVPR 2021): a feature pyramid
  (a strided backbone plus a top-down path that adds upsampled coarse maps to 1x1 lateral
  projections), and one "map2style" head per code -- stride-2 convs down to 1x1, then a
  linear layer -- with the codes of a layer at resolution r read from the pyramid level at
  r/2 (coarse codes from coarse maps, fine codes from fine maps). Like pSp, the codes are
  predicted as *offsets from the generator's average w*; the last layer of each head starts
  at zero, so an untrained encoder already proposes the average face's codes.

BDInvert finds the remaining codes by optimisation; predicting them makes inversion a
single forward pass (the seed's reason for the pSp branch).

``x_G = (G.synthesis_from(16, f_16, w_avg + dw) + 1) / 2`` -- see :func:`invert`; the
coarse RGB skip of G's 4x4 and 8x8 layers is dropped, as in BDInvert (the predicted
feature map carries the coarse content). Images on the restorer side (x, x_R, x_G, x_hat)
are in [0, 1]; G works in [-1, 1] and :func:`invert` converts.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import build_model, register
from .layers import check_image_batch
from .stylegan2 import blur_downsample2x, stylegan2_channels, stylegan2_n_w, w_index_after

__all__ = ["InversionEncoder", "InversionPair", "invert"]

_SLOPE = 0.2  # LeakyReLU slope, as in the generator and discriminator


class _ResDown(nn.Module):
    """conv3x3 -> lrelu -> blur-down -> conv3x3 -> lrelu, plus blur-down -> 1x1 skip; halves H and W."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv0 = nn.Conv2d(in_ch, out_ch, 3, padding=1)  # (B, out, r, r)
        self.conv1 = nn.Conv2d(out_ch, out_ch, 3, padding=1)  # (B, out, r/2, r/2)
        self.skip = nn.Conv2d(in_ch, out_ch, 1, bias=False)  # (B, out, r/2, r/2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv0(x), _SLOPE)
        y = F.leaky_relu(self.conv1(blur_downsample2x(y)), _SLOPE)
        return (y + self.skip(blur_downsample2x(x))) / math.sqrt(2.0)


class _Map2Style(nn.Module):
    """pSp's map2style head: log2(s) stride-2 3x3 convs take an s x s map to 1x1, then a linear to w."""

    def __init__(self, channels: int, spatial: int, w_dim: int):
        super().__init__()
        layers = []
        for _ in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.LeakyReLU(_SLOPE)]  # halves
        self.convs = nn.Sequential(*layers)  # (B, C, 1, 1)
        self.linear = nn.Linear(channels, w_dim)  # (B, w_dim)
        nn.init.zeros_(self.linear.weight)  # offsets start at 0: codes start at the average w
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).flatten(1))  # (B, w_dim)


@register("inversion_encoder")
class InversionEncoder(nn.Module):
    """BDInvert + pSp encoder for a :class:`~lessons_lib.models.stylegan2.StyleGAN2Generator`.

    Args:
        g_size, g_channel_base, g_channel_max, w_dim: the generator's ``size``,
            ``channel_base``, ``channel_max`` and ``w_dim`` (use :meth:`for_generator`).
        inject_res: resolution of the predicted feature map (16 in the seed).
        width: channels of the first backbone stage (doubled per stage up to ``max_channels``).
        max_channels: channel cap of the backbone; the pyramid and heads use ``min(4 width, max)``.

    ``forward(x)`` takes ``(B, 3, H, W)`` images in [0, 1] (resized to ``g_size`` if needed)
    and returns ``(features (B, C_inj, r, r), dw (B, n_w_after, w_dim))``.
    """

    def __init__(
        self,
        g_size: int = 64,
        g_channel_base: int = 4096,
        g_channel_max: int = 128,
        w_dim: int = 256,
        inject_res: int = 16,
        width: int = 32,
        max_channels: int = 256,
    ):
        super().__init__()
        g_ch = stylegan2_channels(g_size, g_channel_base, g_channel_max)
        if not 8 <= inject_res <= g_size // 2 or inject_res not in g_ch:
            raise ValueError(
                f"inject_res must be a power of two between 8 and g_size/2 = {g_size // 2}, got {inject_res}"
            )
        self.g_size, self.w_dim, self.inject_res = g_size, w_dim, inject_res
        self.feature_channels = g_ch[inject_res]
        self.first_code = w_index_after(inject_res)
        self.n_codes = stylegan2_n_w(g_size) - self.first_code

        self.stem = nn.Conv2d(3, width, 3, padding=1)  # (B, width, S, S)
        self.stages = nn.ModuleList()
        self.level_res: list[int] = []
        c, r = width, g_size
        while r > 8:
            out = min(2 * c, max_channels)
            self.stages.append(_ResDown(c, out))  # (B, out, r/2, r/2)
            c, r = out, r // 2
            self.level_res.append(r)
        stage_ch = [s.conv1.out_channels for s in self.stages]
        fpn = min(4 * width, max_channels)
        self.fpn_channels = fpn
        self.laterals = nn.ModuleList([nn.Conv2d(ci, fpn, 1) for ci in stage_ch])  # (B, fpn, r, r) each level
        self.feature_head = nn.Sequential(
            nn.Conv2d(fpn, fpn, 3, padding=1),  # (B, fpn, r_inj, r_inj)
            nn.LeakyReLU(_SLOPE),
            nn.Conv2d(fpn, self.feature_channels, 3, padding=1),  # (B, C_inj, r_inj, r_inj)
        )
        # one map2style head per code; code k drives a layer at resolution r_k and reads level r_k / 2
        self.code_levels: list[int] = []
        heads = []
        for k in range(self.first_code, self.first_code + self.n_codes):
            r_k = 2 ** ((k + 4) // 2)  # code 2 log2 r - 4 -> r (second conv), 2 log2 r - 3 -> r (ToRGB)
            level = min(max(r_k // 2, 8), g_size // 2)
            self.code_levels.append(level)
            heads.append(_Map2Style(fpn, level, w_dim))
        self.style_heads = nn.ModuleList(heads)

    @classmethod
    def for_generator(cls, generator: nn.Module, inject_res: int = 16, width: int = 32, max_channels: int = 256):
        """Build (through the registry, so the config is recorded) an encoder matching ``generator``."""
        return build_model(
            "inversion_encoder",
            g_size=int(generator.size),
            g_channel_base=int(generator.channel_base),
            g_channel_max=int(generator.channel_max),
            w_dim=int(generator.w_dim),
            inject_res=inject_res,
            width=width,
            max_channels=max_channels,
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_image_batch(x, 3, "the encoder input x_R")
        if x.shape[-2:] != (self.g_size, self.g_size):
            x = F.interpolate(x, size=(self.g_size, self.g_size), mode="bilinear", align_corners=False, antialias=True)
        h = F.leaky_relu(self.stem(x * 2.0 - 1.0), _SLOPE)  # (B, width, S, S); [0,1] -> [-1,1]
        levels = []
        for stage in self.stages:
            h = stage(h)  # (B, c, r/2, r/2)
            levels.append(h)
        # top-down pyramid: P_r = lateral(C_r) + upsample(P_{r/2})
        pyr: dict[int, torch.Tensor] = {}
        p = None
        for r, c_r, lat in zip(reversed(self.level_res), reversed(levels), reversed(self.laterals)):
            up = 0.0 if p is None else F.interpolate(p, scale_factor=2, mode="bilinear", align_corners=False)
            p = lat(c_r) + up
            pyr[r] = p  # (B, fpn, r, r)
        features = self.feature_head(pyr[self.inject_res])  # (B, C_inj, r_inj, r_inj)
        dw = torch.stack([head(pyr[lv]) for head, lv in zip(self.style_heads, self.code_levels)], dim=1)
        return features, dw  # (B, C_inj, r, r), (B, n_codes, w_dim)


def invert(
    encoder: InversionEncoder, generator: nn.Module, x_R: torch.Tensor, noise="const", return_latents: bool = False
):
    """x_G = G(f_16, w_avg + dw) for the encoder's prediction from x_R; images in [0, 1].

    ``noise="const"`` uses the generator's stored noise maps, so the same x_R always gives the
    same x_G (``"random"`` draws fresh noise). The output is not clamped (gradients flow into
    every pixel during training); clamp to [0, 1] for display. With ``return_latents`` also
    returns ``(features, ws)``.
    """
    if encoder.feature_channels != generator.channels.get(encoder.inject_res) or encoder.w_dim != generator.w_dim \
            or encoder.n_codes != generator.n_w_after(encoder.inject_res) or encoder.g_size != generator.size:
        raise ValueError(
            "the encoder was built for another generator (channels, w_dim or size differ); "
            "build it with InversionEncoder.for_generator(G)"
        )
    features, dw = encoder(x_R)
    ws = generator.w_avg.to(dw.dtype)[None, None] + dw  # pSp: offsets from the average code
    img = generator.synthesis_from(encoder.inject_res, features, ws, skip=None, noise=noise)
    x_G = (img + 1.0) / 2.0  # [-1, 1] -> [0, 1]
    if return_latents:
        return x_G, (features, ws)
    return x_G


@register("inversion_pair")
class InversionPair(nn.Module):
    """The inversion encoder E and the StyleGAN2 generator G it inverts into, as one network.

    Stage 1 fine-tunes both together; keeping them in one module makes the run's exported
    model hold both (the engine exports one network). ``forward(x_R)`` is
    :func:`lessons_lib.models.inversion.invert`: ``x_G = (G.synthesis_from(16, f_16, w_avg + dw) + 1) / 2``,
    with G's stored noise maps (deterministic). Args: the two models' configs (plain JSON).
    """

    def __init__(self, generator: dict, encoder: dict) -> None:
        super().__init__()
        self.generator = build_model("stylegan2_g", **generator)        # (B, n_w, w_dim) -> (B, 3, S, S)
        self.encoder = build_model("inversion_encoder", **encoder)      # (B, 3, S, S) -> (f_16, dw)

    def forward(self, x_R: torch.Tensor, noise="const") -> torch.Tensor:
        return invert(self.encoder, self.generator, x_R, noise=noise)   # (B, 3, S, S) in about [0, 1]
