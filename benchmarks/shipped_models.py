"""The shipped models' cards as one table: training budget and held-out metrics.

    python benchmarks/shipped_models.py            # Markdown table on stdout, JSON in benchmarks/out/
    python benchmarks/shipped_models.py --score    # + every model scored again on the same images

Without ``--score`` nothing is trained or scored: the numbers are those
:func:`lessons_lib.zoo.ship` measured on the stored (float16) weights and wrote into each
card (``lessons models train NAME`` retrains and re-scores one); ``tests/test_zoo.py``
recomputes the bundled-photo column.

``--score`` puts every shipped colorizer on one footing: the held-out sets of the default
colorizer's card (scenes8 val, imagenet1k val, all of cbsd68: none trained on by any
model), each photo resized (short side) and centre-cropped to ``--size`` (default the
default colorizer's evaluation size, 160 px), colorized as ``lessons colorize`` does (the
model at its own size, its ab upsampled onto the true L), the gray input beside it; and
the restorer on celeba10k val (``--restore-limit`` faces) with the blurred input and each
of its outputs; both with the kit-feature distribution metrics. It is
:func:`lessons_lib.zoo.compare_models` (``lessons models compare``) with the machine
recorded. Writes ``benchmarks/out/shipped_models_scored.json``.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT_DIR, write_json  # noqa: E402

from lessons_lib import zoo  # noqa: E402


def _per_stage(training: dict[str, Any]) -> dict[str, Any]:
    """The training facts per stage: a NoGAN card keeps them under "stages", a restorer's at the top."""
    return training.get("stages") or training


def _wall(training: dict[str, Any], stages) -> float:
    if len(stages) == 1 and "wall_time_s" in training:
        return float(training["wall_time_s"] or 0)
    return sum(float((_per_stage(training).get(s) or {}).get("wall_time_s") or 0) for s in stages)


def rows() -> list[dict[str, Any]]:
    out = []
    for m in zoo.list_models():
        shipped = m["card"].get("shipped") or {}
        training = shipped.get("training") or {}
        spec = zoo.SPECS[m["name"]]
        files = [m["path"]] if m["path"].is_file() else sorted(m["path"].glob("*.safetensors"))
        out.append({
            "name": m["name"], "task": m["task"], "default": m["default"],
            "mb": sum(f.stat().st_size for f in files) / 2**20,
            "steps": {s: (_per_stage(training).get(s) or {}).get("steps") for s in spec.stages} if len(spec.stages) > 1
            else training.get("steps"),
            "train_wall_min": _wall(training, spec.stages) / 60,
            "hardware": training.get("hardware") or next(
                (v.get("hardware") for v in training.values() if isinstance(v, dict) and v.get("hardware")), None),
            "heldout": shipped.get("metrics_heldout"),
            "samples": shipped.get("metrics_samples"),
        })
    return out


def markdown(table: list[dict[str, Any]]) -> str:
    lines = ["| model | MB | steps | train wall-min | held-out | PSNR model / gray (or blurred) | SSIM | AuC | "
             "colorfulness (gap) | bundled photos PSNR |",
             "|---|---:|---|---:|---|---|---|---|---|---:|"]
    for r in table:
        steps = r["steps"] if not isinstance(r["steps"], dict) else "+".join(str(v) for v in r["steps"].values())
        for source, rep in (r["heldout"] or {}).items():
            if not isinstance(rep, dict):
                lines.append(f"| {r['name']} | | | | {source} | {rep} | | | | |")
                continue
            if r["task"] == "colorization":
                mod, gray = rep["model"], rep["gray_input"]
                cells = (f"{mod['psnr']:.2f} / {gray['psnr']:.2f}", f"{mod['ssim']:.3f} / {gray['ssim']:.3f}",
                         f"{mod['auc']:.3f} / {gray['auc']:.3f}",
                         f"{mod['colorfulness']:.1f} ({mod['colorfulness_gap']:+.1f})")
                sample = r["samples"]["model"]["psnr"]
            else:
                cells = (" / ".join(f"{k} {rep[k]['psnr']:.2f}" for k in ("x_hat", "x_R", "x_G", "blurred") if k in rep),
                         " / ".join(f"{rep[k]['ssim']:.3f}" for k in ("x_hat", "x_R", "x_G", "blurred") if k in rep),
                         "", "")
                sample = r["samples"]["x_hat"]["psnr"]
            name = r["name"] + (" (default)" if r["default"] else "")
            lines.append(f"| {name} | {r['mb']:.1f} | {steps} | {r['train_wall_min']:.0f} | {source} {rep.get('split', 'val')} "
                         f"({rep['n_images']}) | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | {sample:.2f} |")
    total = sum(f.stat().st_size for f in zoo.WEIGHTS_DIR.rglob("*") if f.is_file()) / 2**20
    lines.append(f"\nAll of lessons_lib/weights (with the feature network and the cards): {total:.1f} MB.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--score", action="store_true", help="score every shipped model again on the same images")
    ap.add_argument("--size", type=int, default=None, help="colorizers' evaluation size (default: the default's)")
    ap.add_argument("--restore-limit", type=int, default=None, help="celeba10k val faces (default: all 1,000)")
    args = ap.parse_args(argv)
    table = rows()
    print(markdown(table))
    write_json({"models": table}, OUT_DIR / "shipped_models.json")
    if args.score:
        from _common import machine_info, machine_line

        info = machine_info()
        scored = zoo.compare_models(args.size, restore_limit=args.restore_limit)
        print()
        print(machine_line(info))
        print(zoo.format_comparison(scored))
        write_json({"machine": info, **scored}, OUT_DIR / "shipped_models_scored.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
