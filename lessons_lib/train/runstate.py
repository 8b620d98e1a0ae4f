"""What the engine keeps between steps and runs: the learning-rate schedule and Adam, the
RNG states (seeding, saving, restoring, isolating), the seeded data plan that makes a resume
exact (each item loaded with RNGs seeded from ``(seed, epoch, index)``, each epoch a
permutation drawn from ``seed + epoch``), atomic checkpoint files, the CSV logs, and small
helpers on nets (the module behind a wrapper, evaluation mode for a while)."""
from __future__ import annotations

import contextlib
import csv
import math
import os
import random
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from .. import LessonsError
from .config import CKPT_FORMAT, SCHEDULES


__all__ = ["resolve_amp", "resolve_channels_last", "lr_factor", "adam", "seed_everything", "rng_state",
           "set_rng_state", "isolated_rng", "item_seed", "SeededItems", "BatchPlan", "atomic_save",
           "load_checkpoint", "unwrap", "eval_mode", "interactive", "CsvLog"]

# =========================================================================== helpers
def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``, or None for full fp32."""
    if amp == "off":
        return None
    if amp == "bf16":
        return torch.bfloat16
    # auto: bf16 on CUDA GPUs that have it (Ampere and later); CPU autocast is slower than
    # fp32 on CPUs without bf16 units (like the course machine), MPS autocast is young.
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def resolve_channels_last(value: str, device: torch.device) -> bool:
    if value == "on":
        return True
    if value == "off":
        return False
    return device.type == "cuda"


def lr_factor(
    schedule: str,
    step: int,
    total: int,
    decay_start: float = 0.5,
    milestones: Sequence[float] = (),
    gamma: float = 0.1,
) -> float:
    """Multiplier of the base learning rate for the 0-based ``step`` of a ``total``-step run.

    * ``constant``: 1.
    * ``linear`` (pix2pix, Isola et al. 2017: the learning rate is kept for the first
      ``n`` epochs, then decayed linearly towards zero over ``n_decay`` epochs): with
      ``s0 = decay_start * total``, ``1 - max(0, step + 1 - s0) / (total - s0 + 1)`` - the
      reference implementation's rule with n = s0, n_decay = total - s0; the last step
      still learns a little (1 / (total - s0 + 1)).
    * ``step``: ``gamma ** (number of milestones <= step)``; a milestone < 1 is a fraction
      of ``total`` (the fusion net: lr / 10 at 8k of 40k iterations).
    * ``cosine``: ``(1 + cos(pi * step / total)) / 2`` (SGDR without restarts).
    """
    total = max(int(total), 1)
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        # pix2pix's lambda_rule with n_epochs = s0 and n_epochs_decay = total - s0:
        # 1 - max(0, step + 1 - s0) / (total - s0 + 1)
        s0 = int(round(decay_start * total))
        return max(0.0, 1.0 - max(0, step + 1 - s0) / (total - s0 + 1))
    if schedule == "step":
        marks = [m * total if isinstance(m, float) and 0 < m < 1 else m for m in milestones]
        return float(gamma ** sum(1 for m in marks if step >= m))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    raise LessonsError(f"unknown lr_schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")


def adam(params: Any, lr: float, betas: tuple[float, float] = (0.9, 0.999), **kw: Any) -> torch.optim.Adam:
    """``torch.optim.Adam`` (Kingma & Ba 2015), with PyTorch's fused kernel where it exists.

    The default Adam on CPU tensors runs one small op after another per parameter tensor
    (``_single_tensor_adam``); the fused kernel does the whole update - moments, bias
    correction, step - in one vectorised pass. Same algorithm, same hyperparameters, results
    equal up to float rounding. Measured on the 2-core course CPU for the 29 M parameters of
    the 64-px pix2pix U-Net: 2.1-2.6 s per step unfused against 0.51-0.56 s fused - at batch
    8 that was a fifth of the whole training step (benchmarks/bench_train_speed.py). Used on
    CPU and CUDA parameters; elsewhere (MPS) or on a PyTorch without it: the plain Adam.
    """
    params = list(params)
    devices: set[str] = set()
    for item in params:  # tensors, or parameter groups {"params": [...], ...}
        devices |= {t.device.type for t in item["params"]} if isinstance(item, dict) else {item.device.type}
    if devices and devices <= {"cpu", "cuda"} and "fused" not in kw and "foreach" not in kw:
        try:
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True, **kw)
        except (RuntimeError, TypeError, ValueError):  # an old PyTorch, or an unsupported dtype
            pass
    return torch.optim.Adam(params, lr=lr, betas=betas, **kw)


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(device: torch.device) -> dict[str, Any]:
    """Every RNG state, as plain lists and tensors (loadable with weights_only=True)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def isolated_rng(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run the block with the RNGs seeded by ``seed``; restore the outer states after.

    Used for per-item augmentation, the fixed sample batch and validation, so that none of
    them shifts the training's random stream (which would break exact resume). With a CUDA
    ``device`` its generators are forked too; otherwise only the CPU ones are touched."""
    dev = device if device is not None else torch.device("cpu")
    saved = rng_state(dev)
    try:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        if dev.type == "cuda":
            torch.manual_seed(seed)
        else:
            torch.default_generator.manual_seed(seed)
        yield
    finally:
        set_rng_state(saved, dev)


def item_seed(seed: int, epoch: int, index: int) -> int:
    # A fixed mixing of (seed, epoch, index) into 63 bits (a SplitMix64-style hash), so
    # neighbouring items and epochs get unrelated random streams.
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB) & (2**64 - 1)
    x ^= x >> 31
    x = (x * 0xD6E8FEB86659FD93) & (2**64 - 1)
    x ^= x >> 29
    return x & (2**63 - 1)


class SeededItems(Dataset):
    """Wraps a dataset so that item ``(epoch, i)`` is built with RNGs seeded from
    ``(seed, epoch, i)``: random crops and flips do not depend on which process loads the
    item, nor on what was drawn before it (the key to exact resume mid-epoch)."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]):
        epoch, i = key
        with isolated_rng(item_seed(self.seed, epoch, i)):
            return self.dataset[i]


class BatchPlan:
    """An endless batch sampler: epoch ``e`` visits the items in ``randperm(n)`` drawn
    from ``seed + e``, cut into ``n // batch_size`` full batches, starting at global batch
    ``start`` (= epoch * batches_per_epoch + batch index). Yields ``[(epoch, i), ...]``."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int = 0) -> None:
        self.n, self.batch_size, self.seed, self.start = n, batch_size, seed, start
        self.per_epoch = n // batch_size

    def __iter__(self):
        epoch, b = divmod(self.start, self.per_epoch)
        while True:
            g = torch.Generator().manual_seed(self.seed + epoch)
            perm = torch.randperm(self.n, generator=g).tolist()
            for j in range(b, self.per_epoch):
                yield [(epoch, i) for i in perm[j * self.batch_size:(j + 1) * self.batch_size]]
            epoch, b = epoch + 1, 0


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file next to ``path``, then ``os.replace`` it in.

    A crash or Ctrl-C in the middle leaves the previous file untouched and no partial file:
    ``os.replace`` is atomic on POSIX and Windows when both names are on one filesystem."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint with ``torch.load(weights_only=True)``: tensors, numbers,
    strings, lists and dicts only - never arbitrary pickled objects."""
    path = Path(path)
    if not path.is_file():
        raise LessonsError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, corrupt, or not a checkpoint at all
        raise LessonsError(
            f"{path} is not a readable training checkpoint ({type(e).__name__}: {str(e)[:200]}); "
            "delete it and start again, or point --out at another run"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CKPT_FORMAT:
        raise LessonsError(f"{path} is not a gan-lessons training checkpoint (format {CKPT_FORMAT} expected)")
    return ckpt


def unwrap(net: nn.Module) -> nn.Module:
    """The original module behind a DDP and/or ``torch.compile`` wrapper (its state-dict keys
    are clean)."""
    if isinstance(net, nn.parallel.DistributedDataParallel):
        net = net.module
    return getattr(net, "_orig_mod", net)


@contextlib.contextmanager
def eval_mode(nets: dict[str, nn.Module]) -> Iterator[None]:
    modes = {k: n.training for k, n in nets.items()}
    try:
        for n in nets.values():
            n.eval()
        yield
    finally:
        for k, n in nets.items():
            n.train(modes[k])


def interactive() -> bool:
    return sys.stderr.isatty() or "ipykernel" in sys.modules


class CsvLog:
    """An append-only CSV whose header grows when a new column appears (rare: the file is
    rewritten once). On resume, rows after the checkpoint's step are dropped."""

    def __init__(self, path: Path, keep_until_step: int | None) -> None:
        self.path = path
        self.header: list[str] = []
        if keep_until_step is None or not path.exists():
            if path.exists():
                path.unlink()
            return
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            self.header = list(reader.fieldnames or [])
            rows = [r for r in reader if r.get("step") and int(float(r["step"])) <= keep_until_step]
        self._rewrite(rows)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.header, restval="")
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.path)

    def write(self, row: dict[str, Any]) -> None:
        new = [k for k in row if k not in self.header]
        if new:
            old_rows: list[dict[str, Any]] = []
            if self.path.exists():
                with open(self.path, newline="") as f:
                    old_rows = list(csv.DictReader(f))
            self.header += new
            self._rewrite(old_rows)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.header, restval="").writerow(row)
