"""Feature networks for perceptual losses, without a download.

A perceptual loss (Johnson, Alahi & Fei-Fei 2016; ColorGAN, seed 001 eq. 1, term L_p)
compares two images through the activations of a network trained to *classify* images:
two pictures whose features agree look alike to a person, even when their pixels differ.
The seeds use an ImageNet VGG16 (Simonyan & Zisserman 2015), whose weights torchvision
downloads at run time. A classroom may have no internet, so the kit also has its own small
VGG-style classifier, :class:`FeatureNet` (registered as ``"feature_net"``). Which of the two
is used, from which file, is decided by :func:`lessons_lib.metrics.load_feature_net`
(:mod:`lessons_lib.metrics.features`): nothing is ever downloaded, and *random* features,
which measure nothing useful, are never used instead.

Both networks are wrapped in :class:`PerceptualFeatures`, which gives the same four layer
names at the same resolutions, so a loss written for one works with the other:

=======  ============  ===================  =================
layer    resolution    VGG16 (ImageNet)     kit FeatureNet
=======  ============  ===================  =================
``f1``   H x W         relu1_2 (64 ch)      stage 1 (``widths[0]`` ch)
``f2``   H/2           relu2_2 (128 ch)     stage 2
``f3``   H/4           relu3_3 (256 ch)     stage 3
``f4``   H/8           relu4_3 (512 ch)     stage 4
=======  ============  ===================  =================

Inputs are RGB in [0, 1]; both networks normalise them with the ImageNet mean and standard
deviation (the statistics torchvision's VGG was trained with; the kit network uses the same
so that the two are interchangeable).

The same features serve the restorer's perceptual loss and :func:`lessons_lib.metrics.perceptual_distance`,
a distance that is honestly labelled "not LPIPS" (LPIPS also learns per-channel weights on
human judgements; this is a plain feature distance).
"""
from __future__ import annotations

import os
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register
from .layers import check_image_batch

__all__ = [
    "FeatureNet",
    "PerceptualFeatures",
    "LAYERS",
    "VGG_CUTS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "project_features",
]

#: The layer names every :class:`PerceptualFeatures` offers (see the module docstring).
LAYERS = ("f1", "f2", "f3", "f4")
#: ImageNet statistics (torchvision's VGG preprocessing), RGB order.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: torchvision's vgg16().features cut after relu1_2, relu2_2, relu3_3, relu4_3 (indices of
#: the nn.Sequential: conv/relu pairs and max pools; the same cuts LPIPS uses).
VGG_CUTS = (4, 9, 16, 23)


def _normalise(rgb: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (rgb - mean) / std


@register("feature_net")
class FeatureNet(nn.Module):
    """The kit's VGG-style classifier (Simonyan & Zisserman 2015, "configuration A" in spirit).

    Four stages of ``convs_per_stage`` x [3x3 conv -> BatchNorm -> ReLU], a 2x2 max pool
    between stages, then global average pooling, dropout and one linear layer to
    ``n_classes`` logits. For 64 px inputs and the default widths (24, 48, 96, 192):

        (B, 3, 64, 64)   RGB in [0, 1], ImageNet-normalised inside
        stage 1  -> (B, 24, 64, 64)    = f1
        pool     -> (B, 24, 32, 32)
        stage 2  -> (B, 48, 32, 32)    = f2
        pool     -> (B, 48, 16, 16)
        stage 3  -> (B, 96, 16, 16)    = f3
        pool     -> (B, 96, 8, 8)
        stage 4  -> (B, 192, 8, 8)     = f4
        GAP      -> (B, 192)
        linear   -> (B, n_classes)     logits

    3x3 convolutions stacked two by two see 5x5 with fewer weights (VGG's argument);
    BatchNorm lets a small net train fast with a high learning rate on a CPU. The widths
    are a quarter to a third of VGG16's (64-512): about 0.66 M parameters, 1.3 MB in fp16.

    Args:
        widths: channels of the four stages.
        convs_per_stage: 3x3 convs per stage, one int for all or one per stage (VGG16: 2, 2, 3, 3).
        n_classes: logits of the classifier head (the training labels).
        dropout: before the linear head (regularises the small data set).
        classes: the class names, kept in the config so the card can name them.
    """

    def __init__(self, widths: Sequence[int] = (24, 48, 96, 192), convs_per_stage: int | Sequence[int] = 2,
                 n_classes: int = 23, dropout: float = 0.3, classes: Sequence[str] | None = None) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) != len(LAYERS) or min(widths) < 1:
            raise ValueError(f"widths must be {len(LAYERS)} positive channel counts, got {widths}")
        convs = (convs_per_stage,) * len(LAYERS) if isinstance(convs_per_stage, int) else tuple(convs_per_stage)
        if len(convs) != len(LAYERS) or min(convs) < 1:
            raise ValueError(f"convs_per_stage must be >= 1 (an int, or one per stage), got {convs_per_stage}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        if classes is not None and len(classes) != n_classes:
            raise ValueError(f"{len(classes)} class names for n_classes={n_classes}")
        self.widths = widths
        self.classes = list(classes) if classes is not None else None
        stages = []
        c = 3
        for w, n_conv in zip(widths, convs):
            layers: list[nn.Module] = []
            for _ in range(n_conv):
                # bias-free: the BatchNorm shift that follows makes a bias redundant
                layers += [nn.Conv2d(c, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]  # (B, w, h, w)
                c = w
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.pool = nn.MaxPool2d(2)                                     # (B, C, h/2, w/2)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, n_classes))  # (B, n_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        # Kaiming (He et al. 2015) for ReLU nets trained from scratch, not DCGAN's N(0, 0.02):
        # this is a classifier, and N(0, 0.02) shrinks the signal layer after layer.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.head[1].weight, 0.0, 0.01)
        nn.init.zeros_(self.head[1].bias)

    def features(self, rgb: torch.Tensor, layers: Sequence[str] = LAYERS) -> dict[str, torch.Tensor]:
        """RGB in [0, 1] ``(B, 3, H, W)`` -> ``{layer: feature map}`` for the asked ``layers``."""
        check_image_batch(rgb, 3, "feature network input (RGB in [0, 1])")
        want = _check_layers(layers)
        h = _normalise(rgb, self.mean, self.std)
        out: dict[str, torch.Tensor] = {}
        last = max(LAYERS.index(n) for n in want)
        for i, stage in enumerate(self.stages[: last + 1]):
            if i:
                h = self.pool(h)
            h = stage(h)                                                # f_{i+1}: (B, widths[i], H/2^i, W/2^i)
            if LAYERS[i] in want:
                out[LAYERS[i]] = h
        return out

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] ``(B, 3, H, W)`` -> class logits ``(B, n_classes)``."""
        f4 = self.features(rgb, ("f4",))["f4"]                           # (B, C4, H/8, W/8)
        return self.head(f4.mean(dim=(2, 3)))                           # GAP -> (B, n_classes)


def _check_layers(layers: Sequence[str]) -> tuple[str, ...]:
    if isinstance(layers, str):
        layers = (layers,)
    bad = [n for n in layers if n not in LAYERS]
    if bad or not layers:
        raise ValueError(f"unknown feature layer(s) {bad or '(none)'}; choose among {', '.join(LAYERS)}")
    return tuple(layers)


class PerceptualFeatures(nn.Module):
    """A frozen feature network with the layer names ``f1`` .. ``f4`` (module docstring).

    Always in eval mode (BatchNorm uses its running statistics, so a loss does not depend
    on the batch) and never trained: ``requires_grad`` is off for its weights, while
    gradients still flow *through* it to the images (what a perceptual loss needs).

    Attributes:
        source: ``"vgg16"`` or ``"kit"``.
        description: what it is, for messages and model cards, e.g. ``"vgg16 (ImageNet)"``
            or ``"kit features_kit (trained on scenes8 + flowers5 + cifar10, ...)"``.
        channels: ``{layer: channels}``; ``stride``: ``{layer: downsampling factor}``.
        path: the weights file it was loaded from.
    """

    def __init__(self, net: nn.Module, source: str, description: str, channels: Sequence[int],
                 path: str | os.PathLike | None = None) -> None:
        super().__init__()
        self.net = net
        self.source = source
        self.description = description
        self.channels = dict(zip(LAYERS, (int(c) for c in channels)))
        self.stride = {n: 2 ** i for i, n in enumerate(LAYERS)}
        self.path = str(path) if path is not None else None
        # ImageNet statistics for the VGG path (the kit network normalises inside itself)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "PerceptualFeatures":  # noqa: D102 - stays in eval
        return super().train(False)

    def __repr__(self) -> str:
        return f"PerceptualFeatures({self.description!r})"

    def forward(self, rgb: torch.Tensor, layers: Sequence[str] = LAYERS) -> dict[str, torch.Tensor]:
        """RGB in [0, 1] ``(B, 3, H, W)`` -> ``{layer: (B, C_layer, H/stride, W/stride)}``."""
        want = _check_layers(layers)
        if self.source == "kit":
            return self.net.features(rgb, want)
        check_image_batch(rgb, 3, "feature network input (RGB in [0, 1])")
        h = _normalise(rgb, self.mean, self.std)
        out: dict[str, torch.Tensor] = {}
        last = max(LAYERS.index(n) for n in want)
        start = 0
        for i, cut in enumerate(VGG_CUTS[: last + 1]):
            h = self.net[start:cut](h)                                  # relu{i+1}_x: (B, C, H/2^i, W/2^i)
            start = cut
            if LAYERS[i] in want:
                out[LAYERS[i]] = h
        return out


def project_features(feat: torch.Tensor, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """Bring a feature map ``(B, C_f, H_f, W_f)`` to ``(B, channels, *size)`` without weights.

    Used by ColorGAN's L_s (seed 001 eq. 2), which compares the noise branch's feature map
    with the feature network's features of the true colour image although the two differ in
    shape. The projection has no parameters on purpose: a learned one could shrink both
    sides to zero and make L_s meaningless.

    It is adaptive average pooling over (channels, height, width) at once
    (``F.adaptive_avg_pool3d`` on the map seen as one 3-D volume): output entry (k, i, j)
    is the mean of the input entries in channel bin k and spatial cell (i, j), the bins
    being ``[floor(k C_f / C), ceil((k + 1) C_f / C))`` as in any adaptive pool. When the
    sizes divide, these are exact box averages (H_f = 4h: 4x4 cells; C_f = 2C: pairs of
    channels); when the target has more channels than the input, channels are repeated.
    """
    check_image_batch(feat, None, "features to project")
    if channels < 1 or min(size) < 1:
        raise ValueError(f"target shape must be positive, got channels={channels}, size={tuple(size)}")
    if tuple(feat.shape[1:]) == (channels, *size):
        return feat
    return F.adaptive_avg_pool3d(feat.unsqueeze(1), (channels, *size)).squeeze(1)  # (B, channels, h, w)
