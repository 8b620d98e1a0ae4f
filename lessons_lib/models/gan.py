"""The two unconditional GANs of lesson 01: a toy MLP GAN on 2-D points, and a DCGAN.

* Toy GAN (Goodfellow et al. 2014, "Generative Adversarial Nets"): G maps noise z to a
  point in the plane, D maps a point to a logit; trained on :func:`gaussian_mixture`, a
  ring of Gaussians whose modes make mode collapse visible at a glance (the 2-D mixture of
  Metz et al. 2017, "Unrolled GANs", used by most GAN tutorials since).
* DCGAN (Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
  Convolutional GANs"), for 32x32 images (CIFAR-10): their architecture guidelines, sec. 3 -
  strided (transposed) convolutions instead of pooling, BatchNorm in G and D (not on G's
  output nor D's input), ReLU in G with tanh at the output, LeakyReLU(0.2) in D.

Both discriminators output *logits* (no sigmoid): the losses in
:mod:`lessons_lib.losses.adversarial` apply the sigmoid inside a numerically stable
softplus / BCE-with-logits.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from . import register
from .layers import (activation, add_spectral_norm, check_image_batch, conv_block, init_weights, norm_layer,
                     strided_conv_stack, upsample_conv)

__all__ = [
    "gaussian_mixture",
    "gaussian_mixture_centers",
    "ToyGenerator",
    "ToyDiscriminator",
    "DCGANGenerator",
    "DCGANDiscriminator",
]


# --------------------------------------------------------------------------- toy data
def gaussian_mixture_centers(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """The ``modes`` centres of the ring, (modes, 2): (r cos 2*pi*k/m, r sin 2*pi*k/m)."""
    if modes < 1:
        raise ValueError(f"modes must be >= 1, got {modes}")
    angles = 2.0 * math.pi * torch.arange(modes, dtype=torch.float64) / modes
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def gaussian_mixture(
    n: int,
    modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    seed: int | None = None,
    return_modes: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Sample ``n`` points of a ring of ``modes`` equally weighted Gaussians.

        x = c_k + std * eps,   k ~ Uniform{0..modes-1},   eps ~ N(0, I_2),
        c_k = radius * (cos(2 pi k / modes), sin(2 pi k / modes))

    The modes are far apart (2 * radius * sin(pi / modes) = 1.53 for the defaults) compared
    with their width (std 0.02), so a generator that covers only some of them - mode
    collapse - is obvious in a scatter plot.

    Args:
        seed: seeds a private ``torch.Generator``: the same seed gives the same points and
            the global RNG is left untouched. None draws from the global RNG.
        return_modes: also return the mode index of each point (n,) int64.
    Returns:
        (n, 2) float32 points (and the mode indices when asked).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    centers = gaussian_mixture_centers(modes, radius)
    k = torch.randint(0, modes, (n,), generator=gen)
    x = centers[k] + std * torch.randn(n, 2, generator=gen)
    return (x, k) if return_modes else x


# --------------------------------------------------------------------------- toy GAN
def _mlp(in_dim: int, hidden: int, layers: int, out_dim: int, act: str, norm: str) -> nn.Sequential:
    """``layers`` hidden Linear(+norm)+act layers, then a Linear to ``out_dim``."""
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), norm_layer(norm, hidden, dims=1), activation(act)]  # (B, hidden)
        d = hidden
    mods.append(nn.Linear(d, out_dim))  # (B, out_dim)
    return nn.Sequential(*[m for m in mods if not isinstance(m, nn.Identity)])


@register("toy_gan_g")
class ToyGenerator(nn.Module):
    """MLP generator G: z (B, z_dim) -> point (B, 2), Goodfellow et al. (2014) on toy data.

    z ~ N(0, I). The output layer is linear (no tanh): the ring has radius 2, outside tanh's
    range. ``layers`` hidden layers of width ``hidden`` with ReLU, as in the MLP GANs of the
    original paper.
    """

    def __init__(self, z_dim: int = 2, hidden: int = 128, layers: int = 3, out_dim: int = 2,
                 act: str = "relu", norm: str = "none") -> None:
        super().__init__()
        self.z_dim = z_dim
        self.out_dim = out_dim
        # (B, z_dim) -> [Linear -> act] x layers -> (B, hidden) -> Linear -> (B, out_dim)
        self.net = _mlp(z_dim, hidden, layers, out_dim, act, norm)
        # PyTorch's default (Kaiming-uniform) init is kept for the toy MLPs: N(0, 0.02) is
        # tuned for deep conv nets and makes a 3-layer MLP start with a near-constant output.

    def sample_noise(self, n: int, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> torch.Tensor:
        """z ~ N(0, I), shape (n, z_dim), on the model's device unless ``device`` is given."""
        device = device if device is not None else next(self.parameters()).device
        return torch.randn(n, self.z_dim, generator=generator).to(device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        return self.net(z)  # (B, out_dim)


@register("toy_gan_d")
class ToyDiscriminator(nn.Module):
    """MLP discriminator D: point (B, 2) -> logit (B, 1); D(x) = sigmoid(logit) = P(x is real).

    LeakyReLU(0.2) hidden layers (the DCGAN choice for discriminators: D keeps a gradient
    everywhere, so G always learns which way is "more real").

    ``spectral_norm=True`` divides every Linear weight by its largest singular value
    (Miyato et al. 2018; :func:`lessons_lib.models.layers.add_spectral_norm`, lesson 11).
    """

    def __init__(self, in_dim: int = 2, hidden: int = 128, layers: int = 3,
                 act: str = "leaky", norm: str = "none", spectral_norm: bool = False) -> None:
        super().__init__()
        self.in_dim = in_dim
        # (B, in_dim) -> [Linear -> act] x layers -> (B, hidden) -> Linear -> (B, 1)
        self.net = _mlp(in_dim, hidden, layers, 1, act, norm)
        if spectral_norm:
            add_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"x must have shape (B, {self.in_dim}), got {tuple(x.shape)}")
        return self.net(x)  # (B, 1) logits


# --------------------------------------------------------------------------- DCGAN
def _dcgan_stages(image_size: int) -> int:
    """Number of x2 stages between 4x4 and ``image_size`` (3 for 32 px, 4 for 64 px)."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"DCGAN image_size must be a power of two >= 8 (e.g. 32 or 64), got {image_size}")
    return int(math.log2(image_size)) - 2


@register("dcgan_g")
class DCGANGenerator(nn.Module):
    """DCGAN generator (Radford et al. 2016, fig. 1), scaled to ``image_size`` (default 32).

    For 32x32 and width 64:

        z (B, 100) -> (B, 100, 1, 1)
        ConvT 4x4 s1 p0 + BN + ReLU  -> (B, 256, 4, 4)
        ConvT 4x4 s2 p1 + BN + ReLU  -> (B, 128, 8, 8)
        ConvT 4x4 s2 p1 + BN + ReLU  -> (B, 64, 16, 16)
        ConvT 4x4 s2 p1 + tanh       -> (B, channels, 32, 32)  in [-1, 1]

    Channels halve as the resolution doubles (width * 2^(stages-1) at 4x4). No BN on the
    output layer: Radford et al. report that BN on every layer made samples oscillate.
    z_dim 100 is the paper's choice.

    ``upsample="resize"`` (or ``"bilinear"``) replaces each stride-2 transposed conv by a
    resize x2 + 3x3 conv (Odena et al. 2016; lesson 11): no checkerboard by construction.
    The default ``"transpose"`` is the paper's.
    """

    def __init__(self, z_dim: int = 100, width: int = 64, channels: int = 3, image_size: int = 32,
                 norm: str = "batch", upsample: str = "transpose") -> None:
        super().__init__()
        self.z_dim = z_dim
        self.channels = channels
        self.image_size = image_size
        stages = _dcgan_stages(image_size)
        c = width * 2 ** (stages - 1)
        # Project and reshape: a 4x4 transposed conv on a 1x1 map is the paper's "project".
        layers: list[nn.Module] = [
            conv_block(z_dim, c, 4, 1, 0, norm=norm, act="relu", transpose=True),  # (B, w*2^(s-1), 4, 4)
        ]
        for _ in range(stages - 1):
            layers.append(conv_block(c, c // 2, 4, 2, 1, norm=norm, act="relu", transpose=True,
                                     upsample=upsample))  # (B, C/2, 2H, 2W)
            c //= 2
        layers.append(upsample_conv(c, channels, upsample))  # (B, channels, image_size, image_size)
        layers.append(nn.Tanh())  # (B, channels, image_size, image_size) in [-1, 1]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def sample_noise(self, n: int, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> torch.Tensor:
        """z ~ N(0, I), shape (n, z_dim)."""
        device = device if device is not None else next(self.parameters()).device
        return torch.randn(n, self.z_dim, generator=generator).to(device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2 and z.shape[1] == self.z_dim:
            z = z[:, :, None, None]  # (B, z_dim, 1, 1)
        elif not (z.dim() == 4 and z.shape[1] == self.z_dim and z.shape[2:] == (1, 1)):
            raise ValueError(f"z must have shape (B, {self.z_dim}) or (B, {self.z_dim}, 1, 1), got {tuple(z.shape)}")
        return self.net(z)  # (B, channels, image_size, image_size)


@register("dcgan_d")
class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator (Radford et al. 2016): strided convs, LeakyReLU(0.2), BN, one logit.

    For 32x32 and width 64:

        x (B, channels, 32, 32)
        Conv 4x4 s2 p1 + LeakyReLU        -> (B, 64, 16, 16)   (no BN on the input layer)
        Conv 4x4 s2 p1 + BN + LeakyReLU   -> (B, 128, 8, 8)
        Conv 4x4 s2 p1 + BN + LeakyReLU   -> (B, 256, 4, 4)
        Conv 4x4 s1 p0                    -> (B, 1, 1, 1) -> (B, 1) logit

    ``spectral_norm=True``: every conv weight divided by its largest singular value
    (Miyato et al. 2018; lesson 11).
    """

    def __init__(self, channels: int = 3, width: int = 64, image_size: int = 32, norm: str = "batch",
                 spectral_norm: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.image_size = image_size
        stages = _dcgan_stages(image_size)
        # stages x [Conv 4x4 s2 (+BN) + LeakyReLU]:      (B, channels, S, S) -> (B, w*2^(s-1), 4, 4)
        layers, c = strided_conv_stack(channels, width, stages, norm=norm, act="leaky")
        layers.append(nn.Conv2d(c, 1, 4, 1, 0))  # (B, 1, 1, 1): a 4x4 valid conv sees the whole 4x4 map
        self.net = nn.Sequential(*layers)
        init_weights(self)
        if spectral_norm:
            add_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, self.channels, "DCGAN discriminator input")
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"this DCGAN discriminator was built for {self.image_size}x{self.image_size} images, "
                f"got {x.shape[2]}x{x.shape[3]}; resize the images or build it with image_size={x.shape[2]}"
            )
        return self.net(x).flatten(1)  # (B, 1) logits
