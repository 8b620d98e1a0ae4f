"""From a name to a picture: the diagram for a name (:func:`architecture_stages` gives its
boxes as data) and its drawing with matplotlib (:func:`draw_architecture`): coloured boxes
with the layers and shapes, arrows for the data flow, skips and residual paths, a legend."""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from .. import LessonsError
from .colorization import COLORIZATION_BUILDERS
from .graph import Diagram, Node, Stage, format_shape
from .restoration import RESTORATION_BUILDERS
from .tracing import ARCHITECTURES, split_kwargs

__all__ = [
    "architecture_stages",
    "draw_architecture",
]


_BUILDERS: dict[str, Callable[[dict, dict], Diagram]] = {**COLORIZATION_BUILDERS, **RESTORATION_BUILDERS}


def _diagram(name: str, kwargs: dict[str, Any]) -> Diagram:
    if name not in _BUILDERS:
        raise LessonsError(f"unknown architecture diagram {name!r}; known: {', '.join(ARCHITECTURES)}")
    cfg, opts = split_kwargs(name, kwargs)
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


def _box_lines(node: Node) -> list[tuple[str, str]]:
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


# Why this function is ~160 lines (issue 26 asks for a reason beside any function over ~100):
# it is one matplotlib pass that draws a diagram in paint order - frame, groups, edges (with
# their routed paths), nodes, labels, legend - and every step reads the same extent, scale and
# font sizes computed at the top; split into helpers, those would travel as a dozen arguments.
def _draw(dg: Diagram, ax=None, figsize: tuple[float, float] | None = None):
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
            def port(n: Node, p: tuple[float, float]) -> tuple[float, float]:
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
