"""The recipe type of the kit's feature network (the perceptual losses' and the kit scores'
network when no ImageNet VGG16 is on disk), naming by import the task that trains it
(:class:`~lessons_lib.featurenet.tasks.FeatureNetTask`). The named recipe is
``feature_net`` in :mod:`lessons_lib.recipes`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import LessonsError
from ..metrics import ship_feature_net
from ..train.config import Recipe
from .tasks import FeatureNetTask

__all__ = ["FeatureNetRecipe"]


@dataclass
class FeatureNetRecipe(Recipe):
    """The kit's feature network: a small VGG-style classifier (see
    :mod:`lessons_lib.featurenet.tasks`); after training, its weights are written in fp16 to
    ``ship_to`` (default ``lessons_lib/weights/features_kit``) when ``ship`` is true."""

    #: image sources joined by "+"; every (source, class) pair is one label
    data: str = "scenes8+flowers5+cifar10"
    size: int = 64
    #: at most this many training images per class (caps CIFAR-10's 5,000 per class; scenes8
    #: has ~190 and flowers5 ~800 per class, all kept): 25,559 images; None = all
    per_class_limit: int | None = 2000
    #: at most this many validation images per class (CIFAR-10's test split has 1,000)
    val_per_class: int | None = 50
    widths: tuple = (24, 48, 96, 192)
    #: 3x3 convs in each of the 4 stages; one conv at full resolution keeps the step cheap
    #: on a CPU (the full-resolution stage costs as much as the other three together)
    convs_per_stage: tuple = (1, 2, 2, 2)
    dropout: float = 0.3
    #: label smoothing of the cross-entropy (Szegedy et al. 2016: 0.1)
    label_smoothing: float = 0.1
    #: AdamW (Loshchilov & Hutter 2019)
    lr: float = 2e-3
    weight_decay: float = 5e-4
    #: write the trained weights as the kit's shipped feature network
    ship: bool = True
    #: where to ship them ("" = lessons_lib/weights/features_kit)
    ship_to: str = ""

    Task: ClassVar[type] = FeatureNetTask

    def validate(self) -> None:
        super().validate()
        if self.size < 16 or self.size % 8:
            raise LessonsError(f"size must be a multiple of 8 and >= 16, got {self.size}")
        for key in ("widths", "convs_per_stage"):
            v = getattr(self, key)
            if len(v) != 4 or any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in v):
                raise LessonsError(f"{key} must be 4 positive ints (one per stage), got {list(v)}")
        if not 0.0 <= self.label_smoothing < 1.0 or not 0.0 <= self.dropout < 1.0:
            raise LessonsError("label_smoothing and dropout must be in [0, 1)")

    def smoke(self) -> "FeatureNetRecipe":
        """The bundled sample photos (one class each), 32 px, tiny widths, 2 steps, nothing shipped."""
        return dataclasses.replace(
            self, data="samples", size=32, per_class_limit=None, val_per_class=None, widths=(4, 8, 8, 8),
            convs_per_stage=(1, 1, 1, 1), ship=False,
            train=self.train.replace(steps=2, batch_size=4, log_every=1, sample_every=-1, ckpt_every=1000,
                                     eval_every=0, best_metric=None, n_samples=0, progress=False),
        )

    def after_training(self, result: Any) -> None:
        """Ship the run's weights (fp16) with a card that says how they were made."""
        if not self.ship or result.model_path is None:
            return
        path = ship_feature_net(result.model_path, self.ship_to or None)
        print(f"shipped the feature network to {path}")
