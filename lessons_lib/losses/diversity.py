"""The mode-seeking regulariser: a loss that rewards a generator for using its noise.

Mao, Lee, Tseng, Ma & Yang, "Mode Seeking Generative Adversarial Networks for Diverse Image
Synthesis" (CVPR 2019), eq. 3. A conditional generator G(c, z) trained with a
reconstruction loss (L1, perceptual) learns to *ignore* z: the target does not depend on z,
so nothing rewards an output that changes with it - the "mode collapse" of conditional GANs
(pix2pix sec. 2 notes the same: its noise was ignored, so it used dropout). MSGAN adds, for
two noise draws z_1, z_2 for the same condition c,

    L_ms = max_G  d_I(G(c, z_1), G(c, z_2)) / d_z(z_1, z_2)

with d = mean absolute difference, and minimises its reciprocal in G's objective:

    L_G  <-  L_G + lambda_ms / (L_ms + eps),      eps = 1e-5 (MSGAN's code)

The ratio is "how much the output moves per unit of noise": dividing by d_z makes it a
slope, so G is not rewarded for a lucky pair of far-apart z's, and the reciprocal gives a
strong push while the outputs coincide (ratio near 0) and a weak one once they differ,
which leaves the other terms in charge of quality.

Used here by ColorGAN (``lambda_ms`` of the ``colorgan`` recipe; 0, the seed's recipe,
switches it off): :mod:`lessons_lib.colorization.colorgan_task`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["MS_EPS", "mode_seeking_ratio", "mode_seeking_loss"]

#: eps of MSGAN's 1 / (ratio + eps)
MS_EPS = 1e-5


def _same_batch(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError(f"mode-seeking loss: the two {what} must be tensors, got "
                        f"{type(a).__name__} and {type(b).__name__}")
    if a.shape != b.shape:
        raise ValueError(f"mode-seeking loss: the two {what} must have the same shape (two noise draws for "
                         f"the same inputs), got {tuple(a.shape)} and {tuple(b.shape)}")


def mode_seeking_ratio(out_1: torch.Tensor, out_2: torch.Tensor, z_1: torch.Tensor,
                       z_2: torch.Tensor, pool: int = 1) -> torch.Tensor:
    """``mean|out_1 - out_2| / mean|z_1 - z_2|``: how far the outputs of two noise draws for
    the same inputs are apart, per unit of distance between the draws (MSGAN eq. 3).

    ``pool > 1`` (not in MSGAN) compares the outputs' ``pool x pool`` block means instead of
    their pixels: then only differences that survive a blur count - a red vs a blue region -
    and not a high-frequency pattern, the cheapest way for a generator to make two outputs
    differ pixel by pixel."""
    _same_batch(out_1, out_2, "outputs")
    _same_batch(z_1, z_2, "noise draws")
    if out_1.shape[0] != z_1.shape[0]:
        raise ValueError(f"mode-seeking loss: outputs ({out_1.shape[0]}) and noise draws ({z_1.shape[0]}) "
                         f"must have the same batch size")
    if not isinstance(pool, int) or pool < 1:
        raise ValueError(f"mode-seeking loss: pool must be an int >= 1, got {pool!r}")
    dz = (z_1.float() - z_2.float()).abs().mean()
    if float(dz) == 0.0:
        raise ValueError("mode-seeking loss: the two noise draws are equal; draw z_2 independently of z_1")
    diff = out_1.float() - out_2.float()
    if pool > 1:
        if diff.dim() != 4 or diff.shape[-1] < pool or diff.shape[-2] < pool:
            raise ValueError(f"mode-seeking loss: pool {pool} needs image batches (B, C, H, W) of at least "
                             f"{pool}x{pool} pixels, got {tuple(diff.shape)}")
        diff = F.avg_pool2d(diff, pool, ceil_mode=True)        # the block means' difference
    return diff.abs().mean() / dz


def mode_seeking_loss(out_1: torch.Tensor, out_2: torch.Tensor, z_1: torch.Tensor, z_2: torch.Tensor,
                      eps: float = MS_EPS, pool: int = 1) -> torch.Tensor:
    """``1 / (mode_seeking_ratio(...) + eps)``, the term G minimises (MSGAN's implementation
    of eq. 3); it falls as the two outputs move apart."""
    return 1.0 / (mode_seeking_ratio(out_1, out_2, z_1, z_2, pool=pool) + eps)
