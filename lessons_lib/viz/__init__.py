"""Figures for the lessons: image rows, Lab planes, before/after, training curves.

Every function draws one new matplotlib figure and returns it; nothing calls
``plt.show()``. In JupyterLab the inline backend shows the figure at the end of the cell
(end the line with ``;`` so it is not shown twice); in a script, save it with
``fig.savefig(path)`` and ``plt.close(fig)``. The figures are made with ``pyplot`` so that
the notebook backend sees them, and each function opens exactly one: close what you get.
``pyplot`` is imported with the package (every function here draws; nothing on the command
line's or the inference's path imports ``viz``).

Images may be given in any of the forms the lessons handle: a PIL image, a numpy array
(H, W), (H, W, 3) or (H, W, 1), a torch tensor (3, H, W), (1, H, W), (H, W) or a batch
(B, C, H, W) (one image per item), float in [0, 1] or uint8.

The figures live in one module per topic, and every name is importable from here:

* :mod:`.images` - image forms, image grids, input/output rows, heatmaps of 2-D maps;
* :mod:`.colour` - Lab planes and colour maps, the L1/realism balance, raw accuracy at t,
  diverse colourings;
* :mod:`.curves` - training curves, the raw-accuracy curve, a loss against D's output;
* :mod:`.scores` - runs compared: best run per metric, tables, bars, the trade-off plane;
* :mod:`.toy_gan` - the GAN game: the optimal discriminator, toy 2-D GANs over D's belief;
* :mod:`.patchgan` - receptive fields and the PatchGAN's geometry;
* :mod:`.restoration` - blur paths and kernels, restoration rows, style mixing;
* the architecture diagrams of :mod:`lessons_lib.diagrams`.
"""
from __future__ import annotations

from ..diagrams import ARCHITECTURES, draw_architecture
from .colour import (
    lab_axis_colormap,
    loss_balance_landscape,
    plot_loss_balance,
    show_accuracy_at,
    show_colourings,
    show_lab_planes,
)
from .curves import loss_vs_logit, plot_accuracy_curve, plot_curves, plot_loss_vs_logit
from .images import as_image_list, before_after, show_images, show_maps, to_display_array
from .patchgan import logit_input_gradient, plot_patchgan_geometry, receptive_field_box, show_receptive_field
from .restoration import plot_trajectory, show_blur, show_restoration, show_style_mixing
from .scores import best_runs, metrics_table, plot_metric_bars, plot_tradeoff
from .toy_gan import discriminator_surface, plot_gan_snapshots, plot_optimal_discriminator, plot_toy_gan

__all__ = [
    "plot_tradeoff",
    "show_colourings",
    "to_display_array",
    "as_image_list",
    "show_images",
    "show_lab_planes",
    "before_after",
    "plot_curves",
    "plot_accuracy_curve",
    "lab_axis_colormap",
    # lesson 01
    "plot_optimal_discriminator",
    "discriminator_surface",
    "plot_toy_gan",
    "plot_gan_snapshots",
    # lesson 04
    "show_maps",
    # lesson 05
    "loss_vs_logit",
    "plot_loss_vs_logit",
    "best_runs",
    "metrics_table",
    "plot_metric_bars",
    # lessons 02 and 03
    "loss_balance_landscape",
    "plot_loss_balance",
    "show_accuracy_at",
    "receptive_field_box",
    "logit_input_gradient",
    "show_receptive_field",
    "plot_patchgan_geometry",
    # lessons 07-09
    "plot_trajectory",
    "show_blur",
    "show_restoration",
    "show_style_mixing",
    # architecture diagrams (lessons_lib.diagrams)
    "draw_architecture",
    "ARCHITECTURES",
]
