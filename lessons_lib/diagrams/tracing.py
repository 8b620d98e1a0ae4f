"""The model side of a diagram: the diagram names (:data:`ARCHITECTURES`), their drawing
options and the lessons' model defaults, building a model by name, one traced forward pass
that records the output shapes, and short names of the layers for the boxes."""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
import torch.nn as nn

from .. import LessonsError

__all__ = [
    "ARCHITECTURES",
    "DIAGRAM_OPTIONS",
    "OPTION_DEFAULTS",
    "Trace",
    "run_traced",
    "build",
    "split_kwargs",
    "describe",
    "param_count",
    "dummy",
]


ARCHITECTURES = ("unet", "patchgan", "nin_patchgan", "colorgan", "nafnet_block", "stylegan2_block", "restorer")

#: options of the drawing (not of the model), per diagram
DIAGRAM_OPTIONS = {
    "unet": ("input_size",),
    "patchgan": ("input_size",),
    "nin_patchgan": ("input_size",),
    "colorgan": ("input_size", "discriminator"),
    "nafnet_block": ("input_size", "level"),
    "stylegan2_block": ("block_res",),
    "restorer": ("size", "nafnet", "generator", "encoder", "fusion", "residual"),
}

# The lessons' models (notebooks 02-09), the defaults of each diagram.
_DEFAULTS: dict[str, dict[str, Any]] = {
    # lesson 02 (class mode): 64 px, 32-channel nets, L -> ab
    "unet": dict(in_channels=1, out_channels=2, base=32, image_size=64),
    # lesson 03: the pix2pix 70x70 PatchGAN on (L, ab) at 256 px
    "patchgan": dict(in_channels=3, ndf=64, n_layers=3),
    # lesson 04: seed 000's RGB pairs (3 + 3 channels), 2 MLP layers per block
    "nin_patchgan": dict(in_channels=6, ndf=64, n_layers=3, mlp_layers=2),
    # lesson 06: 4 encoder levels, the latent map at H/16
    "colorgan": dict(base=16, depth=4),
    # lesson 07: width 16, one block per stage, 4 stages
    "nafnet_block": dict(width=16, enc_blocks=[1, 1, 1, 1], dec_blocks=[1, 1, 1, 1]),
    # lesson 08's prior
    "stylegan2_block": dict(size=64, z_dim=64, w_dim=64, n_mlp=2, channel_base=512, channel_max=64),
    "restorer": {},
}
OPTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "unet": dict(input_size=None),               # None: the model's image_size (rounded to 2**depth)
    "patchgan": dict(input_size=256),
    "nin_patchgan": dict(input_size=256),
    "colorgan": dict(input_size=64, discriminator=dict(in_channels=3, ndf=32, n_layers=3)),
    "nafnet_block": dict(input_size=64, level=0),
    "stylegan2_block": dict(block_res=16),       # the 16x16 block: the restorer's injection point
    "restorer": dict(
        size=None,                               # None: the generator's size
        nafnet=dict(width=16, enc_blocks=[1, 1, 1, 1], dec_blocks=[1, 1, 1, 1]),
        generator=dict(size=64, z_dim=64, w_dim=64, n_mlp=2, channel_base=512, channel_max=64),
        encoder=dict(inject_res=16, width=32, max_channels=256),
        fusion=dict(width=32, n_blocks=8, residual=True),   # the shipped restorer's fusion
        residual=None,                           # shortcut for fusion=dict(residual=...)
    ),
}


# =========================================================================== tracing
class Trace:
    """Forward hooks that record, per named module, the shape of every output (and input).

    ``out[name]`` is the list of output shapes of that module, one per call (a module
    called twice, like NAFNet's shared SimpleGate, has two); ``inp[name]`` the shapes of
    its positional tensor inputs per call. The batch axis is dropped.
    """

    def __init__(self, modules: dict[str, nn.Module]):
        self.out: dict[str, list] = {k: [] for k in modules}
        self.inp: dict[str, list] = {k: [] for k in modules}
        self._handles = [m.register_forward_hook(self._hook(k)) for k, m in modules.items()]

    @staticmethod
    def _shape(t):
        if isinstance(t, torch.Tensor):
            return tuple(int(s) for s in t.shape[1:])
        if isinstance(t, (tuple, list)):
            return tuple(Trace._shape(u) for u in t)
        return None

    def _hook(self, name: str) -> Callable:
        def hook(module, args, output):
            self.out[name].append(self._shape(output))
            self.inp[name].append(tuple(self._shape(a) for a in args))
        return hook

    def __enter__(self) -> "Trace":
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()

    def o(self, name: str, call: int = 0):
        try:
            return self.out[name][call]
        except IndexError:
            raise RuntimeError(f"module {name!r} was not called (call {call}) in the forward pass") from None

    def i(self, name: str, arg: int = 0, call: int = 0):
        return self.inp[name][call][arg]


def run_traced(model: nn.Module, modules: dict[str, nn.Module], fn: Callable[[], Any]) -> Trace:
    """One forward pass ``fn()`` without gradients, in eval mode, recording ``modules``."""
    was_training = model.training
    model.eval()
    try:
        with Trace(modules) as tr, torch.no_grad():
            fn()
    finally:
        model.train(was_training)
    return tr


# =========================================================================== model building
def _registered(arch: str):
    from ..models import registered_models

    return registered_models()[arch]   # imports every family


def build(arch: str, config: dict[str, Any], where: str) -> nn.Module:
    """``build_model(arch, **config)``; a keyword the model does not take, or a value it
    rejects, becomes a LessonsError that names it."""
    from ..models import build_model

    params = inspect.signature(_registered(arch)).parameters
    unknown = [k for k in config if k not in params]
    if unknown:
        accepted = ", ".join(p for p in params if p != "self")
        raise LessonsError(
            f"{where}: {arch!r} has no keyword {unknown[0]!r} (model {arch!r} accepts: {accepted})"
        )
    try:
        return build_model(arch, **config)
    except (ValueError, TypeError) as e:
        raise LessonsError(f"{where}: build_model({arch!r}) rejected {config}: {e}") from None


def split_kwargs(name: str, kwargs: dict[str, Any]) -> tuple[dict, dict]:
    """Model config (defaults updated by the caller's keywords) and diagram options."""
    opts = dict(OPTION_DEFAULTS[name])
    cfg = dict(_DEFAULTS[name])
    for k, v in kwargs.items():
        if k in DIAGRAM_OPTIONS[name]:
            opts[k] = v
        else:
            cfg[k] = v
    return cfg, opts


# Short names of the layers, for the box details ("LReLU·Conv4×4 s2·BN").
def _short(m: nn.Module) -> str | None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        k, s = m.kernel_size[0], m.stride[0]
        base = "ConvT" if isinstance(m, nn.ConvTranspose2d) else ("DWConv" if m.groups > 1 and
                                                                  m.groups == m.in_channels else "Conv")
        return f"{base}{k}×{k}" + (f" s{s}" if s != 1 else "")
    names = {nn.BatchNorm2d: "BN", nn.InstanceNorm2d: "IN", nn.LeakyReLU: "LReLU", nn.ReLU: "ReLU",
             nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.GELU: "GELU", nn.SiLU: "SiLU",
             nn.AdaptiveAvgPool2d: "GAP"}
    for cls, n in names.items():
        if isinstance(m, cls):
            return n
    if isinstance(m, nn.Dropout):
        return f"Drop{m.p:g}"
    if isinstance(m, nn.Upsample):
        return f"Up×{m.scale_factor:g}"
    if isinstance(m, nn.PixelShuffle):
        return f"PixelShuffle{m.upscale_factor}"
    if isinstance(m, nn.Identity):
        return ""
    return None


def describe(module: nn.Module) -> str:
    """The layers of ``module`` in order, by short name: ``"LReLU·Conv4×4 s2·BN"``."""
    parts: list[str] = []

    def walk(m: nn.Module) -> None:
        s = _short(m)
        if s is not None:
            if s:
                parts.append(s)
            return
        for c in m.children():
            walk(c)

    walk(module)
    return "·".join(parts)


def param_count(m: nn.Module) -> str:
    n = sum(p.numel() for p in m.parameters())
    return f"{n / 1e6:.2f} M params" if n >= 1e5 else f"{n / 1e3:.1f} k params"


def dummy(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))
