"""The restorer bundle: the networks ``lessons restore`` and :class:`lessons_lib.restoration.Restorer` load.

Inference only: this module imports no training code (no ``lessons_lib.train``, no recipe,
no task), so a user who only restores never loads the trainer.

A bundle is a folder with one card and the four networks, each a safetensors file with its own model
card (the engine's card of the run it came from, so every part says how it was made)::

    BUNDLE/restorer.json            {"format": "gan-lessons-restorer/1", "task": "restoration",
                                     "stage": "bundle", "size": 64, "components": {"nafnet":
                                     "nafnet.safetensors", "encoder": ..., "generator": ...,
                                     "fusion": ...}, "kernel_bank": {...}, "perceptual_features":
                                     ..., "metrics": {...}, "sources": {...}}
    BUNDLE/nafnet.safetensors + .json       NAFNet (stage "nafnet")
    BUNDLE/encoder.safetensors + .json      the inversion encoder   } fine-tuned together in
    BUNDLE/generator.safetensors + .json    the StyleGAN2 generator } stage "inversion"
    BUNDLE/fusion.safetensors + .json       the fusion net (stage "fusion", its best-PSNR weights)

The ``fusion`` recipe writes it at the end of training into ``OUT/restorer`` (through
:meth:`lessons_lib.restoration.recipes.FusionRecipe.after_training`); :func:`export_bundle`
writes one from any runs. A run folder of a single stage works too: ``nafnet`` (x_R only),
``inversion`` (x_R and x_G) or ``fusion`` (everything, the other parts read from the paths
its card records).
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .. import LessonsError
from ..models import build_model

# The inversion pair (E and G as one network) lives with the encoder in
# lessons_lib.models.inversion, so that `load_model` rebuilds an inversion run without this package.
from ..models.inversion import InversionPair
from ..checkpoints import load_model, read_card, save_model
from ..models.layers import check_image_batch

__all__ = [
    "InversionPair",
    "load_stage",
    "export_bundle",
    "read_bundle",
    "RestorerParts",
    "load_restorer_parts",
    "locate_restorer",
    "restorer_card",
    "BUNDLE_FORMAT",
    "BUNDLE_CARD",
    "COMPONENTS",
    "OUTPUTS",
]

#: ``format`` of a restorer bundle's card.
BUNDLE_FORMAT = "gan-lessons-restorer/1"
#: the card's file name inside a bundle folder
BUNDLE_CARD = "restorer.json"
#: the networks of a full restorer, in the order they run
COMPONENTS = ("nafnet", "encoder", "generator", "fusion")
#: what a restorer can output: the blurred input itself, and the three stages' images
OUTPUTS = ("blurred", "x_R", "x_G", "x_hat")


# =========================================================================== loading earlier stages
def _stage_paths(weights: str | os.PathLike) -> tuple[Path, Path]:
    """(PATH.safetensors, PATH.json) of a run folder (its model), a .safetensors or a .json."""
    p = Path(weights).expanduser()
    if p.is_dir():
        p = p / "model.safetensors"
    elif p.suffix == ".json":
        p = p.with_suffix(".safetensors")
    elif p.suffix != ".safetensors":
        p = p.with_name(p.name + ".safetensors")
    return p, p.with_suffix(".json")


def load_stage(weights: str | os.PathLike, arch: str, what: str, *, device: torch.device | str = "cpu",
               fallback: dict[str, Any] | None = None, hint: str = "") -> tuple[nn.Module, dict[str, Any]]:
    """Load an earlier stage's network (``arch``) from a run folder or a weights file.

    Returns ``(model, card)`` in eval mode with gradients off. When the file does not exist
    and ``fallback`` (a config) is given, builds that model *untrained* and warns (smoke runs
    only); otherwise raises a :class:`LessonsError` that says which command makes it.

    A restorer bundle (a folder with ``restorer.json``, e.g. the shipped
    ``lessons_lib/weights/restorer``) serves as a warm start: its NAFNet for ``"nafnet"``,
    its (inversion-tuned) StyleGAN2 generator for ``"stylegan2_g"``, its encoder and
    generator for ``"inversion_pair"``."""
    bundle = Path(weights).expanduser()
    if bundle.is_dir() and (bundle / BUNDLE_CARD).is_file():
        files = {"nafnet": "nafnet", "stylegan2_g": "generator", "inversion_pair": "encoder", "fusion_net": "fusion"}
        if arch not in files:
            raise LessonsError(f"{bundle} is a restorer bundle: it holds a NAFNet, a StyleGAN2 generator, an "
                               f"inversion encoder and a fusion net, not a {arch}")
        parts = load_restorer_parts(bundle, device=device)
        model = {"nafnet": parts.nafnet, "inversion_pair": parts.inversion, "fusion_net": parts.fusion,
                 "stylegan2_g": parts.inversion.generator if parts.inversion is not None else None}[arch]
        folder, card = read_bundle(bundle)
        comp_card = read_card(folder / card["components"][files[arch]])
        return model.eval().requires_grad_(False), comp_card
    st, _ = _stage_paths(weights)
    if not st.is_file():
        if fallback is not None:
            warnings.warn(f"no {what} at {weights}: using an UNTRAINED {arch} instead (smoke run only; for real "
                          f"results {hint or 'train that stage first'})", stacklevel=3)
            model = build_model(arch, **fallback).to(device)
            return model.eval().requires_grad_(False), {"untrained": True, "arch": arch, "config": fallback}
        raise LessonsError(f"no {what} at {weights} (looked for {st}); {hint or 'train that stage first'}")
    model, card = load_model(st, device=device, expect_arch=arch)
    return model.eval().requires_grad_(False), card


# =========================================================================== the restorer's parts
@dataclass
class RestorerParts:
    """The loaded networks of a restorer (what :class:`lessons_lib.restoration.Restorer` runs).

    ``nafnet`` always; ``inversion`` (an :class:`InversionPair`) for x_G; ``fusion`` for
    x_hat. ``card`` is the restorer's card (a bundle's ``restorer.json``, or a run's model
    card), ``size`` the face size the parts were trained at, ``stage`` the last stage."""

    card: dict[str, Any]
    size: int
    nafnet: nn.Module
    inversion: nn.Module | None = None
    fusion: nn.Module | None = None

    @property
    def stage(self) -> str:
        return "fusion" if self.fusion is not None else ("inversion" if self.inversion is not None else "nafnet")

    @property
    def outputs(self) -> tuple[str, ...]:
        """The images this restorer makes, in order (a subset of :data:`OUTPUTS`)."""
        return OUTPUTS[: {"nafnet": 2, "inversion": 3, "fusion": 4}[self.stage]]

    @torch.no_grad()
    def run(self, blurred: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, 3, S, S)`` blurred faces in [0, 1] -> ``{"blurred", "x_R", "x_G", "x_hat"}`` in [0, 1]."""
        check_image_batch(blurred, 3, "the blurred faces")
        out = {"blurred": blurred}
        out["x_R"] = self.nafnet(blurred).clamp(0, 1)
        if self.inversion is not None:
            out["x_G"] = self.inversion(out["x_R"]).clamp(0, 1)
        if self.fusion is not None:
            out["x_hat"] = self.fusion(out["x_R"], out["x_G"]).clamp(0, 1)
        return out


def read_bundle(path: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """``(folder, card)`` of a restorer bundle (its folder or its ``restorer.json``), checked."""
    p = Path(path).expanduser()
    card_path = p / BUNDLE_CARD if p.is_dir() else p
    if not card_path.is_file():
        raise LessonsError(f"no restorer bundle at {p} (no {BUNDLE_CARD})")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LessonsError(f"the restorer card {card_path} is not valid JSON ({e}); write the bundle again "
                           "with lessons_lib.restoration.bundle.export_bundle") from None
    if not isinstance(card, dict) or card.get("format") != BUNDLE_FORMAT:
        raise LessonsError(f"{card_path} is not a restorer bundle card (format {BUNDLE_FORMAT!r} expected)")
    comps = card.get("components")
    missing = [c for c in COMPONENTS if not isinstance(comps, dict) or not isinstance(comps.get(c), str)]
    if missing:
        raise LessonsError(f"the restorer card {card_path} lists no {', '.join(missing)}: a bundle needs "
                           f"{', '.join(COMPONENTS)}; write it again with export_bundle")
    for c in COMPONENTS:
        f = card_path.parent / comps[c]
        if not f.is_file():
            raise LessonsError(f"the restorer bundle {card_path.parent} is incomplete: {comps[c]} ({c}) is missing")
    return card_path.parent, card


def _check_restoration_card(card: dict[str, Any], where: Path) -> None:
    if card.get("task") != "restoration":
        got = card.get("task")
        hint = "; use `lessons colorize`" if got == "colorization" else ""
        kind = f"a {got} model" if isinstance(got, str) else "a model without a task in its card"
        raise LessonsError(f"{where} holds {kind}, not a restorer{hint}: pass a restorer bundle "
                           f"(a folder with {BUNDLE_CARD}) or a nafnet / inversion / fusion run")


def load_restorer_parts(weights: str | os.PathLike, device: torch.device | str = "cpu") -> RestorerParts:
    """Load a restorer from a bundle, or from a ``nafnet`` / ``inversion`` / ``fusion`` run.

    A bundle (a folder with ``restorer.json``) loads its four files. A run loads its own
    network and the earlier stages its card names (``sources``), so ``runs/fusion`` works on
    the machine that trained it; a bundle is self-contained (copy it anywhere).
    """
    p = Path(weights).expanduser()
    if (p.is_dir() and (p / BUNDLE_CARD).is_file()) or p.name == BUNDLE_CARD:
        folder, card = read_bundle(p)
        comps = card["components"]
        nets = {}
        for c, arch in zip(COMPONENTS, ("nafnet", "inversion_encoder", "stylegan2_g", "fusion_net")):
            nets[c], _ = load_model(folder / comps[c], device=device, expect_arch=arch)
        pair = build_model("inversion_pair", generator=dict(nets["generator"].config),
                           encoder=dict(nets["encoder"].config))
        pair.generator.load_state_dict(nets["generator"].state_dict())
        pair.encoder.load_state_dict(nets["encoder"].state_dict())
        parts = RestorerParts(card, int(card.get("size", nets["generator"].size)), nets["nafnet"],
                              pair.to(device), nets["fusion"])
    else:
        st, card_path = _stage_paths(p)
        if not st.is_file():
            raise LessonsError(f"no restorer at {p}: pass a restorer bundle (a folder with {BUNDLE_CARD}, what "
                               "`lessons train fusion` writes into OUT/restorer) or a nafnet / inversion / fusion "
                               "run folder")
        card = read_card(st)
        _check_restoration_card(card, p)
        stage = card.get("stage")
        model, _ = load_model(st, device=device)
        src = card.get("sources") or {}

        def ref(name: str) -> str:
            w = (src.get(name) or {}).get("weights")
            if not w:
                raise LessonsError(f"{p} was trained on an untrained {name} (a smoke run): it is not a restorer; "
                                   "train the stages for real first")
            return w

        if stage == "nafnet":
            parts = RestorerParts(card, int(card["size"]), model)
        elif stage == "inversion":
            nafnet, _ = load_stage(ref("nafnet"), "nafnet", "NAFNet run", device=device)
            parts = RestorerParts(card, int(card["size"]), nafnet, model)
        elif stage == "fusion":
            nafnet, _ = load_stage(ref("nafnet"), "nafnet", "NAFNet run", device=device)
            pair, _ = load_stage(ref("inversion"), "inversion_pair", "inversion run", device=device)
            parts = RestorerParts(card, int(card["size"]), nafnet, pair, model)
        else:
            raise LessonsError(f"{p} is a restoration model of unknown stage {stage!r}; expected nafnet, "
                               "inversion or fusion")
    for m in (parts.nafnet, parts.inversion, parts.fusion):
        if m is not None:
            m.float().eval().requires_grad_(False)
    return parts


def export_bundle(out: str | os.PathLike, *, fusion: str | os.PathLike, nafnet: str | os.PathLike | None = None,
                  inversion: str | os.PathLike | None = None, metrics: dict[str, Any] | None = None,
                  half: bool = False) -> Path:
    """Write a self-contained restorer bundle into the folder ``out``; returns its ``restorer.json``.

    ``fusion`` is a fusion run folder or weights file (e.g. the run's ``best.safetensors``);
    ``nafnet`` and ``inversion`` default to the runs its card records. The encoder and the
    generator are split out of the inversion run's :class:`InversionPair` into their own
    files, each with the inversion run's card (plus ``"component"``). ``half=True`` stores
    every net in float16 (half the size; what the shipped restorer uses).
    """
    out = Path(out).expanduser()
    f_st, _ = _stage_paths(fusion)
    if not f_st.is_file():
        raise LessonsError(f"no fusion weights at {fusion}")
    f_card = read_card(f_st)
    if f_card.get("stage") != "fusion":
        raise LessonsError(f"{fusion} is not a fusion run (stage {f_card.get('stage')!r})")
    src = f_card.get("sources") or {}
    nafnet = nafnet or (src.get("nafnet") or {}).get("weights")
    inversion = inversion or (src.get("inversion") or {}).get("weights")
    if not nafnet or not inversion:
        raise LessonsError(f"{fusion} was trained on untrained earlier stages (a smoke run); pass nafnet= and "
                           "inversion= explicitly, or train the stages for real")
    # an earlier stage may come from a restorer bundle (a warm start from the shipped restorer)
    n_bundle, i_bundle = _bundle_component(nafnet, "nafnet"), _bundle_component(inversion, "encoder")
    n_st = n_bundle or _stage_paths(nafnet)[0]
    i_st = i_bundle or _stage_paths(inversion)[0]
    for what, st in (("NAFNet", n_st), ("inversion", i_st)):
        if not st.is_file():
            raise LessonsError(f"no {what} weights at {st}")
    out.mkdir(parents=True, exist_ok=True)
    if i_bundle is not None:
        pair, _ = load_stage(inversion, "inversion_pair", "inversion run")
        i_card = {k: v for k, v in read_card(i_st).items() if k not in ("component", "weights", "arch", "config")}
    else:
        pair, i_card = load_model(i_st, expect_arch="inversion_pair")
    n_card = read_card(n_st)
    for name, st in (("nafnet", n_st), ("fusion", f_st)):
        comp_card = read_card(st)
        if half:
            net, _ = load_model(st)
            save_model(net, out / name, {**comp_card, "component": name}, half=True)
            continue
        shutil.copyfile(st, out / f"{name}.safetensors")
        comp_card.update(weights=f"{name}.safetensors", component=name)  # the sha256 stays valid: same bytes
        (out / f"{name}.json").write_text(json.dumps(comp_card, indent=2) + "\n", encoding="utf-8")
    for name in ("encoder", "generator"):
        save_model(getattr(pair, name), out / name, {**i_card, "component": name}, half=half)
    card = {
        "format": BUNDLE_FORMAT,
        "task": "restoration",
        "stage": "bundle",
        "size": int(f_card.get("size", pair.generator.size)),
        "data": f_card.get("data"),
        "components": {c: f"{c}.safetensors" for c in COMPONENTS},
        "kernel_bank": f_card.get("kernel_bank"),
        "perceptual_features": f_card.get("perceptual_features"),
        "metrics": metrics if metrics is not None else {
            "nafnet": n_card.get("metrics"), "inversion": i_card.get("metrics"), "fusion": f_card.get("metrics")},
        "steps": {"nafnet": n_card.get("steps"), "inversion": i_card.get("steps"), "fusion": f_card.get("steps")},
        "sources": {"nafnet": str(n_st.resolve()), "inversion": str(i_st.resolve()), "fusion": str(f_st.resolve())},
        "note": ("face restorer: works on aligned face crops like its training data (celeba10k: "
                 f"{int(f_card.get('size', 64))} px, centred, brow to chin); other images are restored "
                 "by NAFNet fine, but x_G and x_hat will look like a face"),
    }
    path = out / BUNDLE_CARD
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def _bundle_component(weights: str | os.PathLike, component: str) -> Path | None:
    """The file of ``component`` when ``weights`` is a restorer bundle, else None."""
    p = Path(weights).expanduser()
    if not (p.is_dir() and (p / BUNDLE_CARD).is_file()):
        return None
    folder, card = read_bundle(p)
    return folder / card["components"][component]


def locate_restorer(weights: str | os.PathLike) -> Path:
    """The file a restorer is read from (cheap: only looks at the disk): a bundle's
    ``restorer.json``, or the ``.safetensors`` of a nafnet / inversion / fusion run.

    Raises a :class:`LessonsError` that says what to pass when there is nothing there."""
    p = Path(weights).expanduser()
    if p.is_dir() and (p / BUNDLE_CARD).is_file():
        return p / BUNDLE_CARD
    if p.name == BUNDLE_CARD and p.is_file():
        return p
    st, _ = _stage_paths(p)
    if st.is_file():
        return st
    if p.is_dir() and (p / "restorer" / BUNDLE_CARD).is_file():
        return p / "restorer" / BUNDLE_CARD  # a fusion run folder that wrote its bundle
    raise LessonsError(
        f"no restorer at {p}: pass a restorer bundle (a folder with {BUNDLE_CARD}; `lessons train fusion` "
        "writes one into OUT/restorer) or a nafnet / inversion / fusion run folder (train them with "
        "`lessons train nafnet`, then stylegan2, inversion and fusion)")


def restorer_card(path: str | os.PathLike) -> dict[str, Any]:
    """The card of what :func:`locate_restorer` found (no weights loaded), checked for the task."""
    p = Path(path)
    if p.name == BUNDLE_CARD:
        return read_bundle(p)[1]
    card = read_card(p)
    _check_restoration_card(card, p)
    return card
