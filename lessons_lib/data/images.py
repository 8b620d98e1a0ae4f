"""Robust loading of one image, whatever a user or a dataset hands us.

Every image that enters the kit (a file in a dataset, a photo uploaded to the demo, an
array in a notebook) goes through :func:`load_image` and comes out as an 8-bit RGB PIL
image. The awkward cases it handles, and why each matters for colorization:

* EXIF orientation: phone photos store pixels sideways and a rotation flag; without
  honouring it a portrait comes out lying on its side (``ImageOps.exif_transpose``).
* Grayscale (``L``, ``1``), 16-bit (``I;16``), 32-bit integer (``I``) and float (``F``)
  images: converted to RGB with three equal channels. 16-bit data is *scaled*
  (``v * 255 / 65535``), not clipped: clipping would turn almost every pixel white.
* Transparency (``RGBA``, ``LA``, ``PA``, palette images with a transparent index):
  composited on white, the way a browser shows them; dropping alpha would expose whatever
  colour hides in the transparent pixels (often black).
* CMYK (print JPEGs) and ``YCbCr``: converted by Pillow.
* Animated GIF/WebP/APNG and multi-page TIFF: the first frame.
* Corrupt, truncated or non-image files: a :class:`~lessons_lib.LessonsError` that names
  the file, never a traceback from inside Pillow.
* Decompression bombs: the pixel count is read from the header and checked against
  ``max_pixels`` before a single pixel is decoded.
"""
from __future__ import annotations

import io
import math
import os
import struct  # struct.error: raised by some Pillow plugins on a truncated header
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .. import LessonsError

__all__ = ["load_image", "image_to_tensor", "tensor_to_image", "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_FULL_PIXELS"]

# 50 megapixels: larger than any camera photo a student is likely to upload (a 48 MP phone
# sensor gives 8000 x 6000), small enough that the decoded RGB (150 MB) fits in memory.
DEFAULT_MAX_PIXELS = 50_000_000
#: images that must be converted at full size (16-bit, palette, CMYK, several frames) take up
#: to ~30 bytes per pixel while converting: they are accepted up to this many pixels
DEFAULT_MAX_FULL_PIXELS = 40_000_000

# Modes whose pixels carry an alpha channel (composited on white).
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
# Integer/float single-channel modes that need rescaling to 8 bits.
_WIDE_GRAY_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}


def _describe(src: Any, name: str | None) -> str:
    """A short human name for error messages: the file name, or what kind of object."""
    if name:
        return str(name)
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    fname = getattr(src, "name", None)
    if isinstance(fname, str):
        return fname
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"<{len(src)} bytes>"
    return f"<{type(src).__name__}>"


def _scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map an integer or float array of any bit depth to uint8 without clipping the range.

    * uint8: unchanged; bool: 0/255.
    * uint16 (and the ``I`` mode's int32 holding 16-bit data): ``round(v * 255 / 65535)``.
      A 32-bit integer image whose maximum is <= 255 is taken to be 8-bit data.
    * float: values in [0, 1] are scaled by 255; values up to 255 are taken as 8-bit
      levels; larger ones as 16-bit levels (then clipped). NaN becomes 0.
    """
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        a = arr.astype(np.float64)
        top = float(a.max()) if a.size else 0.0
        if arr.itemsize == 2 or (arr.itemsize > 2 and top > 255):  # uint16 of any byte order
            # 16-bit levels (an ``I`` image > 65535 is normalised by its own maximum).
            a = a * (255.0 / max(65535.0, top))
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        a = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(a.max()) if a.size else 0.0
        if top <= 1.0:
            a = a * 255.0
        elif top > 255.0:
            a = a * (255.0 / 65535.0)
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    raise LessonsError(f"cannot make an image from an array of dtype {arr.dtype}: use uint8, uint16 or float in [0, 1]")


def _on_white(img: Image.Image) -> Image.Image:
    """Composite an image with alpha onto a white background (how a browser shows it)."""
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> a new 8-bit RGB image (the pixels must be decodable)."""
    mode = img.mode
    if mode == "RGB":
        return img.copy()
    if mode in _ALPHA_MODES:
        return _on_white(img)
    if mode == "P":
        # A palette image may mark one index (or an alpha table) as transparent.
        if "transparency" in img.info:
            return _on_white(img.convert("RGBA"))
        return img.convert("RGB")
    if mode in _WIDE_GRAY_MODES:
        gray = _scale_to_uint8(np.asarray(img))
        return Image.fromarray(gray).convert("RGB")
    if mode.startswith("I;16"):  # other 16-bit layouts Pillow may name
        gray = _scale_to_uint8(np.asarray(img).astype(np.uint16))
        return Image.fromarray(gray).convert("RGB")
    # "L", "1", "CMYK", "YCbCr", "LAB", "HSV": Pillow converts them itself.
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as e:
        raise LessonsError(f"image mode {mode!r} cannot be converted to RGB ({e}); save it as PNG or JPEG") from e


def _array_to_image(arr: np.ndarray, what: str) -> Image.Image:
    """HxW, HxWx1/3/4 (or CxHxW with C in 1, 3, 4) numpy array -> RGB PIL image."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)  # channels-first -> channels-last
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)) or 0 in a.shape:
        raise LessonsError(
            f"{what}: an image array must have shape (H, W), (H, W, 3) or (H, W, 4), got {tuple(a.shape)}"
        )
    a8 = _scale_to_uint8(np.ascontiguousarray(a))
    if a8.ndim == 2:
        return Image.fromarray(a8).convert("RGB")
    if a8.shape[-1] == 4:
        return _on_white(Image.fromarray(a8))
    return Image.fromarray(a8)


def _check_size(img: Image.Image, what: str, max_pixels: int, owner: str | None = None) -> None:
    w, h = img.size
    if w <= 0 or h <= 0:
        raise LessonsError(f"{what} has an empty size {w}x{h}: it is not a readable image")
    if w * h > max_pixels:
        limit = f"{owner}'s limit" if owner else "the limit"
        raise LessonsError(
            f"{what} is {w}x{h} = {w * h:,} pixels, more than {limit} of {max_pixels:,} pixels; "
            "resize it first" + ("" if owner else ", or pass a larger max_pixels if you trust the file")
        )


def load_image(src: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None,
               max_side: int | None = None, max_full_pixels: int = DEFAULT_MAX_FULL_PIXELS,
               notes: list[str] | None = None, owner: str | None = None) -> Image.Image:
    """Open anything image-like and return an 8-bit RGB PIL image: the kit's one safe image
    loader (the command line, the pipelines, the demo's uploads and the data sources use it).

    Args:
        src: a path (``str`` / ``Path``), ``bytes``, a binary file object, a PIL image, a
            numpy array (``HxW``, ``HxWx3``, ``HxWx4``; uint8, uint16 or float in [0, 1]) or
            a torch tensor (passed to :func:`tensor_to_image`).
        max_pixels: refuse images with more pixels than this (checked from the header,
            before decoding: safe against decompression bombs).
        name: what to call the image in error messages (defaults to the file name).
        max_side: shrink the result to at most this many pixels on its long side (bicubic,
            antialiased); a file is shrunk *while decoding* (a JPEG at 1/2, 1/4 or 1/8 scale by
            libjpeg's draft mode; an 8-bit RGB, gray, RGBA or gray+alpha frame box-averaged by an
            integer factor, alpha premultiplied), so that at most one full-size copy exists.
        max_full_pixels: files that must be converted at full size - 16-bit, palette, CMYK,
            several frames, transparency by palette (up to ~30 bytes per pixel) - are refused
            above this many pixels.
        notes: when given, a list that receives one plain sentence per change made (shrunk,
            first frame of several, transparency on white).
        owner: who sets the limits, for the messages (``"this demo"``); None: "the limit".

    Returns:
        A new RGB image, independent of any open file, EXIF orientation applied.

    Raises:
        LessonsError: the file is missing, is not a readable image (corrupt, truncated,
            not an image at all) or is larger than the limits.
    """
    what = _describe(src, name)
    if isinstance(src, torch.Tensor):
        return _shrunk(tensor_to_image(src), max_side, notes)
    if isinstance(src, np.ndarray):
        img = _array_to_image(src, what)
        _check_size(img, what, max_pixels, owner)
        return _shrunk(img, max_side, notes)
    if isinstance(src, Image.Image):
        _check_size(src, what, max_pixels, owner)
        return _shrunk(_decode(src, what), max_side, notes)

    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.exists():
            raise LessonsError(f"image file {path} does not exist: check the path")
        if path.is_dir():
            raise LessonsError(f"{path} is a folder, not an image file")
        fp: Any = str(path)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        fp = io.BytesIO(bytes(src))
    elif hasattr(src, "read"):
        fp = src
        if not (hasattr(src, "seek") and getattr(src, "seekable", lambda: True)()):
            fp = io.BytesIO(src.read())  # Pillow needs to seek back after sniffing the format
    else:
        raise LessonsError(
            f"cannot load an image from a {type(src).__name__}: pass a path, bytes, a file "
            "object, a PIL image, a numpy array or a tensor"
        )

    # Pillow has its own bomb guard (a warning above ~89 MP, an error above ~179 MP); our
    # own limit replaces the warning and we translate the error into the same message.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(fp) as img:
                _check_size(img, what, max_pixels, owner)  # header only: no pixel decoded yet
                return _decode_file(img, what, max_side, max_pixels, max_full_pixels, notes, owner)
        except LessonsError:
            raise
        except Image.DecompressionBombError as e:
            raise LessonsError(
                f"{what} is too large to decode safely ({e}); {owner or 'the loader'} accepts at most "
                f"{max_pixels:,} pixels: shrink it first"
            ) from e
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError,
                struct.error, TypeError) as e:
            raise LessonsError(f"{what} is not a readable image ({type(e).__name__}: {e})") from e


# modes Image.reduce averages correctly (alpha ones through their premultiplied twins)
_REDUCIBLE = {"RGB": None, "L": None, "RGBA": "RGBa", "LA": "La"}


def _decode_file(probe: Image.Image, what: str, max_side: int | None, max_pixels: int, max_full_pixels: int,
                 notes: list[str] | None, owner: str | None) -> Image.Image:
    """:func:`load_image`'s decoding of an opened file whose header passed the pixel limit."""
    notes = [] if notes is None else notes
    header = w, h = probe.size
    frames = getattr(probe, "n_frames", 1)
    if frames > 1:
        notes.append(f"Your file has {frames} frames: the first one is used.")
    if probe.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in probe.info:
        notes.append("Transparent areas are shown on white.")
    if max_side and probe.format == "JPEG" and max(w, h) > max_side:
        s = max_side / max(w, h)
        probe.draft(None, (max(1, math.ceil(w * s)), max(1, math.ceil(h * s))))
        w, h = probe.size
    factor = max(w, h) // max_side if max_side else 1
    cheap = frames == 1 and probe.mode in _REDUCIBLE and "transparency" not in probe.info
    src: Image.Image = probe
    if factor >= 2 and cheap:
        try:
            probe.load()
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as e:
            raise LessonsError(f"{what} is not a readable image ({type(e).__name__}: {e})") from None
        premultiplied = _REDUCIBLE[probe.mode]
        if premultiplied is None:
            src = probe.reduce(factor)  # keeps probe.info (the EXIF orientation)
        else:
            src = probe.convert(premultiplied).reduce(factor).convert(probe.mode)
    elif not cheap and w * h > max_full_pixels:
        raise LessonsError(
            f"{what} is a {w}x{h} image of mode {probe.mode}" + (f" with {frames} frames" if frames > 1 else "")
            + f": such images are converted at full size, and {owner or 'the loader'} accepts at most "
            f"{max_full_pixels / 1e6:.0f} Mpx of them (8-bit RGB, gray and JPEG up to "
            f"{max_pixels / 1e6:.0f} Mpx); save it as an 8-bit PNG or a JPEG, or shrink it first")
    img = _decode(src, what)
    W, H = img.size
    if (W >= H) != (header[0] >= header[1]):  # turned by its EXIF orientation
        header = (header[1], header[0])
    img = _shrunk(img, max_side, None)
    if img.size != header:
        notes.append(f"Your {header[0]}x{header[1]} photo was shrunk to {img.width}x{img.height} "
                     f"({owner or 'the loader'} works on at most {max_side} px on the long side, to bound its "
                     f"memory).")
    return img


def _shrunk(img: Image.Image, max_side: int | None, notes: list[str] | None) -> Image.Image:
    """``img`` resized to at most ``max_side`` px on its long side (bicubic, antialiased)."""
    W, H = img.size
    if not max_side or max(W, H) <= max_side:
        return img
    s = max_side / max(W, H)
    out = img.resize((max(1, round(W * s)), max(1, round(H * s))), Image.Resampling.BICUBIC, reducing_gap=3.0)
    if notes is not None:
        notes.append(f"Your {W}x{H} image was shrunk to {out.width}x{out.height}.")
    return out


def _decode(img: Image.Image, what: str) -> Image.Image:
    """First frame, EXIF orientation applied, decoded and converted to RGB."""
    try:
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)  # animated / multi-page: the first frame
        img.load()  # decode now, so truncation errors surface here with the file's name
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as e:
        raise LessonsError(f"{what} is not a readable image ({type(e).__name__}: {e})") from e
    try:
        oriented = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose a good image
        oriented = img
    if oriented is None:  # pragma: no cover - exif_transpose(in_place=False) returns an image
        oriented = img
    return _to_rgb(oriented)


def image_to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image -> uint8 tensor ``(3, H, W)`` (non-RGB images go through :func:`load_image`)."""
    if not isinstance(img, Image.Image):
        raise TypeError(f"image_to_tensor expects a PIL image, got {type(img).__name__}")
    if img.mode != "RGB":
        img = load_image(img)
    arr = np.asarray(img, dtype=np.uint8)  # (H, W, 3)
    # The HWC -> CHW copy is done by NumPy: torch's permute().contiguous() on small uint8
    # images costs ~100x more (it dispatches to its thread pool) and dominated the loader.
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
    if not chw.flags.writeable:  # 1-pixel-wide images: no copy was needed, so this is Pillow's read-only buffer
        chw = chw.copy()
    return torch.from_numpy(chw)  # (3, H, W)


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    """``(3, H, W)`` or ``(1, 3, H, W)`` tensor -> RGB PIL image.

    uint8 tensors are taken as they are; float tensors are read as [0, 1] (clipped,
    NaN -> 0). A single-channel ``(1, H, W)`` / ``(H, W)`` tensor gives a gray image.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"tensor_to_image expects a torch.Tensor, got {type(t).__name__}")
    x = t.detach()
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"tensor_to_image takes one image, got a batch of shape {tuple(x.shape)}; index it first")
        x = x[0]
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"expected an image tensor of shape (3, H, W) or (1, 3, H, W), got {tuple(t.shape)}")
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    if x.dtype != torch.uint8:
        if not x.is_floating_point():
            raise ValueError(f"expected a uint8 or float tensor, got {x.dtype}")
        x = (torch.nan_to_num(x.float(), nan=0.0).clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    arr = np.ascontiguousarray(x.cpu().numpy().transpose(1, 2, 0))  # (H, W, 3), copied by NumPy
    return Image.fromarray(arr)
