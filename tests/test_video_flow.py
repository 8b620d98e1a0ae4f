"""Issue 24: optical flow, warping, the forward-backward check, E_warp, the temporal blend and
the synthetic clips with true flow (no model, no file)."""
from __future__ import annotations

import numpy as np
import pytest

from lessons_lib import LessonsError
from lessons_lib.data import open_source
from lessons_lib.video.flow import fb_mask, optical_flow, track_points, warp, warping_error
from lessons_lib.video.synthetic import make_clip
from lessons_lib.video.temporal import TemporalBlender, TemporalConfig, blend, confidence


@pytest.fixture(scope="module")
def photos():
    src = open_source("samples", "train")
    return np.asarray(src[0].convert("RGB")), np.asarray(src[3].convert("RGB"))


def test_warp_follows_the_flow_convention():
    rng = np.random.default_rng(0)
    b = rng.random((20, 30)).astype(np.float32)
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0] = 3.0                                    # a(p) = b(p + (3, 0))
    out, valid = warp(b, flow, return_valid=True)
    assert np.allclose(out[:, :27], b[:, 3:])
    assert valid[:, :27].all() and not valid[:, 27:].any()


def test_dis_flow_recovers_a_known_shift_and_the_fb_check_flags_the_border(photos):
    clip = make_clip(photos[0], "pan", frames=4, size=(160, 120), speed=3.0)
    est = optical_flow(clip.frames[2], clip.frames[1])
    true = clip.flows[1]
    epe = np.linalg.norm(est - true, axis=-1)[clip.masks[1]]
    assert np.median(epe) < 0.3, np.median(epe)
    m = fb_mask(est, optical_flow(clip.frames[1], clip.frames[2]))
    # the camera pans right and down: the last columns and rows of frame t are not in frame t-1
    assert m[clip.masks[1]].mean() > 0.8 and m[~clip.masks[1]].mean() < 0.3
    assert m[:, -1].mean() < 0.2


def test_fb_check_marks_the_occluded_background_behind_a_moving_object(photos):
    clip = make_clip(photos[0], "object", frames=6, size=(160, 120), obj=photos[1], speed=4.0)
    t = 3
    fb = optical_flow(clip.frames[t], clip.frames[t - 1])
    ff = optical_flow(clip.frames[t - 1], clip.frames[t])
    m = fb_mask(fb, ff)
    occluded = ~clip.masks[t - 1]
    # the check rejects most truly occluded pixels and keeps most visible ones
    assert m[occluded].mean() < 0.6 and m[clip.masks[t - 1]].mean() > 0.85


def test_true_flow_makes_the_warping_error_small_and_shuffling_makes_it_large(photos):
    for motion in ("pan", "zoom", "object"):
        clip = make_clip(photos[0], motion, frames=6, size=(96, 72), obj=photos[1])
        assert 0.9 < np.mean([m.mean() for m in clip.masks]) <= 1.0
        good = warping_error(clip.frames, clip.flows, clip.masks)["e_warp"]
        bad = warping_error(clip.frames[::-1], clip.flows, clip.masks)["e_warp"]
        assert good < 0.012 and bad > 2 * good, (motion, good, bad)
    same = [clip.frames[0]] * 3
    zero = [np.zeros((72, 96, 2), np.float32)] * 2
    assert warping_error(same, zero, [np.ones((72, 96), bool)] * 2)["e_warp"] == 0.0
    with pytest.raises(ValueError):
        warping_error(same, zero[:1], zero[:1])


def test_blend_is_the_confidence_weighted_mix():
    own = np.full((4, 5, 2), 10.0, np.float32)
    warped = np.full((4, 5, 2), 30.0, np.float32)
    conf = np.zeros((4, 5), np.float32)
    conf[0] = 1.0
    conf[1] = 0.5
    out = blend(own, warped, conf, 0.8)
    assert np.allclose(out[0], 10 + 0.8 * 20) and np.allclose(out[1], 10 + 0.4 * 20) and np.allclose(out[2:], 10)


def test_confidence_drops_where_the_gray_warping_error_is_large(photos):
    clip = make_clip(photos[0], "pan", frames=3, size=(96, 72))
    g = [f.mean(-1).astype(np.uint8) for f in clip.frames]
    fb, ff = optical_flow(g[1], g[0]), optical_flow(g[0], g[1])
    c = confidence(g[1], g[0], fb, ff, tau=12.0)
    assert c.mean() > 0.7
    spoiled = g[1].copy()
    spoiled[20:40, 20:40] = 255 - spoiled[20:40, 20:40]         # a flash the previous frame did not have
    c2 = confidence(spoiled, g[0], fb, ff, tau=12.0)
    assert c2[25:35, 25:35].mean() < 0.2 < c2[50:, 60:].mean()


def test_blender_smooths_flicker_and_resets_at_a_cut(photos):
    clip = make_clip(photos[0], "pan", frames=10, size=(96, 72))
    rng = np.random.default_rng(1)
    truth = np.full((72, 96, 2), 20.0, np.float32)
    blender = TemporalBlender(TemporalConfig(strength=0.85))
    outs, infos = [], []
    for f in clip.frames:
        noisy = truth + rng.normal(0, 5, (1, 1, 2)).astype(np.float32)       # the whole frame flickers
        ab, info = blender.step(f.mean(-1).astype(np.uint8), noisy)
        outs.append(ab[20:50, 20:70].mean((0, 1)))
        infos.append(info)
    steps = np.abs(np.diff(np.array(outs), axis=0)).mean()
    assert steps < 0.5 * 5 * np.sqrt(2) * 0.8                         # far below the input's frame-to-frame jump
    assert not any(i.cut for i in infos[1:])
    other = make_clip(photos[1], "pan", frames=2, size=(96, 72))
    ab, info = blender.step(other.frames[0].mean(-1).astype(np.uint8), truth)
    assert info.cut and np.array_equal(ab, truth)                      # a new scene keeps its own colours


def test_config_is_checked():
    with pytest.raises(LessonsError, match="strength"):
        TemporalConfig(strength=1.5)
    with pytest.raises(LessonsError, match="flow"):
        TemporalConfig(flow="raft")


def test_track_points_follows_a_pan_and_loses_points_that_leave(photos):
    clip = make_clip(photos[0], "pan", frames=3, size=(160, 120), speed=4.0)
    a, b = clip.frames[1], clip.frames[2]
    fab, fba = optical_flow(a, b), optical_flow(b, a)
    pts = np.array([[80.0, 60.0], [1.0, 60.0]], np.float32)        # the content moves left
    q, ok = track_points(pts, fab, fba)
    true_shift = -clip.flows[1][60, 80]                               # F_{t-1,t} = -F_{t,t-1} for a pan
    assert ok[0] and np.allclose(q[0] - pts[0], true_shift, atol=0.5)
    assert not ok[1]                                                  # moved out of the frame
