"""Architecture diagrams drawn from the models themselves, so they cannot drift from the code.

Each diagram builds the real network with :func:`lessons_lib.models.build_model` (small
defaults equal to the lessons' models), runs ONE forward pass on a dummy input with
forward hooks on the modules it draws, and labels every box with the output shape
``C×H×W`` that the hook saw. Change a keyword (the U-Net's ``base`` or ``image_size``,
the PatchGAN's ``n_layers``, NAFNet's ``width``) and the drawing changes with the model.

    fig = draw_architecture("unet", base=32, image_size=64)      # a matplotlib Figure
    stages = architecture_stages("unet", base=32, image_size=64) # the same boxes as data

Names (:data:`ARCHITECTURES`):

* ``"unet"`` - pix2pix U-Net generator (Isola et al. 2017, sec. 3.2.1): 4×4 stride-2
  convs halve H, W and double the channels (up to ``base * max_mult``); the decoder
  mirrors it and concatenates the encoder map of the same size (dashed skips).
* ``"patchgan"`` - pix2pix PatchGAN (sec. 3.2.2): every logit judges one receptive field.
* ``"nin_patchgan"`` - seed 000's PatchGAN whose convs are NIN mlpconv blocks (Lin et al. 2014).
* ``"colorgan"`` - seed 001's ColorGAN: encoder, noise ``z ~ N(0, 0.1^2)`` through
  convs G_f ADDED to the latent map, decoder with skips, and the PatchGAN D on (L, ab).
* ``"nafnet_block"`` - one NAFBlock (Chen et al. 2022, fig. 3c):
  ``y = x + beta * Conv1x1(SCA(SG(DW3x3(Conv1x1_{c->2c}(LN x)))))``,
  ``z = y + gamma * Conv1x1(SG(Conv1x1_{c->2c}(LN y)))``.
* ``"stylegan2_block"`` - one StyleGAN2 synthesis block (Karras et al. 2020, fig. 2d and
  7b): two modulated/demodulated 3×3 convs (style ``s = A(w)``), noise, bias + LReLU, and
  the ToRGB output added to the upsampled RGB of the previous resolution.
* ``"restorer"`` - seed 004's pipeline: x -> NAFNet -> x_R -> encoder (f_16, w codes) ->
  StyleGAN2 G -> x_G; fusion ``x_hat = Conv(Res(Conv(x_R) + Conv(x_G)))`` (seed eq. 1), or
  ``x_hat = x_R + Conv(...)`` with the kit's ``residual=True``.

Keyword arguments go to the model (``build_model(arch, **kwargs)``), except a few options
of the drawing itself (:data:`DIAGRAM_OPTIONS`): ``input_size`` (side of the dummy input),
``level`` (which NAFNet stage's first block), ``block_res`` (which StyleGAN2 resolution),
``discriminator`` (ColorGAN's D config) and, for the restorer, one config dict per network
(``nafnet=``, ``generator=``, ``encoder=``, ``fusion=``), ``size`` and ``residual``.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn

from . import LessonsError

__all__ = [
    "ARCHITECTURES",
    "DIAGRAM_OPTIONS",
    "Stage",
    "architecture_stages",
    "draw_architecture",
    "format_shape",
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
_OPTION_DEFAULTS: dict[str, dict[str, Any]] = {
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


# =========================================================================== stage records
@dataclass(frozen=True)
class Stage:
    """One drawn box: its ``label``, the output ``shape`` the forward pass produced (without
    the batch axis: ``(C, H, W)`` for maps, ``(D,)`` for vectors, ``(n, D)`` for code
    stacks; None for a box that stands for a whole network), its ``kind`` (the colour:
    ``"conv_down"``, ``"conv_up"``, ``"conv"``, ``"norm"``, ``"act"``, ``"gate"``,
    ``"attention"``, ``"noise"``, ``"style"``, ``"add"``, ...) and a ``detail`` line (the
    layers, read off the module)."""

    label: str
    shape: tuple[int, ...] | None
    kind: str
    detail: str = ""

    @property
    def shape_text(self) -> str:
        return format_shape(self.shape)


def format_shape(shape: tuple[int, ...] | None) -> str:
    """``(64, 32, 32)`` -> ``"64×32×32"`` (C×H×W, the batch axis dropped); None -> ``""``."""
    return "" if shape is None else "×".join(str(int(s)) for s in shape)


@dataclass
class _Node:
    stage: Stage
    x: float
    y: float
    w: float = 1.0
    h: float = 0.6
    lines: tuple[str, ...] | None = None     # what the box shows (default: label, detail, shape)


@dataclass
class _Edge:
    src: int
    dst: int
    style: str = "flow"          # flow | skip | residual | noise | style
    label: str = ""
    rad: float = 0.0             # curvature (arc3)
    via: tuple[tuple[float, float], ...] = ()   # explicit waypoints (an elbow path)
    label_pos: float = 0.5       # where along the edge the label sits (0 = src, 1 = dst)
    label_offset: tuple[float, float] = (0.0, 0.12)


@dataclass
class _Diagram:
    title: str
    nodes: list[_Node] = field(default_factory=list)
    edges: list[_Edge] = field(default_factory=list)
    notes: list[tuple] = field(default_factory=list)   # free text (x, y, text[, ha])
    model: Any = None

    def add(self, stage: Stage, x: float, y: float, **kw) -> int:
        self.nodes.append(_Node(stage, x, y, **kw))
        return len(self.nodes) - 1

    def link(self, src: int, dst: int, style: str = "flow", **kw) -> None:
        self.edges.append(_Edge(src, dst, style, **kw))


# =========================================================================== tracing
class _Trace:
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
            return tuple(_Trace._shape(u) for u in t)
        return None

    def _hook(self, name: str) -> Callable:
        def hook(module, args, output):
            self.out[name].append(self._shape(output))
            self.inp[name].append(tuple(self._shape(a) for a in args))
        return hook

    def __enter__(self) -> "_Trace":
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


def _run(model: nn.Module, modules: dict[str, nn.Module], fn: Callable[[], Any]) -> _Trace:
    """One forward pass ``fn()`` without gradients, in eval mode, recording ``modules``."""
    was_training = model.training
    model.eval()
    try:
        with _Trace(modules) as tr, torch.no_grad():
            fn()
    finally:
        model.train(was_training)
    return tr


# =========================================================================== model building
def _registered(arch: str):
    from .models import _REGISTRY, available_models

    available_models()  # imports every family
    return _REGISTRY[arch]


def _build(arch: str, config: dict[str, Any], where: str) -> nn.Module:
    """``build_model(arch, **config)``; a keyword the model does not take, or a value it
    rejects, becomes a LessonsError that names it."""
    from .models import build_model

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


def _split(name: str, kwargs: dict[str, Any]) -> tuple[dict, dict]:
    """Model config (defaults updated by the caller's keywords) and diagram options."""
    opts = dict(_OPTION_DEFAULTS[name])
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


def _describe(module: nn.Module) -> str:
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


def _params(m: nn.Module) -> str:
    n = sum(p.numel() for p in m.parameters())
    return f"{n / 1e6:.2f} M params" if n >= 1e5 else f"{n / 1e3:.1f} k params"


def _dummy(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


# =========================================================================== the diagrams
def _unet(cfg: dict, opts: dict) -> _Diagram:
    """pix2pix U-Net (Isola et al. 2017, sec. 3.2.1; Ronneberger et al. 2015), drawn as a U.

    Encoder e_i = Conv4x4s2(...) at H / 2^(i+1) with c_i = base * min(2^i, max_mult)
    channels; decoder d_i = ConvT4x4s2([d_{i+1}, e_i]) (concatenation on channels: the
    dashed skips); y = tanh(ConvT([d_1, e_0])).
    """
    model = _build("unet", cfg, "draw_architecture('unet')")
    D, m = model.depth, model.size_multiple
    S = opts["input_size"] or cfg.get("image_size", 256)
    S = max(m, int(math.ceil(S / m)) * m)                        # H must be a multiple of 2**depth
    mods = {f"down{i}": model.down[i] for i in range(D)}
    mods.update({f"up{i}": model.up[i] for i in range(D)})
    x = _dummy(1, model.in_channels, S, S)
    tr = _run(model, mods, lambda: model(x))

    dg = _Diagram(f"pix2pix U-Net generator: depth {D}, base {cfg.get('base', 64)}, "
                  f"{S}×{S} input (Isola et al. 2017)", model=model)
    dy = min(0.78, 5.2 / (D + 2))              # deep U-Nets get flatter rows, so the text stays large
    dx, bw, bh = 1.0, 0.9, 0.72 * dy
    prev = dg.add(Stage("x (input)", (model.in_channels, S, S), "input"), 0, 0, w=bw, h=bh)
    enc: list[int] = []
    for i in range(D):
        label = f"e{i} bottleneck" if i == D - 1 else f"e{i}"
        st = Stage(label, tr.o(f"down{i}"), "conv_down", _describe(model.down[i]))
        n = dg.add(st, (i + 1) * dx, -(i + 1) * dy, w=bw, h=bh, lines=(label, st.shape_text))
        dg.link(prev, n)
        enc.append(n)
        prev = n
    dec = {}
    for i in range(D - 1, 0, -1):
        drop = any(isinstance(mm, nn.Dropout) for mm in model.up[i].modules())
        st = Stage(f"d{i}" + (" +drop" if drop else ""), tr.o(f"up{i}"), "conv_up", _describe(model.up[i]))
        n = dg.add(st, (2 * D - i) * dx, -i * dy, w=bw, h=bh, lines=(st.label, st.shape_text))
        dg.link(prev, n)
        dec[i] = n
        prev = n
    st = Stage("y (output)", tr.o("up0"), "output", _describe(model.up[0]))
    out = dg.add(st, 2 * D * dx, 0, w=bw, h=bh, lines=(st.label, st.shape_text))
    dg.link(prev, out)
    # skip: e_i is concatenated with d_{i+1} (same H, W) as the input of up-block i
    for i in range(D - 1):
        dst = dec[i + 1]
        dg.link(enc[i], dst, "skip", label="concat" if i == D - 2 else "")
    down_d = _describe(model.down[1])
    up_d = _describe(model.up[1])
    dg.notes.append((D * dx, -0.1, f"e0: {_describe(model.down[0])}   e_i: {down_d}   bottleneck: "
                                   f"{_describe(model.down[D - 1])}\n"
                                   f"d_i: {up_d}   "
                                   f"y: {_describe(model.up[0])}\n"
                                   f"channels c_i = base·min(2^i, max_mult); d_i reads [d_(i+1), e_i]"))
    return dg


def _chain_stage(block: nn.Module, shape, last: bool) -> Stage:
    desc = _describe(block)
    if last:
        return Stage("logits", shape, "head", desc)
    convs = [mm for mm in block.modules() if isinstance(mm, nn.Conv2d)]
    kind = "conv_down" if convs and convs[0].stride[0] > 1 else "conv"
    return Stage(desc.split("·")[0], shape, kind, "·".join(desc.split("·")[1:]))


def _patchgan(cfg: dict, opts: dict) -> _Diagram:
    """pix2pix PatchGAN (Isola et al. 2017, sec. 3.2.2): n_layers 4x4 stride-2 blocks, one
    stride-1 block, a 1-channel conv; each logit judges one receptive field."""
    model = _build("patchgan", cfg, "draw_architecture('patchgan')")
    S = int(opts["input_size"])
    if S < model.min_input_size:
        raise LessonsError(f"draw_architecture('patchgan'): input_size {S} is too small for this "
                           f"PatchGAN (at least {model.min_input_size})")
    mods = {f"net{j}": b for j, b in enumerate(model.net)}
    tr = _run(model, mods, lambda: model(_dummy(1, model.in_channels, S, S)))
    last = tr.o(f"net{len(model.net) - 1}")
    rf = model.receptive_field
    dg = _Diagram(f"PatchGAN (n_layers={model.n_layers}): each of the {last[1]}×{last[2]} logits "
                  f"judges a {rf}×{rf} patch of the {S}×{S} pair", model=model)
    dx, bw, bh = 1.55, 1.32, 0.78
    prev = dg.add(Stage("pair(cond, out)", (model.in_channels, S, S), "input", "channels concatenated"),
                  0, 0, w=bw, h=bh)
    for j, block in enumerate(model.net):
        n = dg.add(_chain_stage(block, tr.o(f"net{j}"), j == len(model.net) - 1), (j + 1) * dx, 0, w=bw, h=bh)
        dg.link(prev, n)
        prev = n
    return dg


def _nin_patchgan(cfg: dict, opts: dict) -> _Diagram:
    """Seed 000's NIN-MLP PatchGAN: each 4x4 conv followed by ``mlp_layers`` 1x1 convs
    (NIN's mlpconv, Lin et al. 2014: an MLP shared over positions); optional GAP head."""
    model = _build("nin_patchgan", cfg, "draw_architecture('nin_patchgan')")
    S = int(opts["input_size"])
    if S < model.min_input_size:
        raise LessonsError(f"draw_architecture('nin_patchgan'): input_size {S} is too small (at least "
                           f"{model.min_input_size})")
    mods: dict[str, nn.Module] = {}
    for j, b in enumerate(model.net):
        if isinstance(b, nn.Sequential):
            mods[f"conv{j}"] = b[0]
            if len(b) > 1:
                mods[f"mlp{j}"] = b[-1]
        else:
            mods[f"conv{j}"] = b
    if model.pool is not None:
        mods["pool"] = model.pool
    tr = _run(model, mods, lambda: model(_dummy(1, model.in_channels, S, S)))
    rf = model.receptive_field
    head = "GAP -> one logit per image" if model.pool is not None else "a patch map of logits"
    dg = _Diagram(f"NIN-MLP PatchGAN (n_layers={model.n_layers}, mlp_layers={cfg.get('mlp_layers', 2)}): "
                  f"{rf}×{rf} receptive field, {head}", model=model)
    n_boxes = 1 + sum(1 + (len(b) > 1 if isinstance(b, nn.Sequential) else 0) for b in model.net) + \
        (model.pool is not None)
    dx = 1.2 if n_boxes > 8 else 1.5
    bw, bh = dx - 0.16, 0.78
    x = 0.0
    prev = dg.add(Stage("pair(cond, out)", (model.in_channels, S, S), "input", "channels concat."),
                  x, 0, w=bw, h=bh)
    for j, b in enumerate(model.net):
        last = j == len(model.net) - 1
        x += dx
        if isinstance(b, nn.Sequential):
            st = _chain_stage(b[0], tr.o(f"conv{j}"), False)
            n = dg.add(st, x, 0, w=bw, h=bh)
            dg.link(prev, n)
            prev = n
            if len(b) > 1:
                x += dx
                k = len(b) - 1
                inner = _describe(b[1]).split("·")
                n = dg.add(Stage(f"MLP {k}× {inner[0]}", tr.o(f"mlp{j}"), "mlp", "·".join(inner[1:])),
                           x, 0, w=bw, h=bh)
                dg.link(prev, n)
                prev = n
        else:
            st = Stage("logit map", tr.o(f"conv{j}"), "head", _describe(b)) if last else \
                _chain_stage(b, tr.o(f"conv{j}"), False)
            n = dg.add(st, x, 0, w=bw, h=bh)
            dg.link(prev, n)
            prev = n
    if model.pool is not None:
        x += dx
        n = dg.add(Stage("GAP logit", tr.o("pool")[:1], "pool", "global avg pool"), x, 0, w=bw, h=bh)
        dg.link(prev, n)
    return dg


def _colorgan(cfg: dict, opts: dict) -> _Diagram:
    """ColorGAN (Shafiq & Lee, seed 001, fig. 1): ``h = e_{D-1} + G_f(z)``, z ~ N(0, 0.1^2),
    decoded with U-Net skips to ab; D = PatchGAN on pair(L, ab)."""
    model = _build("colorgan_g", cfg, "draw_architecture('colorgan')")
    dcfg = dict(opts["discriminator"] or {})
    dcfg.setdefault("in_channels", model.in_channels + model.out_channels)
    D_net = _build("patchgan", dcfg, "draw_architecture('colorgan', discriminator=...)")
    Dp, m = model.depth, model.size_multiple
    S = max(m, int(math.ceil(int(opts["input_size"]) / m)) * m)
    mods = {f"enc{i}": model.encoder[i] for i in range(Dp)}
    mods.update({f"dec{i}": model.decoder[i] for i in range(Dp)})
    convs = [c for c in model.noise_branch if isinstance(c, nn.Conv2d)]
    mods.update({f"gf{k}": c for k, c in enumerate(convs)})
    mods["gf"] = model.noise_branch
    L = _dummy(1, model.in_channels, S, S)
    tr = _run(model, mods, lambda: model(L, seed=0))
    if S < D_net.min_input_size:
        raise LessonsError(f"draw_architecture('colorgan'): input_size {S} is too small for its PatchGAN "
                           f"(at least {D_net.min_input_size})")
    dmods = {f"net{j}": b for j, b in enumerate(D_net.net)}
    ab_shape = tr.o("dec0")
    dtr = _run(D_net, dmods, lambda: D_net(torch.cat([L, torch.zeros(1, *ab_shape)], dim=1)))

    lat = tr.o(f"enc{Dp - 1}")
    noise = tr.i("gf")
    if tr.o("gf") != lat:
        raise RuntimeError(f"G_f(z) {tr.o('gf')} does not match the latent map {lat}")
    dg = _Diagram(f"ColorGAN (seed 001): encoder, noise z ~ N(0, {model.noise_std:g}²) added to the "
                  f"{format_shape(lat)} latent map, decoder with skips; PatchGAN D on (L, ab)", model=model)
    dx, dy, bw, bh = 1.0, 0.8, 0.9, 0.56
    prev = dg.add(Stage("L (input)", (model.in_channels, S, S), "input", "L/50 - 1"), 0, 0, w=bw, h=bh)
    L_node = prev
    enc = []
    for i in range(Dp):
        st = Stage(f"e{i} latent" if i == Dp - 1 else f"e{i}", tr.o(f"enc{i}"), "conv_down",
                   _describe(model.encoder[i]))
        n = dg.add(st, (i + 1) * dx, -(i + 1) * dy, w=bw, h=bh, lines=(st.label, st.shape_text))
        dg.link(prev, n)
        enc.append(n)
        prev = n
    add = dg.add(Stage("latent + noise", lat, "add"), (Dp + 1) * dx, -Dp * dy, w=0.3, h=0.3)
    dg.link(prev, add)
    # the noise branch, one row below the latent
    yb = -(Dp + 1) * dy
    x0 = (Dp + 1 - len(convs)) * dx
    z = dg.add(Stage("z ~ N(0, σ²)", noise, "noise", f"σ = {model.noise_std:g}"), x0 - dx, yb, w=bw, h=bh)
    p = z
    for k, c in enumerate(convs):
        act = "·LReLU" if k < len(convs) - 1 else ""
        st = Stage(f"G_f conv {k + 1}", tr.o(f"gf{k}"), "noise_conv", _describe(c) + act)
        n = dg.add(st, x0 + k * dx, yb, w=bw, h=bh, lines=(st.label, st.detail, st.shape_text))
        dg.link(p, n)
        p = n
    dg.link(p, add, "noise", label="G_f(z)", label_offset=(0.3, 0.0))
    dec = {}
    prev = add
    for i in range(Dp - 1, 0, -1):
        st = Stage(f"d{i}", tr.o(f"dec{i}"), "conv_up", _describe(model.decoder[i]))
        n = dg.add(st, (2 * Dp + 1 - i) * dx, -i * dy, w=bw, h=bh, lines=(st.label, st.shape_text))
        dg.link(prev, n)
        dec[i] = n
        prev = n
    st = Stage("ab (output)", ab_shape, "output", _describe(model.decoder[0]))
    out = dg.add(st, (2 * Dp + 1) * dx, 0, w=bw, h=bh, lines=(st.label, "ab / 110", st.shape_text))
    dg.link(prev, out)
    for i in range(Dp - 1):
        dg.link(enc[i], dec[i + 1], "skip", label="concat" if i == Dp - 2 else "")
    dg.notes.append(((Dp + 0.5) * dx, -0.1, f"e0: {_describe(model.encoder[0])}   e_i: "
                                           f"{_describe(model.encoder[1])}\nd_i: {_describe(model.decoder[1])}   "
                                           f"ab: {_describe(model.decoder[0])}\n"
                                           f"h = e{Dp - 1} + G_f(z);  d_i reads [d_(i+1), e_i]"))
    # the discriminator, a column on the right
    xd = (2 * Dp + 2.45) * dx
    pair_n = dg.add(Stage("pair(L, ab)", (D_net.in_channels, S, S), "input", "PatchGAN D input"), xd, 0, w=1.3, h=bh)
    dg.link(out, pair_n)
    dg.link(L_node, pair_n, "skip", label="condition L", rad=-0.18, label_offset=(0.0, 0.05))
    prev = pair_n
    nd = len(D_net.net)
    ddy = min(dy, (Dp + 1) * dy / nd)
    for j, b in enumerate(D_net.net):
        n = dg.add(_chain_stage(b, dtr.o(f"net{j}"), j == nd - 1), xd, -(j + 1) * ddy, w=1.3, h=min(bh, ddy - 0.14))
        dg.link(prev, n)
        prev = n
    return dg


def _nafnet_block(cfg: dict, opts: dict) -> _Diagram:
    """One NAFBlock (Chen et al. ECCV 2022, fig. 3c, eq. 3 and 5) of a built NAFNet:

    y = x + beta  * Conv1x1( SCA( SimpleGate( DWConv3x3( Conv1x1_{c->2c}( LN(x) )))))
    z = y + gamma * Conv1x1( SimpleGate( Conv1x1_{c->2c}( LN(y) )))
    SimpleGate(t) = t[:c] * t[c:];  SCA(t) = t * Conv1x1(avgpool(t))
    """
    model = _build("nafnet", cfg, "draw_architecture('nafnet_block')")
    level = int(opts["level"])
    if not 0 <= level <= model.levels:
        raise LessonsError(f"draw_architecture('nafnet_block'): level must be 0..{model.levels} "
                           f"({model.levels} encoder stages, then the middle), got {level}")
    stage_blocks = model.encoders[level] if level < model.levels else model.middle
    if len(stage_blocks) == 0:
        raise LessonsError(f"draw_architecture('nafnet_block'): stage {level} has no NAFBlock")
    blk = stage_blocks[0]
    S = int(opts["input_size"])
    names = ("norm1", "conv1", "conv2", "gate", "sca", "conv3", "norm2", "conv4", "conv5")
    mods = {k: getattr(blk, k) for k in names}
    mods["block"] = blk
    mods["sca_w"] = blk.sca.conv
    tr = _run(model, mods, lambda: model(_dummy(1, model.in_channels, S, S)))
    xs = tr.i("block")
    c = xs[0]
    where = f"encoder stage {level}" if level < model.levels else "middle"
    dg = _Diagram(f"NAFBlock ({where} of NAFNet width {cfg.get('width', 32)}, {S}×{S} input): "
                  f"c = {c} at {xs[1]}×{xs[2]}; β = γ = 0 at init, so the block starts as the identity",
                  model=model)
    dx, bw, bh, y1, y2 = 1.45, 1.22, 0.74, 0.0, -1.75
    sw = format_shape(tr.o("sca_w"))
    row1 = [
        (Stage("x", xs, "input", "block input"), None),
        (Stage("LayerNorm2d", tr.o("norm1"), "norm", "over channels"), None),
        (Stage("Conv1×1", tr.o("conv1"), "conv", "c → 2c"), None),
        (Stage("DWConv3×3", tr.o("conv2"), "conv", "depthwise"), None),
        (Stage("SimpleGate", tr.o("gate", 0), "gate", "x₁ · x₂ (2c → c)"), None),
        (Stage("SCA", tr.o("sca"), "attention", f"x · Conv1×1(pool x), {sw}"), None),
        (Stage("Conv1×1", tr.o("conv3"), "conv", "c → c"), None),
    ]
    ids = []
    for k, (st, _) in enumerate(row1):
        ids.append(dg.add(st, k * dx, y1, w=bw, h=bh))
        if k:
            dg.link(ids[-2], ids[-1])
    add1 = dg.add(Stage("y = x + β·t", tr.i("norm2"), "add"), len(row1) * dx, y1, w=0.32, h=0.32)
    dg.link(ids[-1], add1, label="×β", label_offset=(0.0, 0.1))
    yr = y1 + bh / 2 + 0.32
    dg.link(ids[0], add1, "residual", label="x (identity)", via=((0, yr), (len(row1) * dx, yr)),
            label_offset=(0.0, 0.04))
    # second half, right to left under the first
    row2 = [
        Stage("LayerNorm2d", tr.o("norm2"), "norm", "over channels"),
        Stage("Conv1×1", tr.o("conv4"), "conv", "c → 2c"),
        Stage("SimpleGate", tr.o("gate", 1), "gate", "x₁ · x₂ (2c → c)"),
        Stage("Conv1×1", tr.o("conv5"), "conv", "c → c"),
    ]
    prev = add1
    xr = len(row1) * dx
    for k, st in enumerate(row2):
        n = dg.add(st, xr - k * dx, y2, w=bw, h=bh)
        dg.link(prev, n)
        prev = n
    xa = xr - len(row2) * dx
    add2 = dg.add(Stage("z = y + γ·t", tr.o("block"), "add"), xa, y2, w=0.32, h=0.32)
    dg.link(prev, add2, label="×γ", label_offset=(0.0, 0.1))
    yr2 = y2 - bh / 2 - 0.32
    xs = xr + bw / 2 + 0.2
    dg.link(add1, add2, "residual", label="y (identity)", via=((xs, y1), (xs, yr2), (xa, yr2)),
            label_offset=(0.0, 0.04))
    out = dg.add(Stage("z", tr.o("block"), "output", "block output"), xa - dx, y2, w=bw, h=bh)
    dg.link(add2, out)
    return dg


def _stylegan2_block(cfg: dict, opts: dict) -> _Diagram:
    """One StyleGAN2 synthesis block (Karras et al. CVPR 2020, fig. 2d, eq. 1-3; "skip" G, fig. 7b).

    s = A(w) (affine, bias 1);  w'_{oik} = s_i w_{oik};  w''_{oik} = w'_{oik} / sqrt(sum_{i,k} w'^2 + eps)
    x <- lrelu(modconv(x) + strength * noise + b) * sqrt(2), twice (the first upsamples x2);
    rgb_r = ToRGB(x) + upsample(rgb_{r/2}) (1x1 modulated conv, no demodulation).
    """
    G = _build("stylegan2_g", cfg, "draw_architecture('stylegan2_block')")
    res = int(opts["block_res"])
    blocks = {b.res: (j, b) for j, b in enumerate(G.blocks)}
    if res not in blocks:
        raise LessonsError(f"draw_architecture('stylegan2_block'): block_res must be one of "
                           f"{sorted(blocks)} for a {G.size} px generator, got {res}")
    j, blk = blocks[res]
    prev_rgb = G.to_rgb4 if j == 0 else G.blocks[j - 1].to_rgb
    mods = {"block_in": blk.conv0, "a0": blk.conv0.conv.modulation, "mc0": blk.conv0.conv,
            "n0": blk.conv0.noise, "sc0": blk.conv0, "a1": blk.conv1.conv.modulation, "mc1": blk.conv1.conv,
            "n1": blk.conv1.noise, "sc1": blk.conv1, "a2": blk.to_rgb.conv.modulation,
            "rgbconv": blk.to_rgb.conv, "torgb": blk.to_rgb, "prev_rgb": prev_rgb, "mapping": G.mapping}
    z = _dummy(1, G.z_dim)
    tr = _run(G, mods, lambda: G(z, noise="random"))
    i0 = 2 * int(math.log2(res)) - 5                      # the code index of the up-conv of r
    dg = _Diagram(f"StyleGAN2 synthesis block at {res}×{res} (of a {G.size} px G, w_dim {G.w_dim}): "
                  f"modulated convs, noise, ToRGB skip", model=G)
    dx, bw, bh = 1.25, 1.06, 0.74
    yt, yb = 1.45, -1.45
    xin = dg.add(Stage("x", tr.i("block_in"), "input", f"from {res // 2}×{res // 2}"), 0, 0, w=bw, h=bh)
    w_node = dg.add(Stage("w", tr.o("mapping"), "style", "mapping(z)"), 0, yt, w=bw, h=bh)
    col = 1
    prev = xin
    names = [("mc0", "a0", "n0", "sc0", True), ("mc1", "a1", "n1", "sc1", False)]
    for k, (mc, a, nz, sc, up) in enumerate(names):
        conv = dg.add(Stage("ModConv3×3" + (" ↑2" if up else ""), tr.o(mc), "conv_up" if up else "conv",
                            ("bilinear ×2, " if up else "") + "demodulated"), col * dx, 0, w=bw, h=bh)
        aff = dg.add(Stage(f"A: w[{i0 + k}] → s", tr.o(a), "style", "affine, style s"), col * dx, yt, w=bw, h=bh)
        dg.link(prev, conv)
        dg.link(aff, conv, "style")
        dg.link(w_node, aff, "style", via=((0, yt + 0.62), (col * dx, yt + 0.62)))
        col += 1
        add = dg.add(Stage("+ noise", tr.o(nz), "add"), col * dx, 0, w=0.3, h=0.3)
        nmap = dg.add(Stage("noise", tr.i(nz, 1), "noise", "N(0, 1) per pixel"), col * dx, yb, w=bw, h=bh)
        dg.link(conv, add)
        dg.link(nmap, add, "noise", label="× strength", label_offset=(0.42, 0.0), label_pos=0.45)
        col += 1
        act = dg.add(Stage("bias·LReLU", tr.o(sc), "act", "× √2 (gain)"), col * dx, 0, w=bw, h=bh)
        dg.link(add, act)
        prev = act
        col += 1
    rgb = dg.add(Stage("ToRGB 1×1", tr.o("rgbconv"), "conv", "modulated, no demod."), col * dx, 0, w=bw, h=bh)
    aff = dg.add(Stage(f"A: w[{i0 + 2}] → s", tr.o("a2"), "style", "affine, style s"), col * dx, yt, w=bw, h=bh)
    dg.link(prev, rgb)
    dg.link(aff, rgb, "style")
    dg.link(w_node, aff, "style", via=((0, yt + 0.62), (col * dx, yt + 0.62)))
    col += 1
    add = dg.add(Stage("rgb sum", tr.o("torgb"), "add"), col * dx, 0, w=0.3, h=0.3)
    dg.link(rgb, add)
    skip_up = dg.add(Stage("upsample ×2", tr.i("torgb", 2), "conv_up", f"rgb of {res // 2}×{res // 2}"),
                     col * dx, yb, w=bw, h=bh)
    prgb = dg.add(Stage(f"rgb {res // 2}×{res // 2}", tr.o("prev_rgb"), "input", "previous ToRGB sum"),
                  (col - 1) * dx, yb, w=bw, h=bh)
    dg.link(prgb, skip_up, "skip")
    dg.link(skip_up, add, "skip")
    col += 1
    last = res == G.size
    out = dg.add(Stage(f"rgb {res}×{res}", tr.o("torgb"), "output", "G's image" if last else "to the next block"),
                 col * dx, 0, w=bw, h=bh)
    dg.link(add, out)
    if not last:   # the features go on to the next resolution's up-conv
        outx = dg.add(Stage("x", tr.o("sc1"), "output", "to the next block"), (col - 3) * dx, yb, w=bw, h=bh)
        dg.link(prev, outx)
    return dg


def _restorer(cfg: dict, opts: dict) -> _Diagram:
    """Seed 004's restorer: x -> NAFNet -> x_R; E(x_R) = (f_16, w codes) (BDInvert + pSp);
    x_G = G.synthesis_from(16, f_16, w_avg + dw); fusion (seed eq. 1)
    x_hat = Conv(Res(Conv(x_R) + Conv(x_G))), or x_hat = x_R + Conv_0(...) with residual=True."""
    from .models.inversion import invert

    if cfg:
        raise LessonsError(
            f"draw_architecture('restorer') takes one config per network, not model keywords: "
            f"got {', '.join(map(repr, cfg))}; pass them as nafnet=dict(...), generator=dict(...), "
            f"encoder=dict(...) or fusion=dict(...) (options: {', '.join(DIAGRAM_OPTIONS['restorer'])})")
    where = "draw_architecture('restorer')"
    parts = {}
    for k in ("nafnet", "generator", "encoder", "fusion"):
        v = opts[k]
        if v is not None and not isinstance(v, dict):
            raise LessonsError(f"{where}: {k}= must be a dict of that network's config, got {type(v).__name__}")
        parts[k] = {**_OPTION_DEFAULTS["restorer"][k], **(v or {})}
    if opts["residual"] is not None:
        parts["fusion"]["residual"] = bool(opts["residual"])
    naf = _build("nafnet", parts["nafnet"], where + " nafnet=")
    G = _build("stylegan2_g", parts["generator"], where + " generator=")
    E = _build("inversion_encoder", dict(g_size=int(G.size), g_channel_base=int(G.channel_base),
                                         g_channel_max=int(G.channel_max), w_dim=int(G.w_dim),
                                         **parts["encoder"]), where + " encoder=")
    Fn = _build("fusion_net", parts["fusion"], where + " fusion=")
    S = int(opts["size"] or G.size)
    x = _dummy(1, 3, S, S).clamp(0, 1)
    with _Trace({"naf": naf}) as tn, torch.no_grad():
        naf.eval()
        x_R = naf(x)
    with _Trace({"enc": E}) as te, torch.no_grad():
        E.eval()
        G.eval()
        x_G = invert(E, G, x_R, noise="const")
    if x_G.shape != x_R.shape:
        x_G = torch.nn.functional.interpolate(x_G, size=x_R.shape[-2:], mode="bilinear", align_corners=False)
    fm = {"conv_r": Fn.conv_r, "conv_g": Fn.conv_g, "res": Fn.res, "conv_out": Fn.conv_out, "fusion": Fn}
    tf = _run(Fn, fm, lambda: Fn(x_R, x_G))
    f16, dw = te.o("enc")
    ir = E.inject_res
    res = Fn.residual
    formula = "x̂ = x_R + Conv(Res(Conv(x_R) + Conv(x_G)))" if res else "x̂ = Conv(Res(Conv(x_R) + Conv(x_G)))"
    dg = _Diagram(f"Restorer (seed 004): NAFNet → x_R → inversion → StyleGAN2 G → x_G;  fusion {formula}",
                  model=Fn)
    dx, bw, bh = 1.42, 1.2, 0.78
    y0, y1, y2 = 0.0, -1.55, -3.0
    xin = dg.add(Stage("x (blurred)", (3, S, S), "input", "in [0, 1]"), 0, y0, w=bw, h=bh)
    nf = dg.add(Stage("NAFNet", None, "network", f"width {parts['nafnet'].get('width', 32)}, {naf.levels} levels",
                      ), dx, y0, w=bw, h=bh, lines=("NAFNet", f"width {parts['nafnet'].get('width', 32)}, "
                                                    f"{naf.levels} levels", _params(naf)))
    xr = dg.add(Stage("x_R", tn.o("naf"), "image", "regression output"), 2 * dx, y0, w=bw, h=bh)
    en = dg.add(Stage("encoder E", None, "network", "BDInvert + pSp"), 3 * dx, y0, w=bw, h=bh,
                lines=("encoder E", "BDInvert + pSp", _params(E)))
    ff = dg.add(Stage(f"f_{ir} (feature map)", f16, "feature", f"replaces G's {ir}×{ir} layer"),
                4 * dx, y0 + 0.5, w=bw, h=0.64)
    wc = dg.add(Stage("w codes", dw, "style", "codes × w_dim"), 4 * dx, y0 - 0.5, w=bw, h=0.64)
    gn = dg.add(Stage("StyleGAN2 G", None, "network", f"synthesis from {ir}×{ir}"), 5 * dx, y0, w=bw, h=bh,
                lines=("StyleGAN2 G", f"synthesis from {ir}×{ir}", _params(G)))
    xg = dg.add(Stage("x_G", tuple(x_G.shape[1:]), "image", "GAN prior output"), 6 * dx, y0, w=bw, h=bh)
    for a, b in ((xin, nf), (nf, xr), (xr, en), (en, ff), (en, wc), (ff, gn), (wc, gn), (gn, xg)):
        dg.link(a, b)
    cr = dg.add(Stage("Conv3×3 (x_R)", tf.o("conv_r"), "conv", "into features"), 3 * dx, y1, w=bw, h=bh)
    cg = dg.add(Stage("Conv3×3 (x_G)", tf.o("conv_g"), "conv", "into features"), 5 * dx, y1, w=bw, h=bh)
    add = dg.add(Stage("Conv(x_R) + Conv(x_G)", tf.o("conv_r"), "add"), 4 * dx, y1, w=0.32, h=0.32)
    dg.link(xr, cr)
    dg.link(xg, cg)
    dg.link(cr, add)
    dg.link(cg, add)
    nb = len(Fn.res)
    rb = dg.add(Stage(f"Res × {nb}", tf.o("res") if nb else tf.o("conv_r"), "resblock",
                      "x + Conv(ReLU(Conv x))"), 4 * dx, y2, w=bw, h=bh)
    dg.link(add, rb)
    co = dg.add(Stage("Conv3×3", tf.o("conv_out"), "conv", "zero-init: correction" if res else "to the image"),
                5.2 * dx, y2, w=bw, h=bh)
    dg.link(rb, co)
    if res:
        add2 = dg.add(Stage("x_R + correction", tf.o("fusion"), "add"), 6.2 * dx, y2, w=0.32, h=0.32)
        dg.link(co, add2)
        # x_R's residual path: down the left, along the bottom, up into the sum
        ybar = y2 - 0.78
        dg.link(xr, add2, "residual", label="x_R  (residual=True)", via=((2 * dx, ybar), (6.2 * dx, ybar)),
                label_pos=0.5, label_offset=(0.0, 0.05))
        last = add2
    else:
        last = co
    out = dg.add(Stage("x̂ (restored)", tf.o("fusion"), "output", "fusion output"), 7.2 * dx, y2, w=bw, h=bh)
    dg.link(last, out)
    dg.notes.append((4 * dx + 0.12, (y1 + y2) / 2 - 0.1, "fusion network\n(seed eq. 1)", "left"))
    return dg


_BUILDERS: dict[str, Callable[[dict, dict], _Diagram]] = {
    "unet": _unet,
    "patchgan": _patchgan,
    "nin_patchgan": _nin_patchgan,
    "colorgan": _colorgan,
    "nafnet_block": _nafnet_block,
    "stylegan2_block": _stylegan2_block,
    "restorer": _restorer,
}


def _diagram(name: str, kwargs: dict[str, Any]) -> _Diagram:
    if name not in _BUILDERS:
        raise LessonsError(f"unknown architecture diagram {name!r}; known: {', '.join(ARCHITECTURES)}")
    cfg, opts = _split(name, kwargs)
    # Building a model draws random weights: keep the lesson's random stream untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return _BUILDERS[name](cfg, opts)


def architecture_stages(name: str, **model_kwargs) -> list[Stage]:
    """The boxes of diagram ``name`` as :class:`Stage` records, in drawing order, with the
    output shapes read from one forward pass of the built model (see the module docstring
    for the names and keywords)."""
    return [n.stage for n in _diagram(name, model_kwargs).nodes]


# =========================================================================== drawing
_KINDS: dict[str, tuple[str, str]] = {
    # kind: (face colour, legend label)
    "input": ("#e6e6e6", "input / output"),
    "output": ("#e6e6e6", "input / output"),
    "image": ("#f2f2f2", "intermediate image"),
    "conv_down": ("#8fbce6", "conv, downsampling"),
    "conv_up": ("#f9b572", "upsampling"),
    "conv": ("#cfe2f3", "conv, stride 1"),
    "norm": ("#fff0a0", "normalisation"),
    "act": ("#a8dba0", "activation"),
    "gate": ("#7cc87a", "SimpleGate (x₁·x₂)"),
    "attention": ("#c3b8e0", "channel attention"),
    "noise": ("#f7c6c0", "noise"),
    "noise_conv": ("#f2a39a", "noise branch G_f"),
    "style": ("#8fd3c8", "style w / affine A"),
    "mlp": ("#b9e3b0", "NIN MLP (1×1 convs)"),
    "head": ("#f08a7a", "logits"),
    "pool": ("#d9d9d9", "pooling"),
    "network": ("#d6d0ea", "network"),
    "feature": ("#bcd6ee", "feature map"),
    "resblock": ("#dcc29c", "residual blocks"),
    "add": ("#ffffff", "sum (⊕)"),
}
_EDGE_STYLE = {
    "flow": dict(color="#333333", linestyle="-", lw=1.0),
    "skip": dict(color="#2166ac", linestyle="--", lw=1.1),
    "residual": dict(color="#b2182b", linestyle="--", lw=1.1),
    "noise": dict(color="#d6604d", linestyle="-", lw=1.1),
    "style": dict(color="#1b7f73", linestyle="-", lw=0.9),
}
_EDGE_LEGEND = {"skip": "skip connection", "residual": "residual (identity) path", "noise": "noise",
                "style": "style w"}


def _box_lines(node: _Node) -> list[tuple[str, str]]:
    """(text, role) lines of a box: role 'label' (bold), 'detail' (small), 'shape'."""
    if node.lines is not None:
        roles = ["label", "detail", "shape"]
        return [(t, roles[min(i, 2)]) for i, t in enumerate(node.lines) if t]
    st = node.stage
    out = [(st.label, "label")]
    if st.detail:
        out.append((st.detail, "detail"))
    if st.shape is not None:
        out.append((format_shape(st.shape), "shape"))
    return out


def _draw(dg: _Diagram, ax=None, figsize: tuple[float, float] | None = None):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Patch
    from matplotlib.path import Path as MPath

    x0 = min(n.x - n.w / 2 for n in dg.nodes) - 0.25
    x1 = max(n.x + n.w / 2 for n in dg.nodes) + 0.25
    y0 = min(n.y - n.h / 2 for n in dg.nodes) - 0.35
    y1 = max(n.y + n.h / 2 for n in dg.nodes) + 0.35
    # room for arcs above / elbows below
    for e in dg.edges:
        for (vx, vy) in e.via:
            y0, y1 = min(y0, vy - 0.3), max(y1, vy + 0.3)
            x0, x1 = min(x0, vx - 0.2), max(x1, vx + 0.2)
        if e.rad:
            a, b = dg.nodes[e.src], dg.nodes[e.dst]
            py = (a.y + b.y) / 2 - e.rad * (b.x - a.x) * 0.5     # the arc's extreme point
            y1 = max(y1, py + 0.3)
            y0 = min(y0, py - 0.3)
    for note in dg.notes:
        y1 = max(y1, note[1] + 0.18 * (note[2].count("\n") + 1) + 0.1)
    legend_band = 0.55
    y0 -= legend_band
    width, height = x1 - x0, y1 - y0
    if ax is None:
        scale = min(11.5 / width, 4.6 / height)
        fw, fh = width * scale, height * scale + 0.35
        fig, ax = plt.subplots(figsize=figsize or (max(fw, 6.0), max(fh, 2.4)))
        fig.subplots_adjust(left=0.005, right=0.995, bottom=0.005, top=1 - 0.35 / max(fh, 2.4))
    else:
        fig = ax.figure
    # widen the smaller range to the axes' own aspect, so that equal units need no adjusting
    box = ax.get_window_extent()
    target = box.width / box.height
    if width / height < target:
        grow = (height * target - width) / 2
        x0, x1, width = x0 - grow, x1 + grow, height * target
    else:
        grow = (width / target - height) / 2
        y0, y1, height = y0 - grow, y1 + grow, width / target
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="datalim")
    ax.axis("off")
    bb = ax.get_window_extent()
    unit_pt = min(bb.width / width, bb.height / height) * 72.0 / fig.dpi   # points per data unit

    # one font size for every box: the largest that fits the widest line and the line count
    char_w = 0.56   # average glyph width / font size (DejaVu Sans)
    fs = 8.5
    for n in dg.nodes:
        if n.stage.kind == "add":
            continue
        lines = _box_lines(n)
        for t, role in lines:
            if role != "detail":
                fs = min(fs, 0.9 * n.w * unit_pt / (char_w * max(len(t), 1)))
        fs = min(fs, 0.9 * n.h * unit_pt / (1.22 * sum(0.88 if r == "detail" else 1.0 for _, r in lines)))
    fs = max(fs, 4.5)

    patches = []
    box_texts: list[tuple[Any, Any]] = []   # (text, box patch): shrunk to fit after measuring
    for n in dg.nodes:
        st = n.stage
        color = _KINDS.get(st.kind, ("#ffffff", st.kind))[0]
        if st.kind == "add":
            r = n.w / 2
            p = Circle((n.x, n.y), r, facecolor="white", edgecolor="#333333", lw=1.1, zorder=3)
            ax.add_patch(p)
            ax.plot([n.x - 0.6 * r, n.x + 0.6 * r], [n.y, n.y], color="#333333", lw=1.1, zorder=4)
            ax.plot([n.x, n.x], [n.y - 0.6 * r, n.y + 0.6 * r], color="#333333", lw=1.1, zorder=4)
            patches.append(p)
            continue
        p = FancyBboxPatch((n.x - n.w / 2, n.y - n.h / 2), n.w, n.h, boxstyle="round,pad=0,rounding_size=0.06",
                           facecolor=color, edgecolor="#444444", lw=0.8, zorder=2)
        ax.add_patch(p)
        patches.append(p)
        lines = _box_lines(n)
        sizes = [fs * (0.88 if r == "detail" else 1.0) for _, r in lines]
        total = sum(1.22 * s for s in sizes)
        off = total / 2
        for (t, role), s in zip(lines, sizes):
            off -= 1.22 * s / 2
            txt = ax.annotate(t, (n.x, n.y), xytext=(0, off), textcoords="offset points", ha="center",
                              va="center", fontsize=s, fontweight="bold" if role == "label" else "normal",
                              color="#333333" if role != "detail" else "#555555", zorder=5,
                              annotation_clip=False)
            box_texts.append((txt, p))
            off -= 1.22 * s / 2

    used_edges = set()
    for e in dg.edges:
        a, b = dg.nodes[e.src], dg.nodes[e.dst]
        sty = dict(_EDGE_STYLE[e.style])
        used_edges.add(e.style)
        if e.via:
            # an elbow path: leave a vertically towards the first waypoint, enter b likewise
            def port(n: _Node, p: tuple[float, float]) -> tuple[float, float]:
                # where a path towards p leaves n: sideways when p is level with n, else up/down
                hw, hh = (n.w / 2, n.w / 2) if n.stage.kind == "add" else (n.w / 2, n.h / 2)
                if abs(p[1] - n.y) < 1e-9:
                    return (n.x + hw if p[0] > n.x else n.x - hw, n.y)
                return (p[0], n.y + hh if p[1] > n.y else n.y - hh)

            start, end = port(a, e.via[0]), port(b, e.via[-1])
            pts = [start, *e.via, end]
            path = MPath(pts, [MPath.MOVETO] + [MPath.LINETO] * (len(pts) - 1))
            arr = FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=9, zorder=1, **sty)
            ax.add_patch(arr)
            seg = max(range(len(pts) - 1), key=lambda k: math.dist(pts[k], pts[k + 1]))
            lx = pts[seg][0] + e.label_pos * (pts[seg + 1][0] - pts[seg][0])
            ly = pts[seg][1] + e.label_pos * (pts[seg + 1][1] - pts[seg][1])
        else:
            arr = FancyArrowPatch((a.x, a.y), (b.x, b.y), patchA=patches[e.src], patchB=patches[e.dst],
                                  arrowstyle="-|>", mutation_scale=9, shrinkA=1, shrinkB=1,
                                  connectionstyle=f"arc3,rad={e.rad}", zorder=1, **sty)
            ax.add_patch(arr)
            t = e.label_pos
            lx, ly = a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)
            if e.rad:
                # the arc's control point: the midpoint pushed perpendicular by rad * distance
                dxe, dye = b.x - a.x, b.y - a.y
                lx += e.rad * dye * 0.5 * 1.0
                ly -= e.rad * dxe * 0.5 * 1.0
        if e.label:
            ax.text(lx + e.label_offset[0], ly + e.label_offset[1], e.label, ha="center", va="bottom"
                    if e.label_offset[1] >= 0 else "top", fontsize=max(fs - 1, 4.5), color=sty["color"],
                    style="italic", zorder=6)
    for note in dg.notes:
        nx, ny, t = note[:3]
        ax.text(nx, ny, t, ha=note[3] if len(note) > 3 else "center", va="bottom", fontsize=max(fs - 1.0, 4.5),
                color="#444444", linespacing=1.3, zorder=6)
    title_w = ax.get_window_extent().width * 72.0 / fig.dpi
    ax.set_title(dg.title, fontsize=min(10.0, max(6.5, 0.95 * title_w / (0.55 * max(len(dg.title), 1)))))

    handles, seen = [], set()
    for n in dg.nodes:
        kind = n.stage.kind
        color, label = _KINDS.get(kind, ("#ffffff", kind))
        if label in seen:
            continue
        seen.add(label)
        handles.append(Patch(facecolor=color, edgecolor="#444444", lw=0.6, label=label))
    for s in ("skip", "residual", "noise", "style"):
        if s in used_edges:
            st = _EDGE_STYLE[s]
            handles.append(Line2D([], [], color=st["color"], linestyle=st["linestyle"], lw=st["lw"],
                                  label=_EDGE_LEGEND[s]))
    # measure: any line wider than its box gets a smaller font
    ax.apply_aspect()   # the final data limits, so that box widths in pixels are right
    renderer = fig.canvas.get_renderer()
    for txt, p in box_texts:
        bw_px = p.get_window_extent(renderer).width
        for _ in range(6):   # hinting makes small text wider than linear: repeat until it fits
            tw = txt.get_window_extent(renderer).width
            if tw <= 0.93 * bw_px:
                break
            txt.set_fontsize(txt.get_fontsize() * min(0.97, 0.93 * bw_px / tw))
    ncol = min(len(handles), 7)
    ax.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=max(min(fs, 7.0), 5.0), frameon=False,
              handlelength=1.6, columnspacing=1.0, borderaxespad=0.1)
    return fig


def draw_architecture(name: str, ax=None, **model_kwargs):
    """Draw architecture ``name`` (one of :data:`ARCHITECTURES`) from the built model; returns
    the Figure. Boxes: one per stage, labelled with its layers and the true output shape
    C×H×W of one forward pass; arrows: data flow (solid), skips (blue dashed), residual
    identity paths (red dashed) into a circled +. Draws into ``ax`` when given.

    Raises LessonsError for an unknown name (listing the known ones) or a keyword the model
    rejects (naming it).
    """
    dg = _diagram(name, model_kwargs)
    return _draw(dg, ax=ax)
