"""The restoration diagrams (lessons 07-09): one NAFBlock, one StyleGAN2 synthesis block,
and seed 004's whole restorer (NAFNet, inversion, StyleGAN2 G, fusion)."""
from __future__ import annotations

import math
from typing import Callable

import torch

from .. import LessonsError
from .graph import Diagram, Stage, format_shape
from .tracing import DIAGRAM_OPTIONS, OPTION_DEFAULTS, Trace, build, dummy, param_count, run_traced

__all__ = [
    "RESTORATION_BUILDERS",
]


def _nafnet_block(cfg: dict, opts: dict) -> Diagram:
    """One NAFBlock (Chen et al. ECCV 2022, fig. 3c, eq. 3 and 5) of a built NAFNet:

    y = x + beta  * Conv1x1( SCA( SimpleGate( DWConv3x3( Conv1x1_{c->2c}( LN(x) )))))
    z = y + gamma * Conv1x1( SimpleGate( Conv1x1_{c->2c}( LN(y) )))
    SimpleGate(t) = t[:c] * t[c:];  SCA(t) = t * Conv1x1(avgpool(t))
    """
    model = build("nafnet", cfg, "draw_architecture('nafnet_block')")
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
    tr = run_traced(model, mods, lambda: model(dummy(1, model.in_channels, S, S)))
    xs = tr.i("block")
    c = xs[0]
    where = f"encoder stage {level}" if level < model.levels else "middle"
    dg = Diagram(f"NAFBlock ({where} of NAFNet width {cfg.get('width', 32)}, {S}×{S} input): "
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


def _stylegan2_block(cfg: dict, opts: dict) -> Diagram:
    """One StyleGAN2 synthesis block (Karras et al. CVPR 2020, fig. 2d, eq. 1-3; "skip" G, fig. 7b).

    s = A(w) (affine, bias 1);  w'_{oik} = s_i w_{oik};  w''_{oik} = w'_{oik} / sqrt(sum_{i,k} w'^2 + eps)
    x <- lrelu(modconv(x) + strength * noise + b) * sqrt(2), twice (the first upsamples x2);
    rgb_r = ToRGB(x) + upsample(rgb_{r/2}) (1x1 modulated conv, no demodulation).
    """
    G = build("stylegan2_g", cfg, "draw_architecture('stylegan2_block')")
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
    z = dummy(1, G.z_dim)
    tr = run_traced(G, mods, lambda: G(z, noise="random"))
    i0 = 2 * int(math.log2(res)) - 5                      # the code index of the up-conv of r
    dg = Diagram(f"StyleGAN2 synthesis block at {res}×{res} (of a {G.size} px G, w_dim {G.w_dim}): "
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


def _restorer(cfg: dict, opts: dict) -> Diagram:
    """Seed 004's restorer: x -> NAFNet -> x_R; E(x_R) = (f_16, w codes) (BDInvert + pSp);
    x_G = G.synthesis_from(16, f_16, w_avg + dw); fusion (seed eq. 1)
    x_hat = Conv(Res(Conv(x_R) + Conv(x_G))), or x_hat = x_R + Conv_0(...) with residual=True."""
    from ..models.inversion import invert

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
        parts[k] = {**OPTION_DEFAULTS["restorer"][k], **(v or {})}
    if opts["residual"] is not None:
        parts["fusion"]["residual"] = bool(opts["residual"])
    naf = build("nafnet", parts["nafnet"], where + " nafnet=")
    G = build("stylegan2_g", parts["generator"], where + " generator=")
    E = build("inversion_encoder", dict(g_size=int(G.size), g_channel_base=int(G.channel_base),
                                         g_channel_max=int(G.channel_max), w_dim=int(G.w_dim),
                                         **parts["encoder"]), where + " encoder=")
    Fn = build("fusion_net", parts["fusion"], where + " fusion=")
    S = int(opts["size"] or G.size)
    x = dummy(1, 3, S, S).clamp(0, 1)
    with Trace({"naf": naf}) as tn, torch.no_grad():
        naf.eval()
        x_R = naf(x)
    with Trace({"enc": E}) as te, torch.no_grad():
        E.eval()
        G.eval()
        x_G = invert(E, G, x_R, noise="const")
    if x_G.shape != x_R.shape:
        x_G = torch.nn.functional.interpolate(x_G, size=x_R.shape[-2:], mode="bilinear", align_corners=False)
    fm = {"conv_r": Fn.conv_r, "conv_g": Fn.conv_g, "res": Fn.res, "conv_out": Fn.conv_out, "fusion": Fn}
    tf = run_traced(Fn, fm, lambda: Fn(x_R, x_G))
    f16, dw = te.o("enc")
    ir = E.inject_res
    res = Fn.residual
    formula = "x̂ = x_R + Conv(Res(Conv(x_R) + Conv(x_G)))" if res else "x̂ = Conv(Res(Conv(x_R) + Conv(x_G)))"
    dg = Diagram(f"Restorer (seed 004): NAFNet → x_R → inversion → StyleGAN2 G → x_G;  fusion {formula}",
                  model=Fn)
    dx, bw, bh = 1.42, 1.2, 0.78
    y0, y1, y2 = 0.0, -1.55, -3.0
    xin = dg.add(Stage("x (blurred)", (3, S, S), "input", "in [0, 1]"), 0, y0, w=bw, h=bh)
    nf = dg.add(Stage("NAFNet", None, "network", f"width {parts['nafnet'].get('width', 32)}, {naf.levels} levels",
                      ), dx, y0, w=bw, h=bh, lines=("NAFNet", f"width {parts['nafnet'].get('width', 32)}, "
                                                    f"{naf.levels} levels", param_count(naf)))
    xr = dg.add(Stage("x_R", tn.o("naf"), "image", "regression output"), 2 * dx, y0, w=bw, h=bh)
    en = dg.add(Stage("encoder E", None, "network", "BDInvert + pSp"), 3 * dx, y0, w=bw, h=bh,
                lines=("encoder E", "BDInvert + pSp", param_count(E)))
    ff = dg.add(Stage(f"f_{ir} (feature map)", f16, "feature", f"replaces G's {ir}×{ir} layer"),
                4 * dx, y0 + 0.5, w=bw, h=0.64)
    wc = dg.add(Stage("w codes", dw, "style", "codes × w_dim"), 4 * dx, y0 - 0.5, w=bw, h=0.64)
    gn = dg.add(Stage("StyleGAN2 G", None, "network", f"synthesis from {ir}×{ir}"), 5 * dx, y0, w=bw, h=bh,
                lines=("StyleGAN2 G", f"synthesis from {ir}×{ir}", param_count(G)))
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

#: diagram name -> builder (model config, drawing options) -> the diagram
RESTORATION_BUILDERS: dict[str, Callable[[dict, dict], Diagram]] = {
    "nafnet_block": _nafnet_block,
    "stylegan2_block": _stylegan2_block,
    "restorer": _restorer,
}
