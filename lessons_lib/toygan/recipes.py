"""The recipe types of lesson 01's and lesson 11's unconditional GANs: the toy GAN on a
ring of Gaussians and DCGAN on small images, each naming by import the task that trains
it (:mod:`lessons_lib.toygan.tasks`). The named recipes (``gan_toy``, ``dcgan``) are in
:mod:`lessons_lib.recipes`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from .. import LessonsError
from ..train.config import Recipe, check_smoothing, choice
from .tasks import DCGANTask, ToyGANTask

__all__ = ["ToyGANRecipe", "DCGANRecipe"]


@dataclass
class _UnconditionalGANRecipe(Recipe):
    """What the toy GAN and DCGAN recipes share: the adversarial loss, Adam, and lesson 11's
    options ("when GAN training fails"), all off by default: ``gan_loss="saturating"`` (the
    minimax G loss), ``lr_d`` (TTUR, Heusel et al. 2017), ``real_label`` (one-sided label
    smoothing, Salimans et al. 2016), ``instance_noise`` (N(0, sigma^2) added to every input
    of D, annealed linearly to 0 over ``instance_noise_steps``; Sonderby et al. 2017, Arjovsky
    & Bottou 2017) and ``d_spectral_norm`` (Miyato et al. 2018). Their task reads them in
    :class:`lessons_lib.toygan.tasks.GANOptions`."""

    gan_loss: str = "vanilla"
    lr: float = 2e-4
    beta1: float = 0.5
    #: D's learning rate; None = lr (TTUR: lr_d > lr, Heusel et al. 2017)
    lr_d: float | None = None
    #: D's target on real samples (vanilla loss); 0.9 = one-sided label smoothing
    real_label: float = 1.0
    #: std of the Gaussian instance noise added to D's real and fake inputs (0 = off)
    instance_noise: float = 0.0
    #: anneal the instance noise linearly to 0 over this many steps (None = constant)
    instance_noise_steps: int | None = None
    #: spectral normalisation of every layer of D
    d_spectral_norm: bool = False

    def validate(self) -> None:
        super().validate()
        choice("gan_loss", self.gan_loss, ("vanilla", "saturating", "lsgan", "wgan", "hinge"))
        check_smoothing(self)


@dataclass
class ToyGANRecipe(_UnconditionalGANRecipe):
    """An MLP GAN learning a ring of Gaussians in 2-D (lesson 01).

    The ring of 8 Gaussians of radius 2 and std 0.02 is the toy problem of Metz et al.
    (2017, "Unrolled GANs", sec. 3.1) for showing mode collapse. Lesson 11's options: see
    :class:`_UnconditionalGANRecipe`; ``lambda_ms`` adds MSGAN's mode-seeking term (Mao et
    al. 2019) to G's loss."""

    modes: int = 8
    radius: float = 2.0
    std: float = 0.02
    #: training points drawn once from the mixture (seeded by data_seed)
    n_points: int = 8192
    #: validation points (their count sets how many samples the mode metrics use)
    n_val: int = 2000
    data_seed: int = 0
    z_dim: int = 2
    hidden: int = 128
    layers: int = 3
    lr: float = 1e-3
    #: weight of the mode-seeking term 1 / (|G(z1) - G(z2)| / |z1 - z2| + eps) in G's loss (0 = off)
    lambda_ms: float = 0.0

    Task: ClassVar[type] = ToyGANTask

    def validate(self) -> None:
        super().validate()
        if self.n_points < 1 or self.modes < 1:
            raise LessonsError("n_points and modes must be >= 1")

    def smoke(self) -> "ToyGANRecipe":
        return dataclasses.replace(
            self, n_points=512, n_val=256, hidden=32,
            train=self.train.replace(steps=20, batch_size=64, log_every=5, sample_every=0, ckpt_every=1000,
                                     progress=False),
        )


@dataclass
class DCGANRecipe(_UnconditionalGANRecipe):
    """DCGAN (Radford et al. 2016) on small images (lesson 01). Lesson 11's options: see
    :class:`_UnconditionalGANRecipe`; ``g_upsample="resize"`` swaps G's transposed convs for
    resize + 3x3 conv (Odena et al. 2016)."""

    data: str = "cifar10"
    size: int = 32
    limit: int | None = None
    z_dim: int = 100
    #: channels of D's first / G's last hidden layer (the paper's 64 at 64 px)
    width: int = 64
    #: Radford et al. sec. 4: Adam lr 0.0002 (0.001 "too high"), beta1 0.5 (0.9 oscillated)
    lr: float = 2e-4
    #: how G doubles H, W: "transpose" (the paper) | "resize" | "bilinear"
    g_upsample: str = "transpose"

    Task: ClassVar[type] = DCGANTask

    def validate(self) -> None:
        super().validate()
        choice("g_upsample", self.g_upsample, ("transpose", "resize", "bilinear"))
        if self.size < 8 or self.size & (self.size - 1):
            raise LessonsError(f"DCGAN size must be a power of two >= 8 (e.g. 32, 64), got {self.size}")

    def smoke(self) -> "DCGANRecipe":
        return dataclasses.replace(
            self, data="synthetic", size=32, limit=16, width=8,
            train=self.train.replace(steps=2, batch_size=4, log_every=1, sample_every=0, ckpt_every=1000,
                                     n_samples=4, progress=False),
        )
