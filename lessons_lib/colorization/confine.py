"""Keeping a hint on its object: an edge-aware confinement of what hints change (issue 25,
item 4).

The shipped hint model (lesson 12) is a 64-px U-Net whose receptive field covers the whole
photo; measured on held-out photos, one hint moves the colours of the rest of the photo by
about half as much as its own region (``benchmarks/RESULTS.md``, "Issue 25: hints that stay
on their object"). A user who clicks a coat expects the coat to change, not the sky.

The fix here is a post-process of the network's answer, not a new network. For each hint i
(a connected patch of the hint mask), the *geodesic distance* d_i(x) from the hint to every
pixel is measured on the photo's lightness: a path costs its length, plus ``beta`` times the
L* it climbs or falls across edges (Sobel gradient), so a pixel beyond an edge of L is far
even when it is near. Then, with ``g_i = exp(-(d_i / sigma)^2)`` (d_i a share of the photo's
longer side) and ``G = max_i g_i``:

* ``ab_c = ab_0 + G (ab_1 - ab_0)`` keeps the network's change (ab_1 with the hints, ab_0
  without) where a hint reaches along L, and fades it beyond edges and far away;
* ``ab = ab_c + pull G (H - ab_c)`` moves the reached pixels a share ``pull`` further towards
  the hints' own colours ``H = sum_i g_i h_i / sum_i g_i``, so that the hinted object takes
  the colour the user asked for, not only the network's partial step towards it.

This is the propagation of Levin, Lischinski & Weiss ("Colorization using Optimization",
SIGGRAPH 2004: neighbours of similar intensity take similar colours) in its simplest form,
a geodesic distance on L (the distance of Criminisi et al., "GeoS", ECCV 2008, computed
exactly here with Dijkstra's algorithm, :class:`skimage.graph.MCP_Geometric`), applied to
the *change* a learned model makes. The Colorizer confines at the model's own size (64 px
for the shipped hint model), where its colours are made, before they are upsampled onto the
photo's full-size L like any colours; larger inputs are brought down to ``WORK_SIDE`` px
(the longer side). One Dijkstra per hint: at most 500 hints
(:data:`lessons_lib.data.hints.MAX_HINTS`) bound the cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import LessonsError

__all__ = ["Confinement", "WORK_SIDE", "geodesic_influence", "confine_hints"]

#: the longer side, in pixels, at which the geodesic distances are computed
WORK_SIDE = 96


@dataclass(frozen=True)
class Confinement:
    """The three numbers of the confinement (see the module docstring). The defaults were
    chosen on 40 photos of the select set (never test photos): of a grid of sigma (0.2, 0.3,
    0.45), beta (0.3, 0.6, 1) at pull 0.9, the one with the most reach among those whose ratio
    is at least 8, twice issue 25's target (``benchmarks/RESULTS.md``, "Issue 25: hints that
    stay on their object").

    ``sigma``: how far a hint reaches along a flat region, a share of the photo's longer side;
    ``beta``: the path length one L* unit of an edge is worth (in work pixels);
    ``pull``: the share of the way from the confined colour to the hint's own colour, 0..1."""

    sigma: float = 0.45
    beta: float = 0.6
    pull: float = 0.9

    def __post_init__(self) -> None:
        for name, lo, hi in (("sigma", 1e-3, 10.0), ("beta", 0.0, 1e3), ("pull", 0.0, 1.0)):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not (lo <= float(v) <= hi):
                raise LessonsError(f"hint confinement: {name} must be a number in [{lo:g}, {hi:g}], got {v!r}")

    @classmethod
    def from_value(cls, value: Any) -> "Confinement | None":
        """None/False/"off" -> None; True/"on" -> the defaults; a dict of the fields; a
        Confinement as is. Anything else is refused with what to give."""
        if value is None or value is False or value == "off":
            return None
        if value is True or value == "on":
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {"sigma", "beta", "pull"}
            if unknown:
                raise LessonsError(f"hint confinement: unknown field(s) {sorted(unknown)}; give sigma, beta, pull")
            return cls(**value)
        raise LessonsError(f"hint confinement: give True/'on', False/'off'/None, or a dict of sigma, beta and "
                           f"pull, got {value!r}")

    def to_dict(self) -> dict[str, float]:
        return {"sigma": float(self.sigma), "beta": float(self.beta), "pull": float(self.pull)}


def _work_size(h: int, w: int) -> tuple[int, int]:
    scale = min(1.0, WORK_SIDE / max(h, w))     # a smaller input (the model's 64 px) is used as it is
    return max(1, round(h * scale)), max(1, round(w * scale))


def geodesic_influence(L: torch.Tensor, mask: torch.Tensor, hint_ab: torch.Tensor,
                       conf: Confinement) -> tuple[torch.Tensor, torch.Tensor]:
    """One image: normalised L ``(1, h, w)`` (L/50 - 1), the hint mask ``(1, h, w)`` and the
    hint ab ``(2, h, w)`` at the same size -> ``(G (1, h, w), H (2, h, w))``: the influence of
    the nearest hint in [0, 1] and the hints' colours weighted by their influence (ab units of
    ``hint_ab``); computed at that size, or at :data:`WORK_SIDE` px (the longer side) for a
    larger one and brought back bilinearly."""
    # local: scipy and skimage.graph add ~0.9 s to importing the Colorizer, which only
    # confined hints need
    from scipy import ndimage
    from skimage.graph import MCP_Geometric

    h, w = L.shape[-2:]
    wh, ww = _work_size(h, w)
    Lw = F.interpolate(L[None].float().cpu(), size=(wh, ww), mode="bilinear", align_corners=False,
                       antialias=True)[0, 0].numpy() * 50.0 + 50.0                    # L* 0..100
    grad = np.hypot(ndimage.sobel(Lw, axis=0), ndimage.sobel(Lw, axis=1)) / 8.0         # L* per pixel
    cost = 1.0 + conf.beta * grad
    # hint patches at work size: a hinted pixel stays hinted (max-pool), their colours averaged
    m = F.adaptive_max_pool2d(mask[None].float().cpu(), (wh, ww))[0, 0].numpy() > 0
    ab_w = F.interpolate(hint_ab[None].float().cpu(), size=(wh, ww), mode="area")[0].numpy()
    m_area = F.interpolate(mask[None].float().cpu(), size=(wh, ww), mode="area")[0, 0].numpy()
    labels, n = ndimage.label(m)
    G = np.zeros((wh, ww))
    num = np.zeros((2, wh, ww))
    den = np.zeros((wh, ww))
    side = float(max(wh, ww))
    for i in range(1, n + 1):
        pix = labels == i
        # the hint channels are 0 off the mask: the area means over the patch, divided by the
        # share of it the mask covers, are the hint's own ab
        colour = ab_w[:, pix].sum(axis=1) / max(float(m_area[pix].sum()), 1e-6)
        d, _ = MCP_Geometric(cost).find_costs(list(zip(*np.nonzero(pix))))
        g = np.exp(-(d / side / conf.sigma) ** 2)
        G = np.maximum(G, g)
        num += g[None] * colour[:, None, None]
        den += g
    Hc = num / np.maximum(den, 1e-12)[None]
    back = lambda a: F.interpolate(torch.from_numpy(a).float()[None], size=(h, w), mode="bilinear",  # noqa: E731
                                   align_corners=False)[0]
    return back(G[None]).clamp_(0, 1), back(Hc)


def confine_hints(L: torch.Tensor, hints: torch.Tensor, ab_free: torch.Tensor, ab_hinted: torch.Tensor,
                  conf: Confinement) -> torch.Tensor:
    """The confined colours of a batch: normalised L ``(B, 1, h, w)``, the hint channels
    ``(B, 3, h', w')`` (hint a, hint b, mask; ab / 110), the network's ab without hints and
    with them ``(B, 2, h, w)`` (ab / 110) -> ab ``(B, 2, h, w)`` (see the module docstring).
    An image without hints keeps ``ab_free`` (equal to ``ab_hinted`` for such an image)."""
    if hints.shape[-2:] != L.shape[-2:]:
        hints = F.interpolate(hints.float(), size=L.shape[-2:], mode="nearest")
    out = []
    for b in range(L.shape[0]):
        if not bool((hints[b, 2] > 0).any()):
            out.append(ab_hinted[b])
            continue
        G, H = geodesic_influence(L[b], hints[b, 2:3], hints[b, :2], conf)
        G, H = G.to(ab_free.device), H.to(ab_free.device)
        ab_c = ab_free[b] + G * (ab_hinted[b] - ab_free[b])
        out.append(ab_c + conf.pull * G * (H - ab_c))
    return torch.stack(out)
