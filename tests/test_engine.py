"""The training engine on a tiny task: every guarantee of lessons_lib.train.engine.

The task is a conditional "GAN" on 12-number vectors that a linear G can learn exactly
(y = A x), with dropout in G (random stream in the forward pass), BatchNorm in D (running
statistics in the checkpoint) and random noise in the items (per-item augmentation), so
that exact resume is a real test. Every run takes well under a second.
"""
from __future__ import annotations

import csv
import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from PIL import Image
from torch.utils.data import Dataset

from lessons_lib import LessonsError
from lessons_lib.models import build_model, register
from lessons_lib.train import Task, TrainConfig, TrainingDiverged, TrainingInterrupted, train
from lessons_lib.device import resolve_device
from lessons_lib.train.config import CHECKPOINT_NAME
from lessons_lib.train.runstate import atomic_save, load_checkpoint, lr_factor, resolve_amp

DIM = 12  # = 3 x 2 x 2: a vector doubles as a tiny image for the sample grid


# tiny nets: one torch thread per test (the shared fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


@register("test_engine_g")
class _TinyG(nn.Module):
    def __init__(self, dim: int = DIM, p: float = 0.1) -> None:
        super().__init__()
        self.drop = nn.Dropout(p)            # (B, dim)
        self.lin = nn.Linear(dim, dim)       # (B, dim)

    def forward(self, x):
        return self.lin(self.drop(x))


@register("test_engine_d")
class _TinyD(nn.Module):
    def __init__(self, dim: int = DIM) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * dim, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x)


class _Vectors(Dataset):
    """x ~ N(0, 1), fixed per index; each item gets fresh noise (an 'augmentation')."""

    def __init__(self, n: int, seed: int) -> None:
        self.x = torch.randn(n, DIM, generator=torch.Generator().manual_seed(seed))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] + 0.01 * torch.randn(DIM)  # draws from the global RNG


class TinyTask(Task):
    """Learn y = A x: G regression + a small conditional adversarial term."""

    name = "tiny"

    def __init__(self, n: int = 64, lr: float = 0.05, fail_at: tuple[str, int] | None = None,
                 interrupt_at: tuple[str, int] | None = None, sigint_at: int | None = None,
                 gan_weight: float = 0.01, reg_every: int = 0) -> None:
        super().__init__()
        self.reg_every = reg_every
        self.n, self.lr = n, lr
        self.fail_at, self.interrupt_at, self.sigint_at = fail_at, interrupt_at, sigint_at
        self.gan_weight = gan_weight
        self.A = torch.randn(DIM, DIM, generator=torch.Generator().manual_seed(123)) / math.sqrt(DIM)
        self.grad_flags: list[tuple[str, bool, bool]] = []

    def setup(self, device):
        self.nets = {"G": build_model("test_engine_g").to(device), "D": build_model("test_engine_d").to(device)}
        self.opts = {k: torch.optim.Adam(n.parameters(), lr=self.lr, betas=(0.5, 0.999)) for k, n in self.nets.items()}

    def dataset(self, split, train):
        return _Vectors(self.n if split == "train" else 16, seed=0 if split == "train" else 1)

    def prepare(self, batch, device):
        x = batch.to(device)
        return {"x": x, "y": x @ self.A.to(device).T}

    def forward(self, data):
        return {**data, "fake": self.nets["G"](data["x"])}

    def loss(self, phase, state, step):
        G, D = self.nets["G"], self.nets["D"]
        self.grad_flags.append((phase, all(p.requires_grad for p in G.parameters()),
                                all(p.requires_grad for p in D.parameters())))
        if self.interrupt_at == (phase, step):
            raise KeyboardInterrupt
        if self.sigint_at == step and phase == "G":
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, delivered to the handler
        x, y, fake = state["x"], state["y"], state["fake"]
        bad = float("nan") if self.fail_at == (phase, step) else 1.0
        if phase == "D":
            real_l, fake_l = D(torch.cat([x, y], 1)), D(torch.cat([x, fake.detach()], 1))
            loss = nn.functional.softplus(-real_l).mean() + nn.functional.softplus(fake_l).mean()
            return {"loss": loss * bad, "real": real_l.mean(), "fake": fake_l.mean()}
        mse = ((fake - y) ** 2).mean()
        adv = nn.functional.softplus(-D(torch.cat([x, fake], 1))).mean()
        return {"loss": (mse + self.gan_weight * adv) * bad, "mse": mse, "gan": adv}

    def regularize(self, phase, state, step):
        # a stand-in for lazy R1: a constant on D's loss every reg_every steps
        return torch.tensor(0.5) if phase == "D" else None

    def sample(self, data):
        return torch.sigmoid(self.nets["G"](data["x"])).view(-1, 3, 2, 2)

    def evaluate(self, batches):
        errs = [((self.nets["G"](b.to(self.device)) - b.to(self.device) @ self.A.to(self.device).T) ** 2).mean()
                for b in batches]
        return {"mse": float(torch.stack(errs).mean())}


def cfg(tmp_path, name="run", **kw) -> TrainConfig:
    base = dict(steps=20, batch_size=8, device="cpu", seed=3, log_every=5, sample_every=10, ckpt_every=10,
                out=str(tmp_path / name), progress=False, lr_schedule="linear")
    base.update(kw)
    return TrainConfig(**base)


def state_of(task: Task) -> dict[str, torch.Tensor]:
    out = {}
    for k, n in task.nets.items():
        out.update({f"{k}.{name}": t.detach().clone() for name, t in n.state_dict().items()})
    for k, o in task.opts.items():
        for pid, st in o.state_dict()["state"].items():
            out.update({f"opt{k}.{pid}.{name}": t.clone() for name, t in st.items()})
    return out


def assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def loss_rows(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k not in ("images_per_s", "time_s")} for r in read_csv(path)]


# ----------------------------------------------------------------------------- learning
def test_losses_decrease_and_outputs_are_written(tmp_path):
    task = TinyTask()
    res = train(task, cfg(tmp_path, steps=60, lr_schedule="constant", eval_every=30))
    rows = read_csv(res.metrics_csv)
    assert list(rows[0]) == ["step", "epoch", "lr_D", "lr_G", "loss_D", "D_real", "D_fake",
                             "loss_G", "G_mse", "G_gan", "images_per_s", "time_s"]
    assert [int(r["step"]) for r in rows] == list(range(5, 61, 5))
    # 64 items in batches of 8 = 8 steps per epoch
    assert float(rows[-1]["epoch"]) == pytest.approx(60 / 8)
    first, last = float(rows[0]["G_mse"]), float(rows[-1]["G_mse"])
    assert last < 0.2 * first, (first, last)
    assert res.steps == 60 and res.images_per_s > 0
    # validation at step 30 and at the end, and the final metrics in the result
    val = read_csv(tmp_path / "run" / "val_metrics.csv")
    assert [int(r["step"]) for r in val] == [30, 60]
    assert res.val_metrics["mse"] == pytest.approx(float(val[-1]["mse"]))
    assert res.val_metrics["mse"] < float(val[0]["mse"])
    # sample grids of the fixed batch (8 tiny 2x2 images, one row): start, every 10, end
    names = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert names == [f"step_{s:06d}.png" for s in (0, 10, 20, 30, 40, 50, 60)]
    with Image.open(tmp_path / "run" / "samples" / "step_000060.png") as im:
        assert im.size == (8 * 2 + 9 * 2, 2 + 2 * 2)
    # the exported model and its card
    assert res.model_path is not None and Path(res.model_path).exists()
    card = json.loads(Path(res.model_path).with_suffix(".json").read_text())
    assert card["arch"] == "test_engine_g" and card["steps"] == 60 and card["metrics"]["mse"] == pytest.approx(
        res.val_metrics["mse"])
    assert card["hardware"]["device"] == "cpu" and card["hardware"]["torch"] == torch.__version__
    assert card["train_config"]["steps"] == 60
    assert card["launch"] == {"launcher": "single process", "processes": 1, "world_size": 1, "backend": None,
                              "global_batch": card["train_config"]["batch_size"],
                              "per_process_batch": card["train_config"]["batch_size"],
                              "threads_per_process": torch.get_num_threads()}


def test_epochs_become_steps(tmp_path):
    res = train(TinyTask(n=40), cfg(tmp_path, steps=None, epochs=2.0, sample_every=-1, eval_every=-1))
    assert res.steps == 2 * (40 // 8)  # the partial batch is dropped
    assert res.epochs == pytest.approx(2.0)


def test_requires_grad_follows_the_phase(tmp_path):
    task = TinyTask()
    train(task, cfg(tmp_path, steps=3, sample_every=-1, eval_every=-1))
    # (phase, G requires grad, D requires grad) at each loss call
    assert task.grad_flags == [("D", False, True), ("G", True, False)] * 3


def test_d_steps_gives_extra_discriminator_updates(tmp_path):
    task = TinyTask()
    res = train(task, cfg(tmp_path, steps=4, d_steps=3, sample_every=-1, eval_every=-1))
    steps_d = [int(s["step"]) for s in task.opts["D"].state_dict()["state"].values()]
    steps_g = [int(s["step"]) for s in task.opts["G"].state_dict()["state"].values()]
    assert set(steps_d) == {12} and set(steps_g) == {4}
    assert [f[0] for f in task.grad_flags[:4]] == ["D", "D", "D", "G"]
    assert load_checkpoint(res.checkpoint_path)["data_pos"] == 12  # a fresh batch per D update


def test_hooks_and_lazy_regulariser(tmp_path):
    seen = []
    train(TinyTask(reg_every=3), cfg(tmp_path, steps=7, sample_every=-1, eval_every=-1),
          hooks=[lambda step, logs: seen.append((step, sorted(logs)))])
    assert [s for s, _ in seen] == list(range(1, 8))
    with_reg = [s for s, keys in seen if "D_reg" in keys]
    assert with_reg == [1, 4, 7]  # step indices 0, 3, 6
    assert all("G_reg" not in keys for _, keys in seen)


def test_best_model_is_kept_by_validation_metric(tmp_path):
    res = train(TinyTask(), cfg(tmp_path, steps=30, eval_every=10, best_metric="mse", best_mode="min",
                                sample_every=-1))
    val = read_csv(tmp_path / "run" / "val_metrics.csv")
    best_row = min(val, key=lambda r: float(r["mse"]))
    assert res.best["metric"] == "mse" and res.best["step"] == int(best_row["step"])
    assert res.best["value"] == pytest.approx(float(best_row["mse"]))
    card = json.loads((tmp_path / "run" / "best.json").read_text())
    assert card["kind"] == "best" and card["steps"] == res.best["step"]
    with pytest.raises(LessonsError, match="best_metric 'psnr' is not among the validation metrics"):
        train(TinyTask(), cfg(tmp_path, "other", steps=2, best_metric="psnr", sample_every=-1))


def test_compiled_nets_checkpoint_with_clean_keys(tmp_path, monkeypatch):
    class Wrapped(nn.Module):  # what torch.compile returns: the module under _orig_mod
        def __init__(self, m):
            super().__init__()
            self._orig_mod = m

        def forward(self, *a):
            return self._orig_mod(*a)

    monkeypatch.setattr(torch, "compile", Wrapped)
    task = TinyTask()
    res = train(task, cfg(tmp_path, steps=2, compile=True, sample_every=-1, eval_every=-1))
    assert isinstance(task.nets["G"], Wrapped)
    ckpt = load_checkpoint(res.checkpoint_path)
    assert set(ckpt["nets"]["G"]) == {"lin.weight", "lin.bias"}


# ----------------------------------------------------------------------------- schedule
def test_lr_factor_matches_pix2pix_rule():
    # pix2pix: lambda_rule(epoch) = 1 - max(0, epoch + 1 - n_epochs) / (n_epochs_decay + 1)
    for e in range(200):
        ref = 1.0 - max(0, e + 1 - 100) / float(100 + 1)
        assert lr_factor("linear", e, 200, decay_start=0.5) == pytest.approx(ref)
    assert lr_factor("constant", 77, 100) == 1.0
    assert [lr_factor("step", s, 10, milestones=(3, 6), gamma=0.1) for s in (0, 2, 3, 5, 6, 9)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01])
    assert lr_factor("step", 5, 10, milestones=(0.5,), gamma=0.5) == 0.5  # a fraction of the run
    assert lr_factor("step", 4, 10, milestones=(0.5,), gamma=0.5) == 1.0
    assert lr_factor("cosine", 0, 10) == 1.0 and lr_factor("cosine", 5, 10) == pytest.approx(0.5)
    with pytest.raises(LessonsError, match="constant, linear, step, cosine"):
        lr_factor("exp", 0, 10)


def test_engine_applies_the_schedule_to_every_optimiser(tmp_path):
    task = TinyTask(lr=0.01)
    res = train(task, cfg(tmp_path, steps=10, log_every=1, decay_start=0.4, sample_every=-1, eval_every=-1))
    rows = read_csv(res.metrics_csv)
    for r in rows:
        s = int(r["step"]) - 1  # the row of step s+1 logs the lr used in step s
        want = 0.01 * lr_factor("linear", s, 10, decay_start=0.4)
        assert float(r["lr_G"]) == pytest.approx(want, rel=1e-5)
        assert float(r["lr_D"]) == pytest.approx(want, rel=1e-5)


# ----------------------------------------------------------------------------- resume
def test_resume_is_bit_identical(tmp_path):
    straight = TinyTask()
    train(straight, cfg(tmp_path, "a", steps=20, lr_schedule="constant"))
    first = TinyTask()
    train(first, cfg(tmp_path, "b", steps=10, lr_schedule="constant"))
    second = TinyTask()
    res = train(second, cfg(tmp_path, "b", steps=20, lr_schedule="constant", resume=True))
    assert res.steps == 20
    assert_identical(state_of(straight), state_of(second))
    # the log continues where it stopped, with the same numbers
    assert loss_rows(tmp_path / "a" / "metrics.csv") == loss_rows(tmp_path / "b" / "metrics.csv")


def test_resume_with_more_steps_follows_the_new_schedule_from_the_first_step(tmp_path):
    train(TinyTask(lr=0.01), cfg(tmp_path, "r", steps=10, log_every=1, sample_every=-1, eval_every=-1,
                                 lr_schedule="linear", decay_start=0.0))
    res = train(TinyTask(lr=0.01), cfg(tmp_path, "r", steps=20, log_every=1, sample_every=-1, eval_every=-1,
                                       lr_schedule="linear", decay_start=0.0, resume=True))
    rows = [r for r in read_csv(res.metrics_csv) if int(r["step"]) > 10]
    assert [int(r["step"]) for r in rows] == list(range(11, 21))
    for r in rows:  # the row of step s+1 logs the lr used in step s, on the 20-step schedule
        want = 0.01 * lr_factor("linear", int(r["step"]) - 1, 20, decay_start=0.0)
        assert float(r["lr_G"]) == pytest.approx(want, rel=1e-5)


def test_interrupt_mid_step_saves_and_resumes_exactly(tmp_path, capsys):
    straight = TinyTask()
    train(straight, cfg(tmp_path, "a"))
    # Ctrl-C raised inside the D loss of step index 13 (13 steps done, nothing updated yet)
    with pytest.raises(TrainingInterrupted, match="checkpoint of step 13 saved") as info:
        train(TinyTask(interrupt_at=("D", 13)), cfg(tmp_path, "b"))
    assert isinstance(info.value, KeyboardInterrupt)
    assert "--resume" in str(info.value)
    assert load_checkpoint(tmp_path / "b" / CHECKPOINT_NAME)["step"] == 13
    resumed = TinyTask()
    train(resumed, cfg(tmp_path, "b", resume=True))
    assert_identical(state_of(straight), state_of(resumed))


def test_sigint_finishes_the_step_then_saves(tmp_path):
    straight = TinyTask()
    train(straight, cfg(tmp_path, "a"))
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="after step 8"):
        train(TinyTask(sigint_at=7), cfg(tmp_path, "b"))
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    ckpt = load_checkpoint(tmp_path / "b" / CHECKPOINT_NAME)
    assert ckpt["step"] == 8 and ckpt["exact"] is True
    resumed = TinyTask()
    train(resumed, cfg(tmp_path, "b", resume=True))
    assert_identical(state_of(straight), state_of(resumed))


def test_interrupt_after_an_update_saves_an_inexact_checkpoint(tmp_path, capsys):
    with pytest.raises(TrainingInterrupted):
        train(TinyTask(interrupt_at=("G", 4)), cfg(tmp_path))
    ckpt = load_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)
    assert ckpt["step"] == 4 and ckpt["exact"] is False
    res = train(TinyTask(), cfg(tmp_path, resume=True))
    assert res.steps == 20
    assert "not bit-identical" in capsys.readouterr().err


def test_resume_errors(tmp_path):
    with pytest.raises(LessonsError, match="nothing to resume.*without --resume"):
        train(TinyTask(), cfg(tmp_path, resume=True))
    train(TinyTask(), cfg(tmp_path, steps=2, sample_every=-1, eval_every=-1))
    with pytest.raises(LessonsError, match="already holds a run.*--resume.*--overwrite"):
        train(TinyTask(), cfg(tmp_path, steps=2))
    assert train(TinyTask(), cfg(tmp_path, steps=2, overwrite=True)).steps == 2
    (tmp_path / "run" / CHECKPOINT_NAME).write_bytes(b"not a checkpoint at all")
    with pytest.raises(LessonsError, match="not a readable training checkpoint"):
        train(TinyTask(), cfg(tmp_path, resume=True))


def test_checkpoint_loads_without_unpickling(tmp_path):
    train(TinyTask(), cfg(tmp_path, steps=2, sample_every=-1, eval_every=-1))
    ckpt = torch.load(tmp_path / "run" / CHECKPOINT_NAME, weights_only=True)
    assert ckpt["step"] == 2 and set(ckpt["nets"]) == {"G", "D"} and set(ckpt["opts"]) == {"G", "D"}
    assert {"python", "numpy", "torch"} <= set(ckpt["rng"])
    assert ckpt["data_pos"] == 2


# ----------------------------------------------------------------------------- atomic writes
def test_atomic_save_never_leaves_a_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    atomic_save({"step": 1, "w": torch.ones(3)}, path)

    def broken_save(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temp file left
    assert torch.load(path, weights_only=True)["step"] == 1           # the old one intact


# ----------------------------------------------------------------------------- divergence guard
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    task = TinyTask(fail_at=("G", 12))
    good = {}

    def keep_bytes(step, logs):  # the checkpoint of step 10 as it was written
        if step == 11:
            good["bytes"] = (tmp_path / "run" / CHECKPOINT_NAME).read_bytes()

    with pytest.raises(TrainingDiverged) as info:
        train(task, cfg(tmp_path, ckpt_every=5), hooks=[keep_bytes])
    msg = str(info.value)
    assert "loss_G became nan at step 13" in msg
    assert "last good checkpoint (step 10)" in msg and str(tmp_path / "run" / CHECKPOINT_NAME) in msg
    assert "lower the learning rate" in msg and "--resume" in msg
    assert isinstance(info.value, LessonsError)
    assert (tmp_path / "run" / CHECKPOINT_NAME).read_bytes() == good["bytes"]  # untouched
    ckpt = load_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)
    assert ckpt["step"] == 10
    assert all(torch.isfinite(t).all() for t in ckpt["nets"]["G"].values())
    # the bad loss was never applied (the D update of that step was, G's was not): G is finite
    assert all(torch.isfinite(p).all() for p in task.nets["G"].parameters())
    assert not (tmp_path / "run" / "model.safetensors").exists()  # no export of a failed run
    # the rows before the failure were flushed
    assert int(read_csv(tmp_path / "run" / "metrics.csv")[-1]["step"]) == 12


def test_nan_before_any_checkpoint_says_so(tmp_path):
    with pytest.raises(TrainingDiverged, match="loss_D became nan at step 1; no checkpoint was written yet"):
        train(TinyTask(fail_at=("D", 0)), cfg(tmp_path))


# ----------------------------------------------------------------------------- devices and options
def test_device_auto_is_cpu_without_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if getattr(torch.backends, "mps", None) is not None:
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("CPU") == torch.device("cpu")
    with pytest.raises(LessonsError, match="no CUDA GPU.*--device cpu"):
        resolve_device("cuda")
    with pytest.raises(LessonsError, match="unknown device 'tpu9'"):
        resolve_device("tpu9")
    assert resolve_amp("auto", torch.device("cpu")) is None
    assert resolve_amp("bf16", torch.device("cpu")) is torch.bfloat16
    assert resolve_amp("off", torch.device("cuda")) is None


def test_config_validation_names_the_field(tmp_path):
    with pytest.raises(LessonsError, match="exactly one of steps or epochs"):
        train(TinyTask(), TrainConfig(steps=None, epochs=None, out=str(tmp_path)))
    with pytest.raises(LessonsError, match="unknown lr_schedule 'exp'"):
        train(TinyTask(), cfg(tmp_path, lr_schedule="exp"))
    with pytest.raises(LessonsError, match="option batch_size expects int, got 'x'"):
        train(TinyTask(), cfg(tmp_path, batch_size="x"))
    with pytest.raises(LessonsError, match="fewer than one batch of 8"):
        train(TinyTask(n=5), cfg(tmp_path))
    with pytest.raises(LessonsError, match="unknown training option"):
        TrainConfig().replace(stepz=3)
    assert TrainConfig(epochs=3).replace(steps=5).epochs is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_bf16_channels_last_run(tmp_path):  # pragma: no cover - GPU only
    res = train(TinyTask(), cfg(tmp_path, device="cuda", steps=4, sample_every=-1))
    assert res.device.startswith("cuda")
