"""Lesson 10's check: the Frechet distance of two Gaussians."""
import pytest
import torch

from lessons_lib.exercises import check_frechet_gaussians
from lessons_lib.metrics import frechet_distance

pytestmark = pytest.mark.usefixtures("one_thread")


def _msqrt(s):
    e, v = torch.linalg.eigh(s)
    return (v * e.clamp_min(0).sqrt()) @ v.T


def my_frechet(mu1, s1, mu2, s2):
    r = _msqrt(s1)
    return (mu1 - mu2).pow(2).sum() + torch.trace(s1 + s2 - 2 * _msqrt(r @ s2 @ r))


def test_right_answer_passes_and_a_float_is_accepted():
    assert check_frechet_gaussians(my_frechet).status == "passed"
    assert check_frechet_gaussians(lambda *a: float(my_frechet(*a))).passed


def test_one_dimensional_closed_form():
    # N(0, 2^2) vs N(1, 3^2): (0 - 1)^2 + (2 - 3)^2 = 2
    d = my_frechet(torch.zeros(1, dtype=torch.float64), torch.tensor([[4.0]], dtype=torch.float64),
                   torch.ones(1, dtype=torch.float64), torch.tensor([[9.0]], dtype=torch.float64))
    assert float(d) == pytest.approx(2.0, abs=1e-12)


def test_calling_the_package_fails_with_the_hint():
    verdict = check_frechet_gaussians(lambda m1, s1, m2, s2: frechet_distance(m1, s1, m2, s2))
    assert verdict.status == "wrong" and "frechet_distance" in verdict.message and "yourself" in verdict.message


def test_stub_is_not_done():
    def my_frechet_stub(mu1, s1, mu2, s2):
        raise NotImplementedError

    assert check_frechet_gaussians(my_frechet_stub).status == "not_done"


@pytest.mark.parametrize("wrong, hint", [
    (lambda m1, s1, m2, s2: (m1 - m2).pow(2).sum() + torch.trace(s1 + s2 - 2 * _msqrt(s1) @ _msqrt(s2)),
     "unless the covariances commute"),
    (lambda m1, s1, m2, s2: torch.trace(s1 + s2 - 2 * _msqrt(_msqrt(s1) @ s2 @ _msqrt(s1))), "mean term is missing"),
    (lambda m1, s1, m2, s2: my_frechet(m1, s1, m2, s2).clamp_min(0).sqrt(), "SQUARED"),
    (lambda m1, s1, m2, s2: (m1 - m2).pow(2).sum() + torch.trace(s1 + s2 - _msqrt(_msqrt(s1) @ s2 @ _msqrt(s1))),
     "factor 2 is missing"),
    (lambda m1, s1, m2, s2: (m1 - m2).pow(2).sum() + torch.trace(s1 + s2 - 2 * (s1 * s2).abs().sqrt()), "element-wise"),
])
def test_named_mistakes(wrong, hint):
    verdict = check_frechet_gaussians(wrong)
    assert verdict.status == "wrong" and hint in verdict.message, verdict.message
