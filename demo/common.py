"""What every tab of the demo shares: the models, the limits, reading an upload, writing a
result, the error guard and the upload box.

* :class:`DemoModels` - the shipped models, each pipeline created once and shared;
* :func:`load_upload` - an uploaded file through the kit's one safe loader
  (:func:`lessons_lib.data.load_image`) with the demo's limits; :class:`Upload` and
  :func:`photo_input` - the upload box that hands the file over unopened, with the bundled
  examples under it;
* :func:`guard` - every request runs through it: a clear message instead of a traceback;
  :func:`as_files` - the result images written to files of their own;
* the small measures two tabs share (:func:`to_tensor`, :func:`small`, :func:`scores`,
  :func:`fmt`) and the hint colours the hints and video tabs share (:func:`new_hint`).

The tabs (:mod:`demo.colorize_tab`, :mod:`demo.hints_tab`, :mod:`demo.restore_tab`,
:mod:`demo.video_tab`) build on this module; :mod:`demo.app` puts them on one page.
"""
from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr
import numpy as np
import torch
from PIL import Image

from lessons_lib import LessonsError, zoo
from lessons_lib.color.classes import PAPER_TEMPERATURE
from lessons_lib.colorization import Colorizer
from lessons_lib.data import load_image, sample_files
from lessons_lib.data.hints import parse_colour
from lessons_lib.inference import MAX_PIXELS, save_image
from lessons_lib.metrics import psnr, ssim
from lessons_lib.restoration import Restorer

__all__ = [
    "MAX_SIDE",
    "MAX_UPLOAD_PIXELS",
    "MAX_FULL_DECODE_PIXELS",
    "MAX_FILE_SIZE",
    "METRICS_MAX_SIDE",
    "DEFAULT_TEMPERATURE",
    "PEAK_GB",
    "CACHE_MAX_AGE_S",
    "COLOUR_EXAMPLES",
    "OUT_DIR",
    "DemoModels",
    "load_upload",
    "Upload",
    "photo_input",
    "guard",
    "attempt",
    "as_files",
    "heldout",
    "new_hint",
    "hex_colour",
    "to_tensor",
    "small",
    "scores",
    "fmt",
]

log = logging.getLogger("demo")

#: Long side (px) above which a photo is shrunk before colorizing (4.2 Mpx at most).
MAX_SIDE = 2048
#: Largest upload (pixels, from the file's header) the demo decodes at all: the pipelines' limit.
MAX_UPLOAD_PIXELS = MAX_PIXELS
#: Largest upload (pixels) of a kind that must be converted at full size (16-bit, palette,
#: CMYK TIFF, animated...: up to ~30 bytes per pixel in :func:`lessons_lib.data.load_image`);
#: 8-bit RGB / gray (+ alpha) and JPEG are shrunk while decoding, up to :data:`MAX_UPLOAD_PIXELS`.
MAX_FULL_DECODE_PIXELS = 40_000_000
#: Largest upload file Gradio accepts (``launch(max_file_size=...)``).
MAX_FILE_SIZE = "200mb"
#: The metrics against an original's colours are computed on copies of at most this long side.
METRICS_MAX_SIDE = 512
#: the temperature slider's value for a colour-class model whose card names none (Zhang et al.'s)
DEFAULT_TEMPERATURE = PAPER_TEMPERATURE
#: Measured peak memory of one request above the idle server, GB (:mod:`demo.app`'s docstring).
PEAK_GB = 1.2
#: Result files older than this are deleted from Gradio's cache (checked as often).
CACHE_MAX_AGE_S = 3600

#: The bundled photos (lessons_lib.data.sources "samples") offered as examples to colorize.
COLOUR_EXAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "flower", "china")
#: Where result files (a photo's PNG, a clip's MP4) are written before Gradio copies them.
OUT_DIR = Path(tempfile.gettempdir()) / "gan-lessons-demo"


# =========================================================================== models
class DemoModels:
    """The shipped models the page offers, each pipeline created once and shared by all requests.

    Args:
        device: where the networks run (``"auto"``: cuda, then mps, then cpu).
        weights_dir: the folder of shipped weights (default :data:`lessons_lib.zoo.WEIGHTS_DIR`).

    The catalogue (names, cards) is read at construction, without loading any weights; a
    pipeline loads its network on its first call (lazily, under its own lock).
    """

    def __init__(self, device: str = "auto", weights_dir: str | Path | None = None) -> None:
        self.device = device
        self.weights_dir = weights_dir
        self.colour_models: list[dict[str, Any]] = zoo.list_models("colorization", weights_dir)
        restorers = zoo.list_models("restoration", weights_dir)
        default = zoo.default_model("restoration")
        self.restorer_model: dict[str, Any] | None = next(
            (m for m in restorers if m["name"] == default), restorers[0] if restorers else None)
        names = [m["name"] for m in self.colour_models]
        wanted = zoo.default_model("colorization")
        self.default_colour_model: str | None = wanted if wanted in names else (names[0] if names else None)
        self._lock = threading.Lock()
        self._pipes: dict[str, Any] = {}

    def _get(self, key: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._pipes:
                self._pipes[key] = make()
            return self._pipes[key]

    def colour_model(self, name: str) -> dict[str, Any]:
        """The catalogue entry of shipped colorizer ``name`` (a clear error for another name)."""
        for m in self.colour_models:
            if m["name"] == name:
                return m
        if not self.colour_models:
            raise LessonsError("no colorization model is installed: reinstall the package "
                               "(pip install -e .) or train one with `lessons models train colorgan`")
        raise LessonsError(f"unknown model {name!r}; choose one of: "
                           f"{', '.join(m['name'] for m in self.colour_models)}")

    def colorizer(self, name: str | None) -> Colorizer:
        """The :class:`~lessons_lib.colorization.Colorizer` of shipped model ``name`` (None: the default)."""
        m = self.colour_model(name or self.default_colour_model or "")
        return self._get("colorization:" + m["name"], lambda: Colorizer(m["path"], device=self.device))

    @property
    def hint_model_name(self) -> str:
        """The shipped model the hints tab uses (:data:`lessons_lib.zoo.HINT_MODEL`)."""
        return zoo.HINT_MODEL

    def hint_colorizer(self) -> Colorizer:
        """The shipped hint model's :class:`~lessons_lib.colorization.Colorizer`."""
        if not any(m["name"] == self.hint_model_name for m in self.colour_models):
            raise LessonsError(f"the hint model ({self.hint_model_name}) is not installed: reinstall the package "
                               f"(pip install -e .) or train it with `lessons models train {self.hint_model_name}`")
        return self.colorizer(self.hint_model_name)

    def has_noise(self, name: str) -> bool:
        """True when model ``name`` takes a noise input (its card's ``g_noise``; no weights loaded)."""
        return bool(self.colour_model(name)["card"].get("g_noise", False))

    def temperature(self, name: str) -> float | None:
        """A colour-class model's default temperature (its card's; no weights loaded), None for another model."""
        card = self.colour_model(name)["card"]
        if card.get("head") != "classes":
            return None
        return float((card.get("classes") or {}).get("temperature", DEFAULT_TEMPERATURE))

    def correction(self, name: str) -> float | None:
        """A colour-class model's default prior correction (its card's), None for another model."""
        card = self.colour_model(name)["card"]
        if card.get("head") != "classes":
            return None
        return float((card.get("classes") or {}).get("correction", 0.0))

    def restorer(self) -> Restorer:
        """The shipped :class:`~lessons_lib.restoration.Restorer`."""
        m = self.restorer_model
        if m is None:
            raise LessonsError("no restorer is installed: reinstall the package (pip install -e .) or train one "
                               "with `lessons models train restorer`")
        return self._get("restoration:" + m["name"], lambda: Restorer(m["path"], device=self.device))

    def kernel_bank_params(self) -> dict[str, Any]:
        """The restorer's kernel bank, from its card: ``{"n", "size", "seed", "noise_std"}``."""
        card = self.restorer_model["card"] if self.restorer_model is not None else {}
        bank = dict(card.get("kernel_bank") or {})
        bank.setdefault("n", 1000)
        bank.setdefault("seed", 0)
        bank["noise_std"] = float(bank.get("noise_std", 0.0))
        return bank


def heldout(card: dict[str, Any]) -> dict[str, Any]:
    """A model card's held-out metrics, per data source (empty when it has none)."""
    return (card.get("shipped") or {}).get("metrics_heldout") or {}


# =========================================================================== images in
def load_upload(path: Any, *, max_side: int = MAX_SIDE, max_pixels: int = MAX_UPLOAD_PIXELS,
                max_full_pixels: int = MAX_FULL_DECODE_PIXELS) -> tuple[Image.Image, list[str]]:
    """An uploaded file -> ``(RGB PIL image of at most max_side px a side, notes for the status)``.

    The kit's one safe loader, :func:`lessons_lib.data.load_image`, with the demo's limits: the
    pixel count read from the header first (more than ``max_pixels``: a clear
    :class:`~lessons_lib.LessonsError`, nothing decoded), large images shrunk while decoding,
    16-bit / palette / CMYK / multi-frame files (converted at full size) accepted up to
    ``max_full_pixels``, EXIF rotation, alpha on white; the notes say what was changed.
    """
    if path is None or (isinstance(path, str) and not path.strip()):
        raise LessonsError("no image: upload a photo (or click one of the examples) first")
    name = Path(str(path)).name
    notes: list[str] = []
    try:
        img = load_image(path, max_pixels=max_pixels, name=name, max_side=max_side,
                         max_full_pixels=max_full_pixels, notes=notes, owner="this demo")
    except LessonsError as e:  # name the file as the user knows it, not Gradio's temporary path
        raise LessonsError(str(e).replace(str(path), name)) from None
    return img, notes


class Upload(gr.Image):
    """``gr.Image`` whose upload reaches the handler as the file's path, unopened.

    ``gr.Image`` opens every upload with Pillow before the handler runs, even with
    ``type="filepath"``: a corrupt file would then fail inside Gradio with a bare "Error".
    Here :func:`load_upload` opens it and says what is wrong. The browser shows it with
    ``gr.Image``'s own front end (``is_template``)."""

    is_template = True

    def preprocess(self, payload: Any) -> str | None:
        if payload is None:
            return None
        if getattr(payload, "path", None):
            return str(payload.path)
        return super().preprocess(payload)  # a data: URL (pasted image): Gradio decodes it


def _examples(labels: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """The bundled photos (``samples``) with these labels that are on disk."""
    where = {f.stem: str(f) for f in sample_files()}
    found = [lab for lab in labels if lab in where]
    return [[where[lab]] for lab in found], found


def photo_input(label: str, elem_id: str, examples: Sequence[str], examples_label: str) -> gr.Image:
    """An upload box (the file reaches the handler unopened) and the bundled examples under it."""
    box = Upload(type="filepath", image_mode=None, sources=["upload", "clipboard"], label=label,
                 elem_id=elem_id, height=300)
    ex, ex_labels = _examples(examples)
    if ex:
        gr.Examples(ex, inputs=[box], example_labels=ex_labels, label=examples_label)
    return box


# =========================================================================== measures
def to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL -> (1, 3, H, W) float in [0, 1] (a fresh, writable array: any size, 1x1 too)."""
    a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0        # (H, W, 3), a new array
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def small(img: Image.Image, side: int = METRICS_MAX_SIDE) -> Image.Image:
    """A copy of at most ``side`` px on the long side (bicubic, antialiased), or the image itself."""
    W, H = img.size
    if max(W, H) <= side:
        return img
    s = side / max(W, H)
    return img.resize((max(1, round(W * s)), max(1, round(H * s))), Image.Resampling.BICUBIC, reducing_gap=3.0)


def fmt(v: float, spec: str) -> str:
    """A score for a table: formatted with ``spec``, "inf" for an infinite PSNR, a note as it is."""
    if isinstance(v, str):
        return v
    return "inf" if math.isinf(v) else format(v, spec)


def scores(pred: Image.Image, target: Image.Image) -> dict[str, Any]:
    """PSNR (dB) and SSIM of two equal-size images; SSIM needs 11 px a side (else "n/a")."""
    p, t = to_tensor(pred), to_tensor(target)
    out: dict[str, Any] = {"psnr": float(psnr(p, t))}
    out["ssim"] = float(ssim(p, t)) if min(p.shape[-2:]) >= 11 else "n/a (under 11 px)"
    return out


# =========================================================================== hint colours
def hex_colour(rgb: Sequence[int]) -> str:
    """``(r, g, b)`` 0-255 -> ``"#rrggbb"``, the form the hints are shown and sent in."""
    return "#{:02x}{:02x}{:02x}".format(*rgb[:3])


def new_hint(x: float, y: float, colour: Any) -> dict[str, Any]:
    """A hint at pixel (x, y) (rounded to whole pixels) of ``colour`` (``#rrggbb`` or a CSS name)."""
    return {"x": round(float(x)), "y": round(float(y)), "color": hex_colour(parse_colour(colour))}


# =========================================================================== result files
_last_sweep = [0.0]


def _to_file(img: Image.Image) -> str:
    """Write one result image to a file of its own and return its path.

    Gradio caches a returned PIL image under a name made from its *content*, rewriting the
    file in place: two requests that produce the same image at the same moment (a class
    clicking the same example) then race on one file, and a client can download it half
    written (seen in benchmarks/bench_demo_load.py). A file per result, with a unique name,
    is copied into Gradio's cache instead. PNG at zlib level 1: lossless, ~4x faster to
    write than the default level. Files older than the cache's age are swept now and then."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="result-", suffix=".png", dir=OUT_DIR)
    with os.fdopen(fd, "wb") as f:
        save_image(img, f, format="PNG", compress_level=1)   # a model's output keeps its provenance note
    now = time.time()
    if now - _last_sweep[0] > 600:
        _last_sweep[0] = now
        for old in OUT_DIR.glob("result-*.png"):
            try:
                if now - old.stat().st_mtime > CACHE_MAX_AGE_S:
                    old.unlink()
            except OSError:
                pass
    return path


def as_files(value: Any) -> Any:
    """PIL images in a handler's outputs (alone, in slider pairs, in gallery lists) -> paths."""
    if isinstance(value, Image.Image):
        return _to_file(value)
    if isinstance(value, tuple):
        return tuple(as_files(v) for v in value)
    if isinstance(value, list):
        return [as_files(v) for v in value]
    return value


# =========================================================================== errors
def attempt(fn: Callable[[], Any], what: str = "a demo request") -> tuple[Any, str | None]:
    """Run a request: ``(its outputs with images as files, None)``, or ``(None, message)`` on failure.

    A :class:`LessonsError` (the user's input) is the message as it is; anything else is
    logged with its traceback and the message says only that something went wrong. Either
    way the message is also shown as a warning toast, and the server keeps serving.
    """
    try:
        return as_files(fn()), None
    except LessonsError as e:
        msg = str(e)
        log.info("refused %s: %s", what, msg)
    except MemoryError:
        log.exception("out of memory in %s", what)
        msg = (f"the server ran out of memory on this photo; try a smaller one (at most "
               f"{MAX_SIDE} px on the long side is used anyway)")
    except Exception as e:  # noqa: BLE001 - the server must keep serving
        log.exception("unexpected error in %s", what)
        msg = (f"something went wrong on the server ({type(e).__name__}); it has been logged. "
               "Try again, or with another image")
    gr.Warning(msg)
    return None, msg


def guard(fn: Callable[[], tuple], n_outputs: int) -> tuple:
    """Run a request; on failure return ``n_outputs`` empty outputs and a status message
    (:func:`attempt`: the user's mistake as it is, anything else logged and named generically)."""
    out, msg = attempt(fn)
    if msg is None:
        return out
    return (None,) * n_outputs + (f"**Could not do that:** {msg}",)
