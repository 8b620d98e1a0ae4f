"""A small StyleGAN2 in plain PyTorch: the generative prior of the restorer (seed 004).

Karras, Laine, Aittala, Hellsten, Lehtinen & Aila, "Analyzing and Improving the Image
Quality of StyleGAN", CVPR 2020 (config E/F, "skip" generator, "residual" discriminator).
Every op is ordinary PyTorch (no custom CUDA kernels), so it trains on a CPU; at 64x64 with
at most 128 channels it has about 2 M parameters (the paper's 1024x1024 model has 30 M).

Generator ``G(z)``:

* **mapping** ``w = f(z)``: pixel-norm ``z / sqrt(mean(z^2) + 1e-8)``, then ``n_mlp``
  equalised-lr linear layers with LeakyReLU(0.2) * sqrt(2), learning-rate multiplier 0.01
  (StyleGAN sec. 2: the mapping net learns 100x slower, which keeps W stable).
* **synthesis**: a learned constant 4x4 input, then for each resolution 8, 16, ..., size:
  upsample x2, two *modulated* 3x3 convs, and a ToRGB 1x1 conv whose output is added to the
  upsampled RGB of the previous resolution (the "skip" generator, paper fig. 7b).
* **modulated conv** (paper eq. 1-3): per sample, the weights are scaled by a style
  ``s = A(w)`` (an affine map of w, bias init 1) and *demodulated*:

      w'_{oik} = s_i * w_{oik}
      w''_{oik} = w'_{oik} / sqrt(sum_{i,k} w'_{oik}^2 + 1e-8)

  so that unit-variance input gives unit-variance output whatever the style (what AdaIN did
  with the activations, done on the weights: no droplet artefacts). Implemented as one
  grouped convolution with a weight per sample (``fused=True``), or as the equivalent
  "scale input, shared conv, scale output" (``fused=False``, faster on CPUs).
* **noise**: after each conv ``x + strength * noise``, noise ~ N(0, 1) per pixel, one
  learned strength per layer (init 0); then a bias and LeakyReLU(0.2) * sqrt(2) (the
  sqrt(2) restores unit variance after the leaky ReLU, the "gain").
* **equalised learning rate** (Karras et al. 2018, sec. 4.1): weights are stored as
  N(0, 1) / lr_mul and multiplied at run time by ``lr_mul / sqrt(fan_in)``, so that Adam's
  per-parameter step has the same effect on every layer.
* **upsampling**: bilinear x2 (``align_corners=False``). That is exactly zero insertion
  followed by the separable [1, 3, 3, 1] / 4 low-pass filter of the official code
  (upfirdn2d) in the interior; only the border handling differs (edge clamping vs zero
  padding). The official generator fuses it into a transposed conv; upsample-then-conv is
  the same function class, simpler to read.

Latents: ``n_w = 2 log2(size) - 2`` codes, one per layer (10 at 64 px; the ToRGB of a
resolution shares its code with the next resolution's first conv, as in the reference
implementations). ``w`` of shape ``(B, w_dim)`` is broadcast to all of them; a per-layer
``(B, n_w, w_dim)`` allows style mixing. Truncation: ``w' = w_avg + psi (w - w_avg)``,
``w_avg`` tracked as an EMA (0.995) of the mapping output during training (the official
``dlatent_avg``), initialised to the mean of 4,096 mapped z at construction.

Feature injection (BDInvert, Kang et al. ICCV 2021, as used by the seed's inversion
encoder): ``return_features=True`` returns, for every resolution r >= 8, the feature map
after the first (upsampling) conv of r (``features[r]``, ``(B, C_r, r, r)``) and the RGB
skip entering r (``skips[r]``). ``forward(..., inject_features=f, inject_res=16)`` replaces
that feature map and keeps everything else; with the generator's own feature it returns the
generator's own image, bit for bit. ``synthesis_from(16, f, ws)`` starts the synthesis from
an injected map with only the codes of the layers after it (``n_w_after(16)`` of them); as
BDInvert does, the coarse RGB skip is then dropped unless passed (the injected map carries
the coarse content itself, since ToRGB is linear the difference is exactly the upsampled
skip).

Discriminator ``D(x)``: residual (paper fig. 7c): FromRGB, then per resolution two 3x3
convs with a [1, 3, 3, 1] blur + stride-2 downsampling and a 1x1 skip, summed and scaled by
1/sqrt(2); at 4x4 the minibatch standard deviation (Karras et al. 2018, sec. 3) is appended
as an extra channel, then a conv and two linear layers give one logit per image.

Losses: the non-saturating logistic loss is ``gan_loss("vanilla")`` and R1 is
``r1_penalty`` in :mod:`lessons_lib.losses.adversarial` (lazy R1: gamma 10 every 16 steps,
the engine's schedule).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register

__all__ = [
    "stylegan2_channels",
    "stylegan2_n_w",
    "w_index_after",
    "EqualLinear",
    "EqualConv2d",
    "ModulatedConv2d",
    "NoiseInjection",
    "StyledConv",
    "ToRGB",
    "MappingNetwork",
    "StyleGAN2Generator",
    "StyleGAN2Discriminator",
    "minibatch_stddev",
    "upsample2x",
    "blur_downsample2x",
]

_SQRT2 = math.sqrt(2.0)
# LeakyReLU slope 0.2 and gain sqrt(2): the reference "fused_lrelu" (keeps unit variance).
_SLOPE = 0.2


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, _SLOPE) * _SQRT2


def _check_size(size: int) -> int:
    if not isinstance(size, int) or size < 8 or size & (size - 1):
        raise ValueError(f"size must be a power of two >= 8 (8, 16, 32, 64, 128, ...), got {size!r}")
    return size


def stylegan2_channels(size: int, channel_base: int = 4096, channel_max: int = 128) -> dict[int, int]:
    """Channels at each resolution 4 ... size: ``min(channel_base // res, channel_max)``.

    The StyleGAN2-ADA rule (its defaults are 32768 and 512); the kit's defaults give 128
    channels up to 32x32 and 64 at 64x64.
    """
    _check_size(size)
    res = [2**i for i in range(2, int(math.log2(size)) + 1)]
    ch = {r: max(1, min(channel_base // r, channel_max)) for r in res}
    return ch


def stylegan2_n_w(size: int) -> int:
    """Number of w codes of a ``size`` generator: ``2 log2(size) - 2`` (10 at 64 px)."""
    return 2 * int(math.log2(_check_size(size))) - 2


def w_index_after(res: int) -> int:
    """Index of the first w code used after the injection point at ``res`` (its second conv).

    Layer codes: 0 = 4x4 conv; ToRGB_4 and the up-conv of 8 share 1; then for each r >= 8
    the up-conv uses ``2 log2 r - 5``, the second conv ``2 log2 r - 4``, ToRGB ``2 log2 r - 3``.
    """
    return 2 * int(math.log2(res)) - 4


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 = zero insertion + [1,3,3,1]/4 filter per axis (interior), see module doc."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def blur_downsample2x(x: torch.Tensor) -> torch.Tensor:
    """[1,3,3,1]/8 low-pass per axis, then keep every other pixel (the official D's blur).

    Zero padding of 1 on each side keeps ``H/2`` outputs: ``(H + 2 - 4) / 2 + 1 = H/2``.
    """
    C = x.shape[1]
    k1 = torch.tensor([1.0, 3.0, 3.0, 1.0], device=x.device, dtype=x.dtype)
    k = torch.outer(k1, k1) / 64.0  # sums to 1: brightness kept
    w = k.expand(C, 1, 4, 4)
    return F.conv2d(F.pad(x, (1, 1, 1, 1)), w, stride=2, groups=C)  # (B, C, H/2, W/2)


# --------------------------------------------------------------------------- equalised-lr layers
class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (Karras et al. 2018, sec. 4.1).

    ``y = x @ (W * lr_mul / sqrt(in_dim))^T + b * lr_mul``, with ``W ~ N(0, 1) / lr_mul``
    stored, so the effective weight has std ``1/sqrt(in_dim)`` (He init) at the start and
    every parameter moves at the same relative speed under Adam; ``lr_mul < 1`` slows the
    layer down (0.01 in the mapping network). The stored bias is ``bias_init / lr_mul`` so
    the effective initial bias is ``bias_init`` (1 for the style affine: styles start at 1).
    """

    def __init__(
        self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
        activation: bool = False,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init) / lr_mul)) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias * self.lr_mul if self.bias is not None else None
        y = F.linear(x, self.weight * self.scale, b)  # (B, out)
        return _lrelu(y) if self.activation else y

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}, lr_mul={self.lr_mul}, act={self.activation}"


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate: weight ``N(0,1)`` scaled by ``1/sqrt(in*k*k)`` at run time."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


# --------------------------------------------------------------------------- generator layers
class ModulatedConv2d(nn.Module):
    """Modulated (and demodulated) convolution, StyleGAN2 eq. 1-3; see the module docstring.

    ``forward(x (B, in, H, W), w (B, w_dim)) -> (B, out, H', W')`` with ``H' = 2H`` when
    ``upsample``. ``fused=True`` builds a weight per sample and runs one grouped conv
    (``groups=B``); ``fused=False`` computes the same function as
    ``conv(x * s, W) * d`` with one shared weight (cheaper on CPUs).
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, w_dim: int, demodulate: bool = True, upsample: bool = False,
        fused: bool = True,
    ):
        super().__init__()
        self.in_ch, self.out_ch, self.kernel = in_ch, out_ch, kernel
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel, kernel))
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)  # equalised lr
        self.modulation = EqualLinear(w_dim, in_ch, bias_init=1.0)  # the affine "A" of the paper: s = A(w)
        self.demodulate, self.upsample, self.fused = demodulate, upsample, fused

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        s = self.modulation(w)  # (B, in)
        if self.upsample:
            x = upsample2x(x)  # (B, in, 2H, 2W)
            H, W = 2 * H, 2 * W
        pad = self.kernel // 2
        if self.fused:
            weight = self.scale * self.weight * s[:, None, :, None, None]  # (B, out, in, k, k): w' = s_i w
            if self.demodulate:
                d = torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)  # (B, out, 1, 1, 1)
                weight = weight * d  # w''
            weight = weight.reshape(B * self.out_ch, C, self.kernel, self.kernel)  # (B*out, in, k, k)
            out = F.conv2d(x.reshape(1, B * C, H, W), weight, padding=pad, groups=B)  # (1, B*out, H, W)
            return out.reshape(B, self.out_ch, H, W)  # (B, out, H, W)
        weight = self.scale * self.weight[0]  # (out, in, k, k)
        out = F.conv2d(x * s[:, :, None, None], weight, padding=pad)  # (B, out, H, W)
        if self.demodulate:
            # sum_{i,k} (s_i w_oik)^2 = sum_i s_i^2 * (sum_k w_oik^2)
            d = torch.rsqrt(s.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)  # (B, out)
            out = out * d[:, :, None, None]
        return out

    def extra_repr(self) -> str:
        return (f"{self.in_ch} -> {self.out_ch}, k={self.kernel}, demodulate={self.demodulate}, "
                f"upsample={self.upsample}, fused={self.fused}")


class NoiseInjection(nn.Module):
    """``x + strength * noise`` with one learned strength per layer (init 0, as in the official code)."""

    def __init__(self):
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:
            return x
        return x + self.strength * noise  # noise (B or 1, 1, H, W) broadcasts over channels


class StyledConv(nn.Module):
    """Modulated conv -> noise -> bias -> LeakyReLU(0.2) * sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, upsample: bool = False, fused: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, w_dim, demodulate=True, upsample=upsample, fused=fused)
        self.noise = NoiseInjection()
        self.bias = nn.Parameter(torch.zeros(1, out_ch, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(x, w)  # (B, out, H, W)
        x = self.noise(x, noise)
        return _lrelu(x + self.bias)


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) to RGB, plus the skip from the previous resolution."""

    def __init__(self, in_ch: int, w_dim: int, img_channels: int = 3, fused: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, img_channels, 1, w_dim, demodulate=False, fused=fused)
        self.bias = nn.Parameter(torch.zeros(1, img_channels, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        rgb = self.conv(x, w) + self.bias  # (B, 3, H, W)
        return rgb if skip is None else rgb + skip


class MappingNetwork(nn.Module):
    """``w = MLP(pixelnorm(z))``: ``n_mlp`` equalised-lr layers, lr multiplier 0.01, LeakyReLU."""

    def __init__(self, z_dim: int, w_dim: int, n_mlp: int, lr_mul: float = 0.01):
        super().__init__()
        if n_mlp < 1:
            raise ValueError(f"n_mlp must be >= 1, got {n_mlp}")
        dims = [z_dim] + [w_dim] * n_mlp
        self.layers = nn.Sequential(
            *[EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul, activation=True) for i in range(n_mlp)]
        )  # (B, w_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # pixel norm: z moved onto the sphere of radius sqrt(z_dim)
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        return self.layers(z)


class _SynthesisBlock(nn.Module):
    """One resolution r >= 8: up-conv (the injection point), conv, ToRGB."""

    def __init__(self, res: int, in_ch: int, out_ch: int, w_dim: int, img_channels: int, fused: bool):
        super().__init__()
        self.res = res
        self.conv0 = StyledConv(in_ch, out_ch, w_dim, upsample=True, fused=fused)  # (B, C_r, r, r)
        self.conv1 = StyledConv(out_ch, out_ch, w_dim, fused=fused)  # (B, C_r, r, r)
        self.to_rgb = ToRGB(out_ch, w_dim, img_channels, fused=fused)  # (B, 3, r, r)


@register("stylegan2_g")
class StyleGAN2Generator(nn.Module):
    """StyleGAN2 generator (Karras et al. CVPR 2020), "skip" architecture; output in about [-1, 1].

    Args:
        size: output resolution, a power of two >= 8 (64 for the lessons).
        z_dim, w_dim: latent sizes (256 here, 512 in the paper).
        n_mlp: mapping layers (8 in the paper; 4-8 is fine for a small model).
        channel_base, channel_max: channels per resolution, see :func:`stylegan2_channels`.
        lr_mlp: learning-rate multiplier of the mapping network (0.01).
        img_channels: 3.
        fused_modconv: grouped-conv modulated convs (True) or the shared-weight form.
        w_avg_beta: EMA decay of ``w_avg`` during training (0.995, the official value).
    """

    def __init__(
        self,
        size: int = 64,
        z_dim: int = 256,
        w_dim: int = 256,
        n_mlp: int = 8,
        channel_base: int = 4096,
        channel_max: int = 128,
        lr_mlp: float = 0.01,
        img_channels: int = 3,
        fused_modconv: bool = True,
        w_avg_beta: float = 0.995,
    ):
        super().__init__()
        self.size = _check_size(size)
        self.z_dim, self.w_dim = z_dim, w_dim
        self.channel_base, self.channel_max = channel_base, channel_max
        self.channels = stylegan2_channels(size, channel_base, channel_max)
        self.n_w = stylegan2_n_w(size)
        self.w_avg_beta = w_avg_beta
        self.mapping = MappingNetwork(z_dim, w_dim, n_mlp, lr_mlp)  # (B, w_dim)
        c4 = self.channels[4]
        self.const = nn.Parameter(torch.randn(1, c4, 4, 4))  # (1, C_4, 4, 4) learned constant input
        self.conv4 = StyledConv(c4, c4, w_dim, fused=fused_modconv)  # (B, C_4, 4, 4)
        self.to_rgb4 = ToRGB(c4, w_dim, img_channels, fused=fused_modconv)  # (B, 3, 4, 4)
        self.blocks = nn.ModuleList()
        prev = c4
        for i in range(3, int(math.log2(size)) + 1):
            r = 2**i
            self.blocks.append(_SynthesisBlock(r, prev, self.channels[r], w_dim, img_channels, fused_modconv))
            prev = self.channels[r]
        # Fixed noise maps (noise="const"): one per styled conv, for deterministic images.
        self.noise_res = [4] + [b.res for b in self.blocks for _ in range(2)]
        for j, r in enumerate(self.noise_res):
            self.register_buffer(f"noise_{j}", torch.randn(1, 1, r, r))
        self.register_buffer("w_avg", torch.zeros(w_dim))
        with torch.no_grad():
            self.w_avg.copy_(self.mean_w(4096, generator=torch.Generator().manual_seed(0)))

    # ------------------------------------------------------------------ latents
    def mean_w(self, n: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean of the mapping network's output over ``n`` random z: ``(w_dim,)`` (the truncation centre)."""
        device = self.const.device
        gen_device = generator.device if generator is not None else device
        z = torch.randn(n, self.z_dim, generator=generator, device=gen_device)
        with torch.no_grad():
            return self.mapping(z.to(device)).mean(dim=0)

    def _ws(self, x: torch.Tensor, input_is_w: bool, truncation: float, truncation_latent) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"the generator takes a tensor z (B, {self.z_dim}) or w, got {type(x).__name__}")
        if input_is_w:
            if x.ndim == 2 and x.shape[1] == self.w_dim:
                ws = x[:, None].expand(-1, self.n_w, -1)
            elif x.ndim == 3 and x.shape[1:] == (self.n_w, self.w_dim):
                ws = x
            else:
                raise ValueError(
                    f"w must have shape (B, {self.w_dim}) or (B, {self.n_w}, {self.w_dim}) (one code per layer), "
                    f"got {tuple(x.shape)}"
                )
        else:
            if x.ndim != 2 or x.shape[1] != self.z_dim:
                raise ValueError(
                    f"z must have shape (B, {self.z_dim}), got {tuple(x.shape)}; pass input_is_w=True for w codes"
                )
            w = self.mapping(x)  # (B, w_dim)
            if self.training and self.w_avg_beta < 1:
                with torch.no_grad():  # the official dlatent_avg EMA
                    self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
            ws = w[:, None].expand(-1, self.n_w, -1)  # (B, n_w, w_dim)
        if truncation != 1.0:
            centre = self.w_avg if truncation_latent is None else truncation_latent
            centre = centre.reshape(1, -1, self.w_dim) if centre.ndim < 3 else centre
            ws = centre + truncation * (ws - centre)  # w' = w_avg + psi (w - w_avg)
        return ws

    def style_mix(
        self, z1: torch.Tensor, z2: torch.Tensor, crossover: int, truncation: float = 1.0, noise=None,
        input_is_w: bool = False,
    ) -> torch.Tensor:
        """Style mixing (StyleGAN sec. 3.1): codes ``0 .. crossover-1`` from z1, the rest from z2.

        A small ``crossover`` takes only the coarse layers (pose, face shape) from z1; a large
        one keeps z1 up to the fine layers (colours, micro-texture come from z2).
        """
        if not 0 <= crossover <= self.n_w:
            raise ValueError(f"crossover must be in 0..{self.n_w} (the number of w codes), got {crossover}")
        w1 = self._ws(z1, input_is_w, truncation, None)
        w2 = self._ws(z2, input_is_w, truncation, None)
        ws = torch.cat([w1[:, :crossover], w2[:, crossover:]], dim=1)  # (B, n_w, w_dim)
        return self.forward(ws, input_is_w=True, noise=noise)

    # ------------------------------------------------------------------ noise
    def _noises(self, noise, B: int, device, dtype) -> list[torch.Tensor | None]:
        n = len(self.noise_res)
        if noise is None or noise == "random":
            return [torch.randn(B, 1, r, r, device=device, dtype=dtype) for r in self.noise_res]
        if isinstance(noise, str):
            if noise == "const":
                return [getattr(self, f"noise_{j}").to(dtype) for j in range(n)]
            if noise == "zero":
                return [None] * n
            raise ValueError(f"noise must be None/'random', 'const', 'zero' or a list of {n} tensors, got {noise!r}")
        noise = list(noise)
        if len(noise) != n:
            raise ValueError(
                f"expected {n} noise maps (one per styled conv, resolutions {self.noise_res}), got {len(noise)}"
            )
        return noise

    # ------------------------------------------------------------------ synthesis
    def _synthesis(self, ws, noises, start_res=None, start_x=None, start_skip=None, inject_res=None,
                   inject_x=None, collect=False):
        B = ws.shape[0]
        feats: dict[int, torch.Tensor] = {}
        skips: dict[int, torch.Tensor | None] = {}
        rgb = None
        x = None
        if start_x is None:
            x = self.const.expand(B, -1, -1, -1)  # (B, C_4, 4, 4)
            x = self.conv4(x, ws[:, 0], noises[0])  # (B, C_4, 4, 4)
            if collect:
                feats[4] = x
            rgb = self.to_rgb4(x, ws[:, 1])  # (B, 3, 4, 4)
        for j, block in enumerate(self.blocks):
            r = block.res
            if start_res is not None and r < start_res:
                continue
            i = 2 * int(math.log2(r)) - 5  # code of the up-conv of r
            if start_x is not None and r == start_res:
                x, skip_in = start_x, start_skip
            else:
                x = block.conv0(x, ws[:, i], noises[1 + 2 * j])  # (B, C_r, r, r) the injection point
                skip_in = upsample2x(rgb)  # (B, 3, r, r)
                if collect:
                    feats[r], skips[r] = x, skip_in
                if inject_res == r:
                    x = inject_x
            x = block.conv1(x, ws[:, i + 1], noises[2 + 2 * j])  # (B, C_r, r, r)
            rgb = block.to_rgb(x, ws[:, i + 2], skip_in)  # (B, 3, r, r)
        return rgb, feats, skips

    def _check_feature(self, res: int, feat: torch.Tensor, B: int | None) -> None:
        if res not in self.channels or res < 8:
            allowed = [r for r in self.channels if r >= 8]
            raise ValueError(f"the injection resolution must be one of {allowed}, got {res}")
        shape = (self.channels[res], res, res)
        if not isinstance(feat, torch.Tensor) or feat.ndim != 4 or tuple(feat.shape[1:]) != shape:
            got = tuple(feat.shape) if isinstance(feat, torch.Tensor) else type(feat).__name__
            raise ValueError(
                f"the feature map injected at {res}x{res} must have shape (B, {shape[0]}, {res}, {res}), got {got}"
            )
        if B is not None and feat.shape[0] != B:
            raise ValueError(f"the injected features have batch {feat.shape[0]} but the latents have batch {B}")

    def forward(
        self,
        z: torch.Tensor,
        input_is_w: bool = False,
        truncation: float = 1.0,
        truncation_latent: torch.Tensor | None = None,
        noise=None,
        return_features: bool = False,
        inject_features: torch.Tensor | None = None,
        inject_res: int = 16,
    ):
        """Generate images.

        Args:
            z: ``(B, z_dim)`` latents, or with ``input_is_w`` w codes ``(B, w_dim)`` or ``(B, n_w, w_dim)``.
            truncation: psi; ``w' = w_avg + psi (w - w_avg)`` (1 = off, 0 = the mean image).
            truncation_latent: the centre, default the tracked ``w_avg``.
            noise: None / ``"random"`` (fresh N(0,1) maps), ``"const"`` (the stored maps,
                deterministic), ``"zero"`` (none) or a list of maps, one per styled conv.
            return_features: also return ``{"features": {r: ...}, "skips": {r: ...}, "ws": ...}``.
            inject_features: ``(B, C_r, r, r)`` replaces the feature after the up-conv of ``inject_res``.

        Returns:
            ``(B, 3, size, size)`` images (about [-1, 1], not clamped), or ``(images, info)``.
        """
        ws = self._ws(z, input_is_w, truncation, truncation_latent)  # (B, n_w, w_dim)
        B = ws.shape[0]
        if inject_features is not None:
            self._check_feature(inject_res, inject_features, B)
        noises = self._noises(noise, B, ws.device, ws.dtype)
        img, feats, skips = self._synthesis(
            ws, noises, inject_res=inject_res if inject_features is not None else None, inject_x=inject_features,
            collect=return_features,
        )
        if return_features:
            return img, {"features": feats, "skips": skips, "ws": ws}
        return img

    def n_w_after(self, res: int = 16) -> int:
        """How many w codes the layers after the injection point at ``res`` use (6 at 16 px of a 64 px G)."""
        return self.n_w - w_index_after(res)

    def synthesis_from(
        self, res: int, features: torch.Tensor, ws: torch.Tensor, skip: torch.Tensor | None = None, noise=None
    ) -> torch.Tensor:
        """Start the synthesis from an injected feature map at ``res`` (BDInvert-style).

        Args:
            res: resolution of the injection point (16 in the seed).
            features: ``(B, C_res, res, res)``, replacing the output of the up-conv of ``res``.
            ws: ``(B, n_w_after(res), w_dim)``, the codes of the layers after it (the second
                conv of ``res``, its ToRGB, and every later layer), or ``(B, w_dim)`` for all.
            skip: the RGB skip entering ``res`` (``info["skips"][res]``); None drops it, as BDInvert does.
            noise: as in ``forward`` (maps of layers before ``res`` are ignored).
        """
        B = features.shape[0] if isinstance(features, torch.Tensor) else None
        self._check_feature(res, features, None)
        k = self.n_w_after(res)
        if ws.ndim == 2 and ws.shape[1] == self.w_dim:
            ws = ws[:, None].expand(-1, k, -1)
        if ws.ndim != 3 or ws.shape[1:] != (k, self.w_dim) or ws.shape[0] != B:
            raise ValueError(
                f"ws must have shape ({B}, {k}, {self.w_dim}) (the codes after the {res}x{res} injection point), "
                f"got {tuple(ws.shape)}"
            )
        full = torch.cat([ws.new_zeros(B, self.n_w - k, self.w_dim), ws], dim=1)  # codes before res are unused
        noises = self._noises(noise, B, ws.device, ws.dtype)
        img, _, _ = self._synthesis(full, noises, start_res=res, start_x=features, start_skip=skip)
        return img


# --------------------------------------------------------------------------- discriminator
def minibatch_stddev(x: torch.Tensor, group_size: int = 4, channels: int = 1) -> torch.Tensor:
    """Append the minibatch standard deviation as ``channels`` extra feature maps (Karras et al. 2018).

    Samples are split into groups of ``G`` (the largest divisor of B that is <= group_size);
    within a group, the std of every feature over the G samples is averaged into one number
    per group (and per extra channel), broadcast over H x W. A batch of near-identical
    fakes (mode collapse) has a tiny std: D can see it.
    """
    B, C, H, W = x.shape
    G = max(g for g in range(1, min(group_size, B) + 1) if B % g == 0)
    Fc = channels
    y = x.reshape(G, B // G, Fc, C // Fc, H, W)  # (G, M, F, C/F, H, W): sample b = g*M + m
    y = (y - y.mean(dim=0)).pow(2).mean(dim=0)  # (M, F, C/F, H, W) variance over the group
    y = (y + 1e-8).sqrt().mean(dim=(2, 3, 4))  # (M, F)
    y = y.reshape(-1, Fc, 1, 1).repeat(G, 1, H, W)  # (B, F, H, W)
    return torch.cat([x, y], dim=1)  # (B, C+F, H, W)


class _DBlock(nn.Module):
    """Residual D block: conv3x3 -> lrelu -> blur-down -> conv3x3 -> lrelu, plus blur-down -> 1x1; / sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_ch, in_ch, 3, padding=1)  # (B, in, r, r)
        self.conv1 = EqualConv2d(in_ch, out_ch, 3, padding=1)  # (B, out, r/2, r/2)
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False)  # (B, out, r/2, r/2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _lrelu(self.conv0(x))  # (B, in, r, r)
        y = _lrelu(self.conv1(blur_downsample2x(y)))  # (B, out, r/2, r/2)
        s = self.skip(blur_downsample2x(x))  # (B, out, r/2, r/2)
        return (y + s) / _SQRT2  # unit variance kept when the two branches are independent


@register("stylegan2_d")
class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2 residual discriminator (paper fig. 7c): ``(B, 3, size, size) -> (B, 1)`` logits.

    Args:
        size: input resolution (power of two >= 8; 64 for the lessons).
        channel_base, channel_max: channels per resolution, as for the generator.
        img_channels: 3.
        mbstd_group, mbstd_channels: minibatch-stddev group size (4) and extra channels (1), the
            official values: groups of 4 give a usable std estimate while keeping the
            statistic local to a few samples.
    """

    def __init__(
        self, size: int = 64, channel_base: int = 4096, channel_max: int = 128, img_channels: int = 3,
        mbstd_group: int = 4, mbstd_channels: int = 1,
    ):
        super().__init__()
        self.size = _check_size(size)
        self.img_channels = img_channels
        ch = stylegan2_channels(size, channel_base, channel_max)
        self.mbstd_group, self.mbstd_channels = mbstd_group, mbstd_channels
        self.from_rgb = EqualConv2d(img_channels, ch[size], 1)  # (B, C_size, size, size)
        blocks = []
        r = size
        while r > 4:
            blocks.append(_DBlock(ch[r], ch[r // 2]))  # (B, C_{r/2}, r/2, r/2)
            r //= 2
        self.blocks = nn.Sequential(*blocks)  # (B, C_4, 4, 4)
        c4 = ch[4]
        if c4 % mbstd_channels:
            raise ValueError(f"mbstd_channels ({mbstd_channels}) must divide the 4x4 channels ({c4})")
        self.final_conv = EqualConv2d(c4 + mbstd_channels, c4, 3, padding=1)  # (B, C_4, 4, 4)
        self.fc = EqualLinear(c4 * 16, c4, activation=True)  # (B, C_4)
        self.out = EqualLinear(c4, 1)  # (B, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (self.img_channels, self.size, self.size):
            raise ValueError(
                f"the discriminator expects (B, {self.img_channels}, {self.size}, {self.size}) images, "
                f"got {tuple(x.shape)}; resize the images to {self.size}x{self.size}"
            )
        h = _lrelu(self.from_rgb(x))  # (B, C_size, size, size)
        h = self.blocks(h)  # (B, C_4, 4, 4)
        h = minibatch_stddev(h, self.mbstd_group, self.mbstd_channels)  # (B, C_4 + 1, 4, 4)
        h = _lrelu(self.final_conv(h))  # (B, C_4, 4, 4)
        h = self.fc(h.flatten(1))  # (B, C_4)
        return self.out(h)  # (B, 1)
