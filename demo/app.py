"""The web demo: colorize an old photo, restore a motion-blurred face (Gradio).

::

    lessons demo                          # or: python -m demo  (--host, --port, --share)

    from demo.app import build_app        # the page without a server (what the tests launch)
    app = build_app()
    app.launch(prevent_thread_lock=True)

Four tabs, each a thin layer over :mod:`lessons_lib` (nothing is computed here that the
package does not compute the same way for the command line and the lessons), each in its
own file with its handlers and its events:

* **Colorize** (:mod:`demo.colorize_tab`) -- a shipped colorizer on one photo, measured
  against the photo's own colours when it has some; several colourings of a noisy model;
* **Colour hints** (:mod:`demo.hints_tab`) -- the shipped hint model; clicks place hints,
  every change recolours the photo;
* **Restore** (:mod:`demo.restore_tab`) -- the shipped restorer on a face, blurred first
  with one of its own kernels or restored as it is;
* **Video** (:mod:`demo.video_tab`) -- a clip colorized with or without the temporal method.

What they share -- the models (:class:`DemoModels`), reading an upload (:func:`load_upload`,
the kit's safe loader with the demo's limits), the error guard and the result files -- is
in :mod:`demo.common`. This module puts the tabs on one page (:func:`build_app`), starts the
server (:func:`main`), and re-exports the tabs' public names (``from demo.app import
colorize_photo`` keeps working).

Named API endpoints (``gradio_client``: ``Client(url).predict(handle_file(path), ...,
api_name="/colorize")``):

=================== ===========================================  ==================================
``/colorize``       image, model name, seed, temperature          (gray, colour) image pair, status
``/colorize_many``  image, model name, first seed                 gallery of 4 (1 for a model
                                                                  without noise), status
``/restore``        image, mode (:data:`RESTORE_MODES`), kernel   blurred input, x_R, x_G, x_hat,
                                                                  status
``/colorize_hints`` image, hints (a list of ``{"x", "y",          colorized image, status
                    "color"}``: pixels of the photo, ``#rrggbb``
                    or a CSS name)
``/colorize_video`` clip, temporal method on/off, hints (with     gray clip, colorized clip, status
                    their ``"frame"``)
=================== ===========================================  ==================================

The status is Markdown: what was done, the metrics, or -- for a file that cannot be used --
a plain-English message (the images are then empty). No request ever ends in a traceback:
a :class:`lessons_lib.LessonsError` (the user's input) becomes the message and a warning
toast; anything unexpected is logged on the server with its traceback and the page says
that something went wrong. The server keeps serving either way.

Memory and concurrency
----------------------
* Uploads: at most :data:`MAX_UPLOAD_PIXELS` (120 Mpx, read from the file's header before a
  pixel is decoded: decompression bombs are refused) and :data:`MAX_FILE_SIZE`. Gradio does
  not decode uploads here (:class:`demo.common.Upload` hands over the file's path); :func:`load_upload`
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
import logging
from pathlib import Path
from typing import Sequence

import gradio as gr

from .colorize_tab import N_COLOURINGS, build_colorize_tab, colorize_many, colorize_photo
from .common import (CACHE_MAX_AGE_S, MAX_FILE_SIZE, MAX_FULL_DECODE_PIXELS, MAX_SIDE, MAX_UPLOAD_PIXELS,
                     METRICS_MAX_SIDE, PEAK_GB, DemoModels, load_upload)
from .hints_tab import (build_hints_tab, colorize_with_hints, hint_add, hint_move, hint_recolour, hint_remove,
                        hint_reset, hint_undo, hints_from_table, new_hint_state, predicted_colour)
from .restore_tab import (ALREADY_BLURRED, BLUR_FIRST, RESTORE_MAX_SIDE, RESTORE_MODES, bank_kernel,
                          blur_kernel_size, blur_photo, build_restore_tab, restore_photo)
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

#: Requests waiting in the queue at most (``queue(max_size=...)``).
QUEUE_SIZE = 16
#: Requests processed at the same time (the queue's ``default_concurrency_limit``).
CONCURRENCY = 2

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


def build_app(*, device: str = "auto", weights_dir: str | Path | None = None, queue_size: int = QUEUE_SIZE,
              concurrency: int = CONCURRENCY) -> gr.Blocks:
    """The demo page (tabs Colorize, Colour hints, Restore and Video, API endpoints ``/colorize``,
    ``/colorize_many``, ``/colorize_hints``, ``/restore``, ``/colorize_video``) with its queue
    set, not yet launched.

    Each tab is built, and its events wired, by its own module's ``build_*_tab`` (the callbacks
    look their handler up in that module when they run); all of them read uploads through
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
        build_colorize_tab(models)
        build_hints_tab(models)
        build_restore_tab(models)
        build_video_tab(models)
    app.queue(max_size=queue_size, default_concurrency_limit=concurrency)
    return app


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
