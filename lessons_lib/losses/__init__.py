"""Every loss of the kit, re-exported from one module per kind.

* :mod:`.adversarial` - GANLoss (vanilla / non-saturating, LSGAN, WGAN, hinge), the WGAN-GP
  gradient penalty and the R1 penalty;
* :mod:`.reconstruction` - L1 and the CycleGAN identity loss for RGB and Lab colorizers;
* :mod:`.contextual` - the contextual loss (Mechrez et al. 2018) of the fusion restorer;
* :mod:`.perceptual` - the perceptual (feature L1) loss of ColorGAN and the restorer;
* :mod:`.diversity` - the mode-seeking regulariser (Mao et al. 2019), ColorGAN's ``lambda_ms``;
* :mod:`.classes` - the class-rebalanced cross-entropy of a colour-class head (Zhang et al. 2016).
"""
from __future__ import annotations

from .adversarial import GAN_LOSSES, GANLoss, gan_loss, gradient_penalty, r1_penalty
from .classes import class_cross_entropy, rebalanced_class_loss
from .contextual import ContextualLoss, contextual_loss, contextual_similarity
from .diversity import mode_seeking_loss, mode_seeking_ratio
from .perceptual import PerceptualLoss
from .reconstruction import COLOR_SPACES, chroma_removed, identity_loss, identity_target, l1_loss

__all__ = [
    "GAN_LOSSES",
    "GANLoss",
    "gan_loss",
    "gradient_penalty",
    "r1_penalty",
    "COLOR_SPACES",
    "l1_loss",
    "identity_loss",
    "chroma_removed",
    "identity_target",
    "contextual_loss",
    "contextual_similarity",
    "ContextualLoss",
    "PerceptualLoss",
    "mode_seeking_ratio",
    "mode_seeking_loss",
    "class_cross_entropy",
    "rebalanced_class_loss",
]
