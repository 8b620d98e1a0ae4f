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
