"""Restoration, one product in one package: the GAN-prior fusion restorer of seed 004, its
four stages' recipe types and tasks, its bundle, its inference class (:class:`Restorer`)
and its scores, over the shared floors (``lessons_lib.restorer`` is a compatibility shim).

Lee, Kang, Lee, Baek & Cho, "Image restoration with a regression network and a GAN"
(``seeds/004``): a motion-blurred face ``x`` goes through

    x_R   = NAFNet(x)                          accurate structure, blurry detail   (regression)
    x_G   = G(E(x_R))                          sharp, but not quite the same face  (GAN prior, sec. 2.2)
    x_hat = Conv(Res(Conv(x_R) + Conv(x_G)))   both at once                        (fusion, eq. 1)

and is trained in the seed's stages, each a :class:`~lessons_lib.train.task.Task` with its
recipe (:mod:`lessons_lib.recipes`: ``nafnet``, ``stylegan2``, ``inversion``, ``fusion``):

=============  ==============================================================================
stage          what trains, with which loss
=============  ==============================================================================
``nafnet``     NAFNet on blurred/sharp pairs, L1 (the seed's "MAE" regression).
``stylegan2``  the prior: a StyleGAN2 G and D on sharp faces, non-saturating logistic loss,
               lazy R1 every 16 steps, style mixing (Karras et al. 2020).
``inversion``  stage 1: encoder E and generator G fine-tuned on x_R = NAFNet(x) (NAFNet frozen),
               ``L_E = L1 + 10 L_per + 0.3 L_adv`` (seed eq. 2); D with the logistic loss.
``fusion``     stage 2: the fusion net (NAFNet, E, G frozen),
               ``L_F = L1 + 10 L_per + 1 (0.01 CX(x_R, x_hat) + 0.05 CX(x_G, x_hat))`` (eqs. 3-4),
               lr 1e-3 divided by 10 at 20 % of the run (8k of 40k), the best validation PSNR kept.
=============  ==============================================================================

Later stages name earlier runs by path (``--set nafnet_weights=runs/nafnet``); every stage is
resumable (``--resume``) like any run of the engine.

``L_per``: the seed uses LPIPS, whose networks need a download. The kit's perceptual loss
(:class:`lessons_lib.losses.perceptual.PerceptualLoss`) uses torchvision's VGG16 when its
weights are on disk, else the kit's own feature network (:func:`lessons_lib.metrics.load_feature_net`),
never random features; the model card says which. The same features give the contextual
loss its feature vectors and the evaluation its perceptual distance ("not LPIPS").

Data: any image source of aligned faces (``celeba10k``: 89x109 CelebA faces, short side
resized to ``size``, centre crop, so 64x64 keeps the face from brow to chin), random
horizontal flips for training. Blurred/sharp pairs are made on the training device
(:mod:`lessons_lib.data.blur`): a fixed, seeded bank of 1,000 motion-blur kernels of
``kernel_size_for(size)`` pixels (the seed's 71 px at 512 px, 9 px at 64 px); each training
image draws a kernel from the item's seeded RNG, each validation/test image ``i`` the kernel
:func:`~.blurred_faces.eval_kernel_index` ``(i)``, so every method is measured on the same blurred images.

The modules, bottom to top (``tests/test_import_floors.py``):

* :mod:`.bundle` - the restorer bundle and the loaded networks (:class:`~.bundle.RestorerParts`):
  reading, writing and running it, and :func:`~.bundle.load_stage` for the earlier stages.
  Inference: it imports no training code (what ``lessons restore`` loads);
* :mod:`.blurred_faces` - face crops and their blurred/sharp pairs on the training device;
* :mod:`.evaluation` - the scores (PSNR, SSIM, sharpness, the perceptual distance) and
  :func:`~.evaluation.evaluate_restorer`, the seed's table;
* :mod:`.recipes` - the recipe types of the four stages (the named recipes are in
  :mod:`lessons_lib.recipes`), each naming its task by import (``NAFNetRecipe.Task``);
* :mod:`.tasks` - :class:`~.tasks.NAFNetTask`, :class:`~.tasks.StyleGAN2Task`,
  :class:`~.tasks.InversionTask`, :class:`~.tasks.FusionTask` on the one engine;
* :mod:`.restorer` - :class:`Restorer`, inference: any face photo in, the same size out.

This package file imports only inference (the restorer, its bundle and its scores), so
that loading :class:`Restorer` never loads the trainer.
"""
from __future__ import annotations

from .evaluation import evaluate_restorer, format_restoration, seed_comparison_table
from .restorer import Restorer

__all__ = ["Restorer", "evaluate_restorer", "format_restoration", "seed_comparison_table"]
