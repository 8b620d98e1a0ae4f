"""The shipped models' table and lookup: each :class:`ShippedSpec` (how the model is trained
and scored), and where its weights are (:func:`model_path`, :func:`resolve_model`,
:func:`list_models`, :func:`format_models`). Nothing here trains or scores.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import LessonsError
from ..colorization.confine import Confinement
from ..restoration.bundle import BUNDLE_CARD


#: The shipped model ``lessons colorize --hint`` and the demo's hints use (Zhang, Zhu et al. 2017)
HINT_MODEL = "hints"
#: Where the shipped weights live (installed with the package).
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
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
    #: keys of the card that say how the stored weights are served, not how they were trained
    #: (the hint model's ``"confine"``); :func:`~lessons_lib.zoo.ship` writes them before it
    #: scores, so the card's figures are those of the model as served
    serving: dict[str, Any] = field(default_factory=dict)

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
            # each hint kept on its object by the edge-aware confinement (issue 25, item 4:
            # lessons_lib.colorization.confine; chosen on select-set photos, RESULTS.md)
            serving={"confine": Confinement().to_dict()},
        ),
        ShippedSpec(
            name="classes", task="colorization",
            description="the colour-class colorizer (Zhang, Isola & Efros 2016): nogan_warm's U-Net (32 ch) with a "
                        "head over 247 ab bins, class-rebalanced cross-entropy, annealed-mean decoding at a "
                        "temperature T you can turn; 64 px, scenes8 + flowers5 + imagenet1k (the select set left "
                        "out, which chose its checkpoint, T and prior correction)",
            # the recipe's own settings: 6,000 steps from nogan_warm (RESULTS.md, issue 25)
            stages={"classes": dict(progress=False)},
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


def _card_of(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def list_models(task: str | None = None, weights_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The shipped models on disk, in :data:`SPECS` order: ``{"name", "task", "path",
    "description", "default", "card"}`` each (only those whose files are present)."""
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
