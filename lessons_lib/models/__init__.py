"""Every network of the kit, one file per family, built by name.

``build_model(arch, **config)`` is the one way to construct a model from a name and a
plain-JSON config; the model remembers both (``model.arch``, ``model.config``) so that a
checkpoint's model card can rebuild exactly the same architecture
(see :mod:`lessons_lib.checkpoints`). A family registers its classes with
``@register("name")``; the family modules are imported lazily, on first use.
"""
from __future__ import annotations

import importlib
from typing import Callable

import torch.nn as nn

__all__ = ["register", "build_model", "available_models", "registered_models"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}

# Family modules, imported when a name is first looked up (never at package import).
_FAMILIES = (
    "gan",
    "unet",
    "discriminators",
    "colorgan",
    "features",
    "nafnet",
    "stylegan2",
    "inversion",
    "fusion",
)


def register(name: str):
    """Class decorator: make ``build_model(name, **config)`` construct this class."""

    def deco(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = cls
        cls.arch_name = name
        return cls

    return deco


def _load_families() -> None:
    for fam in _FAMILIES:
        importlib.import_module(f"{__name__}.{fam}")   # every family exists: a broken one raises


def available_models() -> list[str]:
    """All registered architecture names, sorted."""
    _load_families()
    return sorted(_REGISTRY)


def registered_models() -> dict[str, Callable[..., nn.Module]]:
    """Every registered architecture name and the class ``build_model`` constructs for it
    (a copy: registering goes through :func:`register`)."""
    _load_families()
    return dict(_REGISTRY)


def build_model(arch: str, **config) -> nn.Module:
    """Construct a registered architecture; unknown names list the known ones."""
    if arch not in _REGISTRY:
        _load_families()
    if arch not in _REGISTRY:
        from .. import LessonsError

        raise LessonsError(
            f"unknown model architecture {arch!r}; known: {', '.join(sorted(_REGISTRY)) or '(none)'}"
        )
    try:
        model = _REGISTRY[arch](**config)
    except TypeError as e:
        from .. import LessonsError

        raise LessonsError(f"cannot build {arch!r} with config {config}: {e}") from None
    model.arch = arch
    model.config = dict(config)
    return model
