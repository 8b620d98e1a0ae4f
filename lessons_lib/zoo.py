"""The shipped models: what ``lessons_lib/weights/`` holds, how each was trained, which is
the default, how each is scored and stored (:func:`ship`). Retraining them lives one floor up,
in :mod:`lessons_lib.shipping`: the lookup here never loads the trainer.

::

    lessons models                      # the shipped models and their cards' metrics
    lessons models train pix2pix        # retrain one (resumes runs/shipped/pix2pix), then ship it
    lessons colorize old.jpg new.png    # the default colorizer;  --model colorgan  picks another

Every shipped model is trained by one of the kit's own recipes (:mod:`lessons_lib.recipes`)
through the one engine, with the options of its :class:`ShippedSpec` below, sized for the
course's 2-core CPU (a GPU run can pass more steps). :func:`ship` then

1. stores the weights in half precision (``weights/NAME.safetensors`` + its ``NAME.json``
   card; the restorer is a folder ``weights/restorer/`` of four nets and ``restorer.json``),
2. scores the *stored* weights on the held-out split of the training data (scenes8 val,
   flowers5 val, celeba10k val) and on the photos bundled in installed packages
   (``samples``: always there, so a test can recompute the number on any machine),
3. writes the card: data, size, steps, parameters, hardware, wall time, the exact command,
   and both sets of metrics.

The default model of a task is the one its spec marks ``default=True``; the choice and its
reason are in the spec's ``why`` and in the README.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import LessonsError

__all__ = [
    "get_spec",
    "WEIGHTS_DIR",
    "HINT_MODEL",
    "ShippedSpec",
    "SPECS",
    "list_models",
    "model_path",
    "default_model",
    "resolve_model",
    "format_models",
    "ship",
    "sample_metric",
    "sample_diversity",
    "sample_hint_metric",
    "HINT_COUNTS",
    "heldout_split",
    "training_curve",
    "choose_restorer_output",
    "RESTORER_MAX_DROP_DB",
    "compare_models",
    "format_comparison",
]

#: The shipped model ``lessons colorize --hint`` and the demo's hints use (Zhang, Zhu et al. 2017)
HINT_MODEL = "hints"
#: Where the shipped weights live (installed with the package).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: Where ``lessons models train`` puts its runs (relative to the working directory).
RUNS_DIR = Path("runs") / "shipped"


@dataclass(frozen=True)
class ShippedSpec:
    """One shipped model: the recipe(s) and options it is trained with, and how it is scored."""

    name: str
    task: str                       # "colorization" | "restoration"
    description: str
    #: recipe name -> its options (the restorer chains four stages, in this order)
    stages: dict[str, dict[str, Any]]
    #: held-out data the card reports (source names; their "val" split)
    eval_data: tuple[str, ...]
    #: evaluation size: images are resized (short side) and centre-cropped to it; a colorizer
    #: trained smaller (NoGAN: 64 px) is scored as the pipeline serves it, its ab upsampled
    #: onto the full-size L
    size: int
    default: bool = False
    why: str = ""
    #: the photos of ``samples`` the card's bundled-photo metric is computed on
    sample_photos: tuple[str, ...] = field(default=("astronaut", "coffee", "chelsea", "rocket"))
    #: its run folder under ``runs/shipped`` when it is not NAME: a warm start is the first
    #: stage of another model's runs, trained once for both
    runs_dir: str | None = None

    def runs(self) -> Path:
        """Where ``lessons models train/ship NAME`` keeps this model's runs by default."""
        return RUNS_DIR / (self.runs_dir or self.name)

    @property
    def command(self) -> str:
        return f"lessons models train {self.name}"


_TRAIN = dict(log_every=10, sample_every=100, ckpt_every=25, eval_every=0, progress=False)
#: NoGAN's phase 1, shared by the practical colorizer and its warm start (one run for both)
_NOGAN_PRETRAIN = dict(val_limit=None, progress=False)

SPECS: dict[str, ShippedSpec] = {
    spec.name: spec
    for spec in (
        ShippedSpec(
            name="pix2pix", task="colorization",
            description="pix2pix: U-Net (16 ch) + 70x70 PatchGAN, Lab, vanilla GAN + 100 L1, scenes8 128 px",
            stages={"pix2pix": dict(data="scenes8", size=128, g_base=16, d_base=32, steps=600, batch_size=16,
                                    **_TRAIN)},
            eval_data=("scenes8", "flowers5"), size=128,
        ),
        ShippedSpec(
            name="nogan", task="colorization",
            description="the practical colorizer (NoGAN at 64 px): U-Net (32 ch) trained with L1 alone, then a "
                        "critic warm-up and a short GAN phase; scenes8 + flowers5 + imagenet1k",
            # the recipes' own settings: their defaults are the 2-core CPU budget of issue 11
            # (phase 1 ~87 min, phases 2-3 ~10 min; benchmarks/RESULTS.md)
            stages={"nogan_pretrain": _NOGAN_PRETRAIN, "nogan": dict(progress=False)},
            eval_data=("scenes8", "imagenet1k", "cbsd68"), size=160, default=True,
            why="the one shipped colorizer that beats the gray input on photos it never saw by PSNR "
                "while putting visible colour in (benchmarks/RESULTS.md, issue 11); trained at 64 px, "
                "its colour is upsampled onto the full-size L of any photo",
        ),
        ShippedSpec(
            name="nogan_warm", task="colorization",
            description="the warm start of the lessons: NoGAN's phase-1 G (U-Net 32 ch, L1 alone at 64 px, "
                        "scenes8 + flowers5 + imagenet1k), the G the shipped nogan's GAN phase started from",
            stages={"nogan_pretrain": _NOGAN_PRETRAIN},
            eval_data=("scenes8", "imagenet1k", "cbsd68"), size=160, runs_dir="nogan/nogan_pretrain",
        ),
        ShippedSpec(
            name="hints", task="colorization",
            description="the user-guided colorizer (Zhang, Zhu et al. 2017): U-Net (32 ch, capped at 64) reads L "
                        "plus a sparse hint map and mask at 64 px, L1 with simulated users; scenes8 + flowers5 + "
                        "imagenet1k. Without hints it colorizes alone",
            # the recipe's own settings (about 45 minutes on the 2-core CPU; RESULTS.md, issue 14)
            stages={"hints": dict(progress=False)},
            eval_data=("scenes8", "imagenet1k", "cbsd68"), size=160,
        ),
        ShippedSpec(
            name="seed000_full", task="colorization",
            description="seed 000's full model: RGB U-Net (16 ch), NIN-MLP PatchGAN, LSGAN + L1 + identity, "
                        "scenes8 (1,000 photos) 128 px",
            stages={"seed000_full": dict(g_base=16, d_base=32, steps=300, batch_size=16, **_TRAIN)},
            eval_data=("scenes8", "flowers5"), size=128,
        ),
        ShippedSpec(
            name="colorgan", task="colorization",
            description="ColorGAN (seed 001): U-Net (32 ch) + latent noise, WGAN-GP PatchGAN critic, perceptual "
                        "+ L1 + L_s, plus MSGAN's mode-seeking term (diverse colourings), scenes8 + flowers5 128 px",
            # lambda_ms, noise_init and ms_pool are not the seed's: without them the seeds'
            # colourings differ by ~0.1 Lab units at this budget; ms_pool=8 makes them differ
            # by region rather than by pixel pattern (benchmarks/RESULTS.md, issue 4)
            stages={"colorgan": dict(data="scenes8+flowers5", size=128, g_base=32, d_base=32, steps=240,
                                     batch_size=16, lambda_ms=1.0, noise_init="kaiming", ms_pool=8, **_TRAIN)},
            eval_data=("scenes8", "flowers5"), size=128,
        ),
        ShippedSpec(
            name="restorer", task="restoration", default=True,
            why="the one shipped restorer; `lessons restore` returns the output its card shows best by "
                "a stated rule (choose_restorer_output: x_hat only when it beats the blurred input, stays "
                "within 1 dB of x_R and is nearer the sharp faces in feature space; x_R otherwise)",
            description="seed 004's face restorer: NAFNet (x_R) + StyleGAN2 prior inversion (x_G) + fusion (x_hat), "
                        "celeba10k 64 px",
            # the CPU budget of benchmarks/restore_compare.py (RESULTS.md, issue 5)
            stages={
                "nafnet": dict(data="celeba10k", size=64, steps=2400, batch_size=8, width=16, eval_every=400,
                               val_limit=200, sample_every=200, ckpt_every=50, progress=False),
                # a small StyleGAN2 (0.38 M parameters in G); R1 gamma 0.0002 * 64^2 / 8 = 0.1
                # (StyleGAN2-ADA's rule); EMA half-life 10 kimg * 8 / 32 = 2.5 kimg
                "stylegan2": dict(data="celeba10k", size=64, steps=1000, batch_size=8, channel_base=1024,
                                  channel_max=64, r1_gamma=0.1, ema_kimg=2.5, eval_every=-1, sample_every=200,
                                  ckpt_every=50, progress=False),
                "inversion": dict(data="celeba10k", size=64, steps=600, batch_size=8, eval_every=200,
                                  val_limit=200, sample_every=200, ckpt_every=50, progress=False),
                "fusion": dict(data="celeba10k", size=64, steps=500, batch_size=8, eval_every=100, val_limit=200,
                               residual=True,
                               sample_every=200, ckpt_every=50, progress=False),
            },
            eval_data=("celeba10k",), size=64,
        ),
    )
}


# =========================================================================== lookup of a spec
def get_spec(name: str) -> ShippedSpec:
    """The :class:`ShippedSpec` of shipped model ``name``."""
    if name not in SPECS:
        raise LessonsError(f"unknown shipped model {name!r}; choose one of: {', '.join(SPECS)}")
    return SPECS[name]


# =========================================================================== shipping
def _summary(report: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The numeric metrics of ``keys`` (None kept: a metric the set was too small for);
    strings such as "unavailable ..." are left out."""
    return {k: report[k] for k in keys if k in report and (report[k] is None or isinstance(report[k], (int, float)))}


_COLOR_KEYS = ("psnr", "ssim", "auc", "mae_ab_mean", "colorfulness", "colorfulness_gap", "n_images")
_RESTORE_KEYS = ("psnr", "ssim", "perceptual", "sharpness")


def _evaluate(spec: ShippedSpec, weights: Path, source: Any, *, limit: int | None = None) -> dict[str, Any]:
    """Score shipped weights on one source's val split: a short, plain-JSON summary."""
    from .colorization import Colorizer, evaluate_colorizer
    from .restoration import Restorer

    if spec.task == "colorization":
        res = evaluate_colorizer(Colorizer(weights, device="cpu"), source, heldout_split(source),
                                 size=spec.size, limit=limit)
        return {"n_images": res["n_images"], "size": res["size"], "split": res["split"],
                "model": _summary(res["model"], _COLOR_KEYS),
                "gray_input": _summary(res["gray_baseline"], _COLOR_KEYS)}
    from .restoration.evaluation import evaluate_restorer

    res = evaluate_restorer(Restorer(weights, device="cpu"), source, "val", limit=limit)
    out: dict[str, Any] = {"n_images": res["n_images"]}
    for k in ("blurred", "x_R", "x_G", "x_hat"):
        if k in res:
            out[k] = _summary(res[k], _RESTORE_KEYS)
    return out


#: The rule ``lessons restore`` follows (issue 11): the fusion x_hat is the default only
#: when its card shows it earns it on held-out faces - above the blurred input by PSNR, at
#: most this far below NAFNet's x_R, and nearer to the sharp faces than x_R in the feature
#: space (it trades a little fidelity for realism, as seed 004's table does: -1.0 dB).
RESTORER_MAX_DROP_DB = 1.0


def choose_restorer_output(report: dict[str, Any] | None) -> tuple[str, str]:
    """``(output, reason)``: "x_hat" or "x_R" by :data:`RESTORER_MAX_DROP_DB`'s rule, from one
    held-out report of :func:`_evaluate` ({"blurred", "x_R", "x_hat": {"psnr", "perceptual"}})."""
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
    from .data import open_source

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
    import csv

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
    from .data.sources import sample_photos

    return _evaluate(spec, Path(weights) if weights is not None else model_path(name),
                     sample_photos(spec.sample_photos))


def _shipped_colorizer(name: str, weights: str | os.PathLike | None):
    """The shipped colorizer ``name`` (or ``weights``) on the CPU; None for a restorer."""
    if get_spec(name).task != "colorization":
        return None
    from .colorization import Colorizer

    return Colorizer(Path(weights) if weights is not None else model_path(name), device="cpu")


def sample_diversity(name: str, weights: str | os.PathLike | None = None, seeds: int = 8) -> dict[str, Any] | None:
    """For a colorizer with a noise input: how far the colourings of ``seeds`` seeds are
    apart on the bundled photos (:meth:`lessons_lib.colorization.Colorizer.diversity`, at the
    model's size); None for a model without noise (its seeds all give one colouring)."""
    from .color import rgb_to_lab_normalized
    from .data import ColorizationDataset
    from .data.sources import sample_photos

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
    from .data.sources import sample_photos
    from .colorization import hint_curve

    spec, col = get_spec(name), _shipped_colorizer(name, weights)
    if col is None or not col.takes_hints:
        return None
    c = hint_curve(col, sample_photos(spec.sample_photos), "val", (0, 10), size=spec.size)
    return {"n_images": c["n_images"], "size": c["size"], "counts": c["counts"], "psnr": c["psnr"],
            "gray_psnr": c["gray"]["psnr"]}


def _hardware() -> dict[str, Any]:
    """Where the shipped weights were scored (on the CPU, as :func:`_evaluate` runs): the
    engine's hardware record of the model cards, plus the number of cores."""
    from .device import hardware_info

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
    from .checkpoints import load_model, read_card, save_model
    from .restoration.bundle import BUNDLE_CARD, export_bundle

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
        target = save_model(model, dest / name, {**run_card, "name": name}, half=True)
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
    heldout: dict[str, Any] = {}
    for source in (spec.eval_data if eval_data is None else eval_data):
        try:
            heldout[source] = _evaluate(spec, target, source, limit=limit)
        except LessonsError as e:
            heldout[source] = f"unavailable ({e})"
    shipped = {
        "name": name,
        "task": spec.task,
        "description": spec.description,
        "command": command or spec.command,
        "recipe_options": recipe_options if recipe_options is not None else spec.stages,
        "training": training,
        "shipped_on": _hardware(),
        "metrics_heldout": heldout,
        "sample_photos": list(spec.sample_photos),
        "metrics_samples": sample_metric(name, target),
        "diversity_samples": sample_diversity(name, target),
        "hints_samples": sample_hint_metric(name, target),
    }
    if shipped["hints_samples"] is not None:
        # a hint model: PSNR against the number of hints from the true colours, held out
        from .colorization import Colorizer, hint_curve

        col = Colorizer(target, device="cpu")
        shipped["hints_heldout"] = {}
        for source in (spec.eval_data if eval_data is None else eval_data):
            try:
                shipped["hints_heldout"][source] = hint_curve(col, source, heldout_split(source), HINT_COUNTS,
                                                              size=spec.size, limit=limit)
            except LessonsError as e:
                shipped["hints_heldout"][source] = f"unavailable ({e})"
    shipped["ship_wall_s"] = round(time.perf_counter() - t0, 1)
    # the card, written once the stored weights are scored (the weights' sha256 is unchanged)
    card_path = target.with_suffix(".json") if spec.task == "colorization" else target / BUNDLE_CARD
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["shipped"] = shipped
    if spec.task == "restoration":
        first = next((r for r in heldout.values() if isinstance(r, dict)), None)
        card["default_output"], card["default_output_why"] = choose_restorer_output(first)
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return target


# =========================================================================== the catalogue
# =========================================================================== one table
#: the columns of :func:`compare_models` (the distribution metrics when the kit's network is there)
_COMPARE_COLOR = ("psnr", "ssim", "auc", "colorfulness", "fid_kit", "kid_kit", "lpips_kit", "precision_kit",
                  "recall_kit")
_COMPARE_RESTORE = ("psnr", "ssim", "fid_kit", "kid_kit", "lpips_kit", "precision_kit", "recall_kit")


def compare_models(size: int | None = None, *, limit: int | None = None, restore_limit: int | None = None,
                   feature_metrics: bool = True, weights_dir: str | os.PathLike | None = None,
                   sources: tuple[str, ...] | None = None, face_source: str = "celeba10k") -> dict[str, Any]:
    """Every shipped model on the same held-out images (``lessons models compare``).

    Colorizers: the held-out sets of the default colorizer's card (scenes8 val, imagenet1k
    val, all of cbsd68: no model trained on them), each photo resized and centre-cropped to
    ``size`` (default: the default colorizer's evaluation size), colorized as ``lessons
    colorize`` does, with the gray input as a row. The restorer(s): celeba10k val with the
    blurred input and each output as rows. Each row: PSNR, SSIM (and AuC, colourfulness) and,
    with ``feature_metrics``, FID_kit, KID_kit, LPIPS_kit, precision and recall on the kit's
    feature network (:func:`lessons_lib.metrics.kit_feature_report`). ``limit`` /
    ``restore_limit``: the first K images of each set (default all); ``sources`` and
    ``face_source`` replace the held-out sets (e.g. ``"synthetic"`` where the packs are
    absent). Plain JSON.
    """
    from .colorization import Colorizer, evaluate_colorizer
    from .restoration import Restorer
    from .restoration.evaluation import evaluate_restorer

    default = SPECS[default_model("colorization")]
    size = int(size or default.size)
    out: dict[str, Any] = {"size": size, "colorization": {}, "restoration": {}, "features": None}
    for source in sources or default.eval_data:
        split = heldout_split(source)
        per: dict[str, Any] = {"rows": {}}
        for m in list_models("colorization", weights_dir):
            first = not per["rows"]                       # the gray input is scored once per set
            res = evaluate_colorizer(Colorizer(m["path"], device="cpu"), source, split, size=size, limit=limit,
                                     baseline=first, feature_metrics=feature_metrics)
            per["rows"][m["name"] + (" (default)" if m["default"] else "")] = _summary(res["model"], _COMPARE_COLOR)
            if first:
                per["gray_input"] = _summary(res["gray_baseline"], _COMPARE_COLOR)
                per["photos_colorfulness"] = res["model"]["colorfulness_gt"]
                per["n_images"] = res["n_images"]
                out["features"] = res["model"].get("features", out["features"])
        per["rows"]["gray input"] = per.pop("gray_input")
        out["colorization"][f"{source} {split}"] = per
    for m in list_models("restoration", weights_dir):
        restorer = Restorer(m["path"], device="cpu")
        res = evaluate_restorer(restorer, face_source, "val", limit=restore_limit, feature_metrics=feature_metrics)
        rows = {k: _summary(res[k], _COMPARE_RESTORE + ("perceptual",)) for k in ("x_hat", "x_R", "x_G", "blurred")
                if k in res}
        out["restoration"][m["name"]] = {"rows": rows, "n_images": res["n_images"], "size": res["size"],
                                         "data": f"{face_source} val",
                                         "default_output": restorer.output}
    return out


def _cell(v: Any, digits: int) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def format_comparison(result: dict[str, Any]) -> str:
    """:func:`compare_models` as Markdown tables: one per held-out set, one per restorer."""
    digits = {"psnr": 2, "ssim": 3, "auc": 3, "colorfulness": 1, "fid_kit": 2, "kid_kit": 1, "lpips_kit": 3,
              "precision_kit": 2, "recall_kit": 2}
    names = {"psnr": "PSNR", "ssim": "SSIM", "auc": "AuC", "colorfulness": "colourful.", "fid_kit": "FID_kit",
             "kid_kit": "KID_kit x1e3", "lpips_kit": "LPIPS_kit", "precision_kit": "precision", "recall_kit": "recall"}
    lines: list[str] = []
    for source, per in result["colorization"].items():
        rows = per["rows"]
        keys = [k for k in _COMPARE_COLOR if any(k in r for r in rows.values())]
        gray = rows["gray input"]["psnr"]
        lines += [f"Colorizers on {source} ({per['n_images']} photos at {result['size']} px; the photos' "
                  f"colourfulness {per['photos_colorfulness']:.1f}):", "",
                  "| model | " + " | ".join(names[k] + (" (vs gray)" if k == "psnr" else "") for k in keys) + " |",
                  "|---|" + "---:|" * len(keys)]
        for name, r in rows.items():
            cells = []
            for k in keys:
                c = _cell(r.get(k), digits[k])
                if k == "psnr" and name != "gray input":
                    c += f" ({r['psnr'] - gray:+.2f})"
                if k == "colorfulness":
                    c += f" ({100 * r['colorfulness'] / per['photos_colorfulness']:.0f}%)"
                cells.append(c)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    for name, rep in result["restoration"].items():
        rows = rep["rows"]
        keys = [k for k in _COMPARE_RESTORE if any(k in r for r in rows.values())]
        lines += [f"Restorer {name} on {rep['data']} ({rep['n_images']} faces at {rep['size']} px; its default "
                  f"output: {rep['default_output']}):", "",
                  "| output | " + " | ".join(names[k] for k in keys) + " |", "|---|" + "---:|" * len(keys)]
        lines += [f"| {out} | " + " | ".join(_cell(r.get(k), digits[k]) for k in keys) + " |" for out, r in rows.items()]
        lines.append("")
    if result.get("features"):
        lines.append(f"_kit metrics: {result['features']}; lower FID/KID/LPIPS_kit is nearer the true images, "
                     "higher precision = more realistic, higher recall = more of the variety. They rank these "
                     "models on these images and are not comparable with papers' FID / KID / LPIPS.")
    return "\n".join(lines).rstrip()


def _card_of(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def list_models(task: str | None = None, weights_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The shipped models on disk, in :data:`SPECS` order: ``{"name", "task", "path",
    "description", "default", "card"}`` each (only those whose files are present)."""
    from .restoration.bundle import BUNDLE_CARD

    base = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    out = []
    for name, spec in SPECS.items():
        if task is not None and spec.task != task:
            continue
        if spec.task == "restoration":
            path, card_path = base / name, base / name / BUNDLE_CARD
        else:
            path, card_path = base / f"{name}.safetensors", base / f"{name}.json"
        if not (path.exists() and card_path.is_file()):
            continue
        card = _card_of(card_path) or {}
        out.append({"name": name, "task": spec.task, "path": path, "description": spec.description,
                    "default": spec.default, "card": card})
    return out


def model_path(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """The weights of shipped model ``name`` (a restorer: its folder); a clear error when absent."""
    spec = get_spec(name)
    for m in list_models(spec.task, weights_dir):
        if m["name"] == name:
            return m["path"]
    raise LessonsError(f"the shipped model {name!r} is not in {WEIGHTS_DIR}: reinstall the package, or "
                       f"retrain it with `{spec.command}`")


def default_model(task: str) -> str:
    """The name of the default shipped model of ``task`` ("colorization" or "restoration")."""
    names = [s.name for s in SPECS.values() if s.task == task and s.default]
    if not names:
        raise LessonsError(f"no shipped model for task {task!r}; tasks: colorization, restoration")
    return names[0]


def resolve_model(task: str, model: str | None = None, weights: str | os.PathLike | None = None) -> Path:
    """What a command or the demo loads: ``weights`` when given, else shipped model
    ``model``, else the task's default. An unknown name says which ones exist."""
    if weights is not None and model is not None:
        raise LessonsError("give either --weights (your own run) or --model (a shipped model), not both")
    if weights is not None:
        return Path(weights)
    name = model if model is not None else default_model(task)
    if name not in SPECS or SPECS[name].task != task:
        names = [s.name for s in SPECS.values() if s.task == task]
        raise LessonsError(f"unknown {task} model {name!r}; the shipped ones are: {', '.join(names)} "
                           "(`lessons models` lists them)")
    return model_path(name)


def _headline(m: dict[str, Any]) -> str:
    shipped = m["card"].get("shipped") or {}
    parts = []
    for source, rep in (shipped.get("metrics_heldout") or {}).items():
        if not isinstance(rep, dict):
            parts.append(f"{source}: n/a")
            continue
        if m["task"] == "colorization":
            mod, gray = rep["model"], rep["gray_input"]
            parts.append(f"{source} {rep.get('split', 'val')} PSNR {mod['psnr']:.2f} (gray {gray['psnr']:.2f}), "
                         f"AuC {mod['auc']:.3f}, "
                         f"colorfulness {mod['colorfulness']:.1f}")
        else:
            parts.append(f"{source} val PSNR " + ", ".join(f"{k} {rep[k]['psnr']:.2f}" for k in
                                                           ("blurred", "x_R", "x_G", "x_hat") if k in rep))
    if m["task"] == "restoration" and m["card"].get("default_output"):
        parts.append(f"returns {m['card']['default_output_why']}")
    div = shipped.get("diversity_samples")
    if div:
        parts.append(f"{div['seeds']} seeds' colourings {div['mean_pairwise_ab']:.2f} Lab units apart "
                     f"(bundled photos)")
    return "; ".join(parts) if parts else "no metrics in its card"


def format_models(weights_dir: str | os.PathLike | None = None) -> str:
    """The table ``lessons models`` prints."""
    models = list_models(weights_dir=weights_dir)
    if not models:
        return f"no shipped models in {weights_dir or WEIGHTS_DIR}; train them with `lessons models train NAME`"
    lines = []
    for m in models:
        card = m["card"]
        size = sum(f.stat().st_size for f in ([m["path"]] if m["path"].is_file() else m["path"].glob("*.safetensors")))
        train = (card.get("shipped") or {}).get("training") or {}
        steps = train.get("steps")
        if steps is None and m["task"] == "restoration":
            steps = "+".join(str((train.get(s) or {}).get("steps")) for s in SPECS[m["name"]].stages)
        mark = " (default)" if m["default"] else ""
        lines.append(f"{m['name']}{mark}  [{m['task']}]  {size / 2**20:.1f} MB, {steps} steps")
        lines.append(f"    {m['description']}")
        lines.append(f"    {_headline(m)}")
        if m["default"] and SPECS[m["name"]].why:
            lines.append(f"    the default: {SPECS[m['name']].why}")
        lines.append(f"    retrain: {SPECS[m['name']].command}")
    return "\n".join(lines)
