"""The exercise checks grade right answers as right, wrong ones as wrong, with useful hints."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from lessons_lib import color
from lessons_lib.exercises import (
    Case,
    Mistake,
    Result,
    check_function,
    check_gray_keeps_L,
    check_lab_denormalization,
    check_lab_normalization,
    check_value,
    compare_tensors,
)


# --------------------------------------------------------------------------- Result
def test_result_is_truthy_and_prints_the_verdict():
    ok = Result("demo", True, [], "3 cases")
    bad = Result("demo", False, ["L is <off> by 2"])
    assert bool(ok) and not bool(bad)
    assert str(ok) == "Correct! demo: 3 cases" == repr(ok)
    assert str(bad) == "Not yet - demo.\n  Hint: L is <off> by 2"
    assert "#2e7d32" in ok._repr_html_() and "#c62828" in bad._repr_html_()
    assert "&lt;off&gt;" in bad._repr_html_() and "<off>" not in bad._repr_html_()


# --------------------------------------------------------------------------- compare_tensors
def test_compare_tensors_accepts_agreement_within_tolerance():
    e = torch.linspace(-1, 1, 12).reshape(3, 4)
    assert compare_tensors(e + 5e-5, e, atol=1e-4, rtol=0) is None
    assert compare_tensors(e + 5e-4, e, atol=1e-4, rtol=0) is not None


def test_compare_tensors_reports_the_largest_difference_and_where():
    e = torch.zeros(2, 3)
    a = e.clone()
    a[1, 2] = 0.75
    a[0, 0] = 0.25
    hint = compare_tensors(a, e, what="ab")
    assert hint.startswith("ab differs from the expected values at 2 of 6 positions")
    assert "largest difference is 0.75 (at [1, 2]: got 0.75, expected 0)" in hint


@pytest.mark.parametrize(
    "answer, expected_words",
    [
        (lambda e: e * 2.0, "2 times the expected"),
        (lambda e: e + 0.5, "off by the same amount (+0.5)"),
        (lambda e: e * 0.5 - 1.0, "0.5 * expected - 1: check both"),
    ],
)
def test_compare_tensors_names_scale_and_offset_errors(answer, expected_words):
    e = torch.linspace(-2, 3, 20).reshape(4, 5)
    assert expected_words in compare_tensors(answer(e), e)


@pytest.mark.parametrize(
    "answer, words",
    [
        (None, "forget the `return`"),
        (np.zeros((2, 3)), "numpy array"),
        ([0.0], "should be a torch.Tensor, got list"),
        (torch.zeros(3, 2), "has shape (3, 2), expected (2, 3) (same number of values in another layout"),
        (torch.zeros(3), "has shape (3,), expected (2, 3)."),
        (torch.zeros(2, 3, 1), "(same number of values in another layout"),
        (torch.zeros(2, 3, dtype=torch.long), "dtype torch.int64"),
        (torch.full((2, 3), float("nan")), "6 NaN or infinite"),
    ],
)
def test_compare_tensors_explains_type_shape_dtype_and_nan(answer, words):
    hint = compare_tensors(answer, torch.zeros(2, 3))
    assert hint is not None and words in hint


def test_compare_tensors_spots_a_dropped_channel_dimension():
    hint = compare_tensors(torch.zeros(2, 8, 8), torch.zeros(2, 1, 8, 8), what="L")
    assert hint == (
        "L has shape (2, 8, 8), expected (2, 1, 8, 8) "
        "(one dimension of size 1 is missing: keep it, e.g. x[:, :1] instead of x[:, 0])."
    )


# --------------------------------------------------------------------------- check_function
def _double(x):
    return x * 2


CASES = [Case("small", (torch.arange(6.0).reshape(2, 3),)), Case("negative", (-torch.ones(2, 3),))]


def test_check_function_passes_a_right_answer_and_names_the_cases():
    r = check_function("double", lambda x: x + x, _double, CASES, reference_name="ref")
    assert r.passed and str(r) == "Correct! double: matches ref on 2 cases (small, negative)."


def test_check_function_never_raises_on_the_students_errors():
    def not_done(x):
        raise NotImplementedError

    def broken(x):
        return x @ x  # (2, 3) @ (2, 3): shapes do not multiply

    r = check_function("double", not_done, _double, CASES)
    assert not r and r.status == "not_done" and "in place of the `raise NotImplementedError` line" in r.message
    r = check_function("double", broken, _double, CASES)
    assert not r and r.hints[0].startswith("on small, your function raised RuntimeError:")
    assert "in broken)" in r.hints[0]
    r = check_function("double", 3, _double, CASES)
    assert not r and "pass your function itself" in r.hints[0]


def test_check_function_reports_the_first_failing_case_and_known_mistakes():
    # Right on non-negative input, wrong on negative: the hint names the failing case.
    r = check_function("double", lambda x: x.abs() * 2, _double, CASES)
    assert not r and r.hints[0].startswith("on negative: the output differs")
    mistakes = [Mistake("you squared instead of doubling", lambda x: x * x)]
    r = check_function("double", lambda x: x ** 2, _double, CASES, mistakes=mistakes)
    assert r.hints == ["on small: you squared instead of doubling"]


def test_check_function_catches_in_place_changes():
    def inplace(x):
        x.mul_(2)
        return x

    r = check_function("double", inplace, _double, CASES)
    assert not r and "changed its input tensor in place" in r.hints[-1]


# --------------------------------------------------------------------------- check_value
def test_check_value():
    assert check_value("receptive field", 70, 70)
    assert check_value("loss", torch.tensor(0.693), 0.6931, atol=1e-3)
    r = check_value("receptive field", 34, 70, mistakes={34: "you stopped one layer early"})
    assert not r and r.hints == ["you stopped one layer early"]
    assert check_value("receptive field", 94, 70).hints == ["94 is too large."]
    assert "should be a number" in check_value("x", "seventy", 70).hints[0]


# --------------------------------------------------------------------------- lesson 00
def test_lab_normalization_accepts_the_formula_and_the_package():
    r = check_lab_normalization(lambda lab: (lab[:, :1] / 50.0 - 1.0, lab[:, 1:] / 110.0))
    assert r.passed, r
    assert "a real photo" in r.detail and "3 cases" in r.detail
    # the package's own normalisation is watched: calling it fails with the forbidden-call hint
    r = check_lab_normalization(color.normalize_lab)
    assert not r and "normalize_lab" in str(r) and "watched" in str(r)


@pytest.mark.parametrize(
    "fn, words",
    [
        (lambda lab: (lab[:, :1] / 100.0, lab[:, 1:] / 110.0), "L/100 maps L to [0, 1]"),
        (lambda lab: (lab[:, :1] / 50.0, lab[:, 1:] / 110.0), "subtract 1"),
        (lambda lab: (lab[:, :1] / 50.0 - 1.0, lab[:, 1:] / 128.0), "ab/128"),
        (lambda lab: (lab[:, :1] / 50.0 - 1.0, (lab[:, 1:] + 110.0) / 220.0), "centred on 0 already"),
        # Not a listed mistake: the generic hint still names the scale factor of ab.
        (lambda lab: (lab[:, :1] / 50.0 - 1.0, lab[:, 1:] / 55.0), "2 times the expected one"),
        (lambda lab: (lab[:, 0] / 50.0 - 1.0, lab[:, 1:] / 110.0), "one dimension of size 1 is missing"),
        (lambda lab: (lab[:, 1:] / 110.0, lab[:, :1] / 50.0 - 1.0), "swap them"),
        (lambda lab: torch.cat([lab[:, :1] / 50 - 1, lab[:, 1:] / 110], 1), "return 2 values (L, ab), it returned 1"),
        (lambda lab: (lab[:, :1], lab[:, 1:]), "on random Lab values: L differs"),
    ],
)
def test_lab_normalization_hints(fn, words):
    r = check_lab_normalization(fn)
    assert not r.passed
    assert words in str(r), str(r)


def test_lab_normalization_stub_from_the_lesson_gets_a_hint():
    def my_normalize_lab(lab):
        L = lab[:, :1]
        ab = lab[:, 1:]
        return L, ab  # the lesson's starting point: no scaling yet

    r = check_lab_normalization(my_normalize_lab)
    # L = 50 * (L/50 - 1) + 50, ab = 110 * (ab/110): the hint gives the affine relation.
    assert not r and "Your values are 50 * expected + 50: check both the scale and the offset" in str(r)


def test_lab_normalization_flags_in_place_edits():
    def inplace(lab):
        lab[:, :1] /= 50.0
        lab[:, :1] -= 1.0
        lab[:, 1:] /= 110.0
        return lab[:, :1], lab[:, 1:]

    r = check_lab_normalization(inplace)
    assert not r and "in place" in str(r)


def test_lab_denormalization():
    assert check_lab_denormalization(lambda L, ab: torch.cat([(L + 1.0) * 50.0, ab * 110.0], dim=1))
    assert not check_lab_denormalization(color.denormalize_lab)
    r = check_lab_denormalization(lambda L, ab: torch.cat([L * 50.0 + 1.0, ab * 110.0], dim=1))
    assert not r and "add 1 first" in str(r)


def test_gray_keeps_L_accepts_the_lab_route():
    def via_lab(rgb):
        lab = color.rgb_to_lab(rgb)
        lab[:, 1:] = 0
        return color.lab_to_rgb(lab)

    assert check_gray_keeps_L(via_lab)
    r = check_gray_keeps_L(lambda rgb: color.rgb_to_gray(rgb, method="lab"))
    assert not r and "rgb_to_gray" in str(r)


def test_gray_keeps_L_reports_the_lightness_error_of_the_channel_mean():
    r = check_gray_keeps_L(lambda rgb: rgb.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1))
    assert not r
    # The hint's number is the largest L error on the first case (seeded random colours),
    # recomputed here with scikit-image.
    rgb = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)).numpy()
    gray = np.repeat(rgb.mean(axis=1, keepdims=True), 3, axis=1)
    dL = np.abs(rgb2lab(gray.transpose(0, 2, 3, 1))[..., 0] - rgb2lab(rgb.transpose(0, 2, 3, 1))[..., 0]).max()
    assert str(r).startswith("Not yet - a gray image that keeps L.\n  Hint: on random colours: ")
    assert f"differs from the colour image's by up to {dL:.2f}" in str(r)


@pytest.mark.parametrize(
    "fn, words",
    [
        (lambda rgb: (0.299 * rgb[:, :1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:]).expand(-1, 3, -1, -1),
         "luma mix gamma-encoded values"),
        (lambda rgb: color.lab_to_rgb(color.rgb_to_lab(rgb) * torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))[:, :1],
         "return 3 equal channels"),
        (lambda rgb: rgb.clone(), "your image is not gray"),
        (lambda rgb: (rgb * 255).round().to(torch.uint8), "dtype torch.uint8"),
    ],
)
def test_gray_keeps_L_hints(fn, words):
    r = check_gray_keeps_L(fn)
    assert not r and words in str(r), str(r)
