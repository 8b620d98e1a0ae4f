"""Image-quality metrics for colorization and restoration, in PyTorch.

Every function takes image batches ``(B, C, H, W)`` (a single ``(C, H, W)`` image is
accepted too) as torch tensors, float in ``[0, 1]`` unless said otherwise (uint8 RGB is
accepted where the input is an RGB image), and checks that prediction and target agree in
shape. What is measured, in which units, and where each definition comes from:

================  =====================================================  ==================
metric            definition                                             source
================  =====================================================  ==================
MAE               mean |pred - target| per channel, in the input's       Nazeri et al. 2018,
                  units (the report: RGB in 0-255 and ab in Lab units)   seed 000
raw accuracy      share of pixels whose ab distance <= t, t = 0..150     Zhang et al.,
                  (Lab units); AuC = area under it, normalised to [0,1]  ECCV 2016
PSNR              10 log10(data_range^2 / MSE), per image                 -
SSIM              Gaussian-window SSIM (sigma 1.5, K1 .01, K2 .03)       Wang et al. 2004
colorfulness      sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mu_rg^2 + mu_yb^2)  Hasler & Suesstrunk
                  on 0-255 RGB, rg = R - G, yb = (R + G)/2 - B           2003
LPIPS             learned distance of unit-normalised AlexNet/VGG        Zhang et al.,
                  features (needs pretrained weights on disk)           CVPR 2018
FID               Frechet distance of Inception pool3 features          Heusel et al. 2017
                  (needs pretrained weights on disk)
perceptual        LPIPS's formula with every channel weighing 1, on     Zhang et al. 2018
distance          any feature network (the kit's): not LPIPS            (baseline)
FID_kit           FID's formula on the kit network's pooled f4          Heusel et al. 2017
                  features (any set size; biased up for small sets)
KID_kit           unbiased MMD^2, cubic polynomial kernel, kit features Binkowski et al. 2018
precision /       share of fake (real) vectors inside the k-NN balls    Kynkaanniemi et al.
recall            of the real (fake) set, k = 3                         2019
================  =====================================================  ==================

The ``_kit`` metrics (:func:`feature_report`) use the kit's own feature network, whose
validation accuracy every report prints beside them: they rank models against each other
on the same images, but their values are not comparable with papers' FID or KID.

LPIPS and FID are computed only when their pretrained weights are already on this disk
(see :func:`weights_dir`); nothing is ever downloaded, and a network with random weights
never produces a number: the reports then say exactly :data:`UNAVAILABLE`.

Every name is importable from here (``from lessons_lib.metrics import psnr``); the code
lives in one module per topic:

=================  ==========================================================================
``pixel``          MAE, raw accuracy and AuC, PSNR, SSIM, colorfulness, diversity
``pretrained``     :func:`weights_dir`, :func:`load_pth`, LPIPS and FID (published weights)
``distributions``  the perceptual distance; Frechet distance, KID, precision / recall, bootstrap
``features``       the feature network's loading (:func:`load_feature_net`) and the ``_kit`` scores
``reports``        the colorization and restoration reports, their labels and text table
``checks``         the input checks and reductions the others share
``accumulate``     :class:`BatchMeans` (batch-weighted means of reports: every evaluation) and
                   :func:`set_scores` (FID and the ``_kit`` scores of a whole set)
=================  ==========================================================================
"""
from __future__ import annotations

from .accumulate import BatchMeans, set_scores
from .distributions import (bootstrap_interval, frechet_distance, frechet_feature_distance, kernel_distance,
                            mmd2_unbiased, perceptual_distance, polynomial_kernel, precision_recall)
from .features import (KIT_WEIGHTS, feature_net_available, feature_report, find_vgg16_weights, image_embeddings,
                       kit_feature_report, load_feature_net, ship_feature_net)
from .pixel import auc, colorfulness, colorfulness_gap, mae, mean_pairwise_distance, psnr, raw_accuracy_curve, ssim
from .pretrained import UNAVAILABLE, fid, fid_available, load_pth, lpips_available, lpips_distance, weights_dir
from .reports import METRIC_LABELS, colorization_report, format_report, restoration_report

__all__ = [
    "BatchMeans",
    "set_scores",
    "UNAVAILABLE",
    "METRIC_LABELS",
    "mae",
    "raw_accuracy_curve",
    "auc",
    "psnr",
    "ssim",
    "colorfulness",
    "colorfulness_gap",
    "mean_pairwise_distance",
    "weights_dir",
    "load_pth",
    "lpips_available",
    "lpips_distance",
    "fid_available",
    "fid",
    "frechet_distance",
    "perceptual_distance",
    "frechet_feature_distance",
    "polynomial_kernel",
    "mmd2_unbiased",
    "kernel_distance",
    "precision_recall",
    "bootstrap_interval",
    "image_embeddings",
    "KIT_WEIGHTS",
    "find_vgg16_weights",
    "feature_net_available",
    "load_feature_net",
    "ship_feature_net",
    "feature_report",
    "kit_feature_report",
    "colorization_report",
    "restoration_report",
    "format_report",
]
