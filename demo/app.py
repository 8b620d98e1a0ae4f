"""The web demo: colorize an old photo, restore a motion-blurred face (Gradio).

::

    lessons demo                          # or: python -m demo  (--host, --port, --share)

    from demo.app import build_app        # the page without a server (what the tests launch)
    app = build_app()
    app.launch(prevent_thread_lock=True)

Three tabs, each a thin layer over :mod:`lessons_lib` (nothing is computed here that the
package does not compute the same way for the command line and the lessons):

**Colorize** -- :class:`lessons_lib.colorization.Colorizer` with one of the shipped models
(:func:`lessons_lib.zoo.list_models`; the dropdown shows each card's held-out PSNR). A photo
that is already in colour is colorized from its lightness alone (the Colorizer never looks
at the input's colours), and the result is then measured against the original colours with
:mod:`lessons_lib.metrics` (PSNR, SSIM, colourfulness). ColorGAN has a noise input: its seed
slider picks one colouring and "Show me 4 colourings" draws four seeds.

**Colour hints** -- the shipped hint model (Zhang, Zhu et al. 2017; ``lessons_lib.zoo.HINT_MODEL``):
a click on the photo places a hint, by default in the colour the model already paints there
(Zhang et al.'s interface suggests colours the same way), which the colour picker then
changes; hints can be selected, moved (edit x, y in the table), removed, undone and reset,
and every change recolours the photo (:func:`colorize_with_hints`). The hints live in the
visitor's ``gr.State``; a refused change leaves them as they were.

**Restore** -- :class:`lessons_lib.restoration.Restorer` (the shipped seed-004 restorer). A
sharp face is first blurred with kernel ``k`` of the restorer's own kernel bank (the card's
``kernel_bank``: :func:`bank_kernel`, and :func:`lessons_lib.data.blur.blur`, the function
training blurs with), then restored; the page shows x_R (NAFNet), x_G (GAN prior inversion)
and x_hat (fusion), with their PSNR / SSIM against the sharp photo. A photo that is already
blurred is restored as it is (no sharp original: no PSNR).

Named API endpoints (``gradio_client``: ``Client(url).predict(handle_file(path), ...,
api_name="/colorize")``):

=================  ===========================================  ==================================
``/colorize``      image, model name, seed                       (gray, colour) image pair, status
``/colorize_many`` image, model name, first seed                 gallery of 4 (1 for a model
                                                                 without noise), status
``/restore``       image, mode (:data:`RESTORE_MODES`), kernel   blurred input, x_R, x_G, x_hat,
                                                                 status
``/colorize_hints`` image, hints (a list of ``{"x", "y",         colorized image, status
                   "color"}``: pixels of the photo, ``#rrggbb``
                   or a CSS name)
=================  ===========================================  ==================================

The status is Markdown: what was done, the metrics, or -- for a file that cannot be used --
a plain-English message (the images are then empty). No request ever ends in a traceback:
a :class:`lessons_lib.LessonsError` (the user's input) becomes the message and a warning
toast; anything unexpected is logged on the server with its traceback and the page says
that something went wrong. The server keeps serving either way.

Memory and concurrency
----------------------
* Uploads: at most :data:`MAX_UPLOAD_PIXELS` (120 Mpx, read from the file's header before a
  pixel is decoded: decompression bombs are refused) and :data:`MAX_FILE_SIZE`. Gradio does
  not decode uploads here (:class:`_Upload` hands over the file's path); :func:`load_upload`
  and :func:`lessons_lib.data.load_image` do (16-bit, CMYK, alpha, palette, animated files,
  EXIF rotation, corrupt files as a clear message).
* Working size: a photo longer than :data:`MAX_SIDE` px (colorize; :data:`RESTORE_MAX_SIDE`
  for restore) is shrunk to it while it is decoded, and the status says so: a JPEG is decoded
  at 1/2, 1/4 or 1/8 scale, an 8-bit RGB / gray (+ alpha) image is box-averaged right after
  decoding (one full-size copy, 4 bytes per pixel, exists for a moment). Kinds that must be
  converted at full size (16-bit, palette, CMYK TIFF, several frames: up to ~30 bytes per
  pixel) are accepted up to :data:`MAX_FULL_DECODE_PIXELS` (40 Mpx).
* Peak memory of one request above the idle server (measured on the course machine, models
  loaded): 0.13 GB for a 2048 x 2048 photo, 0.46 GB for a 12000 x 9000 RGB PNG, 0.84 GB for
  a 12000 x 9000 RGBA PNG, 1.15 GB for a 40 Mpx 16-bit PNG -- **at most about 1.2 GB**.
* :data:`CONCURRENCY` requests run at once (the queue's ``default_concurrency_limit``), at
  most :data:`QUEUE_SIZE` more wait (``queue(max_size=...)``); one more is refused with
  Gradio's "queue is full" message. So the server's peak is about ``CONCURRENCY`` times the
  per-request peak above.
* Models are loaded once per name and shared (:class:`DemoModels`). A request keeps all its
  state in local variables; the pipelines' calls are thread-safe (their networks are in
  eval mode and only read; a ColorGAN seed is a per-call ``torch.Generator``; loading is
  guarded by a lock), so concurrent users never see each other's results.
* Result files are written to Gradio's cache and deleted after :data:`CACHE_MAX_AGE_S`.
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr
import numpy as np
import torch
from PIL import Image

from lessons_lib import LessonsError
from lessons_lib.colorization import Colorizer
from lessons_lib.color.classes import PAPER_TEMPERATURE
from lessons_lib.colorization.colorizer import check_temperature
from lessons_lib.data import load_image
from lessons_lib.inference import MAX_PIXELS, provenance_of, save_image
from lessons_lib.restoration import Restorer
from lessons_lib.playground import draw_hints

from .video_tab import build_video_tab

__all__ = [
    "MAX_SIDE",
    "RESTORE_MAX_SIDE",
    "MAX_UPLOAD_PIXELS",
    "MAX_FULL_DECODE_PIXELS",
    "MAX_FILE_SIZE",
    "METRICS_MAX_SIDE",
    "QUEUE_SIZE",
    "CONCURRENCY",
    "N_COLOURINGS",
    "RESTORE_MODES",
    "BLUR_FIRST",
    "ALREADY_BLURRED",
    "DemoModels",
    "load_upload",
    "bank_kernel",
    "blur_kernel_size",
    "blur_photo",
    "colorize_photo",
    "colorize_many",
    "colorize_with_hints",
    "new_hint_state",
    "hint_add",
    "hint_recolour",
    "hint_move",
    "hint_remove",
    "hint_undo",
    "hint_reset",
    "hints_from_table",
    "predicted_colour",
    "restore_photo",
    "build_app",
    "main",
]

log = logging.getLogger("demo")

#: Long side (px) above which a photo is shrunk before colorizing (4.2 Mpx at most).
MAX_SIDE = 2048
#: Long side (px) above which a photo is shrunk before blurring and restoring. The face
#: model works at 64 px anyway; this keeps the blur (a kernel of ~14 % of the short side,
#: 89 px at 640 px) at a second or two on a CPU.
RESTORE_MAX_SIDE = 640
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
#: Requests waiting in the queue at most (``queue(max_size=...)``).
QUEUE_SIZE = 16
#: Requests processed at the same time (the queue's ``default_concurrency_limit``).
CONCURRENCY = 2
#: Colourings drawn by "Show me 4 colourings" (seeds s, s+1, ...).
N_COLOURINGS = 4
#: the temperature slider's value for a colour-class model whose card names none (Zhang et al.'s)
DEFAULT_TEMPERATURE = PAPER_TEMPERATURE
#: Colourfulness (Hasler & Suesstrunk, 0-255 RGB) above which an upload counts as a colour
#: photo: a gray photo scores 0 (JPEG noise ~1), a faint sepia tint ~10.
COLOUR_THRESHOLD = 3.0
#: A photo to be blurred needs at least this many pixels a side (the smallest bank kernel is 3x3).
MIN_BLUR_SIDE = 16
#: Measured peak memory of one request above the idle server, GB (module docstring).
PEAK_GB = 1.2
#: Result files older than this are deleted from Gradio's cache (checked as often).
CACHE_MAX_AGE_S = 3600

BLUR_FIRST = "my photo is sharp: blur it first"
ALREADY_BLURRED = "my photo is already blurred"
#: The restore tab's two modes (the ``mode`` input of ``/restore``).
RESTORE_MODES = (BLUR_FIRST, ALREADY_BLURRED)

# The bundled photos (lessons_lib.data.sources "samples") offered as examples.
_COLOUR_EXAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "flower", "china")
_FACE_EXAMPLES = ("astronaut", "grace_hopper")


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
        from lessons_lib import zoo

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
        from lessons_lib.zoo import HINT_MODEL

        return HINT_MODEL

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


def _heldout(card: dict[str, Any]) -> dict[str, Any]:
    return (card.get("shipped") or {}).get("metrics_heldout") or {}


def _colour_label(m: dict[str, Any]) -> str:
    """Dropdown label: name, (default), the first held-out PSNR of its card."""
    label = m["name"] + (" (default)" if m["default"] else "")
    for source, rep in _heldout(m["card"]).items():
        if isinstance(rep, dict) and isinstance((rep.get("model") or {}).get("psnr"), (int, float)):
            return f"{label} - {source} {rep.get('split', 'val')} PSNR {rep['model']['psnr']:.2f} dB"
    return label


def _colour_info(m: dict[str, Any] | None) -> str:
    """Markdown: what a colorization model is, how it scored on held-out photos."""
    if m is None:
        return "No colorization model is installed."
    card = m["card"]
    lines = [f"**{m['name']}**{' (the default)' if m['default'] else ''}: {m['description']}. "
             f"Runs at {card.get('size', '?')} px."]
    lines.append("Has a noise input: each seed gives another colouring." if card.get("g_noise")
                 else "No noise input: one colouring per photo (the seed is ignored).")
    for source, rep in _heldout(card).items():
        if not isinstance(rep, dict):
            lines.append(f"Held-out {source}: {rep}")
            continue
        mod, gray = rep.get("model") or {}, rep.get("gray_input") or {}

        def f(d: dict, k: str, fmt: str) -> str:
            return format(d[k], fmt) if isinstance(d.get(k), (int, float)) else "n/a"

        # photos that chose the checkpoint (the val photos of the training packs, lesson 02's rule)
        # are not held out: say so (the winner's curse, lesson 10)
        chose = bool(card.get("selection")) and source in str(card.get("data", "")).split("+")
        label = f"Scored on **{source}**" if chose else f"Held-out **{source}**"
        lines.append(f"{label} {rep.get('split', 'val')} ({rep.get('n_images', '?')} photos"
                     + ("; they chose this checkpoint, so not held out" if chose else "") + ", "
                     + f"{rep.get('size', card.get('size', '?'))} px): PSNR {f(mod, 'psnr', '.2f')} dB "
                     f"(gray input {f(gray, 'psnr', '.2f')}), SSIM {f(mod, 'ssim', '.3f')}, "
                     f"AuC {f(mod, 'auc', '.3f')}, colourfulness {f(mod, 'colorfulness', '.1f')}")
    if not _heldout(card):
        lines.append("Its card has no held-out metrics.")
    return "  \n".join(lines)


def _restorer_info(m: dict[str, Any] | None, bank: dict[str, Any]) -> str:
    """Markdown: the restorer, its kernel bank, its held-out PSNR per stage."""
    if m is None:
        return "No restorer is installed."
    card = m["card"]
    lines = [f"**{m['name']}**: {m['description']}. Works on face crops at {card.get('size', '?')} px; "
             f"its kernel bank holds {bank['n']} motion-blur kernels (seed {bank['seed']})."]
    for source, rep in _heldout(card).items():
        if not isinstance(rep, dict):
            lines.append(f"Held-out {source}: {rep}")
            continue
        psnrs = ", ".join(f"{k} {rep[k]['psnr']:.2f}" for k in ("blurred", "x_R", "x_G", "x_hat")
                          if isinstance((rep.get(k) or {}).get("psnr"), (int, float)))
        lines.append(f"Held-out **{source}** val ({rep.get('n_images', '?')} faces), PSNR in dB: {psnrs}")
    if card.get("default_output_why"):
        lines.append(f"`lessons restore` returns {card['default_output_why']}")
    return "  \n".join(lines)


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


def _to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL -> (1, 3, H, W) float in [0, 1] (a fresh, writable array: any size, 1x1 too)."""
    a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0        # (H, W, 3), a new array
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def _small(img: Image.Image, side: int = METRICS_MAX_SIDE) -> Image.Image:
    """A copy of at most ``side`` px on the long side (bicubic, antialiased), or the image itself."""
    W, H = img.size
    if max(W, H) <= side:
        return img
    s = side / max(W, H)
    return img.resize((max(1, round(W * s)), max(1, round(H * s))), Image.Resampling.BICUBIC, reducing_gap=3.0)


def _colourfulness(img: Image.Image) -> float:
    """Hasler & Suesstrunk's colourfulness of a (<= 256 px) copy of the image."""
    from lessons_lib.metrics import colorfulness

    return float(colorfulness(_to_tensor(_small(img, 256))))


def _gray(img: Image.Image) -> Image.Image:
    """The gray photo with the same L* as ``img`` (what the colorizer sees), at full size and
    in bands (:func:`lessons_lib.pipeline.recombine` with ab = 0)."""
    from lessons_lib.pipeline import recombine

    return recombine(img, torch.zeros(2, 1, 1))


def _fmt(v: float, spec: str) -> str:
    if isinstance(v, str):
        return v
    return "inf" if math.isinf(v) else format(v, spec)


def _scores(pred: Image.Image, target: Image.Image) -> dict[str, Any]:
    """PSNR (dB) and SSIM of two equal-size images; SSIM needs 11 px a side (else "n/a")."""
    from lessons_lib.metrics import psnr, ssim

    p, t = _to_tensor(pred), _to_tensor(target)
    out: dict[str, Any] = {"psnr": float(psnr(p, t))}
    out["ssim"] = float(ssim(p, t)) if min(p.shape[-2:]) >= 11 else "n/a (under 11 px)"
    return out


def _seed(seed: Any) -> int:
    try:
        s = int(round(float(0 if seed is None else seed)))
    except (TypeError, ValueError, OverflowError):
        raise LessonsError(f"the seed must be a whole number, got {seed!r}") from None
    if not 0 <= s < 2**63:
        raise LessonsError(f"the seed must be between 0 and 2**63 - 1, got {s}")
    return s


# =========================================================================== colorize
def _colour_report(img: Image.Image, out: Image.Image, gray: Image.Image) -> str:
    """Markdown table: the colorized photo and the gray input against the original colours."""
    from lessons_lib.metrics import colorfulness

    o, c, g = _small(img), _small(out), _small(gray)
    where = ("the full image" if o.size == img.size
             else f"copies shrunk to {o.width}x{o.height} (at most {METRICS_MAX_SIDE} px on the long side)")
    rows = [("colorized", _scores(c, o), float(colorfulness(_to_tensor(c)))),
            ("gray input", _scores(g, o), float(colorfulness(_to_tensor(g))))]
    table = ["| | PSNR (dB) | SSIM | colourfulness |", "|---|---|---|---|"]
    for label, sc, cf in rows:
        table.append(f"| {label} | {_fmt(sc['psnr'], '.2f')} | {_fmt(sc['ssim'], '.3f')} | {cf:.1f} |")
    table.append(f"| your original | | | {float(colorfulness(_to_tensor(o))):.1f} |")
    return (f"Your photo was in colour: the model saw only its gray version (the slider's left side), "
            f"so its colours can be compared with yours, on {where}:\n\n" + "\n".join(table))


def colorize_photo(models: DemoModels, image: Any, model: str | None, seed: Any = 0, temperature: Any = None
                   ) -> tuple[tuple[Image.Image, Image.Image], str]:
    """One colouring: ``((gray input, colorized), status markdown)``, both of the working size.
    ``temperature``: a colour-class model's T (None: its card's; refused for another model)."""
    colorizer = models.colorizer(model)
    name = model or models.default_colour_model
    s = _seed(seed)
    t = None if temperature is None else check_temperature(temperature)
    img, notes = load_upload(image, max_side=MAX_SIDE)
    t0 = time.perf_counter()
    out = colorizer(img, seed=s, temperature=t)
    gray = _gray(img)
    dt = time.perf_counter() - t0
    seed_txt = f", seed {s}" if colorizer.has_noise else ""
    if colorizer.class_head:
        seed_txt += f", temperature {colorizer.temperature_for(t):g}"
    lines = [f"**Colorized** {img.width}x{img.height} with **{name}**{seed_txt} in {dt:.1f} s "
             f"(the network ran at {colorizer.size} px; the photo's own lightness is kept at full size)."]
    lines += notes
    cf = _colourfulness(img)
    if cf > COLOUR_THRESHOLD:
        lines.append(_colour_report(img, out, gray))
    else:
        lines.append("Your photo is gray: there are no original colours to compare with.")
    return (gray, out), "\n\n".join(lines)


def colorize_many(models: DemoModels, image: Any, model: str | None, seed: Any = 0, n: int = N_COLOURINGS
                  ) -> tuple[list[tuple[Image.Image, str]], str]:
    """``n`` colourings (seeds ``seed .. seed + n - 1``) for a model with a noise input; a
    model without one has a single colouring, which is returned with a message saying so."""
    colorizer = models.colorizer(model)
    name = model or models.default_colour_model
    s = _seed(seed)
    img, notes = load_upload(image, max_side=MAX_SIDE)
    t0 = time.perf_counter()
    if not colorizer.has_noise:
        out = colorizer(img, seed=s)
        noisy = [m["name"] for m in models.colour_models if m["card"].get("g_noise")]
        hint = f" Pick {' or '.join(noisy)} to see several." if noisy else ""
        lines = [f"**{name} has one colouring**: it has no noise input, so every seed gives the same "
                 f"picture.{hint}"] + notes
        return [(out, f"{name}: its only colouring")], "\n\n".join(lines)
    from lessons_lib.metrics import mean_pairwise_distance

    seeds = [s + i for i in range(n)]
    outs = [colorizer(img, seed=k) for k in seeds]
    dt = time.perf_counter() - t0
    small = [_to_tensor(_small(o)) * 255.0 for o in outs]
    spread = float(mean_pairwise_distance(small)) if len(small) > 1 else 0.0
    lines = [f"**{n} colourings** of {img.width}x{img.height} by **{name}**, seeds {seeds[0]}-{seeds[-1]}, "
             f"in {dt:.1f} s. Mean difference between two of them: {spread:.1f} (RGB 0-255, per pixel)."]
    if all(np.array_equal(np.asarray(outs[0]), np.asarray(o)) for o in outs[1:]):
        lines.append("They are identical: this model's noise has no visible effect.")
    elif spread < 0.5:
        lines.append("They barely differ: this model's noise has little visible effect.")
    lines += notes
    return [(o, f"seed {k}") for o, k in zip(outs, seeds)], "\n\n".join(lines)


# =========================================================================== colour hints
#: How a click picks the new hint's colour (the ``/colorize_hints`` API takes colours as data).
HINT_FROM_MODEL = "the model's colour there (then change it with the picker)"
HINT_FROM_PICKER = "the picker's colour"
HINT_COLOUR_MODES = (HINT_FROM_MODEL, HINT_FROM_PICKER)
#: Undo remembers this many steps.
HINT_HISTORY = 50


def new_hint_state() -> dict[str, Any]:
    """The hints of one visitor's page: the hints, the undo stack, the selected hint and the
    last colorization (whose colour a click suggests). Held in a ``gr.State``."""
    return {"hints": [], "history": [], "selected": None, "result": None}


def _push(state: dict[str, Any], hints: list[dict[str, Any]], selected: int | None) -> dict[str, Any]:
    """A new state with ``hints`` (the current ones go on the undo stack)."""
    history = (state["history"] + [(state["hints"], state["selected"])])[-HINT_HISTORY:]
    return {**state, "hints": hints, "history": history, "selected": selected}


def hint_add(state: dict[str, Any], x: float, y: float, colour: Any) -> dict[str, Any]:
    """Place a hint at pixel (x, y) of the working image; it becomes the selected one."""
    from lessons_lib.data.hints import parse_colour

    hint = {"x": round(float(x)), "y": round(float(y)), "color": "#{:02x}{:02x}{:02x}".format(*parse_colour(colour))}
    hints = state["hints"] + [hint]
    return _push(state, hints, len(hints) - 1)


def _index(state: dict[str, Any], i: Any) -> int:
    try:
        k = int(i)
    except (TypeError, ValueError):
        raise LessonsError("select a hint first (click on the photo to place one)") from None
    if not 0 <= k < len(state["hints"]):
        raise LessonsError(f"there is no hint {k + 1}: the photo has {len(state['hints'])}")
    return k


def hint_recolour(state: dict[str, Any], i: Any, colour: Any) -> dict[str, Any]:
    """Give hint ``i`` another colour."""
    from lessons_lib.data.hints import parse_colour

    k = _index(state, i)
    hints = [dict(h) for h in state["hints"]]
    hints[k]["color"] = "#{:02x}{:02x}{:02x}".format(*parse_colour(colour))
    return _push(state, hints, k)


def hint_move(state: dict[str, Any], i: Any, x: float, y: float) -> dict[str, Any]:
    """Move hint ``i`` to pixel (x, y)."""
    k = _index(state, i)
    hints = [dict(h) for h in state["hints"]]
    hints[k].update(x=round(float(x)), y=round(float(y)))
    return _push(state, hints, k)


def hint_remove(state: dict[str, Any], i: Any) -> dict[str, Any]:
    """Remove hint ``i``."""
    k = _index(state, i)
    hints = state["hints"][:k] + state["hints"][k + 1:]
    return _push(state, hints, min(k, len(hints) - 1) if hints else None)


def hint_undo(state: dict[str, Any]) -> dict[str, Any]:
    """The hints as they were before the last change (nothing to undo: unchanged)."""
    if not state["history"]:
        raise LessonsError("nothing to undo")
    hints, selected = state["history"][-1]
    return {**state, "hints": hints, "selected": selected, "history": state["history"][:-1]}


def hint_reset(state: dict[str, Any]) -> dict[str, Any]:
    """No hints (undo brings them back)."""
    return _push(state, [], None)


def hints_from_table(state: dict[str, Any], rows: Any) -> dict[str, Any]:
    """The hints as edited in the table (columns x, y, colour): moved, recoloured, deleted."""
    from lessons_lib.data.hints import check_hints

    if hasattr(rows, "values") and hasattr(rows, "columns"):      # a pandas DataFrame
        rows = rows.values.tolist()
    rows = [r for r in (rows or []) if any(str(v).strip() for v in r)]
    parsed = check_hints([tuple(r[:3]) for r in rows], source="table row")
    hints = [h.to_dict() | {"x": round(h.x), "y": round(h.y)} for h in parsed]
    sel = state["selected"] if state["selected"] is not None and state["selected"] < len(hints) else None
    return _push(state, hints, sel)


def colorize_with_hints(models: DemoModels, image: Any, hints: Any = None, selected: int | None = None
                        ) -> tuple[Image.Image, Image.Image, str]:
    """The hint model on one photo: ``(colorized, colorized with the hints drawn, status)``.

    ``hints``: a list of ``{"x", "y", "color"}`` (pixels of the working image, colour
    ``#rrggbb`` or a CSS name), ``"X,Y,COLOUR"`` strings, or a JSON string of such a list;
    none: the hint model colorizes alone. At most
    :data:`lessons_lib.data.hints.MAX_HINTS` (500): a longer list is refused at once."""
    from lessons_lib.data.hints import check_hint_count, check_hints

    if isinstance(hints, str):
        try:
            hints = json.loads(hints) if hints.strip() else []
        except json.JSONDecodeError as e:
            raise LessonsError(f"the hints are not valid JSON ({e.msg}); send a list like "
                               '[{"x": 120, "y": 80, "color": "#c0392b"}]') from None
    if hints is None:
        hints = []
    if not isinstance(hints, (list, tuple)):
        raise LessonsError(f"the hints must be a list of {{\"x\", \"y\", \"color\"}}, got {type(hints).__name__}")
    check_hint_count(len(hints))        # refused before the photo is decoded or a model loads
    colorizer = models.hint_colorizer()
    img, notes = load_upload(image, max_side=MAX_SIDE)
    checked = check_hints(hints, img.size)
    t0 = time.perf_counter()
    out = colorizer(img, hints=checked or None)
    dt = time.perf_counter() - t0
    side = max(7, round(colorizer.hint_size * max(img.size) / colorizer.size))
    marked = draw_hints(out, checked, selected, side=side)   # lessons_lib.playground's markers
    marked.info.update(provenance_of(out))                    # generated too: it says so in its file
    n = len(checked)
    what = f"{n} hint{'s' if n != 1 else ''}" if n else "no hints (the model colours alone)"
    lines = [f"**Colorized** {img.width}x{img.height} with **{models.hint_model_name}** and {what} in {dt:.2f} s "
             f"(the network ran at {colorizer.size} px; each hint is a {colorizer.hint_size}x{colorizer.hint_size} "
             f"square there, about {side} px here)."]
    return out, marked, "\n\n".join(lines + notes)


def predicted_colour(result: Image.Image | None, x: float, y: float) -> str:
    """The colour (``#rrggbb``) of the last colorization at pixel (x, y): the click's suggestion."""
    if result is None:
        return "#808080"
    W, H = result.size
    px = result.getpixel((min(max(int(x), 0), W - 1), min(max(int(y), 0), H - 1)))
    return "#{:02x}{:02x}{:02x}".format(*px[:3])


# =========================================================================== restore
@functools.lru_cache(maxsize=64)
def _kernel(seed: int, k: int, size: int) -> torch.Tensor:
    from lessons_lib.data.blur import motion_blur_kernel

    return motion_blur_kernel(size, seed=np.random.SeedSequence(seed).spawn(k + 1)[k])


def bank_kernel(bank: dict[str, Any], k: int, size: int) -> torch.Tensor:
    """Kernel ``k`` of the bank ``bank`` (``{"n", "seed"}``, a restorer card's ``kernel_bank``)
    drawn at ``size x size``: exactly ``KernelBank(n, size, seed)[k]`` (each kernel has its own
    child seed), without drawing the other ``n - 1``. At another size than the training one it
    is the same camera path scaled, as :func:`lessons_lib.restoration.evaluation.evaluate_restorer`
    uses at other sizes. Cached (64 kernels)."""
    n = int(bank["n"])
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise LessonsError(f"the kernel must be a whole number from 0 to {n - 1}, got {k!r}")
    if not 0 <= int(k) < n:
        raise LessonsError(f"kernel {k} is not in the restorer's bank: choose one from 0 to {n - 1}")
    return _kernel(int(bank["seed"]), int(k), int(size)).clone()  # the cached one stays untouched


def blur_kernel_size(bank: dict[str, Any], short_side: int, model_size: int) -> int:
    """The kernel size that blurs a photo of short side ``short_side`` as much as training blurs
    its ``model_size`` faces: the bank's own size at the model size, else
    :func:`lessons_lib.data.blur.kernel_size_for` (the same share of the face)."""
    from lessons_lib.data.blur import kernel_size_for

    if short_side == model_size and isinstance(bank.get("size"), int):
        return int(bank["size"])
    return kernel_size_for(int(short_side))


def blur_photo(img: Image.Image, kernel: torch.Tensor, noise_std: float = 0.0, seed: int = 0) -> Image.Image:
    """Blur an RGB photo with one kernel as training does (:func:`lessons_lib.data.blur.blur`:
    a true convolution, reflect padding; then ``clamp(y + noise_std N(0, 1), 0, 1)`` with
    seeded noise when the bank has noise), rounded to 8 bits."""
    from lessons_lib.data import tensor_to_image
    from lessons_lib.data.blur import blur

    y = blur(_to_tensor(img), kernel)
    if noise_std > 0:
        g = torch.Generator().manual_seed(int(seed))
        y = y + noise_std * torch.randn(y.shape, generator=g)
    return tensor_to_image(y.clamp(0.0, 1.0)[0])


def _kernel_index(kernel: Any, n: int) -> int:
    try:
        k = float(0 if kernel is None else kernel)
    except (TypeError, ValueError):
        raise LessonsError(f"the kernel must be a whole number from 0 to {n - 1}, got {kernel!r}") from None
    if not math.isfinite(k) or k != int(k):
        raise LessonsError(f"the kernel must be a whole number from 0 to {n - 1}, got {kernel!r}")
    return int(k)


def kernel_preview(models: DemoModels, kernel: Any, scale: int = 12) -> Image.Image | None:
    """Kernel ``kernel`` of the restorer's bank at its training size, as a small picture
    (bright: where the camera spent more of the exposure; scaled to its maximum)."""
    import matplotlib

    bank = models.kernel_bank_params()
    size = int(bank.get("size") or 9)
    try:
        k = bank_kernel(bank, _kernel_index(kernel, bank["n"]), size).numpy()
    except LessonsError:
        return None
    rgba = matplotlib.colormaps["inferno"](k / max(float(k.max()), 1e-12))
    img = Image.fromarray((rgba[..., :3] * 255).round().astype(np.uint8))
    return img.resize((size * scale, size * scale), Image.Resampling.NEAREST)


def restore_photo(models: DemoModels, image: Any, mode: str = BLUR_FIRST, kernel: Any = 0
                  ) -> tuple[Image.Image, Image.Image | None, Image.Image | None, Image.Image | None, str]:
    """``(blurred input, x_R, x_G, x_hat, status markdown)``, all of the working size.

    ``mode`` :data:`BLUR_FIRST`: the photo is blurred with kernel ``kernel`` of the restorer's
    bank (:func:`bank_kernel`, :func:`blur_photo`) and the outputs are scored against it;
    :data:`ALREADY_BLURRED`: it is restored as it is. A stage the restorer lacks is None."""
    if mode not in RESTORE_MODES:
        raise LessonsError(f"unknown mode {mode!r}; choose {RESTORE_MODES[0]!r} or {RESTORE_MODES[1]!r}")
    restorer = models.restorer()
    bank = models.kernel_bank_params()
    k = _kernel_index(kernel, bank["n"]) if mode == BLUR_FIRST else None
    img, notes = load_upload(image, max_side=RESTORE_MAX_SIDE)
    W, H = img.size
    t0 = time.perf_counter()
    if mode == BLUR_FIRST:
        if min(W, H) < MIN_BLUR_SIDE:
            raise LessonsError(f"the photo is {W}x{H}: too small to blur (at least {MIN_BLUR_SIDE} px a side); "
                               f"upload a larger face, or choose {ALREADY_BLURRED!r}")
        n_k = blur_kernel_size(bank, min(W, H), restorer.size)
        blurred = blur_photo(img, bank_kernel(bank, k, n_k), bank["noise_std"], seed=k)
    else:
        blurred = img
    outs = {name: restorer(blurred, output=name) for name in restorer.outputs[1:]}
    dt = time.perf_counter() - t0
    stage_txt = {"x_R": "x_R (NAFNet)", "x_G": "x_G (GAN prior)", "x_hat": "x_hat (fusion)"}
    lines = [f"**Restored** {W}x{H} in {dt:.1f} s: "
             + ", ".join(stage_txt[s] for s in outs) + f" (the networks ran at {restorer.size} px; "
             "the change they made is added to your photo at its size)."]
    if mode == BLUR_FIRST:
        lines.append(f"Blurred first with kernel {k} of the restorer's bank, drawn at {n_k}x{n_k} px "
                     f"(the same share of the face as {bank.get('size', '?')} px at the model's {restorer.size} px).")
        table = ["| vs your sharp photo | PSNR (dB) | SSIM |", "|---|---|---|"]
        for label, im in [("blurred input", blurred), *((stage_txt[s], o) for s, o in outs.items())]:
            sc = _scores(im, img)
            table.append(f"| {label} | {_fmt(sc['psnr'], '.2f')} | {_fmt(sc['ssim'], '.3f')} |")
        lines.append("\n".join(table) + f"\n\nOn the full {W}x{H} image.")
    else:
        lines.append("Your photo was already blurred: there is no sharp original, so no PSNR.")
    missing = [s for s in ("x_R", "x_G", "x_hat") if s not in outs]
    if missing:
        lines.append(f"This restorer has no {', '.join(missing)} (stage {restorer.model.stage}).")
    lines.append("The model was trained on aligned face crops (brow to chin, filling the frame); "
                 "on other framings x_G and x_hat still look like a face.")
    lines += notes
    return (blurred, outs.get("x_R"), outs.get("x_G"), outs.get("x_hat"), "\n\n".join(lines))


# =========================================================================== result files
_OUT_DIR = Path(tempfile.gettempdir()) / "gan-lessons-demo"
_last_sweep = [0.0]


def _to_file(img: Image.Image) -> str:
    """Write one result image to a file of its own and return its path.

    Gradio caches a returned PIL image under a name made from its *content*, rewriting the
    file in place: two requests that produce the same image at the same moment (a class
    clicking the same example) then race on one file, and a client can download it half
    written (seen in benchmarks/bench_demo_load.py). A file per result, with a unique name,
    is copied into Gradio's cache instead. PNG at zlib level 1: lossless, ~4x faster to
    write than the default level. Files older than the cache's age are swept now and then."""
    _OUT_DIR.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="result-", suffix=".png", dir=_OUT_DIR)
    with os.fdopen(fd, "wb") as f:
        save_image(img, f, format="PNG", compress_level=1)   # a model's output keeps its provenance note
    now = time.time()
    if now - _last_sweep[0] > 600:
        _last_sweep[0] = now
        for old in _OUT_DIR.glob("result-*.png"):
            try:
                if now - old.stat().st_mtime > CACHE_MAX_AGE_S:
                    old.unlink()
            except OSError:
                pass
    return path


def _as_files(value: Any) -> Any:
    """PIL images in a handler's outputs (alone, in slider pairs, in gallery lists) -> paths."""
    if isinstance(value, Image.Image):
        return _to_file(value)
    if isinstance(value, tuple):
        return tuple(_as_files(v) for v in value)
    if isinstance(value, list):
        return [_as_files(v) for v in value]
    return value


# =========================================================================== errors
def _guard(fn: Callable[[], tuple], n_outputs: int) -> tuple:
    """Run a request; on failure return ``n_outputs`` empty outputs and a status message.

    A :class:`LessonsError` (the user's input) is shown as it is, also as a warning toast;
    anything else is logged with its traceback and shown as a generic message.
    """
    try:
        return _as_files(fn())
    except LessonsError as e:
        msg = str(e)
        log.info("refused a request: %s", msg)
    except MemoryError:
        log.exception("out of memory in a demo request")
        msg = (f"the server ran out of memory on this photo; try a smaller one (at most "
               f"{MAX_SIDE} px on the long side is used anyway)")
    except Exception as e:  # noqa: BLE001 - the server must keep serving
        log.exception("unexpected error in a demo request")
        msg = (f"something went wrong on the server ({type(e).__name__}); it has been logged. "
               "Try again, or with another image")
    gr.Warning(msg)
    return (None,) * n_outputs + (f"**Could not do that:** {msg}",)


# =========================================================================== the page
class _Upload(gr.Image):
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
    from lessons_lib.data import sample_files

    where = {f.stem: str(f) for f in sample_files()}
    found = [lab for lab in labels if lab in where]
    return [[where[lab]] for lab in found], found


def _photo_input(label: str, elem_id: str, examples: Sequence[str], examples_label: str) -> gr.Image:
    """An upload box (the file reaches the handler unopened) and the bundled examples under it."""
    box = _Upload(type="filepath", image_mode=None, sources=["upload", "clipboard"], label=label,
                  elem_id=elem_id, height=300)
    ex, ex_labels = _examples(examples)
    if ex:
        gr.Examples(ex, inputs=[box], example_labels=ex_labels, label=examples_label)
    return box


_INTRO = f"""# GAN lessons: colorize and restore
Models from the course, on this computer. **Colorize** gives colour to a photo (a colour photo is
first turned gray, then compared with its own colours). **Restore** deblurs a face.
Photos longer than {MAX_SIDE} px (restore: {RESTORE_MAX_SIDE} px) are shrunk to that while they are read,
so that one request needs at most about {PEAK_GB} GB of memory; uploads up to
{MAX_UPLOAD_PIXELS // 1_000_000} Mpx ({MAX_FULL_DECODE_PIXELS // 1_000_000} Mpx for 16-bit, palette or
animated files) and {MAX_FILE_SIZE.upper()} are accepted. {CONCURRENCY} requests run at once and up to
{QUEUE_SIZE} wait in the queue.

**Every colorized or restored image here is generated by a model**: a guess at what the photo
looked like, not a record of it. Each result file says so in its PNG metadata (the model and
its version), and should be labelled so wherever it is shown."""


def _temperature_info(t: float | None) -> str:
    if t is None:
        return "only for a colour-class model (this one regresses its colours)"
    return f"the annealed mean of the predicted colours (Zhang et al. 2016); its card chose {t:g}"


def _seed_info(noise: bool) -> str:
    return ("each seed gives another colouring" if noise
            else "this model has no noise input: the seed changes nothing")


def build_app(*, device: str = "auto", weights_dir: str | Path | None = None, queue_size: int = QUEUE_SIZE,
              concurrency: int = CONCURRENCY) -> gr.Blocks:
    """The demo page (tabs Colorize, Colour hints and Restore, API endpoints ``/colorize``,
    ``/colorize_many``, ``/colorize_hints``, ``/restore``) with its queue set, not yet launched.

    Each tab is built, and its events wired, by its own function (:func:`_colorize_tab`,
    :func:`_hints_tab`, :func:`_restore_tab`); all of them read uploads through
    :func:`load_upload`, the kit's safe loader with the demo's limits.

    Args:
        device: where the models run (``"auto"``, ``"cpu"``, ``"cuda"``...).
        weights_dir: the shipped weights' folder (default the package's).
        queue_size: requests that may wait (``queue(max_size=...)``).
        concurrency: requests processed at once.
    """
    models = DemoModels(device=device, weights_dir=weights_dir)
    with gr.Blocks(title="GAN lessons: colorize and restore", analytics_enabled=False,
                   delete_cache=(CACHE_MAX_AGE_S, CACHE_MAX_AGE_S)) as app:
        gr.Markdown(_INTRO)
        _colorize_tab(models)
        _hints_tab(models)
        _restore_tab(models)
        build_video_tab(models, _guard)      # the Video tab (demo/video_tab.py, issue 24)
    app.queue(max_size=queue_size, default_concurrency_limit=concurrency)
    return app


def _colorize_tab(models: DemoModels) -> None:
    """The Colorize tab: one photo, one model, a seed; one colouring or several."""
    default = models.default_colour_model

    def on_colorize(image, model, seed, temperature=None):
        # the slider applies to a colour-class model only (inactive for the others)
        t = temperature if temperature is not None and models.temperature(model or default) is not None else None
        return _guard(lambda: colorize_photo(models, image, model, seed, t), 1)

    def on_colorize_many(image, model, seed):
        return _guard(lambda: colorize_many(models, image, model, seed), 1)

    def on_model(model):
        try:
            m, noise = models.colour_model(model), models.has_noise(model)
        except LessonsError as e:
            return str(e), gr.Slider(interactive=False), gr.Slider(interactive=False)
        t = models.temperature(model)
        return (_colour_info(m), gr.Slider(interactive=noise, info=_seed_info(noise)),
                gr.Slider(interactive=t is not None, value=t if t is not None else DEFAULT_TEMPERATURE,
                          info=_temperature_info(t)))

    with gr.Tab("Colorize", id="colorize"):
        with gr.Row():
            with gr.Column(scale=1):
                c_in = _photo_input("your photo (gray or colour)", "colorize-input", _COLOUR_EXAMPLES,
                                    "bundled photos")
                c_model = gr.Dropdown(choices=[(_colour_label(m), m["name"]) for m in models.colour_models],
                                      value=default, label="model", elem_id="colorize-model")
                c_info = gr.Markdown(_colour_info(models.colour_model(default) if default else None))
                noise = bool(default) and models.has_noise(default)
                c_seed = gr.Slider(0, 9999, value=0, step=1, label="seed (ColorGAN: which colouring)",
                                   interactive=noise, info=_seed_info(noise), elem_id="colorize-seed")
                t0 = models.temperature(default) if default else None
                c_temp = gr.Slider(0.01, 1.0, value=t0 if t0 is not None else DEFAULT_TEMPERATURE, step=0.01,
                                   label="temperature T (colour-class models: 1 = faithful, pale; lower = vivid)",
                                   interactive=t0 is not None, info=_temperature_info(t0),
                                   elem_id="colorize-temperature")
                with gr.Row():
                    c_btn = gr.Button("Colorize", variant="primary", elem_id="colorize-button")
                    c_many_btn = gr.Button(f"Show me {N_COLOURINGS} colourings", elem_id="colorize-many-button")
            with gr.Column(scale=2):
                c_slider = gr.ImageSlider(label="before / after: colorized by a model, generated (drag the bar)", format="png", type="pil",
                                          elem_id="colorize-slider", max_height=520)
                c_status = gr.Markdown(elem_id="colorize-status")
                c_gallery = gr.Gallery(label=f"{N_COLOURINGS} colourings (seeds s, s+1, ...), generated by a model", format="png",
                                       columns=N_COLOURINGS, height=260, elem_id="colorize-gallery")
                c_many_status = gr.Markdown(elem_id="colorize-many-status")
    c_btn.click(on_colorize, [c_in, c_model, c_seed, c_temp], [c_slider, c_status], api_name="colorize")
    c_many_btn.click(on_colorize_many, [c_in, c_model, c_seed], [c_gallery, c_many_status],
                     api_name="colorize_many")
    c_model.change(on_model, [c_model], [c_info, c_seed, c_temp], api_visibility="private")


def _hints_tab(models: DemoModels) -> None:
    """The Colour hints tab: every change goes through one render; an error leaves the state as it was."""

    def hint_outputs(image, state):
        if image is None:
            raise LessonsError("upload a photo first (or pick a bundled one), then click on it")
        out, marked, status = colorize_with_hints(models, image, state["hints"], state["selected"])
        state = {**state, "result": out}
        sel = state["selected"]
        choices = [(f"{i + 1}: ({h['x']}, {h['y']}) {h['color']}", i) for i, h in enumerate(state["hints"])]
        table = [[h["x"], h["y"], h["color"]] for h in state["hints"]]
        picker = state["hints"][sel]["color"] if sel is not None else gr.skip()
        return (marked, out, status, state, picker, gr.Dropdown(choices=choices, value=sel), table,
                json.dumps(state["hints"], indent=1))

    def hint_guard(fn):
        try:
            return _as_files(fn())
        except LessonsError as e:
            msg = str(e)
            log.info("refused a hints request: %s", msg)
        except Exception as e:  # noqa: BLE001 - the server must keep serving
            log.exception("unexpected error in a hints request")
            msg = f"something went wrong on the server ({type(e).__name__}); it has been logged. Try again"
        gr.Warning(msg)
        # the visitor's hints and pictures stay as they were
        return (gr.skip(),) * 2 + (f"**Could not do that:** {msg}",) + (gr.skip(),) * 5

    def on_hint_photo(image):
        if image is None:
            return (None, None, "Upload a photo, then click on it to place a hint.", new_hint_state(),
                    gr.skip(), gr.Dropdown(choices=[], value=None), [], "[]")
        return hint_guard(lambda: hint_outputs(image, new_hint_state()))

    def on_hint_click(image, state, mode, picker, evt: gr.SelectData):
        def run():
            if image is None:
                raise LessonsError("upload a photo first")
            x, y = evt.index[:2]
            colour = picker if mode == HINT_FROM_PICKER else predicted_colour(state.get("result"), x, y)
            return hint_outputs(image, hint_add(state, x, y, colour))
        return hint_guard(run)

    def on_hint_edit(op):
        def handler(image, state, *args):
            return hint_guard(lambda: hint_outputs(image, op(state, *args)))
        return handler

    def on_hint_pick(state, selected):
        try:
            k = _index(state, selected)
        except LessonsError:
            return gr.skip(), state
        return state["hints"][k]["color"], {**state, "selected": k}

    def on_hints_api(image, hints):
        return _guard(lambda: colorize_with_hints(models, image, hints)[::2], 1)

    with gr.Tab("Colour hints", id="hints"):
        h_state = gr.State(new_hint_state())
        gr.Markdown("**You say where a colour goes; the network spreads it.** Click on the photo to place a "
                    "hint: it takes the colour the model already paints there, which you then change with the "
                    "picker (or set the picker first and choose \"the picker's colour\"). Each change "
                    "recolours the whole photo (Zhang, Zhu et al. 2017).")
        with gr.Row():
            with gr.Column(scale=1):
                h_in = _photo_input("your photo (gray or colour)", "hints-input", _COLOUR_EXAMPLES,
                                    "bundled photos")
                h_mode = gr.Radio(list(HINT_COLOUR_MODES), value=HINT_FROM_MODEL, label="a click's colour",
                                  elem_id="hints-mode")
                h_picker = gr.ColorPicker(value="#c0392b", label="hint colour (changes the selected hint)",
                                          elem_id="hints-colour")
                h_selected = gr.Dropdown(choices=[], value=None, label="selected hint", elem_id="hints-selected")
                with gr.Row():
                    h_remove = gr.Button("Remove selected", elem_id="hints-remove")
                    h_undo = gr.Button("Undo", elem_id="hints-undo")
                    h_reset = gr.Button("Reset", elem_id="hints-reset")
                h_table = gr.Dataframe(headers=["x", "y", "colour"], datatype=["number", "number", "str"],
                                       value=[], interactive=True, label="the hints (edit x, y to move one)",
                                       elem_id="hints-table")
                h_json = gr.Code(value="[]", language="json", interactive=False, elem_id="hints-json",
                                 label="the hints as JSON (save as a file for `lessons colorize --hints`)")
            with gr.Column(scale=2):
                h_view = gr.Image(label="click to place a hint", format="png", type="pil", interactive=False,
                                  elem_id="hints-view")
                h_status = gr.Markdown("Upload a photo, then click on it to place a hint.",
                                       elem_id="hints-status")
                h_result = gr.Image(label="the colorization (generated by a model)", format="png", type="pil", interactive=False,
                                    elem_id="hints-result")
                h_api_hints = gr.JSON(value=[], visible=False)
                h_api_btn = gr.Button(visible=False)
    h_outs = [h_view, h_result, h_status, h_state, h_picker, h_selected, h_table, h_json]
    h_in.change(on_hint_photo, [h_in], h_outs, api_visibility="private")
    h_view.select(on_hint_click, [h_in, h_state, h_mode, h_picker], h_outs, api_visibility="private")
    h_picker.input(on_hint_edit(lambda st, sel, col: hint_recolour(st, sel, col)),
                   [h_in, h_state, h_selected, h_picker], h_outs, api_visibility="private")
    h_selected.input(on_hint_pick, [h_state, h_selected], [h_picker, h_state], api_visibility="private")
    h_remove.click(on_hint_edit(hint_remove), [h_in, h_state, h_selected], h_outs, api_visibility="private")
    h_undo.click(on_hint_edit(hint_undo), [h_in, h_state], h_outs, api_visibility="private")
    h_reset.click(on_hint_edit(hint_reset), [h_in, h_state], h_outs, api_visibility="private")
    h_table.input(on_hint_edit(hints_from_table), [h_in, h_state, h_table], h_outs, api_visibility="private")
    h_api_btn.click(on_hints_api, [h_in, h_api_hints], [h_result, h_status], api_name="colorize_hints")


def _restore_tab(models: DemoModels) -> None:
    """The Restore tab: a face, blurred by one of the restorer's kernels (or already blurred), restored."""
    bank = models.kernel_bank_params()

    def on_restore(image, mode, kernel):
        return _guard(lambda: restore_photo(models, image, mode, kernel), 4)

    def on_kernel(kernel):
        return kernel_preview(models, kernel)

    def on_mode(mode):
        return gr.Slider(interactive=mode == BLUR_FIRST)

    with gr.Tab("Restore", id="restore"):
        with gr.Row():
            with gr.Column(scale=1):
                r_in = _photo_input("a face photo", "restore-input", _FACE_EXAMPLES, "bundled photos with faces")
                r_mode = gr.Radio(list(RESTORE_MODES), value=BLUR_FIRST, label="your photo",
                                  elem_id="restore-mode")
                with gr.Row():
                    r_kernel = gr.Slider(0, max(int(bank["n"]) - 1, 1), value=0, step=1,
                                         label=f"blur kernel (one of the restorer's {bank['n']})",
                                         elem_id="restore-kernel", scale=3)
                    r_kernel_img = gr.Image(kernel_preview(models, 0), label="the kernel", format="png",
                                            interactive=False, height=120, width=120, scale=1,
                                            elem_id="restore-kernel-image")
                r_btn = gr.Button("Restore", variant="primary", elem_id="restore-button")
                gr.Markdown(_restorer_info(models.restorer_model, bank))
            with gr.Column(scale=2):
                with gr.Row():
                    r_blurred = gr.Image(label="blurred input", format="png", type="pil", elem_id="restore-blurred")
                    r_xr = gr.Image(label="x_R (NAFNet), generated", format="png", type="pil", elem_id="restore-x_R")
                with gr.Row():
                    r_xg = gr.Image(label="x_G (GAN prior), generated", format="png", type="pil", elem_id="restore-x_G")
                    r_xhat = gr.Image(label="x_hat (fusion), generated", format="png", type="pil", elem_id="restore-x_hat")
                r_status = gr.Markdown(elem_id="restore-status")

    r_btn.click(on_restore, [r_in, r_mode, r_kernel], [r_blurred, r_xr, r_xg, r_xhat, r_status],
                api_name="restore")
    r_kernel.change(on_kernel, [r_kernel], [r_kernel_img], api_visibility="private")
    r_mode.change(on_mode, [r_mode], [r_kernel], api_visibility="private")


# =========================================================================== main
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m demo [--host H] [--port P] [--share] [--device D]``: start the server
    (blocks until Ctrl-C). ``lessons demo`` calls this."""
    p = argparse.ArgumentParser(prog="python -m demo", description="Start the course's web demo (Gradio).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every network interface)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="ask Gradio for a public link (needs the internet)")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N")
    args = p.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up requests
    app = build_app(device=args.device)
    app.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_FILE_SIZE)
    return 0
