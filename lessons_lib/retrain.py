"""Retraining the shipped models: ``lessons models train NAME`` trains (or resumes) every
stage of a shipped model with the options of its :class:`~lessons_lib.zoo.ShippedSpec`,
through the kit's recipes and the one engine; :func:`lessons_lib.zoo.ship` then stores and
scores the result. Kept apart from :mod:`lessons_lib.zoo` so that looking a model up never
imports the trainer.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .recipes import apply_overrides, get_recipe, run_recipe
from .train.runstate import load_checkpoint
from .zoo import get_spec

__all__ = ["train_shipped", "stage_refs"]


def stage_refs(stage: str, runs: Path) -> dict[str, str]:
    """The restorer's later stages name the earlier runs by path (``runs/nafnet`` ...)."""
    if stage == "inversion":
        return dict(nafnet_weights=str(runs / "nafnet"), stylegan2_weights=str(runs / "stylegan2"))
    if stage == "fusion":
        return dict(nafnet_weights=str(runs / "nafnet"), inversion_weights=str(runs / "inversion"))
    if stage == "nogan":      # the GAN phase starts from the L1 pre-training's G
        return dict(init_g=str(runs / "nogan_pretrain" / "model.safetensors"))
    return {}


def train_shipped(name: str, runs: str | os.PathLike | None = None, *, steps: int | None = None,
                  device: str = "auto", smoke: bool = False) -> Path:
    """Train (or resume, or skip when finished) the runs of shipped model ``name`` in
    ``runs/NAME[/STAGE]``; returns the run folder of its last stage.

    ``steps`` scales every stage's length by ``steps / steps of the first stage`` (a GPU run
    can afford more); a stage whose run already reached its steps is skipped, one with a
    checkpoint short of them is resumed, so the command can be stopped and started again.
    ``smoke=True`` trains each stage's ``recipe.smoke()`` instead (tiny nets, synthetic
    images, a few steps: the tests' check of the whole chain)."""
    spec = get_spec(name)
    root = Path(runs) if runs is not None else spec.runs()
    multi = len(spec.stages) > 1
    def length(stage: str, opts: dict[str, Any]) -> int:      # the spec's steps, else the recipe's
        return int(opts["steps"]) if "steps" in opts else int(get_recipe(stage).train.steps)

    first_stage, first_opts = next(iter(spec.stages.items()))
    first = length(first_stage, first_opts)
    out = root
    for stage, opts in spec.stages.items():
        opts = dict(opts)
        if steps is not None:
            opts["steps"] = max(1, round(length(stage, opts) * steps / first))
        opts.setdefault("steps", length(stage, opts))
        if smoke:
            opts["steps"] = get_recipe(stage).smoke().train.steps
        out = root / stage if multi else root
        ckpt = out / "checkpoint.pt"
        done = int(load_checkpoint(ckpt)["step"]) if ckpt.is_file() else 0
        if done >= opts["steps"] and (out / "model.safetensors").is_file():
            print(f"{name}: {out} already has {done} steps, skipped")
            continue
        common = dict(out=str(out), device=device, resume=done > 0, overwrite=done == 0,
                      **(stage_refs(stage, root) if multi else {}))
        if smoke:
            recipe = apply_overrides(get_recipe(stage).smoke(), **common)
        else:
            recipe = get_recipe(stage, **common, **opts)
        print(f"{name}: training {stage} into {out} ({opts['steps']} steps" + (f", resuming at {done})" if done else ")"),
              flush=True)
        cmd = spec.command + (f" --steps {steps}" if steps is not None else "")
        run_recipe(recipe, command=cmd)
    return out
