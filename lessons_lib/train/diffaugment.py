"""DiffAugment: the same differentiable augmentation of real and fake images, for D.

Zhao, Liu, Lin, Zhu & Han (NeurIPS 2020), "Differentiable Augmentation for Data-Efficient
GAN Training". With little data D memorises the training photos: its output on them drifts
away from its output on held-out photos of the same kind, and its gradient stops telling G
anything general. Augmenting only the real images would teach G to make augmented images;
augmenting both with a transform T that is *differentiable* keeps the game honest (eq. 3-4):

    L_D = f(D(T(x)))   + f(-D(T(G(z))))      D's step: T on real and on fake
    L_G = f(-D(T(G(z))))                     G's step: T again, and G's gradient flows through T

so D never sees an untransformed image, and G is trained to make images whose transforms
look real. The three transforms of the paper, each drawn per image:

* ``color``: brightness ``x + (u - 0.5)``, saturation ``(x - mean_c x) * 2u + mean_c x`` (the
  mean over channels, per pixel), contrast ``(x - mean x) * (u + 0.5) + mean x`` (the mean of
  the whole image), u ~ U(0, 1) each;
* ``translation``: a shift by up to 1/8 of the side in each direction, zeros brought in;
* ``cutout``: a square of half the side, at a random place, set to 0.

All are sums and products of the input with random constants, or gathers from it: the
gradient reaches the image (and G) through every one. The random numbers come from torch's
CPU generator (which the engine seeds and checkpoints), so a run is reproducible and resumes
bit-exactly. A pair (condition, colour) concatenated along the channels, as a conditional
D sees it, is shifted and cut out as one image: the condition stays aligned with its colours.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .. import LessonsError

__all__ = ["POLICIES", "parse_policy", "diff_augment", "DiffAugment", "d_realness", "d_overfitting_gap"]

#: the transforms of Zhao et al. 2020, in the order they are applied
POLICIES = ("color", "translation", "cutout")
#: translation: up to 1/8 of the side; cutout: a square of 1/2 of the side (the paper's defaults)
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """``"color,translation,cutout"`` (or a tuple, or "" / None = off) -> the transforms, checked."""
    if policy is None:
        return ()
    names = tuple(p.strip() for p in (policy.split(",") if isinstance(policy, str) else policy) if p.strip())
    bad = [n for n in names if n not in POLICIES]
    if bad:
        raise LessonsError(f"unknown DiffAugment transform(s) {', '.join(map(repr, bad))}: choose from "
                           f"{', '.join(POLICIES)} (e.g. diffaugment='color,translation,cutout'; '' = off)")
    if len(set(names)) != len(names):
        raise LessonsError(f"DiffAugment policy {policy!r} names a transform twice")
    return tuple(n for n in POLICIES if n in names)


def _uniform(x: torch.Tensor, generator: torch.Generator | None, *shape: int) -> torch.Tensor:
    return torch.rand(x.shape[0], *shape, generator=generator).to(x.device, x.dtype)


def _color(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    x = x + (_uniform(x, g, 1, 1, 1) - 0.5)                                           # brightness
    mean = x.mean(dim=1, keepdim=True)                                                # (B, 1, H, W)
    x = (x - mean) * (_uniform(x, g, 1, 1, 1) * 2) + mean                             # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)                                        # (B, 1, 1, 1)
    return (x - mean) * (_uniform(x, g, 1, 1, 1) + 0.5) + mean                        # contrast


def _translation(x: torch.Tensor, g: torch.Generator | None, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    B, _, H, W = x.shape
    sy, sx = int(H * ratio + 0.5), int(W * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (B, 1, 1), generator=g).to(x.device)
    dx = torch.randint(-sx, sx + 1, (B, 1, 1), generator=g).to(x.device)
    rows = torch.arange(H, device=x.device).view(1, H, 1)
    cols = torch.arange(W, device=x.device).view(1, 1, W)
    # output pixel (i, j) reads input (i + dy, j + dx) of the image padded by one zero pixel
    src_y = (rows + dy + 1).clamp(0, H + 1)                                           # (B, H, 1)
    src_x = (cols + dx + 1).clamp(0, W + 1)                                           # (B, 1, W)
    padded = F.pad(x, [1, 1, 1, 1])                                                   # (B, C, H+2, W+2)
    b = torch.arange(B, device=x.device).view(B, 1, 1)
    return padded.permute(0, 2, 3, 1)[b, src_y, src_x].permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)


def _cutout(x: torch.Tensor, g: torch.Generator | None, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    B, _, H, W = x.shape
    ch, cw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    cy = torch.randint(0, H + (1 - ch % 2), (B, 1, 1), generator=g).to(x.device)      # the square's centre
    cx = torch.randint(0, W + (1 - cw % 2), (B, 1, 1), generator=g).to(x.device)
    rows = torch.arange(H, device=x.device).view(1, H, 1)
    cols = torch.arange(W, device=x.device).view(1, 1, W)
    y0, x0 = cy - ch // 2, cx - cw // 2                                               # top-left (may be outside)
    inside = (rows >= y0) & (rows < y0 + ch) & (cols >= x0) & (cols < x0 + cw)        # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_TRANSFORMS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: str | tuple[str, ...], generator: torch.Generator | None = None
                 ) -> torch.Tensor:
    """``T(x)`` for a batch (B, C, H, W): the transforms of ``policy`` (module docstring), each
    drawn per image from ``generator`` (a CPU generator; None = torch's). Differentiable in x."""
    for name in parse_policy(policy):
        x = _TRANSFORMS[name](x, generator)
    return x


class DiffAugment:
    """``see=`` for :meth:`lessons_lib.losses.GANLoss.d_step` / ``g_step``: what D is shown is
    ``T(x)``, on real and fake alike (``DiffAugment("color,translation,cutout")``)."""

    def __init__(self, policy: str | tuple[str, ...]) -> None:
        self.policy = parse_policy(policy)
        if not self.policy:
            raise LessonsError("DiffAugment needs at least one transform (color, translation, cutout)")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policy)

    def __repr__(self) -> str:
        return f"DiffAugment({','.join(self.policy)!r})"


# =========================================================================== measuring D's overfitting
@torch.no_grad()
def d_realness(task: Any, split: str, limit: int | None = None, batch_size: int = 50) -> dict[str, float]:
    """How real D finds the photos of ``split`` ("train": the run's own training photos, "val":
    held-out ones) of a colorization task: the mean of D's logits (patch maps averaged) on
    the real pairs (L, ab), centre-cropped, never augmented, D in eval mode; and the mean of
    sigmoid(logit), the probability D gives them. ``limit``: the first so many photos."""
    from torch.utils.data import DataLoader, Subset

    from ..models.discriminators import pair

    ds = task.dataset(split, False)
    if ds is None:
        raise LessonsError(f"the task has no {split} images to measure D on")
    if limit is not None and limit < len(ds):
        ds = Subset(ds, range(int(limit)))
    D = task.nets["D"]
    was_training = D.training
    D.eval()
    scores = []
    try:
        for batch in DataLoader(ds, batch_size=batch_size, shuffle=False):
            data = task.prepare(batch, task.device)
            scores.append(D(pair(data["cond"], data["target"])).float().flatten(1).mean(1).cpu())  # (B,) per photo
    finally:
        D.train(was_training)
    s = torch.cat(scores).double()
    return {"logit": float(s.mean()), "prob": float(torch.sigmoid(s).mean()), "n": float(s.numel()),
            "std": float(s.std()) if s.numel() > 1 else 0.0}


def d_overfitting_gap(task: Any, limit: int | None = None) -> dict[str, float]:
    """D's overfitting as Zhao et al. and Karras et al. (2020) watch it: how much more real D
    finds its training photos than held-out photos of the same kind. ``gap`` is the difference
    of the mean logits (train - held-out; 0 = D judges both alike), ``gap_se`` its standard
    error over the photos (a gap within 2 of them is not evidence), ``gap_prob`` the same in
    probability."""
    tr, va = d_realness(task, "train", limit), d_realness(task, "val", limit)
    se = (tr["std"] ** 2 / tr["n"] + va["std"] ** 2 / va["n"]) ** 0.5    # the gap's standard error (Welch)
    return {"train_logit": tr["logit"], "heldout_logit": va["logit"], "gap": tr["logit"] - va["logit"],
            "gap_se": se, "train_prob": tr["prob"], "heldout_prob": va["prob"], "gap_prob": tr["prob"] - va["prob"],
            "n_train": tr["n"], "n_heldout": va["n"]}
