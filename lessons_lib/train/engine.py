"""The one GAN training engine of the kit.

Every network of the course - the toy GAN, DCGAN, pix2pix and the seed-000/003 ladders,
and later ColorGAN, NAFNet, StyleGAN2, the inversion encoder and the fusion net - trains
through :func:`train`, as a :class:`~lessons_lib.train.task.Task`. One step is the
alternating update of Goodfellow et al. (2014), Algorithm 1::

    data  = task.prepare(next batch)                # e.g. uint8 RGB -> (L, ab) on the device
    state = task.forward(data)                      # fake = G(x), computed ONCE per step
    for phase in task.phases:                       # e.g. ("D", "G")
        only the nets of this phase require grad    # pix2pix's set_requires_grad trick:
                                                    # the G step computes no grads for D's weights
        out = task.loss(phase, state, step)         # {"loss": total, parts...}
        non-finite total -> stop (divergence guard), nothing is applied
        opts[phase].zero_grad(); out["loss"].backward(); opts[phase].step()

With ``d_steps = k > 1`` the discriminator gets ``k - 1`` extra updates on fresh batches
before each step (a WGAN critic takes 5, Arjovsky et al. 2017, Algorithm 1).

Around the step the engine provides, for every task alike: device choice (``auto``: cuda,
then mps, then cpu), bf16 autocast on CUDA, channels_last, optional ``torch.compile``, a
learning-rate schedule on every optimiser (pix2pix: constant, then linear decay to 0),
per-step metrics in ``metrics.csv``, sample grids of a fixed batch in ``samples/``,
validation metrics in ``val_metrics.csv`` (and ``best.safetensors`` for the best one),
a tqdm bar with the losses, an atomic checkpoint that holds everything needed to continue
*exactly* (nets, optimisers, schedulers, every RNG, the data position), Ctrl-C that saves
before it stops, and at the end the exported model (safetensors + model card).

Exact resume: a training item ``i`` of epoch ``e`` is always loaded with the RNGs seeded
from ``(seed, e, i)``, and epoch ``e`` visits the items in the permutation drawn from
``seed + e``; so the batches are the same whether they come from the main process, from a
worker, or after a resume that starts in the middle of an epoch. On the CPU, 20 steps in
one go and 10 steps + resume + 10 steps give bit-identical weights (see the tests).
"""
from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import math
import os
import platform
import random
import signal
import sys
import threading
import time
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, default_collate

from .. import LessonsError, __version__
from ..device import resolve_device
from .task import Task

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "TrainingInterrupted",
    "train",
    "resolve_device",
    "resolve_amp",
    "lr_factor",
    "seed_everything",
    "atomic_save",
    "load_checkpoint",
    "CHECKPOINT_NAME",
    "check_field_types",
    "adam",
    "config_fields",
]

CHECKPOINT_NAME = "checkpoint.pt"
_CKPT_FORMAT = "gan-lessons-checkpoint/1"
_SCHEDULES = ("constant", "linear", "step", "cosine")
_AMP_CHOICES = ("auto", "bf16", "off")
_AUTO_OFF_ON = ("auto", "on", "off")


# =========================================================================== config
@dataclass
class TrainConfig:
    """How to train (the *what* - model, loss, data - lives in a recipe or a task).

    Length: give ``steps`` or ``epochs`` (one of them). An epoch is one pass over the
    training items in batches of ``batch_size`` (the last partial batch is dropped, so
    BatchNorm never sees a batch of one); ``epochs`` becomes ``steps`` through it.
    """

    #: number of training steps (one step = one update of every phase)
    steps: int | None = None
    #: or the number of passes over the training data (may be fractional)
    epochs: float | None = None
    #: images per batch
    batch_size: int = 16
    #: seeds python, numpy and torch; the same seed on the same machine = the same run
    seed: int = 0
    #: "auto" picks cuda, then mps, then cpu; or "cpu", "cuda", "cuda:1", "mps"
    device: str = "auto"
    #: "auto" = bf16 autocast on CUDA (when the GPU supports it), off elsewhere; "bf16" | "off".
    #: bf16 keeps fp32's exponent range, so no loss scaling is needed (unlike fp16).
    amp: str = "auto"
    #: "auto" = on for CUDA (tensor cores want NHWC), off on CPU/MPS: on the 2-core AVX2 course
    #: CPU a pix2pix step (64 px, batch 8, interleaved runs) took a median 3.3 s with
    #: channels_last against 2.7 s without; "on" | "off"
    channels_last: str = "auto"
    #: torch.compile every net (first steps are slow while it compiles; needs a C++ compiler on CPU)
    compile: bool = False
    #: "constant"; "linear" = pix2pix: constant until ``decay_start`` of the run, then linearly
    #: to 0; "step" = multiply by ``lr_gamma`` at each of ``lr_milestones``; "cosine" = half a
    #: cosine from 1 to 0 (Loshchilov & Hutter 2017, NAFNet's schedule)
    lr_schedule: str = "linear"
    #: fraction of the run after which the "linear" schedule starts to decay (pix2pix: 100 of 200 epochs)
    decay_start: float = 0.5
    #: "step" schedule: steps (ints) or fractions of the run (floats < 1) where lr *= lr_gamma
    lr_milestones: tuple = ()
    lr_gamma: float = 0.1
    #: discriminator updates per generator update (1 for pix2pix; WGAN critics use 5)
    d_steps: int = 1
    #: clip the gradient norm of each phase's nets to this before its optimiser steps (0 = off);
    #: the norm before clipping is logged as PHASE_grad_norm (Pascanu et al. 2013)
    grad_clip: float = 0.0
    #: gradient accumulation: each optimiser step averages the gradients of this many batches
    #: of batch_size (an effective batch of batch_size x accumulate in the memory of one);
    #: with more than 1, each phase runs the forward pass of each batch itself
    accumulate: int = 1
    #: decay beta of an exponential moving average of net "G"'s weights (0 = off): after the
    #: optimisers of a step that trained G, G_ema = beta G_ema + (1 - beta) G (BatchNorm stats
    #: copied). When on, the sample grids, validation and the exported model use G_ema, and
    #: the checkpoint holds it (net "G_ema"), so resume stays exact. 0.999 = a memory of about
    #: 1,000 steps (Yazici et al. 2019; StyleGAN2 keeps its own, ``ema_kimg``: leave this at 0)
    g_ema: float = 0.0
    #: write a metrics.csv row (mean over the window) every this many steps
    log_every: int = 10
    #: write a sample grid of the fixed batch every this many steps (0 = only at the start and
    #: the end of the run; < 0 = never)
    sample_every: int = 200
    #: images in the sample grid
    n_samples: int = 8
    #: write checkpoint.pt every this many steps (and always at the end and on Ctrl-C)
    ckpt_every: int = 500
    #: validate every this many steps (0 = only at the end; < 0 = never)
    eval_every: int = 0
    #: validation metric that selects best.safetensors (e.g. "psnr"); None = no best model
    best_metric: str | None = None
    #: "max" when a larger ``best_metric`` is better (PSNR, SSIM, AuC), "min" otherwise (MAE)
    best_mode: str = "max"
    #: export the model at every validation (``evals/step_NNNNNN.safetensors``, its metrics in
    #: the card), and validate once before the first step of a new run: a recipe can then pick
    #: its checkpoint by a rule over all of them (e.g. NoGAN's "most colourful within 0.3 dB
    #: of the best PSNR", :func:`lessons_lib.checkpoints.select_eval`)
    keep_evals: bool = False
    #: DataLoader worker processes; None = 0 on CPU (the 2-core machine needs its cores for
    #: the convolutions), min(8, cores) on a GPU
    num_workers: int | None = None
    #: the run folder; "{name}" is replaced by the task's name
    out: str = "runs/{name}"
    #: continue the run in ``out`` from its checkpoint
    resume: bool = False
    #: start a new run in ``out`` even when it already holds one
    overwrite: bool = False
    #: show a tqdm bar (only when stderr is a terminal or a notebook)
    progress: bool = True

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes``; giving ``steps`` clears ``epochs`` and vice versa."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise LessonsError(
                f"unknown training option(s) {', '.join(unknown)}; valid: {', '.join(config_fields())}"
            )
        if changes.get("steps") is not None and "epochs" not in changes:
            changes["epochs"] = None
        if changes.get("epochs") is not None and "steps" not in changes:
            changes["steps"] = None
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Raise a :class:`LessonsError` naming the first bad field."""
        check_field_types(self)
        if (self.steps is None) == (self.epochs is None):
            raise LessonsError("give exactly one of steps or epochs (e.g. --steps 1000 or --epochs 10)")
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise LessonsError(f"steps must be a positive integer, got {self.steps!r}")
        if self.epochs is not None and not (self.epochs > 0):
            raise LessonsError(f"epochs must be positive, got {self.epochs!r}")
        if self.batch_size < 1:
            raise LessonsError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr_schedule not in _SCHEDULES:
            raise LessonsError(f"unknown lr_schedule {self.lr_schedule!r}; choose one of {', '.join(_SCHEDULES)}")
        if not 0.0 <= self.decay_start <= 1.0:
            raise LessonsError(f"decay_start is a fraction of the run in [0, 1], got {self.decay_start}")
        if self.amp not in _AMP_CHOICES:
            raise LessonsError(f"unknown amp {self.amp!r}; choose one of {', '.join(_AMP_CHOICES)}")
        if self.channels_last not in _AUTO_OFF_ON:
            raise LessonsError(
                f"unknown channels_last {self.channels_last!r}; choose one of {', '.join(_AUTO_OFF_ON)}"
            )
        if self.d_steps < 1:
            raise LessonsError(f"d_steps must be >= 1, got {self.d_steps}")
        if self.grad_clip < 0:
            raise LessonsError(f"grad_clip is a gradient norm, >= 0 (0 = off, e.g. 1.0), got {self.grad_clip}")
        if self.accumulate < 1:
            raise LessonsError(f"accumulate is a number of batches per optimiser step, >= 1, got {self.accumulate}")
        if not 0.0 <= self.g_ema < 1.0:
            raise LessonsError(f"g_ema is an EMA decay in [0, 1) (0 = off, e.g. 0.999), got {self.g_ema}")
        if self.best_mode not in ("max", "min"):
            raise LessonsError(f"best_mode must be 'max' or 'min', got {self.best_mode!r}")
        for name in ("log_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise LessonsError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.resume and self.overwrite:
            raise LessonsError("resume and overwrite exclude each other: continue the run, or start it again")


def check_field_types(obj: Any, skip: Sequence[str] = ()) -> None:
    """Check each field of a dataclass against its annotation (int, float, str, bool,
    tuple, ``X | None``); a :class:`LessonsError` names the field, the type and the value.
    (Options arrive from the command line and from notebooks: catch "abc" for an int here,
    not as a TypeError deep inside the training loop.)"""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        if f.name in skip:
            continue
        value, hint = getattr(obj, f.name), hints[f.name]
        args = typing.get_args(hint)
        allowed = tuple(a for a in args if a is not type(None)) if args else (hint,)
        if value is None:
            if type(None) in args:
                continue
            raise LessonsError(f"option {f.name} cannot be None")
        ok = False
        for t in allowed:
            t = typing.get_origin(t) or t
            if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                ok = True
            elif t is int and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            elif t in (str, bool, tuple, list, dict) and isinstance(value, t):
                ok = True
            elif t is tuple and isinstance(value, list):
                ok = True
        if not ok:
            names = " or ".join(getattr(typing.get_origin(t) or t, "__name__", str(t)) for t in allowed)
            none = " or None" if type(None) in args else ""
            raise LessonsError(f"option {f.name} expects {names}{none}, got {value!r}")


def config_fields() -> list[str]:
    """Names of the :class:`TrainConfig` fields."""
    return [f.name for f in dataclasses.fields(TrainConfig)]


class TrainingDiverged(LessonsError):
    """A loss became NaN or infinite: training stopped, the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the checkpoint was saved first. ``str()`` says how to resume."""


@dataclass
class TrainResult:
    """What a finished run produced."""

    out: Path
    steps: int                      # steps done in total (including earlier runs when resumed)
    epochs: float                   # passes over the training data
    model_path: Path | None         # the exported model (.safetensors; its card is next to it)
    checkpoint_path: Path
    metrics_csv: Path
    samples: list[Path] = field(default_factory=list)
    losses: dict[str, float] = field(default_factory=dict)       # mean of the last log window
    val_metrics: dict[str, float] = field(default_factory=dict)  # final validation
    best: dict[str, Any] | None = None                            # {"metric", "value", "step", "path"}
    images_per_s: float = 0.0
    wall_s: float = 0.0
    device: str = "cpu"


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


def _resolve_channels_last(value: str, device: torch.device) -> bool:
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
    raise LessonsError(f"unknown lr_schedule {schedule!r}; choose one of {', '.join(_SCHEDULES)}")


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


def _rng_state(device: torch.device) -> dict[str, Any]:
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


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def _isolated_rng(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run the block with the RNGs seeded by ``seed``; restore the outer states after.

    Used for per-item augmentation, the fixed sample batch and validation, so that none of
    them shifts the training's random stream (which would break exact resume). With a CUDA
    ``device`` its generators are forked too; otherwise only the CPU ones are touched."""
    dev = device if device is not None else torch.device("cpu")
    saved = _rng_state(dev)
    try:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        if dev.type == "cuda":
            torch.manual_seed(seed)
        else:
            torch.default_generator.manual_seed(seed)
        yield
    finally:
        _set_rng_state(saved, dev)


def _item_seed(seed: int, epoch: int, index: int) -> int:
    # A fixed mixing of (seed, epoch, index) into 63 bits (a SplitMix64-style hash), so
    # neighbouring items and epochs get unrelated random streams.
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB) & (2**64 - 1)
    x ^= x >> 31
    x = (x * 0xD6E8FEB86659FD93) & (2**64 - 1)
    x ^= x >> 29
    return x & (2**63 - 1)


class _SeededItems(Dataset):
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
        with _isolated_rng(_item_seed(self.seed, epoch, i)):
            return self.dataset[i]


class _BatchPlan:
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
    if not isinstance(ckpt, dict) or ckpt.get("format") != _CKPT_FORMAT:
        raise LessonsError(f"{path} is not a gan-lessons training checkpoint (format {_CKPT_FORMAT} expected)")
    return ckpt


def _unwrap(net: nn.Module) -> nn.Module:
    """The original module behind a ``torch.compile`` wrapper (its state-dict keys are clean)."""
    return getattr(net, "_orig_mod", net)


@contextlib.contextmanager
def _eval_mode(nets: dict[str, nn.Module]) -> Iterator[None]:
    modes = {k: n.training for k, n in nets.items()}
    try:
        for n in nets.values():
            n.eval()
        yield
    finally:
        for k, n in nets.items():
            n.train(modes[k])


def _hardware(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        name = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        info["device_name"] = name
    return info


def _interactive() -> bool:
    return sys.stderr.isatty() or "ipykernel" in sys.modules


class _CsvLog:
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


def _fmt(v: float) -> str:
    return f"{v:.4g}"


# =========================================================================== the engine
class Trainer:
    """Runs a :class:`Task` under a :class:`TrainConfig`; use :func:`train`."""

    def __init__(
        self,
        task: Task,
        config: TrainConfig,
        *,
        hooks: Sequence[Callable[[int, dict[str, float]], None]] = (),
        command: str | None = None,
        card: dict[str, Any] | None = None,
    ) -> None:
        config.validate()
        self.task = task
        self.cfg = config
        self.hooks = list(hooks)
        self.command = command
        self.extra_card = dict(card or {})
        self.out = Path(config.out.replace("{name}", task.name))
        self.ckpt_path = self.out / CHECKPOINT_NAME
        self.device = resolve_device(config.device)
        self.amp_dtype = resolve_amp(config.amp, self.device)
        self.channels_last = _resolve_channels_last(config.channels_last, self.device)
        self._stop_requested = False
        # the run's state, set for real by _start() (and _restore() on a resume)
        self.num_workers = config.num_workers if config.num_workers is not None else (
            0 if self.device.type != "cuda" else min(8, os.cpu_count() or 1))
        self.t_start = time.perf_counter()
        self.cpu_start = time.process_time()
        self.wall_before = 0.0
        self.cpu_before = 0.0
        self.best: dict[str, Any] | None = None
        self.val_metrics: dict[str, float] = {}
        self.samples: list[Path] = []
        self.scheds: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}
        self.fixed: dict[str, torch.Tensor] | None = None
        self.per_epoch = 1
        self.data_pos = 0
        self.log: _CsvLog | None = None
        self.val_log: _CsvLog | None = None
        self._bar = None
        self._batches: Iterator[Any] | None = None
        self._dirty = False
        self._last_lr: dict[str, float] = {}
        self._last_logs: dict[str, float] = {}
        self._rates: list[float] = []
        self._last_start: int | None = None

    # ----------------------------------------------------------------- setup
    def _check_out(self) -> dict[str, Any] | None:
        """Load the checkpoint to resume from, or make sure ``out`` is free."""
        if self.cfg.resume:
            if not self.ckpt_path.is_file():
                raise LessonsError(
                    f"nothing to resume: {self.ckpt_path} does not exist; "
                    f"start a new run without --resume (or point --out at the run to continue)"
                )
            return load_checkpoint(self.ckpt_path)
        if self.ckpt_path.is_file() and not self.cfg.overwrite:
            raise LessonsError(
                f"{self.out} already holds a run (checkpoint.pt); pass --resume to continue it, "
                "--overwrite to start it again, or choose another --out"
            )
        return None

    def _build(self) -> None:
        task = self.task
        seed_everything(self.cfg.seed)
        task.device = self.device
        task.setup(self.device)
        missing = [p for p in task.phases if p not in task.opts]
        if missing:
            raise LessonsError(f"task {task.name!r} has phases {missing} without an optimiser in task.opts")
        unknown = [k for p in task.phases for k in task.phase_nets(p) if k not in task.nets]
        if unknown:
            raise LessonsError(f"task {task.name!r} names nets {unknown} that are not in task.nets")
        if self.cfg.d_steps > 1 and "D" not in task.phases:
            raise LessonsError(f"d_steps={self.cfg.d_steps} needs a 'D' phase; task {task.name!r} has {task.phases}")
        if task.export_key not in task.nets:
            raise LessonsError(f"task {task.name!r} exports {task.export_key!r}, which is not in task.nets")
        if self.cfg.g_ema > 0:
            if "G" not in task.nets:
                raise LessonsError(f"g_ema averages the net 'G'; task {task.name!r} has {sorted(task.nets)}")
            if "G_ema" in task.nets:
                raise LessonsError(f"task {task.name!r} keeps its own G_ema (StyleGAN2: the recipe's ema_kimg); "
                                   "leave g_ema at 0")
            ema = copy.deepcopy(_unwrap(task.nets["G"]))   # starts equal to G; draws no random numbers
            for p in ema.parameters():
                p.requires_grad_(False)
            task.nets["G_ema"] = ema
        self._params = {k: [p for p in n.parameters()] for k, n in task.nets.items()}
        self._learning = {k for p in task.phases for k in task.phase_nets(p)}
        if self.channels_last:
            for n in task.nets.values():
                n.to(memory_format=torch.channels_last)
        for n in task.nets.values():
            n.train()

    def _make_schedulers(self, total: int) -> dict[str, torch.optim.lr_scheduler.LambdaLR]:
        cfg = self.cfg

        def factor(step: int) -> float:
            return lr_factor(cfg.lr_schedule, step, total, cfg.decay_start, cfg.lr_milestones, cfg.lr_gamma)

        return {p: torch.optim.lr_scheduler.LambdaLR(o, factor) for p, o in self.task.opts.items()}

    def _compile(self) -> None:
        if not self.cfg.compile:
            return
        if not hasattr(torch, "compile"):
            raise LessonsError("compile=True needs PyTorch 2 (torch.compile)")
        for k in list(self.task.nets):
            self.task.nets[k] = torch.compile(self.task.nets[k])

    # ----------------------------------------------------------------- checkpoints
    def _checkpoint_dict(self, step: int, data_pos: int, rng: dict[str, Any], exact: bool) -> dict[str, Any]:
        return {
            "format": _CKPT_FORMAT,
            "step": step,
            "data_pos": data_pos,
            "exact": exact,
            "nets": {k: _unwrap(n).state_dict() for k, n in self.task.nets.items()},
            "opts": {k: o.state_dict() for k, o in self.task.opts.items()},
            "scheds": {k: s.state_dict() for k, s in self.scheds.items()},
            "rng": rng,
            "best": self.best,
            "task": self._jsonable(self.task.describe()),
            "config": self._jsonable(dataclasses.asdict(self.cfg)),
            "wall_s": self._wall(),
            "cpu_s": self._cpu(),
            "version": __version__,
        }

    @staticmethod
    def _jsonable(obj: Any) -> Any:
        # checkpoints are read with weights_only=True: keep them to plain containers
        if isinstance(obj, dict):
            return {str(k): Trainer._jsonable(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [Trainer._jsonable(v) for v in obj]
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        return str(obj)

    def _save_checkpoint(self, step: int, data_pos: int, rng: dict[str, Any] | None = None,
                         exact: bool = True) -> Path:
        rng = rng if rng is not None else _rng_state(self.device)
        return atomic_save(self._checkpoint_dict(step, data_pos, rng, exact), self.ckpt_path)

    def _restore(self, ckpt: dict[str, Any]) -> None:
        task = self.task
        saved_task = ckpt.get("task", {})
        try:
            for k, n in task.nets.items():
                _unwrap(n).load_state_dict(ckpt["nets"][k])
            for k, o in task.opts.items():
                o.load_state_dict(ckpt["opts"][k])
            for k, s in self.scheds.items():
                s.load_state_dict(ckpt["scheds"][k])
                # The optimiser's saved lr was computed for the saved run's length; a resume
                # with other --steps has another schedule, so recompute it for this one (the
                # same value when the length is unchanged: exact resume stays exact).
                lrs = [base * fn(s.last_epoch) for base, fn in zip(s.base_lrs, s.lr_lambdas)]
                for group, lr in zip(s.optimizer.param_groups, lrs):
                    group["lr"] = lr
                s._last_lr = lrs
        except (KeyError, RuntimeError, ValueError) as e:
            raise LessonsError(
                f"the checkpoint in {self.ckpt_path} does not fit this task (it was written by "
                f"{saved_task.get('recipe', saved_task.get('task', 'another task'))!r}); resume with the "
                "same recipe and options, or start a new run "
                f"in another --out ({type(e).__name__}: {str(e)[:200]})"
            ) from None
        _set_rng_state(ckpt["rng"], self.device)
        self.best = ckpt.get("best")
        self.wall_before = float(ckpt.get("wall_s", 0.0))
        self.cpu_before = float(ckpt.get("cpu_s", 0.0))
        if not ckpt.get("exact", True):
            self._say(
                f"note: the run was interrupted in the middle of step {ckpt['step'] + 1}; "
                "resuming from there is not bit-identical to an uninterrupted run"
            )

    # ----------------------------------------------------------------- one step
    def _set_trainable(self, names: set[str] | tuple[str, ...]) -> None:
        """requires_grad only on ``names`` (pix2pix's set_requires_grad): the backward pass
        of the G phase then computes no gradients for D's weights, only through D."""
        for k, params in self._params.items():
            flag = k in names
            for p in params:
                p.requires_grad_(flag)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _prepare(self, batch: Any) -> dict[str, torch.Tensor]:
        data = self.task.prepare(batch, self.device)
        if self.channels_last:
            data = {k: v.contiguous(memory_format=torch.channels_last)
                    if isinstance(v, torch.Tensor) and v.dim() == 4 else v for k, v in data.items()}
        return data

    def _backward(self, phase: str, state: dict[str, torch.Tensor], step: int, logs: dict[str, float],
                  scale: float) -> None:
        """One batch's loss of ``phase`` and its backward pass (times ``scale``, 1/accumulate);
        its parts are added, times ``scale``, into ``logs``. A non-finite loss stops before
        backward: the weights stay good."""
        task = self.task
        with self._autocast():
            out = task.loss(phase, state, step)
            if task.reg_every and step % task.reg_every == 0:
                reg = task.regularize(phase, state, step)
                if reg is not None:
                    out = dict(out)
                    out["reg"] = reg
                    out["loss"] = out["loss"] + reg
        if "loss" not in out:
            raise LessonsError(f"task {task.name!r}: loss({phase!r}) must return a dict with a 'loss' entry")
        total_loss = out["loss"]
        names = list(out)
        values = torch.stack([torch.as_tensor(out[k], device=total_loss.device).detach().float().reshape(())
                              for k in names]).tolist()  # one device sync per phase
        for k, v in zip(names, values):
            key = f"loss_{phase}" if k == "loss" else f"{phase}_{k}"
            if k == "loss" and not math.isfinite(v):
                raise _NonFinite(key, v)
            logs[key] = logs.get(key, 0.0) + v * scale
        (total_loss * scale if scale != 1.0 else total_loss).backward()

    def _update(self, phase: str, batches: list[dict[str, torch.Tensor]], step: int, logs: dict[str, float],
                shared: dict[str, torch.Tensor] | None = None) -> None:
        """One optimiser step of ``phase``: the gradients of ``batches`` averaged (one batch
        unless ``accumulate`` > 1), clipped with ``grad_clip``, then the step. ``shared`` is
        the forward state of the step's one batch, computed once for every phase; without
        it each batch is forwarded here, with only this phase's nets trainable."""
        task = self.task
        nets = task.phase_nets(phase)
        opt = task.opts[phase]
        self._set_trainable(nets)
        opt.zero_grad(set_to_none=True)
        parts: dict[str, float] = {}
        scale = 1.0 / len(batches)
        for data in batches:
            if shared is not None:
                state = shared
            else:
                with self._autocast():
                    state = task.forward(data)
            self._backward(phase, state, step, parts, scale)
        if self.cfg.grad_clip > 0:
            params = [p for k in nets for p in self._params[k]]
            parts[f"{phase}_grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip))
        opt.step()
        logs.update(parts)   # an extra D step's figures are replaced by the next one's
        self._dirty = True

    def _batches_of_step(self) -> list[dict[str, torch.Tensor]]:
        return [self._prepare(self._next_batch()) for _ in range(self.cfg.accumulate)]

    def _step(self, step: int) -> dict[str, float]:
        task = self.task
        logs: dict[str, float] = {}
        # extra discriminator updates on fresh batches (WGAN's n_critic); G is not trained
        # in them, so its forward builds no graph through G's weights
        phases = task.active_phases(step)
        for _ in range(self.cfg.d_steps - 1 if "D" in phases else 0):
            self._update("D", self._batches_of_step(), step, logs)
        batches = self._batches_of_step()
        shared = None
        if len(batches) == 1:
            # one forward shared by every phase; only the nets of this step's phases learn: a
            # phase that sits out (NoGAN's D-only warm-up of the critic) builds no graph
            # through its nets' weights
            self._set_trainable(self._learning if phases == task.phases else
                                {k for p in phases for k in task.phase_nets(p)})
            with self._autocast():
                shared = task.forward(batches[0])
        for phase in phases:
            self._update(phase, batches, step, logs, shared)
        if self.cfg.g_ema > 0 and any("G" in task.phase_nets(p) for p in phases):
            self._update_ema()
        task.on_step_end(step)
        self._last_lr = {p: task.opts[p].param_groups[0]["lr"] for p in task.phases}
        with warnings.catch_warnings():
            # every schedule follows the global step, also while its phase sits out (NoGAN's
            # D warm-up), where torch warns that the optimiser has not stepped yet
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            for s in self.scheds.values():
                s.step()
        return logs

    @torch.no_grad()
    def _update_ema(self) -> None:
        """G_ema = beta * G_ema + (1 - beta) * G, once per step after the optimisers."""
        beta = self.cfg.g_ema
        nets = self.task.nets
        for p_ema, p in zip(_unwrap(nets["G_ema"]).parameters(), _unwrap(nets["G"]).parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(_unwrap(nets["G_ema"]).buffers(), _unwrap(nets["G"]).buffers()):
            b_ema.copy_(b)  # BatchNorm running statistics: G's own

    @contextlib.contextmanager
    def _ema_as_g(self) -> Iterator[None]:
        """With g_ema on: G_ema stands in for G (samples, validation, export)."""
        nets = self.task.nets
        if self.cfg.g_ema <= 0 or "G_ema" not in nets:
            yield
            return
        g, e = nets["G"], nets["G_ema"]
        nets["G"], nets["G_ema"] = e, g
        try:
            yield
        finally:
            nets["G"], nets["G_ema"] = g, e

    def _next_batch(self) -> Any:
        batch = next(self._batches)
        self.data_pos += 1
        return batch

    # ----------------------------------------------------------------- outputs
    def _say(self, msg: str) -> None:
        if self._bar is not None:
            self._bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr)

    def _save_samples(self, step: int) -> Path | None:
        if self.fixed is None:
            return None
        from ..data import grid_image

        with self._ema_as_g(), _eval_mode(self.task.nets), torch.no_grad(), \
                _isolated_rng(self.cfg.seed, self.device), self._autocast():
            images = self.task.sample(self.fixed)
        images = images.detach().float().clamp(0, 1).cpu()
        if images.dim() == 5:  # (rows, N, 3, H, W): one grid row per row (input / output / truth)
            nrow = images.shape[1]
            images = images.flatten(0, 1)
        else:                  # (N, 3, H, W)
            nrow = min(len(images), 8)
        path = self.out / "samples" / f"step_{step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        grid_image(images, nrow=nrow).save(path)
        self.samples.append(path)
        return path

    def _evaluate(self, step: int) -> dict[str, float]:
        with self._ema_as_g():
            return self._evaluate_now(step)

    def _evaluate_now(self, step: int) -> dict[str, float]:
        ds = self.task.dataset("val", False)
        if ds is None:
            return {}
        loader = DataLoader(ds, batch_size=self.cfg.batch_size, shuffle=False, num_workers=self.num_workers,
                            pin_memory=self.device.type == "cuda")
        with _eval_mode(self.task.nets), torch.no_grad(), _isolated_rng(self.cfg.seed, self.device), \
                self._autocast():
            metrics = dict(self.task.evaluate(loader))
        if not metrics:
            return {}
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        self.val_log.write({"step": step, "epoch": round(self.data_pos / self.per_epoch, 4),
                            "wall_s": round(self._wall(), 1), "cpu_s": round(self._cpu(), 1), **numeric})
        if self.cfg.keep_evals:
            (self.out / "evals").mkdir(exist_ok=True)
            self._export(self.out / "evals" / f"step_{step:06d}", step, numeric, kind="eval")
        metric = self.cfg.best_metric
        if metric is not None:
            if metric not in numeric:
                raise LessonsError(f"best_metric {metric!r} is not among the validation metrics {sorted(numeric)}")
            v = numeric[metric]
            better = (self.best is None or (v > self.best["value"] if self.cfg.best_mode == "max"
                                            else v < self.best["value"]))
            if better and math.isfinite(v):
                path = self._export(self.out / "best", step, numeric, kind="best")
                self.best = {"metric": metric, "value": v, "step": step, "path": str(path)}
        self.val_metrics = numeric
        return numeric

    def _card(self, step: int, val: dict[str, float]) -> dict[str, Any]:
        cfg = dataclasses.asdict(self.cfg)
        card = {
            **self._jsonable(self.task.describe()),
            "train_config": self._jsonable(cfg),
            "steps": step,
            "epochs": round(self.data_pos / self.per_epoch, 4),
            "images_seen": self.data_pos * self.cfg.batch_size,
            "metrics": val,
            "best": self.best,
            "hardware": _hardware(self.device),
            "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off",
            "command": self.command or "lessons_lib.train.train(...) from Python",
            "wall_time_s": round(self._wall(), 1),
            "cpu_time_s": round(self._cpu(), 3),
        }
        card.update(self._jsonable(self.extra_card))
        return card

    def _export(self, path: Path, step: int, val: dict[str, float], kind: str = "final") -> Path:
        from ..checkpoints import save_model

        card = self._card(step, val)
        card["kind"] = kind
        net = _unwrap(self.task.nets[self.task.export_key])
        return Path(save_model(net, path, card))

    def _wall(self) -> float:
        """Seconds of wall-clock time of the run so far, over all its resumes."""
        return self.wall_before + time.perf_counter() - self.t_start

    def _cpu(self) -> float:
        """CPU seconds of this process (all its threads) over the run's resumes: the
        budget a curve "quality against CPU-hours" is drawn on (a busy machine stretches
        wall time, not CPU time)."""
        return self.cpu_before + time.process_time() - self.cpu_start

    # ----------------------------------------------------------------- SIGINT
    @contextlib.contextmanager
    def _sigint_at_step_boundary(self) -> Iterator[None]:
        """First Ctrl-C: finish the running step, save, stop. Second: stop at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            self._stop_requested = True
            signal.signal(signal.SIGINT, previous if callable(previous) else signal.default_int_handler)

        try:
            signal.signal(signal.SIGINT, handler)
        except (ValueError, OSError):  # not allowed here (embedded interpreter)
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # ----------------------------------------------------------------- run
    def run(self) -> TrainResult:
        """Train: :meth:`_start` (build, resume, data), :meth:`_loop` (the steps), :meth:`_finish`
        (the last samples, validation, checkpoint and the exported model)."""
        start, total = self._start()
        try:
            step = self._loop(start, total)
            model_path = self._finish(step)
        finally:
            self._bar.close()
            self._bar = None
            self._batches = None  # shuts the loader's worker processes down now
        return TrainResult(
            out=self.out, steps=step, epochs=round(self.data_pos / self.per_epoch, 4),
            model_path=model_path, checkpoint_path=self.ckpt_path, metrics_csv=self.out / "metrics.csv",
            samples=list(self.samples), losses=dict(self._last_logs),
            val_metrics=dict(self.val_metrics), best=self.best,
            images_per_s=float(np.median(self._rates)) if self._rates else 0.0, wall_s=self._wall(),
            device=str(self.device),
        )

    def _start(self) -> tuple[int, int]:
        """Check the run folder, build the task, restore a checkpoint, set up the data; returns
        ``(first step, total steps)``."""
        cfg, task = self.cfg, self.task
        ckpt = self._check_out()
        self.out.mkdir(parents=True, exist_ok=True)
        self.t_start = time.perf_counter()
        self.cpu_start = time.process_time()

        self._build()
        train_ds = task.dataset("train", True)
        if train_ds is None or len(train_ds) == 0:
            raise LessonsError(f"task {task.name!r} has no training data")
        if len(train_ds) < cfg.batch_size:
            raise LessonsError(
                f"the training data has {len(train_ds)} items, fewer than one batch of {cfg.batch_size}; "
                "lower --batch-size or use more data"
            )
        self.per_epoch = len(train_ds) // cfg.batch_size
        total = cfg.steps if cfg.steps is not None else max(
            1, round(cfg.epochs * self.per_epoch / (cfg.d_steps * cfg.accumulate)))
        self.scheds = self._make_schedulers(total)

        start = 0
        self.data_pos = 0
        if ckpt is not None:
            self._restore(ckpt)
            start = int(ckpt["step"])
            self.data_pos = int(ckpt["data_pos"])
        self._compile()

        # the fixed batch of the sample grids: the first items of val (or train), no augmentation
        fixed_ds = task.dataset("val", False) or task.dataset("train", False)
        if cfg.n_samples > 0 and fixed_ds is not None and len(fixed_ds) > 0:
            with _isolated_rng(cfg.seed + 1, self.device):  # must not move the training RNGs
                items = [fixed_ds[i] for i in range(min(cfg.n_samples, len(fixed_ds)))]
                self.fixed = self._prepare(default_collate(items))

        plan = _BatchPlan(len(train_ds), cfg.batch_size, cfg.seed, start=self.data_pos)
        loader = DataLoader(
            _SeededItems(train_ds, cfg.seed), batch_sampler=plan, num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
            # the loader draws its workers' base seed from this generator, not from the
            # global RNG (which would make a resumed run diverge)
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        self._batches = iter(loader)
        self.log = _CsvLog(self.out / "metrics.csv", start if ckpt is not None else None)
        self.val_log = _CsvLog(self.out / "val_metrics.csv", start if ckpt is not None else None)

        if ckpt is not None:
            self._say(f"resumed {self.out} at step {start} of {total}")
        else:
            if cfg.sample_every >= 0:
                self._save_samples(0)
            if cfg.keep_evals and cfg.eval_every >= 0:
                self._evaluate(0)   # the starting point is a candidate too (a warm start)

        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, initial=start, desc=task.name, unit="step", dynamic_ncols=True,
                         disable=not (cfg.progress and _interactive()), leave=True)
        self._last_start = start if ckpt is not None else None
        return start, total

    def _loop(self, start: int, total: int) -> int:
        """The training steps from ``start`` to ``total`` with logging, samples, validation and
        checkpoints on their schedules; Ctrl-C and a non-finite loss stop it cleanly. Returns
        the step reached."""
        cfg = self.cfg
        window: dict[str, list[float]] = {}
        window_t0, window_steps = time.perf_counter(), 0
        step = start
        last_good = self._last_start
        with self._sigint_at_step_boundary():
            while step < total:
                boundary = (_rng_state(self.device), self.data_pos)
                self._dirty = False
                try:
                    logs = self._step(step)
                except _NonFinite as bad:
                    self._flush(window, step, window_t0, window_steps, self._rates)
                    where = (f"the last good checkpoint (step {last_good}) is kept at {self.ckpt_path}"
                             if last_good is not None else
                             f"no checkpoint was written yet (ckpt_every={cfg.ckpt_every})")
                    raise TrainingDiverged(
                        f"{bad.key} became {bad.value} at step {step + 1}; {where}; "
                        "lower the learning rate, or resume with --resume"
                    ) from None
                except KeyboardInterrupt:
                    # Ctrl-C arrived in the middle of a step (second Ctrl-C, or raised by
                    # code): save the state of the last step boundary when nothing was
                    # updated yet in this step (exact), else the current weights (inexact)
                    self._interrupted(step, boundary, exact=not self._dirty)
                step += 1
                window_steps += 1
                for k, v in logs.items():
                    window.setdefault(k, []).append(v)
                try:
                    for hook in self.hooks:
                        hook(step, logs)
                    if step % cfg.log_every == 0 or step == total:
                        self._last_logs = self._flush(window, step, window_t0, window_steps, self._rates)
                        window, window_t0, window_steps = {}, time.perf_counter(), 0
                        self._bar.set_postfix({k: _fmt(v) for k, v in self._last_logs.items()
                                               if k.startswith("loss_")}, refresh=False)
                    self._bar.update(1)
                    t_book = time.perf_counter()
                    if cfg.sample_every > 0 and step % cfg.sample_every == 0 and step != total:
                        self._save_samples(step)
                    if cfg.eval_every > 0 and step % cfg.eval_every == 0 and step != total:
                        self._evaluate(step)
                    if step % cfg.ckpt_every == 0 and step != total:
                        self._save_checkpoint(step, self.data_pos)
                        last_good = step
                    # samples, validation and checkpoints do not count against images/s
                    window_t0 += time.perf_counter() - t_book
                except KeyboardInterrupt:
                    # between two steps: the state is a clean step boundary
                    self._interrupted(step, (_rng_state(self.device), self.data_pos), exact=True,
                                      between_steps=True)
                if self._stop_requested:
                    self._interrupted(step, (_rng_state(self.device), self.data_pos), exact=True,
                                      between_steps=True)
        return step

    def _finish(self, step: int) -> Path:
        """The end of a run: the last sample grid and validation, the checkpoint, the export."""
        cfg = self.cfg
        try:
            if cfg.sample_every >= 0:
                self._save_samples(step)
            if cfg.eval_every >= 0:
                self._evaluate(step)
        except KeyboardInterrupt:
            self._interrupted(step, (_rng_state(self.device), self.data_pos), exact=True,
                              between_steps=True)
        self._save_checkpoint(step, self.data_pos)
        with self._ema_as_g():
            return self._export(self.out / "model", step, self.val_metrics)

    def _flush(self, window: dict[str, list[float]], step: int, t0: float, n: int,
               rates: list[float]) -> dict[str, float]:
        if n == 0:
            return {}
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        dt = max(time.perf_counter() - t0, 1e-9)
        rate = n * self.cfg.batch_size * self.cfg.d_steps / dt
        rates.append(rate)
        row: dict[str, Any] = {"step": step, "epoch": round(self.data_pos / self.per_epoch, 4)}
        for p, lr in self._last_lr.items():  # the learning rate of the window's last step
            row[f"lr_{p}"] = f"{lr:.6g}"
        means = {k: float(np.mean(v)) for k, v in window.items()}
        row.update({k: f"{v:.6g}" for k, v in means.items()})
        row["images_per_s"] = f"{rate:.2f}"
        row["time_s"] = f"{self.wall_before + time.perf_counter() - self.t_start:.1f}"
        self.log.write(row)
        return means

    def _interrupted(self, step: int, boundary: tuple[dict[str, Any], int], exact: bool,
                     between_steps: bool = False) -> None:
        rng, pos = boundary
        if exact:
            self._save_checkpoint(step, pos, rng=rng, exact=True)
        else:
            self._save_checkpoint(step, self.data_pos, exact=False)
        where = "after" if between_steps else "during"
        msg = (f"interrupted {where} step {step + (0 if between_steps else 1)}: checkpoint of step {step} saved to "
               f"{self.ckpt_path}; continue with --resume (Python: resume=True) and the same --out")
        self._say(msg)
        raise TrainingInterrupted(msg) from None


class _NonFinite(Exception):
    def __init__(self, key: str, value: float) -> None:
        super().__init__(key)
        self.key, self.value = key, value


def train(
    task: Task,
    config: TrainConfig | None = None,
    *,
    hooks: Sequence[Callable[[int, dict[str, float]], None]] = (),
    command: str | None = None,
    card: dict[str, Any] | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train ``task``; the one entry point of every GAN of the kit.

    ``config`` (or keyword ``overrides`` of its fields) says how; ``hooks`` are called after
    every step as ``hook(step, losses)`` (e.g. a live plot in a lesson); ``command`` and
    ``card`` go into the exported model card. Raises :class:`TrainingDiverged` when a loss
    becomes NaN/inf and :class:`TrainingInterrupted` on Ctrl-C (after saving).
    """
    config = (config or TrainConfig()).replace(**overrides) if overrides else (config or TrainConfig())
    return Trainer(task, config, hooks=hooks, command=command, card=card).run()
