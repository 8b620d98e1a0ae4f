"""One evaluation path: the batch-weighted mean of per-batch reports, and the whole-set
scores (FID, the kit-feature distribution metrics) of the images an evaluation keeps.

Every score of :func:`~lessons_lib.metrics.colorization_report` and of the restorer's
scores is a mean over images (or a share of pixels of equal-size images), so the report of
a whole set is the mean of the per-batch reports weighted by their batch sizes - exactly,
whatever the batch size (tests/test_metrics.py checks it against one big batch). FID and
the kit-feature metrics are statistics of the whole set, not means: :func:`set_scores`
computes them once on every image kept.

Used by every task's validation (``Task.evaluate``), by
:func:`lessons_lib.colorization.evaluate_colorizer` and by
:func:`lessons_lib.restoration.evaluation.evaluate_restorer`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["BatchMeans", "set_scores"]


class BatchMeans:
    """Batch-weighted means of reports (nested dicts of numbers)::

        acc = BatchMeans()
        for batch in loader:
            acc.add(colorization_report(pred, truth), len(batch))
        acc.means()      # the report of the whole set; acc.n: the images seen

    A number is summed as ``value * n``; a nested dict is averaged the same way, key by key;
    anything else (a string such as "unavailable (...)", a bool) is kept as the last batch
    gave it. ``skip`` names top-level keys that are not means (``"n_images"``, ``"fid"``).
    """

    def __init__(self, skip: tuple[str, ...] = ()) -> None:
        self.n = 0
        self.skip = tuple(skip)
        self._sums: dict[str, Any] = {}

    def add(self, report: Mapping[str, Any], n: int) -> None:
        if n < 0:
            raise ValueError(f"a batch has n >= 0 images, got {n}")
        _add_into(self._sums, {k: v for k, v in report.items() if k not in self.skip}, n)
        self.n += n

    def means(self) -> dict[str, Any]:
        """The weighted means (empty when no image was added)."""
        return _divide(self._sums, self.n) if self.n else {}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _add_into(total: dict[str, Any], report: Mapping[str, Any], n: int) -> None:
    for k, v in report.items():
        if isinstance(v, Mapping):
            _add_into(total.setdefault(k, {}), v, n)
        elif _is_number(v):
            prev = total.get(k, 0.0)
            total[k] = (prev if _is_number(prev) else 0.0) + float(v) * n
        else:
            total[k] = v


def _divide(total: dict[str, Any], n: int) -> dict[str, Any]:
    return {k: (_divide(v, n) if isinstance(v, dict) else v / n if _is_number(v) else v) for k, v in total.items()}


def set_scores(pred: list[torch.Tensor], truth: list[torch.Tensor], *, fid: bool,
               feature_metrics: bool) -> dict[str, Any]:
    """Whole-set scores of kept uint8 batches ``pred`` against ``truth`` (each a list of
    ``(B, 3, H, W)``): ``"fid"`` (a number, or why it is unavailable: no Inception weights,
    fewer than 2 images) and, with ``feature_metrics``, the kit-feature metrics of
    :func:`~lessons_lib.metrics.kit_feature_report`."""
    from . import UNAVAILABLE, fid_available, kit_feature_report
    from . import fid as fid_score

    out: dict[str, Any] = {}
    n = sum(int(t.shape[0]) for t in truth)
    if fid:
        if not fid_available():
            out["fid"] = UNAVAILABLE
        elif n < 2:
            out["fid"] = "unavailable (needs at least 2 images)"
        else:
            out["fid"] = fid_score(torch.cat(pred), torch.cat(truth))
    if feature_metrics:
        out.update(kit_feature_report(torch.cat(pred), torch.cat(truth)))
    return out
