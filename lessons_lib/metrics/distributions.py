"""Distances on feature networks: a perceptual distance, and the comparison of two *sets* of
feature vectors (Frechet distance, KID's MMD, precision and recall, a bootstrap interval).

Any network works (the kit's, :func:`lessons_lib.metrics.load_feature_net`); FID proper, on
the Inception network, is in :mod:`lessons_lib.metrics.pretrained`.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .checks import reduce_per_image, rgb_pair

__all__ = ["frechet_distance", "perceptual_distance", "frechet_feature_distance", "polynomial_kernel",
           "mmd2_unbiased", "kernel_distance", "precision_recall", "bootstrap_interval"]


def frechet_distance(
    mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor
) -> float:
    """Frechet distance of two Gaussians (Dowson & Landau 1982; FID, Heusel et al. 2017):

    ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))``.

    ``tr((S1 S2)^(1/2))`` is computed as the sum of the square roots of the eigenvalues of
    the symmetric matrix ``S1^(1/2) S2 S1^(1/2)`` (same eigenvalues as S1 S2), in float64:
    no complex intermediate as with a general matrix square root.
    """
    mu1, mu2, s1, s2 = (torch.as_tensor(v, dtype=torch.float64) for v in (mu1, mu2, sigma1, sigma2))
    evals, evecs = torch.linalg.eigh(s1)
    root1 = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T
    middle = root1 @ s2 @ root1
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu1 - mu2).pow(2).sum() + s1.trace() + s2.trace() - 2 * tr_sqrt)


# --------------------------------------------------------------------------- feature distance
def perceptual_distance(
    pred: torch.Tensor, target: torch.Tensor, features: nn.Module, reduction: str = "mean"
) -> torch.Tensor:
    """A plain perceptual distance on any feature network -- honestly *not* LPIPS.

    ``d(x, y) = sum_l mean_hw sum_c (f_lc(x)/|f_l(x)| - f_lc(y)/|f_l(y)|)^2``: the features of
    each layer l are normalised to unit length over channels at each pixel, as in LPIPS
    (Zhang et al., CVPR 2018, eq. 1), but every channel weighs 1 -- the paper's unlearned
    baseline. LPIPS proper (:func:`lpips_distance`) also learns per-channel weights from
    human judgements, so the two numbers are not comparable. Lower = more alike; each layer
    adds at most 4 (opposite unit vectors), identical images score 0.

    Args:
        pred, target: RGB (B, 3, H, W) in [0, 1] (or uint8), same shape.
        features: a module mapping RGB in [0, 1] to a dict ``{layer: (B, C, h, w)}`` or a
            sequence of such maps, e.g. :class:`lessons_lib.models.features.PerceptualFeatures`.
            Gradients flow to ``pred`` (no ``no_grad`` here: the caller decides).
    Returns the mean over images (``reduction="mean"``) or one value per image ("none").
    """
    p, t = rgb_pair(pred, target)
    out = features(torch.cat([p, t]))
    maps = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, (list, tuple)) else None
    if not maps or not all(isinstance(m, torch.Tensor) and m.dim() == 4 for m in maps):
        raise TypeError("features must return a dict or a sequence of (B, C, h, w) feature maps")
    total = p.new_zeros(p.shape[0])
    for m in maps:
        m = m / (m.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)  # unit length per pixel
        fx, fy = m.chunk(2)
        total = total + (fx - fy).pow(2).sum(dim=1).mean(dim=(1, 2)).to(total.dtype)
    return reduce_per_image(total, reduction)


# --------------------------------------------------------------------------- distributions
# FID, KID, precision and recall compare two *sets* of images through the features of an
# image classifier. Computed on the kit's own network they are named ``FID_kit``, ``KID_kit``
# ...: their values depend on the network and are not comparable with papers' figures
# (which use ImageNet Inception-v3 pool3 features on 10k-50k images).

def _features_2d(x: torch.Tensor, name: str) -> torch.Tensor:
    f = torch.as_tensor(x)
    if f.dim() != 2 or f.shape[0] < 2 or not f.is_floating_point():
        raise ValueError(f"{name} must be a float matrix (N, D) of N >= 2 feature vectors, "
                         f"got {tuple(f.shape)} {f.dtype}")
    if not torch.isfinite(f).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return f.double()


def _same_dim(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two feature sets differ in dimension ({a.shape[1]} and {b.shape[1]}): "
                         "compute both with the same network and layer")


def frechet_feature_distance(feat_a: torch.Tensor, feat_b: torch.Tensor) -> float:
    """FID's formula on two sets of feature vectors ``(N, D)`` and ``(M, D)``: the Frechet
    distance of the Gaussians with their means and (unbiased) covariances. Biased upwards for
    small N (it is a plug-in estimate): compare values computed on equally many images."""
    a, b = _features_2d(feat_a, "feat_a"), _features_2d(feat_b, "feat_b")
    _same_dim(a, b)
    return frechet_distance(a.mean(0), torch.cov(a.T).reshape(a.shape[1], -1),
                            b.mean(0), torch.cov(b.T).reshape(b.shape[1], -1))


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor, degree: int = 3, coef0: float = 1.0,
                      gamma: float | None = None) -> torch.Tensor:
    """KID's kernel (Binkowski et al. 2018): ``k(x, y) = (gamma x.y + coef0) ** degree``,
    ``gamma = 1 / D`` by default. ``(N, D), (M, D) -> (N, M)``."""
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)
    return (g * x @ y.T + coef0) ** degree


def mmd2_unbiased(feat_a: torch.Tensor, feat_b: torch.Tensor, kernel=polynomial_kernel) -> float:
    """The unbiased estimate of the squared maximum mean discrepancy (Gretton et al. 2012,
    eq. 3): ``mean_{i != j} k(a_i, a_j) + mean_{i != j} k(b_i, b_j) - 2 mean_{i, j} k(a_i, b_j)``.
    Its expectation is exactly 0 when both sets come from the same distribution, so it can be
    negative on a finite sample; that is what makes it usable on a few hundred images."""
    a, b = _features_2d(feat_a, "feat_a"), _features_2d(feat_b, "feat_b")
    _same_dim(a, b)
    n, m = a.shape[0], b.shape[0]
    kaa, kbb, kab = kernel(a, a), kernel(b, b), kernel(a, b)
    saa = (kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
    sbb = (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
    return float(saa + sbb - 2 * kab.mean())


def kernel_distance(feat_a: torch.Tensor, feat_b: torch.Tensor, *, subsets: int = 100,
                    subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018, sec. 3): the unbiased MMD^2 with the cubic polynomial
    kernel, averaged over ``subsets`` random subsets of ``min(subset_size, N, M)`` vectors of
    each set (as their reference code does). Returns ``(mean, standard deviation over the
    subsets)``. With both sets no larger than ``subset_size`` the estimate is computed once
    on the whole sets (standard deviation 0)."""
    a, b = _features_2d(feat_a, "feat_a"), _features_2d(feat_b, "feat_b")
    _same_dim(a, b)
    if int(subset_size) < 2:
        raise ValueError(f"subset_size must be at least 2, got {subset_size}")
    if a.shape[0] <= subset_size and b.shape[0] <= subset_size:
        return mmd2_unbiased(a, b), 0.0
    k = min(int(subset_size), a.shape[0], b.shape[0])
    gen = torch.Generator().manual_seed(int(seed))
    vals = torch.tensor([mmd2_unbiased(a[torch.randperm(a.shape[0], generator=gen)[:k]],
                                       b[torch.randperm(b.shape[0], generator=gen)[:k]])
                         for _ in range(max(1, int(subsets)))], dtype=torch.float64)
    return float(vals.mean()), float(vals.std(unbiased=False))


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of distributions (Kynkaanniemi et al. 2019, sec. 2).

    Each set's manifold is the union of balls around its vectors, each ball reaching that
    vector's ``k``-th nearest neighbour in the same set (the paper: k = 3). **Precision** is
    the share of fake vectors inside the real manifold (are the samples realistic?),
    **recall** the share of real vectors inside the fake manifold (do the samples cover the
    variety of the real ones?). A timid model that paints every photo the same plausible way
    has high precision and low recall. Both in [0, 1]."""
    r, f = _features_2d(real, "real"), _features_2d(fake, "fake")
    _same_dim(r, f)
    if not 1 <= int(k) < min(r.shape[0], f.shape[0]):
        raise ValueError(f"k must be in 1 .. {min(r.shape[0], f.shape[0]) - 1} "
                         f"(fewer than the vectors of each set), got {k}")

    def radii(x: torch.Tensor) -> torch.Tensor:          # distance to the k-th neighbour (self excluded)
        return torch.cdist(x, x).kthvalue(int(k) + 1, dim=1).values

    def inside(points: torch.Tensor, centres: torch.Tensor, r_c: torch.Tensor) -> float:
        return float((torch.cdist(points, centres) <= r_c[None, :]).any(dim=1).double().mean())

    return inside(f, r, radii(r)), inside(r, f, radii(f))


def bootstrap_interval(stat, feat_a: torch.Tensor, feat_b: torch.Tensor, *, n_boot: int = 200,
                       level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of ``stat(feat_a, feat_b) -> float``: both sets are
    resampled with replacement ``n_boot`` times (Efron & Tibshirani 1993, ch. 13). It shows
    how much a distance moves when other images of the same kind are drawn."""
    a, b = _features_2d(feat_a, "feat_a"), _features_2d(feat_b, "feat_b")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    gen = torch.Generator().manual_seed(int(seed))
    vals = torch.tensor([float(stat(a[torch.randint(a.shape[0], (a.shape[0],), generator=gen)],
                                    b[torch.randint(b.shape[0], (b.shape[0],), generator=gen)]))
                         for _ in range(max(2, int(n_boot)))], dtype=torch.float64)
    lo, hi = torch.quantile(vals, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
    return float(lo), float(hi)
