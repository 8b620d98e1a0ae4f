"""The training configuration of the one engine: :class:`TrainConfig` (how long, what batch,
which schedule, logging, checkpoints, devices), its checks, and what a run returns
(:class:`TrainResult`) or raises (:class:`TrainingDiverged`, :class:`TrainingInterrupted`);
and :class:`Recipe`, the base of every product's recipe types (``colorization.recipes``,
``restoration.recipes``, ``toygan.recipes``, ``featurenet.recipes``), with the helpers they
share (:func:`choice`, :func:`check_smoothing`, :func:`recipe_to_dict`)."""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

from .. import LessonsError

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "TrainingInterrupted", "check_field_types",
           "config_fields", "CHECKPOINT_NAME", "CKPT_FORMAT", "SCHEDULES",
           "Recipe", "check_smoothing", "choice", "recipe_to_dict"]

CHECKPOINT_NAME = "checkpoint.pt"
CKPT_FORMAT = "gan-lessons-checkpoint/1"
SCHEDULES = ("constant", "linear", "step", "cosine")
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
    #: with several processes (torchrun, ``lessons train --nproc``): BatchNorm layers of the
    #: nets that learn become SyncBatchNorm, so their statistics are those of the global batch
    #: as in one process (one all-reduce per BatchNorm layer and forward); False = each rank
    #: normalises by its own shard. No effect in one process.
    sync_bn: bool = True

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
        if self.lr_schedule not in SCHEDULES:
            raise LessonsError(f"unknown lr_schedule {self.lr_schedule!r}; choose one of {', '.join(SCHEDULES)}")
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


# =========================================================================== the recipe base
@dataclass
class Recipe:
    """Common part of every recipe: its name, what it reproduces, and how long it trains."""

    #: registry name (also the default run folder: runs/<name>)
    name: str = ""
    #: one line for ``lessons train --list``
    description: str = ""
    #: where the recipe comes from (paper, seed file and section)
    cite: str = ""
    #: training length, batch, schedule, logging... with this recipe's defaults
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1000))

    #: the :class:`~lessons_lib.train.task.Task` class that trains this recipe. Each recipe
    #: type sets it to the class it imports from its product's ``tasks`` module, so a reader
    #: (and ``tests/test_import_floors.py``) follows the import from recipe to training code.
    Task: ClassVar[type | None] = None

    def smoke(self) -> "Recipe":
        """A tiny variant that trains in seconds on a CPU (lessons in smoke mode, tests)."""
        raise NotImplementedError

    def after_training(self, result: Any) -> None:
        """Called by :func:`run_recipe` (and so by ``lessons train``) with the finished
        run's TrainResult; nothing by default (``feature_net`` ships its weights here)."""

    def after_revalidation(self, out: Path) -> None:
        """Called by :func:`~lessons_lib.recipes.revalidate_run` once the models a run kept at
        validation are scored again (``lessons train RECIPE --out RUN --revalidate``): a recipe
        that chooses among them by rule chooses again; nothing by default."""

    def validate(self) -> None:
        """Raise :class:`LessonsError` for a bad value; subclasses check their choices."""
        check_field_types(self, skip=("train",))
        self.train.validate()


def check_smoothing(r: Any) -> None:
    """real_label (one-sided label smoothing) belongs to the vanilla / saturating loss."""
    if not 0.0 < r.real_label <= 1.0:
        raise LessonsError(f"real_label must be in (0, 1] (0.9 = one-sided label smoothing), got {r.real_label}")
    if r.real_label != 1.0 and r.gan_loss not in ("vanilla", "saturating"):
        raise LessonsError(f"real_label belongs to the vanilla loss; gan_loss is {r.gan_loss!r}"
                           + (" (set lsgan_b)" if r.gan_loss == "lsgan" else ""))
    if getattr(r, "instance_noise", 0.0) < 0:
        raise LessonsError(f"instance_noise is a standard deviation, >= 0; got {r.instance_noise}")


def choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        shown = ", ".join("None" if c is None else str(c) for c in choices)
        raise LessonsError(f"unknown {name} {value!r}; choose one of: {shown}")


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """The full recipe as plain JSON (the model card stores it)."""
    d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(recipe).items()}
    d["train"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d["train"].items()}
    d["type"] = type(recipe).__name__
    return d
