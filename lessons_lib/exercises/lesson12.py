"""Lesson 12's exercise: the simulated user of Zhang, Zhu et al. 2017 (sec. 3.3), which
trains a colorizer to take hints.

The student writes ``simulate_user(ab, generator) -> (hint_ab, mask)``: for each image of
the batch ab (B, 2, H, W), a number of points n ~ Geometric(1/8) on {0, 1, ...}, each a
square patch of side uniform in 1..9 px, centred near the image centre (Gaussian, sigma =
H/4), carrying the mean of ab over the patch; mask (B, 1, H, W) is 1 on the patches.

The output is random, so the check judges what any correct simulator must show, on a
batch of 3,000 images whose ab is noise (a patch's mean then differs from any one pixel):
the shapes; hint ab is 0 off the mask; the share of images without a hint (1/8); on the
images that got one square, its side (1..9, mean 5) and its value (the patch mean); that a
lone patch is never cut by the border (clamped inside); that the patches' centres spread as
the reference's (sigma = H/4); that hints gather near the centre; the pixels covered per
image against the reference simulator, in mean and in distribution (a Kolmogorov-Smirnov
test, which the law of the number of points shapes); and that the same generator seed gives
the same hints.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ..data.hints import HINT_MAX_PATCH, HINT_P, paint_hints, render_hints, sample_hint_points, simulate_hints
from ._core import Result, run_student

__all__ = ["check_hint_simulator"]

_EXERCISE = "the simulated user (Zhang et al. 2017)"
_B, _S = 3000, 32
#: the KS distance two samples of 3,000 from one law exceed with probability about 1e-4
_KS_LIMIT = 0.065


def _single_rectangles(mask: torch.Tensor) -> list[tuple[int, int, int, int, int]]:
    """(image, y0, x0, height, width) of the images whose mask is exactly one filled rectangle."""
    out = []
    m = mask[:, 0] > 0
    rows, cols = m.any(2), m.any(1)                                   # (B, H), (B, W)
    for i in torch.nonzero(m.flatten(1).any(1)).flatten().tolist():
        ys = torch.nonzero(rows[i]).flatten()
        xs = torch.nonzero(cols[i]).flatten()
        h, w = int(ys[-1] - ys[0] + 1), int(xs[-1] - xs[0] + 1)
        if int(m[i].sum()) == h * w:
            out.append((i, int(ys[0]), int(xs[0]), h, w))
    return out


def _single_squares(mask: torch.Tensor) -> list[tuple[int, int, int, int]]:
    """(image, y0, x0, side) of the images whose mask is exactly one filled square."""
    return [(i, y0, x0, h) for i, y0, x0, h, w in _single_rectangles(mask) if h == w]


def _centre_spread(singles: list[tuple[int, int, int, int]]) -> float:
    """The standard deviation of the single squares' centres (both axes pooled), in px."""
    c = torch.tensor([[y0 + s / 2, x0 + s / 2] for _, y0, x0, s in singles], dtype=torch.float64)
    return float((c - c.mean(0)).pow(2).mean().sqrt())


def _reference_spread(n: int = 40000) -> float:
    """The same spread for the reference's one-point images (a seeded draw, no ab needed)."""
    pts = sample_hint_points(n, _S, _S, count=1, generator=torch.Generator().manual_seed(3))
    c = torch.stack([pts.y + pts.size / 2, pts.x + pts.size / 2], 1).double()
    return float((c - c.mean(0)).pow(2).mean().sqrt())


def _ks(a: torch.Tensor, b: torch.Tensor) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    a, b = a.double().sort().values, b.double().sort().values
    grid = torch.cat([a, b]).unique()
    fa = torch.searchsorted(a, grid, right=True).double() / a.numel()
    fb = torch.searchsorted(b, grid, right=True).double() / b.numel()
    return float((fa - fb).abs().max())


def _form_problem(out: Any) -> str | None:
    """What is wrong with the form of the answer (two tensors of the right shapes, a 0/1 mask,
    hint ab 0 off the mask); None when the form is right."""
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        return "return two tensors: (hint_ab, mask)."
    hint, mask = out
    if tuple(hint.shape) != (_B, 2, _S, _S) or tuple(mask.shape) != (_B, 1, _S, _S):
        return (f"for ab of shape {(_B, 2, _S, _S)} return hint_ab of the same shape and "
                f"mask of shape {(_B, 1, _S, _S)}; got {tuple(hint.shape)} and {tuple(mask.shape)}.")
    hint, mask = hint.float(), mask.float()
    if not bool(((mask == 0) | (mask == 1)).all()):
        return "the mask must be 0 (no hint) or 1 (a hint), nothing else."
    if float((hint * (1 - mask)).abs().max()) > 1e-6:
        return ("hint_ab must be 0 wherever the mask is 0: the network reads 0 as "
                "'no hint here' only together with the mask.")
    return None


def _no_hint_share_hints(empty: float) -> list[str]:
    """1) P(no hint) = p = 1/8 for a geometric law on {0, 1, ...}; ``empty`` is the measured share."""
    tol = 4 * math.sqrt(HINT_P * (1 - HINT_P) / _B)
    if abs(empty - HINT_P) <= tol:
        return []
    if empty < 0.02:
        return [f"only {empty:.1%} of the images got no hint; the geometric law starts at 0 "
                f"(P(n = 0) = p = 1/8): the model must also learn to colorize alone."]
    return [f"{empty:.1%} of the images got no hint, the geometric law with p = 1/8 gives "
            f"{HINT_P:.1%}: n = floor(log(U) / log(1 - p)) for U uniform in (0, 1)."]


def _single_patch_hints(ab: torch.Tensor, hint: torch.Tensor, singles: list[tuple[int, int, int, int]]) -> list[str]:
    """2) the images with exactly one square: how many, its side and its value (the patch mean)."""
    if len(singles) < 150:
        return [f"only {len(singles)} of {_B} images hold a single square patch; P(n = 1) = p (1 - p) = "
                f"{HINT_P * (1 - HINT_P):.1%} should give about {round(_B * HINT_P * (1 - HINT_P))}. "
                "Is each hint a filled square?"]
    hints = []
    sides = torch.tensor([s for *_, s in singles], dtype=torch.float64)
    if int(sides.min()) < 1 or int(sides.max()) > HINT_MAX_PATCH or int(sides.max()) < HINT_MAX_PATCH - 1:
        hints.append(f"the patch sides run from {int(sides.min())} to {int(sides.max())} px; draw them "
                     f"uniformly in 1..{HINT_MAX_PATCH} (torch.randint(1, 10, ...)).")
    elif abs(float(sides.mean()) - (1 + HINT_MAX_PATCH) / 2) > 0.6:
        hints.append(f"the mean patch side is {float(sides.mean()):.2f} px; uniform in 1..{HINT_MAX_PATCH} "
                     f"gives {(1 + HINT_MAX_PATCH) / 2:.0f}.")
    bad = 0
    centre_like = 0
    for i, y0, x0, s in singles:
        want = ab[i, :, y0:y0 + s, x0:x0 + s].mean(dim=(1, 2))
        got = hint[i, :, y0:y0 + s, x0:x0 + s]
        if float((got - want[:, None, None]).abs().max()) > 1e-4:
            bad += 1
            c = ab[i, :, y0 + s // 2, x0 + s // 2]
            if s > 1 and float((got - c[:, None, None]).abs().max()) < 1e-4:
                centre_like += 1
    if bad > 0.02 * len(singles):
        if centre_like > bad / 2:
            hints.append("each patch carries the colour of its centre pixel; it must carry the MEAN true ab "
                         "over the patch (a user gives one colour for a small region).")
        else:
            hints.append(f"on {bad} of {len(singles)} single-patch images the hint is not the mean of ab over "
                         "the patch: fill the whole square with ab[b, :, y0:y0+s, x0:x0+s].mean((1, 2)).")
    return hints


def _central_share(mask: torch.Tensor) -> float:
    """The share of the hinted pixels (over all images) that lie in the central square of half the side."""
    cover = mask.sum(0)[0]                                             # (H, W) hinted images per pixel
    q = _S // 4
    return float(cover[q:_S - q, q:_S - q].sum() / cover.sum().clamp_min(1))


def _placement_hints(mask: torch.Tensor, singles: list[tuple[int, int, int, int]], central: float) -> list[str]:
    """Where the patches lie: inside the image (2b), their centres' Gaussian (2c), near the middle (3)."""
    hints = []
    # 2b) a patch lies wholly inside the image (its corner is clamped): a lone patch is a square,
    #     never a square cut by the border
    cut = [r for r in _single_rectangles(mask) if r[3] != r[4]]
    if len(cut) > 0.02 * max(1, len(singles) + len(cut)):
        hints.append(f"{len(cut)} images hold a single patch cut by the border into a {cut[0][3]}x{cut[0][4]} "
                     "rectangle: clamp the corner so that the whole s x s patch lies inside the image "
                     "(y0 = min(max(y0, 0), H - s)), as the simulated user of the paper does.")
    # 2c) the centres' Gaussian: sigma = H/4 around the centre (the spread of lone squares' centres,
    #     against the reference's on many draws; 4 standard errors)
    if len(singles) >= 150:
        spread, want = _centre_spread(singles), _reference_spread()
        if abs(spread - want) > 4 * want / math.sqrt(4 * len(singles)):
            hints.append(f"the centres of the patches spread {spread:.2f} px around their mean, the reference's "
                         f"{want:.2f} px: draw the centre from a Gaussian of sigma = H/4 ({_S / 4:.0f} px here) "
                         "around the image centre, then clamp the patch inside.")
    # 3) the centres favour the middle: the central quarter of the area holds about half the hints
    if central < 0.35:
        hints.append(f"only {central:.0%} of the hinted pixels lie in the central square (half the side); a "
                     "Gaussian around the centre with sigma = H/4 puts about half there: users click on the subject.")
    return hints


def _coverage_hints(mask: torch.Tensor, ref_mask: torch.Tensor, singles: list[tuple[int, int, int, int]]
                    ) -> list[str]:
    """4) the pixels covered per image, against the reference simulator on the same images: the
    mean, and the whole distribution (a two-sample Kolmogorov-Smirnov test), which the law of
    the number of points shapes far beyond P(n = 0); then the count of one-patch images.
    The first failure is the hint."""
    got_cov, ref_cov = float(mask.mean()) * _S * _S, float(ref_mask.mean()) * _S * _S
    if abs(got_cov - ref_cov) > 0.12 * ref_cov:
        return [f"your hints cover {got_cov:.0f} pixels per image, the reference {ref_cov:.0f}: the mean "
                "number of points is (1 - p) / p = 7 and the patches are 1-9 px squares inside the image."]
    ks = _ks(mask.flatten(1).sum(1), ref_mask.flatten(1).sum(1))
    if ks > _KS_LIMIT:
        return [f"the number of pixels your hints cover per image is distributed unlike the reference's "
                f"(Kolmogorov-Smirnov distance {ks:.3f} > {_KS_LIMIT}): the number of points must be "
                "geometric on {0, 1, 2, ...}, P(n = k) = p (1 - p)^k, not only right at n = 0."]
    if len(singles) < 4 * _B * HINT_P * (1 - HINT_P) / 5:
        return [f"{len(singles)} images hold a single patch, P(n = 1) = p (1 - p) gives about "
                f"{_B * HINT_P * (1 - HINT_P):.0f}: the number of points is geometric on {{0, 1, 2, ...}}."]
    return []


def _seed_hints(fn: Callable[..., Any], ab: torch.Tensor, forbid: list) -> tuple[list[str], Result | None]:
    """5) the generator drives the draw: the same seed gives the same hints, another seed others.
    ``(hints, verdict)``: a verdict when the student's function failed to run."""
    again, verdict = run_student(_EXERCISE, fn, ab[:200].clone(), torch.Generator().manual_seed(0), forbid=forbid)
    if verdict is not None:
        return [], verdict
    other, _ = run_student(_EXERCISE, fn, ab[:200].clone(), torch.Generator().manual_seed(5), forbid=forbid)
    first, _ = run_student(_EXERCISE, fn, ab[:200].clone(), torch.Generator().manual_seed(0), forbid=forbid)
    if first is None or not torch.equal(again[1], first[1]):
        return ["two calls with generators of the same seed gave different hints: draw every random "
                "number from `generator` (torch.rand(..., generator=generator))."], None
    if other is not None and torch.equal(other[1], first[1]):
        return ["generators of different seeds gave the same hints: the draw must come from `generator`."], None
    return [], None


def check_hint_simulator(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> Result:
    """Lesson 12: ``fn(ab, generator) -> (hint_ab, mask)``, Zhang et al.'s simulated user
    (module docstring). Checked statistically on 3,000 noise images of 32 x 32 against
    :func:`lessons_lib.data.hints.simulate_hints`, which may not be called."""
    g = torch.Generator().manual_seed(12)
    ab = torch.rand(_B, 2, _S, _S, generator=g) * 1.6 - 0.8            # noise: a patch mean is no pixel's value
    forbid = [simulate_hints, sample_hint_points, render_hints, paint_hints]
    out, verdict = run_student(_EXERCISE, fn, ab.clone(), torch.Generator().manual_seed(0), forbid=forbid)
    if verdict is not None:
        return verdict
    problem = _form_problem(out)
    if problem is not None:
        return Result(_EXERCISE, False, [problem])
    hint, mask = out[0].float(), out[1].float()
    empty = float((mask.flatten(1).sum(1) == 0).float().mean())
    singles = _single_squares(mask)
    central = _central_share(mask)
    hints = (_no_hint_share_hints(empty) + _single_patch_hints(ab, hint, singles)
             + _placement_hints(mask, singles, central))
    ref_mask = simulate_hints(ab, generator=torch.Generator().manual_seed(1))[1]
    if not hints:
        hints = _coverage_hints(mask, ref_mask, singles)
    if not hints:
        hints, verdict = _seed_hints(fn, ab, forbid)
        if verdict is not None:
            return verdict
    if hints:
        return Result(_EXERCISE, False, hints)
    got_cov, ref_cov = float(mask.mean()) * _S * _S, float(ref_mask.mean()) * _S * _S
    return Result(_EXERCISE, True, detail=(
        f"{empty:.1%} of {_B} images without a hint (1/8 = 12.5 %), {len(singles)} single patches with the right "
        f"sides and means, {central:.0%} of the hinted pixels in the central square, {got_cov:.0f} px covered per "
        f"image (reference {ref_cov:.0f})"))
