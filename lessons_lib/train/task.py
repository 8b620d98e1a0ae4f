"""What a model family plugs into the training engine: a :class:`Task`.

The engine (:mod:`lessons_lib.train.engine`) owns everything that is the same for every
GAN of the kit - devices, mixed precision, the data stream, the update order, the
learning-rate schedule, logging, checkpoints, resume and the divergence guard. A task owns
only what differs between families:

* ``nets``   - every network that is checkpointed, e.g. ``{"G": unet, "D": patchgan}``;
* ``opts``   - one optimiser per *phase* that learns, keyed like the phases;
* ``phases`` - the order of the updates inside one training step, e.g. ``("D", "G")``
  (Goodfellow et al. 2014, Algorithm 1: a discriminator step, then a generator step),
  or ``("G",)`` for a network trained without a discriminator (a regression U-Net, NAFNet);
* ``prepare`` / ``forward`` / ``loss`` - turn a loader batch into tensors on the device,
  run the shared forward pass once per step (``fake = G(input)``), and give each phase its
  loss as a dict ``{"loss": total, "part": value, ...}``;
* ``regularize`` - an optional *lazy* regulariser the engine adds every ``reg_every``
  steps (StyleGAN2's lazy R1, Karras et al. 2020, Sec. 3.1);
* ``sample`` / ``evaluate`` - pictures for the sample grids and validation metrics.

Adding a model family to the kit means writing one ``Task`` subclass, never a training
script.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.nn as nn
from torch.utils.data import Dataset

__all__ = ["Task"]


class Task:
    """Base class of every training task; subclass it for a model family.

    Attributes a subclass sets in :meth:`setup`:

    ``nets``       dict name -> ``nn.Module``; all are saved in the checkpoint.
    ``opts``       dict phase -> optimiser; a phase without an optimiser is an error.
    ``phases``     tuple of phase names in update order (class attribute).
    ``export_key`` the net exported at the end as ``model.safetensors`` + card.
    ``reg_every``  call :meth:`regularize` every this many steps (0 = never).

    The engine calls, in order: ``setup(device)``, then for each step
    ``data = prepare(batch, device)``, ``state = forward(data)`` (under autocast), for
    each phase ``loss(phase, state, step)`` with only that phase's nets requiring grad, and
    ``on_step_end(step)`` after the step's optimisers. With gradient accumulation
    (``TrainConfig.accumulate`` > 1) each phase forwards each of its batches itself.
    """

    #: short name used for the run folder and the model card
    name: str = "task"
    phases: tuple[str, ...] = ("D", "G")
    export_key: str = "G"
    reg_every: int = 0

    def __init__(self) -> None:
        self.nets: dict[str, nn.Module] = {}
        self.opts: dict[str, torch.optim.Optimizer] = {}
        self.device: torch.device = torch.device("cpu")

    # ------------------------------------------------------------------ building
    def setup(self, device: torch.device) -> None:
        """Build ``nets`` and ``opts`` on ``device`` (the global RNG is already seeded)."""
        raise NotImplementedError

    def active_phases(self, step: int) -> tuple[str, ...]:
        """The phases updated at ``step`` (0-based), in order: ``phases`` by default. A
        task overrides it to schedule its phases, e.g. NoGAN's critic warm-up trains
        ``("D",)`` alone for its first steps (the engine then leaves G's weights alone)."""
        return self.phases

    def phase_nets(self, phase: str) -> tuple[str, ...]:
        """Names of the nets the optimiser of ``phase`` updates (default: the net named
        like the phase). Override when one phase trains several nets (an encoder and a
        generator together)."""
        return (phase,)

    # ------------------------------------------------------------------ data
    def dataset(self, split: str, train: bool) -> Dataset | None:
        """The items of ``split`` ("train" or "val"); ``None`` when the task has no such
        split. Augmentation may draw from ``torch``/``random``/``numpy``: the engine seeds
        them per item, so batches are the same with or without workers and after a resume."""
        raise NotImplementedError

    def prepare(self, batch: Any, device: torch.device) -> dict[str, torch.Tensor]:
        """Turn a loader batch into the tensors of one step, on ``device``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ one step
    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The forward pass shared by all phases of a step (run once, e.g. ``fake = G(x)``).

        Returns a state dict that is passed to every :meth:`loss` call of the step. A
        discriminator phase must use ``fake.detach()`` so that its backward pass stops at D.
        """
        raise NotImplementedError

    def loss(self, phase: str, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """Loss of ``phase`` as ``{"loss": total, "<part>": value, ...}`` (scalars).

        ``step`` is the 0-based index of the running step (for loss schedules)."""
        raise NotImplementedError

    def on_step_end(self, step: int) -> None:
        """Called once per training step (``step`` 0-based), after every optimiser of the step
        and the engine's own EMA of G: per-step bookkeeping that must follow the updates, such
        as StyleGAN2's moving average of G's weights. Default: nothing."""

    def regularize(self, phase: str, state: dict[str, torch.Tensor], step: int) -> torch.Tensor | None:
        """Optional lazy regulariser of ``phase``, called every ``reg_every`` steps and
        added to that phase's loss (already multiplied by ``reg_every`` by the task, as
        StyleGAN2 does to keep the effective weight). ``None`` = nothing."""
        return None

    # ------------------------------------------------------------------ outputs
    def sample(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` in [0, 1] for a sample grid, from a prepared fixed
        batch. The engine calls it in eval mode, without gradients."""
        raise NotImplementedError

    def evaluate(self, batches: Iterable[Any]) -> dict[str, float]:
        """Validation metrics over the loader batches (eval mode, no gradients).
        Return ``{}`` when the task has none."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Plain-JSON facts for the model card (recipe, data source, size, ...)."""
        return {"task": self.name}
