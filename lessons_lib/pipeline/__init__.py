"""Compatibility shim (issue 26): inference moved into the product packages, :class:`~lessons_lib.colorization.Colorizer`
to :mod:`lessons_lib.colorization` and :class:`~lessons_lib.restoration.Restorer` to
:mod:`lessons_lib.restoration`.

New code imports from the module named below; this file only re-exports it, so that
the lessons, tests and users' scripts written against the old path keep working.
Nothing inside ``lessons_lib`` imports a shim (``tests/test_import_floors.py`` checks it).
"""
from ..color.gamut import BAND_PIXELS, lab_to_rgb_keep_lightness, recombine
from ..colorization import (HINT_SIZE, MAX_CHROMA, Colorizer, evaluate_colorizer, format_evaluation, hint_curve,
                            simulated_hint_maps)
from ..inference import MAX_PIXELS
from ..restoration import Restorer

__all__ = ["BAND_PIXELS", "MAX_PIXELS", "Colorizer", "HINT_SIZE", "MAX_CHROMA", "Restorer", "evaluate_colorizer",
           "hint_curve", "simulated_hint_maps", "format_evaluation", "lab_to_rgb_keep_lightness", "recombine"]
