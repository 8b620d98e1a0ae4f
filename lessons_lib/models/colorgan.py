"""ColorGAN's generator: an encoder, a noise branch added in latent space, a decoder with skips.

Shafiq & Lee, "ColorGAN: Generative Adversarial Network based Image Colorization" (seed
001, sec. 2.1 and fig. 1). Colorization is ambiguous - a gray shirt may be red, blue or
green - so the generator gets a source of randomness besides the gray image:

    e_0 .. e_{D-1} = Encoder(L)                     feature maps; e_{D-1} is the latent map
    z   ~ N(mu = 0, sigma^2 = 0.1^2)                 a noise map (seed sec. 2.2: mu 0, sigma 0.1)
    n   = G_f(z)                                      "processed through a series of convolution layers"
    h   = e_{D-1} + n                                 ADDED to the latent feature map
    ab  = Decoder(h; e_{D-2}, ..., e_0)               skip links from the encoder (U-Net style)

The discriminator is pix2pix's PatchGAN on (L, ab) (:mod:`lessons_lib.models.discriminators`).
``n = G_f(z)`` is also what the seed's L_s compares with the features of the true colour
image (eq. 2): :meth:`ColorGANGenerator.forward_with_noise_features` returns it.

Architecture for ``base=32, depth=4`` on a 64 x 64 L plane (channels c_i = base * min(2^i, 8)):

    L                                          (B, 1, 64, 64)
    e_0 = Conv4x4s2(L)            LeakyReLU     (B, 32, 32, 32)    no norm on the input layer
    e_1 = Conv4x4s2(e_0) + BN     LeakyReLU     (B, 64, 16, 16)
    e_2 = Conv4x4s2(e_1) + BN     LeakyReLU     (B, 128, 8, 8)
    e_3 = Conv4x4s2(e_2) + BN     LeakyReLU     (B, 256, 4, 4)     latent feature map
    z                                          (B, 64, 4, 4)      N(0, 0.1^2), a quarter of the latent width
    n = Conv3x3 LReLU Conv3x3 LReLU Conv3x3 (z) (B, 256, 4, 4)
    h = e_3 + n                                (B, 256, 4, 4)
    d_3 = ConvT4x4s2(h) + BN      ReLU          (B, 128, 8, 8)
    d_2 = ConvT4x4s2([d_3, e_2]) + BN ReLU      (B, 64, 16, 16)
    d_1 = ConvT4x4s2([d_2, e_1]) + BN ReLU      (B, 32, 32, 32)
    ab  = tanh(ConvT4x4s2([d_1, e_0]))          (B, 2, 64, 64)     ab / 110 in [-1, 1]

The seed's figure gives no layer sizes; the encoder and decoder blocks are pix2pix's (4x4
stride-2 convs, LeakyReLU 0.2 down, ReLU up, BatchNorm), the latent is kept a *map*
(H/16 x W/16, "instead of the feature vector, we use a feature map to improve the
reconstruction"), and the noise branch is three 3x3 convs at the latent's resolution.

Noise and seeds: ``forward(L)`` with neither ``noise`` nor ``seed`` nor ``generator`` uses
seed 0, so an output is always reproducible; ``forward(L, seed=k)`` draws the noise from
``torch.Generator().manual_seed(k)``; ``forward(L, noise=z)`` uses ``z``. Training draws
fresh noise each step with :meth:`sample_noise` (torch's global generator, which the engine
seeds and checkpoints).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from . import register
from .layers import activation, check_image_batch, conv_block, init_weights

__all__ = ["ColorGANGenerator", "NOISE_STD", "NOISE_INITS"]

#: The seed's noise: N(mu = 0, sigma = 0.1) (seed 001, text under eq. 2).
NOISE_STD = 0.1
#: how the noise branch G_f is initialised (see ColorGANGenerator)
NOISE_INITS = ("normal", "kaiming")


@register("colorgan_g")
class ColorGANGenerator(nn.Module):
    """ColorGAN encoder-generator with a latent noise branch (see the module docstring).

    Args:
        in_channels: 1 (the L plane, ``L/50 - 1``).
        out_channels: 2 (ab / 110).
        base: channels of the first encoder level.
        depth: encoder levels; the latent map is at H / 2^depth. H and W must be multiples
            of 2^depth.
        max_mult: channel cap, c_i <= base * max_mult.
        noise_channels: channels of z (default: a quarter of the latent's).
        noise_std: sigma of z (seed: 0.1).
        noise_convs: 3x3 convolutions of the noise branch G_f (>= 1).
        norm: "batch" (default), "instance" or "none" for the encoder/decoder blocks.
        dropout: dropout in the decoder blocks (0: the noise is the randomness here, unlike
            pix2pix, whose only noise is dropout).
        noise_init: "normal" - the pix2pix / DCGAN rule N(0, 0.02) for every layer, G_f
            included (default); "kaiming" - He et al. (2015) initialisation for G_f's convs
            (std sqrt(2 / ((1 + 0.2^2) fan_in))), which keeps the scale of z through G_f, so
            that G_f(z) starts at about sigma instead of ~1e-3 of the latent's scale. The seed
            does not say how G_f is initialised.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, base: int = 32, depth: int = 4,
                 max_mult: int = 8, noise_channels: int | None = None, noise_std: float = NOISE_STD,
                 noise_convs: int = 3, norm: str = "batch", dropout: float = 0.0,
                 noise_init: str = "normal") -> None:
        super().__init__()
        if not isinstance(depth, int) or depth < 2:
            raise ValueError(f"depth must be an int >= 2, got {depth!r}")
        if noise_convs < 1:
            raise ValueError(f"noise_convs must be >= 1, got {noise_convs}")
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if noise_init not in NOISE_INITS:
            raise ValueError(f"noise_init must be one of {', '.join(NOISE_INITS)}, got {noise_init!r}")
        ch = [base * min(2 ** i, max_mult) for i in range(depth)]
        c_lat = ch[-1]
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth = depth
        self.size_multiple = 2 ** depth
        self.latent_channels = c_lat
        self.noise_channels = int(noise_channels) if noise_channels is not None else max(1, c_lat // 4)
        self.noise_std = float(noise_std)

        # --- encoder: L -> e_0 .. e_{depth-1} (the latent map)
        down: list[nn.Module] = [conv_block(in_channels, ch[0], norm="none", act="leaky")]  # (B, c0, H/2, W/2)
        for i in range(1, depth):
            down.append(conv_block(ch[i - 1], ch[i], norm=norm, act="leaky"))              # (B, c_i, H/2^(i+1), .)
        self.encoder = nn.ModuleList(down)

        # --- noise branch G_f: z (B, nz, h, w) -> n (B, c_lat, h, w), 3x3 convs keep h, w.
        # The last conv is linear: n is added to the latent map and may need either sign.
        layers: list[nn.Module] = []
        c = self.noise_channels
        for k in range(noise_convs):
            layers.append(nn.Conv2d(c, c_lat, 3, 1, 1))                                     # (B, c_lat, h, w)
            if k < noise_convs - 1:
                layers.append(activation("leaky"))
            c = c_lat
        self.noise_branch = nn.Sequential(*layers)

        # --- decoder with skips: [d_{i+1}, e_i] -> d_i, the innermost takes h alone
        up: list[nn.Module] = [None] * depth  # type: ignore[list-item]
        up[depth - 1] = conv_block(c_lat, ch[depth - 2], norm=norm, act="relu", transpose=True,
                                   dropout=dropout)                                         # (B, c_{d-2}, H/2^(d-1), .)
        for i in range(depth - 2, 0, -1):
            up[i] = conv_block(2 * ch[i], ch[i - 1], norm=norm, act="relu", transpose=True,
                               dropout=dropout)                                             # (B, c_{i-1}, H/2^i, .)
        up[0] = nn.Sequential(
            nn.ConvTranspose2d(2 * ch[0], out_channels, 4, 2, 1),                           # (B, out, H, W)
            nn.Tanh(),                                                                      # ab / 110 in [-1, 1]
        )
        self.decoder = nn.ModuleList(up)
        init_weights(self)  # N(0, 0.02), BN scales N(1, 0.02): the pix2pix / DCGAN rule
        self.noise_init = noise_init
        if noise_init == "kaiming":
            for m in self.noise_branch.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
                    nn.init.zeros_(m.bias)

    # ------------------------------------------------------------------ noise
    def noise_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """(channels, h, w) of z for an input of ``height x width``: the latent's size."""
        m = self.size_multiple
        return self.noise_channels, height // m, width // m

    def sample_noise(self, L: torch.Tensor, generator: torch.Generator | None = None,
                     seed: int | None = None) -> torch.Tensor:
        """z ~ N(0, noise_std^2) of shape (B, noise_channels, H/2^depth, W/2^depth) for ``L``.

        From ``generator`` when given, else from a generator seeded with ``seed`` when
        given, else from torch's global generator (training)."""
        b, _, h, w = L.shape
        if generator is None and seed is not None:
            generator = torch.Generator(device=L.device).manual_seed(int(seed))
        z = torch.randn((b, *self.noise_shape(h, w)), generator=generator, device=L.device,
                        dtype=torch.float32)
        return (z * self.noise_std).to(L.dtype)

    def noise_features(self, noise: torch.Tensor) -> torch.Tensor:
        """G_f(z): the processed noise map (B, latent_channels, h, w) that is added to the latent."""
        check_image_batch(noise, self.noise_channels, "noise")
        return self.noise_branch(noise)

    # ------------------------------------------------------------------ forward
    def _check(self, L: torch.Tensor) -> None:
        check_image_batch(L, self.in_channels, "ColorGAN input (L/50 - 1)")
        m = self.size_multiple
        if L.shape[2] % m or L.shape[3] % m:
            raise ValueError(
                f"ColorGAN input is {L.shape[2]}x{L.shape[3]} but this generator has depth {self.depth}, so "
                f"height and width must be multiples of {m} (e.g. {4 * m}, {8 * m}); resize or crop the image"
            )

    def forward_with_noise_features(self, L: torch.Tensor, noise: torch.Tensor | None = None,
                                    seed: int | None = None, generator: torch.Generator | None = None
                                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """L (B, 1, H, W) -> (ab (B, 2, H, W) in [-1, 1], G_f(z) (B, c_lat, H/2^d, W/2^d))."""
        self._check(L)
        if noise is None:
            noise = self.sample_noise(L, generator=generator, seed=0 if generator is None and seed is None else seed)
        expected = (L.shape[0], *self.noise_shape(L.shape[2], L.shape[3]))
        if tuple(noise.shape) != expected:
            raise ValueError(f"noise must have shape {expected} for an input of shape {tuple(L.shape)}, "
                             f"got {tuple(noise.shape)} (use sample_noise(L) to draw it)")
        skips: list[torch.Tensor] = []
        h = L
        for block in self.encoder:
            h = block(h)                                   # e_i: (B, c_i, H/2^(i+1), W/2^(i+1))
            skips.append(h)
        n = self.noise_features(noise.to(h.dtype))         # G_f(z): (B, c_lat, h, w)
        h = self.decoder[-1](skips[-1] + n)                # latent + noise -> d_{depth-1}
        for i in range(self.depth - 2, -1, -1):
            h = self.decoder[i](torch.cat([h, skips[i]], dim=1))  # [d_{i+1}, e_i] -> d_i
        return h, n                                        # (B, 2, H, W), (B, c_lat, h, w)

    def forward(self, L: torch.Tensor, noise: torch.Tensor | None = None, seed: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Normalised L (B, 1, H, W) -> ab / 110 (B, 2, H, W); noise from ``noise``, else
        ``generator``, else ``seed`` (default 0: reproducible)."""
        return self.forward_with_noise_features(L, noise=noise, seed=seed, generator=generator)[0]
