"""Building blocks shared by every model family: norms, activations, conv blocks, init.

Each family file (``gan.py``, ``unet.py``, ``discriminators.py``, and the later restoration
models) builds its layers from the factories here, so that a name such as ``"batch"`` or
``"leaky"`` means the same thing everywhere and a recipe can swap it with one string.

Also here, because every lesson on discriminators needs them:

* :func:`init_weights` - the DCGAN / pix2pix initialisation N(0, 0.02);
* :func:`conv_geometry`, :func:`receptive_field`, :func:`output_size` - the arithmetic of a
  chain of convolutions, read off the actual layers of a model (never a lookup table);
* :func:`check_image_batch` - the one place that turns a wrongly shaped input into a
  message that says what was expected.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn as nn

__all__ = [
    "NORMS",
    "ACTIVATIONS",
    "norm_layer",
    "activation",
    "conv_block",
    "strided_conv_stack",
    "init_weights",
    "ConvGeometry",
    "conv_geometry",
    "receptive_field",
    "output_size",
    "check_image_batch",
    "count_parameters",
    "UPSAMPLES",
    "upsample_conv",
    "upsampling_overlap",
    "add_spectral_norm",
    "largest_singular_values",
]

# Names accepted by :func:`norm_layer` and :func:`activation` (aliases map to one canonical name).
NORMS = ("batch", "instance", "none")
_NORM_ALIASES = {"bn": "batch", "batchnorm": "batch", "in": "instance", "instancenorm": "instance",
                 "identity": "none", None: "none"}
ACTIVATIONS = ("relu", "leaky", "tanh", "sigmoid", "gelu", "silu", "none")
_ACT_ALIASES = {"lrelu": "leaky", "leaky_relu": "leaky", "leakyrelu": "leaky",
                "identity": "none", "linear": "none", "swish": "silu", None: "none"}

# LeakyReLU slope 0.2: DCGAN (Radford et al. 2016, sec. 3) and pix2pix both use 0.2 in the
# discriminator / encoder; it keeps a gradient for negative pre-activations, so D never
# goes "dead" on a region of its input and G always receives a signal.
LEAKY_SLOPE = 0.2


def _canonical(name, aliases: dict, known: tuple, what: str) -> str:
    key = name.lower() if isinstance(name, str) else name
    key = aliases.get(key, key)
    if key not in known:
        raise ValueError(f"unknown {what} {name!r}; choose one of: {', '.join(known)}")
    return key


def norm_layer(kind: str | None, channels: int, dims: int = 2) -> nn.Module:
    """A normalisation layer by name: ``"batch"``, ``"instance"`` or ``"none"``.

    * ``"batch"`` - BatchNorm (Ioffe & Szegedy 2015), the choice of DCGAN and pix2pix.
    * ``"instance"`` - InstanceNorm without affine parameters or running statistics, as
      pix2pix/CycleGAN define it (Ulyanov et al. 2016): statistics of each image alone,
      so it behaves the same at batch size 1 and in eval mode.
    * ``"none"`` - identity.

    Args:
        dims: 2 for feature maps (B, C, H, W), 1 for vectors (B, C) (the MLPs of the toy GAN).
    """
    kind = _canonical(kind, _NORM_ALIASES, NORMS, "norm")
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 (vectors) or 2 (feature maps), got {dims}")
    if kind == "batch":
        return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)
    if kind == "instance":
        cls = nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm1d
        return cls(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def activation(kind: str | None, slope: float = LEAKY_SLOPE) -> nn.Module:
    """An activation by name: relu, leaky (LeakyReLU(``slope``)), tanh, sigmoid, gelu, silu, none.

    Never in-place: the U-Net keeps references to encoder outputs for its skip connections,
    and an in-place activation would silently change them.
    """
    kind = _canonical(kind, _ACT_ALIASES, ACTIVATIONS, "activation")
    return {
        "relu": lambda: nn.ReLU(),
        "leaky": lambda: nn.LeakyReLU(slope),
        "tanh": lambda: nn.Tanh(),
        "sigmoid": lambda: nn.Sigmoid(),
        "gelu": lambda: nn.GELU(),
        "silu": lambda: nn.SiLU(),
        "none": lambda: nn.Identity(),
    }[kind]()


def conv_block(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 4,
    stride: int = 2,
    padding: int = 1,
    norm: str | None = "batch",
    act: str | None = "leaky",
    dropout: float = 0.0,
    bias: bool | None = None,
    transpose: bool = False,
    pre_act: bool = False,
    upsample: str = "transpose",
) -> nn.Sequential:
    """Conv (or ConvTranspose) -> norm -> activation -> dropout, as one ``nn.Sequential``.

    The defaults are the pix2pix / DCGAN down-sampling block: a 4x4 convolution with
    stride 2 and padding 1 halves H and W exactly (out = (H + 2 - 4) / 2 + 1 = H / 2);
    as a transposed convolution the same numbers double them.

    Args:
        bias: None = no bias when BatchNorm follows (its shift makes a bias redundant),
            a bias otherwise - the rule of the pix2pix reference implementation.
        pre_act: put the activation *before* the convolution (the order of the pix2pix
            U-Net blocks, whose skip connections carry the pre-activation feature map).
        dropout: probability of an ``nn.Dropout`` after the activation (0 = none).
        upsample: for ``transpose=True`` with stride 2: "transpose" (the transposed conv
            itself) or "resize" / "bilinear" (a resize x2 then a 3x3 conv, see
            :func:`upsample_conv`).
    """
    norm_kind = _canonical(norm, _NORM_ALIASES, NORMS, "norm")
    if bias is None:
        bias = norm_kind != "batch"
    if transpose and upsample != "transpose":
        if stride != 2:
            raise ValueError(f"upsample={upsample!r} replaces a stride-2 transposed conv; this one has stride {stride}")
        conv: nn.Module = upsample_conv(in_channels, out_channels, upsample, bias=bias)
    else:
        conv_cls = nn.ConvTranspose2d if transpose else nn.Conv2d
        conv = conv_cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
    layers: list[nn.Module] = []
    if pre_act:
        layers += [activation(act), conv, norm_layer(norm_kind, out_channels)]
    else:
        layers += [conv, norm_layer(norm_kind, out_channels), activation(act)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    # Drop the identities so that printed models stay readable.
    return nn.Sequential(*[m for m in layers if not isinstance(m, nn.Identity)])


def strided_conv_stack(
    in_channels: int,
    width: int,
    n_down: int,
    norm: str | None = "batch",
    act: str | None = "leaky",
    max_mult: int = 8,
    dropout: float = 0.0,
) -> tuple[list[nn.Module], int]:
    """The discriminator trunk of DCGAN and pix2pix: ``n_down`` 4x4 stride-2 conv blocks.

    Block 0 maps ``in_channels`` -> ``width`` with no normalisation (Radford et al. 2016:
    BN on D's input layer destabilises training); block n maps width * min(2^(n-1), max_mult)
    -> width * min(2^n, max_mult) with ``norm``. Each halves H and W:

        (B, in, H, W) -> (B, w, H/2, W/2) -> (B, 2w, H/4, W/4) -> ... (B, w*min(2^(n-1), m), H/2^n, W/2^n)

    Returns the list of blocks and the channel count of the last one.
    """
    if n_down < 1:
        raise ValueError(f"n_down must be >= 1, got {n_down}")
    blocks: list[nn.Module] = [conv_block(in_channels, width, 4, 2, 1, norm="none", act=act, dropout=dropout)]
    c = width
    for n in range(1, n_down):
        c_next = width * min(2 ** n, max_mult)
        blocks.append(conv_block(c, c_next, 4, 2, 1, norm=norm, act=act, dropout=dropout))
        c = c_next
    return blocks, c


@torch.no_grad()
def init_weights(module: nn.Module, std: float = 0.02) -> nn.Module:
    """DCGAN / pix2pix initialisation, applied to every sub-module in place.

    Radford et al. (2016, sec. 4): "All weights were initialized from a zero-centered Normal
    distribution with standard deviation 0.02"; the pix2pix reference implementation
    (``init_type='normal'``, gain 0.02) does the same and draws the BatchNorm scales from
    N(1, 0.02) so that BN starts close to the identity.

        conv / transposed conv / linear:  W ~ N(0, std^2),  b = 0
        norm layers with an affine part:  gamma ~ N(1, std^2),  beta = 0

    Returns the module, so ``init_weights(nn.Sequential(...))`` can be chained.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm1d, nn.InstanceNorm2d,
                            nn.GroupNorm, nn.LayerNorm)):
            if getattr(m, "weight", None) is not None:
                nn.init.normal_(m.weight, 1.0, std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
    return module


# --------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class ConvGeometry:
    """Kernel, stride, padding and dilation of one spatial layer (square, along one axis)."""

    kernel: int
    stride: int
    padding: int
    dilation: int = 1


def _pair_first(v) -> int:
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise ValueError(f"non-square layer parameter {v}: receptive_field assumes square kernels")
        return int(v[0])
    return int(v)


def conv_geometry(layers: nn.Module | Iterable[nn.Module]) -> list[ConvGeometry]:
    """The spatial layers of a *chain* of modules, in order, as :class:`ConvGeometry`.

    Convolutions and max/average pools are read from their own attributes; layers that act
    per position (norms, activations, dropout, 1x1 convs count with kernel 1) change no
    geometry. Only meaningful for a sequential chain (``module.modules()`` visits an
    ``nn.Sequential`` in execution order); transposed convolutions and global pooling have
    no receptive field of this kind, so they raise.
    """
    mods = layers.modules() if isinstance(layers, nn.Module) else (
        sub for m in layers for sub in m.modules())
    geo: list[ConvGeometry] = []
    for m in mods:
        if isinstance(m, nn.ConvTranspose2d):
            raise ValueError("conv_geometry: transposed convolutions have no receptive field arithmetic here")
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            raise ValueError("conv_geometry: a global/adaptive pool sees the whole image; stop the chain before it")
        if isinstance(m, nn.Conv2d):
            geo.append(ConvGeometry(_pair_first(m.kernel_size), _pair_first(m.stride),
                                    _pair_first(m.padding), _pair_first(m.dilation)))
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            stride = m.stride if m.stride is not None else m.kernel_size
            dil = getattr(m, "dilation", 1)
            geo.append(ConvGeometry(_pair_first(m.kernel_size), _pair_first(stride),
                                    _pair_first(m.padding), _pair_first(dil)))
    return geo


def receptive_field(layers: nn.Module | Iterable[nn.Module] | list[ConvGeometry]) -> int:
    """Receptive field (in input pixels, along one axis) of one output position of a conv chain.

    The standard recursion (e.g. Araujo et al. 2019, "Computing receptive fields of CNNs"):
    start with r = 1 and jump j = 1 (distance in input pixels between neighbouring
    positions of the current feature map); each layer with kernel k, dilation d, stride s does

        r <- r + (k - 1) * d * j
        j <- j * s

    For the pix2pix PatchGAN with 3 strided layers: 4x4/s2 x3, 4x4/s1 x2 gives
    1 + 3*(1 + 2 + 4 + 8 + 8) = 70 - the "70x70 PatchGAN".
    """
    geo = layers if isinstance(layers, list) and all(isinstance(g, ConvGeometry) for g in layers) \
        else conv_geometry(layers)
    r, j = 1, 1
    for g in geo:
        r += (g.kernel - 1) * g.dilation * j
        j *= g.stride
    return r


def output_size(layers: nn.Module | Iterable[nn.Module] | list[ConvGeometry], size: int) -> int:
    """Spatial size after a conv chain: out = floor((n + 2p - d(k - 1) - 1) / s) + 1 per layer.

    Returns 0 or less when the input is too small for the chain (the caller turns that into
    a message saying which sizes work).
    """
    geo = layers if isinstance(layers, list) and all(isinstance(g, ConvGeometry) for g in layers) \
        else conv_geometry(layers)
    n = size
    for g in geo:
        n = (n + 2 * g.padding - g.dilation * (g.kernel - 1) - 1) // g.stride + 1
        if n < 1:
            return n
    return n


# --------------------------------------------------------------------------- checks
def check_image_batch(x, channels: int | None, name: str = "input", multiple_of: int = 1) -> None:
    """Raise a ValueError that says what was expected unless ``x`` is a (B, C, H, W) tensor.

    Args:
        channels: required C (None = any).
        multiple_of: H and W must be divisible by it (U-Nets with ``depth`` halvings need
            multiples of 2**depth).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.dim() == 3 else ""
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}{hint}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channel(s) in dimension 1, got shape {tuple(x.shape)}"
        )
    if multiple_of > 1 and (x.shape[2] % multiple_of or x.shape[3] % multiple_of):
        raise ValueError(
            f"{name} height and width must be multiples of {multiple_of}, got {x.shape[2]}x{x.shape[3]}"
        )


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters, for the model tables of the lessons."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------- lesson 11
#: how a decoder doubles H and W: "transpose" = ConvTranspose2d 4x4 s2 p1 (DCGAN, pix2pix);
#: "resize" = nearest-neighbour x2 then Conv 3x3 p1; "bilinear" = bilinear x2 then Conv 3x3
UPSAMPLES = ("transpose", "resize", "bilinear")


def upsample_conv(in_channels: int, out_channels: int, mode: str = "transpose", bias: bool = True) -> nn.Module:
    """A layer that doubles H and W: (B, in, H, W) -> (B, out, 2H, 2W).

    ``"transpose"`` is the 4x4 stride-2 transposed convolution of DCGAN and pix2pix.
    ``"resize"`` / ``"bilinear"`` is Odena, Dumoulin & Olah's (2016, Distill,
    "Deconvolution and Checkerboard Artifacts") mend: resize first, then a stride-1 3x3
    convolution, in which every output pixel is reached by the same number of kernel taps,
    so the layer cannot paint a checkerboard by construction.
    """
    if mode not in UPSAMPLES:
        raise ValueError(f"unknown upsample {mode!r}; choose one of {', '.join(UPSAMPLES)}")
    if mode == "transpose":
        return nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=bias)
    resize = nn.Upsample(scale_factor=2, mode="nearest") if mode == "resize" else \
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    return nn.Sequential(resize, nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=bias))


def upsampling_overlap(kernel: int = 4, stride: int = 2, size: int = 8, mode: str = "transpose") -> torch.Tensor:
    """How many kernel taps reach each output pixel of a x``stride`` up-sampling layer,
    (size*stride, size*stride): the layer with all-ones weights (no bias) applied to an
    all-ones image (Odena et al. 2016's "uneven overlap").

    ``mode="transpose"``: ConvTranspose2d(kernel, stride, padding=(kernel - stride + 1) // 2,
    output_padding so that the output is exactly size*stride). k=3, s=2 gives the 1-2-4
    checkerboard (the kernel size is not divisible by the stride); k=4, s=2 is even inside
    but uneven at the borders. ``mode="resize"`` / ``"bilinear"``: resize x``stride`` then a
    ``kernel`` x ``kernel`` stride-1 conv (padding kernel // 2): even everywhere inside.
    """
    x = torch.ones(1, 1, size, size)
    with torch.no_grad():
        if mode == "transpose":
            pad = (kernel - stride + 1) // 2
            out_pad = size * stride - ((size - 1) * stride - 2 * pad + kernel)
            if not 0 <= out_pad < stride:
                raise ValueError(f"kernel {kernel}, stride {stride}: no padding gives a x{stride} output")
            layer: nn.Module = nn.ConvTranspose2d(1, 1, kernel, stride, pad, output_padding=out_pad, bias=False)
        elif mode in ("resize", "bilinear"):
            layer = nn.Sequential(
                nn.Upsample(scale_factor=stride, mode="nearest" if mode == "resize" else "bilinear"),
                nn.Conv2d(1, 1, kernel, 1, kernel // 2, bias=False))
        else:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(UPSAMPLES)}")
        for m in layer.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.fill_(1.0)
        return layer(x)[0, 0]


def add_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018, "Spectral Normalization for GANs", ICLR)
    of every Conv2d and Linear of ``module``, in place; returns ``module``.

    Each weight W is replaced by W / sigma(W), sigma = the largest singular value of W
    reshaped to (out, in*k*k), estimated by one step of power iteration per forward pass in
    train mode (torch.nn.utils.parametrizations.spectral_norm). Every layer is then
    1-Lipschitz (in that matrix sense), so D's logits cannot grow without bound: its
    gradients stay informative and its weights cannot explode. Call it AFTER the weights
    are initialised."""
    from torch.nn.utils.parametrizations import spectral_norm

    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)) and not hasattr(m, "parametrizations"):
            spectral_norm(m, n_power_iterations=n_power_iterations)
    return module


def largest_singular_values(module: nn.Module) -> list[float]:
    """The largest singular value of each Conv2d / ConvTranspose2d / Linear weight of
    ``module`` (reshaped to (out, -1); the effective weight, i.e. after spectral norm when
    the module has it), in module order. With spectral norm they sit near 1."""
    out = []
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                w = m.weight.detach().float()
                out.append(float(torch.linalg.matrix_norm(w.flatten(1), 2)))
    return out
