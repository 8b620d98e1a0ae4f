"""Lesson 13's check: the warping error with its occlusion mask (Lai et al. 2018)."""
import numpy as np
import pytest

from lessons_lib.exercises import check_warping_error
from lessons_lib.video.flow import warp, warping_error

pytestmark = pytest.mark.usefixtures("one_thread")


def my_warping_error(frames, flows, masks):
    per = []
    for t in range(1, len(frames)):
        d = np.abs(frames[t] - warp(frames[t - 1], flows[t - 1])).mean(-1)
        per.append(d[masks[t - 1]].mean())
    return float(np.mean(per))


def test_right_answer_passes_in_any_number_type():
    assert check_warping_error(my_warping_error).status == "passed"
    assert check_warping_error(lambda *a: np.float32(my_warping_error(*a))).passed


def test_each_mistake_fails_with_its_hint():
    def no_mask(frames, flows, masks):
        return float(np.mean([np.abs(frames[t] - warp(frames[t - 1], flows[t - 1])).mean()
                              for t in range(1, len(frames))]))

    def pooled(frames, flows, masks):
        s = sum(np.abs(frames[t] - warp(frames[t - 1], flows[t - 1])).mean(-1)[masks[t - 1]].sum()
                for t in range(1, len(frames)))
        return float(s / sum(m.sum() for m in masks))

    def unwarped(frames, flows, masks):
        return float(np.mean([np.abs(frames[t] - frames[t - 1]).mean(-1)[masks[t - 1]].mean()
                              for t in range(1, len(frames))]))

    def wrong_frame(frames, flows, masks):
        return float(np.mean([np.abs(frames[t - 1] - warp(frames[t], flows[t - 1])).mean(-1)[masks[t - 1]].mean()
                              for t in range(1, len(frames))]))

    for fn, phrase in ((no_mask, "ALL pixels"), (pooled, "pooled"), (unwarped, "without warping"),
                       (wrong_frame, "wrong frame")):
        verdict = check_warping_error(fn)
        assert verdict.status == "wrong" and phrase in verdict.message, (fn.__name__, verdict.message)


def test_calling_the_package_fails():
    verdict = check_warping_error(lambda f, fl, m: warping_error(f, fl, m)["e_warp"])
    assert verdict.status == "wrong" and "yourself" in verdict.message, verdict.message


def test_stub_is_not_done():
    def stub(frames, flows, masks):
        raise NotImplementedError

    assert check_warping_error(stub).not_done
