"""DiffAugment (Zhao et al. 2020) as the recipe option ``diffaugment`` of the one engine:
the transforms, their gradient, the same T on real and fake in D's and G's steps, the card,
and off by default = the engine as it was."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from lessons_lib import LessonsError
from lessons_lib.recipes import build_task, get_recipe
from lessons_lib.train import train
from lessons_lib.train.diffaugment import DiffAugment, diff_augment, parse_policy

pytestmark = pytest.mark.usefixtures("one_thread")
ALL = "color,translation,cutout"


def test_the_policy_is_checked():
    assert parse_policy("cutout, color") == ("color", "cutout") and parse_policy("") == ()
    with pytest.raises(LessonsError, match="unknown DiffAugment transform.s. 'flip'"):
        parse_policy("color,flip")
    with pytest.raises(LessonsError, match="diffaugment augments what the discriminator sees"):
        get_recipe("pix2pix", discriminator=None, diffaugment="color")
    with pytest.raises(LessonsError, match="unknown DiffAugment"):
        get_recipe("pix2pix", diffaugment="rotate")


def test_each_transform_does_what_the_paper_says():
    x = torch.rand(64, 3, 16, 16) + 1.0
    g = torch.Generator().manual_seed(0)
    shifted = diff_augment(x, "translation", g)
    # a shift of at most 1/8 of the side (2 px) with zeros brought in: every row/column of
    # the output is a row/column of the input or zeros
    assert shifted.shape == x.shape
    zero_rows = (shifted == 0).all(dim=(1, 3)).sum(1)                           # (B,)
    assert int(zero_rows.max()) <= 2 and int(zero_rows.max()) >= 1
    cut = diff_augment(x, "cutout", torch.Generator().manual_seed(1))
    holes = (cut == 0).all(dim=1).flatten(1).sum(1)                              # zeroed pixels per image
    assert int(holes.max()) == 64 and int(holes.min()) >= 16                    # an 8x8 square, clipped at the border
    assert torch.equal(cut[cut != 0], x[cut != 0])
    col = diff_augment(x, "color", torch.Generator().manual_seed(2))
    assert not torch.allclose(col, x) and col.shape == x.shape
    assert torch.equal(diff_augment(x, ""), x)


def test_the_same_draw_transforms_real_and_fake_alike_and_is_differentiable():
    real, fake = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16)
    t_real = diff_augment(real, ALL, torch.Generator().manual_seed(5))
    t_fake = diff_augment(fake, ALL, torch.Generator().manual_seed(5))
    assert t_real.shape == t_fake.shape == real.shape
    # one draw is one T: the same shift and the same hole whatever the image
    holes = (diff_augment(torch.ones_like(real), "translation,cutout", torch.Generator().manual_seed(7)) == 0)
    assert torch.equal(holes, diff_augment(torch.full_like(real, 3.0), "translation,cutout",
                                           torch.Generator().manual_seed(7)) == 0)
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: diff_augment(t, ALL, torch.Generator().manual_seed(3)), (x,))
    y = diff_augment(x, ALL, torch.Generator().manual_seed(3))
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert float(grad.abs().sum()) > 0


def _step_state(recipe):
    task = build_task(recipe)
    torch.manual_seed(0)
    task.setup(torch.device("cpu"))
    batch = (torch.rand(4, 3, 32, 32) * 255).to(torch.uint8)
    return task, task.forward(task.prepare(batch, torch.device("cpu")))


def test_d_and_g_steps_show_d_real_and_fake_through_the_same_transforms(monkeypatch):
    seen = []
    import lessons_lib.train.diffaugment as da

    real_augment = da.diff_augment

    def spy(x, policy, generator=None):
        seen.append((x.shape[1], policy, x.requires_grad))
        return real_augment(x, policy, generator)

    monkeypatch.setattr(da, "diff_augment", spy)
    task, state = _step_state(get_recipe("pix2pix", diffaugment=ALL).smoke())
    assert isinstance(task.see, DiffAugment)
    task.loss("D", state, 0)
    assert [p for _, p, _ in seen] == [("color", "translation", "cutout")] * 2     # real pair, then fake pair
    seen.clear()
    out = task.loss("G", state, 0)
    assert [p for _, p, _ in seen] == [("color", "translation", "cutout")]          # the fake pair, in G's step
    out["loss"].backward()                                                          # G's gradient flows through T
    g_grads = [p.grad for p in task.nets["G"].parameters() if p.grad is not None]
    assert g_grads and any(float(gr.abs().sum()) > 0 for gr in g_grads)


def test_off_by_default_is_the_engine_as_it_was(tmp_path, monkeypatch):
    import lessons_lib.train.diffaugment as da

    calls = []
    monkeypatch.setattr(da, "diff_augment", lambda *a, **k: calls.append(1))
    task, _ = _step_state(get_recipe("pix2pix").smoke())
    assert task.see is None and get_recipe("pix2pix").diffaugment == ""
    monkeypatch.undo()

    def run(name, **kw):
        r = get_recipe("pix2pix", **kw).smoke()
        r = dataclasses.replace(r, train=r.train.replace(out=str(tmp_path / name), sample_every=-1, eval_every=-1,
                                                         device="cpu", steps=3))
        t = build_task(r)
        res = train(t, r.train)
        return t, res

    t_default, _ = run("default")
    t_off, _ = run("off", diffaugment="")
    t_on, res_on = run("on", diffaugment=ALL)
    for k in ("G", "D"):
        a, b, c = (t.nets[k].state_dict() for t in (t_default, t_off, t_on))
        assert all(torch.equal(a[n], b[n]) for n in a)                    # bit-identical: no draw, no change
        assert any(not torch.equal(a[n], c[n]) for n in a if a[n].is_floating_point())
    card = json.loads(res_on.model_path.with_suffix(".json").read_text())
    assert card["recipe_config"]["diffaugment"] == ALL
    assert not calls


def test_the_overfitting_gap_and_the_strided_subset():
    from lessons_lib.train.diffaugment import d_overfitting_gap

    full = build_task(get_recipe("pix2pix").smoke())
    task = build_task(get_recipe("pix2pix", train_stride=2).smoke())
    a, b = full.dataset("train", False), task.dataset("train", False)    # centre crops: deterministic
    assert torch.equal(b[1], a[2]) and torch.equal(b[3], a[6])              # every 2nd photo, then the limit
    with pytest.raises(LessonsError, match="train_stride"):
        get_recipe("pix2pix", train_stride=0)
    torch.manual_seed(0)
    task.setup(torch.device("cpu"))
    gap = d_overfitting_gap(task, limit=4)
    assert gap["n_train"] == 4 and gap["n_heldout"] >= 1
    assert gap["gap"] == pytest.approx(gap["train_logit"] - gap["heldout_logit"])
    assert 0 < gap["train_prob"] < 1 and task.nets["D"].training          # D back in training mode
