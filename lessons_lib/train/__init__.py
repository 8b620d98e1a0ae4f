"""The one training engine of the kit and the tasks that plug into it.

    from lessons_lib.train import train, TrainConfig
    from lessons_lib.recipes import get_recipe, build_task

    recipe = get_recipe("pix2pix", steps=100)
    result = train(build_task(recipe), recipe.train)

* :mod:`.engine` - :func:`train`, :class:`TrainConfig`, :class:`TrainResult`, checkpoints,
  resume, the divergence guard;
* :mod:`.task` - :class:`Task`, the interface a model family implements;
* :mod:`.colorization` - :class:`ColorizationTask` (pix2pix, seeds 000 and 003);
* :mod:`.toy` - :class:`ToyGANTask` and :class:`DCGANTask` (lesson 01);
* :mod:`.colorgan` - :class:`ColorGANTask` (seed 001, lesson 06);
* :mod:`.features` - :class:`FeatureNetTask`, the kit's feature network (perceptual losses);
* :mod:`.restoration` - the face restorer of seed 004 (lessons 07-09): :class:`NAFNetTask`,
  :class:`StyleGAN2Task`, :class:`InversionTask`, :class:`FusionTask`.

The task modules import models, losses and data lazily (on first attribute access here).
"""
from __future__ import annotations

from .engine import (
    TrainConfig,
    TrainingDiverged,
    TrainingInterrupted,
    TrainResult,
    load_checkpoint,
    lr_factor,
    resolve_device,
    seed_everything,
    train,
)
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
    "NAFNetTask",
    "StyleGAN2Task",
    "InversionTask",
    "FusionTask",
]

_LAZY = {
    "ColorizationTask": ".colorization",
    "ToyGANTask": ".toy",
    "DCGANTask": ".toy",
    "ColorGANTask": ".colorgan",
    "FeatureNetTask": ".features",
    "NAFNetTask": ".restoration",
    "StyleGAN2Task": ".restoration",
    "InversionTask": ".restoration",
    "FusionTask": ".restoration",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
