"""Model weights on disk: a safetensors file plus a JSON model card.

``save_model(model, "runs/colorgan")`` writes

* ``runs/colorgan.safetensors``: the state dict (parameters and buffers), with the
  architecture name and its config in the file's own metadata, so that a lone
  ``.safetensors`` file can still be rebuilt;
* ``runs/colorgan.json``: the model card -- what the weights are and how they were made
  (architecture, config, package version, date, parameter count, the sha256 of the weights
  file, and whatever the caller adds: recipe, data, size, steps, metrics, command, hardware).

``load_model(path)`` rebuilds the architecture with :func:`lessons_lib.models.build_model`
and loads the tensors with strict key and shape checks. Loading never unpickles: safetensors
is a JSON header and raw tensor bytes, the card is JSON, and nothing here calls
``torch.load`` or ``pickle`` (a pickled ``.pt`` file renamed ``.safetensors`` is refused).
Every failure a user can cause (missing or corrupt file, weights of another architecture)
raises :class:`lessons_lib.LessonsError` with what to do.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn

from . import LessonsError, __version__

__all__ = ["FORMAT", "save_model", "load_model", "read_card", "write_card", "resolve_checkpoint", "select_eval", "choose_by_rule"]

#: The ``format`` field of every card (and of the safetensors metadata) this module writes.
FORMAT = "gan-lessons/1"

_WEIGHTS = ".safetensors"
_CARD = ".json"
_SHOW = 5  # how many offending keys an error message lists


# --------------------------------------------------------------------------- paths
def _pair_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """PATH, PATH.safetensors or PATH.json -> (PATH.safetensors, PATH.json)."""
    p = Path(path)
    if p.suffix in (_WEIGHTS, _CARD):
        p = p.with_suffix("")
    return p.with_name(p.name + _WEIGHTS), p.with_name(p.name + _CARD)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """The ``.safetensors`` file meant by ``path``.

    ``path`` may be the weights file, its ``.json`` card, the common stem of both, or a
    directory holding a ``model.safetensors`` or exactly one ``.safetensors`` file.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        if (p / f"model{_WEIGHTS}").is_file():
            return p / f"model{_WEIGHTS}"
        found = sorted(p.glob(f"*{_WEIGHTS}"))
        if len(found) == 1:
            return found[0]
        if not found:
            raise LessonsError(f"no {_WEIGHTS} checkpoint in the folder {p}; give the path of a weights file")
        names = ", ".join(f.name for f in found[:_SHOW]) + (", ..." if len(found) > _SHOW else "")
        raise LessonsError(f"the folder {p} holds {len(found)} checkpoints ({names}); name the one to load")
    weights, _ = _pair_paths(p)
    if weights.is_file():
        return weights
    raise LessonsError(
        f"no checkpoint at {p} (looked for {weights}); check the path, or train/download the weights first"
    )


# --------------------------------------------------------------------------- save
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(target: Path, write) -> None:
    """``write(tmp_path)`` then rename over ``target``: readers never see half a file, and a
    failed save leaves the previous file as it was."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp creates the file 0600; give it the mode a plain open() would (0666 - umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(
    model: nn.Module,
    path: str | os.PathLike,
    card: dict | None = None,
    *,
    half: bool = False,
) -> Path:
    """Write ``PATH.safetensors`` (state dict, buffers included) and ``PATH.json`` (card).

    Args:
        model: a model built by :func:`lessons_lib.models.build_model` (it carries
            ``model.arch`` and ``model.config``).
        path: the stem; a ``.safetensors`` or ``.json`` suffix is accepted and replaced.
        card: extra plain-JSON fields kept in the card (``recipe``, ``data``, ``size``,
            ``steps``, ``metrics``, ``command``, ``hardware``, ...). The fields ``arch``,
            ``config``, ``package_version``, ``created``, ``format``, ``n_parameters``,
            ``dtype``, ``weights`` and ``sha256`` are always set by this function.
        half: store floating-point tensors as float16 (half the size; ~3 significant
            digits, plenty for inference). Integer buffers keep their type.
    Returns:
        The path of the ``.safetensors`` file. Both files are written atomically.
    """
    from safetensors.torch import save_file

    if not isinstance(model, nn.Module):
        raise TypeError(f"save_model takes an nn.Module, got {type(model).__name__}")
    arch, config = getattr(model, "arch", None), getattr(model, "config", None)
    if not isinstance(arch, str) or not isinstance(config, dict):
        raise LessonsError(
            f"this {type(model).__name__} has no arch/config: build it with "
            "lessons_lib.models.build_model(arch, **config) so that the checkpoint can rebuild it"
        )
    try:
        config_json = json.dumps(config, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model.config must be plain JSON (ints, floats, strings, bools, lists): {e}") from None
    weights_path = _pair_paths(path)[0]
    if not weights_path.parent.is_dir():
        raise LessonsError(f"the folder {weights_path.parent} does not exist; create it first")

    tensors = {}
    for name, t in model.state_dict().items():
        t = t.detach().to("cpu")
        if half and t.is_floating_point():
            t = t.to(torch.float16)
        # clone(): safetensors refuses tensors that share memory (tied weights, views).
        tensors[name] = t.contiguous().clone()
    dtype = "float16" if half else _dominant_dtype(tensors)

    full_card = dict(card or {})
    full_card.update(
        arch=arch,
        config=config,
        package_version=__version__,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        format=FORMAT,
        n_parameters=int(sum(p.numel() for p in model.parameters())),
        dtype=dtype,
        weights=weights_path.name,
    )
    try:  # refuse a card that is not JSON before anything is written
        json.dumps(full_card)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the model card must be plain JSON: {e}") from None

    metadata = {"format": FORMAT, "arch": arch, "config": config_json, "package_version": __version__}
    _atomic_write(weights_path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    full_card["sha256"] = _sha256(weights_path)
    write_card(weights_path, full_card)
    return weights_path


def _dominant_dtype(tensors: dict[str, torch.Tensor]) -> str:
    floats = [t.dtype for t in tensors.values() if t.is_floating_point()]
    return str(max(set(floats), key=floats.count)).replace("torch.", "") if floats else "none"


# --------------------------------------------------------------------------- load
def _read_header(weights: Path) -> dict[str, str]:
    """The safetensors metadata, or a LessonsError for anything that is not such a file."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt", device="cpu") as f:
            return dict(f.metadata() or {})
    except Exception as e:  # noqa: BLE001 - every parse failure means a bad file
        raise LessonsError(
            f"{weights} is not a valid safetensors file (corrupt, truncated, or another format "
            f"such as a pickled .pt renamed): {e}. Re-download or re-save the checkpoint."
        ) from None


def _read_json_card(card_path: Path) -> dict | None:
    if not card_path.is_file():
        return None
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LessonsError(f"the model card {card_path} is not valid JSON ({e}); fix or delete it") from None
    if not isinstance(card, dict):
        raise LessonsError(f"the model card {card_path} must hold a JSON object, not {type(card).__name__}")
    return card


def _card_from_header(weights: Path, header: dict[str, str]) -> dict:
    card: dict = {k: v for k, v in header.items() if k != "config"}
    if "config" in header:
        try:
            card["config"] = json.loads(header["config"])
        except json.JSONDecodeError:
            raise LessonsError(f"{weights}: the config in its metadata is not valid JSON; re-save the checkpoint") from None
    card.setdefault("weights", weights.name)
    return card


def read_card(path: str | os.PathLike) -> dict:
    """The model card of a checkpoint: its ``.json`` file, or, for a lone ``.safetensors``
    file, what its metadata holds (arch, config, format, package_version)."""
    weights = resolve_checkpoint(path)
    header = _read_header(weights)
    card = _read_json_card(_pair_paths(weights)[1])
    return card if card is not None else _card_from_header(weights, header)


def write_card(path: str | os.PathLike, card: dict) -> Path:
    """Write ``card`` as the JSON card beside the weights ``path`` (atomically); returns its path.
    The weights and their sha256 are not touched: for metrics added after saving."""
    card_path = _pair_paths(path)[1]
    text = json.dumps(card, indent=2) + "\n"
    _atomic_write(card_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return card_path


def load_model(
    path: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    expect_arch: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[nn.Module, dict]:
    """Rebuild a saved model and load its weights; returns ``(model, card)``.

    The model is rebuilt with ``build_model(card["arch"], **card["config"])`` (the file's
    own metadata when there is no card), loaded with strict key and shape checks, cast to
    ``dtype`` (floating-point tensors only), moved to ``device`` and put in eval mode.

    Raises:
        LessonsError: missing or corrupt file; ``expect_arch`` given and different
            ("this checkpoint holds a 'patchgan', expected 'unet'"); unknown architecture;
            missing or unexpected keys or shape mismatches (the first few are listed).
    Warns:
        UserWarning when the card's sha256 does not match the weights file.
    """
    from safetensors.torch import load_file

    from .models import build_model

    weights = resolve_checkpoint(path)
    header = _read_header(weights)
    json_card = _read_json_card(_pair_paths(weights)[1])
    from_header = _card_from_header(weights, header)
    card = json_card if json_card is not None else from_header

    if json_card is not None and "sha256" in json_card and json_card["sha256"] != _sha256(weights):
        warnings.warn(
            f"{weights} does not match the sha256 in its card: the weights were changed after "
            "saving, or the card belongs to another file; the weights are loaded anyway",
            UserWarning,
            stacklevel=2,
        )
    arch, config = card.get("arch"), card.get("config", {})
    if "arch" in header and json_card is not None and (json_card.get("arch"), json_card.get("config")) != (
        from_header.get("arch"), from_header.get("config")
    ):
        warnings.warn(
            f"the card of {weights} names {json_card.get('arch')!r} {json_card.get('config')} but the "
            f"weights file {from_header.get('arch')!r} {from_header.get('config')}; using the weights file's",
            UserWarning,
            stacklevel=2,
        )
        arch, config = from_header.get("arch"), from_header.get("config", {})
    if not isinstance(arch, str) or not isinstance(config, dict):
        raise LessonsError(
            f"{weights} does not say which architecture it holds (no arch/config in its card or "
            "metadata); it was not written by lessons_lib.checkpoints.save_model"
        )
    if expect_arch is not None and arch != expect_arch:
        raise LessonsError(f"this checkpoint holds a {arch!r}, expected {expect_arch!r} ({weights})")

    try:
        model = build_model(arch, **config)
    except LessonsError as e:
        raise LessonsError(f"cannot rebuild the model of {weights}: {e}") from None
    try:
        state = load_file(str(weights), device="cpu")
    except Exception as e:  # noqa: BLE001 - truncated data after a valid header, etc.
        raise LessonsError(f"cannot read the tensors of {weights} ({e}); the file is damaged: re-download or re-save it") from None
    _check_state(model, state, weights)

    expected = model.state_dict()
    # Cast each stored tensor to what the model holds (float16 files load into float32).
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    model.to(device=device, dtype=dtype).eval()
    return model, card


def _check_state(model: nn.Module, state: dict[str, torch.Tensor], weights: Path) -> None:
    """Strict key and shape comparison, with a message that lists what differs."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
        if items:
            more = f" (+{len(items) - _SHOW} more)" if len(items) > _SHOW else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:_SHOW])}{more}")
    if problems:
        arch = getattr(model, "arch", type(model).__name__)
        raise LessonsError(
            f"the weights in {weights} do not fit the {arch!r} model built from their config: "
            + "; ".join(problems)
            + ". The file was saved from another version of the model; re-save or re-train it."
        )


# --------------------------------------------------------------------------- choosing among a run's evals
def choose_by_rule(fidelity: Sequence[float], prefer: Sequence[float], tolerance: float) -> int:
    """The index the rule picks from candidates in training order: among those whose
    ``fidelity`` (PSNR) is at least ``max(fidelity) - tolerance``, the one with the largest
    ``prefer`` (colourfulness); of equals, the later one (more training)."""
    if len(fidelity) != len(prefer) or not len(fidelity):
        raise ValueError(f"need one prefer value per fidelity value (got {len(fidelity)} and {len(prefer)}), "
                         "at least one")
    floor = max(fidelity) - tolerance
    allowed = [i for i, f in enumerate(fidelity) if f >= floor]
    return max(allowed, key=lambda i: (prefer[i], i))


def select_eval(run: str | os.PathLike, *, fidelity: str = "psnr", tolerance: float = 0.3,
                prefer: str = "colorfulness") -> dict:
    """Pick one of the models a run exported at its validations (``TrainConfig.keep_evals``:
    ``RUN/evals/step_NNNNNN.safetensors``, each card holding its validation metrics).

    The rule (NoGAN's stopping point, made explicit): among the evals whose ``fidelity``
    metric is within ``tolerance`` of the best one of the run (PSNR: 0.3 dB), the one with
    the largest ``prefer`` metric (colourfulness). A GAN phase trades fidelity for colour;
    the rule buys as much colour as a fixed, stated fidelity loss allows, and never
    chooses an eval only because it came last.

    Returns ``{"path", "step", "rule", fidelity, prefer, "best_" + fidelity, "candidates"}``
    (``candidates``: every eval's step and the two metrics, in step order).
    """
    folder = Path(run) / "evals"
    found = sorted(folder.glob(f"step_*{_WEIGHTS}"))
    if not found:
        raise LessonsError(f"no evals in {folder}: train with keep_evals=True (and eval_every > 0) "
                           "to choose a checkpoint by rule")
    rows = []
    for weights in found:
        card = read_card(weights)
        metrics = card.get("metrics") or {}
        if fidelity not in metrics or prefer not in metrics:
            raise LessonsError(f"{weights}'s card has no {fidelity!r} or {prefer!r} metric "
                               f"(it has {sorted(metrics)}); the rule needs both")
        rows.append({"path": str(weights), "step": int(card.get("steps", 0)),
                     fidelity: float(metrics[fidelity]), prefer: float(metrics[prefer])})
    rows.sort(key=lambda r: r["step"])
    pick = rows[choose_by_rule([r[fidelity] for r in rows], [r[prefer] for r in rows], tolerance)]
    best = max(r[fidelity] for r in rows)
    return {**pick, f"best_{fidelity}": best,
            "rule": f"the largest {prefer} among the evals within {tolerance:g} of the run's best {fidelity}",
            "candidates": [{k: r[k] for k in ("step", fidelity, prefer)} for r in rows]}
