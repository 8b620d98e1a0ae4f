"""Lesson 00: the checks watch for the package's own colour functions and report "not done"."""
from __future__ import annotations

import pytest
import torch

from lessons_lib import color
from lessons_lib.exercises import check_gray_keeps_L, check_lab_denormalization, check_lab_normalization


def _stub(*args):
    raise NotImplementedError("your code here")


def _my_normalize(lab):
    return lab[:, :1] / 50.0 - 1.0, lab[:, 1:] / 110.0


def _my_gray(rgb):
    lab = color.rgb_to_lab(rgb)
    return color.lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], dim=1))


@pytest.mark.parametrize("check", [check_lab_normalization, check_lab_denormalization, check_gray_keeps_L])
def test_a_stub_is_not_done(check):
    r = check(_stub)
    assert r.status == "not_done" and "Not done yet" in str(r)


def test_right_answers_pass():
    assert check_lab_normalization(_my_normalize)
    assert check_lab_denormalization(lambda L, ab: torch.cat([(L + 1) * 50, ab * 110], dim=1))
    assert check_gray_keeps_L(_my_gray)          # rgb_to_lab / lab_to_rgb are allowed: the exercise builds on them


@pytest.mark.parametrize(
    "check, shortcut, name",
    [
        (check_lab_normalization, color.normalize_lab, "normalize_lab"),
        (check_lab_normalization, lambda lab: color.rgb_to_lab_normalized(color.lab_to_rgb(lab)),
         "rgb_to_lab_normalized"),
        (check_lab_denormalization, color.denormalize_lab, "denormalize_lab"),
        (check_lab_denormalization, lambda L, ab: color.rgb_to_lab(color.lab_normalized_to_rgb(L, ab)),
         "lab_normalized_to_rgb"),
        (check_gray_keeps_L, color.rgb_to_gray, "rgb_to_gray"),
    ],
)
def test_the_package_implementation_is_forbidden(check, shortcut, name):
    r = check(shortcut)
    assert r.status == "wrong" and name in str(r) and "watched" in str(r), str(r)
