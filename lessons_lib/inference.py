"""What the two pipelines share: the size limit of an input photo, finding a model's
weights, the lazy, thread-safe loading of a model onto its device, and the provenance note
every image a model makes carries (:func:`save_image` writes it into a PNG's text chunks)."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from . import LessonsError, __version__
from .checkpoints import load_model, read_card, resolve_checkpoint
from .data import load_image
from .device import resolve_device

__all__ = ["MAX_PIXELS", "REDUCING_GAP", "RUN_HINT", "resolve_weights", "Pipeline", "PROVENANCE_KEYS",
           "provenance_of", "save_image"]


#: Largest image (pixels) the pipelines accept: 120 Mpx covers a 12000 x 9000 scan; its
#: decoded input and output take about 8 bytes per pixel (~1 GB at this limit).
MAX_PIXELS = 120_000_000
# Pillow's reducing_gap: shrink by an integer factor with a box filter first, then resample
# exactly (fast on big photos, and per Pillow's docs indistinguishable at 3.0).
REDUCING_GAP = 3.0

RUN_HINT = "train one with `lessons train pix2pix --out {path}` or pass --weights"


#: The PNG text keys of the note an image made by a model carries (issue 23: a colorized or
#: restored photo is a model's guess, and says so in its file): ``Description`` says
#: "colorized by a model" or "restored by a model", ``Model`` the model, ``Version`` the
#: kit's version and the weights' identity, ``Software`` the kit.
PROVENANCE_KEYS = ("Description", "Model", "Version", "Software")


def provenance_of(image: Any) -> dict[str, str]:
    """The provenance note of an image (a PIL image's ``info``, or a file read back): the
    :data:`PROVENANCE_KEYS` it has."""
    info = getattr(image, "info", None)
    if info is None:
        from PIL import Image

        with Image.open(image) as im:
            im.load()
            info = dict(im.info)
            info.update(getattr(im, "text", {}) or {})
    return {k: str(info[k]) for k in PROVENANCE_KEYS if k in info}


def save_image(image: Any, path: str | os.PathLike, **params: Any) -> None:
    """Save a PIL image; a PNG keeps its provenance note as tEXt chunks (Pillow does not write
    ``info`` by itself), a JPEG or WebP carries it as a comment / EXIF ImageDescription."""
    from PIL import PngImagePlugin

    note = provenance_of(image)
    fmt = (params.get("format") or Path(str(path)).suffix.lstrip(".")).lower()
    if note and fmt == "png":
        info = PngImagePlugin.PngInfo()
        for k, v in note.items():
            info.add_text(k, v)
        params["pnginfo"] = info
    elif note and fmt in ("jpg", "jpeg", "webp", "tif", "tiff"):
        exif = image.getexif()
        exif[0x010E] = note.get("Description", "")                 # ImageDescription
        exif[0x0131] = note.get("Software", "")                    # Software
        params["exif"] = exif.tobytes()
        if fmt in ("jpg", "jpeg"):
            params["comment"] = "; ".join(f"{k}: {v}" for k, v in note.items())
    image.save(path, **params)


# =========================================================================== weights
def resolve_weights(weights: str | os.PathLike) -> Path:
    """The ``.safetensors`` file of a run folder, a ``.safetensors``, its ``.json`` card or
    their common stem (:func:`lessons_lib.checkpoints.resolve_checkpoint`), with the
    message a user needs when there is no model there at all."""

    p = Path(weights).expanduser()
    stem = p.with_suffix("") if p.suffix.lower() in (".safetensors", ".json") else p
    if not (p.exists() or stem.with_name(stem.name + ".safetensors").exists()):
        raise LessonsError(f"no model at {p}: " + RUN_HINT.format(path=stem))
    if p.is_dir() and not any(p.glob("*.safetensors")):
        raise LessonsError(f"no model at {p}: the folder holds no model.safetensors; " + RUN_HINT.format(path=p))
    return resolve_checkpoint(p)


class Pipeline:
    """What every inference pipeline shares: the weights, the device, lazy loading, images in.

    Subclasses set ``task`` (the model card's ``"task"``) and implement ``__call__``.
    """

    #: the card's "task" this pipeline serves
    task: ClassVar[str] = ""
    #: the command for each task, for the "wrong model" message
    _COMMANDS: ClassVar[dict[str, str]] = {"colorization": "lessons colorize", "restoration": "lessons restore"}

    def __init__(self, weights: str | os.PathLike, device: str | torch.device = "auto", *,
                 max_pixels: int = MAX_PIXELS) -> None:
        self.weights = Path(weights).expanduser()
        self._st_path = self._locate(self.weights)  # cheap: stat only, nothing loaded
        self._device_name = device
        self.max_pixels = int(max_pixels)
        self._card: dict[str, Any] | None = None
        self._model: nn.Module | None = None
        self._device: torch.device | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.weights)!r}, device={str(self._device_name)!r})"

    def _locate(self, weights: Path) -> Path:
        """The file the weights are read from (a subclass may read another layout)."""
        return resolve_weights(weights)

    # ------------------------------------------------------------------ lazy parts
    @property
    def card(self) -> dict[str, Any]:
        """The model card (plain JSON dict), read on first access; checked for the task."""
        if self._card is None:

            card = read_card(self._st_path)
            got = card.get("task")
            if got != self.task:
                cmd = self._COMMANDS.get(str(got))
                kind = f"{got} model" if isinstance(got, str) else "model without a task in its card"
                hint = f"; use `{cmd}`" if cmd else f"; pass the weights of a {self.task} model"
                raise LessonsError(f"{self.weights} holds a {kind}, not a {self.task} model{hint}")
            self._card = card
        return self._card

    @property
    def device(self) -> torch.device:
        """The device the model runs on (``"auto"``: cuda, then mps, then cpu)."""
        if self._device is None:

            self._device = resolve_device(str(self._device_name))
        return self._device

    @property
    def model(self) -> nn.Module:
        """The network, loaded on first use (thread-safe), in eval mode on :attr:`device`."""
        if self._model is None:
            with self._lock:
                if self._model is None:

                    self.card  # the task check comes before loading any weights  # noqa: B018
                    model, _ = load_model(self._st_path, device=self.device)
                    # eval mode: BatchNorm's running statistics and no dropout, so that one
                    # image always gives one result (pix2pix keeps dropout on at test time
                    # as its only noise; a pipeline wants reproducible output).
                    self._model = model.float().eval().requires_grad_(False)
        return self._model

    def load(self) -> Pipeline:
        """Load the model now (otherwise the first call does); returns self."""
        self.model  # noqa: B018
        return self

    # ------------------------------------------------------------------ images
    #: what the note of an output says the model did ("colorized", "restored")
    verb: ClassVar[str] = "made"

    def provenance(self, detail: str = "") -> dict[str, str]:
        """The note an output image carries (:data:`PROVENANCE_KEYS`): which model, which
        version (the kit's, and the weights' creation date and SHA-256 when the card has them)."""
        card = self.card
        name = str(card.get("name") or Path(self.weights).stem)
        parts = [f"gan-lessons {card.get('package_version', __version__)}"]
        if card.get("created"):
            parts.append(f"created {card['created']}")
        if card.get("sha256"):
            parts.append(f"weights sha256 {str(card['sha256'])[:16]}")
        if card.get("steps"):
            parts.append(f"{card['steps']} steps")
        model = name + (f" ({detail})" if detail else "")
        return {"Description": f"{self.verb} by a model: {model}. A generated image, a model's guess, "
                               "not a record of the original.",
                "Model": model, "Version": "; ".join(parts), "Software": f"gan-lessons {__version__} (lessons_lib)"}

    def _mark(self, image: Any, detail: str = "") -> Any:
        """``image`` (a PIL image) with its provenance note in ``info`` (see :func:`save_image`)."""
        image.info.update(self.provenance(detail))
        return image

    def _open(self, image: Any):
        """Any image-like input -> 8-bit RGB PIL image (see :func:`lessons_lib.data.load_image`)."""

        return load_image(image, max_pixels=self.max_pixels)
