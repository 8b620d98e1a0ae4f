"""Data-parallel training on several processes (GPUs, or CPU processes) with PyTorch's own
``torch.distributed`` and ``DistributedDataParallel`` (DDP).

``torchrun --nproc_per_node N -m lessons_lib.cli train RECIPE ...`` (or ``lessons train RECIPE
--nproc N``, which launches torchrun) starts N copies of the training; torchrun gives each
the environment variables ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (PyTorch docs, "torchrun
(Elastic Launch)"). Without them - or with ``WORLD_SIZE=1`` - nothing here is used and a run
is the single-process run it always was.

What this module provides to the engine:

* :func:`detect` - the rank and world size from the environment;
* :func:`init` / :func:`close` - the process group (gloo on the CPU, nccl on CUDA, each rank
  on ``cuda:LOCAL_RANK``);
* :class:`RankPlan` - the engine's seeded batch plan cut per rank: every global batch of
  ``batch_size`` items is split into ``world`` consecutive slices of ``batch_size / world``
  items, so a rank loads exactly the items a one-process run would have in that batch, each
  with its per-item seed;
* :func:`wrap` - DDP around each net that learns (optionally with SyncBatchNorm). DDP
  averages the gradients over the ranks during backward (PyTorch docs,
  ``torch.nn.parallel.DistributedDataParallel``), so with a loss that is a mean over the
  batch, N ranks at ``batch_size / N`` take the step one process takes at ``batch_size``;
* :func:`gather` / :func:`barrier` - small collectives (the per-rank RNG states of a
  checkpoint; rank 0's outputs).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn as nn

from .. import LessonsError

__all__ = ["Dist", "detect", "init", "close", "RankPlan", "wrap", "gather", "barrier", "check_batch", "rank_seed"]


@dataclass(frozen=True)
class Dist:
    """Where this process stands: ``rank`` of ``world`` processes, ``local_rank`` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0


def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise LessonsError(f"environment variable {name}={text!r} is not an integer (torchrun sets it)") from None


def detect() -> Dist:
    """The distributed environment torchrun sets up; a single process without it."""
    world = _env_int("WORLD_SIZE")
    if world is None or world <= 1:
        return Dist()
    rank = _env_int("RANK")
    if rank is None or not 0 <= rank < world:
        raise LessonsError(f"WORLD_SIZE={world} but RANK={os.environ.get('RANK')!r}: start the run with torchrun "
                           "(or lessons train --nproc N), which sets both")
    local = _env_int("LOCAL_RANK")
    return Dist(rank=rank, world=world, local_rank=rank if local is None else local)


def init(dist_: Dist, device: str) -> tuple[str, bool]:
    """Join the process group; returns ``(device, created)``: the device this rank trains on
    (``cuda:LOCAL_RANK`` when the device is CUDA) and whether this call created the group
    (then :func:`close` destroys it)."""
    import torch.distributed as tdist

    if not dist_.active:
        return device, False
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise LessonsError("device cuda asked for, but this machine has no CUDA GPU; use --device cpu")
        if dist_.local_rank >= torch.cuda.device_count():
            raise LessonsError(f"LOCAL_RANK {dist_.local_rank} but only {torch.cuda.device_count()} GPU(s) here; "
                               "give --nproc_per_node at most the number of GPUs of the node")
        device = f"cuda:{dist_.local_rank}"
        torch.cuda.set_device(device)
    elif device == "auto":
        device = "cpu"   # MPS has no collective backend: several processes train on the CPU
    created = False
    if not tdist.is_initialized():
        tdist.init_process_group(backend="nccl" if use_cuda else "gloo")
        created = True
    if tdist.get_world_size() != dist_.world or tdist.get_rank() != dist_.rank:
        raise LessonsError(f"the process group has rank {tdist.get_rank()} of {tdist.get_world_size()}, "
                           f"the environment says {dist_.rank} of {dist_.world}")
    return device, created


def close(created: bool) -> None:
    import torch.distributed as tdist

    if created and tdist.is_initialized():
        tdist.destroy_process_group()


def launch_info(dist_: Dist, batch_size: int, device: torch.device) -> dict:
    """How the run was launched, for its model card (a run is reproducible from it): the
    launcher, the processes on this node and in all (world size), the collective backend
    (what :func:`init` chose), the global batch and each process's share, torch's threads."""
    local = _env_int("LOCAL_WORLD_SIZE") if dist_.active else None
    return {
        "launcher": "torchrun" if dist_.active else "single process",
        "processes": local or dist_.world,
        "world_size": dist_.world,
        "backend": ("nccl" if device.type == "cuda" else "gloo") if dist_.active else None,
        "global_batch": batch_size,
        "per_process_batch": batch_size // dist_.world,
        "threads_per_process": torch.get_num_threads(),
    }


def check_batch(batch_size: int, world: int) -> None:
    """A global batch must split evenly over the ranks."""
    if batch_size % world:
        lower, upper = (batch_size // world) * world, -(-batch_size // world) * world
        sizes = " or ".join(str(b) for b in dict.fromkeys((lower, upper)) if b > 0)
        raise LessonsError(
            f"batch_size {batch_size} does not split over {world} processes (each rank takes batch_size / "
            f"{world} items of every batch); use a batch size divisible by {world} (e.g. --batch-size {sizes}) "
            "or another number of processes"
        )


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of rank ``rank``'s own noise (rank 0 keeps ``seed``, the stream of a
    one-process run); ``step`` moves it on when a run resumes without its RNG states."""
    return seed + 1_000_003 * rank + step


class RankPlan:
    """The slice of each global batch of ``plan`` (an iterable of item-key lists) that
    ``rank`` of ``world`` loads: items ``[rank * b, (rank + 1) * b)`` with ``b = len / world``."""

    def __init__(self, plan: Any, rank: int, world: int) -> None:
        self.plan, self.rank, self.world = plan, rank, world

    def __iter__(self) -> Iterator[list]:
        for batch in self.plan:
            per = len(batch) // self.world
            yield batch[self.rank * per:(self.rank + 1) * per]


def has_bn(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def wrap(nets: dict[str, nn.Module], learning: set[str], device: torch.device, sync_bn: bool) -> dict[str, nn.Module]:
    """DDP wrappers of the nets in ``learning`` that have parameters (``{name: wrapper}``).
    With ``sync_bn`` on CUDA their BatchNorm layers are first converted to SyncBatchNorm
    (the batch statistics are then those of the global batch), and ``nets`` gets the
    converted module. DDP's constructor broadcasts rank 0's weights and buffers, so every
    rank starts from the same nets."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    wrappers: dict[str, nn.Module] = {}
    for k in sorted(learning):
        net = nets[k]
        if not any(True for _ in net.parameters()):
            continue
        if sync_bn and device.type == "cuda" and has_bn(net):   # SyncBatchNorm runs on GPUs only
            net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
            nets[k] = net
        ids = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else None
        for p in net.parameters():
            p.requires_grad_(True)   # DDP registers its gradient hooks on the parameters that need grad
        wrappers[k] = DDP(net, device_ids=ids, output_device=ids[0] if ids else None)
    return wrappers


def gather(obj: Any, dist_: Dist) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    import torch.distributed as tdist

    if not dist_.active:
        return [obj]
    out: list[Any] = [None] * dist_.world
    tdist.all_gather_object(out, obj)
    return out


def barrier(dist_: Dist) -> None:
    import torch.distributed as tdist

    if dist_.active:
        tdist.barrier()
