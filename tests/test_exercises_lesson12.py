"""Lesson 12's check: the simulated user of Zhang et al. 2017 (check_hint_simulator).

A correct simulator written here from the lesson's description passes; each classic mistake
(no zero-hint images, the centre pixel's colour instead of the patch mean, hints placed
uniformly, a generator that is ignored, a call to the kit's own simulator) fails with its hint."""
import math

import pytest
import torch

from lessons_lib.data.hints import simulate_hints
from lessons_lib.exercises import check_hint_simulator

pytestmark = pytest.mark.usefixtures("one_thread")


def make_simulator(*, start_at: int = 0, centre_pixel: bool = False, uniform: bool = False,
                   own_rng: bool = False):
    """A student's simulate_user(ab, generator), with one switch per mistake."""

    def simulate_user(ab, generator):
        B, _, H, W = ab.shape
        g = torch.Generator().manual_seed(99) if own_rng else generator
        hint = torch.zeros(B, 2, H, W)
        mask = torch.zeros(B, 1, H, W)
        p = 1 / 8
        u = torch.rand(B, generator=g, dtype=torch.float64)
        counts = (torch.floor(torch.log1p(-u) / math.log1p(-p)).long() + start_at).clamp(max=60)
        for b in range(B):
            for _ in range(int(counts[b])):
                s = int(torch.randint(1, 10, (1,), generator=g))
                if uniform:
                    cy, cx = (torch.rand(2, generator=g) * torch.tensor([H, W])).tolist()
                else:
                    cy, cx = (torch.randn(2, generator=g) * torch.tensor([H / 4, W / 4])
                              + torch.tensor([H / 2, W / 2])).tolist()
                y0 = min(max(int(round(cy - s / 2)), 0), H - s)
                x0 = min(max(int(round(cx - s / 2)), 0), W - s)
                patch = ab[b, :, y0:y0 + s, x0:x0 + s]
                value = patch[:, s // 2, s // 2] if centre_pixel else patch.mean(dim=(1, 2))
                hint[b, :, y0:y0 + s, x0:x0 + s] = value[:, None, None]
                mask[b, :, y0:y0 + s, x0:x0 + s] = 1.0
        return hint, mask

    return simulate_user


def test_a_correct_simulator_passes_and_says_what_it_measured():
    verdict = check_hint_simulator(make_simulator())
    assert verdict.status == "passed", verdict.message
    assert "without a hint" in verdict.message and "single patches" in verdict.message


def test_no_image_without_hints_fails():
    verdict = check_hint_simulator(make_simulator(start_at=1))
    assert verdict.status == "wrong" and "got no hint" in verdict.message, verdict.message


def test_the_centre_pixel_instead_of_the_mean_fails():
    verdict = check_hint_simulator(make_simulator(centre_pixel=True))
    assert verdict.status == "wrong" and "MEAN" in verdict.message, verdict.message


def test_uniform_placement_fails():
    verdict = check_hint_simulator(make_simulator(uniform=True))
    assert verdict.status == "wrong" and "central square" in verdict.message, verdict.message


def test_a_simulator_that_ignores_the_generator_fails():
    verdict = check_hint_simulator(make_simulator(own_rng=True))
    assert verdict.status == "wrong" and "generator" in verdict.message, verdict.message


def test_calling_the_kits_simulator_is_refused():
    verdict = check_hint_simulator(lambda ab, g: simulate_hints(ab, generator=g))
    assert verdict.status == "wrong" and "yourself" in verdict.message, verdict.message


def test_wrong_shapes_and_a_stub():
    verdict = check_hint_simulator(lambda ab, g: (ab, ab))
    assert verdict.status == "wrong" and "mask of shape" in verdict.message

    def simulate_user_stub(ab, generator):
        raise NotImplementedError

    assert check_hint_simulator(simulate_user_stub).status == "not_done"


# --------------------------------------------------------------------------- issue 23: loose checks tightened
def make_variant(*, clamp: bool = True, sigma_scale: float = 1.0, count=None):
    """A simulator that is right but for one thing; each passed the check before issue 23."""

    def simulate_user(ab, generator):
        B, _, H, W = ab.shape
        hint, mask = torch.zeros(B, 2, H, W), torch.zeros(B, 1, H, W)
        u = torch.rand(B, generator=generator, dtype=torch.float64)
        counts = count(u, generator) if count else torch.floor(torch.log1p(-u) / math.log1p(-1 / 8)).long()
        for b in range(B):
            for _ in range(int(counts[b])):
                s = int(torch.randint(1, 10, (1,), generator=generator))
                cy, cx = (torch.randn(2, generator=generator) * sigma_scale * torch.tensor([H / 4, W / 4])
                          + torch.tensor([H / 2, W / 2])).tolist()
                y0, x0 = int(round(cy - s / 2)), int(round(cx - s / 2))
                if clamp:
                    y0, x0 = min(max(y0, 0), H - s), min(max(x0, 0), W - s)
                ys, xs = slice(max(y0, 0), max(y0 + s, 0)), slice(max(x0, 0), max(x0 + s, 0))
                patch = ab[b, :, ys, xs]
                if patch.numel() == 0:
                    continue
                hint[b, :, ys, xs] = patch.mean(dim=(1, 2))[:, None, None]
                mask[b, :, ys, xs] = 1.0
        return hint, mask

    return simulate_user


def test_unclamped_patches_fail():
    verdict = check_hint_simulator(make_variant(clamp=False))
    assert verdict.status == "wrong" and "clamp the corner" in verdict.message, verdict.message


def test_a_sigma_30_percent_too_small_fails():
    verdict = check_hint_simulator(make_variant(sigma_scale=0.7))
    assert verdict.status == "wrong" and "sigma = H/4" in verdict.message, verdict.message


def test_a_count_right_only_at_zero_fails():
    """P(n = 0) = 1/8 and mean 7, but uniform on 1..13 otherwise: not geometric."""
    def count(u, g):
        n = torch.randint(1, 14, (u.numel(),), generator=g)
        return torch.where(u < 1 / 8, torch.zeros_like(n), n)

    verdict = check_hint_simulator(make_variant(count=count))
    assert verdict.status == "wrong" and "geometric" in verdict.message, verdict.message
