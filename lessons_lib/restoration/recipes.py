"""The recipe types of the restorer's four stages (seed 004): what each stage trains on.

The named recipes (``nafnet``, ``stylegan2``, ``inversion``, ``fusion``) are in
:mod:`lessons_lib.recipes`; each type names by import (``Task``) its task in :mod:`lessons_lib.restoration.tasks`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .. import LessonsError
from ..train.config import Recipe, TrainConfig, choice
from .bundle import export_bundle
from .tasks import FusionTask, InversionTask, NAFNetTask, StyleGAN2Task

__all__ = ["FaceRecipe", "BlurRecipe", "NAFNetRecipe", "StyleGAN2Recipe", "InversionRecipe", "FusionRecipe"]


@dataclass
class FaceRecipe(Recipe):
    """Common part of the restorer's recipes: the face data."""

    #: image source of aligned faces: "celeba10k" (the course pack), "samples", "synthetic", a folder or a .zip
    data: str = "celeba10k"
    #: faces are size x size (short side resized, centre crop; StyleGAN2 needs a power of two >= 32)
    size: int = 64
    #: use only the first ``limit`` training images (None = all)
    limit: int | None = None
    #: validation images used *during training* (the full split is for ``lessons eval restore``)
    val_limit: int | None = 200
    train_split: str = "train"
    val_split: str = "val"
    #: random horizontal flips of the training faces (a face mirrored is still a face)
    flip: bool = True
    #: warm start: load this stage's network from a run folder, a .safetensors or a restorer
    #: bundle (``lessons_lib/weights/restorer``) before training - its NAFNet (stage nafnet), its
    #: generator as G and G_ema (stylegan2; D starts new, a bundle holds none), its encoder and
    #: generator (inversion; D starts new), its fusion net (fusion). None = from scratch
    init_weights: str | None = None

    def validate(self) -> None:
        super().validate()
        if self.size < 32 or self.size & (self.size - 1):
            raise LessonsError(f"size must be a power of two >= 32 (32, 64, 128, ...; the StyleGAN2 prior and "
                               f"its 16x16 injection point need it), got {self.size}")
        for k in ("limit", "val_limit"):
            v = getattr(self, k)
            if v is not None and v < 1:
                raise LessonsError(f"{k} must be >= 1 or None, got {v}")

    def _smoke_train(self, steps: int = 2) -> TrainConfig:
        return self.train.replace(steps=steps, batch_size=4, log_every=1, sample_every=0, ckpt_every=1000,
                                  eval_every=0, n_samples=4, progress=False)


@dataclass
class BlurRecipe(FaceRecipe):
    """Face data plus the motion blur of seed 004 (sec. 3.1: 1,000 random 71x71 kernels after Rim et al.)."""

    #: kernels in the fixed bank (the seed draws 1,000)
    n_kernels: int = 1000
    #: kernel size; None = kernel_size_for(size): 9 at 64 px (71 at 512 px, the seed's)
    kernel_size: int | None = None
    #: seed of the kernel bank (the same seed always gives the same bank)
    kernel_seed: int = 0
    #: std of additive Gaussian noise on the blurred image, in [0, 1] units (the seed adds none)
    noise_std: float = 0.0
    #: seed of the validation kernels (:func:`~lessons_lib.restoration.blurred_faces.eval_kernel_index`)
    eval_seed: int = 0
    #: when a referenced earlier stage (``*_weights``) does not exist, build that part untrained with
    #: a warning instead of stopping; only the smoke variants (lessons, tests) set it
    allow_untrained: bool = False

    def validate(self) -> None:
        super().validate()
        if self.n_kernels < 1:
            raise LessonsError(f"n_kernels must be >= 1, got {self.n_kernels}")
        if self.kernel_size is not None and (self.kernel_size < 1 or self.kernel_size % 2 == 0
                                             or self.kernel_size // 2 >= self.size):
            raise LessonsError(f"kernel_size must be odd and smaller than twice the image size, got {self.kernel_size}")
        if self.noise_std < 0:
            raise LessonsError(f"noise_std must be >= 0, got {self.noise_std}")

    def bank_params(self) -> dict[str, Any]:
        """The kernel bank as plain JSON (model cards record it)."""
        from ..data.blur import kernel_size_for

        return {"n": self.n_kernels, "size": self.kernel_size or kernel_size_for(self.size),
                "seed": self.kernel_seed, "noise_std": self.noise_std, "eval_seed": self.eval_seed}


@dataclass
class NAFNetRecipe(BlurRecipe):
    """Stage "nafnet": the regression restorer x_R = NAFNet(x), L1 on blurred/sharp pairs."""

    #: channels of the first stage (NAFNet-width32 in the paper; 16 is a CPU teaching size, ~1.1 M params)
    width: int = 16
    #: NAFBlocks per encoder stage; 4 stages take 64 px down to 4x4
    enc_blocks: tuple = (1, 1, 1, 1)
    middle_blocks: int = 1
    dec_blocks: tuple = (1, 1, 1, 1)
    # AdamW with lr 1e-3 and betas (0.9, 0.9), cosine annealing: NAFNet's official training
    # configuration (Chen et al. 2022, and their GoPro deblurring config).
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.9
    weight_decay: float = 0.0

    Task: ClassVar[type] = NAFNetTask

    def validate(self) -> None:
        super().validate()
        if len(self.enc_blocks) != len(self.dec_blocks):
            raise LessonsError(f"enc_blocks and dec_blocks need the same length, got {list(self.enc_blocks)} "
                               f"and {list(self.dec_blocks)}")
        if self.width < 1 or self.lr <= 0:
            raise LessonsError("width and lr must be positive")

    def smoke(self) -> "NAFNetRecipe":
        """Synthetic 32-px images, width 4, two levels, 2 steps of batch 4."""
        return dataclasses.replace(self, data="synthetic", size=32, limit=16, val_limit=8, width=4,
                                   enc_blocks=(1, 1), dec_blocks=(1, 1), n_kernels=16, allow_untrained=True,
                                   train=self._smoke_train())


@dataclass
class StyleGAN2Recipe(FaceRecipe):
    """Stage "stylegan2": the generative prior, a small StyleGAN2 trained on sharp faces."""

    z_dim: int = 128
    w_dim: int = 128
    #: mapping layers (8 in the paper; StyleGAN2-ADA's small-data configs use 2-8)
    n_mlp: int = 4
    #: channels per resolution = min(channel_base / res, channel_max): 128, 128, 128, 64, 32 at 4..64 px
    channel_base: int = 2048
    channel_max: int = 128
    # Adam lr 0.0025, betas (0, 0.99): StyleGAN2-ADA's low-resolution setting; beta1 = 0 because
    # momentum hurts a game whose target moves every step.
    lr: float = 0.0025
    beta1: float = 0.0
    beta2: float = 0.99
    #: R1 weight. StyleGAN2 uses 10 at 1024 px; StyleGAN2-ADA's rule gamma = 0.0002 res^2 / batch
    #: gives ~0.05 at 64 px, batch 16 (R1 sums the gradient over pixels, so it scales with res^2)
    r1_gamma: float = 0.05
    #: lazy regularisation: R1 only every this many steps, times this factor (Karras et al. 2020, sec. 3.1)
    r1_every: int = 16
    #: probability that a batch mixes two latents at a random layer (StyleGAN sec. 3.1: 0.9)
    mixing_prob: float = 0.9
    #: half-life of the exponential moving average of G's weights, in thousands of images
    #: (the exported generator is the average: StyleGAN2-ADA's 10 kimg x batch / 32)
    ema_kimg: float = 5.0

    Task: ClassVar[type] = StyleGAN2Task

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.mixing_prob <= 1.0:
            raise LessonsError(f"mixing_prob must be in [0, 1], got {self.mixing_prob}")
        if self.r1_every < 0 or self.r1_gamma < 0 or self.ema_kimg < 0:
            raise LessonsError("r1_every, r1_gamma and ema_kimg must be >= 0")

    def generator_config(self) -> dict[str, Any]:
        return dict(size=self.size, z_dim=self.z_dim, w_dim=self.w_dim, n_mlp=self.n_mlp,
                    channel_base=self.channel_base, channel_max=self.channel_max)

    def discriminator_config(self) -> dict[str, Any]:
        return dict(size=self.size, channel_base=self.channel_base, channel_max=self.channel_max)

    def smoke(self) -> "StyleGAN2Recipe":
        """Synthetic 32-px images, 16-channel nets, 2 steps of batch 4 (R1 on step 0)."""
        return dataclasses.replace(self, data="synthetic", size=32, limit=16, val_limit=8, z_dim=16, w_dim=16,
                                   n_mlp=2, channel_base=256, channel_max=16, train=self._smoke_train())


@dataclass
class InversionRecipe(BlurRecipe):
    """Stage 1 of the seed (sec. 2.4): encoder E and generator G on x_R, L1 + 10 L_per + 0.3 L_adv."""

    #: the NAFNet run (folder or .safetensors) whose x_R the encoder inverts; it stays frozen
    nafnet_weights: str = "runs/nafnet"
    #: the StyleGAN2 run (folder): G from its model, D from its checkpoint when present
    stylegan2_weights: str = "runs/stylegan2"
    #: resolution of the feature map the encoder predicts (BDInvert's f_16)
    inject_res: int = 16
    encoder_width: int = 32
    encoder_max_channels: int = 256
    #: fine-tune G with E (the seed does); False trains E alone against a frozen G
    finetune_generator: bool = True
    # the seed's eq. 2 and its weights
    lambda_l1: float = 1.0
    lambda_perceptual: float = 10.0
    lambda_adv: float = 0.3
    #: feature network of L_per: "vgg16" (ImageNet, when on disk, else the kit's) or "kit"
    perceptual_net: str = "vgg16"
    #: L_per's form. The seed's is LPIPS, which needs downloaded weights. "normalized":
    #: LPIPS's formula without its learned channel weights (metrics.perceptual_distance:
    #: unit-length features per pixel, squared differences, every layer) - the same scale as
    #: LPIPS, so the seed's weight 10 carries over; "l1": L1 between feature maps (Johnson et
    #: al. 2016, losses.perceptual.PerceptualLoss on f2, f3), whose scale depends on the network
    perceptual_loss: str = "normalized"
    #: R1 on D (part of StyleGAN2's logistic D objective), lazy as in stage "stylegan2"
    r1_gamma: float = 0.05
    r1_every: int = 16
    # the seed: Adam, lr 1e-4 for E and G, 2.5e-5 for D. Betas: Adam's (0.9, 0.999) for the new
    # encoder, StyleGAN2's (0, 0.99) for the pretrained G and D.
    lr: float = 1e-4
    lr_d: float = 2.5e-5

    Task: ClassVar[type] = InversionTask

    def validate(self) -> None:
        super().validate()
        choice("perceptual_net", self.perceptual_net, ("vgg16", "kit"))
        choice("perceptual_loss", self.perceptual_loss, ("normalized", "l1"))
        if not 8 <= self.inject_res <= self.size // 2:
            raise LessonsError(f"inject_res must be between 8 and size/2 = {self.size // 2}, got {self.inject_res}")
        for k in ("lambda_l1", "lambda_perceptual", "lambda_adv", "r1_gamma"):
            if getattr(self, k) < 0:
                raise LessonsError(f"{k} must be >= 0, got {getattr(self, k)}")

    def smoke(self) -> "InversionRecipe":
        return dataclasses.replace(self, data="synthetic", size=32, limit=16, val_limit=8, n_kernels=16,
                                   encoder_width=8, encoder_max_channels=16, allow_untrained=True,
                                   train=self._smoke_train())


@dataclass
class FusionRecipe(BlurRecipe):
    """Stage 2 of the seed (sec. 2.3-2.4): the fusion net on (x_R, x_G), best validation PSNR kept."""

    nafnet_weights: str = "runs/nafnet"
    #: the inversion run (folder or .safetensors): its encoder and fine-tuned generator
    inversion_weights: str = "runs/inversion"
    #: feature channels of the fusion net (the seed does not say; 32 keeps it CPU-sized)
    width: int = 32
    #: residual blocks of Res (the seed: 8)
    n_blocks: int = 8
    #: x_hat = x_R + a zero-initialised correction (not in the seed, whose eq. 1 has no
    #: global skip): the fusion starts as x_R and cannot fall far below it on a small
    #: budget (see lessons_lib.models.fusion); False = the seed's equation
    residual: bool = False
    # the seed's eqs. 3-4 and weights
    lambda_l1: float = 1.0
    lambda_perceptual: float = 10.0
    lambda_fc: float = 1.0
    lambda_cx_r: float = 0.01
    lambda_cx_g: float = 0.05
    #: feature layer of the contextual loss (f3: H/4, 16x16 = 256 positions at 64 px)
    cx_layer: str = "f3"
    #: at most this many positions per map in CX (memory grows as positions^2)
    cx_max_positions: int = 1024
    #: see InversionRecipe: feature network and form of L_per
    perceptual_net: str = "vgg16"
    perceptual_loss: str = "normalized"
    #: Adam lr 1e-3 (the seed), divided by 10 at 20 % of the run (TrainConfig: "step" at 0.2)
    lr: float = 1e-3
    #: write the restorer bundle into OUT/restorer at the end (see :mod:`lessons_lib.restoration.bundle`)
    write_bundle: bool = True

    Task: ClassVar[type] = FusionTask

    def validate(self) -> None:
        super().validate()
        choice("perceptual_net", self.perceptual_net, ("vgg16", "kit"))
        choice("perceptual_loss", self.perceptual_loss, ("normalized", "l1"))
        choice("cx_layer", self.cx_layer, ("f1", "f2", "f3", "f4"))
        for k in ("lambda_l1", "lambda_perceptual", "lambda_fc", "lambda_cx_r", "lambda_cx_g"):
            if getattr(self, k) < 0:
                raise LessonsError(f"{k} must be >= 0, got {getattr(self, k)}")

    def smoke(self) -> "FusionRecipe":
        return dataclasses.replace(
            self, data="synthetic", size=32, limit=16, val_limit=8, n_kernels=16, width=8, n_blocks=2,
            allow_untrained=True, write_bundle=False,
            train=self._smoke_train().replace(best_metric=None))

    def after_training(self, result: Any) -> None:
        """Write the restorer bundle ``OUT/restorer`` (best-PSNR fusion weights when kept)."""
        if not self.write_bundle or result.model_path is None:
            return
        best = Path(result.out) / "best.safetensors"
        fusion = best if best.is_file() else Path(result.model_path)
        path = export_bundle(Path(result.out) / "restorer", fusion=fusion)
        print(f"restorer bundle: {path.parent} (lessons restore IN OUT --weights {path.parent})")

