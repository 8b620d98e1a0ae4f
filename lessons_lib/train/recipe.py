"""The recipe types: typed dataclasses that say *what* a task trains (the model parts, the
losses, the data, the optimiser) and carry *how long* in their ``train`` field, a
:class:`~lessons_lib.train.engine.TrainConfig` with the recipe's defaults.

They live on the training floor because every task reads its recipe; the named recipes
(``pix2pix``, ``nogan``, ...), :func:`~lessons_lib.recipes.get_recipe` and
:func:`~lessons_lib.recipes.run_recipe` live one floor up in :mod:`lessons_lib.recipes`,
which re-exports these names. The restorer's recipe types are in
:mod:`lessons_lib.restorer.recipes`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .. import LessonsError
from .config import TrainConfig, check_field_types
from .diffaugment import parse_policy

__all__ = [
    "Recipe",
    "ColorizationRecipe",
    "ColorGANRecipe",
    "ToyGANRecipe",
    "DCGANRecipe",
    "FeatureNetRecipe",
    "check_smoothing",
    "choice",
    "recipe_to_dict",
]

# =========================================================================== recipe types
@dataclass
class Recipe:
    """Common part of every recipe: its name, what it reproduces, and how long it trains."""

    #: registry name (also the default run folder: runs/<name>)
    name: str = ""
    #: one line for ``lessons train --list``
    description: str = ""
    #: where the recipe comes from (paper, seed file and section)
    cite: str = ""
    #: training length, batch, schedule, logging... with this recipe's defaults
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1000))

    #: "module:Class" of the Task this recipe builds (imported lazily)
    task: ClassVar[str] = ""

    def smoke(self) -> "Recipe":
        """A tiny variant that trains in seconds on a CPU (lessons in smoke mode, tests)."""
        raise NotImplementedError

    def after_training(self, result: Any) -> None:
        """Called by :func:`run_recipe` (and so by ``lessons train``) with the finished
        run's TrainResult; nothing by default (``feature_net`` ships its weights here)."""

    def validate(self) -> None:
        """Raise :class:`LessonsError` for a bad value; subclasses check their choices."""
        check_field_types(self, skip=("train",))
        self.train.validate()


def check_smoothing(r: Any) -> None:
    """real_label (one-sided label smoothing) belongs to the vanilla / saturating loss."""
    if not 0.0 < r.real_label <= 1.0:
        raise LessonsError(f"real_label must be in (0, 1] (0.9 = one-sided label smoothing), got {r.real_label}")
    if r.real_label != 1.0 and r.gan_loss not in ("vanilla", "saturating"):
        raise LessonsError(f"real_label belongs to the vanilla loss; gan_loss is {r.gan_loss!r}"
                           + (" (set lsgan_b)" if r.gan_loss == "lsgan" else ""))
    if getattr(r, "instance_noise", 0.0) < 0:
        raise LessonsError(f"instance_noise is a standard deviation, >= 0; got {r.instance_noise}")


def choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        shown = ", ".join("None" if c is None else str(c) for c in choices)
        raise LessonsError(f"unknown {name} {value!r}; choose one of: {shown}")


@dataclass
class ColorizationRecipe(Recipe):
    """A conditional-GAN (or plain regression) colorizer: U-Net G, optional conditional D.

    The objective (pix2pix, Isola et al. 2017, eq. 4, + CycleGAN's identity term):
    ``lambda_gan * L_GAN + lambda_l1 * L1 + lambda_identity * L_idt``; see
    :mod:`lessons_lib.train.colorization`.
    """

    # --- data
    #: image source: a name ("scenes8", "samples", "synthetic", "cifar10", ...), folder or zip
    data: str = "scenes8"
    #: training and validation images are size x size (random crop + flip for training)
    size: int = 128
    #: use only the first ``limit`` training images (None = all)
    limit: int | None = None
    #: use every ``train_stride``-th training image (before ``limit``): a subset with every
    #: class of a pack stored class by class (scenes8, CIFAR-10); 1 = all
    train_stride: int = 1
    #: use only the first ``val_limit`` validation images (None = all)
    val_limit: int | None = None
    train_split: str = "train"
    #: "val", or "test" for sources that ship a test split only (CIFAR-10)
    val_split: str = "val"
    #: scale augmentation: each training photo's short side is resized to a random size in
    #: size..size*scale_jitter before the random crop (1.0 = off: pix2pix resizes to one size)
    scale_jitter: float = 1.0
    #: "lab" (G: L -> ab, pix2pix colorization) or "rgb" (G: gray3 -> RGB, seeds 000/003)
    color_space: str = "lab"
    # --- generator: the pix2pix U-Net (lessons_lib.models.unet)
    #: channels of the first level (pix2pix ngf = 64)
    g_base: int = 64
    #: U-Net levels; None = log2(size) (bottleneck 1x1, as pix2pix)
    g_depth: int | None = None
    #: "batch" | "instance" | "none"
    g_norm: str = "batch"
    #: encoder activation "leaky" (LeakyReLU 0.2) | "relu"
    g_act: str = "leaky"
    #: seed 003's plain U-Net: ReLU everywhere, no normalisation (overrides g_norm/g_act)
    g_plain: bool = False
    #: how the decoder doubles H, W: "transpose" (pix2pix) | "resize" | "bilinear" (resize + 3x3
    #: conv, Odena et al. 2016: no checkerboard; lesson 11)
    g_upsample: str = "transpose"
    #: dropout in the 3 innermost decoder blocks (pix2pix: 0.5, its only noise source)
    g_dropout: float = 0.5
    #: channel cap of the U-Net: level i has g_base * min(2^i, g_max_mult) channels (pix2pix: 8)
    g_max_mult: int = 8
    # --- colour hints (Zhang, Zhu et al. 2017, "Real-Time User-Guided Image Colorization";
    # lesson 12; lessons_lib.data.hints)
    #: G also reads a sparse hint map and its mask: input (L, hint a, hint b, mask); the hints
    #: are simulated from the true colours in training (and in validation, with fixed seeds)
    hints: bool = False
    #: the number of hint points per image is geometric on {0, 1, ...} with this p (1/8: mean 7,
    #: 1/8 of the images without any hint, so the model also colorizes alone)
    hint_p: float = 1.0 / 8.0
    #: hint patches are squares of side uniform in 1..hint_max_patch px
    hint_max_patch: int = 9
    #: the patch centres are Gaussian around the image centre, sigma = hint_sigma x the side
    hint_sigma: float = 0.25
    # --- discriminator (conditional: sees the gray input and a colouring)
    #: "patchgan" | "nin_patchgan" | "image" | None (no D: L1 regression)
    discriminator: str | None = "patchgan"
    #: channels of D's first layer (pix2pix ndf = 64)
    d_base: int = 64
    #: strided layers of the (NIN-)PatchGAN: 3 -> 70x70 receptive field
    d_layers: int = 3
    #: NIN-MLP: 1x1 convs after each 4x4 conv (seed 000 fig. 3 shows two)
    nin_mlp_layers: int = 2
    #: NIN-MLP dropout after every conv (seed 000 gives no rate; see NINPatchGAN)
    nin_dropout: float = 0.2
    #: NIN-MLP activation "leaky" | "relu"
    nin_act: str = "leaky"
    #: NIN's global-average-pooling head: one logit per image instead of a patch map
    d_global_pool: bool = False
    #: spectral normalisation of every conv of D (Miyato et al. 2018; lesson 11)
    d_spectral_norm: bool = False
    # --- losses
    #: "vanilla" (non-saturating BCE) | "lsgan" | "wgan" (+ gradient penalty) | "hinge"
    gan_loss: str = "vanilla"
    #: LSGAN targets: a = fake label, b = real label, c = G's target (seed 000: 0, 1, 1)
    lsgan_a: float = 0.0
    lsgan_b: float = 1.0
    lsgan_c: float = 1.0
    #: vanilla loss: D's target on real pairs; 0.9 = one-sided label smoothing (Salimans et al. 2016)
    real_label: float = 1.0
    #: weight of the L1 reconstruction loss (pix2pix: 100)
    lambda_l1: float = 100.0
    #: weight of the adversarial loss in G's objective
    lambda_gan: float = 1.0
    #: weight of the CycleGAN identity loss (0 = off)
    lambda_identity: float = 0.0
    #: WGAN-GP penalty weight (Gulrajani et al. 2017: 10); used with gan_loss="wgan"
    lambda_gp: float = 10.0
    #: DiffAugment (Zhao et al. 2020): the transforms D sees real and fake pairs through, in
    #: D's and G's steps, e.g. "color,translation,cutout"; "" = off (lessons_lib.train.diffaugment)
    diffaugment: str = ""
    #: factor on D's loss; None = as pix2pix (0.5 for vanilla; 1 for LSGAN, whose 1/2 is in its equation)
    d_loss_weight: float | None = None
    #: weight of the perceptual loss L_p: L1 between feature maps of the colorized and the
    #: true photo (Johnson et al. 2016; 0 = off, pix2pix's setting; ColorGAN: 100)
    lambda_perceptual: float = 0.0
    #: feature layers of L_p (f1..f4 = VGG16 relu1_2..relu4_3, or the kit network's stages)
    perceptual_layers: tuple = ("f2", "f3")
    perceptual_weights: tuple = (1.0, 1.0)
    #: L_p's network: "kit" (the kit's own, always on disk: the same run on every machine),
    #: "vgg16" (torchvision's ImageNet VGG16 when on disk, else the kit's) or "auto"
    features: str = "kit"
    # --- NoGAN (DeOldify): a warm-started G, a critic warm-up, then a short GAN phase
    #: start G from these weights (a run folder or .safetensors written by the same recipe
    #: family, e.g. the L1 pre-training run); None = random initialisation
    init_g: str | None = None
    #: the first ``d_pretrain_steps`` steps train D alone on the (frozen) G's colourings, so
    #: that the GAN phase starts with a critic that already tells them from photos
    d_pretrain_steps: int = 0
    #: choose the shipped checkpoint by rule (needs keep_evals): the most colourful of the
    #: validations within this many dB of the run's best PSNR (None: the last step's model)
    select_psnr_tolerance: float | None = None
    # --- optimiser: Adam (Kingma & Ba 2015)
    lr: float = 2e-4
    #: D's learning rate; None = lr
    lr_d: float | None = None
    #: 0.5, not 0.9: a short momentum memory for the moving GAN target (Radford et al. 2016)
    beta1: float = 0.5
    beta2: float = 0.999

    task: ClassVar[str] = "lessons_lib.train.colorization:ColorizationTask"

    def validate(self) -> None:
        super().validate()
        choice("color_space", self.color_space, ("lab", "rgb"))
        choice("discriminator", self.discriminator, ("patchgan", "nin_patchgan", "image", None))
        choice("gan_loss", self.gan_loss, ("vanilla", "saturating", "lsgan", "wgan", "hinge"))
        choice("g_upsample", self.g_upsample, ("transpose", "resize", "bilinear"))
        check_smoothing(self)
        choice("g_norm", self.g_norm, ("batch", "instance", "none"))
        choice("g_act", self.g_act, ("leaky", "relu"))
        choice("nin_act", self.nin_act, ("leaky", "relu"))
        parse_policy(self.diffaugment)
        if self.diffaugment and self.discriminator is None:
            raise LessonsError("diffaugment augments what the discriminator sees, but discriminator is None; "
                               "choose a discriminator or set diffaugment=''")
        if self.g_max_mult < 1:
            raise LessonsError(f"g_max_mult caps the U-Net's channel multiplier, >= 1 (pix2pix: 8), got {self.g_max_mult}")
        if self.hints:
            if self.color_space != "lab":
                raise LessonsError("hints are ab values at a few pixels: they need color_space='lab'")
            if self.lambda_identity > 0:
                raise LessonsError("hints and the identity loss both use G's extra input channels; "
                                   "set lambda_identity=0 for a hint model")
            if not 0.0 < self.hint_p <= 1.0:
                raise LessonsError(f"hint_p is the geometric law's p, in (0, 1] (Zhang et al.: 1/8), got {self.hint_p}")
            if self.hint_max_patch < 1:
                raise LessonsError(f"hint_max_patch must be >= 1 px (Zhang et al.: 9), got {self.hint_max_patch}")
            if self.hint_sigma < 0:
                raise LessonsError(f"hint_sigma must be >= 0 (a fraction of the side; Zhang et al.: 1/4), "
                                   f"got {self.hint_sigma}")
        if self.train_stride < 1:
            raise LessonsError(f"train_stride takes every k-th training image, k >= 1, got {self.train_stride}")
        if self.scale_jitter < 1.0:
            raise LessonsError(f"scale_jitter is the largest short side over size, >= 1 (1 = off), "
                               f"got {self.scale_jitter}")
        if self.size < 8 or self.size % 8:
            raise LessonsError(f"size must be a multiple of 8 (e.g. 32, 64, 128, 256), got {self.size}")
        for k in ("lambda_l1", "lambda_gan", "lambda_identity", "lambda_gp", "lr", "g_dropout", "nin_dropout",
                  "lambda_perceptual", "d_pretrain_steps"):
            if getattr(self, k) < 0:
                raise LessonsError(f"{k} must be >= 0, got {getattr(self, k)}")
        from ..models.features import LAYERS

        choice("features", self.features, ("vgg16", "kit", "auto"))
        for name in self.perceptual_layers:
            choice("perceptual layer", name, LAYERS)
        if len(self.perceptual_weights) != len(self.perceptual_layers):
            raise LessonsError(f"perceptual_weights needs one weight per layer of perceptual_layers "
                               f"{list(self.perceptual_layers)}, got {list(self.perceptual_weights)}")
        if self.d_pretrain_steps and self.discriminator is None:
            raise LessonsError("d_pretrain_steps warms up a discriminator, but discriminator is None; "
                               "choose a discriminator or set d_pretrain_steps=0")
        if self.select_psnr_tolerance is not None:
            if self.select_psnr_tolerance < 0:
                raise LessonsError(f"select_psnr_tolerance must be >= 0 dB, got {self.select_psnr_tolerance}")
            if not self.train.keep_evals:
                raise LessonsError("select_psnr_tolerance picks among the models kept at each validation: "
                                   "set keep_evals=True (and eval_every > 0)")

    def after_training(self, result: Any) -> None:
        """With ``select_psnr_tolerance``: pick the run's model by rule and store it as
        ``RUN/selected.safetensors`` (+ card with the rule and every candidate), which the
        zoo ships in place of the last step's ``model.safetensors``."""
        if self.select_psnr_tolerance is None:
            return
        import json
        import shutil

        from ..checkpoints import select_eval

        choice = select_eval(result.out, tolerance=self.select_psnr_tolerance)
        src = Path(choice["path"])
        shutil.copyfile(src, result.out / "selected.safetensors")
        card = json.loads(src.with_suffix(".json").read_text())
        card["selection"] = {k: v for k, v in choice.items() if k != "path"}
        card["selection"]["from"] = src.name
        (result.out / "selected.json").write_text(json.dumps(card, indent=2))
        print(f"selected {src.name}: {choice['rule']} (PSNR {choice['psnr']:.2f} dB, best "
              f"{choice['best_psnr']:.2f}; colourfulness {choice['colorfulness']:.1f})", flush=True)

    def smoke(self) -> "ColorizationRecipe":
        """Synthetic 32-px images, 8-channel nets, 2 steps of batch 4."""
        return dataclasses.replace(
            self, data="synthetic", size=32, limit=16, val_limit=8, g_base=8, d_base=8,
            d_layers=min(self.d_layers, 2), val_split="val",
            train=self.train.replace(steps=2, batch_size=4, log_every=1, sample_every=0, ckpt_every=1000,
                                     eval_every=0, n_samples=4, progress=False),
        )


@dataclass
class ColorGANRecipe(ColorizationRecipe):
    """ColorGAN (Shafiq & Lee, seed 001): the colorization recipe plus a noise branch and
    two feature losses; see :mod:`lessons_lib.train.colorgan`. G's objective (eq. 1):
    ``lambda_gan * L_wgan + lambda_perceptual * L_p + lambda_l1 * L_1 + lambda_s * L_s``
    (seed: 0.1, 100, 10, 1); the critic: WGAN + ``lambda_gp`` gradient penalty. An optional
    ``lambda_ms`` (default 0) adds MSGAN's mode-seeking term for diverse colourings."""

    #: z ~ N(0, noise_std^2) (seed sec. 2.2: sigma = 0.1)
    noise_std: float = 0.1
    #: channels of z (at the latent's resolution); None = a quarter of the latent's channels
    noise_channels: int | None = None
    #: 3x3 convolutions of the noise branch G_f (the seed: "a series of convolution layers")
    noise_convs: int = 3
    #: weight of the perceptual loss L_p (seed: 100)
    lambda_perceptual: float = 100.0
    #: weight of L_s, the noise map against the true image's features (seed: 1)
    lambda_s: float = 1.0
    #: weight of the mode-seeking regulariser (Mao et al. 2019, MSGAN eq. 3): G also
    #: minimises lambda_ms / (mean|G(L, z1) - G(L, z2)| / mean|z1 - z2| + 1e-5), so the
    #: colouring must change with z. 0 = the seed's recipe (not in seed 001); costs a
    #: second pass of G over the batch when > 0. See lessons_lib.losses.diversity.
    lambda_ms: float = 0.0
    #: the mode-seeking distance compares ms_pool x ms_pool block means of the two colourings
    #: (1 = pixels, as MSGAN); > 1 rewards region colours that differ, not pixel patterns
    ms_pool: int = 1
    #: initialisation of the noise branch G_f: "normal" (N(0, 0.02), like every layer) or
    #: "kaiming" (keeps z's scale through G_f); see ColorGANGenerator
    noise_init: str = "normal"
    #: the feature layer L_s compares the noise map with (projected to the latent's shape)
    s_layer: str = "f4"
    #: "vgg16" = torchvision's ImageNet VGG16 when on disk, else the kit's network; "kit"
    features: str = "vgg16"
    #: the critic's normalisation. WGAN-GP (Gulrajani et al. 2017, sec. 4) drops batch norm
    #: from the critic: the penalty is per sample and BN couples the samples of a batch;
    #: instance norm is per sample (the paper suggests layer norm, also per sample).
    d_norm: str = "instance"

    task: ClassVar[str] = "lessons_lib.train.colorgan:ColorGANTask"

    def validate(self) -> None:
        super().validate()
        from ..models.colorgan import NOISE_INITS
        from ..models.features import LAYERS

        choice("color_space", self.color_space, ("lab",))
        choice("d_norm", self.d_norm, ("batch", "instance", "none"))
        choice("noise_init", self.noise_init, NOISE_INITS)
        choice("s_layer", self.s_layer, LAYERS)
        if self.lambda_identity:
            raise LessonsError("ColorGAN has no identity loss: lambda_identity must be 0")
        if self.hints:
            raise LessonsError("ColorGAN's generator takes no hints; train a hint model with the U-Net recipes "
                               "(lessons train hints)")
        if self.g_plain:
            raise LessonsError("g_plain belongs to the U-Net recipes; ColorGAN's G uses g_norm")
        for k in ("lambda_s", "lambda_ms", "noise_std"):
            if getattr(self, k) < 0:
                raise LessonsError(f"{k} must be >= 0, got {getattr(self, k)}")
        if self.noise_convs < 1:
            raise LessonsError(f"noise_convs must be >= 1, got {self.noise_convs}")
        if not isinstance(self.ms_pool, int) or self.ms_pool < 1 or self.size % self.ms_pool:
            raise LessonsError(f"ms_pool must be a whole number >= 1 that divides size {self.size}, "
                               f"got {self.ms_pool!r}")
        if self.lambda_ms > 0 and self.noise_std == 0:
            raise LessonsError("lambda_ms > 0 rewards outputs that change with the noise, but noise_std is 0 "
                               "(no noise); set noise_std > 0 (the seed's 0.1) or lambda_ms=0")
        depth = self.g_depth or 4
        if self.size % (2 ** depth):
            raise LessonsError(f"size {self.size} must be a multiple of 2**g_depth = {2 ** depth}")


@dataclass
class _UnconditionalGANRecipe(Recipe):
    """What the toy GAN and DCGAN recipes share: the adversarial loss, Adam, and lesson 11's
    options ("when GAN training fails"), all off by default: ``gan_loss="saturating"`` (the
    minimax G loss), ``lr_d`` (TTUR, Heusel et al. 2017), ``real_label`` (one-sided label
    smoothing, Salimans et al. 2016), ``instance_noise`` (N(0, sigma^2) added to every input
    of D, annealed linearly to 0 over ``instance_noise_steps``; Sonderby et al. 2017, Arjovsky
    & Bottou 2017) and ``d_spectral_norm`` (Miyato et al. 2018). Their task reads them in
    :class:`lessons_lib.train.toy.GANOptions`."""

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

    task: ClassVar[str] = "lessons_lib.train.toy:ToyGANTask"

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

    task: ClassVar[str] = "lessons_lib.train.toy:DCGANTask"

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


@dataclass
class FeatureNetRecipe(Recipe):
    """The kit's feature network: a small VGG-style classifier (see
    :mod:`lessons_lib.train.features`); after training, its weights are written in fp16 to
    ``ship_to`` (default ``lessons_lib/weights/features_kit``) when ``ship`` is true."""

    #: image sources joined by "+"; every (source, class) pair is one label
    data: str = "scenes8+flowers5+cifar10"
    size: int = 64
    #: at most this many training images per class (caps CIFAR-10's 5,000 per class; scenes8
    #: has ~190 and flowers5 ~800 per class, all kept): 25,559 images; None = all
    per_class_limit: int | None = 2000
    #: at most this many validation images per class (CIFAR-10's test split has 1,000)
    val_per_class: int | None = 50
    widths: tuple = (24, 48, 96, 192)
    #: 3x3 convs in each of the 4 stages; one conv at full resolution keeps the step cheap
    #: on a CPU (the full-resolution stage costs as much as the other three together)
    convs_per_stage: tuple = (1, 2, 2, 2)
    dropout: float = 0.3
    #: label smoothing of the cross-entropy (Szegedy et al. 2016: 0.1)
    label_smoothing: float = 0.1
    #: AdamW (Loshchilov & Hutter 2019)
    lr: float = 2e-3
    weight_decay: float = 5e-4
    #: write the trained weights as the kit's shipped feature network
    ship: bool = True
    #: where to ship them ("" = lessons_lib/weights/features_kit)
    ship_to: str = ""

    task: ClassVar[str] = "lessons_lib.train.features:FeatureNetTask"

    def validate(self) -> None:
        super().validate()
        if self.size < 16 or self.size % 8:
            raise LessonsError(f"size must be a multiple of 8 and >= 16, got {self.size}")
        for key in ("widths", "convs_per_stage"):
            v = getattr(self, key)
            if len(v) != 4 or any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in v):
                raise LessonsError(f"{key} must be 4 positive ints (one per stage), got {list(v)}")
        if not 0.0 <= self.label_smoothing < 1.0 or not 0.0 <= self.dropout < 1.0:
            raise LessonsError("label_smoothing and dropout must be in [0, 1)")

    def smoke(self) -> "FeatureNetRecipe":
        """The bundled sample photos (one class each), 32 px, tiny widths, 2 steps, nothing shipped."""
        return dataclasses.replace(
            self, data="samples", size=32, per_class_limit=None, val_per_class=None, widths=(4, 8, 8, 8),
            convs_per_stage=(1, 1, 1, 1), ship=False,
            train=self.train.replace(steps=2, batch_size=4, log_every=1, sample_every=-1, ckpt_every=1000,
                                     eval_every=0, best_metric=None, n_samples=0, progress=False),
        )

    def after_training(self, result: Any) -> None:
        """Ship the run's weights (fp16) with a card that says how they were made."""
        if not self.ship or result.model_path is None:
            return
        from ..metrics import ship_feature_net

        path = ship_feature_net(result.model_path, self.ship_to or None)
        print(f"shipped the feature network to {path}")


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """The full recipe as plain JSON (the model card stores it)."""
    d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(recipe).items()}
    d["train"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d["train"].items()}
    d["type"] = type(recipe).__name__
    return d
