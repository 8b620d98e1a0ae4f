"""The GAN-prior fusion restorer (seed 004) on the one engine: four stages, four tasks.

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
weights are on disk, else the kit's own feature network (:func:`lessons_lib.models.features.load_feature_net`),
never random features; the model card says which. The same features give the contextual
loss its feature vectors and the evaluation its perceptual distance ("not LPIPS").

Data: any image source of aligned faces (``celeba10k``: 89x109 CelebA faces, short side
resized to ``size``, centre crop, so 64x64 keeps the face from brow to chin), random
horizontal flips for training. Blurred/sharp pairs are made on the training device
(:mod:`lessons_lib.data.blur`): a fixed, seeded bank of 1,000 motion-blur kernels of
``kernel_size_for(size)`` pixels (the seed's 71 px at 512 px, 9 px at 64 px); each training
image draws a kernel from the item's seeded RNG, each validation/test image ``i`` the kernel
:func:`eval_kernel_index` ``(i)``, so every method is measured on the same blurred images.

The restorer bundle (what ``lessons restore`` and :class:`lessons_lib.pipeline.Restorer` load)
-------------------------------------------------------------------------------------------
A folder with one card and the four networks, each a safetensors file with its own model
card (the engine's card of the run it came from, so every part says how it was made)::

    BUNDLE/restorer.json            {"format": "gan-lessons-restorer/1", "task": "restoration",
                                     "stage": "bundle", "size": 64, "components": {"nafnet":
                                     "nafnet.safetensors", "encoder": ..., "generator": ...,
                                     "fusion": ...}, "kernel_bank": {...}, "perceptual_features":
                                     ..., "metrics": {...}, "sources": {...}}
    BUNDLE/nafnet.safetensors + .json       NAFNet (stage "nafnet")
    BUNDLE/encoder.safetensors + .json      the inversion encoder   } fine-tuned together in
    BUNDLE/generator.safetensors + .json    the StyleGAN2 generator } stage "inversion"
    BUNDLE/fusion.safetensors + .json       the fusion net (stage "fusion", its best-PSNR weights)

The ``fusion`` recipe writes it at the end of training into ``OUT/restorer`` (through
:meth:`FusionRecipe.after_training`); :func:`export_bundle` writes one from any runs. A run
folder of a single stage works too: ``nafnet`` (x_R only), ``inversion`` (x_R and x_G) or
``fusion`` (everything, the other parts read from the paths its card records).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from .. import LessonsError
from ..models import build_model
from .recipe import Recipe, choice
from .engine import TrainConfig
from .task import Task

__all__ = [
    "FaceRecipe",
    "BlurRecipe",
    "NAFNetRecipe",
    "StyleGAN2Recipe",
    "InversionRecipe",
    "FusionRecipe",
    "FaceCrops",
    "NAFNetTask",
    "StyleGAN2Task",
    "InversionTask",
    "FusionTask",
    "InversionPair",
    "kernel_bank",
    "eval_kernel_index",
    "restoration_scores",
    "laplacian_energy",
    "load_stage",
    "export_bundle",
    "read_bundle",
    "RestorerParts",
    "load_restorer_parts",
    "locate_restorer",
    "restorer_card",
    "evaluate_restorer",
    "format_restoration",
    "SEED004_TABLE",
    "seed_comparison_table",
    "BUNDLE_FORMAT",
    "BUNDLE_CARD",
    "COMPONENTS",
    "OUTPUTS",
]

#: ``format`` of a restorer bundle's card.
BUNDLE_FORMAT = "gan-lessons-restorer/1"
#: the card's file name inside a bundle folder
BUNDLE_CARD = "restorer.json"
#: the networks of a full restorer, in the order they run
COMPONENTS = ("nafnet", "encoder", "generator", "fusion")
#: what a restorer can output: the blurred input itself, and the three stages' images
OUTPUTS = ("blurred", "x_R", "x_G", "x_hat")
_PERCEPTUAL_LABEL = "perceptual distance (feature net, not LPIPS)"


# =========================================================================== recipes
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
    #: seed of the validation kernels (:func:`eval_kernel_index`)
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

    task: ClassVar[str] = "lessons_lib.train.restoration:NAFNetTask"

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

    task: ClassVar[str] = "lessons_lib.train.restoration:StyleGAN2Task"

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

    task: ClassVar[str] = "lessons_lib.train.restoration:InversionTask"

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
    #: write the restorer bundle into OUT/restorer at the end (see the module docstring)
    write_bundle: bool = True

    task: ClassVar[str] = "lessons_lib.train.restoration:FusionTask"

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


# =========================================================================== data
def eval_kernel_index(i: int, n_kernels: int, seed: int = 0) -> int:
    """The bank kernel that blurs evaluation image ``i``: a fixed draw from ``(seed, i)``.

    It depends only on the image's index, not on the batch or on how many images are used,
    so every method (NAFNet, inversion, fusion, the blurred input itself) and every run of
    ``lessons eval restore`` sees exactly the same blurred images."""
    return int(np.random.default_rng([int(seed), int(i)]).integers(int(n_kernels)))


class FaceCrops(Dataset):
    """``size x size`` face crops of an image source, as uint8 with a kernel index.

    Items are ``{"image": (3, S, S) uint8, "kernel": int64}``: the short side is resized to
    S and the centre kept (aligned faces stay aligned: the StyleGAN2 prior needs them so);
    with ``train`` a face is mirrored half of the time and draws a random kernel (from torch's
    global RNG, which the engine seeds per item, so runs and resumes repeat exactly);
    otherwise the kernel is :func:`eval_kernel_index` of the index. ``n_kernels = 0``: no
    kernel (``-1``), for the generative prior.
    """

    def __init__(self, source: Any, size: int, split: str = "train", train: bool = True, *, flip: bool = True,
                 n_kernels: int = 0, eval_seed: int = 0, limit: int | None = None) -> None:
        from ..data import ColorizationDataset

        self.crops = ColorizationDataset(source, size, train=False, split=split)  # centre crops
        self.n = len(self.crops) if limit is None else min(int(limit), len(self.crops))
        self.train, self.flip = bool(train), bool(flip)
        self.n_kernels, self.eval_seed = int(n_kernels), int(eval_seed)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < self.n:
            raise IndexError(f"face {i} is out of range (0..{self.n - 1})")
        img = self.crops[i]                                             # (3, S, S) uint8
        k = -1
        if self.train:
            if self.flip and bool(torch.rand(()) < 0.5):
                img = img.flip(-1)
            if self.n_kernels:
                k = int(torch.randint(self.n_kernels, ()))
        elif self.n_kernels:
            k = eval_kernel_index(i, self.n_kernels, self.eval_seed)
        return {"image": img, "kernel": torch.tensor(k, dtype=torch.int64)}


_BANKS: dict[tuple, Any] = {}


def kernel_bank(n: int, size: int, seed: int = 0):
    """The seeded :class:`~lessons_lib.data.blur.KernelBank` ``(n, size, seed)``, drawn once per process."""
    from ..data.blur import KernelBank

    key = (int(n), int(size), int(seed))
    if key not in _BANKS:
        _BANKS[key] = KernelBank(n=int(n), size=int(size), seed=int(seed))
    return _BANKS[key]


def _bank_of(params: dict[str, Any]):
    return kernel_bank(params["n"], params["size"], params.get("seed", 0))


def blur_batch(sharp_uint8: torch.Tensor, kernels: torch.Tensor, bank_params: dict[str, Any],
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 faces ``(B, 3, S, S)`` and kernel indices -> (blurred, sharp) in [0, 1] on ``device``.

    ``blurred = clamp(k * sharp + noise_std N(0, 1), 0, 1)`` (:func:`lessons_lib.data.blur.make_blurred_batch`);
    the noise, if any, comes from torch's global RNG (checkpointed by the engine)."""
    from ..data.blur import make_blurred_batch

    sharp = sharp_uint8.to(device).float() / 255.0                      # (B, 3, S, S)
    idx = kernels.to(device)
    if bool((idx < 0).any()):
        raise LessonsError("these faces carry no kernel index: build FaceCrops with n_kernels > 0")
    blurred, sharp, _ = make_blurred_batch(sharp, _bank_of(bank_params), noise_std=bank_params.get("noise_std", 0.0),
                                           kernel_idx=idx)
    return blurred, sharp


def _limited_faces(r: FaceRecipe, split: str, train: bool, n_kernels: int, eval_seed: int = 0) -> Dataset | None:
    limit = r.limit if split == r.train_split else r.val_limit
    if split != r.train_split:
        from ..data import open_source

        try:
            open_source(r.data, split)
        except LessonsError as e:
            warnings.warn(f"no validation data: {e}; training without validation metrics", stacklevel=3)
            return None
    return FaceCrops(r.data, r.size, split, train, flip=r.flip, n_kernels=n_kernels, eval_seed=eval_seed, limit=limit)


# =========================================================================== scores
def laplacian_energy(images: torch.Tensor) -> torch.Tensor:
    """Mean squared Laplacian of the luma, per image: ``(B, 3, H, W)`` in [0, 1] -> ``(B,)``.

    A no-reference measure of crispness (the "variance of the Laplacian" focus measure of
    Pech-Pacheco et al., ICPR 2000): the 3x3 Laplacian ``[[0,1,0],[1,-4,1],[0,1,0]]`` responds
    to edges and fine texture, which blur removes and a GAN prior puts back (rightly or not).
    On its own it does not say the detail is *right*: read it next to PSNR."""
    import torch.nn.functional as F

    from ..models.layers import check_image_batch

    check_image_batch(images, 3, "images")
    w = torch.tensor([0.299, 0.587, 0.114], device=images.device, dtype=torch.float32).view(1, 3, 1, 1)
    luma = (images.float() * w).sum(dim=1, keepdim=True)                # (B, 1, H, W) ITU-R BT.601
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=images.device).view(1, 1, 3, 3)
    return F.conv2d(luma, k).pow(2).mean(dim=(1, 2, 3))                 # (B,) valid convolution: no border


def restoration_scores(pred: torch.Tensor, sharp: torch.Tensor, features: nn.Module | None = None) -> dict[str, Any]:
    """PSNR (dB), SSIM, sharpness and the perceptual distance of restored images against the sharp ones.

    ``sharpness`` is the mean over images of ``laplacian_energy(pred) / laplacian_energy(sharp)``
    (1: as crisp as the truth; a blurry image is well below 1; above 1: more high-frequency
    energy than the truth - noise or invented texture).
    ``pred``, ``sharp``: ``(B, 3, H, W)`` in [0, 1] (clamped here). The perceptual distance
    is :func:`lessons_lib.metrics.perceptual_distance` with ``features`` (the kit's feature
    network or VGG16) - a plain feature distance, *not* LPIPS; LPIPS is added only when its
    own weights are on disk (:func:`lessons_lib.metrics.lpips_available`). Means over images."""
    from .. import metrics

    p, t = pred.float().clamp(0, 1), sharp.float().clamp(0, 1)
    out: dict[str, Any] = {"psnr": float(metrics.psnr(p, t)), "ssim": float(metrics.ssim(p, t)),
                           "sharpness": float((laplacian_energy(p) / laplacian_energy(t).clamp_min(1e-12)).mean())}
    if features is not None:
        out["perceptual"] = float(metrics.perceptual_distance(p, t, features=features))
    if metrics.lpips_available():
        out["lpips"] = float(metrics.lpips_distance(p, t))
    return out


def _mean_scores(batches: Iterable[tuple[dict[str, torch.Tensor], torch.Tensor]], features) -> dict[str, float]:
    """Means over images of :func:`restoration_scores` for every named output, ``name_metric`` keys."""
    sums: dict[str, float] = {}
    n = 0
    for outputs, sharp in batches:
        b = sharp.shape[0]
        for name, pred in outputs.items():
            for k, v in restoration_scores(pred, sharp, features).items():
                key = f"{name}_{k}"
                sums[key] = sums.get(key, 0.0) + float(v) * b
        n += b
    return {"n_images": float(n), **{k: v / n for k, v in sums.items()}} if n else {}


# =========================================================================== loading earlier stages
def _stage_paths(weights: str | os.PathLike) -> tuple[Path, Path]:
    """(PATH.safetensors, PATH.json) of a run folder (its model), a .safetensors or a .json."""
    p = Path(weights).expanduser()
    if p.is_dir():
        p = p / "model.safetensors"
    elif p.suffix == ".json":
        p = p.with_suffix(".safetensors")
    elif p.suffix != ".safetensors":
        p = p.with_name(p.name + ".safetensors")
    return p, p.with_suffix(".json")


def load_stage(weights: str | os.PathLike, arch: str, what: str, *, device: torch.device | str = "cpu",
               fallback: dict[str, Any] | None = None, hint: str = "") -> tuple[nn.Module, dict[str, Any]]:
    """Load an earlier stage's network (``arch``) from a run folder or a weights file.

    Returns ``(model, card)`` in eval mode with gradients off. When the file does not exist
    and ``fallback`` (a config) is given, builds that model *untrained* and warns (smoke runs
    only); otherwise raises a :class:`LessonsError` that says which command makes it.

    A restorer bundle (a folder with ``restorer.json``, e.g. the shipped
    ``lessons_lib/weights/restorer``) serves as a warm start: its NAFNet for ``"nafnet"``,
    its (inversion-tuned) StyleGAN2 generator for ``"stylegan2_g"``, its encoder and
    generator for ``"inversion_pair"``."""
    from ..checkpoints import load_model, read_card

    bundle = Path(weights).expanduser()
    if bundle.is_dir() and (bundle / BUNDLE_CARD).is_file():
        files = {"nafnet": "nafnet", "stylegan2_g": "generator", "inversion_pair": "encoder", "fusion_net": "fusion"}
        if arch not in files:
            raise LessonsError(f"{bundle} is a restorer bundle: it holds a NAFNet, a StyleGAN2 generator, an "
                               f"inversion encoder and a fusion net, not a {arch}")
        parts = load_restorer_parts(bundle, device=device)
        model = {"nafnet": parts.nafnet, "inversion_pair": parts.inversion, "fusion_net": parts.fusion,
                 "stylegan2_g": parts.inversion.generator if parts.inversion is not None else None}[arch]
        folder, card = read_bundle(bundle)
        comp_card = read_card(folder / card["components"][files[arch]])
        return model.eval().requires_grad_(False), comp_card
    st, _ = _stage_paths(weights)
    if not st.is_file():
        if fallback is not None:
            warnings.warn(f"no {what} at {weights}: using an UNTRAINED {arch} instead (smoke run only; for real "
                          f"results {hint or 'train that stage first'})", stacklevel=3)
            model = build_model(arch, **fallback).to(device)
            return model.eval().requires_grad_(False), {"untrained": True, "arch": arch, "config": fallback}
        raise LessonsError(f"no {what} at {weights} (looked for {st}); {hint or 'train that stage first'}")
    model, card = load_model(st, device=device, expect_arch=arch)
    return model.eval().requires_grad_(False), card


def _features(prefer: str, device: torch.device):
    from ..models.features import load_feature_net

    return load_feature_net(prefer, device=device)


# The inversion pair (E and G as one network) lives with the encoder in
# lessons_lib.models.inversion, so that `load_model` rebuilds an inversion run without this module.
from ..models.inversion import InversionPair  # noqa: E402

# =========================================================================== shared task code
class _RestorationTask(Task):
    """What the four stages share: face data, blurred pairs, sample grids, the model card."""

    stage = ""

    def __init__(self, recipe: FaceRecipe) -> None:
        super().__init__()
        self.recipe = recipe
        self.name = recipe.name
        self._datasets: dict[tuple[str, bool], Dataset | None] = {}
        self.features = None               # the perceptual feature network (stages 1 and 2)
        self.sources: dict[str, Any] = {}  # cards of the earlier stages this one builds on

    def _n_kernels(self) -> int:
        return getattr(self.recipe, "n_kernels", 0)

    def dataset(self, split: str, train: bool) -> Dataset | None:
        r = self.recipe
        name = r.train_split if split == "train" else r.val_split
        key = (name, train)
        if key not in self._datasets:
            self._datasets[key] = _limited_faces(r, name, train, self._n_kernels(), getattr(r, "eval_seed", 0))
        return self._datasets[key]

    def prepare(self, batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
        blurred, sharp = blur_batch(batch["image"], batch["kernel"], self.recipe.bank_params(), device)
        return {"blurred": blurred, "sharp": sharp}

    def outputs(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The restorer's images for a prepared batch (eval): ``{"blurred", "x_R", ...}`` in [0, 1]."""
        raise NotImplementedError

    def sample(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """One grid row per image kind: blurred, x_R, (x_G, x_hat,) sharp: ``(rows, N, 3, H, W)``."""
        rows = list(self.outputs(data).values()) + [data["sharp"]]
        return torch.stack([r.float().clamp(0, 1) for r in rows])

    def evaluate(self, batches: Iterable[Any]) -> dict[str, float]:
        """PSNR, SSIM (and the perceptual distance when the stage has features) of every output."""
        def scored():
            for batch in batches:
                data = self.prepare(batch, self.device)
                yield self.outputs(data), data["sharp"]

        scores = _mean_scores(scored(), self.features)
        if not scores:
            return {}
        # the stage's own output under short names: best_metric="psnr" selects on it
        main = {"nafnet": "x_R", "inversion": "x_G", "fusion": "x_hat"}[self.stage]
        for k in ("psnr", "ssim", "perceptual", "lpips"):
            if f"{main}_{k}" in scores:
                scores[k] = scores[f"{main}_{k}"]
        return scores

    def _perceptual(self):
        """L_per(x, y) on the recipe's feature network (never random features): the
        LPIPS-like normalised distance, or the L1 feature loss (``recipe.perceptual_loss``)."""
        import functools

        from ..losses.perceptual import PerceptualLoss
        from ..metrics import perceptual_distance

        self.features = _features(self.recipe.perceptual_net, self.device)
        if self.recipe.perceptual_loss == "normalized":
            return functools.partial(perceptual_distance, features=self.features)
        return PerceptualLoss(self.features)

    def _load_nafnet(self, path: str) -> nn.Module:
        r = self.recipe
        fallback = dict(width=4, enc_blocks=[1, 1], dec_blocks=[1, 1], identity_init=True) \
            if r.allow_untrained else None
        net, card = load_stage(path, "nafnet", "NAFNet run", device=self.device, fallback=fallback,
                               hint="train it with `lessons train nafnet --out runs/nafnet` and pass "
                                    "--set nafnet_weights=runs/nafnet")
        self._check_card(card, "NAFNet", path)
        self.sources["nafnet"] = {"weights": str(Path(path).expanduser().resolve()) if not card.get("untrained")
                                  else None, "stage": card.get("stage"), "steps": card.get("steps"),
                                  "metrics": card.get("metrics")}
        return net

    def _warm_start(self, key: str, arch: str, *also: str) -> None:
        """Load ``recipe.init_weights`` (see :class:`FaceRecipe`) into ``nets[key]`` (and ``also``), strict."""
        init = self.recipe.init_weights
        if not init:
            return
        src, card = load_stage(init, arch, f"warm start ({arch})", device=self.device)
        self._check_card(card, f"warm start {arch}", init)
        for k in (key, *also):
            try:
                self.nets[k].load_state_dict(src.state_dict())
            except RuntimeError as exc:
                raise LessonsError(f"init_weights {init} holds another {arch} than this recipe builds (set the "
                                   f"recipe's sizes to the card's): {str(exc).splitlines()[0]}") from None
        self.sources["init"] = {"weights": str(Path(init).expanduser().resolve()), "steps": card.get("steps")}

    def _check_card(self, card: dict[str, Any], what: str, path: str) -> None:
        size = card.get("size")
        if isinstance(size, int) and size != self.recipe.size:
            raise LessonsError(f"the {what} at {path} was trained at {size} px but this run uses {self.recipe.size} px; "
                               f"pass --size {size} or retrain it at {self.recipe.size}")

    def describe(self) -> dict[str, Any]:
        from .recipe import recipe_to_dict

        r = self.recipe
        d: dict[str, Any] = {"task": "restoration", "stage": self.stage, "recipe": r.name,
                             "recipe_config": recipe_to_dict(r), "data": r.data, "size": r.size}
        if isinstance(r, BlurRecipe):
            d["kernel_bank"] = r.bank_params()
        if self.features is not None:
            d["perceptual_features"] = self.features.description
        if self.sources:
            d["sources"] = self.sources
        return d


def _adam(params, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=betas)


# =========================================================================== stage "nafnet"
class NAFNetTask(_RestorationTask):
    """x_R = NAFNet(x) trained with L1 to the sharp face (seed sec. 1: the regression branch).

    The L1 loss makes x_R the *median* of all sharp faces compatible with the blurred one:
    where the blur destroyed detail, that median is smooth - accurate but blurry (what the
    GAN prior of the next stages adds back)."""

    phases = ("G",)
    export_key = "G"
    stage = "nafnet"

    def network_config(self) -> dict[str, Any]:
        r = self.recipe
        return dict(width=r.width, enc_blocks=list(r.enc_blocks), middle_blocks=r.middle_blocks,
                    dec_blocks=list(r.dec_blocks))

    def setup(self, device: torch.device) -> None:
        r = self.recipe
        self.nets = {"G": build_model("nafnet", **self.network_config()).to(device)}
        self._warm_start("G", "nafnet")
        self.opts = {"G": torch.optim.AdamW(self.nets["G"].parameters(), lr=r.lr, betas=(r.beta1, r.beta2),
                                            weight_decay=r.weight_decay)}

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**data, "x_R": self.nets["G"](data["blurred"])}        # (B, 3, S, S)

    def loss(self, phase: str, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        if phase != "G":
            raise LessonsError(f"the nafnet task has no phase {phase!r}")
        from ..losses import l1_loss

        return {"loss": l1_loss(state["x_R"], state["sharp"])}

    def outputs(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"blurred": data["blurred"], "x_R": self.nets["G"](data["blurred"]).clamp(0, 1)}


# =========================================================================== stage "stylegan2"
class StyleGAN2Task(_RestorationTask):
    """The StyleGAN2 prior (Karras et al. 2020) on sharp faces.

    * D: ``softplus(-D(x)) + softplus(D(G(z)))``; every ``r1_every`` steps plus the lazy R1
      ``r1_every * gamma / 2 * E||grad_x D(x)||^2`` (sec. 3.1, "lazy regularization").
      Adam's lr and betas for D are rescaled by ``c = r1_every / (r1_every + 1)`` (lr * c,
      beta ** c) as the official code does, so the occasional larger step keeps the same
      effective momentum.
    * G: ``softplus(-D(G(z)))`` with style mixing: with probability ``mixing_prob`` the
      batch takes its codes from z1 up to a random layer and from z2 after it (StyleGAN
      sec. 3.1), which keeps neighbouring layers from relying on each other.
    * the exported generator is ``G_ema``, an exponential moving average of G's weights
      (half-life ``ema_kimg`` thousand images; Karras et al. 2018, appendix), which gives
      visibly cleaner faces than the raw G of a noisy GAN game. It is updated once per
      step, after G's update (``on_step_end``), with the decay of the images G saw.
    """

    phases = ("D", "G")
    export_key = "G_ema"
    #: images G was trained on since the last EMA update (the half-life is counted in images)
    _batch = 0
    stage = "stylegan2"

    def setup(self, device: torch.device) -> None:
        import copy

        from ..losses import gan_loss

        r = self.recipe
        self.reg_every = r.r1_every if r.r1_gamma > 0 else 0
        G = build_model("stylegan2_g", **r.generator_config()).to(device)
        G_ema = copy.deepcopy(G).eval()
        G_ema.arch, G_ema.config = G.arch, dict(G.config)
        D = build_model("stylegan2_d", **r.discriminator_config()).to(device)
        self.nets = {"G": G, "D": D, "G_ema": G_ema}
        self._warm_start("G", "stylegan2_g", "G_ema")
        c = r.r1_every / (r.r1_every + 1) if self.reg_every else 1.0
        self.opts = {"G": _adam(G.parameters(), r.lr, (r.beta1, r.beta2)),
                     "D": _adam(D.parameters(), r.lr * c, (r.beta1 ** c, r.beta2 ** c))}
        self.gan = gan_loss("vanilla")  # non-saturating logistic loss

    def prepare(self, batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
        real = batch["image"].to(device).float() / 127.5 - 1.0          # (B, 3, S, S) in [-1, 1]
        B = real.shape[0]
        z = torch.randn(2, B, self.recipe.z_dim).to(device)             # two latents for mixing
        mix = torch.rand(()) < self.recipe.mixing_prob
        n_w = self.nets["G"].n_w if self.nets else 0
        cut = int(torch.randint(1, max(n_w, 2), ())) if bool(mix) else n_w
        return {"real": real, "z": z, "cut": torch.tensor(cut)}

    @torch.no_grad()
    def _update_ema(self) -> None:
        r = self.recipe
        B = self._batch or 1
        beta = 0.5 ** (B / max(r.ema_kimg * 1000.0, 1e-8)) if r.ema_kimg > 0 else 0.0
        for p_ema, p in zip(self.nets["G_ema"].parameters(), self.nets["G"].parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)                          # ema = beta ema + (1 - beta) p
        for b_ema, b in zip(self.nets["G_ema"].buffers(), self.nets["G"].buffers()):
            b_ema.copy_(b)                                               # w_avg and the noise maps

    def on_step_end(self, step: int) -> None:
        """G_ema follows G once per step, after G's update (and after D's extra steps)."""
        self._update_ema()
        self._batch = 0

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        G = self.nets["G"]
        z1, z2 = data["z"][0], data["z"][1]
        cut = int(data["cut"])
        fake = G(z1) if cut >= G.n_w else G.style_mix(z1, z2, cut)     # (B, 3, S, S), random noise maps
        return {**data, "fake": fake}

    def loss(self, phase: str, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        D = self.nets["D"]
        if phase == "D":
            d_real, d_fake = D(state["real"]), D(state["fake"].detach())
            return {"loss": self.gan.d_loss(d_real, d_fake),
                    "real": d_real.detach().mean(), "fake": d_fake.detach().mean()}
        if phase == "G":
            self._batch += state["fake"].shape[0]   # images G learns from this step: the EMA's clock
            return {"loss": self.gan.g_loss(D(state["fake"]))}
        raise LessonsError(f"the stylegan2 task has no phase {phase!r}")

    def regularize(self, phase: str, state: dict[str, torch.Tensor], step: int) -> torch.Tensor | None:
        if phase != "D" or self.recipe.r1_gamma <= 0:
            return None
        from ..losses import r1_penalty

        x = state["real"].detach().requires_grad_(True)
        return self.reg_every * r1_penalty(self.nets["D"](x), x, gamma=self.recipe.r1_gamma)

    def sample(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """Faces of G_ema from the fixed batch's latents (no mixing, fixed noise maps), in [0, 1]."""
        img = self.nets["G_ema"](data["z"][0], noise="const")
        return ((img.float() + 1) / 2).clamp(0, 1)

    def evaluate(self, batches: Iterable[Any]) -> dict[str, float]:
        """D's mean logits on real validation faces and on G_ema's faces (a GAN has no PSNR)."""
        D, G = self.nets["D"], self.nets["G_ema"]
        real_sum, fake_sum, n = 0.0, 0.0, 0
        for batch in batches:
            data = self.prepare(batch, self.device)
            b = data["real"].shape[0]
            real_sum += float(D(data["real"]).sum())
            fake_sum += float(D(G(data["z"][0], noise="const")).sum())
            n += b
        return {"d_real": real_sum / n, "d_fake": fake_sum / n} if n else {}

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["task"] = "stylegan2"  # a generator, not a restorer: `lessons restore` refuses it
        d["d_config"] = self.recipe.discriminator_config()
        return d


# =========================================================================== stage 1: "inversion"
class InversionTask(_RestorationTask):
    """Stage 1 (seed sec. 2.2 and eq. 2): E (and G) learn x_R -> x_G close to the sharp face.

    ``L_E = L1(x_G, x) + 10 L_per(x_G, x) + 0.3 softplus(-D(x_G))`` for E and G together;
    D: the logistic loss on (sharp, x_G) plus lazy R1. NAFNet is frozen (x_R is its output
    under no_grad). G and D start from the ``stylegan2`` run (G from its exported G_ema,
    D from its checkpoint); the encoder starts at the average face (its heads are zero).
    """

    phases = ("D", "G")
    export_key = "EG"
    stage = "inversion"

    def phase_nets(self, phase: str) -> tuple[str, ...]:
        return ("EG",) if phase == "G" else ("D",)

    def setup(self, device: torch.device) -> None:
        from ..losses import gan_loss
        from ..models.inversion import InversionEncoder

        r = self.recipe
        self.nafnet = self._load_nafnet(r.nafnet_weights)
        G, D = self._load_prior(r.stylegan2_weights, device)
        E = InversionEncoder.for_generator(G, inject_res=r.inject_res, width=r.encoder_width,
                                           max_channels=r.encoder_max_channels)
        pair = build_model("inversion_pair", generator=dict(G.config), encoder=dict(E.config)).to(device)
        pair.generator.load_state_dict(G.state_dict())
        pair.encoder.load_state_dict(E.state_dict())
        self.nets = {"EG": pair, "D": D}
        self._warm_start("EG", "inversion_pair")
        groups = [{"params": list(pair.encoder.parameters()), "betas": (0.9, 0.999)}]
        if r.finetune_generator:
            groups.append({"params": list(pair.generator.parameters()), "betas": (0.0, 0.99)})
        self.opts = {"G": torch.optim.Adam(groups, lr=r.lr), "D": _adam(D.parameters(), r.lr_d, (0.0, 0.99))}
        self.gan = gan_loss("vanilla")
        self.reg_every = r.r1_every if r.r1_gamma > 0 else 0
        self.perceptual = self._perceptual() if r.lambda_perceptual > 0 else None

    def _load_prior(self, path: str, device: torch.device) -> tuple[nn.Module, nn.Module]:
        from .engine import load_checkpoint

        r = self.recipe
        g_fallback = dict(size=r.size, z_dim=16, w_dim=16, n_mlp=2, channel_base=256, channel_max=16) \
            if r.allow_untrained else None
        G, card = load_stage(path, "stylegan2_g", "StyleGAN2 run", device=device, fallback=g_fallback,
                             hint="train it with `lessons train stylegan2 --out runs/stylegan2` and pass "
                                  "--set stylegan2_weights=runs/stylegan2")
        self._check_card(card, "StyleGAN2 generator", path)
        d_cfg = dict(size=int(G.size), channel_base=int(G.channel_base), channel_max=int(G.channel_max))
        D = build_model("stylegan2_d", **d_cfg).to(device)
        run = Path(path).expanduser()
        ckpt_path = (run if run.is_dir() else run.parent) / "checkpoint.pt"
        d_from = "new (untrained)"
        if ckpt_path.is_file():
            ckpt = load_checkpoint(ckpt_path)  # weights_only: tensors and plain containers only
            d_state = ckpt.get("nets", {}).get("D")
            saved_cfg = ckpt.get("task", {}).get("d_config")
            if d_state is not None and (saved_cfg is None or saved_cfg == d_cfg):
                D.load_state_dict(d_state)
                d_from = str(ckpt_path.resolve())
        if d_from.startswith("new") and not card.get("untrained"):
            warnings.warn(f"no discriminator in {ckpt_path}: stage 1 starts D from scratch", stacklevel=3)
        self.sources["stylegan2"] = {"weights": None if card.get("untrained") else str(Path(path).expanduser().resolve()),
                                     "steps": card.get("steps"), "discriminator": d_from}
        return G.train(), D.train()

    def prepare(self, batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
        data = super().prepare(batch, device)
        with torch.no_grad():
            data["x_R"] = self.nafnet(data["blurred"]).clamp(0, 1)      # frozen regression output
        return data

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**data, "x_G": self.nets["EG"](data["x_R"])}            # (B, 3, S, S)

    def loss(self, phase: str, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        from ..losses import l1_loss

        r = self.recipe
        D = self.nets["D"]
        x_G, sharp = state["x_G"], state["sharp"]
        if phase == "D":
            d_real, d_fake = D(sharp * 2 - 1), D(x_G.detach() * 2 - 1)   # D works in [-1, 1]
            return {"loss": self.gan.d_loss(d_real, d_fake),
                    "real": d_real.detach().mean(), "fake": d_fake.detach().mean()}
        if phase == "G":
            l1 = l1_loss(x_G, sharp)
            loss = r.lambda_l1 * l1
            out = {"l1": l1.detach()}
            if self.perceptual is not None:
                per = self.perceptual(x_G, sharp)
                loss = loss + r.lambda_perceptual * per
                out["perceptual"] = per.detach()
            if r.lambda_adv > 0:
                adv = self.gan.g_loss(D(x_G * 2 - 1))
                loss = loss + r.lambda_adv * adv
                out["adv"] = adv.detach()
            return {"loss": loss, **out}
        raise LessonsError(f"the inversion task has no phase {phase!r}")

    def regularize(self, phase: str, state: dict[str, torch.Tensor], step: int) -> torch.Tensor | None:
        if phase != "D" or self.recipe.r1_gamma <= 0:
            return None
        from ..losses import r1_penalty

        x = (state["sharp"] * 2 - 1).detach().requires_grad_(True)
        return self.reg_every * r1_penalty(self.nets["D"](x), x, gamma=self.recipe.r1_gamma)

    def outputs(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x_R = data["x_R"] if "x_R" in data else self.nafnet(data["blurred"]).clamp(0, 1)
        return {"blurred": data["blurred"], "x_R": x_R, "x_G": self.nets["EG"](x_R).clamp(0, 1)}

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["finetune_generator"] = self.recipe.finetune_generator
        return d


# =========================================================================== stage 2: "fusion"
class FusionTask(_RestorationTask):
    """Stage 2 (seed sec. 2.3, eqs. 1, 3, 4): ``x_hat = F(x_R, x_G)``, NAFNet, E and G frozen.

    ``L_F = L1(x_hat, x) + 10 L_per(x_hat, x) + 1 (0.01 CX(x_R, x_hat) + 0.05 CX(x_G, x_hat))``
    where CX is the contextual loss (Mechrez et al. 2018) on the feature network's ``cx_layer``
    maps, with x_hat as the generated set and x_R or x_G as the target: it pulls the
    *statistics* of x_hat's features toward both inputs without asking for pixel alignment
    with x_G (whose face may be slightly off). The weight on x_G is 5x that on x_R: the
    texture is what x_G brings; L1 already ties x_hat to the structure.
    """

    phases = ("G",)
    export_key = "F"
    stage = "fusion"

    def phase_nets(self, phase: str) -> tuple[str, ...]:
        return ("F",)

    def setup(self, device: torch.device) -> None:
        r = self.recipe
        self.nafnet = self._load_nafnet(r.nafnet_weights)
        self.inversion = self._load_inversion(r.inversion_weights)
        cfg: dict[str, Any] = dict(width=r.width, n_blocks=r.n_blocks)
        if r.residual:                  # older cards lack the key; False is the default
            cfg["residual"] = True
        self.nets = {"F": build_model("fusion_net", **cfg).to(device)}
        self._warm_start("F", "fusion_net")
        self.opts = {"G": _adam(self.nets["F"].parameters(), r.lr, (0.9, 0.999))}
        self.perceptual = self._perceptual() if (r.lambda_perceptual > 0 or r.lambda_fc > 0) else None

    def _load_inversion(self, path: str) -> nn.Module:
        r = self.recipe
        fallback = None
        if r.allow_untrained:
            g = dict(size=r.size, z_dim=16, w_dim=16, n_mlp=2, channel_base=256, channel_max=16)
            e = dict(g_size=r.size, g_channel_base=256, g_channel_max=16, w_dim=16, inject_res=16, width=8,
                     max_channels=16)
            fallback = dict(generator=g, encoder=e)
        pair, card = load_stage(path, "inversion_pair", "inversion run", device=self.device, fallback=fallback,
                                hint="train it with `lessons train inversion --out runs/inversion` and pass "
                                     "--set inversion_weights=runs/inversion")
        self._check_card(card, "inversion encoder", path)
        self.sources["inversion"] = {"weights": None if card.get("untrained") else str(Path(path).expanduser().resolve()),
                                     "steps": card.get("steps"), "metrics": card.get("metrics")}
        return pair

    def prepare(self, batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
        data = super().prepare(batch, device)
        with torch.no_grad():
            data["x_R"] = self.nafnet(data["blurred"]).clamp(0, 1)      # (B, 3, S, S)
            data["x_G"] = self.inversion(data["x_R"]).clamp(0, 1)       # (B, 3, S, S)
        return data

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**data, "x_hat": self.nets["F"](data["x_R"], data["x_G"])}  # (B, 3, S, S)

    def loss(self, phase: str, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        if phase != "G":
            raise LessonsError(f"the fusion task has no phase {phase!r}")
        from ..losses import contextual_loss, l1_loss

        r = self.recipe
        x_hat, sharp = state["x_hat"], state["sharp"]
        l1 = l1_loss(x_hat, sharp)
        loss = r.lambda_l1 * l1
        out = {"l1": l1.detach()}
        if r.lambda_perceptual > 0:
            per = self.perceptual(x_hat, sharp)
            loss = loss + r.lambda_perceptual * per
            out["perceptual"] = per.detach()
        if r.lambda_fc > 0:
            layer = r.cx_layer
            f_hat = self.features(x_hat, (layer,))[layer]
            with torch.no_grad():
                f_R = self.features(state["x_R"], (layer,))[layer]
                f_G = self.features(state["x_G"], (layer,))[layer]
            cx_r = contextual_loss(f_hat, f_R, max_positions=r.cx_max_positions)
            cx_g = contextual_loss(f_hat, f_G, max_positions=r.cx_max_positions)
            fc = r.lambda_cx_r * cx_r + r.lambda_cx_g * cx_g            # seed eq. 4
            loss = loss + r.lambda_fc * fc
            out.update(cx_r=cx_r.detach(), cx_g=cx_g.detach())
        return {"loss": loss, **out}

    def outputs(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"blurred": data["blurred"], "x_R": data["x_R"], "x_G": data["x_G"],
                "x_hat": self.nets["F"](data["x_R"], data["x_G"]).clamp(0, 1)}


# =========================================================================== the restorer's parts
@dataclass
class RestorerParts:
    """The loaded networks of a restorer (what :class:`lessons_lib.pipeline.Restorer` runs).

    ``nafnet`` always; ``inversion`` (an :class:`InversionPair`) for x_G; ``fusion`` for
    x_hat. ``card`` is the restorer's card (a bundle's ``restorer.json``, or a run's model
    card), ``size`` the face size the parts were trained at, ``stage`` the last stage."""

    card: dict[str, Any]
    size: int
    nafnet: nn.Module
    inversion: nn.Module | None = None
    fusion: nn.Module | None = None

    @property
    def stage(self) -> str:
        return "fusion" if self.fusion is not None else ("inversion" if self.inversion is not None else "nafnet")

    @property
    def outputs(self) -> tuple[str, ...]:
        """The images this restorer makes, in order (a subset of :data:`OUTPUTS`)."""
        return OUTPUTS[: {"nafnet": 2, "inversion": 3, "fusion": 4}[self.stage]]

    @torch.no_grad()
    def run(self, blurred: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, 3, S, S)`` blurred faces in [0, 1] -> ``{"blurred", "x_R", "x_G", "x_hat"}`` in [0, 1]."""
        from ..models.layers import check_image_batch

        check_image_batch(blurred, 3, "the blurred faces")
        out = {"blurred": blurred}
        out["x_R"] = self.nafnet(blurred).clamp(0, 1)
        if self.inversion is not None:
            out["x_G"] = self.inversion(out["x_R"]).clamp(0, 1)
        if self.fusion is not None:
            out["x_hat"] = self.fusion(out["x_R"], out["x_G"]).clamp(0, 1)
        return out


def read_bundle(path: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """``(folder, card)`` of a restorer bundle (its folder or its ``restorer.json``), checked."""
    p = Path(path).expanduser()
    card_path = p / BUNDLE_CARD if p.is_dir() else p
    if not card_path.is_file():
        raise LessonsError(f"no restorer bundle at {p} (no {BUNDLE_CARD})")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LessonsError(f"the restorer card {card_path} is not valid JSON ({e}); write the bundle again "
                           "with lessons_lib.train.restoration.export_bundle") from None
    if not isinstance(card, dict) or card.get("format") != BUNDLE_FORMAT:
        raise LessonsError(f"{card_path} is not a restorer bundle card (format {BUNDLE_FORMAT!r} expected)")
    comps = card.get("components")
    missing = [c for c in COMPONENTS if not isinstance(comps, dict) or not isinstance(comps.get(c), str)]
    if missing:
        raise LessonsError(f"the restorer card {card_path} lists no {', '.join(missing)}: a bundle needs "
                           f"{', '.join(COMPONENTS)}; write it again with export_bundle")
    for c in COMPONENTS:
        f = card_path.parent / comps[c]
        if not f.is_file():
            raise LessonsError(f"the restorer bundle {card_path.parent} is incomplete: {comps[c]} ({c}) is missing")
    return card_path.parent, card


def _check_restoration_card(card: dict[str, Any], where: Path) -> None:
    if card.get("task") != "restoration":
        got = card.get("task")
        hint = "; use `lessons colorize`" if got == "colorization" else ""
        kind = f"a {got} model" if isinstance(got, str) else "a model without a task in its card"
        raise LessonsError(f"{where} holds {kind}, not a restorer{hint}: pass a restorer bundle "
                           f"(a folder with {BUNDLE_CARD}) or a nafnet / inversion / fusion run")


def load_restorer_parts(weights: str | os.PathLike, device: torch.device | str = "cpu") -> RestorerParts:
    """Load a restorer from a bundle, or from a ``nafnet`` / ``inversion`` / ``fusion`` run.

    A bundle (a folder with ``restorer.json``) loads its four files. A run loads its own
    network and the earlier stages its card names (``sources``), so ``runs/fusion`` works on
    the machine that trained it; a bundle is self-contained (copy it anywhere).
    """
    from ..checkpoints import load_model, read_card

    p = Path(weights).expanduser()
    if (p.is_dir() and (p / BUNDLE_CARD).is_file()) or p.name == BUNDLE_CARD:
        folder, card = read_bundle(p)
        comps = card["components"]
        nets = {}
        for c, arch in zip(COMPONENTS, ("nafnet", "inversion_encoder", "stylegan2_g", "fusion_net")):
            nets[c], _ = load_model(folder / comps[c], device=device, expect_arch=arch)
        pair = build_model("inversion_pair", generator=dict(nets["generator"].config),
                           encoder=dict(nets["encoder"].config))
        pair.generator.load_state_dict(nets["generator"].state_dict())
        pair.encoder.load_state_dict(nets["encoder"].state_dict())
        parts = RestorerParts(card, int(card.get("size", nets["generator"].size)), nets["nafnet"],
                              pair.to(device), nets["fusion"])
    else:
        st, card_path = _stage_paths(p)
        if not st.is_file():
            raise LessonsError(f"no restorer at {p}: pass a restorer bundle (a folder with {BUNDLE_CARD}, what "
                               "`lessons train fusion` writes into OUT/restorer) or a nafnet / inversion / fusion "
                               "run folder")
        card = read_card(st)
        _check_restoration_card(card, p)
        stage = card.get("stage")
        model, _ = load_model(st, device=device)
        src = card.get("sources") or {}

        def ref(name: str) -> str:
            w = (src.get(name) or {}).get("weights")
            if not w:
                raise LessonsError(f"{p} was trained on an untrained {name} (a smoke run): it is not a restorer; "
                                   "train the stages for real first")
            return w

        if stage == "nafnet":
            parts = RestorerParts(card, int(card["size"]), model)
        elif stage == "inversion":
            nafnet, _ = load_stage(ref("nafnet"), "nafnet", "NAFNet run", device=device)
            parts = RestorerParts(card, int(card["size"]), nafnet, model)
        elif stage == "fusion":
            nafnet, _ = load_stage(ref("nafnet"), "nafnet", "NAFNet run", device=device)
            pair, _ = load_stage(ref("inversion"), "inversion_pair", "inversion run", device=device)
            parts = RestorerParts(card, int(card["size"]), nafnet, pair, model)
        else:
            raise LessonsError(f"{p} is a restoration model of unknown stage {stage!r}; expected nafnet, "
                               "inversion or fusion")
    for m in (parts.nafnet, parts.inversion, parts.fusion):
        if m is not None:
            m.float().eval().requires_grad_(False)
    return parts


def export_bundle(out: str | os.PathLike, *, fusion: str | os.PathLike, nafnet: str | os.PathLike | None = None,
                  inversion: str | os.PathLike | None = None, metrics: dict[str, Any] | None = None,
                  half: bool = False) -> Path:
    """Write a self-contained restorer bundle into the folder ``out``; returns its ``restorer.json``.

    ``fusion`` is a fusion run folder or weights file (e.g. the run's ``best.safetensors``);
    ``nafnet`` and ``inversion`` default to the runs its card records. The encoder and the
    generator are split out of the inversion run's :class:`InversionPair` into their own
    files, each with the inversion run's card (plus ``"component"``). ``half=True`` stores
    every net in float16 (half the size; what the shipped restorer uses).
    """
    from ..checkpoints import load_model, read_card, save_model

    out = Path(out).expanduser()
    f_st, _ = _stage_paths(fusion)
    if not f_st.is_file():
        raise LessonsError(f"no fusion weights at {fusion}")
    f_card = read_card(f_st)
    if f_card.get("stage") != "fusion":
        raise LessonsError(f"{fusion} is not a fusion run (stage {f_card.get('stage')!r})")
    src = f_card.get("sources") or {}
    nafnet = nafnet or (src.get("nafnet") or {}).get("weights")
    inversion = inversion or (src.get("inversion") or {}).get("weights")
    if not nafnet or not inversion:
        raise LessonsError(f"{fusion} was trained on untrained earlier stages (a smoke run); pass nafnet= and "
                           "inversion= explicitly, or train the stages for real")
    # an earlier stage may come from a restorer bundle (a warm start from the shipped restorer)
    n_bundle, i_bundle = _bundle_component(nafnet, "nafnet"), _bundle_component(inversion, "encoder")
    n_st = n_bundle or _stage_paths(nafnet)[0]
    i_st = i_bundle or _stage_paths(inversion)[0]
    for what, st in (("NAFNet", n_st), ("inversion", i_st)):
        if not st.is_file():
            raise LessonsError(f"no {what} weights at {st}")
    out.mkdir(parents=True, exist_ok=True)
    if i_bundle is not None:
        pair, _ = load_stage(inversion, "inversion_pair", "inversion run")
        i_card = {k: v for k, v in read_card(i_st).items() if k not in ("component", "weights", "arch", "config")}
    else:
        pair, i_card = load_model(i_st, expect_arch="inversion_pair")
    n_card = read_card(n_st)
    for name, st in (("nafnet", n_st), ("fusion", f_st)):
        comp_card = read_card(st)
        if half:
            net, _ = load_model(st)
            save_model(net, out / name, {**comp_card, "component": name}, half=True)
            continue
        shutil.copyfile(st, out / f"{name}.safetensors")
        comp_card.update(weights=f"{name}.safetensors", component=name)  # the sha256 stays valid: same bytes
        (out / f"{name}.json").write_text(json.dumps(comp_card, indent=2) + "\n", encoding="utf-8")
    for name in ("encoder", "generator"):
        save_model(getattr(pair, name), out / name, {**i_card, "component": name}, half=half)
    card = {
        "format": BUNDLE_FORMAT,
        "task": "restoration",
        "stage": "bundle",
        "size": int(f_card.get("size", pair.generator.size)),
        "data": f_card.get("data"),
        "components": {c: f"{c}.safetensors" for c in COMPONENTS},
        "kernel_bank": f_card.get("kernel_bank"),
        "perceptual_features": f_card.get("perceptual_features"),
        "metrics": metrics if metrics is not None else {
            "nafnet": n_card.get("metrics"), "inversion": i_card.get("metrics"), "fusion": f_card.get("metrics")},
        "steps": {"nafnet": n_card.get("steps"), "inversion": i_card.get("steps"), "fusion": f_card.get("steps")},
        "sources": {"nafnet": str(n_st.resolve()), "inversion": str(i_st.resolve()), "fusion": str(f_st.resolve())},
        "note": ("face restorer: works on aligned face crops like its training data (celeba10k: "
                 f"{int(f_card.get('size', 64))} px, centred, brow to chin); other images are restored "
                 "by NAFNet fine, but x_G and x_hat will look like a face"),
    }
    path = out / BUNDLE_CARD
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def _bundle_component(weights: str | os.PathLike, component: str) -> Path | None:
    """The file of ``component`` when ``weights`` is a restorer bundle, else None."""
    p = Path(weights).expanduser()
    if not (p.is_dir() and (p / BUNDLE_CARD).is_file()):
        return None
    folder, card = read_bundle(p)
    return folder / card["components"][component]


def locate_restorer(weights: str | os.PathLike) -> Path:
    """The file a restorer is read from (cheap: only looks at the disk): a bundle's
    ``restorer.json``, or the ``.safetensors`` of a nafnet / inversion / fusion run.

    Raises a :class:`LessonsError` that says what to pass when there is nothing there."""
    p = Path(weights).expanduser()
    if p.is_dir() and (p / BUNDLE_CARD).is_file():
        return p / BUNDLE_CARD
    if p.name == BUNDLE_CARD and p.is_file():
        return p
    st, _ = _stage_paths(p)
    if st.is_file():
        return st
    if p.is_dir() and (p / "restorer" / BUNDLE_CARD).is_file():
        return p / "restorer" / BUNDLE_CARD  # a fusion run folder that wrote its bundle
    raise LessonsError(
        f"no restorer at {p}: pass a restorer bundle (a folder with {BUNDLE_CARD}; `lessons train fusion` "
        "writes one into OUT/restorer) or a nafnet / inversion / fusion run folder (train them with "
        "`lessons train nafnet`, then stylegan2, inversion and fusion)")


def restorer_card(path: str | os.PathLike) -> dict[str, Any]:
    """The card of what :func:`locate_restorer` found (no weights loaded), checked for the task."""
    from ..checkpoints import read_card

    p = Path(path)
    if p.name == BUNDLE_CARD:
        return read_bundle(p)[1]
    card = read_card(p)
    _check_restoration_card(card, p)
    return card


# =========================================================================== evaluation
def _eval_bank_params(card: dict[str, Any], size: int, model_size: int) -> dict[str, Any]:
    """The kernel bank of an evaluation at ``size``: the restorer's own (its card) at its
    training size; at another size the same number and seed of kernels, resized by
    :func:`~lessons_lib.data.blur.kernel_size_for` so the blur covers the same share of the face."""
    from ..data.blur import kernel_size_for

    bank = dict(card.get("kernel_bank") or {"n": 1000, "seed": 0})
    bank.setdefault("n", 1000)
    bank.setdefault("seed", 0)
    if size != model_size or "size" not in bank:
        bank["size"] = kernel_size_for(size)
    bank["noise_std"] = float(bank.get("noise_std", 0.0))
    return bank


def evaluate_restorer(restorer, source: Any, split: str = "val", size: int | None = None, *,
                      limit: int | None = None, batch_size: int = 16, seed: int | None = None,
                      num_workers: int = 0, feature_metrics: bool = False) -> dict[str, Any]:
    """Blur the faces of a source with the bank's kernels and score every stage's output.

    Image ``i`` of ``split`` (short side resized to ``size``, centre crop; default the
    restorer's size) is blurred with bank kernel :func:`eval_kernel_index` ``(i, n, seed)``
    (default seed: the one in the restorer's card), restored with
    :meth:`lessons_lib.pipeline.Restorer.restore_tensor` and compared with the sharp face:
    PSNR, SSIM, the perceptual distance of the kit's feature network (*not* LPIPS; VGG16
    when its weights are on disk), and LPIPS / FID only when their weights are on disk.
    The same is reported for the blurred input itself, the baseline every output must beat.
    ``feature_metrics=True`` adds the distribution metrics on the kit's feature network
    (:func:`lessons_lib.metrics.kit_feature_report`: FID_kit, KID_kit, precision, recall).

    Returns plain JSON: ``{"weights", "data", "split", "size", "n_images", "kernel_bank",
    "perceptual_features", "labels", "blurred": {...}, "x_R": {...}, "x_G": {...},
    "x_hat": {...}}`` (the stages the restorer has).
    """
    from torch.utils.data import DataLoader

    from .. import metrics

    parts = restorer.load().model
    model_size = parts.size
    size = int(size) if size is not None else model_size
    if size < 16:
        raise LessonsError(f"size must be at least 16 pixels (SSIM's window is 11), got {size}")
    bank = _eval_bank_params(parts.card, size, model_size)
    eval_seed = int(seed) if seed is not None else int(bank.get("eval_seed", 0))
    bank["eval_seed"] = eval_seed
    ds = FaceCrops(source, size, split, train=False, n_kernels=bank["n"], eval_seed=eval_seed, limit=limit)
    if len(ds) == 0:
        raise LessonsError(f"no images to evaluate in {source!r} split {split!r}")
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    device = restorer.device
    try:
        features = _features("vgg16", device)
    except LessonsError:
        features = None
    keep_fid = metrics.fid_available() and len(ds) >= 2
    keep = keep_fid or feature_metrics
    kept: dict[str, list[torch.Tensor]] = {}

    def scored():
        g = torch.Generator().manual_seed(eval_seed)  # the noise, if the bank has any
        for batch in loader:
            blurred, sharp = blur_batch(batch["image"], batch["kernel"], {**bank, "noise_std": 0.0}, device)
            if bank["noise_std"] > 0:
                noise = torch.randn(blurred.shape, generator=g).to(device)
                blurred = (blurred + bank["noise_std"] * noise).clamp(0, 1)
            outs = restorer.restore_tensor(blurred)
            if keep:
                for k, v in {**outs, "sharp": sharp}.items():
                    kept.setdefault(k, []).append((v * 255).round().to(torch.uint8).cpu())
            yield outs, sharp

    scores = _mean_scores(scored(), features)
    n = int(scores.pop("n_images"))
    result: dict[str, Any] = {
        "weights": str(restorer.weights),
        "stage": parts.stage,
        "data": str(source),
        "split": split,
        "size": size,
        "model_size": model_size,
        "n_images": n,
        "kernel_bank": bank,
        "perceptual_features": features.description if features is not None else metrics.UNAVAILABLE,
        "labels": {"psnr": "PSNR (dB)", "ssim": "SSIM", "perceptual": _PERCEPTUAL_LABEL, "lpips": "LPIPS (alex)",
                   "fid": "FID", "sharpness": "sharpness (Laplacian energy / sharp)"},
    }
    for name in parts.outputs:
        rep: dict[str, Any] = {k[len(name) + 1:]: v for k, v in scores.items() if k.startswith(name + "_")}
        if features is None:
            rep["perceptual"] = metrics.UNAVAILABLE
        if "lpips" not in rep:
            rep["lpips"] = metrics.UNAVAILABLE
        if keep_fid:
            rep["fid"] = metrics.fid(torch.cat(kept[name]), torch.cat(kept["sharp"]))
        else:
            rep["fid"] = metrics.UNAVAILABLE if not metrics.fid_available() else "unavailable (needs 2 images)"
        if feature_metrics:
            rep.update(metrics.kit_feature_report(torch.cat(kept[name]), torch.cat(kept["sharp"])))
        result[name] = rep
    return result


def format_restoration(result: dict[str, Any]) -> str:
    """The result of :func:`evaluate_restorer` as a table: one metric per row, the blurred
    input and each stage's output side by side."""
    from ..metrics import METRIC_LABELS

    columns = [k for k in OUTPUTS if k in result]
    if not columns:
        raise ValueError("not an evaluate_restorer result: no 'blurred' report in it")
    labels = result.get("labels", {})
    keys = [k for k in ("psnr", "ssim", "perceptual", "sharpness", "lpips", "fid", "fid_kit", "kid_kit",
                        "lpips_kit", "precision_kit", "recall_kit")
            if any(k in result[c] for c in columns)]
    labels = {**METRIC_LABELS, **labels}
    names = {"blurred": "blurred input", "x_R": "x_R (NAFNet)", "x_G": "x_G (inversion)", "x_hat": "x_hat (fusion)"}

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
        if v is None:
            return "n/a"
        return "n/a" if isinstance(v, str) and v.startswith("unavailable") else str(v)

    table = [["metric", *(names[c] for c in columns)]]
    table += [[labels.get(k, k), *(fmt(result[c].get(k, "")) for c in columns)] for k in keys]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    title = (f"{result.get('weights')} on {result.get('data')} [{result.get('split')}], {result.get('n_images')} "
             f"faces at {result.get('size')} px, blurred with {result['kernel_bank']['n']} kernels of "
             f"{result['kernel_bank']['size']} px (seed {result['kernel_bank'].get('eval_seed', 0)})")
    lines = [title] + ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    unavailable = [labels.get(k, k) for k in keys if any(isinstance(result[c].get(k), str) for c in columns)]
    if unavailable:
        lines.append(f"n/a ({', '.join(unavailable)}): unavailable, their pretrained weights are not on this disk")
    lines.append(f"perceptual features: {result.get('perceptual_features')}")
    network = result[columns[0]].get("features")
    if network is not None:
        lines.append(f"feature network of the _kit metrics: {network}")
    return "\n".join(lines)


#: Seed 004, Table 1: (method, PSNR, SSIM, LPIPS, FID) - FFHQ 512 px training, 3,000
#: CelebA-HQ test faces blurred with 71x71 kernels, 40k iterations per stage.
SEED004_TABLE = (
    ("HINet", 29.63, 0.81, 0.31, 40.97),
    ("NAFNet", 29.53, 0.81, 0.31, 42.18),
    ("GFP-GAN", 23.09, 0.63, 0.34, 10.73),
    ("GPEN", 20.60, 0.56, 0.43, 15.48),
    ("Ours (fusion)", 28.52, 0.76, 0.30, 9.59),
)


def seed_comparison_table(result: dict[str, Any]) -> str:
    """A Markdown table: the seed's Table 1, then the rows of an :func:`evaluate_restorer` result.

    Ours has no LPIPS or FID unless their weights are on disk; its perceptual distance (the
    kit's feature network, *not* LPIPS) and sharpness get their own columns, empty for the
    seed's rows, so that no number is placed under a heading it does not measure."""
    def f(v: Any, fmt: str) -> str:
        return fmt.format(v) if isinstance(v, (int, float)) else "n/a"

    lines = ["| method | PSNR (dB) | SSIM | LPIPS | FID | perceptual dist. (not LPIPS) | sharpness |",
             "|---|---|---|---|---|---|---|"]
    for name, p, s, lp, fid in SEED004_TABLE:
        lines.append(f"| seed 004: {name} | {p:.2f} | {s:.2f} | {lp:.2f} | {fid:.2f} | | |")
    names = {"blurred": "ours: blurred input", "x_R": "ours: NAFNet (x_R)", "x_G": "ours: inversion (x_G)",
             "x_hat": "ours: fusion (x_hat)"}
    for k in OUTPUTS:
        if k in result:
            r = result[k]
            lines.append(f"| {names[k]} | {f(r.get('psnr'), '{:.2f}')} | {f(r.get('ssim'), '{:.3f}')} | "
                         f"{f(r.get('lpips'), '{:.3f}')} | {f(r.get('fid'), '{:.2f}')} | "
                         f"{f(r.get('perceptual'), '{:.4f}')} | {f(r.get('sharpness'), '{:.2f}')} |")
    return "\n".join(lines)
