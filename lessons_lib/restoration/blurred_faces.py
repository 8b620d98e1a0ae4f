"""Face crops and their motion-blurred pairs (seed 004, sec. 3.1), for training and evaluation.

Any image source of aligned faces (``celeba10k``: 89x109 CelebA faces, short side
resized to ``size``, centre crop, so 64x64 keeps the face from brow to chin), random
horizontal flips for training. Blurred/sharp pairs are made on the training device
(:mod:`lessons_lib.data.blur`): a fixed, seeded bank of 1,000 motion-blur kernels of
``kernel_size_for(size)`` pixels (the seed's 71 px at 512 px, 9 px at 64 px); each training
image draws a kernel from the item's seeded RNG, each validation/test image ``i`` the kernel
:func:`eval_kernel_index` ``(i)``, so every method is measured on the same blurred images.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import LessonsError
from ..data import ColorizationDataset
from ..data.blur import KernelBank, make_blurred_batch

__all__ = ["FaceCrops", "eval_kernel_index", "kernel_bank", "blur_batch"]


def eval_kernel_index(i: int, n_kernels: int, seed: int = 0) -> int:
    """The bank kernel that blurs evaluation image ``i``: a fixed draw from ``(seed, i)``.

    It depends only on the image's index, not on the batch or on how many images are used,
    so every method (NAFNet, inversion, fusion, the blurred input itself) and every run of
    ``lessons eval restore`` sees exactly the same blurred images."""
    return int(np.random.default_rng([int(seed), int(i)]).integers(int(n_kernels)))


class FaceCrops(Dataset):
    """``size x size`` face crops of an image source, as uint8 with a kernel index.

    Items are ``{"image": (3, S, S) uint8, "kernel": int64}``: the short side is resized to
    S and the centre kept (aligned faces stay aligned: the StyleGAN2 prior needs them so);
    with ``train`` a face is mirrored half of the time and draws a random kernel (from torch's
    global RNG, which the engine seeds per item, so runs and resumes repeat exactly);
    otherwise the kernel is :func:`eval_kernel_index` of the index. ``n_kernels = 0``: no
    kernel (``-1``), for the generative prior.
    """

    def __init__(self, source: Any, size: int, split: str = "train", train: bool = True, *, flip: bool = True,
                 n_kernels: int = 0, eval_seed: int = 0, limit: int | None = None) -> None:
        self.crops = ColorizationDataset(source, size, train=False, split=split)  # centre crops
        self.n = len(self.crops) if limit is None else min(int(limit), len(self.crops))
        self.train, self.flip = bool(train), bool(flip)
        self.n_kernels, self.eval_seed = int(n_kernels), int(eval_seed)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < self.n:
            raise IndexError(f"face {i} is out of range (0..{self.n - 1})")
        img = self.crops[i]                                             # (3, S, S) uint8
        k = -1
        if self.train:
            if self.flip and bool(torch.rand(()) < 0.5):
                img = img.flip(-1)
            if self.n_kernels:
                k = int(torch.randint(self.n_kernels, ()))
        elif self.n_kernels:
            k = eval_kernel_index(i, self.n_kernels, self.eval_seed)
        return {"image": img, "kernel": torch.tensor(k, dtype=torch.int64)}


_BANKS: dict[tuple, Any] = {}


def kernel_bank(n: int, size: int, seed: int = 0):
    """The seeded :class:`~lessons_lib.data.blur.KernelBank` ``(n, size, seed)``, drawn once per process."""
    key = (int(n), int(size), int(seed))
    if key not in _BANKS:
        _BANKS[key] = KernelBank(n=int(n), size=int(size), seed=int(seed))
    return _BANKS[key]


def _bank_of(params: dict[str, Any]):
    return kernel_bank(params["n"], params["size"], params.get("seed", 0))


def blur_batch(sharp_uint8: torch.Tensor, kernels: torch.Tensor, bank_params: dict[str, Any],
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 faces ``(B, 3, S, S)`` and kernel indices -> (blurred, sharp) in [0, 1] on ``device``.

    ``blurred = clamp(k * sharp + noise_std N(0, 1), 0, 1)`` (:func:`lessons_lib.data.blur.make_blurred_batch`);
    the noise, if any, comes from torch's global RNG (checkpointed by the engine)."""
    sharp = sharp_uint8.to(device).float() / 255.0                      # (B, 3, S, S)
    idx = kernels.to(device)
    if bool((idx < 0).any()):
        raise LessonsError("these faces carry no kernel index: build FaceCrops with n_kernels > 0")
    blurred, sharp, _ = make_blurred_batch(sharp, _bank_of(bank_params), noise_std=bank_params.get("noise_std", 0.0),
                                           kernel_idx=idx)
    return blurred, sharp
