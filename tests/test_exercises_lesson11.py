"""Lesson 11's check: the spectral norm of a weight by power iteration."""
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse.linalg
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


# --------------------------------------------------------------------------- issue 23: the shortcuts
def _m(w):
    return w.reshape(w.shape[0], -1)


@pytest.mark.parametrize("shortcut", [
    lambda w, n: torch.linalg.norm(_m(w), 2),
    lambda w, n: torch.linalg.norm(_m(w), ord=2),
    lambda w, n: float(np.linalg.norm(_m(w).numpy(), 2)),
    lambda w, n: float(scipy.linalg.svdvals(_m(w).numpy())[0]),
    lambda w, n: float(scipy.linalg.norm(_m(w).numpy(), 2)),
    lambda w, n: float(np.linalg.svd(_m(w).numpy(), compute_uv=False)[0]),
    lambda w, n: float(scipy.sparse.linalg.svds(_m(w).numpy(), k=1, return_singular_vectors=False)[0]),
    lambda w, n: torch.norm(_m(w), 2, dim=(0, 1)),
    lambda w, n: _m(w).norm(p=2, dim=(0, 1)),
    lambda w, n: torch.svd_lowrank(_m(w), q=1)[1][0],
], ids=["torch.linalg.norm", "torch.linalg.norm ord=", "np.linalg.norm", "scipy.svdvals", "scipy.norm",
        "np.svd", "scipy.svds", "torch.norm dim", "Tensor.norm dim", "svd_lowrank"])
def test_library_shortcuts_to_sigma_fail(shortcut):
    def answer(w, n):                   # a named function: what a student hands in
        return shortcut(w, n)

    verdict = check_spectral_norm(answer)
    assert not verdict and "your function calls" in verdict.message, verdict.message


def test_the_checks_own_power_iteration_is_forbidden():
    from lessons_lib.exercises import lesson11

    verdict = check_spectral_norm(lambda w, n: lesson11._power(w, n))
    assert not verdict and "_power" in verdict.message, verdict.message


def test_a_power_iteration_in_numpy_with_vector_norms_passes():
    def numpy_power(w, n_iter):
        m = _m(w).numpy()
        v = np.ones(m.shape[1]) / np.sqrt(m.shape[1])
        for _ in range(n_iter):
            u = m @ v
            u /= np.linalg.norm(u)                       # a vector's norm: allowed
            v = m.T @ u
            v /= np.linalg.norm(v, 2)
        return float(np.linalg.norm(m @ v))

    assert check_spectral_norm(numpy_power)
