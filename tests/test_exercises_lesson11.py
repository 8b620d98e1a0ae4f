"""Lesson 11's check: the spectral norm of a weight by power iteration."""
import pytest
import torch

from lessons_lib.exercises import check_spectral_norm

pytestmark = pytest.mark.usefixtures("one_thread")


def my_spectral_norm(W, n_iter):
    m = W.reshape(W.shape[0], -1)
    u = torch.ones(m.shape[0], dtype=m.dtype)
    for _ in range(n_iter):
        v = m.T @ u
        v = v / v.norm()
        u = m @ v
        u = u / u.norm()
    return u @ m @ v


def test_right_answer_passes_and_a_float_is_accepted():
    assert check_spectral_norm(my_spectral_norm).status == "passed"
    assert check_spectral_norm(lambda W, n: float(my_spectral_norm(W, n))).passed


def test_calling_torch_fails_with_the_hint():
    for cheat in (lambda W, n: torch.linalg.matrix_norm(W.reshape(W.shape[0], -1), 2),
                  lambda W, n: torch.linalg.svdvals(W.reshape(W.shape[0], -1))[0]):
        verdict = check_spectral_norm(cheat)
        assert verdict.status == "wrong" and "yourself" in verdict.message, verdict.message


def test_too_few_iterations_fail():
    verdict = check_spectral_norm(lambda W, n: my_spectral_norm(W, 2))
    assert verdict.status == "wrong"


def test_stub_is_not_done():
    def my_spectral_norm_stub(W, n_iter):
        raise NotImplementedError

    assert check_spectral_norm(my_spectral_norm_stub).status == "not_done"


def _squared(W, n):
    m = W.reshape(W.shape[0], -1)
    v = torch.ones(m.shape[1], dtype=m.dtype)
    for _ in range(max(n, 100)):
        v = m.T @ (m @ v)
        v = v / v.norm()
    return (m.T @ (m @ v)).norm()


@pytest.mark.parametrize("wrong, hint", [
    (lambda W, n: W.reshape(W.shape[0], -1).norm(), "Frobenius"),
    (_squared, "sigma^2"),
    (lambda W, n: W.abs().max(), "largest |W_ij|"),
    (lambda W, n: W.reshape(W.shape[0], -1).norm(dim=1).max(), "row norm"),
])
def test_named_mistakes(wrong, hint):
    verdict = check_spectral_norm(wrong)
    assert verdict.status == "wrong" and hint in verdict.message, verdict.message
