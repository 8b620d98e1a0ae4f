"""Training speed of the ``pix2pix`` recipe: our engine against a plain reference step.

What is compared (issue 3, "Measured: training speed"), at 64, 128 and 256 px:

* **ours** - the kit's one engine: ``build_task(get_recipe("pix2pix", ...))`` trained by
  :class:`lessons_lib.train.engine.Trainer`. One step = take the next loader batch (uint8
  crops; on the CPU the engine loads in the main process, ``num_workers=0``), convert the
  whole batch to Lab on the device (:func:`lessons_lib.data.lab_batch`, float32 with a
  lookup table), ``fake = G(L)`` once, a D update and a G update.
* **ref** - a deliberately naive step written here, as the reference pix2pix
  implementation does it (``colorization_dataset.py`` + ``pix2pix_model.py`` of
  junyanz/pytorch-CycleGAN-and-pix2pix): each image is converted with
  ``skimage.color.rgb2lab`` (float64, one image at a time) inside DataLoader worker
  processes, then ``L/50 - 1`` and ``ab/110``; eager fp32; BCE-with-logits GAN loss
  (D's loss halved) + 100 * L1; Adam(2e-4, 0.5, 0.999); D's ``requires_grad`` switched off
  for the G step.

Both use the same U-Net and PatchGAN, built with the same ``build_model`` calls (the
task's own ``generator_config()`` / ``discriminator_config()``), the same batch size and
the same images and crops (:class:`lessons_lib.data.ColorizationDataset` on the same
source; only where the Lab conversion happens differs).

Timing: a few warm-up steps, then timed steps; the blocks alternate (ours, ref, ref, ours,
...) so that a change in the machine's load hits both sides alike. Per step we record the
wall time and the time spent waiting for the loader (ours: loading in the main process;
ref: blocked on ``next(loader)`` while the workers prepare the batch). Reported:
images/s (from the median step time), the ours/ref ratio, and the loader share.

    python benchmarks/bench_train_speed.py            # 64, 128, 256 px
    python benchmarks/bench_train_speed.py --quick    # 32 px, 2 steps: a smoke check

Writes ``benchmarks/out/bench_train_speed.json``.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, machine_info, machine_line, write_json

from lessons_lib import LessonsError
from lessons_lib.data import ColorizationDataset, open_source
from lessons_lib.models import build_model
from lessons_lib.recipes import build_task, get_recipe
from lessons_lib.train.engine import Trainer


# =========================================================================== ours
class _TimedTrainer(Trainer):
    """The engine, unchanged, with a stopwatch around ``_next_batch`` (the loader wait)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.waits: list[float] = []

    def _next_batch(self) -> Any:
        t0 = time.perf_counter()
        batch = super()._next_batch()
        self.waits.append(time.perf_counter() - t0)
        return batch


def run_ours(data: str, size: int, batch: int, n_images: int, warmup: int, timed: int,
             workers: int | None, seed: int) -> dict[str, list[float]]:
    """Train the pix2pix recipe for ``warmup + timed`` steps; per-step wall and wait times."""
    recipe = get_recipe(
        "pix2pix", data=data, size=size, limit=n_images, val_limit=8, steps=warmup + timed, batch_size=batch,
        device="cpu", seed=seed, sample_every=-1, eval_every=-1, n_samples=0, log_every=10**6,
        ckpt_every=10**6, progress=False, num_workers=workers,
    )
    stamps: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench_pix2pix_") as tmp:
        trainer = _TimedTrainer(build_task(recipe), recipe.train.replace(out=tmp, overwrite=True),
                                hooks=[lambda step, logs: stamps.append(time.perf_counter())])
        trainer.run()
    # step k (1-based) ends at stamps[k-1]; the first step has no start stamp: warm-up anyway
    steps = [b - a for a, b in itertools.pairwise(stamps)]  # steps 2..N
    waits = trainer.waits[1:]
    return {"step_s": steps[warmup - 1:], "wait_s": waits[warmup - 1:]}


# =========================================================================== ref
class _RefLabDataset(Dataset):
    """pix2pix's colorization dataset: per image, ``skimage.color.rgb2lab`` in float64,
    then ``A = L/50 - 1`` (1, S, S) and ``B = ab/110`` (2, S, S) as float32."""

    def __init__(self, crops: ColorizationDataset, seed: int) -> None:
        self.crops = crops
        self.seed = seed

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        from skimage import color

        # the same crop as ours gets for the item (same source, same crop routine)
        rgb = self.crops.transform(self.crops.source[i], seed=self.seed * 100003 + i)   # (3, S, S) uint8
        lab = color.rgb2lab(rgb.permute(1, 2, 0).numpy()).astype(np.float32)          # (S, S, 3) float
        lab_t = torch.from_numpy(lab).permute(2, 0, 1).contiguous()                     # (3, S, S)
        return lab_t[:1] / 50.0 - 1.0, lab_t[1:] / 110.0


def run_ref(data: str, size: int, batch: int, n_images: int, warmup: int, timed: int, workers: int,
            seed: int) -> dict[str, list[float]]:
    """The naive reference training step; per-step wall and wait times."""
    recipe = get_recipe("pix2pix", data=data, size=size)
    task = build_task(recipe)  # only for the model configurations: the same build_model calls
    torch.manual_seed(seed)
    G = build_model("unet", **task.generator_config())
    D = build_model("patchgan", **task.discriminator_config())
    G.train()
    D.train()
    opt_g = torch.optim.Adam(G.parameters(), lr=recipe.lr, betas=(recipe.beta1, recipe.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=recipe.lr, betas=(recipe.beta1, recipe.beta2))
    bce, l1 = nn.BCEWithLogitsLoss(), nn.L1Loss()

    crops = ColorizationDataset(open_source(data, "train"), size, train=True)
    ds = Subset(_RefLabDataset(crops, seed), range(min(n_images, len(crops))))
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(seed))

    def batches():
        while True:
            yield from loader

    it = batches()
    step_s, wait_s = [], []
    for k in range(warmup + timed):
        t0 = time.perf_counter()
        real_a, real_b = next(it)                                   # (B,1,S,S), (B,2,S,S)
        t1 = time.perf_counter()
        fake_b = G(real_a)                                          # (B,2,S,S)
        # D step: pix2pix backward_D, 0.5 * (BCE(D(fake), 0) + BCE(D(real), 1))
        for p in D.parameters():
            p.requires_grad_(True)
        opt_d.zero_grad()
        pred_fake = D(torch.cat([real_a, fake_b.detach()], 1))
        pred_real = D(torch.cat([real_a, real_b], 1))
        loss_d = 0.5 * (bce(pred_fake, torch.zeros_like(pred_fake)) + bce(pred_real, torch.ones_like(pred_real)))
        loss_d.backward()
        opt_d.step()
        # G step: BCE(D(fake), 1) + 100 * L1, with D frozen
        for p in D.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad()
        pred_fake = D(torch.cat([real_a, fake_b], 1))
        loss_g = bce(pred_fake, torch.ones_like(pred_fake)) + recipe.lambda_l1 * l1(fake_b, real_b)
        loss_g.backward()
        opt_g.step()
        float(loss_g.detach())  # the reference prints losses; one sync per step as ours logs one
        t2 = time.perf_counter()
        if k >= warmup:
            step_s.append(t2 - t0)
            wait_s.append(t1 - t0)
    del it  # the workers stop with the loader when this function returns
    return {"step_s": step_s, "wait_s": wait_s}


# =========================================================================== per-image conversion cost
def conversion_cost(data: str, size: int, n: int = 16) -> dict[str, float]:
    """Milliseconds per image of the two Lab conversions alone (same crops)."""
    from skimage import color

    from lessons_lib.data import lab_batch

    crops = ColorizationDataset(open_source(data, "train"), size, train=False)
    imgs = torch.stack([crops[i] for i in range(min(n, len(crops)))])     # (n, 3, S, S) uint8
    color.rgb2lab(imgs[0].permute(1, 2, 0).numpy())                       # warm-up: first calls are slow
    lab_batch(imgs[:1], "cpu", "lab")
    t0 = time.perf_counter()
    for im in imgs:
        color.rgb2lab(im.permute(1, 2, 0).numpy()).astype(np.float32)
    t1 = time.perf_counter()
    lab_batch(imgs, "cpu", "lab")
    t2 = time.perf_counter()
    return {"skimage_ms_per_image": 1e3 * (t1 - t0) / len(imgs), "ours_ms_per_image": 1e3 * (t2 - t1) / len(imgs)}


# =========================================================================== main
def summarize(runs: list[dict[str, list[float]]], batch: int) -> dict[str, float]:
    steps = [s for r in runs for s in r["step_s"]]
    waits = [w for r in runs for w in r["wait_s"]]
    med = statistics.median(steps)
    return {
        "steps_timed": len(steps),
        "median_step_s": med,
        "images_per_s": batch / med,
        "loader_wait_share": sum(waits) / sum(steps),
        "step_s": steps,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="32 px, 1 warm-up + 2 timed steps: a smoke check")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--batch-size", type=int, default=4, dest="batch_size", help="batch below 256 px")
    p.add_argument("--batch-256", type=int, default=1, dest="batch_256",
                   help="batch at 256 px and above (pix2pix's own batch size is 1)")
    p.add_argument("--data", default=None, help="image source (default: scenes8 if present, else samples)")
    p.add_argument("--rounds", type=int, default=2,
                   help="rounds of alternating ours/ref blocks at the smallest size (1 round above it)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps at the start of every block")
    p.add_argument("--timed", type=int, default=4,
                   help="timed steps per block at the smallest size (3 below 256 px above it, 2 at 256 px)")
    p.add_argument("--ref-workers", type=int, default=2, help="DataLoader workers of the reference")
    p.add_argument("--workers", type=int, default=None, help="our loader workers (default: the engine's, 0 on CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/out/bench_train_speed.json; "
                   "bench_train_speed_quick.json with --quick)")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = str(OUT_DIR / ("bench_train_speed_quick.json" if args.quick else "bench_train_speed.json"))
    if args.quick:
        args.sizes, args.rounds, args.warmup, args.timed, args.batch_size = [32], 1, 1, 2, 2
    data = args.data
    if data is None:
        try:
            open_source("scenes8", "train")
            data = "scenes8"
        except LessonsError:
            data = "samples"

    info = machine_info()
    print(f"machine: {machine_line(info)}")
    results: dict[str, Any] = {"machine": info, "data": data, "ref_workers": args.ref_workers,
                               "our_workers": args.workers if args.workers is not None else 0, "sizes": {}}
    smallest = min(args.sizes)
    for size in args.sizes:
        big = size >= 256
        # the budget: most steps where they are cheap; a 256-px step costs 16x a 64-px one
        rounds = args.rounds if size == smallest else 1
        timed = args.timed if size == smallest else (2 if big else min(args.timed, 3))
        batch = args.batch_256 if big else args.batch_size
        n_images = 8 * batch  # the same images for both sides
        ours, ref = [], []
        for r in range(rounds):
            order = ("ours", "ref") if r % 2 == 0 else ("ref", "ours")
            for who in order:
                t0 = time.perf_counter()
                if who == "ours":
                    ours.append(run_ours(data, size, batch, n_images, args.warmup, timed, args.workers,
                                         args.seed + r))
                else:
                    ref.append(run_ref(data, size, batch, n_images, args.warmup, timed, args.ref_workers,
                                       args.seed + r))
                print(f"  {size:4d} px round {r} {who:4s}: {time.perf_counter() - t0:6.1f} s", flush=True)
        so, sr = summarize(ours, batch), summarize(ref, batch)
        results["sizes"][str(size)] = {"batch_size": batch, "n_images": n_images, "ours": so, "ref": sr, "ratio": so["images_per_s"] / sr["images_per_s"],
                                       "conversion": conversion_cost(data, size),
                                       "rounds": rounds, "warmup": args.warmup, "timed_per_block": timed}

    header = (f"{'size':>5} {'batch':>5} {'ours img/s':>10} {'ref img/s':>10} {'ours/ref':>8} {'ours wait':>9} "
              f"{'ref wait':>8} {'skimage ms/img':>14} {'ours ms/img':>11} {'steps':>6}")
    print(f"\npix2pix training step, data {data}, CPU ({info['threads']} threads)")
    print(header)
    for size, r in results["sizes"].items():
        c = r["conversion"]
        print(f"{size:>5} {r['batch_size']:>5} {r['ours']['images_per_s']:10.2f} {r['ref']['images_per_s']:10.2f} {r['ratio']:7.2f}x "
              f"{r['ours']['loader_wait_share']:9.1%} {r['ref']['loader_wait_share']:8.1%} "
              f"{c['skimage_ms_per_image']:14.2f} {c['ours_ms_per_image']:11.2f} {r['ours']['steps_timed']:>6}")
    gpu = info["gpu"] or "not measured (no GPU in this session)"
    print(f"GPU: {gpu}")
    write_json(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
