"""The one evaluation path (issue 15, item 3): batch-weighted means of per-batch reports equal
the report of the whole set, and the whole-set scores say why they are missing."""
from __future__ import annotations

import math

import pytest
import torch

from lessons_lib import metrics
from lessons_lib.metrics.accumulate import BatchMeans, set_scores

pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, 24, 24, generator=torch.Generator().manual_seed(seed))


def test_weighted_batches_equal_one_big_batch():
    pred, truth = _images(9, 0), _images(9, 1)
    whole = metrics.colorization_report(pred, truth)
    acc = BatchMeans(skip=("n_images", "fid"))
    for a, b in ((0, 3), (3, 8), (8, 9)):            # unequal batches: 3, 5, 1
        acc.add(metrics.colorization_report(pred[a:b], truth[a:b]), b - a)
    got = acc.means()
    assert acc.n == 9
    assert "fid" not in got and "n_images" not in got
    for k in ("psnr", "ssim", "auc", "colorfulness", "colorfulness_gap"):
        assert math.isclose(got[k], whole[k], rel_tol=1e-5, abs_tol=1e-6), (k, got[k], whole[k])
    for k, v in whole["mae_rgb"].items():             # nested dicts are averaged key by key
        assert math.isclose(got["mae_rgb"][k], v, rel_tol=1e-5), k


def test_an_unweighted_mean_would_differ():
    """The weights matter: the plain mean of the batch means is not the set's mean."""
    pred, truth = _images(9, 2), _images(9, 3)
    whole = float(metrics.psnr(pred, truth))
    parts = [float(metrics.psnr(pred[a:b], truth[a:b])) for a, b in ((0, 8), (8, 9))]
    acc = BatchMeans()
    for (a, b), p in zip(((0, 8), (8, 9)), parts):
        acc.add({"psnr": p}, b - a)
    assert math.isclose(acc.means()["psnr"], whole, rel_tol=1e-6)
    assert abs(sum(parts) / 2 - whole) > 1e-3


def test_strings_and_bools_are_kept_and_empty_is_empty():
    acc = BatchMeans()
    assert acc.means() == {}
    acc.add({"lpips": "unavailable (no weights)", "ok": True, "x": 1.0}, 2)
    acc.add({"lpips": "unavailable (no weights)", "ok": True, "x": 4.0}, 1)
    assert acc.means() == {"lpips": "unavailable (no weights)", "ok": True, "x": 2.0}
    with pytest.raises(ValueError, match="n >= 0"):
        acc.add({"x": 1.0}, -1)


def test_set_scores_say_why_fid_is_missing(monkeypatch):
    one = [torch.zeros(1, 3, 8, 8, dtype=torch.uint8)]
    monkeypatch.setattr(metrics, "fid_available", lambda: False)
    assert set_scores(one, one, fid=True, feature_metrics=False) == {"fid": metrics.UNAVAILABLE}
    monkeypatch.setattr(metrics, "fid_available", lambda: True)
    assert set_scores(one, one, fid=True, feature_metrics=False) == {"fid": "unavailable (needs at least 2 images)"}
    seen = {}

    def fake_fid(a, b):
        seen["shapes"] = (tuple(a.shape), tuple(b.shape))
        return 1.5

    monkeypatch.setattr(metrics, "fid", fake_fid)
    two = [torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.ones(2, 3, 8, 8, dtype=torch.uint8)]
    assert set_scores(two, two, fid=True, feature_metrics=False) == {"fid": 1.5}
    assert seen["shapes"] == ((3, 3, 8, 8), (3, 3, 8, 8))      # the batches were joined
    monkeypatch.setattr(metrics, "kit_feature_report", lambda a, b: {"fid_kit": float(a.shape[0])})
    assert set_scores(two, two, fid=False, feature_metrics=True) == {"fid_kit": 3.0}
