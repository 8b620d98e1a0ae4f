"""The shipped models: what ``lessons_lib/weights/`` holds, how each was trained, which is
the default, how each is scored and stored (:func:`ship`). Retraining them lives one floor up,
in :mod:`lessons_lib.retrain`: the lookup here never loads the trainer.

::

    lessons models                      # the shipped models and their cards' metrics
    lessons models train pix2pix        # retrain one (resumes runs/shipped/pix2pix), then ship it
    lessons colorize old.jpg new.png    # the default colorizer;  --model colorgan  picks another

Every shipped model is trained by one of the kit's own recipes (:mod:`lessons_lib.recipes`)
through the one engine, with the options of its :class:`ShippedSpec` below, sized for the
course's 2-core CPU (a GPU run can pass more steps). :func:`ship` then

1. stores the weights in half precision (``weights/NAME.safetensors`` + its ``NAME.json``
   card; the restorer is a folder ``weights/restorer/`` of four nets and ``restorer.json``),
2. scores the *stored* weights on the held-out split of the training data (scenes8 val,
   flowers5 val, celeba10k val) and on the photos bundled in installed packages
   (``samples``: always there, so a test can recompute the number on any machine),
3. writes the card: data, size, steps, parameters, hardware, wall time, the exact command,
   and both sets of metrics.

The default model of a task is the one its spec marks ``default=True``; the choice and its
reason are in the spec's ``why`` and in the README.

The package, by job: :mod:`.models` (the table and lookup), :mod:`.ship` (shipping a run:
scores, card, the output and checkpoint rules), :mod:`.compare` (every model side by side).
"""
from __future__ import annotations

from ..checkpoints import select_eval
from .compare import compare_models, format_comparison
from .models import (HINT_MODEL, RUNS_DIR, SPECS, WEIGHTS_DIR, ShippedSpec, default_model, format_models, get_spec,
                     list_models, model_path, resolve_model)
from .ship import (HINT_COUNTS, RESTORER_MAX_DROP_DB, choose_restorer_output, heldout_split, sample_diversity,
                   rescore, sample_hint_metric, sample_metric, score_shipped, ship, training_curve)

__all__ = [
    "get_spec",
    "WEIGHTS_DIR",
    "HINT_MODEL",
    "ShippedSpec",
    "SPECS",
    "list_models",
    "model_path",
    "default_model",
    "resolve_model",
    "format_models",
    "ship",
    "rescore",
    "score_shipped",
    "sample_metric",
    "sample_diversity",
    "sample_hint_metric",
    "HINT_COUNTS",
    "heldout_split",
    "training_curve",
    "choose_restorer_output",
    "RESTORER_MAX_DROP_DB",
    "compare_models",
    "format_comparison",
    "RUNS_DIR",
    "select_eval",
]
