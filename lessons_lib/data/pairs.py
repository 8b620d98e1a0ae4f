"""Colorization batches: images in the loader, Lab on the device.

The pix2pix colorization loader (``colorization_dataset.py`` of the reference
implementation) converts every image to Lab with ``skimage.color.rgb2lab`` on the CPU, in
float64, one image at a time, inside the DataLoader workers. Here the split of work is
different, and cheaper:

1. the loader only decodes, resizes and crops, and hands over **uint8** RGB tensors
   ``(B, 3, H, W)`` (a quarter of the bytes of float32 to copy to the GPU);
2. :func:`lab_batch` moves the batch to the training device and converts the whole batch
   at once with :func:`lessons_lib.color.rgb_uint8_to_lab` (float32, a lookup table for
   the sRGB curve), then normalises ``L/50 - 1`` and ``ab/110``.

Augmentation follows pix2pix: resize the short side (``load_size``, by default ``size``),
take a random ``size x size`` crop and flip horizontally half of the time when training;
centre crop otherwise. Randomness is reproducible: :func:`make_loader` hands each item its
own seed drawn from a generator seeded with ``seed``, so a run gives the same batches
whatever the number of workers.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from .. import LessonsError
from ..color import normalize_lab, rgb_to_gray, rgb_to_lab, rgb_uint8_to_lab
from .images import image_to_tensor
from .sources import ImageSource, open_source

__all__ = ["ColorizationDataset", "make_loader", "lab_batch", "grid_image", "save_source_grid"]

# Pillow first shrinks by an integer factor with a box filter while the image is at least
# reducing_gap times larger than the target, then resamples exactly: much faster on big
# photos and, per Pillow's documentation, indistinguishable from exact resampling at 3.0.
_REDUCING_GAP = 3.0
_SEED_HIGH = 2**62  # per-item seeds are drawn in [0, 2**62)


class ColorizationDataset(Dataset):
    """Square uint8 crops ``(3, size, size)`` of an image source, for colorization.

    Args:
        source: an :class:`ImageSource` or a name/path for :func:`open_source`.
        size: side of the crops.
        train: random crop + horizontal flip (True) or centre crop (False).
        split: the split to open when ``source`` is a name.
        load_size: the short side is resized to this before cropping (default ``size``:
            the crop then only moves along the long side). pix2pix uses 286 for 256 crops.
        max_load_size: scale augmentation when training: the short side is resized to a
            size drawn uniformly from ``load_size..max_load_size`` for each item, so the crop
            shows between all and ``load_size / max_load_size`` of the short side (None: off).

    Indexing with an int uses torch's global random generator for the augmentation;
    indexing with ``(i, seed)`` (what :func:`make_loader` does) uses that seed, so the
    result depends only on the pair.
    """

    def __init__(self, source: ImageSource | str, size: int, train: bool = True, split: str = "train",
                 *, load_size: int | None = None, max_load_size: int | None = None) -> None:
        if int(size) < 8:
            raise LessonsError(f"crop size must be at least 8 pixels, got {size}")
        self.source = open_source(source, split)
        self.size = int(size)
        self.load_size = int(load_size) if load_size is not None else self.size
        if self.load_size < self.size:
            raise LessonsError(f"load_size ({self.load_size}) must be >= size ({self.size})")
        self.max_load_size = int(max_load_size) if max_load_size is not None else None
        if self.max_load_size is not None and self.max_load_size < self.load_size:
            raise LessonsError(f"max_load_size ({self.max_load_size}) must be >= load_size ({self.load_size})")
        self.train = bool(train)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, item: int | tuple[int, int]) -> torch.Tensor:
        if isinstance(item, tuple):
            i, seed = item
        else:
            i = item
            seed = int(torch.randint(0, _SEED_HIGH, (1,)).item()) if self.train else 0
        return self.transform(self.source[i], seed)

    def transform(self, img: Image.Image, seed: int = 0) -> torch.Tensor:
        """Resize the short side, crop (random or centre), maybe flip: uint8 ``(3, size, size)``."""
        w, h = img.size
        g = torch.Generator().manual_seed(int(seed)) if self.train else None
        load = self.load_size
        if g is not None and self.max_load_size is not None and self.max_load_size > load:
            load = int(torch.randint(load, self.max_load_size + 1, (1,), generator=g))
        scale = load / min(w, h)  # small images are upscaled too
        new_w = max(load, round(w * scale))
        new_h = max(load, round(h * scale))
        if (new_w, new_h) != (w, h):
            # Bicubic with a kernel widened by the shrink factor: antialiased when shrinking.
            img = img.resize((new_w, new_h), Image.Resampling.BICUBIC, reducing_gap=_REDUCING_GAP)
        s = self.size
        if g is not None:
            x0 = int(torch.randint(0, new_w - s + 1, (1,), generator=g))
            y0 = int(torch.randint(0, new_h - s + 1, (1,), generator=g))
            flip = bool(torch.rand(1, generator=g) < 0.5)
        else:
            x0, y0, flip = (new_w - s) // 2, (new_h - s) // 2, False
        crop = img.crop((x0, y0, x0 + s, y0 + s))
        if flip:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return image_to_tensor(crop)  # (3, s, s) uint8


class _SeededSampler(Sampler):
    """Yields ``(index, seed)``: a shuffled order and one augmentation seed per item.

    Both come from one generator seeded once, so epoch k of two runs with the same seed
    is identical, while successive epochs differ. ``shuffle=False`` walks 0..n-1 with seed 0.
    """

    def __init__(self, n: int, shuffle: bool, seed: int) -> None:
        self.n = n
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator).tolist()
            seeds = torch.randint(0, _SEED_HIGH, (self.n,), generator=self.generator).tolist()
        else:
            order, seeds = list(range(self.n)), [0] * self.n
        return iter(zip(order, seeds))


def make_loader(source: ImageSource | str, size: int, batch_size: int, *, split: str = "train",
                train: bool = True, num_workers: int = 0, seed: int = 0, drop_last: bool | None = None,
                limit: int | None = None, load_size: int | None = None) -> DataLoader:
    """A DataLoader of uint8 RGB batches ``(B, 3, size, size)`` for colorization.

    Args:
        source, split, size, load_size: see :class:`ColorizationDataset`.
        batch_size: images per batch.
        train: shuffle + random crop/flip, else the images in order, centre-cropped.
        num_workers: DataLoader worker processes (0: load in the main process).
        seed: seeds the order and every crop/flip: the same seed gives the same batches.
        drop_last: drop the last incomplete batch; default: when training and there is
            at least one full batch (BatchNorm misbehaves on a batch of one).
        limit: use only the first ``limit`` images of the split.

    Convert each batch with :func:`lab_batch` on the training device.
    """
    if batch_size < 1:
        raise LessonsError(f"batch_size must be >= 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise LessonsError(f"limit must be >= 1 (or None for every image), got {limit}")
    ds = ColorizationDataset(source, size, train=train, split=split, load_size=load_size)
    n = len(ds) if limit is None else min(int(limit), len(ds))
    if n == 0:
        raise LessonsError(f"source {ds.source.name!r} has no images in split {ds.source.split!r}")
    if drop_last is None:
        drop_last = train and n >= batch_size
    if drop_last and n < batch_size:
        raise LessonsError(
            f"only {n} images for batches of {batch_size} with drop_last=True: no batch would be made; "
            "lower batch_size or pass drop_last=False"
        )
    return DataLoader(
        ds,
        batch_size=batch_size,
        sampler=_SeededSampler(n, shuffle=train, seed=seed),
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available(),  # page-locked buffers make .to(device, non_blocking) async
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(int(seed)),  # seeds the workers' own RNGs
    )


def lab_batch(rgb_uint8: torch.Tensor, device: torch.device | str | None = None,
              color_space: str = "lab") -> tuple[torch.Tensor, torch.Tensor]:
    """A loader batch -> the colorizer's (input, target), computed on ``device``.

    Args:
        rgb_uint8: ``(B, 3, H, W)`` uint8 (float in [0, 1] is accepted too).
        device: where to compute (default: where the batch is). The copy is
            ``non_blocking``, which overlaps it with compute when the loader pins memory.
        color_space:
            ``"lab"``: returns ``(L, ab)``, ``L/50 - 1`` of shape (B, 1, H, W) and ``ab/110``
            of shape (B, 2, H, W) (the pix2pix colorization normalisation).
            ``"rgb"``: returns ``(gray3, rgb)`` in [-1, 1], both (B, 3, H, W): the colour
            image and its gray version (same L*, a = b = 0, three equal channels), the
            input/target of the RGB colorizers of seeds 000 and 003.
    """
    if not isinstance(rgb_uint8, torch.Tensor):
        raise TypeError(f"lab_batch expects a torch.Tensor batch, got {type(rgb_uint8).__name__}")
    if rgb_uint8.dim() != 4 or rgb_uint8.shape[1] != 3:
        raise ValueError(f"lab_batch expects a batch of shape (B, 3, H, W), got {tuple(rgb_uint8.shape)}")
    if color_space not in ("lab", "rgb"):
        raise ValueError(f"unknown color_space {color_space!r}: use 'lab' or 'rgb'")
    x = rgb_uint8.to(device, non_blocking=True) if device is not None else rgb_uint8
    if color_space == "lab":
        lab = rgb_uint8_to_lab(x) if x.dtype == torch.uint8 else rgb_to_lab(x.float())
        return normalize_lab(lab)
    rgb = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    gray3 = rgb_to_gray(rgb, method="lab", keep_channels=True)
    return gray3 * 2.0 - 1.0, rgb * 2.0 - 1.0


def grid_image(images: torch.Tensor | Sequence[torch.Tensor], nrow: int = 8, pad: int = 2) -> Image.Image:
    """Tile images ``(N, 3, H, W)`` (uint8, or float in [0, 1]) into one RGB PIL image.

    ``nrow`` images per row, ``pad`` white pixels between and around the tiles. The
    result is ``ncol*W + (ncol+1)*pad`` wide and ``rows*H + (rows+1)*pad`` high with
    ``ncol = min(nrow, N)`` and ``rows = ceil(N / ncol)``.
    """
    if not isinstance(images, torch.Tensor):
        images = torch.stack(list(images))
    x = images.detach().cpu()
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        raise ValueError(f"grid_image expects images of shape (N, 3, H, W) with N >= 1, got {tuple(images.shape)}")
    if nrow < 1 or pad < 0:
        raise ValueError(f"nrow must be >= 1 and pad >= 0, got nrow={nrow}, pad={pad}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.dtype != torch.uint8:
        x = (torch.nan_to_num(x.float(), nan=0.0).clamp(0, 1) * 255.0).round().to(torch.uint8)
    n, _, h, w = x.shape
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    canvas = np.full((rows * h + (rows + 1) * pad, ncol * w + (ncol + 1) * pad, 3), 255, dtype=np.uint8)
    tiles = x.permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
    for k in range(n):
        r, c = divmod(k, ncol)
        y, x0 = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y:y + h, x0:x0 + w] = tiles[k]
    return Image.fromarray(canvas)


def save_source_grid(source: ImageSource | str, out: str | os.PathLike, split: str = "train", n: int = 16,
                     size: int = 96, seed: int = 0, *, download: bool = False,
                     root: str | os.PathLike | None = None) -> Path:
    """Write a grid of ``n`` random images of a source (centre crops of ``size``) to ``out``.

    The images are drawn without replacement with a generator seeded by ``seed`` (all of
    them when the split is smaller than ``n``); at most 8 per row. Returns the path written.
    """
    if n < 1:
        raise LessonsError(f"-n must be at least 1, got {n}")
    if size < 8:
        raise LessonsError(f"--size must be at least 8 pixels, got {size}")
    src = open_source(source, split, download=download, root=root)
    if len(src) == 0:
        raise LessonsError(f"source {src.name!r} has no images in split {src.split!r}")
    g = torch.Generator().manual_seed(int(seed))
    picks = torch.randperm(len(src), generator=g)[: min(n, len(src))].tolist()
    ds = ColorizationDataset(src, size, train=False)
    grid = grid_image(torch.stack([ds[i] for i in picks]), nrow=8)
    path = Path(out).expanduser()
    if path.suffix == "":
        path = path.with_suffix(".png")
    if path.suffix.lower() not in Image.registered_extensions():
        raise LessonsError(f"cannot write {path}: unknown image format {path.suffix!r}; use .png or .jpg")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        grid.save(path)
    except (OSError, ValueError) as e:
        raise LessonsError(f"cannot write {path}: {e}") from e
    return path
