"""The colorization diagrams (lessons 02-06): the pix2pix U-Net, the PatchGAN, seed 000's
NIN-MLP PatchGAN and seed 001's ColorGAN with its discriminator."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn

from .. import LessonsError
from .graph import Diagram, Stage, format_shape
from .tracing import build, describe, dummy, run_traced

__all__ = [
    "COLORIZATION_BUILDERS",
]


# =========================================================================== the diagrams
def _unet(cfg: dict, opts: dict) -> Diagram:
    """pix2pix U-Net (Isola et al. 2017, sec. 3.2.1; Ronneberger et al. 2015), drawn as a U.

    Encoder e_i = Conv4x4s2(...) at H / 2^(i+1) with c_i = base * min(2^i, max_mult)
    channels; decoder d_i = ConvT4x4s2([d_{i+1}, e_i]) (concatenation on channels: the
    dashed skips); y = tanh(ConvT([d_1, e_0])).
    """
    model = build("unet", cfg, "draw_architecture('unet')")
    D, m = model.depth, model.size_multiple
    S = opts["input_size"] or cfg.get("image_size", 256)
    S = max(m, int(math.ceil(S / m)) * m)                        # H must be a multiple of 2**depth
    mods = {f"down{i}": model.down[i] for i in range(D)}
    mods.update({f"up{i}": model.up[i] for i in range(D)})
    x = dummy(1, model.in_channels, S, S)
    tr = run_traced(model, mods, lambda: model(x))

    dg = Diagram(f"pix2pix U-Net generator: depth {D}, base {cfg.get('base', 64)}, "
                  f"{S}×{S} input (Isola et al. 2017)", model=model)
    dy = min(0.78, 5.2 / (D + 2))              # deep U-Nets get flatter rows, so the text stays large
    dx, bw, bh = 1.0, 0.9, 0.72 * dy
    prev = dg.add(Stage("x (input)", (model.in_channels, S, S), "input"), 0, 0, w=bw, h=bh)
    enc: list[int] = []
    for i in range(D):
        label = f"e{i} bottleneck" if i == D - 1 else f"e{i}"
        st = Stage(label, tr.o(f"down{i}"), "conv_down", describe(model.down[i]))
        n = dg.add(st, (i + 1) * dx, -(i + 1) * dy, w=bw, h=bh, lines=(label, st.shape_text))
        dg.link(prev, n)
        enc.append(n)
        prev = n
    dec = {}
    for i in range(D - 1, 0, -1):
        drop = any(isinstance(mm, nn.Dropout) for mm in model.up[i].modules())
        st = Stage(f"d{i}" + (" +drop" if drop else ""), tr.o(f"up{i}"), "conv_up", describe(model.up[i]))
        n = dg.add(st, (2 * D - i) * dx, -i * dy, w=bw, h=bh, lines=(st.label, st.shape_text))
        dg.link(prev, n)
        dec[i] = n
        prev = n
    st = Stage("y (output)", tr.o("up0"), "output", describe(model.up[0]))
    out = dg.add(st, 2 * D * dx, 0, w=bw, h=bh, lines=(st.label, st.shape_text))
    dg.link(prev, out)
    # skip: e_i is concatenated with d_{i+1} (same H, W) as the input of up-block i
    for i in range(D - 1):
        dst = dec[i + 1]
        dg.link(enc[i], dst, "skip", label="concat" if i == D - 2 else "")
    down_d = describe(model.down[1])
    up_d = describe(model.up[1])
    dg.notes.append((D * dx, -0.1, f"e0: {describe(model.down[0])}   e_i: {down_d}   bottleneck: "
                                   f"{describe(model.down[D - 1])}\n"
                                   f"d_i: {up_d}   "
                                   f"y: {describe(model.up[0])}\n"
                                   f"channels c_i = base·min(2^i, max_mult); d_i reads [d_(i+1), e_i]"))
    return dg


def _chain_stage(block: nn.Module, shape, last: bool) -> Stage:
    desc = describe(block)
    if last:
        return Stage("logits", shape, "head", desc)
    convs = [mm for mm in block.modules() if isinstance(mm, nn.Conv2d)]
    kind = "conv_down" if convs and convs[0].stride[0] > 1 else "conv"
    return Stage(desc.split("·")[0], shape, kind, "·".join(desc.split("·")[1:]))


def _patchgan(cfg: dict, opts: dict) -> Diagram:
    """pix2pix PatchGAN (Isola et al. 2017, sec. 3.2.2): n_layers 4x4 stride-2 blocks, one
    stride-1 block, a 1-channel conv; each logit judges one receptive field."""
    model = build("patchgan", cfg, "draw_architecture('patchgan')")
    S = int(opts["input_size"])
    if S < model.min_input_size:
        raise LessonsError(f"draw_architecture('patchgan'): input_size {S} is too small for this "
                           f"PatchGAN (at least {model.min_input_size})")
    mods = {f"net{j}": b for j, b in enumerate(model.net)}
    tr = run_traced(model, mods, lambda: model(dummy(1, model.in_channels, S, S)))
    last = tr.o(f"net{len(model.net) - 1}")
    rf = model.receptive_field
    dg = Diagram(f"PatchGAN (n_layers={model.n_layers}): each of the {last[1]}×{last[2]} logits "
                  f"judges a {rf}×{rf} patch of the {S}×{S} pair", model=model)
    dx, bw, bh = 1.55, 1.32, 0.78
    prev = dg.add(Stage("pair(cond, out)", (model.in_channels, S, S), "input", "channels concatenated"),
                  0, 0, w=bw, h=bh)
    for j, block in enumerate(model.net):
        n = dg.add(_chain_stage(block, tr.o(f"net{j}"), j == len(model.net) - 1), (j + 1) * dx, 0, w=bw, h=bh)
        dg.link(prev, n)
        prev = n
    return dg


def _nin_patchgan(cfg: dict, opts: dict) -> Diagram:
    """Seed 000's NIN-MLP PatchGAN: each 4x4 conv followed by ``mlp_layers`` 1x1 convs
    (NIN's mlpconv, Lin et al. 2014: an MLP shared over positions); optional GAP head."""
    model = build("nin_patchgan", cfg, "draw_architecture('nin_patchgan')")
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
    tr = run_traced(model, mods, lambda: model(dummy(1, model.in_channels, S, S)))
    rf = model.receptive_field
    head = "GAP -> one logit per image" if model.pool is not None else "a patch map of logits"
    dg = Diagram(f"NIN-MLP PatchGAN (n_layers={model.n_layers}, mlp_layers={cfg.get('mlp_layers', 2)}): "
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
                inner = describe(b[1]).split("·")
                n = dg.add(Stage(f"MLP {k}× {inner[0]}", tr.o(f"mlp{j}"), "mlp", "·".join(inner[1:])),
                           x, 0, w=bw, h=bh)
                dg.link(prev, n)
                prev = n
        else:
            st = Stage("logit map", tr.o(f"conv{j}"), "head", describe(b)) if last else \
                _chain_stage(b, tr.o(f"conv{j}"), False)
            n = dg.add(st, x, 0, w=bw, h=bh)
            dg.link(prev, n)
            prev = n
    if model.pool is not None:
        x += dx
        n = dg.add(Stage("GAP logit", tr.o("pool")[:1], "pool", "global avg pool"), x, 0, w=bw, h=bh)
        dg.link(prev, n)
    return dg


def _colorgan(cfg: dict, opts: dict) -> Diagram:
    """ColorGAN (Shafiq & Lee, seed 001, fig. 1): ``h = e_{D-1} + G_f(z)``, z ~ N(0, 0.1^2),
    decoded with U-Net skips to ab; D = PatchGAN on pair(L, ab)."""
    model = build("colorgan_g", cfg, "draw_architecture('colorgan')")
    dcfg = dict(opts["discriminator"] or {})
    dcfg.setdefault("in_channels", model.in_channels + model.out_channels)
    D_net = build("patchgan", dcfg, "draw_architecture('colorgan', discriminator=...)")
    Dp, m = model.depth, model.size_multiple
    S = max(m, int(math.ceil(int(opts["input_size"]) / m)) * m)
    mods = {f"enc{i}": model.encoder[i] for i in range(Dp)}
    mods.update({f"dec{i}": model.decoder[i] for i in range(Dp)})
    convs = [c for c in model.noise_branch if isinstance(c, nn.Conv2d)]
    mods.update({f"gf{k}": c for k, c in enumerate(convs)})
    mods["gf"] = model.noise_branch
    L = dummy(1, model.in_channels, S, S)
    tr = run_traced(model, mods, lambda: model(L, seed=0))
    if S < D_net.min_input_size:
        raise LessonsError(f"draw_architecture('colorgan'): input_size {S} is too small for its PatchGAN "
                           f"(at least {D_net.min_input_size})")
    dmods = {f"net{j}": b for j, b in enumerate(D_net.net)}
    ab_shape = tr.o("dec0")
    dtr = run_traced(D_net, dmods, lambda: D_net(torch.cat([L, torch.zeros(1, *ab_shape)], dim=1)))

    lat = tr.o(f"enc{Dp - 1}")
    noise = tr.i("gf")
    if tr.o("gf") != lat:
        raise RuntimeError(f"G_f(z) {tr.o('gf')} does not match the latent map {lat}")
    dg = Diagram(f"ColorGAN (seed 001): encoder, noise z ~ N(0, {model.noise_std:g}²) added to the "
                  f"{format_shape(lat)} latent map, decoder with skips; PatchGAN D on (L, ab)", model=model)
    dx, dy, bw, bh = 1.0, 0.8, 0.9, 0.56
    prev = dg.add(Stage("L (input)", (model.in_channels, S, S), "input", "L/50 - 1"), 0, 0, w=bw, h=bh)
    L_node = prev
    enc = []
    for i in range(Dp):
        st = Stage(f"e{i} latent" if i == Dp - 1 else f"e{i}", tr.o(f"enc{i}"), "conv_down",
                   describe(model.encoder[i]))
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
        st = Stage(f"G_f conv {k + 1}", tr.o(f"gf{k}"), "noise_conv", describe(c) + act)
        n = dg.add(st, x0 + k * dx, yb, w=bw, h=bh, lines=(st.label, st.detail, st.shape_text))
        dg.link(p, n)
        p = n
    dg.link(p, add, "noise", label="G_f(z)", label_offset=(0.3, 0.0))
    dec = {}
    prev = add
    for i in range(Dp - 1, 0, -1):
        st = Stage(f"d{i}", tr.o(f"dec{i}"), "conv_up", describe(model.decoder[i]))
        n = dg.add(st, (2 * Dp + 1 - i) * dx, -i * dy, w=bw, h=bh, lines=(st.label, st.shape_text))
        dg.link(prev, n)
        dec[i] = n
        prev = n
    st = Stage("ab (output)", ab_shape, "output", describe(model.decoder[0]))
    out = dg.add(st, (2 * Dp + 1) * dx, 0, w=bw, h=bh, lines=(st.label, "ab / 110", st.shape_text))
    dg.link(prev, out)
    for i in range(Dp - 1):
        dg.link(enc[i], dec[i + 1], "skip", label="concat" if i == Dp - 2 else "")
    dg.notes.append(((Dp + 0.5) * dx, -0.1, f"e0: {describe(model.encoder[0])}   e_i: "
                                           f"{describe(model.encoder[1])}\nd_i: {describe(model.decoder[1])}   "
                                           f"ab: {describe(model.decoder[0])}\n"
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

#: diagram name -> builder (model config, drawing options) -> the diagram
COLORIZATION_BUILDERS: dict[str, Callable[[dict, dict], Diagram]] = {
    "unet": _unet,
    "patchgan": _patchgan,
    "nin_patchgan": _nin_patchgan,
    "colorgan": _colorgan,
}
