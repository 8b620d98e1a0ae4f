"""Colour hints: a user's "this coat was red", as the network sees it, and a simulated user.

Zhang, Zhu, Isola, Geng, Lin, Yu & Efros (SIGGRAPH 2017), "Real-Time User-Guided Image
Colorization with Learned Deep Priors", sec. 3: the colorizer takes, besides L, a sparse
**hint map** - the ab values a user gave at a few pixels, 0 elsewhere - and a binary
**mask** saying where hints are (so that a hint of gray, ab = 0, differs from no hint)::

    G(L, hint_ab, mask) -> ab          input (B, 1 + 2 + 1, H, W): conditioning by concatenation

Training needs users, so they are simulated (sec. 3.3), per image:

* the number of points n ~ Geometric(p = 1/8) on {0, 1, 2, ...}: P(n = k) = p (1 - p)^k, so
  1/8 of the images get no hint at all (the model stays an automatic colorizer) and the mean
  is (1 - p) / p = 7;
* each point is a square patch of side s ~ Uniform{1, ..., 9} px, its centre drawn from a 2-D
  Gaussian around the image centre (sigma = 1/4 of the side: users click on the subject),
  clamped so that the patch lies inside the image;
* the patch carries the **mean true ab over the patch** (a user gives one colour for a small
  region, not a pixel's noise). Where patches overlap, the later one wins.

Everything is batched tensors: :func:`sample_hint_points` draws the points of a batch,
:func:`render_hints` paints them from the true ab (box means from an integral image, so a
batch of 32 with ~220 patches costs one pass), :func:`paint_hints` paints given colours (a
user's). :func:`parse_hint`, :func:`parse_colour` and :func:`load_hints` read a user's
hints (``X,Y,COLOUR``, ``#rrggbb`` or a CSS name, a JSON file) with clear messages.
"""
from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from .. import LessonsError

__all__ = [
    "HINT_P",
    "HINT_MAX_PATCH",
    "HINT_SIGMA",
    "HINT_CHANNELS",
    "HintPoints",
    "Hint",
    "sample_hint_points",
    "render_hints",
    "paint_hints",
    "simulate_hints",
    "no_hints",
    "hint_input",
    "downsample_hints",
    "parse_colour",
    "parse_hint",
    "MAX_HINTS",
    "check_hint_count",
    "check_hints",
    "load_hints",
]

#: Zhang et al. 2017: the number of points is geometric with p = 1/8
HINT_P = 1.0 / 8.0
#: patch sides are uniform in 1..9 px
HINT_MAX_PATCH = 9
#: the centres' Gaussian: sigma = 1/4 of the image side around the centre
HINT_SIGMA = 0.25
#: channels the hints add to the generator's input: hint a, hint b, mask
HINT_CHANNELS = 3
#: the most points one image gets in training (the geometric tail beyond is 0.1 %)
MAX_POINTS = 50
#: the most hints a user gives one photo: far more than a person places by hand (Zhang et al.
#: 2017's users gave a few to a few dozen). :func:`check_hints` enforces it, so the pipeline,
#: the CLI, the demo and its API all refuse a longer list before any work is done.
MAX_HINTS = 500


@dataclass(frozen=True)
class HintPoints:
    """The square patches of a batch, flattened: patch k lies in image ``image[k]``, rows
    ``y[k] .. y[k] + size[k] - 1`` and columns ``x[k] .. x[k] + size[k] - 1`` (top-left
    corner, inside the image). All four are int64 tensors of shape (N,)."""

    image: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor
    size: torch.Tensor

    def __len__(self) -> int:
        return int(self.image.numel())

    def counts(self, batch: int) -> torch.Tensor:
        """The number of patches of each image: (batch,) int64."""
        return torch.bincount(self.image, minlength=batch)


def _check_prob(p: float) -> float:
    p = float(p)
    if not 0.0 < p <= 1.0:
        raise LessonsError(f"the geometric parameter p must be in (0, 1] (Zhang et al.: 1/8), got {p}")
    return p


def sample_hint_points(batch: int, height: int, width: int, *, p: float = HINT_P, max_patch: int = HINT_MAX_PATCH,
                       sigma: float = HINT_SIGMA, count: int | None = None, max_points: int = MAX_POINTS,
                       generator: torch.Generator | None = None) -> HintPoints:
    """Draw the hint patches of a batch of ``batch`` images of ``height x width`` (module docstring).

    Args:
        p: the geometric distribution's parameter (P(no hint) = p; mean (1 - p) / p points).
        max_patch: patch sides are uniform in 1..max_patch (capped at the image's side).
        sigma: the centres' standard deviation as a fraction of the side (None-like 0 puts
            every point at the centre; a large value tends to uniform after clamping).
        count: every image gets exactly ``count`` points instead (the PSNR-against-hints curve).
        max_points: the geometric draw is capped here.
        generator: a ``torch.Generator`` (on the CPU) for reproducible draws; None uses torch's.
    Returns a :class:`HintPoints` on the CPU.
    """
    if batch < 0 or height < 1 or width < 1:
        raise ValueError(f"need batch >= 0 and a positive size, got batch={batch}, {height}x{width}")
    if count is None:
        p = _check_prob(p)
        u = torch.rand(batch, generator=generator, dtype=torch.float64)
        if p >= 1.0:
            n = torch.zeros(batch, dtype=torch.long)
        else:
            # inverse CDF of the geometric law on {0, 1, ...}: P(n >= k) = (1 - p)^k
            n = torch.floor(torch.log1p(-u) / math.log1p(-p)).long()
        n = n.clamp_(0, max_points)
    else:
        if int(count) < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        n = torch.full((batch,), int(count), dtype=torch.long)
    image = torch.repeat_interleave(torch.arange(batch), n)                     # (N,)
    N = image.numel()
    top = max(1, min(int(max_patch), height, width))
    size = torch.randint(1, top + 1, (N,), generator=generator)                 # (N,) in 1..top
    cy = height / 2.0 + sigma * height * torch.randn(N, generator=generator, dtype=torch.float64)
    cx = width / 2.0 + sigma * width * torch.randn(N, generator=generator, dtype=torch.float64)
    # top-left corner from the centre, clamped so that the whole patch is inside
    y = (cy - size / 2.0 + 0.5).floor().long().clamp_(min=0)     # nearest corner: no half-pixel drift
    x = (cx - size / 2.0 + 0.5).floor().long().clamp_(min=0)
    y = torch.minimum(y, height - size)
    x = torch.minimum(x, width - size)
    return HintPoints(image=image, y=y, x=x, size=size)


def _box_means(ab: torch.Tensor, pts: HintPoints) -> torch.Tensor:
    """The mean of ``ab`` (B, C, H, W) over each patch: (N, C), from an integral image."""
    B, C, H, W = ab.shape
    ii = torch.zeros(B, C, H + 1, W + 1, dtype=torch.float64, device=ab.device)
    ii[:, :, 1:, 1:] = ab.double().cumsum(2).cumsum(3)
    dev = ab.device
    b, y0, x0, s = (t.to(dev) for t in (pts.image, pts.y, pts.x, pts.size))
    y1, x1 = y0 + s, x0 + s
    total = ii[b, :, y1, x1] - ii[b, :, y0, x1] - ii[b, :, y1, x0] + ii[b, :, y0, x0]  # (N, C)
    return (total / (s * s).unsqueeze(1).double()).to(ab.dtype)


def paint_hints(pts: HintPoints, values: torch.Tensor, batch: int, height: int, width: int, *,
                device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Paint given values on the patches: ``values`` (N, 2) normalised ab (ab / 110), one row
    per patch. Returns ``(hint_ab (B, 2, H, W), mask (B, 1, H, W))``; where patches overlap
    the later one wins."""
    dev = torch.device(device) if device is not None else values.device
    N = len(pts)
    if values.shape != (N, 2):
        raise ValueError(f"values must have shape (N, 2) = ({N}, 2), one ab pair per patch, got {tuple(values.shape)}")
    if N == 0:
        return (torch.zeros(batch, 2, height, width, dtype=dtype, device=dev),
                torch.zeros(batch, 1, height, width, dtype=dtype, device=dev))
    b, y0, x0, s = (t.to(dev) for t in (pts.image, pts.y, pts.x, pts.size))
    # Each patch lists only its own pixels: an (N, M, M) grid of offsets, M the largest side,
    # of which the first size[k] x size[k] belong to patch k. The cost is N * M^2 (the patches),
    # plus one pass over the image for the owner map, never N times the image.
    M = int(s.max())
    off = torch.arange(M, device=dev)
    inside = (off[None, :, None] < s[:, None, None]) & (off[None, None, :] < s[:, None, None])  # (N, M, M)
    rows = (y0[:, None, None] + off[None, :, None]).clamp_(max=height - 1)    # (N, M, 1)
    cols = (x0[:, None, None] + off[None, None, :]).clamp_(max=width - 1)     # (N, 1, M)
    flat = (b[:, None, None] * height + rows) * width + cols                  # (N, M, M) pixel index
    order = torch.arange(1, N + 1, device=dev)[:, None, None].expand(N, M, M)  # k + 1: the later wins
    owner = torch.zeros(batch * height * width, dtype=torch.long, device=dev)
    owner.scatter_reduce_(0, flat[inside], order[inside], "amax")             # last patch wins
    owner = owner.view(batch, height, width)
    hit = owner > 0
    vals = values.to(dev, dtype)[(owner - 1).clamp_(min=0)]                     # (B, H, W, 2)
    hint = (vals.permute(0, 3, 1, 2) * hit[:, None]).contiguous()
    mask = hit[:, None].to(dtype)
    return hint, mask


def render_hints(ab: torch.Tensor, pts: HintPoints) -> tuple[torch.Tensor, torch.Tensor]:
    """The hints a simulated user gives: each patch carries the mean of the true ``ab``
    (B, 2, H, W) over it. Returns ``(hint_ab, mask)`` like :func:`paint_hints`."""
    if ab.dim() != 4 or ab.shape[1] != 2:
        raise ValueError(f"ab must have shape (B, 2, H, W), got {tuple(ab.shape)}")
    B, _, H, W = ab.shape
    return paint_hints(pts, _box_means(ab, pts), B, H, W, device=ab.device, dtype=ab.dtype)


def simulate_hints(ab: torch.Tensor, *, p: float = HINT_P, max_patch: int = HINT_MAX_PATCH,
                   sigma: float = HINT_SIGMA, count: int | None = None,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Zhang et al. 2017's simulated user on a batch of true ab (B, 2, H, W): draw the
    points (:func:`sample_hint_points`) and paint their patch means (:func:`render_hints`)."""
    B, _, H, W = ab.shape
    pts = sample_hint_points(B, H, W, p=p, max_patch=max_patch, sigma=sigma, count=count, generator=generator)
    return render_hints(ab, pts)


def no_hints(L: torch.Tensor) -> torch.Tensor:
    """The empty hint channels for a normalised L (B, 1, H, W): zeros (B, 3, H, W)."""
    return torch.zeros(L.shape[0], HINT_CHANNELS, *L.shape[2:], dtype=L.dtype, device=L.device)


def hint_input(L: torch.Tensor, hint_ab: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
    """What a hint generator reads: ``[L, hint_a, hint_b, mask]`` (B, 4, H, W); no hints = zeros."""
    if hint_ab is None:
        return torch.cat([L, no_hints(L)], dim=1)
    if mask is None:
        raise ValueError("hint_input needs the mask with the hint ab (where the hints are)")
    return torch.cat([L, hint_ab.to(L.dtype), mask.to(L.dtype)], dim=1)


def downsample_hints(hints: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Hint channels ``(B, 3, H, W)`` ([a, b, mask]) at another size: each output pixel
    gets the mean hint of the hinted input pixels it covers, and mask 1 if it covers any
    (plain interpolation would dilute a 1-px hint into a faint one)."""
    import torch.nn.functional as F

    if hints.dim() != 4 or hints.shape[1] != HINT_CHANNELS:
        raise ValueError(f"hints must have shape (B, 3, H, W) (hint a, hint b, mask), got {tuple(hints.shape)}")
    if tuple(hints.shape[-2:]) == tuple(size):
        return hints
    ab, mask = hints[:, :2], (hints[:, 2:] > 0).to(hints.dtype)
    cover = F.adaptive_avg_pool2d(mask, size)                                   # share of hinted pixels
    mean_ab = F.adaptive_avg_pool2d(ab * mask, size) / cover.clamp_min(1e-12)
    hit = (cover > 0).to(hints.dtype)
    return torch.cat([mean_ab * hit, hit], dim=1)


# =========================================================================== a user's hints
@dataclass(frozen=True)
class Hint:
    """One hint of a user: the pixel (x, y) of the input image (x to the right, y down,
    from 0) and the colour it should have, 8-bit RGB."""

    x: float
    y: float
    rgb: tuple[int, int, int]

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "color": self.hex}


def parse_colour(text: Any) -> tuple[int, int, int]:
    """``#rrggbb``, ``#rgb``, ``rgb(r, g, b)`` or a CSS colour name -> 8-bit RGB."""
    from PIL import ImageColor

    if isinstance(text, (tuple, list)) and len(text) == 3:
        try:
            rgb = tuple(int(v) for v in text)
        except (TypeError, ValueError):
            rgb = ()
        if len(rgb) == 3 and all(0 <= v <= 255 for v in rgb):
            return rgb  # type: ignore[return-value]
        raise LessonsError(f"a colour as numbers must be three integers 0-255 (R, G, B), got {list(text)!r}")
    if not isinstance(text, str) or not text.strip():
        raise LessonsError(f"a hint colour must be '#rrggbb' or a CSS colour name (e.g. red, navy), got {text!r}")
    try:
        rgb = ImageColor.getrgb(text.strip())
    except ValueError:
        raise LessonsError(f"unknown colour {text!r}: give '#rrggbb' (e.g. #c0392b) or a CSS colour name "
                           "(e.g. red, navy, forestgreen)") from None
    return tuple(int(v) for v in rgb[:3])  # type: ignore[return-value]


def _coordinate(value: Any, what: str, limit: int | None, source: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LessonsError(f"{source}: {what} must be a number of pixels, got {value!r}") from None
    if not math.isfinite(v):
        raise LessonsError(f"{source}: {what} must be a finite number of pixels, got {value!r}")
    if limit is not None and not 0 <= v < limit:
        side = "width" if what == "x" else "height"
        raise LessonsError(f"{source}: {what} = {v:g} is outside the image ({side} {limit} px: "
                           f"{what} must be in 0..{limit - 1})")
    return v


def parse_hint(text: str, size: tuple[int, int] | None = None) -> Hint:
    """``"X,Y,COLOUR"`` (pixels of the input image, colour as :func:`parse_colour`) -> a
    :class:`Hint`; with ``size = (width, height)`` the point must lie inside the image."""
    if not isinstance(text, str):
        raise LessonsError(f"a hint is X,Y,COLOUR (e.g. 120,80,#c0392b or 120,80,red), got {text!r}")
    parts = [s.strip() for s in text.split(",", 2)]
    if len(parts) != 3 or not all(parts):
        raise LessonsError(f"hint {text!r}: write it as X,Y,COLOUR, e.g. 120,80,#c0392b or 120,80,red "
                           "(X, Y in pixels of the input image)")
    w, h = size if size is not None else (None, None)
    src = f"hint {text!r}"
    return Hint(_coordinate(parts[0], "x", w, src), _coordinate(parts[1], "y", h, src), _colour_in(parts[2], src))


def _colour_in(value: Any, source: str) -> tuple[int, int, int]:
    try:
        return parse_colour(value)
    except LessonsError as e:
        raise LessonsError(f"{source}: {e}") from None


def check_hint_count(count: int, more: bool = False) -> None:
    """Refuse more than :data:`MAX_HINTS` hints for one photo (``more``: at least ``count``)."""
    if count > MAX_HINTS:
        got = f"more than {MAX_HINTS}" if more else f"{count}"
        raise LessonsError(f"too many hints: {got} given, the limit is {MAX_HINTS} per photo "
                           "(a person places a few dozen at most; drop some and try again)")


def check_hints(hints: Iterable[Any], size: tuple[int, int] | None = None, source: str = "hint") -> list[Hint]:
    """Hints in any accepted shape (:class:`Hint`, ``"X,Y,COLOUR"``, ``{"x", "y", "color"}``,
    ``(x, y, colour)``) -> a list of :class:`Hint`, each checked against ``size = (w, h)``.
    More than :data:`MAX_HINTS` are refused (:func:`check_hint_count`) before any is read."""
    w, h = size if size is not None else (None, None)
    if hasattr(hints, "__len__"):
        check_hint_count(len(hints))  # type: ignore[arg-type]
    else:  # an iterator: read one past the limit, never the whole of an endless one
        hints = list(itertools.islice(hints, MAX_HINTS + 1))
        check_hint_count(len(hints), more=True)
    out: list[Hint] = []
    for i, item in enumerate(hints):
        where = f"{source} {i + 1}"
        if isinstance(item, Hint):
            out.append(Hint(_coordinate(item.x, "x", w, where), _coordinate(item.y, "y", h, where),
                            _colour_in(item.rgb, where)))
        elif isinstance(item, str):
            out.append(parse_hint(item, size))
        elif isinstance(item, dict):
            unknown = set(item) - {"x", "y", "color", "colour"}
            if unknown or not {"x", "y"} <= set(item) or not ({"color", "colour"} & set(item)):
                raise LessonsError(f"{where}: a hint is an object with keys x, y and color "
                                   f'(e.g. {{"x": 120, "y": 80, "color": "#c0392b"}}), got {item!r}')
            colour = item.get("color", item.get("colour"))
            out.append(Hint(_coordinate(item["x"], "x", w, where), _coordinate(item["y"], "y", h, where),
                            _colour_in(colour, where)))
        elif isinstance(item, (list, tuple)) and len(item) == 3:
            out.append(Hint(_coordinate(item[0], "x", w, where), _coordinate(item[1], "y", h, where),
                            _colour_in(item[2], where)))
        else:
            raise LessonsError(f"{where}: a hint is X,Y,COLOUR or {{\"x\", \"y\", \"color\"}}, got {item!r}")
    return out


def load_hints(path: str | os.PathLike, size: tuple[int, int] | None = None) -> list[Hint]:
    """Read a hints file: a JSON list of ``{"x": 120, "y": 80, "color": "#c0392b"}`` (or an
    object with such a list under ``"hints"``), what the demo's "download hints" writes."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LessonsError(f"no hints file at {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LessonsError(f"cannot read the hints file {p}: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise LessonsError(f"the hints file {p} is not valid JSON ({e.msg} at line {e.lineno}); it must hold a "
                           'list like [{"x": 120, "y": 80, "color": "#c0392b"}]') from None
    if isinstance(data, dict) and "hints" in data:
        data = data["hints"]
    if not isinstance(data, list):
        raise LessonsError(f"the hints file {p} must hold a JSON list of hints (or {{\"hints\": [...]}}), "
                           f"got a {type(data).__name__}")
    try:
        check_hint_count(len(data))
    except LessonsError as e:
        raise LessonsError(f"the hints file {p}: {e}") from None
    return check_hints(data, size, source=f"{p.name}: hint")

