"""What the issue-3 benchmark scripts share: the machine line, the JSON output, a CPU clock
for training runs and the evaluation of an exported colorizer.

Not a test helper and not part of ``lessons_lib``: the scripts in ``benchmarks/`` import it.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT_DIR = ROOT / "benchmarks" / "out"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, torch version and threads: what every table in RESULTS.md states."""
    name, flags = "", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not name:
                    name = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = line.split(":", 1)[1]
    except OSError:
        pass
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {
        "cpu": name or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "avx2": " avx2" in flags,
        "bf16_units": "avx512_bf16" in flags or "amx_bf16" in flags,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_avg_1min_at_start": load,
        "date": _dt.datetime.now().isoformat(timespec="minutes"),
    }


def machine_line(info: dict[str, Any]) -> str:
    return (f"{info['cpu']}, {info['cores']} cores (AVX2 {'yes' if info['avx2'] else 'no'}, bf16 units "
            f"{'yes' if info['bf16_units'] else 'no'}), torch {info['torch']}, {info['threads']} threads, "
            f"load average {info['load_avg_1min_at_start']} at start, {info['date']}")


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=str))
    print(f"wrote {path}")
    return path


class TrainClock:
    """Training time of an engine run, measured by a hook, without the evaluations.

    ``cpu_s`` is the CPU time of this process (``time.process_time``: every thread, user +
    system). On a machine shared with other jobs the wall clock stretches with the load,
    the CPU time much less; on a dedicated 2-core laptop that keeps both cores busy,
    wall time is about ``cpu_s / 2``. ``wall_s`` is the wall clock here, for reference.
    Call :meth:`pause` / :meth:`resume` around work that is not training (evaluations).
    """

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.wall_s = 0.0
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()

    def pause(self) -> None:
        self.cpu_s += time.process_time() - self._cpu0
        self.wall_s += time.perf_counter() - self._wall0

    def resume(self) -> None:
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()


def evaluate_run(model_path: str | os.PathLike, data: str, split: str, size: int, limit: int | None = None,
                 batch_size: int = 32) -> dict[str, Any]:
    """``lessons eval colorize`` on an exported model: :func:`lessons_lib.pipeline.evaluate_colorizer`
    (the model at its size, the true L kept) with the gray-input baseline."""
    from lessons_lib.pipeline import Colorizer, evaluate_colorizer

    return evaluate_colorizer(Colorizer(model_path, device="cpu"), data, split=split, size=size, limit=limit,
                              batch_size=batch_size, baseline=True)


def headline(report: dict[str, Any]) -> dict[str, float]:
    """The table's columns from a colorization report: MAE (RGB 0-255 and ab), AuC, PSNR,
    SSIM, colorfulness and its gap."""
    return {
        "mae_rgb": float(report["mae_rgb"]["mean"]),
        "mae_ab": float(report["mae_ab"]["mean"]),
        "auc": float(report["auc"]),
        "psnr": float(report["psnr"]),
        "ssim": float(report["ssim"]),
        "colorfulness": float(report["colorfulness"]),
        "colorfulness_gap": float(report["colorfulness_gap"]),
    }


def train_and_evaluate(name: str, out: str | os.PathLike, eval_data: str, eval_split: str, size: int,
                       eval_limit: int | None = None, **overrides: Any) -> dict[str, Any]:
    """Train the recipe ``name`` with ``overrides`` through the engine (``run_recipe``, what
    ``lessons train`` runs), then evaluate the exported model with :func:`evaluate_run`.

    Returns the recipe's settings, the training CPU and wall time up to the last step
    (model building included; export and the final checkpoint not), the final losses, and
    the evaluation with its gray baseline."""
    from lessons_lib.recipes import get_recipe, recipe_to_dict, run_recipe

    recipe = get_recipe(name, size=size, out=str(out), overwrite=True, progress=False, sample_every=-1,
                        eval_every=-1, n_samples=0, ckpt_every=10**6, device="cpu", **overrides)
    marks: list[tuple[float, float]] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = run_recipe(recipe, hooks=[lambda step, logs: marks.append((time.process_time(), time.perf_counter()))],
                        command=f"benchmarks: {name} {overrides}")
    cpu1, wall1 = marks[-1]
    t_eval = time.perf_counter()
    ev = evaluate_run(result.model_path, eval_data, eval_split, size, limit=eval_limit)
    return {
        "recipe": name,
        "config": recipe_to_dict(recipe),
        "steps": result.steps,
        "epochs": result.epochs,
        "train_cpu_min": (cpu1 - cpu0) / 60,
        "train_wall_min": (wall1 - wall0) / 60,
        "eval_wall_s": time.perf_counter() - t_eval,
        "final_losses": result.losses,
        "model": headline(ev["model"]),
        "gray_baseline": headline(ev["gray_baseline"]),
        "n_eval_images": ev["n_images"],
        "model_path": str(result.model_path),
    }


def format_table(rows: list[tuple[str, dict[str, float]]], extra: dict[str, dict[str, str]] | None = None) -> str:
    """A Markdown table of :func:`headline` metrics, one row per model; ``extra`` adds
    columns per row name (``{"seed000_full": {"CPU-min": "3.1"}}``)."""
    cols = [("MAE RGB", "mae_rgb", "{:.2f}"), ("MAE ab", "mae_ab", "{:.2f}"), ("AuC", "auc", "{:.4f}"),
            ("PSNR", "psnr", "{:.2f}"), ("SSIM", "ssim", "{:.4f}"), ("colorfulness", "colorfulness", "{:.2f}"),
            ("gap", "colorfulness_gap", "{:+.2f}")]
    extra = extra or {}
    extra_cols = list(dict.fromkeys(k for v in extra.values() for k in v))
    head = ["model"] + [c[0] for c in cols] + extra_cols
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in rows:
        cells = [name] + [fmt.format(m[key]) if isinstance(m.get(key), (int, float)) else str(m.get(key, ""))
                          for _, key, fmt in cols]
        cells += [extra.get(name, {}).get(k, "") for k in extra_cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def strided_source(source: str, split: str, stride: int):
    """Every ``stride``-th image of a split, as an ImageSource: a class-balanced subset of a
    source stored class by class (CIFAR-10's test split lists 1,000 airplanes first)."""
    import math

    from lessons_lib.data import ImageSource, open_source

    base = open_source(source, split)

    class _Strided(ImageSource):
        kind = base.kind

        def __init__(self) -> None:
            n = math.ceil(len(base) / stride)
            super().__init__(f"{base.name}[::{stride}]", base.split, n, [base.label(i * stride) for i in range(n)])

        def _load(self, i: int):
            return base[i * stride]

        def path(self, i: int) -> str:
            return base.path(self._check_index(i) * stride)

    return _Strided()
