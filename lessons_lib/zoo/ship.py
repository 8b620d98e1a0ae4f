"""Shipping a trained run: :func:`ship` stores its weights in half precision, scores the
stored weights, and writes the card; the rules it applies live here too - the restorer's
default output (:func:`choose_restorer_output`) and the checkpoint selection
(:func:`select_eval`, defined with the checkpoints because the ``nogan`` recipe already
applies it when its run ends, a floor below).
"""
from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from .. import LessonsError
from ..checkpoints import load_model, read_card, save_model, select_eval
from ..color import rgb_to_lab_normalized
from ..colorization import Colorizer, evaluate_colorizer, hint_curve
from ..data import ColorizationDataset, open_source
from ..data.sources import sample_photos
from ..device import hardware_info
from ..restoration import Restorer, evaluate_restorer
from ..restoration.bundle import BUNDLE_CARD, export_bundle
from .models import WEIGHTS_DIR, ShippedSpec, get_spec, model_path

__all__ = ["ship", "rescore", "score_shipped", "select_eval", "choose_restorer_output", "RESTORER_MAX_DROP_DB", "evaluate_spec", "report_summary",
           "heldout_split", "training_curve", "sample_metric", "sample_diversity", "sample_hint_metric", "HINT_COUNTS"]

# =========================================================================== shipping
def report_summary(report: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The numeric metrics of ``keys`` (None kept: a metric the set was too small for);
    strings such as "unavailable ..." are left out."""
    return {k: report[k] for k in keys if k in report and (report[k] is None or isinstance(report[k], (int, float)))}


_COLOR_KEYS = ("psnr", "ssim", "auc", "mae_ab_mean", "colorfulness", "colorfulness_gap", "n_images")
_RESTORE_KEYS = ("psnr", "ssim", "perceptual", "sharpness")


def evaluate_spec(spec: ShippedSpec, weights: Path, source: Any, *, limit: int | None = None) -> dict[str, Any]:
    """Score shipped weights on one source's val split: a short, plain-JSON summary."""
    if spec.task == "colorization":
        res = evaluate_colorizer(Colorizer(weights, device="cpu"), source, heldout_split(source),
                                 size=spec.size, limit=limit)
        return {"n_images": res["n_images"], "size": res["size"], "split": res["split"],
                "model": report_summary(res["model"], _COLOR_KEYS),
                "gray_input": report_summary(res["gray_baseline"], _COLOR_KEYS)}
    res = evaluate_restorer(Restorer(weights, device="cpu"), source, "val", limit=limit)
    out: dict[str, Any] = {"n_images": res["n_images"]}
    for k in ("blurred", "x_R", "x_G", "x_hat"):
        if k in res:
            out[k] = report_summary(res[k], _RESTORE_KEYS)
    return out


#: The rule ``lessons restore`` follows (issue 11): the fusion x_hat is the default only
#: when its card shows it earns it on held-out faces - above the blurred input by PSNR, at
#: most this far below NAFNet's x_R, and nearer to the sharp faces than x_R in the feature
#: space (it trades a little fidelity for realism, as seed 004's table does: -1.0 dB).
RESTORER_MAX_DROP_DB = 1.0


def choose_restorer_output(report: dict[str, Any] | None) -> tuple[str, str]:
    """``(output, reason)``: "x_hat" or "x_R" by :data:`RESTORER_MAX_DROP_DB`'s rule, from one
    held-out report of :func:`evaluate_spec` ({"blurred", "x_R", "x_hat": {"psnr", "perceptual"}})."""
    if not report or "x_hat" not in report or "x_R" not in report:
        return "x_R", "no held-out scores of x_hat: the faithful x_R"
    hat, reg, blur = report["x_hat"], report["x_R"], report.get("blurred", {})
    checks = {
        "beats the blurred input": hat["psnr"] > blur.get("psnr", float("-inf")),
        f"within {RESTORER_MAX_DROP_DB:g} dB of x_R": hat["psnr"] >= reg["psnr"] - RESTORER_MAX_DROP_DB,
        "nearer the sharp faces than x_R in feature space": hat.get("perceptual", 0.0) < reg.get("perceptual", 0.0),
    }
    failed = [k for k, ok in checks.items() if not ok]
    figures = (f"x_hat {hat['psnr']:.2f} dB, x_R {reg['psnr']:.2f} dB, blurred {blur.get('psnr', float('nan')):.2f} dB; "
               f"feature distance x_hat {hat.get('perceptual', float('nan')):.4f}, x_R {reg.get('perceptual', float('nan')):.4f}")
    if failed:
        return "x_R", f"x_R: x_hat fails '{', '.join(failed)}' ({figures})"
    return "x_hat", f"x_hat: it {', '.join(checks)} ({figures})"


def heldout_split(source: Any) -> str:
    """The held-out split of a source: "val", or "test" for a pack that has only that
    (cbsd68, cifar10's official test set); "val" when the source cannot be opened (the
    caller reports that)."""
    try:
        open_source(source, "val")
    except LessonsError:
        try:
            open_source(source, "test")
        except LessonsError:
            return "val"
        return "test"
    return "val"


def training_curve(run: str | os.PathLike, cpu_offset_s: float = 0.0) -> list[dict[str, float]]:
    """A run's validation rows as a curve against its CPU time: ``{"step", "cpu_h", "psnr",
    "ssim", "colorfulness"}`` each (``val_metrics.csv``'s ``cpu_s`` + ``cpu_offset_s``, the
    CPU time of the stages before it)."""
    rows = []
    path = Path(run) / "val_metrics.csv"
    if not path.is_file():
        return rows
    with path.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if not r.get("cpu_s"):
                continue
            rows.append({"step": int(r["step"]), "cpu_h": round((float(r["cpu_s"]) + cpu_offset_s) / 3600, 4),
                         **{k: round(float(r[k]), 4) for k in ("psnr", "ssim", "colorfulness") if r.get(k)}})
    return rows


def sample_metric(name: str, weights: str | os.PathLike | None = None) -> dict[str, Any]:
    """The card's bundled-photo metric, recomputed: shipped model ``name`` (or ``weights``)
    on the photos ``SPECS[name].sample_photos`` of the installed packages (always on disk)."""
    spec = get_spec(name)
    return evaluate_spec(spec, Path(weights) if weights is not None else model_path(name),
                     sample_photos(spec.sample_photos))


def _shipped_colorizer(name: str, weights: str | os.PathLike | None):
    """The shipped colorizer ``name`` (or ``weights``) on the CPU; None for a restorer."""
    if get_spec(name).task != "colorization":
        return None
    return Colorizer(Path(weights) if weights is not None else model_path(name), device="cpu")


def sample_diversity(name: str, weights: str | os.PathLike | None = None, seeds: int = 8) -> dict[str, Any] | None:
    """For a colorizer with a noise input: how far the colourings of ``seeds`` seeds are
    apart on the bundled photos (:meth:`lessons_lib.colorization.Colorizer.diversity`, at the
    model's size); None for a model without noise (its seeds all give one colouring)."""
    spec, col = get_spec(name), _shipped_colorizer(name, weights)
    if col is None or not col.has_noise:
        return None
    data = ColorizationDataset(sample_photos(spec.sample_photos), col.size, train=False)
    rgb = torch.stack([data[i] for i in range(len(data))]).float() / 255.0      # (N, 3, S, S)
    L, _ = rgb_to_lab_normalized(rgb)
    d = col.diversity(L, truth=rgb, seeds=range(seeds))
    return {"seeds": seeds, "n_images": len(data), "mean_pairwise_ab": d["mean_pairwise_ab"],
            "per_image": d["per_image"], "chroma": d["chroma"], "max_psnr_dev_db": d["max_psnr_dev_db"]}


#: The numbers of hints a hint model's card is scored with (Zhang et al. 2017's fig. 6 sweep)
HINT_COUNTS = (0, 1, 2, 5, 10, 20, 50)


def sample_hint_metric(name: str, weights: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """For a hint model: PSNR with 0 and 10 hints from the true colours on the bundled photos
    (:func:`lessons_lib.colorization.hint_curve` at the card's size, seed 0); None for a model
    that takes no hints."""
    spec, col = get_spec(name), _shipped_colorizer(name, weights)
    if col is None or not col.takes_hints:
        return None
    c = hint_curve(col, sample_photos(spec.sample_photos), "val", (0, 10), size=spec.size)
    return {"n_images": c["n_images"], "size": c["size"], "counts": c["counts"], "psnr": c["psnr"],
            "gray_psnr": c["gray"]["psnr"]}


def _hardware() -> dict[str, Any]:
    """Where the shipped weights were scored (on the CPU, as :func:`evaluate_spec` runs): the
    engine's hardware record of the model cards, plus the number of cores."""
    return {**hardware_info(torch.device("cpu")), "cpus": os.cpu_count()}


def ship(name: str, runs: str | os.PathLike | None = None, *, to: str | os.PathLike | None = None,
         limit: int | None = None, eval_data: tuple[str, ...] | None = None, command: str | None = None,
         recipe_options: dict[str, dict[str, Any]] | None = None) -> Path:
    """Store the trained runs of shipped model ``name`` as ``weights/NAME`` (float16), score
    the stored weights on the held-out data and the bundled photos, and write the card.

    ``to`` (default :data:`WEIGHTS_DIR`) is the folder the weights go to; ``limit`` caps the
    held-out images per source (None: all); ``eval_data`` replaces the spec's held-out
    sources (tests use ``("synthetic",)``); ``command`` and ``recipe_options`` record how
    the runs were made when it was not the spec's command (benchmarks/gpu_train.py's GPU
    plan). Returns the weights' path (a restorer: its folder).
    A held-out source that is not on this machine is recorded as unavailable, not guessed."""
    spec = get_spec(name)
    root = Path(runs) if runs is not None else spec.runs()
    dest = Path(to) if to is not None else WEIGHTS_DIR
    dest.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if spec.task == "colorization":
        stages = list(spec.stages)
        last = root / stages[-1] if len(stages) > 1 else root
        # a run that chose its model by rule (NoGAN: selected.safetensors) ships that one
        chosen = last / "selected.safetensors"
        source_weights = chosen if chosen.is_file() else last / "model.safetensors"
        run_card = read_card(source_weights)
        model, _ = load_model(source_weights)
        target = save_model(model, dest / name, {**run_card, "name": name, **spec.serving}, half=True)
        keys = ("recipe", "data", "size", "steps", "epochs", "images_seen", "wall_time_s", "cpu_time_s",
                "hardware", "command")
        training = {k: run_card.get(k) for k in keys}
        if "selection" in run_card:
            training["selection"] = run_card["selection"]
        if len(stages) > 1:
            # every stage's length and cost, and the curve over all of them (CPU-hours)
            training["stages"] = {}
            curve: list[dict[str, Any]] = []
            offset = 0.0
            for stage in stages:
                c = read_card(root / stage / "model.safetensors")
                training["stages"][stage] = {k: c.get(k) for k in keys if k != "command"}
                curve += [{"stage": stage, **row} for row in training_curve(root / stage, offset)]
                offset += float(c.get("cpu_time_s") or 0.0)
            training["cpu_hours"] = round(offset / 3600, 4)
            training["curve"] = curve
            training["command"] = command or spec.command
    else:
        folder = dest / name
        # the fusion run's checkpoint with the best validation PSNR, as the seed keeps (its
        # recipe's best_metric="psnr"); the last one when the run kept none
        best = root / "fusion" / "best.safetensors"
        fusion = best if best.is_file() else root / "fusion"
        export_bundle(folder, fusion=fusion, nafnet=root / "nafnet", inversion=root / "inversion", half=True)
        target = folder
        training = {}
        for stage in spec.stages:
            c = read_card(root / stage / "model.safetensors")
            training[stage] = {k: c.get(k) for k in ("steps", "epochs", "images_seen", "wall_time_s", "hardware")}
        if best.is_file():
            best_card = read_card(best)
            training["fusion"]["shipped_step"] = best_card.get("step", best_card.get("steps"))
        training.update(data=spec.stages["nafnet"]["data"], size=spec.size, command=command or spec.command)
    shipped = {
        "name": name,
        "task": spec.task,
        "description": spec.description,
        "command": command or spec.command,
        "recipe_options": recipe_options if recipe_options is not None else spec.stages,
        "training": training,
        "shipped_on": _hardware(),
        **score_shipped(name, target, eval_data=eval_data, limit=limit),
    }
    shipped["ship_wall_s"] = round(time.perf_counter() - t0, 1)
    _write_shipped(spec, target, shipped)
    return target


def score_shipped(name: str, target: Path, *, eval_data: tuple[str, ...] | None = None,
                  limit: int | None = None) -> dict[str, Any]:
    """The scores of a shipped model's card, of the stored weights ``target`` as served: the
    held-out sets, the bundled photos, the seeds' diversity and, for a hint model, the
    hint curves. A held-out source that is not on this machine is recorded as unavailable."""
    spec = get_spec(name)
    sources = spec.eval_data if eval_data is None else eval_data
    heldout: dict[str, Any] = {}
    for source in sources:
        try:
            heldout[source] = evaluate_spec(spec, target, source, limit=limit)
        except LessonsError as e:
            heldout[source] = f"unavailable ({e})"
    scores: dict[str, Any] = {
        "metrics_heldout": heldout,
        "sample_photos": list(spec.sample_photos),
        "metrics_samples": sample_metric(name, target),
        "diversity_samples": sample_diversity(name, target),
        "hints_samples": sample_hint_metric(name, target),
    }
    if scores["hints_samples"] is not None:
        # a hint model: PSNR against the number of hints from the true colours, held out
        col = Colorizer(target, device="cpu")
        scores["hints_heldout"] = {}
        for source in sources:
            try:
                scores["hints_heldout"][source] = hint_curve(col, source, heldout_split(source), HINT_COUNTS,
                                                             size=spec.size, limit=limit)
            except LessonsError as e:
                scores["hints_heldout"][source] = f"unavailable ({e})"
    return scores


def _card_path(spec: ShippedSpec, target: Path) -> Path:
    """The card of stored weights: beside a colorizer's file, in a restorer's folder."""
    return target.with_suffix(".json") if spec.task == "colorization" else target / BUNDLE_CARD


def _write_shipped(spec: ShippedSpec, target: Path, shipped: dict[str, Any]) -> None:
    """The card, written once the stored weights are scored (the weights' sha256 is unchanged)."""
    card_path = _card_path(spec, target)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["shipped"] = shipped
    if spec.task == "restoration":
        first = next((r for r in shipped["metrics_heldout"].values() if isinstance(r, dict)), None)
        card["default_output"], card["default_output_why"] = choose_restorer_output(first)
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def rescore(name: str, *, to: str | os.PathLike | None = None, limit: int | None = None,
            eval_data: tuple[str, ...] | None = None) -> Path:
    """Serve the stored weights of shipped model ``name`` as its spec now says
    (``ShippedSpec.serving``, e.g. the hint model's confinement) and score them again: the
    card's scores are replaced, its training record is kept, the weights are not touched.
    For a change in how a model is served, not in the model (that is :func:`ship`). ``to``,
    ``limit`` and ``eval_data`` as in :func:`ship`."""
    spec = get_spec(name)
    target = model_path(name, to)
    card_path = _card_path(spec, target)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    if "shipped" not in card:
        raise LessonsError(f"{card_path} is not a shipped card (no 'shipped' record): ship the model first")
    card.update(spec.serving)
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")   # served as the spec says
    t0 = time.perf_counter()
    shipped = {**card["shipped"], **score_shipped(name, target, eval_data=eval_data, limit=limit),
               "shipped_on": _hardware()}
    shipped["rescored"] = {"serving": spec.serving, "wall_s": round(time.perf_counter() - t0, 1)}
    _write_shipped(spec, target, shipped)
    return target


