"""The one GAN training engine of the kit.

Every network of the course - the toy GAN, DCGAN, pix2pix and the seed-000/003 ladders,
and later ColorGAN, NAFNet, StyleGAN2, the inversion encoder and the fusion net - trains
through :func:`train`, as a :class:`~lessons_lib.train.task.Task`. One step is the
alternating update of Goodfellow et al. (2014), Algorithm 1::

    data  = task.prepare(next batch)                # e.g. uint8 RGB -> (L, ab) on the device
    state = task.forward(data)                      # fake = G(x), computed ONCE per step
    for phase in task.phases:                       # e.g. ("D", "G")
        only the nets of this phase require grad    # pix2pix's set_requires_grad trick:
                                                    # the G step computes no grads for D's weights
        out = task.loss(phase, state, step)         # {"loss": total, parts...}
        non-finite total -> stop (divergence guard), nothing is applied
        opts[phase].zero_grad(); out["loss"].backward(); opts[phase].step()

With ``d_steps = k > 1`` the discriminator gets ``k - 1`` extra updates on fresh batches
before each step (a WGAN critic takes 5, Arjovsky et al. 2017, Algorithm 1).

Around the step the engine provides, for every task alike: device choice (``auto``: cuda,
then mps, then cpu), bf16 autocast on CUDA, channels_last, optional ``torch.compile``, a
learning-rate schedule on every optimiser (pix2pix: constant, then linear decay to 0),
per-step metrics in ``metrics.csv``, sample grids of a fixed batch in ``samples/``,
validation metrics in ``val_metrics.csv`` (and ``best.safetensors`` for the best one),
a tqdm bar with the losses, an atomic checkpoint that holds everything needed to continue
*exactly* (nets, optimisers, schedulers, every RNG, the data position), Ctrl-C that saves
before it stops, and at the end the exported model (safetensors + model card).

Exact resume: a training item ``i`` of epoch ``e`` is always loaded with the RNGs seeded
from ``(seed, e, i)``, and epoch ``e`` visits the items in the permutation drawn from
``seed + e``; so the batches are the same whether they come from the main process, from a
worker, or after a resume that starts in the middle of an epoch. On the CPU, 20 steps in
one go and 10 steps + resume + 10 steps give bit-identical weights (see the tests).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, default_collate

from .. import LessonsError, __version__
from ..device import hardware_info, resolve_device
from . import distributed as dist
from .config import (CHECKPOINT_NAME, CKPT_FORMAT, TrainConfig, TrainingDiverged, TrainingInterrupted, TrainResult,
                     check_field_types, config_fields)
from .runstate import (BatchPlan, CsvLog, SeededItems, adam, atomic_save, eval_mode, interactive, isolated_rng,
                       load_checkpoint, lr_factor, resolve_amp, resolve_channels_last, rng_state, seed_everything,
                       set_rng_state, unwrap)
from .task import Task

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "TrainingInterrupted",
    "train",
    "revalidate",
    "validation_metrics",
    "resolve_device",
    "resolve_amp",
    "lr_factor",
    "seed_everything",
    "atomic_save",
    "load_checkpoint",
    "CHECKPOINT_NAME",
    "check_field_types",
    "adam",
    "config_fields",
]


def _fmt(v: float) -> str:
    return f"{v:.4g}"


# =========================================================================== the engine
class Trainer:
    """Runs a :class:`Task` under a :class:`TrainConfig`; use :func:`train`."""

    def __init__(
        self,
        task: Task,
        config: TrainConfig,
        *,
        hooks: Sequence[Callable[[int, dict[str, float]], None]] = (),
        command: str | None = None,
        card: dict[str, Any] | None = None,
    ) -> None:
        config.validate()
        self.dist = dist.detect()
        if self.dist.active:
            dist.check_batch(config.batch_size, self.dist.world)
        device, self._dist_created = dist.init(self.dist, config.device)
        self._ddp: dict[str, nn.Module] = {}    # net name -> its DDP wrapper (several processes)
        self._plain: dict[str, nn.Module] = {}  # net name -> the module the wrapper holds
        self.task = task
        self.cfg = config
        self.hooks = list(hooks)
        self.command = command
        self.extra_card = dict(card or {})
        self.out = Path(config.out.replace("{name}", task.name))
        self.ckpt_path = self.out / CHECKPOINT_NAME
        self.device = resolve_device(device)
        self.amp_dtype = resolve_amp(config.amp, self.device)
        self.channels_last = resolve_channels_last(config.channels_last, self.device)
        self._stop_requested = False
        # the run's state, set for real by _start() (and _restore() on a resume)
        self.num_workers = config.num_workers if config.num_workers is not None else (
            0 if self.device.type != "cuda" else min(8, os.cpu_count() or 1))
        self.t_start = time.perf_counter()
        self.cpu_start = time.process_time()
        self.wall_before = 0.0
        self.cpu_before = 0.0
        self.best: dict[str, Any] | None = None
        self.val_metrics: dict[str, float] = {}
        self.samples: list[Path] = []
        self.scheds: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}
        self.fixed: dict[str, torch.Tensor] | None = None
        self.per_epoch = 1
        self.data_pos = 0
        self.log: CsvLog | None = None
        self.val_log: CsvLog | None = None
        self._bar = None
        self._batches: Iterator[Any] | None = None
        self._dirty = False
        self._last_lr: dict[str, float] = {}
        self._last_logs: dict[str, float] = {}
        self._rates: list[float] = []
        self._last_start: int | None = None

    # ----------------------------------------------------------------- setup
    def _check_out(self) -> dict[str, Any] | None:
        """Load the checkpoint to resume from, or make sure ``out`` is free."""
        if self.cfg.resume:
            if not self.ckpt_path.is_file():
                raise LessonsError(
                    f"nothing to resume: {self.ckpt_path} does not exist; "
                    f"start a new run without --resume (or point --out at the run to continue)"
                )
            return load_checkpoint(self.ckpt_path)
        if self.ckpt_path.is_file() and not self.cfg.overwrite:
            raise LessonsError(
                f"{self.out} already holds a run (checkpoint.pt); pass --resume to continue it, "
                "--overwrite to start it again, or choose another --out"
            )
        return None

    def _build(self) -> None:
        task = self.task
        seed_everything(self.cfg.seed)
        task.device = self.device
        task.setup(self.device)
        missing = [p for p in task.phases if p not in task.opts]
        if missing:
            raise LessonsError(f"task {task.name!r} has phases {missing} without an optimiser in task.opts")
        unknown = [k for p in task.phases for k in task.phase_nets(p) if k not in task.nets]
        if unknown:
            raise LessonsError(f"task {task.name!r} names nets {unknown} that are not in task.nets")
        if self.cfg.d_steps > 1 and "D" not in task.phases:
            raise LessonsError(f"d_steps={self.cfg.d_steps} needs a 'D' phase; task {task.name!r} has {task.phases}")
        if task.export_key not in task.nets:
            raise LessonsError(f"task {task.name!r} exports {task.export_key!r}, which is not in task.nets")
        if self.cfg.g_ema > 0:
            if "G" not in task.nets:
                raise LessonsError(f"g_ema averages the net 'G'; task {task.name!r} has {sorted(task.nets)}")
            if "G_ema" in task.nets:
                raise LessonsError(f"task {task.name!r} keeps its own G_ema (StyleGAN2: the recipe's ema_kimg); "
                                   "leave g_ema at 0")
            ema = copy.deepcopy(unwrap(task.nets["G"]))   # starts equal to G; draws no random numbers
            for p in ema.parameters():
                p.requires_grad_(False)
            task.nets["G_ema"] = ema
        self._params = {k: [p for p in n.parameters()] for k, n in task.nets.items()}
        self._learning = {k for p in task.phases for k in task.phase_nets(p)}
        if self.channels_last:
            for n in task.nets.values():
                n.to(memory_format=torch.channels_last)
        for n in task.nets.values():
            n.train()
        if self.dist.rank > 0:
            # rank 0 keeps the stream of a one-process run; the others draw their own noise
            # (DDP gives every rank rank 0's initial weights, whatever they drew in setup)
            seed_everything(dist.rank_seed(self.cfg.seed, self.dist.rank))

    def _wrap(self) -> None:
        """Several processes: DDP around each net that learns (after torch.compile)."""
        if not self.dist.active:
            return
        if self.cfg.sync_bn and self.device.type != "cuda" and any(
                dist.has_bn(self.task.nets[k]) for k in self._learning):
            self._say("note: SyncBatchNorm runs on CUDA only: on the CPU each process normalises "
                      "its BatchNorm layers by its own shard of the batch")
        self._ddp = dist.wrap(self.task.nets, self._learning, self.device, self.cfg.sync_bn)
        self._plain = {k: self.task.nets[k] for k in self._ddp}
        self._params.update({k: list(n.parameters()) for k, n in self._plain.items()})

    def _use_ddp(self, names: set[str] | tuple[str, ...]) -> None:
        """Put the DDP wrapper of each net in ``names`` into ``task.nets`` (its forward then
        prepares the gradient all-reduce), the plain module for the others: a frozen net or
        one that runs without gradients (samples, validation on rank 0) never goes through
        DDP, whose reducer would wait for gradients that never come."""
        for k, wrapper in self._ddp.items():
            self.task.nets[k] = wrapper if k in names else self._plain[k]

    def _make_schedulers(self, total: int) -> dict[str, torch.optim.lr_scheduler.LambdaLR]:
        cfg = self.cfg

        def factor(step: int) -> float:
            return lr_factor(cfg.lr_schedule, step, total, cfg.decay_start, cfg.lr_milestones, cfg.lr_gamma)

        return {p: torch.optim.lr_scheduler.LambdaLR(o, factor) for p, o in self.task.opts.items()}

    def _compile(self) -> None:
        if not self.cfg.compile:
            return
        if not hasattr(torch, "compile"):
            raise LessonsError("compile=True needs PyTorch 2 (torch.compile)")
        for k in list(self.task.nets):
            self.task.nets[k] = torch.compile(self.task.nets[k])

    # ----------------------------------------------------------------- checkpoints
    def _checkpoint_dict(self, step: int, data_pos: int, rng: dict[str, Any], exact: bool) -> dict[str, Any]:
        return {
            "format": CKPT_FORMAT,
            "step": step,
            "data_pos": data_pos,
            "exact": exact,
            "nets": {k: unwrap(n).state_dict() for k, n in self.task.nets.items()},
            "opts": {k: o.state_dict() for k, o in self.task.opts.items()},
            "scheds": {k: s.state_dict() for k, s in self.scheds.items()},
            "rng": rng,
            "best": self.best,
            "task": self._jsonable(self.task.describe()),
            "config": self._jsonable(dataclasses.asdict(self.cfg)),
            "wall_s": self._wall(),
            "cpu_s": self._cpu(),
            "version": __version__,
        }

    @staticmethod
    def _jsonable(obj: Any) -> Any:
        # checkpoints are read with weights_only=True: keep them to plain containers
        if isinstance(obj, dict):
            return {str(k): Trainer._jsonable(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [Trainer._jsonable(v) for v in obj]
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        return str(obj)

    def _save_checkpoint(self, step: int, data_pos: int, rng: dict[str, Any] | None = None,
                         exact: bool = True) -> Path:
        rng = rng if rng is not None else rng_state(self.device)
        if not self.dist.active:
            return atomic_save(self._checkpoint_dict(step, data_pos, rng, exact), self.ckpt_path)
        ranks = dist.gather(rng, self.dist)   # every rank's RNGs: rank 0 writes them all
        if self.dist.main:
            ckpt = self._checkpoint_dict(step, data_pos, rng, exact)
            ckpt["rng_ranks"] = ranks
            atomic_save(ckpt, self.ckpt_path)
        dist.barrier(self.dist)               # the file is complete before any rank goes on
        return self.ckpt_path

    def _restore(self, ckpt: dict[str, Any]) -> None:
        task = self.task
        saved_task = ckpt.get("task", {})
        try:
            for k, n in task.nets.items():
                unwrap(n).load_state_dict(ckpt["nets"][k])
            for k, o in task.opts.items():
                o.load_state_dict(ckpt["opts"][k])
            for k, s in self.scheds.items():
                s.load_state_dict(ckpt["scheds"][k])
                # The optimiser's saved lr was computed for the saved run's length; a resume
                # with other --steps has another schedule, so recompute it for this one (the
                # same value when the length is unchanged: exact resume stays exact).
                lrs = [base * fn(s.last_epoch) for base, fn in zip(s.base_lrs, s.lr_lambdas)]
                for group, lr in zip(s.optimizer.param_groups, lrs):
                    group["lr"] = lr
                s._last_lr = lrs
        except (KeyError, RuntimeError, ValueError) as e:
            raise LessonsError(
                f"the checkpoint in {self.ckpt_path} does not fit this task (it was written by "
                f"{saved_task.get('recipe', saved_task.get('task', 'another task'))!r}); resume with the "
                "same recipe and options, or start a new run "
                f"in another --out ({type(e).__name__}: {str(e)[:200]})"
            ) from None
        rng = ckpt["rng"]
        if self.dist.active:
            ranks = ckpt.get("rng_ranks") or []
            if len(ranks) == self.dist.world:
                rng = ranks[self.dist.rank]
            else:
                self._say(f"note: the checkpoint holds the RNG states of {len(ranks) or 1} process(es), this run "
                          f"has {self.dist.world}: the data order is the same, the noise is not")
                if self.dist.rank > 0:
                    rng = None
                    seed_everything(dist.rank_seed(self.cfg.seed, self.dist.rank, int(ckpt["step"])))
        if rng is not None:
            set_rng_state(rng, self.device)
        self.best = ckpt.get("best")
        self.wall_before = float(ckpt.get("wall_s", 0.0))
        self.cpu_before = float(ckpt.get("cpu_s", 0.0))
        if not ckpt.get("exact", True):
            self._say(
                f"note: the run was interrupted in the middle of step {ckpt['step'] + 1}; "
                "resuming from there is not bit-identical to an uninterrupted run"
            )

    # ----------------------------------------------------------------- one step
    def _set_trainable(self, names: set[str] | tuple[str, ...]) -> None:
        """requires_grad only on ``names`` (pix2pix's set_requires_grad): the backward pass
        of the G phase then computes no gradients for D's weights, only through D."""
        for k, params in self._params.items():
            flag = k in names
            for p in params:
                p.requires_grad_(flag)
        self._use_ddp(names)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _prepare(self, batch: Any) -> dict[str, torch.Tensor]:
        data = self.task.prepare(batch, self.device)
        if self.channels_last:
            data = {k: v.contiguous(memory_format=torch.channels_last)
                    if isinstance(v, torch.Tensor) and v.dim() == 4 else v for k, v in data.items()}
        return data

    def _backward(self, phase: str, state: dict[str, torch.Tensor], step: int, logs: dict[str, float],
                  scale: float) -> None:
        """One batch's loss of ``phase`` and its backward pass (times ``scale``, 1/accumulate);
        its parts are added, times ``scale``, into ``logs``. A non-finite loss stops before
        backward: the weights stay good."""
        task = self.task
        with self._autocast():
            out = task.loss(phase, state, step)
            if task.reg_every and step % task.reg_every == 0:
                reg = task.regularize(phase, state, step)
                if reg is not None:
                    out = dict(out)
                    out["reg"] = reg
                    out["loss"] = out["loss"] + reg
        if "loss" not in out:
            raise LessonsError(f"task {task.name!r}: loss({phase!r}) must return a dict with a 'loss' entry")
        total_loss = out["loss"]
        names = list(out)
        values = torch.stack([torch.as_tensor(out[k], device=total_loss.device).detach().float().reshape(())
                              for k in names]).tolist()  # one device sync per phase
        for k, v in zip(names, values):
            key = f"loss_{phase}" if k == "loss" else f"{phase}_{k}"
            if k == "loss" and not math.isfinite(v):
                raise _NonFinite(key, v)
            logs[key] = logs.get(key, 0.0) + v * scale
        (total_loss * scale if scale != 1.0 else total_loss).backward()

    def _update(self, phase: str, batches: list[dict[str, torch.Tensor]], step: int, logs: dict[str, float],
                shared: dict[str, torch.Tensor] | None = None) -> None:
        """One optimiser step of ``phase``: the gradients of ``batches`` averaged (one batch
        unless ``accumulate`` > 1), clipped with ``grad_clip``, then the step. ``shared`` is
        the forward state of the step's one batch, computed once for every phase; without
        it each batch is forwarded here, with only this phase's nets trainable."""
        task = self.task
        nets = task.phase_nets(phase)
        opt = task.opts[phase]
        self._set_trainable(nets)
        opt.zero_grad(set_to_none=True)
        parts: dict[str, float] = {}
        scale = 1.0 / len(batches)
        for data in batches:
            if shared is not None:
                state = shared
            else:
                with self._autocast():
                    state = task.forward(data)
            self._backward(phase, state, step, parts, scale)
        if self.cfg.grad_clip > 0:
            params = [p for k in nets for p in self._params[k]]
            parts[f"{phase}_grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip))
        opt.step()
        logs.update(parts)   # an extra D step's figures are replaced by the next one's
        self._dirty = True

    def _batches_of_step(self) -> list[dict[str, torch.Tensor]]:
        return [self._prepare(self._next_batch()) for _ in range(self.cfg.accumulate)]

    def _step(self, step: int) -> dict[str, float]:
        task = self.task
        logs: dict[str, float] = {}
        # extra discriminator updates on fresh batches (WGAN's n_critic); G is not trained
        # in them, so its forward builds no graph through G's weights
        phases = task.active_phases(step)
        for _ in range(self.cfg.d_steps - 1 if "D" in phases else 0):
            self._update("D", self._batches_of_step(), step, logs)
        batches = self._batches_of_step()
        shared = None
        if len(batches) == 1:
            # one forward shared by every phase; only the nets of this step's phases learn: a
            # phase that sits out (NoGAN's D-only warm-up of the critic) builds no graph
            # through its nets' weights
            self._set_trainable(self._learning if phases == task.phases else
                                {k for p in phases for k in task.phase_nets(p)})
            with self._autocast():
                shared = task.forward(batches[0])
        for phase in phases:
            self._update(phase, batches, step, logs, shared)
        self._use_ddp(())
        if self.cfg.g_ema > 0 and any("G" in task.phase_nets(p) for p in phases):
            self._update_ema()
        task.on_step_end(step)
        self._last_lr = {p: task.opts[p].param_groups[0]["lr"] for p in task.phases}
        with warnings.catch_warnings():
            # every schedule follows the global step, also while its phase sits out (NoGAN's
            # D warm-up), where torch warns that the optimiser has not stepped yet
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            for s in self.scheds.values():
                s.step()
        return logs

    @torch.no_grad()
    def _update_ema(self) -> None:
        """G_ema = beta * G_ema + (1 - beta) * G, once per step after the optimisers."""
        beta = self.cfg.g_ema
        nets = self.task.nets
        for p_ema, p in zip(unwrap(nets["G_ema"]).parameters(), unwrap(nets["G"]).parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(unwrap(nets["G_ema"]).buffers(), unwrap(nets["G"]).buffers()):
            b_ema.copy_(b)  # BatchNorm running statistics: G's own

    @contextlib.contextmanager
    def _ema_as_g(self) -> Iterator[None]:
        """With g_ema on: G_ema stands in for G (samples, validation, export)."""
        nets = self.task.nets
        if self.cfg.g_ema <= 0 or "G_ema" not in nets:
            yield
            return
        g, e = nets["G"], nets["G_ema"]
        nets["G"], nets["G_ema"] = e, g
        try:
            yield
        finally:
            nets["G"], nets["G_ema"] = g, e

    def _next_batch(self) -> Any:
        batch = next(self._batches)
        self.data_pos += 1
        return batch

    # ----------------------------------------------------------------- outputs
    def _say(self, msg: str) -> None:
        if not self.dist.main:
            return
        if self._bar is not None:
            self._bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr)

    def _save_samples(self, step: int) -> Path | None:
        if self.fixed is None or not self.dist.main:
            return None
        from ..data import grid_image

        with self._ema_as_g(), eval_mode(self.task.nets), torch.no_grad(), \
                isolated_rng(self.cfg.seed, self.device), self._autocast():
            images = self.task.sample(self.fixed)
        images = images.detach().float().clamp(0, 1).cpu()
        if images.dim() == 5:  # (rows, N, 3, H, W): one grid row per row (input / output / truth)
            nrow = images.shape[1]
            images = images.flatten(0, 1)
        else:                  # (N, 3, H, W)
            nrow = min(len(images), 8)
        path = self.out / "samples" / f"step_{step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        grid_image(images, nrow=nrow).save(path)
        self.samples.append(path)
        return path

    def _evaluate(self, step: int) -> dict[str, float]:
        """Validation (rank 0 only; the other ranks wait for it)."""
        metrics: dict[str, float] = {}
        if self.dist.main:
            with self._ema_as_g():
                metrics = self._evaluate_now(step)
        dist.barrier(self.dist)
        return metrics

    def _evaluate_now(self, step: int) -> dict[str, float]:
        with self._autocast():
            numeric = validation_metrics(self.task, self.cfg, self.device, self.num_workers)
        if not numeric:
            return {}
        self.val_log.write({"step": step, "epoch": round(self.data_pos / self.per_epoch, 4),
                            "wall_s": round(self._wall(), 1), "cpu_s": round(self._cpu(), 1), **numeric})
        if self.cfg.keep_evals:
            (self.out / "evals").mkdir(exist_ok=True)
            self._export(self.out / "evals" / f"step_{step:06d}", step, numeric, kind="eval")
        metric = self.cfg.best_metric
        if metric is not None:
            if metric not in numeric:
                raise LessonsError(f"best_metric {metric!r} is not among the validation metrics {sorted(numeric)}")
            v = numeric[metric]
            better = (self.best is None or (v > self.best["value"] if self.cfg.best_mode == "max"
                                            else v < self.best["value"]))
            if better and math.isfinite(v):
                path = self._export(self.out / "best", step, numeric, kind="best")
                self.best = {"metric": metric, "value": v, "step": step, "path": str(path)}
        self.val_metrics = numeric
        return numeric

    def _card(self, step: int, val: dict[str, float]) -> dict[str, Any]:
        cfg = dataclasses.asdict(self.cfg)
        card = {
            **self._jsonable(self.task.describe()),
            "train_config": self._jsonable(cfg),
            "steps": step,
            "epochs": round(self.data_pos / self.per_epoch, 4),
            "images_seen": self.data_pos * self.cfg.batch_size,
            "metrics": val,
            "best": self.best,
            "hardware": hardware_info(self.device),
            "launch": dist.launch_info(self.dist, self.cfg.batch_size, self.device),
            "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off",
            "command": self.command or "lessons_lib.train.train(...) from Python",
            "wall_time_s": round(self._wall(), 1),
            "cpu_time_s": round(self._cpu(), 3),
        }
        card.update(self._jsonable(self.extra_card))
        return card

    def _export(self, path: Path, step: int, val: dict[str, float], kind: str = "final") -> Path:
        from ..checkpoints import save_model

        card = self._card(step, val)
        card["kind"] = kind
        net = unwrap(self.task.nets[self.task.export_key])
        return Path(save_model(net, path, card))

    def _wall(self) -> float:
        """Seconds of wall-clock time of the run so far, over all its resumes."""
        return self.wall_before + time.perf_counter() - self.t_start

    def _cpu(self) -> float:
        """CPU seconds of this process (all its threads) over the run's resumes: the
        budget a curve "quality against CPU-hours" is drawn on (a busy machine stretches
        wall time, not CPU time)."""
        return self.cpu_before + time.process_time() - self.cpu_start

    # ----------------------------------------------------------------- SIGINT
    @contextlib.contextmanager
    def _sigint_at_step_boundary(self) -> Iterator[None]:
        """First Ctrl-C: finish the running step, save, stop. Second: stop at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            self._stop_requested = True
            signal.signal(signal.SIGINT, previous if callable(previous) else signal.default_int_handler)

        try:
            signal.signal(signal.SIGINT, handler)
        except (ValueError, OSError):  # not allowed here (embedded interpreter)
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # ----------------------------------------------------------------- run
    def run(self) -> TrainResult:
        """Train: :meth:`_start` (build, resume, data), :meth:`_loop` (the steps), :meth:`_finish`
        (the last samples, validation, checkpoint and the exported model)."""
        try:
            start, total = self._start()
            try:
                step = self._loop(start, total)
                model_path = self._finish(step)
                dist.barrier(self.dist)
            finally:
                if self._bar is not None:
                    self._bar.close()
                self._bar = None
                self._batches = None  # shuts the loader's worker processes down now
        finally:
            self._use_ddp(())
            dist.close(self._dist_created)
        return TrainResult(
            out=self.out, steps=step, epochs=round(self.data_pos / self.per_epoch, 4),
            model_path=model_path, checkpoint_path=self.ckpt_path, metrics_csv=self.out / "metrics.csv",
            samples=list(self.samples), losses=dict(self._last_logs),
            val_metrics=dict(self.val_metrics), best=self.best,
            images_per_s=float(np.median(self._rates)) if self._rates else 0.0, wall_s=self._wall(),
            device=str(self.device),
        )

    def _start(self) -> tuple[int, int]:
        """Check the run folder, build the task, restore a checkpoint, set up the data; returns
        ``(first step, total steps)``."""
        cfg, task = self.cfg, self.task
        ckpt = self._check_out()
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
        self.t_start = time.perf_counter()
        self.cpu_start = time.process_time()

        self._build()
        train_ds = task.dataset("train", True)
        if train_ds is None or len(train_ds) == 0:
            raise LessonsError(f"task {task.name!r} has no training data")
        if len(train_ds) < cfg.batch_size:
            raise LessonsError(
                f"the training data has {len(train_ds)} items, fewer than one batch of {cfg.batch_size}; "
                "lower --batch-size or use more data"
            )
        self.per_epoch = len(train_ds) // cfg.batch_size
        total = cfg.steps if cfg.steps is not None else max(
            1, round(cfg.epochs * self.per_epoch / (cfg.d_steps * cfg.accumulate)))
        self.scheds = self._make_schedulers(total)

        start = 0
        self.data_pos = 0
        if ckpt is not None:
            self._restore(ckpt)
            start = int(ckpt["step"])
            self.data_pos = int(ckpt["data_pos"])
        self._compile()
        self._wrap()

        # the fixed batch of the sample grids: the first items of val (or train), no augmentation
        fixed_ds = task.dataset("val", False) or task.dataset("train", False)
        if cfg.n_samples > 0 and fixed_ds is not None and len(fixed_ds) > 0 and self.dist.main:
            with isolated_rng(cfg.seed + 1, self.device):  # must not move the training RNGs
                items = [fixed_ds[i] for i in range(min(cfg.n_samples, len(fixed_ds)))]
                self.fixed = self._prepare(default_collate(items))

        plan: Any = BatchPlan(len(train_ds), cfg.batch_size, cfg.seed, start=self.data_pos)
        if self.dist.active:   # this rank's slice of each global batch
            plan = dist.RankPlan(plan, self.dist.rank, self.dist.world)
        loader = DataLoader(
            SeededItems(train_ds, cfg.seed), batch_sampler=plan, num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
            # the loader draws its workers' base seed from this generator, not from the
            # global RNG (which would make a resumed run diverge)
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        self._batches = iter(loader)
        if self.dist.main:
            self.log = CsvLog(self.out / "metrics.csv", start if ckpt is not None else None)
            self.val_log = CsvLog(self.out / "val_metrics.csv", start if ckpt is not None else None)

        if ckpt is not None:
            self._say(f"resumed {self.out} at step {start} of {total}")
        else:
            if cfg.sample_every >= 0:
                self._save_samples(0)
            if cfg.keep_evals and cfg.eval_every >= 0:
                self._evaluate(0)   # the starting point is a candidate too (a warm start)

        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, initial=start, desc=task.name, unit="step", dynamic_ncols=True,
                         disable=not (cfg.progress and self.dist.main and interactive()), leave=True)
        self._last_start = start if ckpt is not None else None
        return start, total

    def _loop(self, start: int, total: int) -> int:
        """The training steps from ``start`` to ``total`` with logging, samples, validation and
        checkpoints on their schedules; Ctrl-C and a non-finite loss stop it cleanly. Returns
        the step reached."""
        cfg = self.cfg
        window: dict[str, list[float]] = {}
        window_t0, window_steps = time.perf_counter(), 0
        step = start
        last_good = self._last_start
        with self._sigint_at_step_boundary():
            while step < total:
                boundary = (rng_state(self.device), self.data_pos)
                self._dirty = False
                try:
                    logs = self._step(step)
                except _NonFinite as bad:
                    self._flush(window, step, window_t0, window_steps, self._rates)
                    where = (f"the last good checkpoint (step {last_good}) is kept at {self.ckpt_path}"
                             if last_good is not None else
                             f"no checkpoint was written yet (ckpt_every={cfg.ckpt_every})")
                    raise TrainingDiverged(
                        f"{bad.key} became {bad.value} at step {step + 1}; {where}; "
                        "lower the learning rate, or resume with --resume"
                    ) from None
                except KeyboardInterrupt:
                    # Ctrl-C arrived in the middle of a step (second Ctrl-C, or raised by
                    # code): save the state of the last step boundary when nothing was
                    # updated yet in this step (exact), else the current weights (inexact)
                    self._interrupted(step, boundary, exact=not self._dirty)
                step += 1
                window_steps += 1
                for k, v in logs.items():
                    window.setdefault(k, []).append(v)
                try:
                    for hook in self.hooks:
                        hook(step, logs)
                    if step % cfg.log_every == 0 or step == total:
                        self._last_logs = self._flush(window, step, window_t0, window_steps, self._rates)
                        window, window_t0, window_steps = {}, time.perf_counter(), 0
                        self._bar.set_postfix({k: _fmt(v) for k, v in self._last_logs.items()
                                               if k.startswith("loss_")}, refresh=False)
                    self._bar.update(1)
                    t_book = time.perf_counter()
                    if cfg.sample_every > 0 and step % cfg.sample_every == 0 and step != total:
                        self._save_samples(step)
                    if cfg.eval_every > 0 and step % cfg.eval_every == 0 and step != total:
                        self._evaluate(step)
                    if step % cfg.ckpt_every == 0 and step != total:
                        self._save_checkpoint(step, self.data_pos)
                        last_good = step
                    # samples, validation and checkpoints do not count against images/s
                    window_t0 += time.perf_counter() - t_book
                except KeyboardInterrupt:
                    # between two steps: the state is a clean step boundary
                    self._interrupted(step, (rng_state(self.device), self.data_pos), exact=True,
                                      between_steps=True)
                if self._stop_requested:
                    self._interrupted(step, (rng_state(self.device), self.data_pos), exact=True,
                                      between_steps=True)
        return step

    def _finish(self, step: int) -> Path | None:
        """The end of a run: the last sample grid and validation, the checkpoint, the export."""
        cfg = self.cfg
        try:
            if cfg.sample_every >= 0:
                self._save_samples(step)
            if cfg.eval_every >= 0:
                self._evaluate(step)
        except KeyboardInterrupt:
            self._interrupted(step, (rng_state(self.device), self.data_pos), exact=True,
                              between_steps=True)
        self._save_checkpoint(step, self.data_pos)
        if not self.dist.main:
            return None
        with self._ema_as_g():
            return self._export(self.out / "model", step, self.val_metrics)

    def _flush(self, window: dict[str, list[float]], step: int, t0: float, n: int,
               rates: list[float]) -> dict[str, float]:
        if n == 0:
            return {}
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        dt = max(time.perf_counter() - t0, 1e-9)
        rate = n * self.cfg.batch_size * self.cfg.d_steps / dt
        rates.append(rate)
        row: dict[str, Any] = {"step": step, "epoch": round(self.data_pos / self.per_epoch, 4)}
        for p, lr in self._last_lr.items():  # the learning rate of the window's last step
            row[f"lr_{p}"] = f"{lr:.6g}"
        means = {k: float(np.mean(v)) for k, v in window.items()}
        row.update({k: f"{v:.6g}" for k, v in means.items()})
        row["images_per_s"] = f"{rate:.2f}"
        row["time_s"] = f"{self.wall_before + time.perf_counter() - self.t_start:.1f}"
        if self.log is not None:   # rank 0 (the losses are those of its shard)
            self.log.write(row)
        return means

    def _interrupted(self, step: int, boundary: tuple[dict[str, Any], int], exact: bool,
                     between_steps: bool = False) -> None:
        rng, pos = boundary
        if exact:
            self._save_checkpoint(step, pos, rng=rng, exact=True)
        else:
            self._save_checkpoint(step, self.data_pos, exact=False)
        where = "after" if between_steps else "during"
        msg = (f"interrupted {where} step {step + (0 if between_steps else 1)}: checkpoint of step {step} saved to "
               f"{self.ckpt_path}; continue with --resume (Python: resume=True) and the same --out")
        self._say(msg)
        raise TrainingInterrupted(msg) from None


def validation_metrics(task: Task, config: TrainConfig, device: torch.device,
                       num_workers: int = 0) -> dict[str, float]:
    """The task's validation metrics (its ``evaluate`` over its validation set, the nets in
    eval mode, the RNGs seeded by ``config.seed``); {} without a validation set. The one
    validation of a training run and of :func:`revalidate`."""
    ds = task.dataset("val", False)
    if ds is None:
        return {}
    loader = DataLoader(ds, batch_size=config.batch_size, shuffle=False, num_workers=num_workers,
                        pin_memory=device.type == "cuda")
    with eval_mode(task.nets), torch.no_grad(), isolated_rng(config.seed, device):
        metrics = dict(task.evaluate(loader))
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def revalidate(task: Task, config: TrainConfig) -> list[Path]:
    """Score again every model a finished run kept at its validations (``OUT/evals/step_*``,
    ``keep_evals``) with ``task`` as it is now - a new metric, a wider decoding grid - and
    write the new metrics into their cards (the old ones kept beside, under
    ``metrics_before``). No training; the weights are not touched. Returns the cards."""
    from ..checkpoints import load_model, write_card

    out = Path(config.out)
    found = sorted((out / "evals").glob("step_*.safetensors"))
    if not found:
        raise LessonsError(f"{out} holds no models kept at validation (evals/step_*.safetensors): revalidation "
                           "scores those; train with keep_evals=True and eval_every > 0")
    device = resolve_device(config.device)
    task.setup(device)
    net = task.nets[task.export_key]
    cards = []
    for weights in found:
        kept, card = load_model(weights, device=device)
        try:
            net.load_state_dict(kept.state_dict(), strict=True)
        except RuntimeError as e:
            raise LessonsError(f"{weights} does not fit the recipe's {task.export_key}: {str(e).splitlines()[0]}; "
                               "revalidate a run with the recipe it was trained with (lessons train RECIPE --out "
                               "RUN --revalidate reads it from the run)") from None
        metrics = validation_metrics(task, config, device)
        card["metrics_before"] = card.get("metrics", {})
        card["metrics"] = metrics
        cards.append(write_card(weights, card))
        print(f"revalidated {weights.name}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in list(metrics.items())[:6]),
              flush=True)
    return cards


class _NonFinite(Exception):
    def __init__(self, key: str, value: float) -> None:
        super().__init__(key)
        self.key, self.value = key, value


def train(
    task: Task,
    config: TrainConfig | None = None,
    *,
    hooks: Sequence[Callable[[int, dict[str, float]], None]] = (),
    command: str | None = None,
    card: dict[str, Any] | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train ``task``; the one entry point of every GAN of the kit.

    ``config`` (or keyword ``overrides`` of its fields) says how; ``hooks`` are called after
    every step as ``hook(step, losses)`` (e.g. a live plot in a lesson); ``command`` and
    ``card`` go into the exported model card. Raises :class:`TrainingDiverged` when a loss
    becomes NaN/inf and :class:`TrainingInterrupted` on Ctrl-C (after saving).
    """
    config = (config or TrainConfig()).replace(**overrides) if overrides else (config or TrainConfig())
    return Trainer(task, config, hooks=hooks, command=command, card=card).run()
