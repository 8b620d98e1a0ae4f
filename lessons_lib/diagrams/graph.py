"""What a diagram is made of: :class:`Stage` (one box and the shape it stands for), the
shape text, and the graph of placed boxes, arrows and notes that a diagram builder fills in
and the drawing reads."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Stage",
    "format_shape",
    "Node",
    "Diagram",
]


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
class Node:
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
class Diagram:
    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[_Edge] = field(default_factory=list)
    notes: list[tuple] = field(default_factory=list)   # free text (x, y, text[, ha])
    model: Any = None

    def add(self, stage: Stage, x: float, y: float, **kw) -> int:
        self.nodes.append(Node(stage, x, y, **kw))
        return len(self.nodes) - 1

    def link(self, src: int, dst: int, style: str = "flow", **kw) -> None:
        self.edges.append(_Edge(src, dst, style, **kw))
