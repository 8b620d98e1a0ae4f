"""The pix2pix U-Net generator (Isola et al. 2017, "Image-to-Image Translation with
Conditional Adversarial Networks", sec. 3.2.1 and appendix 6.1.1).

An encoder-decoder whose decoder level i also receives the encoder's level-i feature map
(a skip connection, concatenated on channels; Ronneberger et al. 2015). For colorization
the skips carry the edges of the gray input straight to the output, so the network only
has to decide the colours, not redraw the picture.

Architecture (``depth`` levels, channel count c_i = base * min(2^i, max_mult) at level i):

    encoder  e_0 = Conv(x)                                   (no norm on the input layer)
             e_i = Norm(Conv(act(e_{i-1})))     0 < i < depth-1
             e_{depth-1} = Conv(act(e_{depth-2}))            (the bottleneck: no norm)
    decoder  d_{depth-1} = Drop(Norm(ConvT(ReLU(e_{depth-1}))))
             d_i = Drop(Norm(ConvT(ReLU([d_{i+1}, e_i]))))   0 < i < depth-1
             y   = tanh(ConvT(ReLU([d_1, e_0])))

Every Conv is 4x4 stride 2 padding 1 (halves H, W), every ConvT 4x4 stride 2 padding 1
(doubles them), so H and W must be multiples of 2**depth. The bottleneck has no norm
because at 1x1 BatchNorm over a batch of one image would have nothing to normalise (the
reference code omits it for the same reason).

Dropout (the paper's only source of noise in G, sec. 3.1: "we provide noise only in the
form of dropout") sits in the ``dropout_blocks`` innermost decoder blocks, the paper's
"CD512-CD1024-CD1024" (appendix 6.1.1). Note: the reference PyTorch code puts it one level
further out (on the 2nd-4th decoder blocks of its 8-level net, none on the innermost);
this file follows the paper. Dropout never touches the output block.

Seed 003's four CIFAR-10 models use two U-Net flavours, selected by one flag:

    plain=False (default)  act="leaky", norm="batch":  LeakyReLU(0.2) down, ReLU up, BatchNorm
                           ("U-Net with LeakyReLU + BatchNorm", = pix2pix)
    plain=True             act="relu",  norm="none":   ReLU down and up, no normalisation
                           ("U-Net")

The decoder always uses ReLU (pix2pix and seed 003 alike).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register
from .layers import check_image_batch, conv_block, init_weights, upsample_conv

__all__ = ["UNetGenerator", "unet_depth_for"]

MIN_DEPTH = 3


def unet_depth_for(image_size: int) -> int:
    """The depth that brings ``image_size`` down to the smallest whole bottleneck.

    The number of times 2 divides ``image_size``: log2(image_size) for a power of two
    (bottleneck 1x1, the pix2pix choice: 8 levels at 256 px, 5 at 32 px); for other sizes
    the bottleneck is the odd factor (96 px -> depth 5, bottleneck 3x3). At least 3.
    """
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    depth = 0
    n = image_size
    while n % 2 == 0:
        n //= 2
        depth += 1
    if depth < MIN_DEPTH:
        raise ValueError(
            f"image_size {image_size} can be halved only {depth} time(s); the U-Net needs at least "
            f"{MIN_DEPTH} halvings, so use a multiple of {2 ** MIN_DEPTH} (e.g. 32, 64, 128, 256)"
        )
    return depth


@register("unet")
class UNetGenerator(nn.Module):
    """pix2pix U-Net generator (Isola et al. 2017); see the module docstring for the maths.

    Args:
        in_channels: 1 for the Lab L plane, 3 for a gray RGB image (seeds 000, 003) or for
            the (L, a, b) input of a Lab generator trained with the identity loss.
        out_channels: 2 for ab, 3 for RGB, Q for a colour-class head. The output is tanh, in
            [-1, 1], unless ``out_act="none"`` (logits: the class head of Zhang et al. 2016).
        half_res_out: the output layer is a 1x1 conv on the last decoder level, at H/2 x W/2,
            instead of the transposed conv to H x W: ``(B, out, H/2, W/2)``. For a colour-class
            head with Q ~ 300 outputs the full-size layer is most of the step's FLOPs (Q x 2 c0 x
            16 per pixel); colour is low-frequency and Zhang et al. predict it at 1/4 size.
        base: channels of the first level (pix2pix's ngf, 64).
        depth: number of down-sampling levels; None derives it from ``image_size`` with
            :func:`unet_depth_for` (bottleneck 1x1 for powers of two).
        image_size: the training size, used only when ``depth`` is None. The built net runs
            on any size that is a multiple of 2**depth.
        max_mult: channel multiplier cap (c_i <= base * max_mult; 8 in pix2pix, 512 channels).
        norm: "batch" (default), "instance" or "none".
        act: encoder activation, "leaky" (LeakyReLU 0.2, default) or "relu".
        plain: seed 003's plain U-Net: shorthand for act="relu", norm="none".
        dropout: dropout probability in the inner decoder blocks (0.5 in pix2pix; 0 = off).
        dropout_blocks: how many of the innermost decoder blocks get dropout (3 in pix2pix).
        upsample: how the decoder doubles H and W: "transpose" (default, pix2pix's 4x4
            stride-2 transposed conv) or "resize" / "bilinear" (resize x2 + 3x3 conv,
            Odena et al. 2016: no checkerboard artefacts; lesson 11).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 2,
        base: int = 64,
        depth: int | None = None,
        image_size: int = 256,
        max_mult: int = 8,
        norm: str | None = None,
        act: str | None = None,
        plain: bool = False,
        dropout: float = 0.5,
        dropout_blocks: int = 3,
        upsample: str = "transpose",
        out_act: str = "tanh",
        half_res_out: bool = False,
    ) -> None:
        super().__init__()
        if plain:
            if norm not in (None, "none") or act not in (None, "relu"):
                raise ValueError(
                    f"plain=True means norm='none' and act='relu'; got norm={norm!r}, act={act!r}. "
                    "Drop plain=True to choose them yourself."
                )
            norm, act = "none", "relu"
        norm = "batch" if norm is None else norm
        act = "leaky" if act is None else act
        if depth is None:
            depth = unet_depth_for(image_size)
        elif not isinstance(depth, int) or depth < MIN_DEPTH:
            raise ValueError(f"depth must be an int >= {MIN_DEPTH} (or None to follow image_size), got {depth!r}")
        if out_act not in ("tanh", "none"):
            raise ValueError(f"out_act must be 'tanh' (ab or RGB in [-1, 1]) or 'none' (class logits), got {out_act!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.depth = depth
        self.size_multiple = 2 ** depth

        ch = [base * min(2 ** i, max_mult) for i in range(depth)]  # c_i, level i at H / 2^(i+1)
        # Decoder blocks with dropout: the `dropout_blocks` innermost, never the output block 0.
        drop_levels = set(range(depth - 1, 0, -1)[:max(dropout_blocks, 0)]) if dropout > 0 else set()

        down: list[nn.Module] = []
        # Level 0: a bare conv on the input (DCGAN rule: no norm on the input layer).
        down.append(conv_block(in_channels, ch[0], norm="none", act="none"))  # (B, c0, H/2, W/2)
        for i in range(1, depth):
            innermost = i == depth - 1
            down.append(conv_block(                                           # (B, c_i, H/2^(i+1), W/2^(i+1))
                ch[i - 1], ch[i], norm="none" if innermost else norm, act=act, pre_act=True))
        self.down = nn.ModuleList(down)

        up: list[nn.Module] = [None] * depth  # type: ignore[list-item]
        # Innermost decoder block: input is the bottleneck alone (nothing to concatenate).
        up[depth - 1] = conv_block(                                           # (B, c_{d-2}, H/2^(d-1), W/2^(d-1))
            ch[depth - 1], ch[depth - 2], norm=norm, act="relu", pre_act=True, transpose=True,
            dropout=dropout if depth - 1 in drop_levels else 0.0, upsample=upsample)
        for i in range(depth - 2, 0, -1):
            up[i] = conv_block(                                               # (B, c_{i-1}, H/2^i, W/2^i)
                2 * ch[i], ch[i - 1], norm=norm, act="relu", pre_act=True, transpose=True,
                dropout=dropout if i in drop_levels else 0.0, upsample=upsample)
        up[0] = nn.Sequential(
            nn.ReLU(),                                                        # (B, 2*c0, H/2, W/2)
            nn.Conv2d(2 * ch[0], out_channels, 1) if half_res_out else        # (B, out, H/2, W/2)
            upsample_conv(2 * ch[0], out_channels, upsample),                 # (B, out, H, W)
            nn.Tanh() if out_act == "tanh" else nn.Identity(),                # (B, out, H, W) in [-1, 1] | logits
        )
        self.up = nn.ModuleList(up)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, self.in_channels, "U-Net input")
        m = self.size_multiple
        if x.shape[2] % m or x.shape[3] % m:
            raise ValueError(
                f"U-Net input is {x.shape[2]}x{x.shape[3]} but this U-Net has depth {self.depth}, so "
                f"height and width must be multiples of 2**{self.depth} = {m} (e.g. {m}, {2 * m}, {4 * m}); "
                "resize or crop the image, or build the model with a smaller depth / image_size"
            )
        skips: list[torch.Tensor] = []
        h = x
        for block in self.down:
            h = block(h)          # e_i: (B, c_i, H/2^(i+1), W/2^(i+1))
            skips.append(h)
        h = self.up[-1](skips[-1])  # d_{depth-1}: (B, c_{depth-2}, H/2^(depth-1), ...)
        for i in range(self.depth - 2, -1, -1):
            h = self.up[i](torch.cat([h, skips[i]], dim=1))  # [d_{i+1}, e_i]: (B, 2 c_i, ...) -> (B, c_{i-1}, ...)
        return h                  # (B, out_channels, H, W) in [-1, 1]
