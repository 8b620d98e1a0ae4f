"""Automatic checks for the lessons' exercises: grade a student's answer, give a hint.

Every exercise of the course has one ``check_*`` function, importable from here:

    >>> from lessons_lib.exercises import check_lab_normalization
    >>> check_lab_normalization(my_normalize_lab)          # doctest: +SKIP
    Correct! Lab normalisation: matches lessons_lib.color.normalize_lab on 3 cases ...

The grading framework (:class:`Result`, :class:`Case`, :class:`Mistake`,
:func:`check_function`, :func:`check_value`, :func:`compare_tensors`) lives in
``_core.py``; each lesson's checks live in ``lessonNN.py`` and are re-exported here.
A wrong answer never raises: the student reads the hint and tries again.
"""
from __future__ import annotations

from ._core import (CallWatch, Case, Mistake, Result, check_function, check_value, compare_tensors, graded,
                    run_student)
from .lesson00 import check_gray_keeps_L, check_lab_denormalization, check_lab_normalization
from .lesson01 import (check_discriminator_loss, check_equilibrium_value, check_gan_step, check_generator_loss,
                       check_optimal_discriminator, game_value, optimal_discriminator)
from .lesson02 import check_annealed_mean, check_checkpoint_rule, check_generator_objective
from .lesson03 import check_patchgan_receptive_field, check_receptive_field
from .lesson04 import check_mlpconv_block, check_mlpconv_parameters, check_pointwise_linear
from .lesson05 import check_lsgan_d_loss, check_lsgan_g_loss
from .lesson06 import check_gradient_penalty, check_mode_seeking_loss
from .lesson07 import check_motion_blur
from .lesson08 import check_demodulation
from .lesson09 import check_contextual_loss, check_prior_ablation, check_restoration_experiment
from .lesson10 import check_frechet_gaussians
from .lesson11 import check_spectral_norm
from .lesson12 import check_hint_simulator
from .lesson13 import check_warping_error

__all__ = [
    "Result",
    "Case",
    "Mistake",
    "compare_tensors",
    "check_function",
    "check_value",
    "CallWatch",
    "graded",
    "run_student",
    "check_lab_normalization",
    "check_lab_denormalization",
    "check_gray_keeps_L",
    "optimal_discriminator",
    "game_value",
    "check_optimal_discriminator",
    "check_equilibrium_value",
    "check_discriminator_loss",
    "check_generator_loss",
    "check_gan_step",
    "check_generator_objective",
    "check_checkpoint_rule",
    "check_annealed_mean",
    "check_receptive_field",
    "check_patchgan_receptive_field",
    "check_pointwise_linear",
    "check_mlpconv_parameters",
    "check_mlpconv_block",
    "check_lsgan_d_loss",
    "check_lsgan_g_loss",
    "check_gradient_penalty",
    "check_mode_seeking_loss",
    "check_motion_blur",
    "check_demodulation",
    "check_contextual_loss",
    "check_restoration_experiment",
    "check_prior_ablation",
    "check_frechet_gaussians",
    "check_spectral_norm",
    "check_hint_simulator",
    "check_warping_error",
]

# Every lesson's check reports to the gradebook (LESSONS_GRADEBOOK; see _core.graded), and
# nowhere else: the lesson modules define plain functions, this is the one place that wraps them.
for _name in __all__:
    if _name.startswith("check_") and _name not in ("check_function", "check_value"):
        globals()[_name] = graded(globals()[_name])
del _name
