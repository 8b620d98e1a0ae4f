"""Compatibility shim (issue 26): the recipe types moved to their products (:mod:`lessons_lib.colorization.recipes`,
:mod:`lessons_lib.toygan.recipes`, :mod:`lessons_lib.featurenet.recipes`); the base
:class:`Recipe` and its helpers to :mod:`lessons_lib.train.config`.

New code imports from the module named below; this file only re-exports it, so that
the lessons, tests and users' scripts written against the old path keep working.
Nothing inside ``lessons_lib`` imports a shim (``tests/test_import_floors.py`` checks it).
"""
from ..colorization.recipes import ColorGANRecipe, ColorizationRecipe
from ..featurenet.recipes import FeatureNetRecipe
from ..toygan.recipes import DCGANRecipe, ToyGANRecipe
from .config import Recipe, check_smoothing, choice, recipe_to_dict

__all__ = ["Recipe", "ColorizationRecipe", "ColorGANRecipe", "ToyGANRecipe", "DCGANRecipe", "FeatureNetRecipe",
           "check_smoothing", "choice", "recipe_to_dict"]
