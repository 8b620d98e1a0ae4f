"""Lesson 09: the contextual-loss check and the restoration figure."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from lessons_lib import viz
from lessons_lib.exercises import check_contextual_loss
from lessons_lib.losses import contextual_loss


def _loops(x, y, h=0.5):
    # the paper's definition written with explicit sums over one sample at a time
    losses = []
    for b in range(x.shape[0]):
        mu = y[b].mean(dim=1, keepdim=True)
        xs, ys = x[b] - mu, y[b] - mu
        N, M = xs.shape[1], ys.shape[1]
        d = torch.empty(N, M)
        for i in range(N):
            for j in range(M):
                d[i, j] = 1 - torch.dot(xs[:, i], ys[:, j]) / (xs[:, i].norm() * ys[:, j].norm())
        d = d.clamp_min(0)
        d_rel = d / (d.min(dim=1, keepdim=True).values + 1e-5)
        w = torch.exp((1 - d_rel) / h)
        cx = w / w.sum(dim=1, keepdim=True)
        losses.append(-torch.log(cx.max(dim=0).values.mean()))
    return torch.stack(losses).mean()


@pytest.mark.parametrize("fn", [lambda x, y: contextual_loss(x, y, max_positions=None), _loops])
def test_right_answers_pass(fn):
    r = check_contextual_loss(fn)
    assert r.passed, r


def test_the_loss_ignores_positions_and_sees_content():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 50)
    shuffled = x[:, :, torch.randperm(50)]
    assert _loops(x, shuffled).item() < 0.05                       # same set, other order: ~0
    assert F.l1_loss(x, shuffled).item() > 0.5                     # pixel loss: large
    assert _loops(x, torch.randn(1, 8, 50)).item() > 0.5          # other content: large


def test_mistakes_are_named_and_nothing_raises():
    def no_centre(x, y):
        xn, yn = F.normalize(x, dim=1), F.normalize(y, dim=1)
        d = (1 - torch.bmm(xn.transpose(1, 2), yn)).clamp_min(0)
        d = d / (d.min(dim=2, keepdim=True).values + 1e-5)
        return (-torch.log(torch.softmax(-d / 0.5, dim=2).max(dim=1).values.mean(dim=1))).mean()

    r = check_contextual_loss(no_centre)
    assert not r.passed and "centre" in r.message
    r = check_contextual_loss(lambda x, y: torch.tensor(math.nan))
    assert not r.passed
    r = check_contextual_loss(lambda x, y: x.sum() / 0 if False else undefined_name)  # noqa: F821
    assert not r.passed and "NameError" in r.message


def test_restoration_figure():
    torch.manual_seed(0)
    sharp = torch.rand(3, 3, 16, 16)
    outs = {"blurred": sharp * 0.9, "x_R": sharp * 0.95, "x_hat": sharp}
    fig = viz.show_restoration(outs, sharp, n=2)
    assert len(fig.axes) == 2 * 4 and "dB" in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError):
        viz.show_restoration({"sharp_only": sharp})
