"""Perceptual (feature) loss: L1 between the feature maps of a frozen classifier.

Johnson, Alahi & Fei-Fei (2016, "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", eq. 2) compare images through the activations phi_l of a network
trained for recognition instead of through pixels; ColorGAN (seed 001, eq. 1, term L_p)
uses "the L1 distance of features extracted by the pre-trained VGG network":

    L_p(x, y) = sum_l  w_l * mean_{c,h,w} | phi_l(x) - phi_l(y) |

with the mean taken over each layer's C_l x H_l x W_l entries (and the batch), so that a
layer's weight does not depend on its size. Two colourings that differ by a hue shift the
eye barely notices (sky a little more cyan) change deep features little, while a wrong
object colour (green sky) changes them a lot - L1 on ab cannot tell these apart.

The feature network comes from :func:`lessons_lib.metrics.load_feature_net`:
torchvision's ImageNet VGG16 when its weights are on disk, else the kit's own network;
the layer names ``f1``..``f4`` are the same for both (relu1_2 .. relu4_3 for VGG16).
The network is frozen; gradients flow through it to the image ``x``, never into it.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

__all__ = ["PerceptualLoss", "DEFAULT_LAYERS"]

#: relu2_2 and relu3_3 for VGG16: mid-level features (textures, object parts) that carry
#: colour regions; relu1_2 mostly repeats the pixels' L1 and relu4_3 is 8x coarser
#: (Johnson et al. reconstruct content from relu2_2; relu3_3 adds part-level context).
DEFAULT_LAYERS = ("f2", "f3")


class PerceptualLoss(nn.Module):
    """``PerceptualLoss(feature_net, layers, weights)(x, y)`` = sum_l w_l mean|phi_l(x) - phi_l(y)|.

    Args:
        feature_net: a :class:`~lessons_lib.models.features.PerceptualFeatures` (or any
            module called as ``net(rgb, layers) -> {layer: map}``), frozen.
        layers: feature layers to compare (default :data:`DEFAULT_LAYERS`).
        weights: one weight per layer (default 1 each).

    ``x`` and ``y`` are RGB in [0, 1], (B, 3, H, W). ``y`` (the target) is passed through
    the network without gradients. :meth:`distance` takes feature dicts already computed
    (a training step that needs the target's features twice computes them once).
    """

    def __init__(self, feature_net: nn.Module, layers: Sequence[str] = DEFAULT_LAYERS,
                 weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if isinstance(layers, str):
            layers = (layers,)
        layers = tuple(layers)
        if not layers:
            raise ValueError("PerceptualLoss needs at least one feature layer (e.g. layers=('f2', 'f3'))")
        weights = tuple(float(w) for w in weights) if weights is not None else (1.0,) * len(layers)
        if len(weights) != len(layers):
            raise ValueError(f"{len(weights)} weights for {len(layers)} layers {layers}: give one weight per layer")
        if any(w < 0 for w in weights):
            raise ValueError(f"layer weights must be >= 0, got {weights}")
        self.feature_net = feature_net
        self.layers = layers
        self.weights = weights

    def features(self, rgb: torch.Tensor, extra: Sequence[str] = ()) -> dict[str, torch.Tensor]:
        """The network's maps of this loss's layers (and ``extra`` ones) for RGB in [0, 1]."""
        want = tuple(dict.fromkeys((*self.layers, *extra)))
        return self.feature_net(rgb, want)

    def distance(self, x_features: dict[str, torch.Tensor], y_features: dict[str, torch.Tensor]) -> torch.Tensor:
        """sum_l w_l mean|phi_l(x) - phi_l(y)| from precomputed feature dicts (scalar)."""
        total = None
        for name, w in zip(self.layers, self.weights):
            if name not in x_features or name not in y_features:
                raise ValueError(f"feature layer {name!r} is missing from the given features")
            fx, fy = x_features[name], y_features[name]
            if fx.shape != fy.shape:
                raise ValueError(f"feature maps of layer {name!r} differ in shape: {tuple(fx.shape)} vs "
                                 f"{tuple(fy.shape)} (the two images must have the same size)")
            term = w * (fx.float() - fy.float()).abs().mean()
            total = term if total is None else total + term
        return total  # type: ignore[return-value]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """L_p(x, y) for RGB images in [0, 1] of the same shape (B, 3, H, W); scalar."""
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError("PerceptualLoss takes two RGB tensors (B, 3, H, W) in [0, 1]")
        if x.shape != y.shape:
            raise ValueError(f"PerceptualLoss: images {tuple(x.shape)} and {tuple(y.shape)} must have the same shape")
        with torch.no_grad():
            fy = self.features(y)
        return self.distance(self.features(x), fy)
