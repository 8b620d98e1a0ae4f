"""Training on several processes with DDP (issue 15, item 5), on the CPU with gloo and two
processes started as subprocesses (this file is also the worker: ``python tests/test_ddp.py
worker OUT``, with RANK / WORLD_SIZE / MASTER_* set as torchrun would).

The task is a tiny GAN on vectors: G and D linear (no BatchNorm: SyncBatchNorm runs on CUDA
only, on the CPU each rank would normalise its own half of the batch), SGD at a constant learning rate, losses that are means over the batch, no noise - so
two ranks at batch 4 must take the same steps as one process at batch 8, up to the order of
the float additions (the all-reduce sums two half-batch means).
"""
from __future__ import annotations

import builtins
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from torch.utils.data import Dataset

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":   # the worker: make the package importable from the checkout
    sys.path.insert(0, str(ROOT))

from lessons_lib import LessonsError  # noqa: E402
from lessons_lib.models import build_model, register  # noqa: E402
from lessons_lib.train import Task, TrainConfig, train  # noqa: E402
from lessons_lib.train.engine import Trainer  # noqa: E402

DIM, N_ITEMS, BATCH, STEPS, STOP = 5, 24, 8, 6, 3
# SGD is linear in the gradient: the reduction-order error of one step (~1e-7) stays that small
ATOL = 1e-5


@register("test_ddp_gen")
class _Gen(nn.Module):
    def __init__(self, dim: int = DIM) -> None:
        super().__init__()
        self.lin = nn.Linear(dim, dim)

    def forward(self, x):
        return self.lin(x)


@register("test_ddp_critic")
class _Critic(nn.Module):
    def __init__(self, dim: int = DIM) -> None:
        super().__init__()
        self.lin = nn.Linear(dim, 1)

    def forward(self, x):
        return self.lin(x)


class _Vectors(Dataset):
    def __init__(self) -> None:
        self.x = torch.randn(N_ITEMS, DIM, generator=torch.Generator().manual_seed(1))

    def __len__(self):
        return N_ITEMS

    def __getitem__(self, i):
        # a seeded per-item "augmentation": the engine seeds the RNG from (seed, epoch, i)
        return self.x[i] * (1.0 + 0.1 * torch.rand(()))


class VecGAN(Task):
    """D phase: least squares on real 1 / fake 0 (fake detached); G phase: D(fake) -> 1 plus
    |G x - 2 x|^2. Both means over the batch."""

    name = "vecgan"

    def setup(self, device):
        self.nets = {"G": build_model("test_ddp_gen"), "D": build_model("test_ddp_critic")}
        self.opts = {k: torch.optim.SGD(n.parameters(), lr=0.05) for k, n in self.nets.items()}

    def dataset(self, split, train):
        return _Vectors() if split == "train" else None

    def prepare(self, batch, device):
        return {"x": batch.to(device)}

    def forward(self, data):
        return {**data, "fake": self.nets["G"](data["x"])}

    def loss(self, phase, state, step):
        x, fake = state["x"], state["fake"]
        if phase == "D":
            d = self.nets["D"]
            total = ((d(x) - 1) ** 2).mean() + (d(fake.detach()) ** 2).mean()
            return {"loss": total}
        adv = ((self.nets["D"](fake) - 1) ** 2).mean()
        l2 = ((fake - 2 * x) ** 2).mean()
        return {"loss": adv + l2, "l2": l2}

    def sample(self, data):
        return torch.zeros(len(data["x"]), 3, 4, 4)


def _config(out: Path, **kw) -> TrainConfig:
    base = dict(steps=STEPS, batch_size=BATCH, device="cpu", lr_schedule="constant", log_every=1,
                sample_every=-1, ckpt_every=1000, n_samples=0, progress=False, out=str(out))
    base.update(kw)
    return TrainConfig(**base)


def _weights(task: Task) -> dict[str, torch.Tensor]:
    from lessons_lib.train.runstate import unwrap

    return {f"{k}.{n}": t.detach().clone() for k, net in task.nets.items()
            for n, t in unwrap(net).state_dict().items()}


# ------------------------------------------------------------------ the worker
def _record_writes(root: Path) -> list[str]:
    """Record every file this process opens for writing under ``root`` (and every model save)."""
    import lessons_lib.checkpoints as ck

    seen: list[str] = []
    real_open, real_save = builtins.open, ck.save_model

    def spy_open(file, mode="r", *a, **kw):
        if any(c in mode for c in "wax+") and str(Path(os.fspath(file)).resolve()).startswith(str(root)):
            seen.append(os.fspath(file))
        return real_open(file, mode, *a, **kw)

    def spy_save(net, path, *a, **kw):
        seen.append(os.fspath(path))
        return real_save(net, path, *a, **kw)

    builtins.open, ck.save_model = spy_open, spy_save
    return seen


def _worker(out: Path) -> None:
    import torch.distributed as tdist

    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    runs = out / "runs"
    seen = _record_writes(runs.resolve()) if rank > 0 else []
    # the group is created here, so the engine keeps it for the next train() call
    tdist.init_process_group("gloo")
    full = VecGAN()
    res = train(full, _config(runs / "full"))
    part = train(VecGAN(), _config(runs / "resumed", steps=STOP))
    again = VecGAN()
    train(again, _config(runs / "resumed", resume=True))
    tdist.destroy_process_group()
    torch.save({"full": _weights(full), "resumed": _weights(again), "writes": seen,
                "model_path": None if res.model_path is None else str(res.model_path),
                "part_steps": part.steps}, out / f"rank{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
        procs.append(subprocess.Popen([sys.executable, __file__, "worker", str(out)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=240)[0] for p in procs]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    return out, [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


def test_both_ranks_hold_the_same_weights(ddp_run):
    _, (r0, r1) = ddp_run
    assert set(r0["full"]) == set(r1["full"]) == {"G.lin.weight", "G.lin.bias", "D.lin.weight", "D.lin.bias"}
    for k in r0["full"]:
        assert torch.equal(r0["full"][k], r1["full"][k]), k


def test_two_ranks_equal_one_process_at_the_global_batch(ddp_run, tmp_path, one_thread):
    _, (r0, _) = ddp_run
    task = VecGAN()
    train(task, _config(tmp_path / "one"))
    one = _weights(task)
    start = VecGAN()
    torch.manual_seed(0)
    start.setup("cpu")
    moved = max(float((one[k] - _weights(start)[k]).abs().max()) for k in one if "weight" in k)
    assert moved > 1e-2   # the run did learn: the comparison below is not of untouched weights
    for k in one:
        assert torch.allclose(r0["full"][k], one[k], atol=ATOL, rtol=0), (k, (r0["full"][k] - one[k]).abs().max())


def test_a_resumed_ddp_run_equals_an_unbroken_one(ddp_run):
    _, ranks = ddp_run
    for r in ranks:
        assert r["part_steps"] == STOP
        for k in r["full"]:
            assert torch.equal(r["resumed"][k], r["full"][k]), k


def test_only_rank_0_writes_files(ddp_run):
    out, (r0, r1) = ddp_run
    assert r1["writes"] == [] and r1["model_path"] is None
    assert r0["model_path"] is not None and Path(r0["model_path"]).is_file()
    run = out / "runs" / "full"
    assert sorted(p.name for p in run.iterdir() if p.is_file()) == [
        "checkpoint.pt", "metrics.csv", "model.json", "model.safetensors"]   # no val split: no val_metrics.csv
    steps = [line.split(",")[0] for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == [str(s) for s in range(1, STEPS + 1)]   # one writer: each step once
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == STEPS and len(ckpt["rng_ranks"]) == 2


def test_a_batch_size_not_divisible_by_the_world_size_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(LessonsError, match=r"batch_size 7 does not split over 2 processes.*--batch-size 6 or 8"):
        Trainer(VecGAN(), _config(tmp_path, batch_size=7))


def test_lessons_train_nproc_2_runs_end_to_end(tmp_path):
    out = tmp_path / "toy"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "lessons_lib.cli", "train", "gan_toy", "--nproc", "2", "--steps", "3",
         "--batch-size", "32", "--device", "cpu", "--out", str(out), "--set", "n_points=256",
         "--set", "n_val=64", "--set", "hidden=16", "--set", "sample_every=-1", "--set", "progress=false"],
        env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert (out / "model.safetensors").is_file()
    assert proc.stdout.count("trained gan_toy for 3 steps") == 1   # rank 0 reports, rank 1 is quiet
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 3 and len(ckpt["rng_ranks"]) == 2
    launch = json.loads((out / "model.json").read_text())["launch"]   # the card says it was a DDP run
    assert launch == {"launcher": "torchrun", "processes": 2, "world_size": 2, "backend": "gloo",
                      "global_batch": 32, "per_process_batch": 16, "threads_per_process": 1}


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    _worker(Path(sys.argv[2]))
