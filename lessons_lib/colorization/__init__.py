"""Colorization, one product in one package: its recipe types, its tasks, its inference
class and its evaluation, over the shared floors (``color``, ``data``, ``models``,
``losses``, ``metrics``, ``checkpoints``, the ``train`` engine).

* :mod:`.inputs` - :func:`~.inputs.generator_input`, what G reads (L, or L + hints, or gray
  RGB), the one function that training and inference share;
* :mod:`.colorizer` - :class:`Colorizer`, inference (what follows);
* :mod:`.evaluation` - :func:`evaluate_colorizer`, :func:`hint_curve`;
* :mod:`.tasks` - :class:`~.tasks.ColorizationTask` (pix2pix, seeds 000 and 003, NoGAN, hints),
  :mod:`.colorgan_task` - :class:`~.colorgan_task.ColorGANTask` (seed 001);
* :mod:`.recipes` - the recipe types, each naming its task by import.

This package file imports only inference (the colorizer and its evaluation): loading
:class:`Colorizer` never loads the trainer. The named recipes are in :mod:`lessons_lib.recipes`.

Inference: a trained model in, any photo in, a photo of the same size out. The one
pipeline that the command line (``lessons colorize``, ``lessons eval colorize``), the
lessons, the benchmarks and the demo share::

    from lessons_lib.colorization import Colorizer      # (lessons_lib.pipeline re-exports it)

    colorize = Colorizer("runs/pix2pix")            # a run folder, a .safetensors or a .json card
    photo = colorize("grandparents.jpg")             # path, bytes, PIL image or numpy array
    photo.save("grandparents_colour.png")            # RGB, the same size as the input

The face restorer of seed 004 (``lessons restore``, ``lessons eval restore``) has the same
shape, ``Restorer("runs/fusion/restorer")("face.jpg")``, in :mod:`lessons_lib.restoration`.

What :class:`Colorizer` does with an image of any size ``W x H``
--------------------------------------------------------------------
1. :func:`lessons_lib.data.load_image` opens it (EXIF orientation, 16-bit, CMYK, RGBA,
   palette, animated... all become 8-bit RGB; a corrupt file is a clear
   :class:`~lessons_lib.LessonsError`). A colour photo is treated as the gray photo with the
   same L* (its own colours are never looked at).
2. The **whole image is resized** to the model's training size ``S x S`` (bicubic,
   antialiased), whatever its aspect ratio: the network sees a squeezed or stretched
   picture. Cropping would leave parts of the photo without colour and padding would waste
   the model's few pixels; a convolutional colorizer cares about local texture, which a
   moderate stretch keeps, and the stretch is undone in step 4.
3. The generator predicts the chroma at ``S x S``: the ab planes for a Lab model (pix2pix,
   ColorGAN), or an RGB image for the RGB models of seeds 000 and 003, whose ab planes are
   taken (``rgb_to_lab``) and whose own lightness is dropped.
4. The ab planes are upsampled (bilinear) to ``W x H`` and recombined with the **original,
   full-resolution L**, as colorization tools do (Zhang et al. 2016; DeOldify; DDColor):
   chroma is smooth, lightness carries the edges, so the output is as sharp as the input
   even when the model runs at 128 px.

Lightness is kept exactly: where the predicted colour ``(L, a, b)`` falls outside the sRGB
gamut, the chroma ``(a, b)`` is scaled down (hue kept) until it fits, instead of clipping
R, G and B, which would change L and the hue. The output's L* therefore equals the input's
up to 8-bit rounding (< 0.5 L units).

Memory bound
------------
The full-size recombination runs in bands of rows of about ``band_pixels`` pixels (default
2**20 = 1 Mpx): each band's R, G and B planes are read from the input's 8-bit pixels, its ab
rows are interpolated from the small ab map, and 8-bit output planes are computed and
pasted into the output, so no full-size float plane ever exists (a 12000 x 9000 photo's L
alone would be 432 MB in float32). Peak memory is then about

    8 bytes/pixel  (the decoded input and the output image; Pillow keeps RGB as 4 bytes)
  + ~40 bytes x band_pixels (~40 MB for the default band: the band's planes, its ab rows,
    Pillow's copies, and the colour conversion's temporaries, which are per block of 65,536
    pixels and thread)
  + 8 x S x W bytes (the ab map interpolated to the full width) + the model at S x S,

about 1 GB for a 12000 x 9000 photo, and independent of the photo's size except for the
first term. Images above ``max_pixels`` (default 120 Mpx) are refused with a clear message.

Speed
-----
Per pixel the recombination computes only what the 8-bit output needs: the input's
luminance Y (a table lookup per channel; its a and b are never used) and the new colour in
*linear* RGB, where the gamut test needs no sRGB curve; only the pixels outside the gamut
are bisected, and the 8-bit values come from linear light by a table, without pow()
(``_colorize_band``; the float path :func:`lab_to_rgb_keep_lightness` shares the core).
Measured on the course machine (AMD EPYC, 2 cores shared with other jobs; the shipped
128-px pix2pix; wall clock; "before" is commit b2b07ce, which computed the input's full Lab
and ran every bisection step and the output through the complete Lab -> sRGB conversion):

* 512 x 512: 0.07 s per photo, 0.19 s before (2 torch threads;
  ``benchmarks/bench_demo_latency.py``, ``benchmarks/RESULTS.md``).
* 4000 x 3000 (12 Mpx), one torch thread: 1.7 s with the model's colours (5.7 s before);
  2.6 s when every pixel is out of gamut, a saturated random chroma map (15.9 s before).
* 12000 x 9000 (108 Mpx), one torch thread: 13 s with the model's colours; 22 s when every
  pixel is out of gamut (139 s before),

with 6-9 bytes per pixel above what the process held before (the decoded copy and the
output, 8 bytes per pixel, plus the bands: 0.9 GB at 12000 x 9000).

Models with a noise input
-------------------------
A generator whose model card says ``"g_noise": true`` (ColorGAN) is called as
``G(x, generator=g)`` with ``g = torch.Generator(device).manual_seed(seed)``: it draws its
noise from ``g``, so one seed gives one colouring and different seeds different ones.
Without a seed the Colorizer uses seed 0: the output is always reproducible.

Models that take colour hints
-----------------------------
A generator whose card says ``"g_input": "L+hints"`` (the shipped ``hints`` model, Zhang,
Zhu et al. 2017) reads ``(L, hint a, hint b, mask)``. ``colorizer(photo, hints=[...])``
takes the user's hints as ``X,Y,COLOUR`` strings, ``{"x", "y", "color"}`` dicts or
:class:`lessons_lib.data.hints.Hint` (pixels of the input photo, colours as ``#rrggbb`` or
CSS names): each becomes a square of :attr:`Colorizer.hint_size` model pixels carrying the
colour's ab (its own lightness is dropped: the photo's L is kept). Without hints such a
model colorizes alone; hints given to a model without hint inputs are refused.

Models with colour classes
--------------------------
A generator whose card says ``"head": "classes"`` (``lessons train classes``; Zhang, Isola &
Efros 2016) predicts logits over the ab bins its card lists (``"classes"``), at half the
model size; the Colorizer decodes them by the annealed mean at a temperature T
(:func:`lessons_lib.color.classes.annealed_mean`) and upsamples the ab like any other:
``Colorizer(weights, temperature=T)`` or ``colorizer(photo, temperature=T)``; without one,
the T its card chose on the select set. T = 1 is the mean colour (faithful, pale), T -> 0
the most likely one (vivid). T <= 0, or a T for a model without classes, is refused.

Models are loaded lazily, on the first call, never at import.
"""
from __future__ import annotations

from .colorizer import HINT_SIZE, MAX_CHROMA, Colorizer
from .evaluation import evaluate_colorizer, format_evaluation, hint_curve, hint_locality, simulated_hint_maps

__all__ = ["Colorizer", "HINT_SIZE", "MAX_CHROMA", "evaluate_colorizer", "format_evaluation", "hint_curve",
           "hint_locality",
           "simulated_hint_maps"]
