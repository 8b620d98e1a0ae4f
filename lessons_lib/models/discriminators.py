"""Conditional discriminators of the colorization lessons: PatchGAN, NIN-MLP PatchGAN, whole-image.

All three judge a *pair*: the condition (the gray input: L, or a gray RGB image) and an
output (the real colours or the generator's), concatenated on channels by the caller:

    x = pair(cond, out)          # (B, C_cond + C_out, H, W)
    logits = D(x)                # patch map (B, 1, H', W') or one logit per image (B, 1)

so ``in_channels`` = condition channels + output channels (1 + 2 = 3 for Lab pix2pix,
3 + 3 = 6 for the RGB colorizers of seeds 000 and 003). A conditional D (Mirza & Osindero
2014; pix2pix sec. 2) can reject a colourful output that does not fit its gray input, which
an unconditional one cannot. Every D outputs logits (no sigmoid); the losses apply it.
Every D takes ``spectral_norm=True`` (default off, so shipped weights load): each conv
weight is divided by its largest singular value (Miyato et al. 2018; lesson 11).

* ``patchgan`` - the pix2pix "70x70 PatchGAN" (Isola et al. 2017, sec. 3.2.2): each output
  logit judges one 70x70 patch; D is run convolutionally and the loss averages the map.
* ``nin_patchgan`` - seed 000's discriminator (Wang & Joe): the PatchGAN with each
  convolution replaced by a Network-in-Network "mlpconv" block (Lin et al. 2014): the conv
  followed by stacked 1x1 convs (a small MLP shared over positions), each followed by
  BatchNorm, an activation and dropout; optionally NIN's global-average-pooling head.
* ``image_discriminator`` - strided convs all the way down to one logit per image, the
  "ImageGAN" end of the pix2pix patch-size study (their fig. 6), for comparison.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register
from .layers import (
    add_spectral_norm,
    check_image_batch,
    conv_block,
    conv_geometry,
    init_weights,
    output_size,
    receptive_field,
    strided_conv_stack,
)

__all__ = [
    "pair",
    "PatchGAN",
    "NINPatchGAN",
    "ImageDiscriminator",
    "patchgan_receptive_field",
    "ConvChainDiscriminator",
    "mlpconv",
]


def pair(cond: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Concatenate condition (B, Cc, H, W) and output (B, Co, H, W) into D's input (B, Cc+Co, H, W)."""
    check_image_batch(cond, None, "condition")
    check_image_batch(out, None, "output")
    if cond.shape[0] != out.shape[0] or cond.shape[2:] != out.shape[2:]:
        raise ValueError(
            f"condition {tuple(cond.shape)} and output {tuple(out.shape)} must share batch size, "
            "height and width to be paired"
        )
    return torch.cat([cond, out], dim=1)


class ConvChainDiscriminator(nn.Module):
    """Shared input checks for discriminators built as a conv chain ``self.net``."""

    in_channels: int
    net: nn.Sequential

    def _finish(self, spectral_norm: bool = False) -> None:
        # The smallest input the chain accepts (one output position), found from the layers.
        geo = conv_geometry(self.net)
        self._geometry = geo
        self.min_input_size = next(n for n in range(1, 4096) if output_size(geo, n) >= 1)
        init_weights(self)
        if spectral_norm:  # Miyato et al. 2018 (lesson 11): after the init, on every conv
            add_spectral_norm(self)

    @property
    def receptive_field(self) -> int:
        """Input pixels (along one axis) seen by one logit of the patch map."""
        return receptive_field(self._geometry)

    def output_size(self, size: int) -> int:
        """Side of the logit map for a ``size`` x ``size`` input (30 for 256 px, n_layers=3)."""
        return output_size(self._geometry, size)

    def _check(self, x: torch.Tensor) -> None:
        name = f"{type(self).__name__} input"
        if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] != self.in_channels:
            raise ValueError(
                f"{name} must have {self.in_channels} channels (condition + output concatenated on "
                f"dimension 1, e.g. D(pair(cond, out))), got shape {tuple(x.shape)}"
            )
        check_image_batch(x, self.in_channels, name)
        if min(x.shape[2:]) < self.min_input_size:
            raise ValueError(
                f"{name} is {x.shape[2]}x{x.shape[3]}, too small for this discriminator: it needs at "
                f"least {self.min_input_size}x{self.min_input_size} (use fewer layers for small images)"
            )


@register("patchgan")
class PatchGAN(ConvChainDiscriminator):
    """pix2pix PatchGAN / NLayerDiscriminator (Isola et al. 2017, sec. 3.2.2, appendix 6.1.2).

    With ndf = 64 and n_layers = 3 ("C64-C128-C256-C512", then a 1-channel conv):

        (B, in, 256, 256)
        Conv 4x4 s2 + LeakyReLU            -> (B, 64, 128, 128)   (no norm on the input layer)
        Conv 4x4 s2 + BN + LeakyReLU       -> (B, 128, 64, 64)
        Conv 4x4 s2 + BN + LeakyReLU       -> (B, 256, 32, 32)
        Conv 4x4 s1 + BN + LeakyReLU       -> (B, 512, 31, 31)
        Conv 4x4 s1                        -> (B, 1, 30, 30)      logits, one per 70x70 patch

    Channels double per strided layer up to ndf * max_mult. The receptive field follows
    from the layers (:func:`patchgan_receptive_field`): 16, 34, 70, 142 for n_layers 1-4.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
                 max_mult: int = 8, spectral_norm: bool = False) -> None:
        super().__init__()
        if not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be an int >= 1, got {n_layers!r}")
        self.in_channels = in_channels
        self.n_layers = n_layers
        # n_layers x [Conv 4x4 s2 (+BN) + LeakyReLU]:   (B, in, H, W) -> (B, c, H/2^n, W/2^n)
        layers, c = strided_conv_stack(in_channels, ndf, n_layers, norm=norm, act="leaky", max_mult=max_mult)
        c_last = ndf * min(2 ** n_layers, max_mult)
        layers.append(conv_block(c, c_last, 4, 1, 1, norm=norm, act="leaky"))  # (B, c_last, H'-1, W'-1)
        layers.append(nn.Conv2d(c_last, 1, 4, 1, 1))                           # (B, 1, H'-2, W'-2) logits
        self.net = nn.Sequential(*layers)
        self._finish(spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x = pair(cond, out), (B, in_channels, H, W) -> patch logits (B, 1, H', W')."""
        self._check(x)
        return self.net(x)


def patchgan_receptive_field(n_layers: int = 3) -> int:
    """Receptive field of the PatchGAN with ``n_layers`` strided layers, from its layer list.

    Builds a width-1 PatchGAN (the geometry does not depend on the width) and runs the
    receptive-field recursion of :func:`lessons_lib.models.layers.receptive_field` over its
    convolutions: 16 for n_layers=1, 34 for 2, 70 for 3 (the pix2pix default).
    """
    return PatchGAN(in_channels=1, ndf=1, n_layers=n_layers).receptive_field


def mlpconv(c_in: int, c_out: int, stride: int, mlp_layers: int, norm: str, act: str,
            dropout: float, first: bool) -> nn.Sequential:
    """One NIN "mlpconv" block (Lin et al. 2014, sec. 3.1) as seed 000 builds it.

    A 4x4 conv (the patch-level filter), then ``mlp_layers`` 1x1 convs: a small MLP
    applied at every position, f_{k+1}(i, j) = act(W_k f_k(i, j) + b_k) - NIN's
    "cascaded cross channel parametric pooling". Each conv is followed by norm, activation
    and dropout (seed 000, sec. 3.2.2: "MLP layer마다 뒤에 Batch normalization layer, ReLU
    function, dropout layer"). The 1x1 convs keep the width; they add non-linearity, not
    receptive field.
    """
    layers: list[nn.Module] = [conv_block(c_in, c_out, 4, stride, 1, norm="none" if first else norm,
                                          act=act, dropout=dropout)]  # (B, c_out, H', W')
    for _ in range(mlp_layers):
        layers.append(conv_block(c_out, c_out, 1, 1, 0, norm=norm, act=act, dropout=dropout))  # (B, c_out, H', W')
    return nn.Sequential(*layers)


@register("nin_patchgan")
class NINPatchGAN(ConvChainDiscriminator):
    """Seed 000's NIN-MLP PatchGAN: the PatchGAN skeleton with mlpconv blocks (Lin et al. 2014).

    How it maps onto seed 000 (Wang & Joe, sec. 2.5 and 3.2.2):

    * "PatchGAN" - the same skeleton and receptive field as :class:`PatchGAN`: ``n_layers``
      4x4 stride-2 blocks, one 4x4 stride-1 block, a final 4x4 conv to one channel. With the
      defaults each logit sees a 70x70 patch (1x1 convs do not widen it).
    * "convolution replaced by an MLP" - every 4x4 conv is followed by ``mlp_layers`` 1x1
      convs (NIN's mlpconv; seed fig. 3).
    * "BatchNorm, ReLU, dropout after every MLP layer" - each conv is followed by ``norm``,
      ``act`` ("relu" as in sec. 3.2.2, or "leaky", LeakyReLU 0.2, as in sec. 3.4 - the
      default, since the seed trains with LeakyReLU) and ``nn.Dropout(dropout)``. The input
      layer gets no norm, as in every DCGAN-style D.
    * "global average pooling instead of fully connected layers" - ``global_pool=True``
      averages the 1-channel logit map into one logit per image, (B, 1), exactly NIN's head
      (the last mlpconv emits one map per class - here one class, "real" - then GAP).
      ``global_pool=False`` (default) returns the patch map, as PatchGAN does. Note the
      difference for LSGAN: GAP gives (mean_patch D - b)^2, the patch map mean_patch (D - b)^2.

    The seed gives no dropout rate; 0.2 is used because D has a dropout after every one of
    its ~3 * (n_layers + 1) convs, and 0.5 at each (NIN's rate, used there only between
    blocks) would bury D's signal in noise. ``dropout=0`` disables it.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, mlp_layers: int = 2,
                 norm: str = "batch", act: str = "leaky", dropout: float = 0.2, global_pool: bool = False,
                 max_mult: int = 8, spectral_norm: bool = False) -> None:
        super().__init__()
        if not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be an int >= 1, got {n_layers!r}")
        if not isinstance(mlp_layers, int) or mlp_layers < 0:
            raise ValueError(f"mlp_layers must be an int >= 0, got {mlp_layers!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels = in_channels
        self.n_layers = n_layers
        self.global_pool = global_pool
        blocks: list[nn.Module] = []
        c = in_channels
        for n in range(n_layers):
            c_next = ndf * min(2 ** n, max_mult)
            # (B, c, H, W) -> (B, c_next, H/2, W/2): 4x4 s2 conv, then mlp_layers 1x1 convs
            blocks.append(mlpconv(c, c_next, 2, mlp_layers, norm, act, dropout, first=n == 0))
            c = c_next
        c_last = ndf * min(2 ** n_layers, max_mult)
        blocks.append(mlpconv(c, c_last, 1, mlp_layers, norm, act, dropout, first=False))  # (B, c_last, H'-1, W'-1)
        blocks.append(nn.Conv2d(c_last, 1, 4, 1, 1))                                         # (B, 1, H'-2, W'-2) logits
        self.net = nn.Sequential(*blocks)
        # NIN head: global average pooling of the logit map, (B, 1, H', W') -> (B, 1, 1, 1).
        self.pool = nn.AdaptiveAvgPool2d(1) if global_pool else None
        self._finish(spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x = pair(cond, out) -> patch logits (B, 1, H', W'), or (B, 1) with global_pool."""
        self._check(x)
        h = self.net(x)                 # (B, 1, H', W')
        if self.pool is not None:
            h = self.pool(h).flatten(1)  # (B, 1)
        return h


@register("image_discriminator")
class ImageDiscriminator(ConvChainDiscriminator):
    """A whole-image conditional discriminator: one logit per image (pix2pix's "ImageGAN").

    Strided 4x4 convs (the PatchGAN trunk) halve the image until it is at most 4x4, then one
    valid conv whose kernel covers the whole remaining map gives (B, 1). For 256 px and
    ndf 64: 256 -> 128 -> 64 -> 32 -> 16 -> 8 -> 4 (64 .. 512 channels), 4x4 conv -> (B, 1).
    Its receptive field exceeds the image: every logit depends on every pixel. Built for one
    ``image_size``; other sizes raise.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, image_size: int = 256, norm: str = "batch",
                 max_mult: int = 8, spectral_norm: bool = False) -> None:
        super().__init__()
        if not isinstance(image_size, int) or image_size < 8:
            raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")
        self.in_channels = in_channels
        self.image_size = image_size
        # Count the halvings: a 4x4 s2 p1 conv maps n -> floor((n - 2) / 2) + 1.
        n_down, s = 0, image_size
        while s > 4:
            s = (s - 2) // 2 + 1
            n_down += 1
        # n_down x [Conv 4x4 s2 (+BN) + LeakyReLU]:   (B, in, S, S) -> (B, c, s, s), s <= 4
        layers, c = strided_conv_stack(in_channels, ndf, n_down, norm=norm, act="leaky", max_mult=max_mult)
        layers.append(nn.Conv2d(c, 1, s, 1, 0))  # (B, 1, 1, 1): the kernel covers the whole s x s map
        self.net = nn.Sequential(*layers)
        self._finish(spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x = pair(cond, out), (B, in_channels, image_size, image_size) -> (B, 1) logits."""
        self._check(x)
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"this image discriminator was built for {self.image_size}x{self.image_size} inputs, got "
                f"{x.shape[2]}x{x.shape[3]}; resize, or build it with image_size={x.shape[2]}"
            )
        return self.net(x).flatten(1)  # (B, 1)
