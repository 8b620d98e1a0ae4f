"""Lesson 06's exercise check: the WGAN-GP gradient penalty against losses.gradient_penalty."""
from __future__ import annotations

import torch

from lessons_lib.exercises import check_gradient_penalty
from lessons_lib.losses import gradient_penalty


def student_template(square=True, per_pixel=False, reduce="mean", lam_used=True, create_graph=True):
    """A student's answer with switchable mistakes."""

    def fn(critic, real, fake, lambda_gp=10.0, generator=None):
        shape = real.shape if per_pixel else (real.shape[0],) + (1,) * (real.dim() - 1)
        eps = torch.rand(shape, generator=generator)
        x = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=create_graph)
        d = grad.flatten(1).norm(2, dim=1) - 1
        d = d ** 2 if square else d.abs()
        d = d.mean() if reduce == "mean" else d.sum()
        return (lambda_gp if lam_used else 1.0) * d

    return fn


def test_the_package_reference_is_forbidden_and_a_correct_answer_passes():
    forbidden = check_gradient_penalty(gradient_penalty)
    assert forbidden.status == "wrong" and "gradient_penalty" in forbidden.message and "watched" in forbidden.message
    result = check_gradient_penalty(student_template())
    assert result.passed and "lessons_lib.losses.gradient_penalty" in result.message
    assert "reaches the critic's parameters" in result.message


def test_without_create_graph_the_check_fails():
    result = check_gradient_penalty(student_template(create_graph=False))
    assert result.status == "wrong"
    assert "create_graph=True" in result.message and "no path back" in result.message, result.message


def test_a_detached_penalty_fails():
    def detached(critic, real, fake, lambda_gp=10.0, generator=None):
        return student_template()(critic, real, fake, lambda_gp, generator).detach()

    result = check_gradient_penalty(detached)
    assert result.status == "wrong" and "no path back" in result.message, result.message


def test_the_not_done_stub():
    def stub(critic, real, fake, lambda_gp=10.0, generator=None):
        raise NotImplementedError

    assert check_gradient_penalty(stub).status == "not_done"


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


# --------------------------------------------------------------------------- the mode-seeking loss
def test_mode_seeking_reference_and_a_correct_answer_pass():
    from lessons_lib.exercises import check_mode_seeking_loss
    from lessons_lib.losses import mode_seeking_loss

    from lessons_lib.losses.diversity import mode_seeking_ratio

    forbidden = check_mode_seeking_loss(mode_seeking_loss)
    assert forbidden.status == "wrong" and "watched" in forbidden.message
    assert "watched" in check_mode_seeking_loss(
        lambda a, b, z1, z2: 1.0 / (mode_seeking_ratio(a, b, z1, z2) + 1e-5)).message

    def stub(ab_1, ab_2, z_1, z_2):
        raise NotImplementedError

    assert check_mode_seeking_loss(stub).status == "not_done"

    def mine(ab_1, ab_2, z_1, z_2):
        ratio = (ab_1 - ab_2).abs().mean() / (z_1 - z_2).abs().mean()
        return 1.0 / (ratio + 1e-5)

    result = check_mode_seeking_loss(mine)
    assert result.passed and "lessons_lib.losses.mode_seeking_loss" in result.message


def test_mode_seeking_mistakes_are_named():
    from lessons_lib.exercises import check_mode_seeking_loss

    def ratio(a, b, z1, z2):
        return (a - b).abs().mean() / (z1 - z2).abs().mean()

    cases = {
        "stub is still in place": lambda a, b, z1, z2: torch.zeros(()),
        "reciprocal": ratio,
        "without bound": lambda a, b, z1, z2: -ratio(a, b, z1, z2),
        "division by zero": lambda a, b, z1, z2: 1.0 / ratio(a, b, z1, z2),
        "PER unit of": lambda a, b, z1, z2: 1.0 / ((a - b).abs().mean() + 1e-5),
        "ABSOLUTE": lambda a, b, z1, z2: 1.0 / (((a - b) ** 2).mean() / ((z1 - z2) ** 2).mean() + 1e-5),
        "not a sum": lambda a, b, z1, z2: 1.0 / ((a - b).abs().sum() / (z1 - z2).abs().sum() + 1e-5),
    }
    for hint, fn in cases.items():
        result = check_mode_seeking_loss(fn)
        assert not result and hint in result.message, (hint, result.message)
