"""Architecture diagrams drawn from the models themselves, so they cannot drift from the code.

Each diagram builds the real network with :func:`lessons_lib.models.build_model` (small
defaults equal to the lessons' models), runs ONE forward pass on a dummy input with
forward hooks on the modules it draws, and labels every box with the output shape
``C×H×W`` that the hook saw. Change a keyword (the U-Net's ``base`` or ``image_size``,
the PatchGAN's ``n_layers``, NAFNet's ``width``) and the drawing changes with the model.

    fig = draw_architecture("unet", base=32, image_size=64)      # a matplotlib Figure
    stages = architecture_stages("unet", base=32, image_size=64) # the same boxes as data

Names (:data:`ARCHITECTURES`):

* ``"unet"`` - pix2pix U-Net generator (Isola et al. 2017, sec. 3.2.1): 4×4 stride-2
  convs halve H, W and double the channels (up to ``base * max_mult``); the decoder
  mirrors it and concatenates the encoder map of the same size (dashed skips).
* ``"patchgan"`` - pix2pix PatchGAN (sec. 3.2.2): every logit judges one receptive field.
* ``"nin_patchgan"`` - seed 000's PatchGAN whose convs are NIN mlpconv blocks (Lin et al. 2014).
* ``"colorgan"`` - seed 001's ColorGAN: encoder, noise ``z ~ N(0, 0.1^2)`` through
  convs G_f ADDED to the latent map, decoder with skips, and the PatchGAN D on (L, ab).
* ``"nafnet_block"`` - one NAFBlock (Chen et al. 2022, fig. 3c):
  ``y = x + beta * Conv1x1(SCA(SG(DW3x3(Conv1x1_{c->2c}(LN x)))))``,
  ``z = y + gamma * Conv1x1(SG(Conv1x1_{c->2c}(LN y)))``.
* ``"stylegan2_block"`` - one StyleGAN2 synthesis block (Karras et al. 2020, fig. 2d and
  7b): two modulated/demodulated 3×3 convs (style ``s = A(w)``), noise, bias + LReLU, and
  the ToRGB output added to the upsampled RGB of the previous resolution.
* ``"restorer"`` - seed 004's pipeline: x -> NAFNet -> x_R -> encoder (f_16, w codes) ->
  StyleGAN2 G -> x_G; fusion ``x_hat = Conv(Res(Conv(x_R) + Conv(x_G)))`` (seed eq. 1), or
  ``x_hat = x_R + Conv(...)`` with the kit's ``residual=True``.

Keyword arguments go to the model (``build_model(arch, **kwargs)``), except a few options
of the drawing itself (:data:`DIAGRAM_OPTIONS`): ``input_size`` (side of the dummy input),
``level`` (which NAFNet stage's first block), ``block_res`` (which StyleGAN2 resolution),
``discriminator`` (ColorGAN's D config) and, for the restorer, one config dict per network
(``nafnet=``, ``generator=``, ``encoder=``, ``fusion=``), ``size`` and ``residual``.

The code lives in one module per part: :mod:`.graph` (the boxes and arrows),
:mod:`.tracing` (names, options, building a model, one traced forward pass),
:mod:`.colorization` and :mod:`.restoration` (the diagrams of lessons 02-06 and 07-09) and
:mod:`.drawing` (a name to its stages, and the matplotlib drawing).
"""
from __future__ import annotations

from .drawing import architecture_stages, draw_architecture
from .graph import Stage, format_shape
from .tracing import ARCHITECTURES, DIAGRAM_OPTIONS

__all__ = [
    "ARCHITECTURES",
    "DIAGRAM_OPTIONS",
    "Stage",
    "architecture_stages",
    "draw_architecture",
    "format_shape",
]
