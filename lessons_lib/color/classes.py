"""Colour classes: the ab plane as Q bins (Zhang, Isola & Efros 2016, "Colorful Image
Colorization", sec. 2.1-2.2), the class-rebalancing weights and the annealed-mean decoding.

A regression colorizer trained with L1 or L2 paints the median or mean of the plausible
colours of a pixel: pale, sepia where a bird could be red or green. Zhang et al. predict
instead a *distribution* over the quantised ab gamut and decode it at will.

* **Bins.** The ab plane is cut on a grid of side ``GRID = 10`` (Lab units): bin (i, j) has
  its centre at ``(a, b) = (10 i, 10 j)``, i, j in -11..11. The paper keeps the Q = 313
  bins in the sRGB gamut; here the bins are the ones that *occur* in the kit's training
  photos (:meth:`ColourClasses.from_histogram`), a data-derived gamut.
* **Soft encoding** (sec. 2.1): the target of a pixel of colour y is spread over its
  ``k = 5`` nearest bin centres c_q with weights ``exp(-|y - c_q|^2 / (2 sigma^2))``,
  sigma = 5, normalised to sum 1 (:func:`soft_encode`).
* **Class rebalancing** (eq. 3-4): the loss of a pixel is multiplied by
  ``w_q* ~ ((1 - lambda) p~_q* + lambda / Q)^-1``, q* its nearest bin, p~ the empirical
  prior over the bins smoothed by a Gaussian (sigma 5), lambda = 1/2, and w normalised so
  that ``E_p~[w] = sum_q p~_q w_q = 1`` (:func:`rebalancing_weights`). Without it the
  common low-saturation bins (sky, walls, ground) dominate the cross-entropy.
* **Annealed mean** (eq. 5): ``f_T(z) = exp(log z / T) / sum_q exp(log z_q / T)`` and the
  colour is the mean of the bin centres under f_T: T = 1 is the distribution's mean (the
  best PSNR, pale), T -> 0 its mode (vivid, spotty), T = 0.38 in the paper
  (:func:`annealed_mean`). From logits, ``log z = logits - logsumexp``, and the constant
  cancels: ``f_T = softmax(logits / T)``.
* **Prior correction** (the kit's, measured in issue 25). The minimiser of a cross-entropy
  weighted by ``w_q*`` is not the colour posterior p(q | x) but ``p(q | x) w_q``, normalised:
  the rebalanced head over-predicts every rare colour, at every T. Subtracting
  ``alpha log w_q`` from the logits before decoding (:func:`correct_logits`) undoes a share
  alpha of the rebalancing: alpha = 0 decodes the head as trained (Zhang et al.), alpha = 1
  the posterior of the unweighted loss (the best PSNR). This is post-hoc logit adjustment
  (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021, eq. 10, there to
  *add* rare classes; here the other way). On the kit's select set it is the second knob
  that puts the head above the gray input (``benchmarks/RESULTS.md``, "Issue 25").

Everything here is a pure tensor function; the losses are in
:mod:`lessons_lib.losses.classes`, the prior is measured on data by
:func:`lessons_lib.colorization.tasks.colour_histogram`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import LessonsError

__all__ = ["GRID", "GRID_HALF", "SIGMA", "NEIGHBOURS", "LAMBDA", "PAPER_TEMPERATURE", "grid_index",
           "grid_histogram", "grid_centres", "smooth_prior", "rebalancing_weights", "soft_encode",
           "nearest_bin", "annealed_distribution", "annealed_mean", "check_correction", "correct_logits",
           "decode_classes",
           "setting_name", "ColourClasses"]

#: side of an ab bin, Lab units (Zhang et al. 2016: 10)
GRID = 10.0
#: bin centres at 10 i, i in -GRID_HALF..GRID_HALF: |a|, |b| <= 110 (the kit's AB_SCALE)
GRID_HALF = 11
#: the Gaussian of the soft encoding and of the prior's smoothing, Lab units (paper: 5)
SIGMA = 5.0
#: bins a target is spread over (paper: 5)
NEIGHBOURS = 5
#: weight of the uniform distribution in the rebalancing mix (paper: 1/2)
LAMBDA = 0.5
#: the paper's decoding temperature
PAPER_TEMPERATURE = 0.38


def grid_index(ab: torch.Tensor, grid: float = GRID) -> torch.Tensor:
    """ab in Lab units ``(B, 2, H, W)`` -> the flat index of its grid cell ``(B, H, W)``
    on the (2 GRID_HALF + 1)^2 grid (cells outside |a|, |b| <= 110 are clamped to the edge)."""
    n = 2 * GRID_HALF + 1
    ij = torch.round(ab / grid).long().clamp_(-GRID_HALF, GRID_HALF) + GRID_HALF   # (B, 2, H, W)
    return ij[:, 0] * n + ij[:, 1]                                                   # (B, H, W)


def grid_histogram(ab: torch.Tensor, grid: float = GRID) -> torch.Tensor:
    """Pixel counts per grid cell, float64 ``((2 GRID_HALF + 1)^2,)``, of ab ``(B, 2, H, W)``."""
    n = 2 * GRID_HALF + 1
    return torch.bincount(grid_index(ab, grid).flatten().cpu(), minlength=n * n).double()


def grid_centres(grid: float = GRID) -> torch.Tensor:
    """The centres of every grid cell ``((2 GRID_HALF + 1)^2, 2)`` (a, b), Lab units, in the
    order of :func:`grid_index`."""
    r = torch.arange(-GRID_HALF, GRID_HALF + 1, dtype=torch.float64) * grid
    a, b = torch.meshgrid(r, r, indexing="ij")
    return torch.stack([a.flatten(), b.flatten()], dim=1)


def smooth_prior(centres: torch.Tensor, prior: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """The prior ``(Q,)`` over bins at ``centres (Q, 2)`` smoothed by a Gaussian of ``sigma``
    (Lab units): each bin's mass is spread over the bins by ``exp(-d^2 / (2 sigma^2))``
    (normalised per source bin), so the result still sums to 1. sigma = 0: unchanged."""
    prior = prior.double() / prior.double().sum()
    if sigma <= 0:
        return prior
    d2 = torch.cdist(centres.double(), centres.double()) ** 2                     # (Q, Q)
    k = torch.exp(-d2 / (2.0 * sigma * sigma))
    k = k / k.sum(dim=0, keepdim=True)                                              # columns sum to 1
    return k @ prior


def rebalancing_weights(smoothed: torch.Tensor, lam: float = LAMBDA) -> torch.Tensor:
    """Zhang et al. eq. 4: ``w ~ ((1 - lam) p~ + lam / Q)^-1``, scaled so ``sum_q p~_q w_q = 1``."""
    if not 0.0 <= lam <= 1.0:
        raise LessonsError(f"lambda mixes the prior with the uniform distribution, in [0, 1] (paper 0.5), got {lam}")
    p = smoothed.double() / smoothed.double().sum()
    q = p.numel()
    w = 1.0 / ((1.0 - lam) * p + lam / q)
    if not torch.isfinite(w).all():
        raise LessonsError("lambda = 0 with a bin of prior 0 gives an infinite weight; use lambda > 0")
    return w / (p * w).sum()


def nearest_bin(ab: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """ab ``(B, 2, H, W)`` -> the index of the nearest bin centre ``(B, H, W)``."""
    return soft_encode(ab, centres, k=1)[0][:, 0]


def soft_encode(ab: torch.Tensor, centres: torch.Tensor, k: int = NEIGHBOURS, sigma: float = SIGMA,
                chunk: int = 1 << 15) -> tuple[torch.Tensor, torch.Tensor]:
    """The soft-encoded target of Zhang et al. sec. 2.1, kept sparse.

    Args:
        ab: true colours ``(B, 2, H, W)``, Lab units.
        centres: the bins' centres ``(Q, 2)``, Lab units.
        k: nearest bins per pixel (paper 5; 1 = hard encoding).
        sigma: Gaussian width, Lab units (paper 5).
    Returns ``(index, weight)``, each ``(B, k, H, W)``: the k nearest bins of each pixel,
    nearest first, and ``exp(-d^2 / (2 sigma^2))`` normalised to sum 1 over the k (the dense
    target would be Q channels; k of them are non-zero).
    """
    if ab.dim() != 4 or ab.shape[1] != 2:
        raise ValueError(f"ab must be (B, 2, H, W), got {tuple(ab.shape)}")
    q = centres.shape[0]
    if not 1 <= k <= q:
        raise ValueError(f"k must be in 1..{q} (the number of bins), got {k}")
    B, _, H, W = ab.shape
    pts = ab.detach().float().permute(0, 2, 3, 1).reshape(-1, 2)                  # (N, 2)
    c = centres.to(pts.device, torch.float32)
    idx, d2 = [], []
    for s in range(0, pts.shape[0], chunk):
        dist = torch.cdist(pts[s:s + chunk], c)                                     # (n, Q)
        dk, ik = dist.topk(k, dim=1, largest=False)                                 # nearest first
        idx.append(ik)
        d2.append(dk * dk)
    ik = torch.cat(idx) if idx else torch.zeros(0, k, dtype=torch.long, device=pts.device)
    dk2 = torch.cat(d2) if d2 else torch.zeros(0, k, device=pts.device)
    # softmax of -d^2 / (2 sigma^2) = the normalised Gaussian weights, stable for far pixels
    wk = torch.softmax(-dk2 / (2.0 * sigma * sigma), dim=1) if sigma > 0 else \
        torch.nn.functional.one_hot(torch.zeros_like(ik[:, 0]), k).float()
    to_map = lambda t: t.reshape(B, H, W, k).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return to_map(ik), to_map(wk)


def annealed_distribution(logits: torch.Tensor, temperature: float, dim: int = 1) -> torch.Tensor:
    """``f_T(z) = softmax(log z / T)`` from the logits of z (Zhang et al. eq. 5): the constant
    ``logsumexp`` of ``log z = logits - logsumexp(logits)`` cancels, and softmax subtracts the
    maximum, so it is stable for any T > 0 (T = 0.01 included)."""
    t = float(temperature)
    if not (t > 0.0 and math.isfinite(t)):
        raise LessonsError(f"the temperature T must be > 0 (1 = the mean, 0.38 = the paper's, "
                           f"near 0 = the mode), got {temperature!r}")
    return torch.softmax(logits.float() / t, dim=dim)


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float) -> torch.Tensor:
    """Decode class logits ``(B, Q, H, W)`` into ab ``(B, 2, H, W)`` (the units of ``centres``
    ``(Q, 2)``): the mean of the bin centres under :func:`annealed_distribution`.
    T = 1 gives the distribution's mean, T -> 0 its mode."""
    if logits.dim() != 4 or logits.shape[1] != centres.shape[0]:
        raise ValueError(f"logits must be (B, Q, H, W) with Q = {centres.shape[0]} bins, got {tuple(logits.shape)}")
    f = annealed_distribution(logits, temperature)                                  # (B, Q, H, W)
    return torch.einsum("bqhw,qc->bchw", f, centres.to(f.device, f.dtype))         # (B, 2, H, W)


def check_correction(correction: Any) -> float:
    """A prior correction as a float in [0, 1], or a clear error."""
    try:
        a = float(correction)
    except (TypeError, ValueError):
        a = float("nan")
    if not (0.0 <= a <= 1.0):
        raise LessonsError(f"the prior correction undoes a share of the class rebalancing, in [0, 1] "
                           f"(0 = the head as trained, 1 = rebalancing undone), got {correction!r}")
    return a


def correct_logits(logits: torch.Tensor, weights: torch.Tensor, correction: float) -> torch.Tensor:
    """``logits - correction x log w`` over the class dimension 1 of ``(B, Q, H, W)`` logits,
    ``weights (Q,)`` the rebalancing weights the head was trained with: correction 0 = the
    logits as they are, 1 = the rebalancing undone (see the module docstring)."""
    a = check_correction(correction)
    if a == 0.0:
        return logits
    if weights.dim() != 1 or weights.numel() != logits.shape[1]:
        raise ValueError(f"weights must be (Q,) with Q = {logits.shape[1]} bins, got {tuple(weights.shape)}")
    return logits - a * weights.to(logits.device, torch.float32).log().view(1, -1, 1, 1)


def setting_name(temperature: float, correction: float = 0.0) -> str:
    """The name of a decoding setting in validation metrics and cards: ``"T0.38"`` (the head
    as trained), ``"T0.58_c0.5"`` (with a prior correction of 0.5)."""
    return f"T{float(temperature):g}" + (f"_c{float(correction):g}" if correction else "")


def decode_classes(logits: torch.Tensor, classes: "ColourClasses", temperature: float, *,
                   correction: float = 0.0, size: tuple[int, int] | None = None,
                   scale: float = 1.0) -> torch.Tensor:
    """A class head's logits ``(B, Q, h, w)`` -> ab ``(B, 2, H, W)`` divided by ``scale``: the
    prior correction, the annealed mean at ``temperature``, then a bilinear upsampling to
    ``size`` when the head predicts at a lower resolution. The one decoding of training,
    validation and inference (differentiable)."""
    ab = annealed_mean(correct_logits(logits.float(), classes.weights, correction),
                       classes.centres.to(logits.device) / scale, temperature)
    if size is not None and tuple(ab.shape[-2:]) != tuple(size):
        ab = torch.nn.functional.interpolate(ab, size=tuple(size), mode="bilinear", align_corners=False)
    return ab


@dataclass
class ColourClasses:
    """The Q bins of a class-head colorizer, its prior and its rebalancing weights, as a
    model card stores them (:meth:`to_dict`, :meth:`from_dict`).

    ``centres`` ``(Q, 2)`` Lab ab; ``prior`` ``(Q,)`` the empirical share of training pixels
    per bin; ``smoothed`` ``(Q,)`` p~; ``weights`` ``(Q,)`` w (``E_p~[w] = 1``)."""

    centres: torch.Tensor
    prior: torch.Tensor
    smoothed: torch.Tensor
    weights: torch.Tensor
    grid: float = GRID
    sigma: float = SIGMA
    lam: float = LAMBDA
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.centres.shape[0])

    @classmethod
    def from_histogram(cls, counts: torch.Tensor, *, min_count: int = 1, grid: float = GRID,
                       sigma: float = SIGMA, lam: float = LAMBDA,
                       source: dict[str, Any] | None = None) -> "ColourClasses":
        """The bins of the grid holding at least ``min_count`` training pixels (counts from
        :func:`grid_histogram`), with their prior, p~ and w."""
        counts = counts.double().flatten()
        keep = counts >= max(int(min_count), 1)
        if int(keep.sum()) < 2:
            raise LessonsError(f"the colour histogram has {int(keep.sum())} bin(s) with >= {min_count} pixels; "
                               "a class head needs at least 2 (more, and more varied, training photos)")
        centres = grid_centres(grid)[keep]
        prior = counts[keep] / counts[keep].sum()
        smoothed = smooth_prior(centres, prior, sigma)
        return cls(centres=centres.float(), prior=prior, smoothed=smoothed,
                   weights=rebalancing_weights(smoothed, lam), grid=grid, sigma=sigma, lam=lam,
                   source=dict(source or {}))

    def to_dict(self) -> dict[str, Any]:
        return {"n_bins": self.n, "grid": self.grid, "sigma": self.sigma, "lambda": self.lam,
                "centres_ab": [[round(float(a), 4), round(float(b), 4)] for a, b in self.centres.tolist()],
                "prior": [float(p) for p in self.prior.tolist()],
                "smoothed_prior": [float(p) for p in self.smoothed.tolist()],
                "weights": [float(w) for w in self.weights.tolist()], "source": self.source,
                "cite": "Zhang, Isola & Efros 2016, Colorful Image Colorization, sec. 2.1-2.2"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ColourClasses":
        try:
            centres = torch.tensor(d["centres_ab"], dtype=torch.float32)
            prior = torch.tensor(d["prior"], dtype=torch.float64)
            smoothed = torch.tensor(d.get("smoothed_prior", d["prior"]), dtype=torch.float64)
            weights = torch.tensor(d["weights"], dtype=torch.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise LessonsError(f"the colour classes are incomplete or malformed ({e!r}): they need "
                               "centres_ab, prior and weights") from None
        if centres.dim() != 2 or centres.shape[1] != 2 or not (prior.numel() == weights.numel() == centres.shape[0]):
            raise LessonsError(f"the colour classes disagree: {tuple(centres.shape)} centres, {prior.numel()} "
                               f"prior values, {weights.numel()} weights")
        return cls(centres=centres, prior=prior, smoothed=smoothed, weights=weights,
                   grid=float(d.get("grid", GRID)), sigma=float(d.get("sigma", SIGMA)),
                   lam=float(d.get("lambda", LAMBDA)), source=dict(d.get("source", {})))
