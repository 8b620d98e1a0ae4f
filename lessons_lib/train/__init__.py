"""The one training engine of the kit and the tasks that plug into it.

    from lessons_lib.train import train, TrainConfig
    from lessons_lib.recipes import get_recipe, build_task

    recipe = get_recipe("pix2pix", steps=100)
    result = train(build_task(recipe), recipe.train)

* :mod:`.engine` - :func:`train` and the :class:`~.engine.Trainer`: the step, resume, the
  divergence guard, samples, validation, export;
* :mod:`.config` - :class:`TrainConfig`, :class:`TrainResult` and the run's exceptions;
* :mod:`.runstate` - schedules, RNG states, the seeded data plan, checkpoint files, logs;
* :mod:`.recipe` - the recipe types (the named recipes are in :mod:`lessons_lib.recipes`);
* :mod:`.distributed` - several processes with DDP (torchrun);
* :mod:`.task` - :class:`Task`, the interface a model family implements;
* :mod:`.diffaugment` - DiffAugment (Zhao et al. 2020), the recipe option ``diffaugment``:
  the same differentiable transforms of real and fake in D's and G's steps;
* :mod:`.colorization` - :class:`ColorizationTask` (pix2pix, seeds 000 and 003);
* :mod:`.toy` - :class:`ToyGANTask` and :class:`DCGANTask` (lesson 01);
* :mod:`.colorgan` - :class:`ColorGANTask` (seed 001, lesson 06);
* :mod:`.features` - :class:`FeatureNetTask`, the kit's feature network (perceptual losses).

The face restorer of seed 004 (lessons 07-09) is a floor above, in :mod:`lessons_lib.restorer`
(its tasks in :mod:`lessons_lib.restoration.tasks`).

The task modules import models, losses and data lazily (on first attribute access here).
"""
from __future__ import annotations

from ..device import resolve_device
from .config import TrainConfig, TrainingDiverged, TrainingInterrupted, TrainResult
from .engine import train
from .runstate import load_checkpoint, lr_factor, seed_everything
from .task import Task

__all__ = [
    "Task",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "TrainingInterrupted",
    "train",
    "resolve_device",
    "lr_factor",
    "seed_everything",
    "load_checkpoint",
    "ColorizationTask",
    "ToyGANTask",
    "DCGANTask",
    "ColorGANTask",
    "FeatureNetTask",
]

_LAZY = {
    "ColorizationTask": ".colorization",
    "ToyGANTask": ".toy",
    "DCGANTask": ".toy",
    "ColorGANTask": ".colorgan",
    "FeatureNetTask": ".features",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
