"""Compatibility shim (issue 26): retraining the shipped models moved to
:mod:`lessons_lib.retrain` (``lessons models train``); shipping a run (``zoo.ship``) is
:mod:`lessons_lib.zoo.ship`.

New code imports from the module named below; this file only re-exports it, so that
the lessons, tests and users' scripts written against the old path keep working.
Nothing inside ``lessons_lib`` imports a shim (``tests/test_import_floors.py`` checks it).
"""
from .retrain import __all__, stage_refs, train_shipped  # noqa: F401
