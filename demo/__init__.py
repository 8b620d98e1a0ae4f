"""The course's web demo (Gradio): colorize a photo, restore a motion-blurred face.

Start it with ``lessons demo`` or ``python -m demo`` (``--host``, ``--port``, ``--share``);
:func:`demo.app.build_app` builds the page without starting a server (the tests do that).
Everything it computes comes from :mod:`lessons_lib`; this package only lays out the page.
"""
from __future__ import annotations

__all__ = ["build_app", "main"]


def __getattr__(name: str):
    # Lazy: `import demo` must not import gradio and torch (lessons --help stays instant).
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'demo' has no attribute {name!r}")
