"""gan-lessons: the package behind the GAN colorization and restoration lessons.

Every model, loss, metric, dataset and training loop of the course lives here; the
notebooks, the command line (`lessons ...`) and the Gradio demo only import it.
Nothing heavy is loaded at import time: models and weights load lazily.
"""
from __future__ import annotations

import os

__version__ = "0.1.0"

__all__ = ["__version__", "LessonsError", "smoke_mode", "mode_name"]


class LessonsError(Exception):
    """An error a user can act on: the message says what went wrong and what to do.

    The command line prints it as ``error: <message>`` (no traceback) and exits with 2;
    the demo shows it in the page. Code deep inside the package raises it (or a subclass)
    whenever the cause is the user's input rather than a bug.
    """


def smoke_mode() -> bool:
    """True in smoke mode (``LESSONS_MODE=smoke``, or the older ``LESSONS_SMOKE=1``): lessons
    and recipes shrink data and steps.

    The test configuration sets it so that every notebook runs in seconds on a CPU
    (the same switch as pyro's ``smoke_test``). The three modes (smoke, class, full) are
    read by :func:`lessons_lib.classroom.lesson_mode`.
    """
    return mode_name() == "smoke"


def mode_name() -> str:
    """The run mode the environment asks for, unchecked: ``LESSONS_MODE`` (lower-cased) if
    set, else ``"smoke"`` when the older ``LESSONS_SMOKE=1`` is set, else ``"class"``.
    :func:`lessons_lib.classroom.lesson_mode` checks it against the three modes."""
    mode = os.environ.get("LESSONS_MODE", "").strip().lower()
    if mode:
        return mode
    return "smoke" if os.environ.get("LESSONS_SMOKE", "0").strip().lower() in {"1", "true", "yes", "on"} else "class"
