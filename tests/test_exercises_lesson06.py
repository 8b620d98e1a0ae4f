"""Lesson 06's exercise check: the WGAN-GP gradient penalty against losses.gradient_penalty."""
from __future__ import annotations

import torch

from lessons_lib.exercises import check_gradient_penalty
from lessons_lib.losses import gradient_penalty


def student_template(square=True, per_pixel=False, reduce="mean", lam_used=True):
    """A student's answer with switchable mistakes."""

    def fn(critic, real, fake, lambda_gp=10.0, generator=None):
        shape = real.shape if per_pixel else (real.shape[0],) + (1,) * (real.dim() - 1)
        eps = torch.rand(shape, generator=generator)
        x = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
        d = grad.flatten(1).norm(2, dim=1) - 1
        d = d ** 2 if square else d.abs()
        d = d.mean() if reduce == "mean" else d.sum()
        return (lambda_gp if lam_used else 1.0) * d

    return fn


def test_the_package_reference_and_a_correct_answer_pass():
    assert check_gradient_penalty(gradient_penalty)
    result = check_gradient_penalty(student_template())
    assert result.passed and "lessons_lib.losses.gradient_penalty" in result.message


def test_the_stub_gets_a_hint_without_raising():
    result = check_gradient_penalty(lambda critic, real, fake, lambda_gp=10.0, generator=None: torch.zeros(()))
    assert not result and "stub is still in place" in result.message


def test_common_mistakes_are_named():
    cases = {
        "squares the distance": student_template(square=False),
        "ONE number per sample": student_template(per_pixel=True),
        "mean over the samples, not a sum": student_template(reduce="sum"),
        "lambda factor is missing": student_template(lam_used=False),
    }
    for hint, fn in cases.items():
        result = check_gradient_penalty(fn)
        assert not result and hint in result.message, (hint, result.message)


def test_an_exception_becomes_a_hint():
    def broken(critic, real, fake, lambda_gp=10.0, generator=None):
        raise RuntimeError("boom")

    result = check_gradient_penalty(broken)
    assert not result and "boom" in result.message
