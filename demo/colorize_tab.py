"""The demo's Colorize tab: one photo, one shipped model, a seed; one colouring or several.

:class:`lessons_lib.colorization.Colorizer` with one of the shipped models
(:func:`lessons_lib.zoo.list_models`; the dropdown shows each card's held-out PSNR). A photo
that is already in colour is colorized from its lightness alone (the Colorizer never looks
at the input's colours), and the result is then measured against the original colours with
:mod:`lessons_lib.metrics` (PSNR, SSIM, colourfulness). ColorGAN has a noise input: its seed
slider picks one colouring and "Show me 4 colourings" draws four seeds. A colour-class model
has a temperature slider (the annealed mean, Zhang et al. 2016) and a prior-correction slider.

``build_colorize_tab(models)`` is called by :func:`demo.app.build_app` inside its
``gr.Blocks``; the endpoints are ``/colorize`` (:func:`colorize_photo`) and
``/colorize_many`` (:func:`colorize_many`).
"""
from __future__ import annotations

import time
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image

from lessons_lib import LessonsError
from lessons_lib.color.gamut import recombine
from lessons_lib.colorization.colorizer import check_temperature
from lessons_lib.metrics import colorfulness, mean_pairwise_distance

from .common import (COLOUR_EXAMPLES, DEFAULT_TEMPERATURE, MAX_SIDE, METRICS_MAX_SIDE, DemoModels, fmt, guard,
                     heldout, load_upload, photo_input, scores, small, to_tensor)

__all__ = ["N_COLOURINGS", "COLOUR_THRESHOLD", "colorize_photo", "colorize_many", "build_colorize_tab"]

#: Colourings drawn by "Show me 4 colourings" (seeds s, s+1, ...).
N_COLOURINGS = 4
#: Colourfulness (Hasler & Suesstrunk, 0-255 RGB) above which an upload counts as a colour
#: photo: a gray photo scores 0 (JPEG noise ~1), a faint sepia tint ~10.
COLOUR_THRESHOLD = 3.0


# =========================================================================== labels
def _colour_label(m: dict[str, Any]) -> str:
    """Dropdown label: name, (default), the first held-out PSNR of its card."""
    label = m["name"] + (" (default)" if m["default"] else "")
    for source, rep in heldout(m["card"]).items():
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
    for source, rep in heldout(card).items():
        if not isinstance(rep, dict):
            lines.append(f"Held-out {source}: {rep}")
            continue
        mod, gray = rep.get("model") or {}, rep.get("gray_input") or {}

        def f(d: dict, k: str, spec: str) -> str:
            return format(d[k], spec) if isinstance(d.get(k), (int, float)) else "n/a"

        # photos that chose the checkpoint (the val photos of the training packs, lesson 02's rule)
        # are not held out: say so (the winner's curse, lesson 10)
        # the val splits of its training packs chose a checkpoint by a rule (nogan), unless the
        # run validated on its select set, carved out of the train splits (the class model)
        on_select = bool((card.get("select") or {}).get("validation"))
        chose = bool(card.get("selection")) and not on_select and source in str(card.get("data", "")).split("+")
        label = f"Scored on **{source}**" if chose else f"Held-out **{source}**"
        lines.append(f"{label} {rep.get('split', 'val')} ({rep.get('n_images', '?')} photos"
                     + ("; they chose this checkpoint, so not held out" if chose else "") + ", "
                     + f"{rep.get('size', card.get('size', '?'))} px): PSNR {f(mod, 'psnr', '.2f')} dB "
                     f"(gray input {f(gray, 'psnr', '.2f')}), SSIM {f(mod, 'ssim', '.3f')}, "
                     f"AuC {f(mod, 'auc', '.3f')}, colourfulness {f(mod, 'colorfulness', '.1f')}")
    if not heldout(card):
        lines.append("Its card has no held-out metrics.")
    return "  \n".join(lines)


def _temperature_info(t: float | None) -> str:
    if t is None:
        return "only for a colour-class model (this one regresses its colours)"
    return f"the annealed mean of the predicted colours (Zhang et al. 2016); its card chose {t:g}"


def _correction_info(c: float | None) -> str:
    if c is None:
        return "only for a colour-class model (this one regresses its colours)"
    return (f"the share of the rare-colour rebalancing undone before decoding; its card chose {c:g}. "
            "Lower it for more colour")


def _seed_info(noise: bool) -> str:
    return ("each seed gives another colouring" if noise
            else "this model has no noise input: the seed changes nothing")


# =========================================================================== colorize
def _colourfulness(img: Image.Image) -> float:
    """Hasler & Suesstrunk's colourfulness of a (<= 256 px) copy of the image."""
    return float(colorfulness(to_tensor(small(img, 256))))


def _gray(img: Image.Image) -> Image.Image:
    """The gray photo with the same L* as ``img`` (what the colorizer sees), at full size and
    in bands (:func:`lessons_lib.color.gamut.recombine` with ab = 0)."""
    return recombine(img, torch.zeros(2, 1, 1))


def _seed(seed: Any) -> int:
    try:
        s = int(round(float(0 if seed is None else seed)))
    except (TypeError, ValueError, OverflowError):
        raise LessonsError(f"the seed must be a whole number, got {seed!r}") from None
    if not 0 <= s < 2**63:
        raise LessonsError(f"the seed must be between 0 and 2**63 - 1, got {s}")
    return s


def _colour_report(img: Image.Image, out: Image.Image, gray: Image.Image) -> str:
    """Markdown table: the colorized photo and the gray input against the original colours."""
    o, c, g = small(img), small(out), small(gray)
    where = ("the full image" if o.size == img.size
             else f"copies shrunk to {o.width}x{o.height} (at most {METRICS_MAX_SIDE} px on the long side)")
    rows = [("colorized", scores(c, o), float(colorfulness(to_tensor(c)))),
            ("gray input", scores(g, o), float(colorfulness(to_tensor(g))))]
    table = ["| | PSNR (dB) | SSIM | colourfulness |", "|---|---|---|---|"]
    for label, sc, cf in rows:
        table.append(f"| {label} | {fmt(sc['psnr'], '.2f')} | {fmt(sc['ssim'], '.3f')} | {cf:.1f} |")
    table.append(f"| your original | | | {float(colorfulness(to_tensor(o))):.1f} |")
    return (f"Your photo was in colour: the model saw only its gray version (the slider's left side), "
            f"so its colours can be compared with yours, on {where}:\n\n" + "\n".join(table))


def colorize_photo(models: DemoModels, image: Any, model: str | None, seed: Any = 0, temperature: Any = None,
                   correction: Any = None) -> tuple[tuple[Image.Image, Image.Image], str]:
    """One colouring: ``((gray input, colorized), status markdown)``, both of the working size.
    ``temperature``, ``correction``: a colour-class model's T and prior correction (None: its
    card's; refused for another model)."""
    colorizer = models.colorizer(model)
    name = model or models.default_colour_model
    s = _seed(seed)
    t = None if temperature is None else check_temperature(temperature)
    c = None if correction is None else colorizer.correction_for(correction)   # 0..1, a class model only
    img, notes = load_upload(image, max_side=MAX_SIDE)
    t0 = time.perf_counter()
    out = colorizer(img, seed=s, temperature=t, correction=c)
    gray = _gray(img)
    dt = time.perf_counter() - t0
    seed_txt = f", seed {s}" if colorizer.has_noise else ""
    if colorizer.class_head:
        seed_txt += f", temperature {colorizer.temperature_for(t):g}, prior correction {colorizer.correction_for(c):g}"
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
    seeds = [s + i for i in range(n)]
    outs = [colorizer(img, seed=k) for k in seeds]
    dt = time.perf_counter() - t0
    shrunk = [to_tensor(small(o)) * 255.0 for o in outs]
    spread = float(mean_pairwise_distance(shrunk)) if len(shrunk) > 1 else 0.0
    lines = [f"**{n} colourings** of {img.width}x{img.height} by **{name}**, seeds {seeds[0]}-{seeds[-1]}, "
             f"in {dt:.1f} s. Mean difference between two of them: {spread:.1f} (RGB 0-255, per pixel)."]
    if all(np.array_equal(np.asarray(outs[0]), np.asarray(o)) for o in outs[1:]):
        lines.append("They are identical: this model's noise has no visible effect.")
    elif spread < 0.5:
        lines.append("They barely differ: this model's noise has little visible effect.")
    lines += notes
    return [(o, f"seed {k}") for o, k in zip(outs, seeds)], "\n\n".join(lines)


# =========================================================================== the tab
def build_colorize_tab(models: DemoModels) -> None:
    """The Colorize tab and its events (call inside ``gr.Blocks``). The callbacks look
    :func:`colorize_photo` and :func:`colorize_many` up in this module when they run."""
    default = models.default_colour_model

    def on_colorize(image, model, seed, temperature=None, correction=None):
        # the two sliders apply to a colour-class model only (inactive for the others)
        classes = models.temperature(model or default) is not None
        t = temperature if temperature is not None and classes else None
        c = correction if correction is not None and classes else None
        return guard(lambda: colorize_photo(models, image, model, seed, t, c), 1)

    def on_colorize_many(image, model, seed):
        return guard(lambda: colorize_many(models, image, model, seed), 1)

    def on_model(model):
        try:
            m, noise = models.colour_model(model), models.has_noise(model)
        except LessonsError as e:
            return str(e), gr.Slider(interactive=False), gr.Slider(interactive=False), gr.Slider(interactive=False)
        t, c = models.temperature(model), models.correction(model)
        return (_colour_info(m), gr.Slider(interactive=noise, info=_seed_info(noise)),
                gr.Slider(interactive=t is not None, value=t if t is not None else DEFAULT_TEMPERATURE,
                          info=_temperature_info(t)),
                gr.Slider(interactive=c is not None, value=c if c is not None else 0.0, info=_correction_info(c)))

    with gr.Tab("Colorize", id="colorize"):
        with gr.Row():
            with gr.Column(scale=1):
                c_in = photo_input("your photo (gray or colour)", "colorize-input", COLOUR_EXAMPLES,
                                   "bundled photos")
                c_model = gr.Dropdown(choices=[(_colour_label(m), m["name"]) for m in models.colour_models],
                                      value=default, label="model", elem_id="colorize-model")
                c_info = gr.Markdown(_colour_info(models.colour_model(default) if default else None))
                noise = bool(default) and models.has_noise(default)
                c_seed = gr.Slider(0, 9999, value=0, step=1, label="seed (ColorGAN: which colouring)",
                                   interactive=noise, info=_seed_info(noise), elem_id="colorize-seed")
                t0 = models.temperature(default) if default else None
                c_temp = gr.Slider(0.01, 1.0, value=t0 if t0 is not None else DEFAULT_TEMPERATURE, step=0.01,
                                   label="temperature T (colour-class models: 1 = the mean colour; lower = each "
                                         "pixel's most likely one)",
                                   interactive=t0 is not None, info=_temperature_info(t0),
                                   elem_id="colorize-temperature")
                a0 = models.correction(default) if default else None
                c_corr = gr.Slider(0.0, 1.0, value=a0 if a0 is not None else 0.0, step=0.05,
                                   label="rare colours: prior correction (colour-class models: 0 = vivid, "
                                         "Zhang et al.'s; 1 = faithful, pale)",
                                   interactive=a0 is not None, info=_correction_info(a0),
                                   elem_id="colorize-correction")
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
    c_btn.click(on_colorize, [c_in, c_model, c_seed, c_temp, c_corr], [c_slider, c_status], api_name="colorize")
    c_many_btn.click(on_colorize_many, [c_in, c_model, c_seed], [c_gallery, c_many_status],
                     api_name="colorize_many")
    c_model.change(on_model, [c_model], [c_info, c_seed, c_temp, c_corr], api_visibility="private")
