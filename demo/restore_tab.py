"""The demo's Restore tab: a face, blurred by one of the restorer's kernels (or already blurred), restored.

:class:`lessons_lib.restoration.Restorer` (the shipped seed-004 restorer). A sharp face is
first blurred with kernel ``k`` of the restorer's own kernel bank (the card's
``kernel_bank``: :func:`bank_kernel`, and :func:`lessons_lib.data.blur.blur`, the function
training blurs with), then restored; the page shows x_R (NAFNet), x_G (GAN prior inversion)
and x_hat (fusion), with their PSNR / SSIM against the sharp photo. A photo that is already
blurred is restored as it is (no sharp original: no PSNR).

``build_restore_tab(models)`` is called by :func:`demo.app.build_app` inside its
``gr.Blocks``; the endpoint is ``/restore`` (image, mode (:data:`RESTORE_MODES`), kernel).
"""
from __future__ import annotations

import functools
import math
import time
from typing import Any

import gradio as gr
import matplotlib
import numpy as np
import torch
from PIL import Image

from lessons_lib import LessonsError
from lessons_lib.data import tensor_to_image
from lessons_lib.data.blur import blur, kernel_size_for, motion_blur_kernel

from .common import DemoModels, fmt, guard, heldout, load_upload, photo_input, scores, to_tensor

__all__ = ["RESTORE_MAX_SIDE", "MIN_BLUR_SIDE", "BLUR_FIRST", "ALREADY_BLURRED", "RESTORE_MODES", "bank_kernel",
           "blur_kernel_size", "blur_photo", "kernel_preview", "restore_photo", "build_restore_tab"]

#: Long side (px) above which a photo is shrunk before blurring and restoring. The face
#: model works at 64 px anyway; this keeps the blur (a kernel of ~14 % of the short side,
#: 89 px at 640 px) at a second or two on a CPU.
RESTORE_MAX_SIDE = 640
#: A photo to be blurred needs at least this many pixels a side (the smallest bank kernel is 3x3).
MIN_BLUR_SIDE = 16

BLUR_FIRST = "my photo is sharp: blur it first"
ALREADY_BLURRED = "my photo is already blurred"
#: The restore tab's two modes (the ``mode`` input of ``/restore``).
RESTORE_MODES = (BLUR_FIRST, ALREADY_BLURRED)

# The bundled photos with faces (lessons_lib.data.sources "samples") offered as examples.
_FACE_EXAMPLES = ("astronaut", "grace_hopper")


def _restorer_info(m: dict[str, Any] | None, bank: dict[str, Any]) -> str:
    """Markdown: the restorer, its kernel bank, its held-out PSNR per stage."""
    if m is None:
        return "No restorer is installed."
    card = m["card"]
    lines = [f"**{m['name']}**: {m['description']}. Works on face crops at {card.get('size', '?')} px; "
             f"its kernel bank holds {bank['n']} motion-blur kernels (seed {bank['seed']})."]
    for source, rep in heldout(card).items():
        if not isinstance(rep, dict):
            lines.append(f"Held-out {source}: {rep}")
            continue
        psnrs = ", ".join(f"{k} {rep[k]['psnr']:.2f}" for k in ("blurred", "x_R", "x_G", "x_hat")
                          if isinstance((rep.get(k) or {}).get("psnr"), (int, float)))
        lines.append(f"Held-out **{source}** val ({rep.get('n_images', '?')} faces), PSNR in dB: {psnrs}")
    if card.get("default_output_why"):
        lines.append(f"`lessons restore` returns {card['default_output_why']}")
    return "  \n".join(lines)


# =========================================================================== kernels and blur
@functools.lru_cache(maxsize=64)
def _kernel(seed: int, k: int, size: int) -> torch.Tensor:
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
    if short_side == model_size and isinstance(bank.get("size"), int):
        return int(bank["size"])
    return kernel_size_for(int(short_side))


def blur_photo(img: Image.Image, kernel: torch.Tensor, noise_std: float = 0.0, seed: int = 0) -> Image.Image:
    """Blur an RGB photo with one kernel as training does (:func:`lessons_lib.data.blur.blur`:
    a true convolution, reflect padding; then ``clamp(y + noise_std N(0, 1), 0, 1)`` with
    seeded noise when the bank has noise), rounded to 8 bits."""
    y = blur(to_tensor(img), kernel)
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
    bank = models.kernel_bank_params()
    size = int(bank.get("size") or 9)
    try:
        k = bank_kernel(bank, _kernel_index(kernel, bank["n"]), size).numpy()
    except LessonsError:
        return None
    rgba = matplotlib.colormaps["inferno"](k / max(float(k.max()), 1e-12))
    img = Image.fromarray((rgba[..., :3] * 255).round().astype(np.uint8))
    return img.resize((size * scale, size * scale), Image.Resampling.NEAREST)


# =========================================================================== restore
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
            sc = scores(im, img)
            table.append(f"| {label} | {fmt(sc['psnr'], '.2f')} | {fmt(sc['ssim'], '.3f')} |")
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


# =========================================================================== the tab
def build_restore_tab(models: DemoModels) -> None:
    """The Restore tab and its events (call inside ``gr.Blocks``)."""
    bank = models.kernel_bank_params()

    def on_restore(image, mode, kernel):
        return guard(lambda: restore_photo(models, image, mode, kernel), 4)

    def on_kernel(kernel):
        return kernel_preview(models, kernel)

    def on_mode(mode):
        return gr.Slider(interactive=mode == BLUR_FIRST)

    with gr.Tab("Restore", id="restore"):
        with gr.Row():
            with gr.Column(scale=1):
                r_in = photo_input("a face photo", "restore-input", _FACE_EXAMPLES, "bundled photos with faces")
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
