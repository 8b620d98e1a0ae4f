"""The call watcher holds however the student's code runs (issue 23, checks 1): a forbidden
function called in a thread, after ``sys.setprofile(None)``, through an alias kept in the
student's namespace or closure, still fails the check; everything is put back afterwards."""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
import torch

from lessons_lib.exercises import CallWatch, Case, check_function, run_student
from lessons_lib.exercises._core import Forbid


def _reference_double(x):
    return 2 * x


def _check(fn, forbid=(_reference_double,)):
    return check_function("doubling", fn, _reference_double, [Case("x=3", (torch.tensor(3.0),))], forbid=forbid)


def _in_thread(fn, *args):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("out", fn(*args)))
    t.start()
    t.join()
    return box["out"]


def test_a_forbidden_python_function_in_a_thread_fails():
    def sneaky(x):
        return _in_thread(_reference_double, x)

    verdict = _check(sneaky)
    assert not verdict and "_reference_double" in verdict.message
    assert _reference_double(2) == 4                        # put back


def test_a_forbidden_function_after_setprofile_none_fails():
    def sneaky(x):
        sys.setprofile(None)                                 # turns a profile-based watcher off
        return _reference_double(x)

    verdict = _check(sneaky)
    assert not verdict and "_reference_double" in verdict.message
    assert sys.getprofile() is None


def test_a_builtin_in_a_thread_or_after_setprofile_none_fails():
    forbid = [torch.linalg.svdvals]
    ref = lambda w: torch.linalg.svdvals(w)[0]              # noqa: E731

    def threaded(w):
        return _in_thread(lambda m: torch.linalg.svdvals(m)[0], w)

    def unprofiled(w):
        sys.setprofile(None)
        return torch.linalg.svdvals(w)[0]

    alias = torch.linalg.svdvals                             # kept in the student's namespace

    def through_alias(w):
        return _in_thread(lambda m: alias(m)[0], w)

    def through_closure():
        sv = torch.linalg.svdvals

        def f(w):
            return _in_thread(lambda m: sv(m)[0], w)
        return f

    case = [Case("W", (torch.randn(5, 4, generator=torch.Generator().manual_seed(0)),))]
    for fn in (threaded, unprofiled, through_alias, through_closure()):
        verdict = check_function("sigma", fn, ref, case, output_names=("sigma",), forbid=forbid)
        assert not verdict and "svdvals" in verdict.message, (fn.__name__, verdict.message)
    assert torch.linalg.svdvals is alias and torch._C._linalg.linalg_svdvals is alias   # put back


def test_traps_are_removed_when_the_student_raises():
    def broken(x):
        raise RuntimeError("boom")

    verdict = _check(broken)
    assert not verdict and "boom" in verdict.message
    assert _reference_double.__code__.co_name == "_reference_double"
    with pytest.raises(KeyError):
        with CallWatch([_reference_double, torch.conv2d]):
            raise KeyError("the block fails")
    assert _reference_double(1) == 2 and torch.nn.functional.conv2d is torch.conv2d
    assert _reference_double.__code__.co_name == "_reference_double"


def test_a_right_answer_still_passes_and_the_reference_still_works():
    def mine(x):
        return x + x

    assert _check(mine)
    value, verdict = run_student("doubling", mine, torch.tensor(2.0), forbid=[_reference_double, torch.conv2d])
    assert verdict is None and float(value) == 4.0


def test_forbid_with_a_condition_traps_only_those_arguments():
    matrix_2norm = Forbid(np.linalg.norm, lambda x, ord=None, axis=None, **kw: np.ndim(x) >= 2 and ord == 2,
                          "numpy.linalg.norm(W, 2)")

    def vector_norm_only(x):
        v = np.ones(3)
        return torch.tensor(np.linalg.norm(v)) * 0 + 2 * x

    def matrix_norm(x):
        return torch.tensor(np.linalg.norm(np.eye(3), 2)) * 2 * x

    assert _check(vector_norm_only, forbid=[matrix_2norm])
    verdict = _check(lambda x: _in_thread(matrix_norm, x), forbid=[matrix_2norm])
    assert not verdict and "numpy.linalg.norm(W, 2)" in verdict.message
    assert np.linalg.norm(np.eye(2), 2) == 1.0


# --------------------------------------------------------------------------- answers in the checker modules
def _answers_in_checker_modules():
    from lessons_lib.exercises import lesson01, lesson03, lesson04, lesson05, lesson06, lesson10, lesson11

    return [
        ("lesson01.optimal_discriminator", lesson01.check_optimal_discriminator,
         lambda pd, pg: lesson01.optimal_discriminator(pd, pg)),
        ("lesson01._dstar", lesson01.check_optimal_discriminator, lambda pd, pg: lesson01._dstar(pd, pg)),
        ("lesson01._ref_value", lesson01.check_equilibrium_value, lambda pd, pg, dx: lesson01._ref_value(pd, pg, dx)),
        ("lesson03._reference", lesson03.check_receptive_field, lambda layers: lesson03._reference(layers)),
        ("lesson03._patchgan_layers", lesson03.check_patchgan_receptive_field,
         lambda n: lesson03._reference(lesson03._patchgan_layers(n))),
        ("lesson04._pointwise_reference", lesson04.check_pointwise_linear,
         lambda x, w, b: lesson04._pointwise_reference(x, w, b)),
        ("lesson05._d_reference", lesson05.check_lsgan_d_loss, lambda r, f, a, b: lesson05._d_reference(r, f, a, b)),
        ("lesson06._ms_ratio", lesson06.check_mode_seeking_loss,
         lambda a, b, z1, z2: 1.0 / (lesson06._ms_ratio(a, b, z1, z2) + 1e-5)),
        ("lesson10._msqrt", lesson10.check_frechet_gaussians,
         lambda m1, s1, m2, s2: (m1 - m2).pow(2).sum() + (s1 + s2 - 2 * lesson10._msqrt(
             lesson10._msqrt(s1) @ s2 @ lesson10._msqrt(s1))).trace()),
        ("lesson11._power", lesson11.check_spectral_norm, lambda w, n: lesson11._power(w, n)),
    ]


@pytest.mark.parametrize("name, check, answer", _answers_in_checker_modules(),
                         ids=[a[0] for a in _answers_in_checker_modules()])
def test_a_checks_own_reference_is_forbidden(name, check, answer):
    verdict = check(answer)
    assert not verdict and "your function calls" in verdict.message, (name, verdict.message)


def test_the_reference_a_check_compares_with_is_forbidden_by_itself():
    def my_reference(x):                       # no forbid= given: the reference is still forbidden
        return 2 * x

    verdict = check_function("doubling", lambda x: my_reference(x), my_reference,
                             [Case("x=3", (torch.tensor(3.0),))])
    assert not verdict and "my_reference" in verdict.message
