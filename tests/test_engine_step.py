"""The engine's step options (issue 15, part 4): gradient clipping, gradient accumulation,
the Task.on_step_end hook (StyleGAN2's EMA moves there), and the Trainer's state set in
__init__. A linear G on vectors with SGD, so that every expected number is exact."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from lessons_lib import LessonsError
from lessons_lib.models import build_model, register
from lessons_lib.train import Task, TrainConfig, train
from lessons_lib.train.engine import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")

DIM = 6


@register("test_step_linear")
class _Linear(nn.Module):
    """A linear map (B, dim_in) -> (B, dim_out), registered so that the engine can save it."""

    def __init__(self, dim_in: int = DIM, dim_out: int = DIM, bias: bool = False) -> None:
        super().__init__()
        self.lin = nn.Linear(dim_in, dim_out, bias=bias)

    @property
    def weight(self) -> torch.Tensor:
        return self.lin.weight

    def forward(self, x):
        return self.lin(x)


class _Points(Dataset):
    def __init__(self, n: int) -> None:
        self.x = torch.randn(n, DIM, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


class LinearTask(Task):
    """G: a bias-free linear map trained by SGD on |G x - 3 x|^2 (one phase), or with a
    toy critic phase "D" when ``with_d``; records what the hook sees."""

    name = "linear"

    def __init__(self, n: int = 32, lr: float = 0.1, scale: float = 1.0, with_d: bool = False) -> None:
        super().__init__()
        self.n, self.lr, self.scale = n, lr, scale
        self.phases = ("D", "G") if with_d else ("G",)
        self.seen_at_step_end: list[tuple[int, torch.Tensor]] = []
        self.forwards = 0

    def setup(self, device):
        torch.manual_seed(0)
        self.nets = {"G": build_model("test_step_linear")}
        if "D" in self.phases:
            self.nets["D"] = build_model("test_step_linear", dim_out=1, bias=True)
        self.opts = {k: torch.optim.SGD(n.parameters(), lr=self.lr) for k, n in self.nets.items()}

    def dataset(self, split, train):
        return _Points(self.n) if split == "train" else None

    def prepare(self, batch, device):
        return {"x": batch.to(device)}

    def forward(self, data):
        self.forwards += 1
        return {**data, "fake": self.nets["G"](data["x"])}

    def loss(self, phase, state, step):
        if phase == "D":
            return {"loss": self.nets["D"](state["fake"].detach()).pow(2).mean()}
        return {"loss": self.scale * ((state["fake"] - 3 * state["x"]) ** 2).mean()}

    def on_step_end(self, step):
        self.seen_at_step_end.append((step, self.nets["G"].weight.detach().clone()))

    def sample(self, data):
        return torch.zeros(1, 3, 2, 2)


def run(tmp_path, name, task=None, **kw):
    task = task or LinearTask()
    base = dict(steps=4, batch_size=8, device="cpu", seed=1, log_every=1, sample_every=-1, eval_every=-1,
                ckpt_every=100, out=str(tmp_path / name), progress=False, lr_schedule="constant")
    base.update(kw)
    res = train(task, TrainConfig(**base))
    return task, res


def test_grad_clip_bounds_the_gradient_norm_and_logs_it(tmp_path):
    # a huge loss scale: SGD's step is lr x the clipped gradient, so the weight moves lr x 1 at most
    free, _ = run(tmp_path, "free", LinearTask(scale=1000.0), steps=1)
    clipped, _ = run(tmp_path, "clip", LinearTask(scale=1000.0), steps=1, grad_clip=1.0)
    torch.manual_seed(0)
    w0 = nn.Linear(DIM, DIM, bias=False).weight.detach()
    moved_free = float((free.nets["G"].weight.detach() - w0).norm())
    moved_clip = float((clipped.nets["G"].weight.detach() - w0).norm())
    assert moved_clip == pytest.approx(0.1, rel=1e-4)       # lr x max norm 1
    assert moved_free > 100 * moved_clip
    import csv

    rows = list(csv.DictReader(open(tmp_path / "clip" / "metrics.csv")))
    assert float(rows[0]["G_grad_norm"]) == pytest.approx(moved_free / 0.1, rel=1e-4)  # the norm before clipping


def test_accumulating_two_half_batches_equals_one_whole_batch(tmp_path):
    whole, _ = run(tmp_path, "whole", batch_size=8, steps=4)
    halves, res = run(tmp_path, "halves", batch_size=4, accumulate=2, steps=4)
    torch.testing.assert_close(halves.nets["G"].weight, whole.nets["G"].weight, rtol=1e-6, atol=1e-7)
    assert res.steps == 4
    assert halves.forwards == 8                               # two batches a step, each forwarded
    # epochs count batches: 4 steps x 2 batches of 4 = 32 items = one epoch
    assert res.epochs == pytest.approx(1.0)


def test_accumulate_with_a_critic_phase_and_extra_d_steps(tmp_path):
    task, res = run(tmp_path, "gan", LinearTask(with_d=True), accumulate=2, d_steps=2, steps=2, batch_size=4)
    # per step: an extra D step (2 batches) + the D and G phases (2 batches each, forwarded per phase)
    assert task.forwards == 2 * (2 + 2 + 2)
    assert res.epochs == pytest.approx(2 * 4 * 4 / 32)        # 4 batches of 4 a step


def test_on_step_end_runs_once_per_step_after_the_updates(tmp_path):
    task, _ = run(tmp_path, "hook", LinearTask(with_d=True), steps=3, d_steps=3)
    assert [s for s, _ in task.seen_at_step_end] == [0, 1, 2]
    # what the hook saw at the last step is G's final weight: it ran after G's update
    torch.testing.assert_close(task.seen_at_step_end[-1][1], task.nets["G"].weight.detach())


def test_step_options_are_validated():
    with pytest.raises(LessonsError, match="grad_clip"):
        TrainConfig(steps=1, grad_clip=-1.0).validate()
    with pytest.raises(LessonsError, match="accumulate"):
        TrainConfig(steps=1, accumulate=0).validate()


def test_the_trainer_state_exists_before_run(tmp_path):
    t = Trainer(LinearTask(), TrainConfig(steps=1, device="cpu", out=str(tmp_path / "t"), progress=False))
    assert t.best is None and t.val_metrics == {} and t.samples == [] and t.data_pos == 0 and t.scheds == {}


def test_stylegan2_ema_moves_once_per_step_after_g(tmp_path):
    """G_ema = beta G_ema + (1 - beta) G with G after its update and beta = 0.5^(B / (kimg 1000)),
    once per step (not again on the extra D steps)."""
    from lessons_lib.recipes import apply_overrides, build_task, get_recipe

    recipe = apply_overrides(get_recipe("stylegan2").smoke(), out=str(tmp_path / "sg"), steps=1, d_steps=2,
                             ema_kimg=0.01, sample_every=-1, eval_every=-1)
    start = build_task(recipe)
    torch.manual_seed(recipe.train.seed)
    from lessons_lib.train.runstate import seed_everything

    seed_everything(recipe.train.seed)
    start.setup(torch.device("cpu"))
    g0 = copy.deepcopy(start.nets["G_ema"].state_dict())
    task = build_task(recipe)
    train(task, recipe.train)
    B = recipe.train.batch_size
    beta = 0.5 ** (B / (0.01 * 1000.0))
    g1 = task.nets["G"].state_dict()
    for name, p in task.nets["G_ema"].named_parameters():
        want = beta * g0[name] + (1 - beta) * g1[name]
        torch.testing.assert_close(p.detach(), want, rtol=1e-5, atol=1e-6)
