"""The fusion network of the restorer (seed 004, section 2.3, eq. 1).

    x_hat = Conv( Res( Conv(x_R) + Conv(x_G) ) )

x_R (NAFNet's output) has the right structure but is blurry; x_G (the GAN inversion) is
sharp but not faithful. Each image gets its own 3x3 conv into a shared feature space, the
two feature maps are *added*, ``Res`` -- 8 residual blocks of 3x3 convs -- mixes them, and a
last 3x3 conv returns an image. Trained with L1 + 10 LPIPS + 0.01 CX(x_R, x_hat) +
0.05 CX(x_G, x_hat) (seed eq. 3-4): the contextual terms pull the *statistics* of x_hat's
features toward both inputs without demanding pixel alignment with x_G.

The seed does not spell out the residual block; this one is the EDSR block
(Lim et al. CVPR-W 2017): ``x + conv3x3(relu(conv3x3(x)))``, no normalisation (batch
statistics hurt pixel-accurate restoration). The equation has no global skip, so none is
added. Images are in [0, 1].

``residual=True`` (not in the seed; the kit's shipped restorer uses it) adds one:

    x_hat = x_R + Conv_0( Res( Conv(x_R) + Conv(x_G) ) ),   Conv_0 initialised to zero

so at the first step x_hat *is* x_R, and training can only move it away where its loss
says a change pays (L1 + LPIPS against the sharp face). The plain form must first learn to
reproduce x_R through ten convolutions before it can improve on it; on a small budget it
stops short and lands below its own input (issue 11: 2.5 dB below x_R). Where the prior is
poor (x_G a wrong face), the residual branch learns to stay near zero and x_hat stays x_R.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register
from .layers import check_image_batch

__all__ = ["ResidualBlock", "FusionNet"]


class ResidualBlock(nn.Module):
    """``x + conv3x3(relu(conv3x3(x)))`` (EDSR block, no normalisation)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)  # (B, C, H, W)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)  # (B, C, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


@register("fusion_net")
class FusionNet(nn.Module):
    """``x_hat = Conv(Res(Conv(x_R) + Conv(x_G)))`` (seed 004 eq. 1).

    Args:
        in_channels, out_channels: 3 and 3.
        width: feature channels (64 as a default; 32 is enough for the lessons).
        n_blocks: residual blocks in ``Res`` (8 in the seed).
        residual: predict a correction of x_R (``x_hat = x_R + ...``, last conv zero at
            initialisation: x_hat starts as x_R) instead of the image itself (the seed).

    ``forward(x_R, x_G)``: two ``(B, 3, H, W)`` images of the same size -> ``(B, 3, H, W)``.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, n_blocks: int = 8,
                 residual: bool = False):
        super().__init__()
        if width < 1 or n_blocks < 0:
            raise ValueError(f"width must be >= 1 and n_blocks >= 0, got width={width}, n_blocks={n_blocks}")
        if residual and in_channels != out_channels:
            raise ValueError(f"residual=True adds the output to x_R: in_channels ({in_channels}) must equal "
                             f"out_channels ({out_channels})")
        self.in_channels = in_channels
        self.residual = bool(residual)
        self.conv_r = nn.Conv2d(in_channels, width, 3, padding=1)  # (B, width, H, W) from x_R
        self.conv_g = nn.Conv2d(in_channels, width, 3, padding=1)  # (B, width, H, W) from x_G
        self.res = nn.Sequential(*[ResidualBlock(width) for _ in range(n_blocks)])  # (B, width, H, W)
        self.conv_out = nn.Conv2d(width, out_channels, 3, padding=1)  # (B, out, H, W)
        if self.residual:
            # zero correction at the start: x_hat = x_R exactly, and the gradient still
            # reaches every layer (through conv_out's weight, whose gradient is not zero)
            nn.init.zeros_(self.conv_out.weight)
            nn.init.zeros_(self.conv_out.bias)

    def forward(self, x_R: torch.Tensor, x_G: torch.Tensor) -> torch.Tensor:
        check_image_batch(x_R, self.in_channels, "x_R")
        check_image_batch(x_G, self.in_channels, "x_G")
        if x_R.shape != x_G.shape:
            raise ValueError(
                f"x_R {tuple(x_R.shape)} and x_G {tuple(x_G.shape)} must have the same shape; "
                f"resize x_G to x_R's size first"
            )
        h = self.conv_r(x_R) + self.conv_g(x_G)  # (B, width, H, W)
        out = self.conv_out(self.res(h))  # (B, out, H, W)
        return x_R + out if self.residual else out
