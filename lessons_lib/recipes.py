"""Named, typed training recipes: one per seed system and per lesson.

A recipe says *what* to train - the model parts, the losses, the data and the optimiser -
as a typed dataclass whose parts are named and swappable (``discriminator="nin_patchgan"``,
``gan_loss="lsgan"``), and carries *how long* in its ``train`` field, a
:class:`~lessons_lib.train.TrainConfig` with the recipe's own defaults. There is no
training script per variant: every recipe becomes a :class:`~lessons_lib.train.Task` with
:func:`build_task` and trains through the one engine::

    recipe = get_recipe("seed000_full", steps=200, batch_size=8)   # overrides by name
    result = run_recipe(recipe)                                     # or: lessons train seed000_full ...

Overrides name a recipe field (``lambda_l1``, ``discriminator``, ...) or a training field
(``steps``, ``batch_size``, ``lr_schedule``, ...); the two sets of names are disjoint.
``recipe.smoke()`` gives a tiny variant (synthetic data, 32 px, 2 steps) that a lesson
runs in seconds when ``LESSONS_SMOKE=1``; :func:`for_lesson` picks it automatically.

The registry:

=====================  =====================================================================
``gan_toy``            MLP GAN on a ring of 8 Gaussians (Goodfellow et al. 2014; lesson 01)
``dcgan``              DCGAN on 32x32 CIFAR-10 (Radford et al. 2016; lesson 01)
``pix2pix``            pix2pix colorization in Lab: U-Net + 70x70 PatchGAN, vanilla GAN + 100 L1
``seed000_pix2pix``    seed 000's ladder, RGB, step 0: pix2pix with a whole-image D
``seed000_lsgan``      + LSGAN (a=0, b=1, c=1)
``seed000_identity``   + CycleGAN identity loss
``seed000_patchgan``   + PatchGAN discriminator
``seed000_full``       + NIN-MLP PatchGAN: seed 000's full model
``seed003_unet``       seed 003 on CIFAR-10: plain U-Net (ReLU, no norm), L1 only
``seed003_unet_bn``    U-Net with LeakyReLU + BatchNorm, L1 only
``seed003_gan``        cGAN with the plain U-Net and a whole-image D
``seed003_gan_bn``     cGAN with the LeakyReLU + BatchNorm U-Net
``colorgan``           ColorGAN (seed 001): noise in latent space, WGAN-GP, perceptual + L1 + L_s
``feature_net``        the kit's feature network (perceptual losses when no ImageNet VGG16 is on disk)
``nafnet``             restorer (seed 004) stage 0: NAFNet deblurring faces, L1 (x_R)
``stylegan2``          restorer prior: a small StyleGAN2 on sharp faces
``inversion``          restorer stage 1: inversion encoder + G fine-tuning (x_G)
``fusion``             restorer stage 2: the fusion net with the contextual loss (x_hat)
=====================  =====================================================================
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from . import LessonsError, smoke_mode
from .train.engine import TrainConfig, check_field_types, config_fields

__all__ = [
    "Recipe",
    "ColorizationRecipe",
    "ToyGANRecipe",
    "DCGANRecipe",
    "FeatureNetRecipe",
    "ColorGANRecipe",
    "get_recipe",
    "apply_overrides",
    "list_recipes",
    "describe_recipes",
    "recipe_to_dict",
    "recipe_fields",
    "build_task",
    "run_recipe",
    "for_lesson",
    "register_recipe",
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


def _check_smoothing(r: Any) -> None:
    """real_label (one-sided label smoothing) belongs to the vanilla / saturating loss."""
    if not 0.0 < r.real_label <= 1.0:
        raise LessonsError(f"real_label must be in (0, 1] (0.9 = one-sided label smoothing), got {r.real_label}")
    if r.real_label != 1.0 and r.gan_loss not in ("vanilla", "saturating"):
        raise LessonsError(f"real_label belongs to the vanilla loss; gan_loss is {r.gan_loss!r}"
                           + (" (set lsgan_b)" if r.gan_loss == "lsgan" else ""))
    if getattr(r, "instance_noise", 0.0) < 0:
        raise LessonsError(f"instance_noise is a standard deviation, >= 0; got {r.instance_noise}")


def _choice(name: str, value: Any, choices: tuple) -> None:
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
        _choice("color_space", self.color_space, ("lab", "rgb"))
        _choice("discriminator", self.discriminator, ("patchgan", "nin_patchgan", "image", None))
        _choice("gan_loss", self.gan_loss, ("vanilla", "saturating", "lsgan", "wgan", "hinge"))
        _choice("g_upsample", self.g_upsample, ("transpose", "resize", "bilinear"))
        _check_smoothing(self)
        _choice("g_norm", self.g_norm, ("batch", "instance", "none"))
        _choice("g_act", self.g_act, ("leaky", "relu"))
        _choice("nin_act", self.nin_act, ("leaky", "relu"))
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
        if self.scale_jitter < 1.0:
            raise LessonsError(f"scale_jitter is the largest short side over size, >= 1 (1 = off), "
                               f"got {self.scale_jitter}")
        if self.size < 8 or self.size % 8:
            raise LessonsError(f"size must be a multiple of 8 (e.g. 32, 64, 128, 256), got {self.size}")
        for k in ("lambda_l1", "lambda_gan", "lambda_identity", "lambda_gp", "lr", "g_dropout", "nin_dropout",
                  "lambda_perceptual", "d_pretrain_steps"):
            if getattr(self, k) < 0:
                raise LessonsError(f"{k} must be >= 0, got {getattr(self, k)}")
        from .models.features import LAYERS

        _choice("features", self.features, ("vgg16", "kit", "auto"))
        for name in self.perceptual_layers:
            _choice("perceptual layer", name, LAYERS)
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

        from .checkpoints import select_eval

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
        from .models.colorgan import NOISE_INITS
        from .models.features import LAYERS

        _choice("color_space", self.color_space, ("lab",))
        _choice("d_norm", self.d_norm, ("batch", "instance", "none"))
        _choice("noise_init", self.noise_init, NOISE_INITS)
        _choice("s_layer", self.s_layer, LAYERS)
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
    :class:`lessons_lib.train.toy._GANOptions`."""

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
        _choice("gan_loss", self.gan_loss, ("vanilla", "saturating", "lsgan", "wgan", "hinge"))
        _check_smoothing(self)


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
        _choice("g_upsample", self.g_upsample, ("transpose", "resize", "bilinear"))
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
        from .models.features import ship_feature_net

        path = ship_feature_net(result.model_path, self.ship_to or None)
        print(f"shipped the feature network to {path}")


# =========================================================================== registry
_RECIPES: dict[str, Callable[[], Recipe]] = {}


def register_recipe(name: str):
    """Decorator for a function that returns a fresh recipe named ``name``."""

    def deco(fn: Callable[[], Recipe]):
        if name in _RECIPES:
            raise ValueError(f"recipe {name!r} is registered twice")
        _RECIPES[name] = fn
        return fn

    return deco


def list_recipes() -> list[str]:
    """The registered recipe names, in registry order (lesson order)."""
    return list(_RECIPES)


def describe_recipes() -> list[tuple[str, str]]:
    """(name, one-line description) for every recipe."""
    return [(n, _RECIPES[n]().description) for n in _RECIPES]


def recipe_fields(recipe: Recipe) -> list[str]:
    """Names that :func:`get_recipe` accepts as overrides for this recipe."""
    own = [f.name for f in dataclasses.fields(recipe) if f.name not in ("train", "name")]
    return own + config_fields()


def get_recipe(name: str, **overrides: Any) -> Recipe:
    """A fresh copy of the recipe ``name`` with ``overrides`` applied and validated.

    An override names a recipe field or a :class:`TrainConfig` field (``steps=10``,
    ``lambda_l1=50``); ``train.steps`` is accepted too. Unknown names and values outside
    the allowed choices raise a :class:`LessonsError` that lists the valid ones.
    """
    if name not in _RECIPES:
        raise LessonsError(f"unknown recipe {name!r}; choose one of: {', '.join(_RECIPES)}")
    return apply_overrides(_RECIPES[name](), **overrides)


def apply_overrides(recipe: Recipe, **overrides: Any) -> Recipe:
    """A copy of ``recipe`` with recipe and training fields replaced, then validated."""
    own = {f.name for f in dataclasses.fields(recipe)} - {"train", "name"}
    train_names = set(config_fields())
    assert not own & train_names, f"recipe fields shadow training fields: {own & train_names}"
    mine: dict[str, Any] = {}
    training: dict[str, Any] = {}
    bad = []
    for key, value in overrides.items():
        k = key[len("train."):] if key.startswith("train.") else key
        if k in own and not key.startswith("train."):
            mine[k] = value
        elif k in train_names:
            training[k] = value
        else:
            bad.append(key)
    if bad:
        raise LessonsError(
            f"unknown option(s) {', '.join(map(repr, bad))} for recipe {recipe.name!r}; valid options: "
            f"{', '.join(recipe_fields(recipe))}"
        )
    train_cfg = recipe.train.replace(**training) if training else recipe.train
    out = dataclasses.replace(recipe, train=train_cfg, **mine)
    out.validate()
    return out


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """The full recipe as plain JSON (the model card stores it)."""
    d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(recipe).items()}
    d["train"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d["train"].items()}
    d["type"] = type(recipe).__name__
    return d


def build_task(recipe: Recipe):
    """The :class:`~lessons_lib.train.Task` that trains ``recipe``."""
    import importlib

    recipe.validate()
    module, cls = recipe.task.split(":")
    return getattr(importlib.import_module(module), cls)(recipe)


def run_recipe(recipe: Recipe | str, *, command: str | None = None, hooks=(), **overrides: Any):
    """Build the task of ``recipe`` (a name or a Recipe) and train it; returns a TrainResult."""
    from .train.engine import train

    if isinstance(recipe, str):
        recipe = get_recipe(recipe, **overrides)
    elif overrides:
        recipe = apply_overrides(recipe, **overrides)
    result = train(build_task(recipe), recipe.train, hooks=hooks, command=command)
    recipe.after_training(result)
    return result


def for_lesson(name: str, **overrides: Any) -> Recipe:
    """The recipe a lesson runs: ``get_recipe(name)``, shrunk by ``.smoke()`` when
    ``LESSONS_SMOKE=1`` (then ``overrides`` apply on top)."""
    recipe = get_recipe(name)
    if smoke_mode():
        recipe = recipe.smoke()
    return apply_overrides(recipe, **overrides) if overrides else recipe


# =========================================================================== the recipes
_SEED000 = ("Wang & Joe, 'Colorful Image Colorization using GAN with MLP' (seed 000): "
            "Places365 at 128x128, 1,000 training / 100 validation pairs, Adam lr 2e-4, 100 epochs")
_SEED003 = ("CPE 393 course project, 'Colorization Black & White image using GAN' (seed 003): "
            "CIFAR-10 32x32, 15 epochs, U-Net vs GAN(U-Net), with and without LeakyReLU + BatchNorm")


@register_recipe("gan_toy")
def _gan_toy() -> Recipe:
    return ToyGANRecipe(
        name="gan_toy",
        description="toy GAN: MLP G and D on a ring of 8 Gaussians (mode collapse in 2-D)",
        cite="Goodfellow et al. 2014 (Algorithm 1, non-saturating loss); ring of Gaussians: Metz et al. 2017",
        train=TrainConfig(steps=3000, batch_size=256, lr_schedule="constant", log_every=25, sample_every=500,
                          ckpt_every=1000),
    )


@register_recipe("dcgan")
def _dcgan() -> Recipe:
    return DCGANRecipe(
        name="dcgan",
        description="DCGAN on 32x32 CIFAR-10 images",
        cite="Radford, Metz & Chintala 2016, sec. 3-4 (batch 128, Adam 2e-4, beta1 0.5)",
        train=TrainConfig(epochs=5, batch_size=128, lr_schedule="constant", log_every=25, sample_every=250,
                          n_samples=32, ckpt_every=500),
    )


def _colorization(**kw: Any) -> ColorizationRecipe:
    return ColorizationRecipe(**kw)


@register_recipe("pix2pix")
def _pix2pix() -> Recipe:
    # pix2pix's colorization setting (Isola et al. 2017, sec. 4 and appendix 6; the reference
    # implementation's colorization mode): Lab, G: L -> ab, 70x70 PatchGAN, vanilla GAN loss,
    # lambda_L1 = 100, Adam(2e-4, 0.5, 0.999), constant lr for half the run then linear decay.
    # Scaled to the data at hand: scenes8 (1,542 photos) at 128 px, batch 16, 20 epochs
    # (about 1,900 steps) instead of ImageNet at 256 px.
    return _colorization(
        name="pix2pix",
        description="pix2pix colorization in Lab: U-Net, 70x70 PatchGAN, vanilla GAN + 100 L1",
        cite="Isola et al. 2017, 'Image-to-Image Translation with Conditional Adversarial Networks'",
        data="scenes8", size=128, color_space="lab", discriminator="patchgan", gan_loss="vanilla",
        train=TrainConfig(epochs=20, batch_size=16, lr_schedule="linear", decay_start=0.5, log_every=10,
                          sample_every=200, ckpt_every=500),
    )


def _seed000(name: str, description: str, **kw: Any) -> ColorizationRecipe:
    # Seed 000 in numbers: RGB (sec. 3.1: "gray-color RGB training images"), 128x128, 1,000
    # training and 100 validation pairs -> the first 1,000 / 100 of scenes8 (1,542 / 101),
    # Adam lr 2e-4 (sec. 3.4), 100 epochs, L1 reconstruction (sec. 3.3, weight not given:
    # pix2pix's 100). The seed gives no batch size and no schedule: batch 16, constant lr.
    base = dict(
        data="scenes8", size=128, limit=1000, val_limit=100, color_space="rgb",
        discriminator="image", gan_loss="vanilla", lambda_l1=100.0, lr=2e-4,
        train=TrainConfig(epochs=100, batch_size=16, lr_schedule="constant", log_every=10, sample_every=500,
                          ckpt_every=500),
    )
    base.update(kw)
    return _colorization(name=name, description=description, cite=_SEED000, **base)


# The ladder of seed 000's ablation (figs. 4-6: pix2pix, +LSGAN, +identity, +PatchGAN, +MLP).
# Step 0 is the seed's "Pix2PixGAN baseline". Its text (sec. 3.2.2) introduces PatchGAN as a
# change to "the existing GAN, whose discriminator looks at the whole image", and the ladder
# adds PatchGAN as a later step, so the baseline's D judges the whole image ("image").
_LSGAN = dict(gan_loss="lsgan", lsgan_a=0.0, lsgan_b=1.0, lsgan_c=1.0)  # seed eqs. (1)-(2)
# Identity weight: the seed gives none. CycleGAN sets it to half the reconstruction (cycle)
# weight, lambda_idt = 0.5 * lambda_cyc; with the L1 weight 100 as the reconstruction
# weight here, that is 50.
_IDENTITY = dict(lambda_identity=50.0)


@register_recipe("seed000_pix2pix")
def _s000_pix2pix() -> Recipe:
    return _seed000("seed000_pix2pix", "seed 000 ladder 0: RGB pix2pix with a whole-image D, vanilla GAN + L1")


@register_recipe("seed000_lsgan")
def _s000_lsgan() -> Recipe:
    return _seed000("seed000_lsgan", "seed 000 ladder 1: + LSGAN loss (a=0, b=1, c=1)", **_LSGAN)


@register_recipe("seed000_identity")
def _s000_identity() -> Recipe:
    return _seed000("seed000_identity", "seed 000 ladder 2: + CycleGAN identity loss", **_LSGAN, **_IDENTITY)


@register_recipe("seed000_patchgan")
def _s000_patchgan() -> Recipe:
    return _seed000("seed000_patchgan", "seed 000 ladder 3: + 70x70 PatchGAN discriminator",
                    **_LSGAN, **_IDENTITY, discriminator="patchgan")


@register_recipe("seed000_full")
def _s000_full() -> Recipe:
    # The NIN-MLP PatchGAN keeps the patch map (d_global_pool=False): the previous step's
    # point is per-patch feedback, and a GAP head would turn D back into a whole-image judge.
    return _seed000("seed000_full", "seed 000 full model: LSGAN + L1 + identity + NIN-MLP PatchGAN",
                    **_LSGAN, **_IDENTITY, discriminator="nin_patchgan")


def _seed003(name: str, description: str, **kw: Any) -> ColorizationRecipe:
    # Seed 003: CIFAR-10 (train 50,000 / test 10,000), 32x32, RGB, 15 epochs. Their cGAN
    # objective is -log D(G(x)) + lambda ||G(x) - y||_1 (the non-saturating loss + L1), D is
    # "like the U-Net's encoder, BN + LeakyReLU after every conv, one sigmoid output" = a
    # whole-image D. The seed gives no batch size, lr or lambda: batch 64, Adam 2e-4 (0.5,
    # 0.999) and lambda 100 as pix2pix. The U-Net models train on the same L1 without D.
    base = dict(
        data="cifar10", size=32, color_space="rgb", val_split="test", gan_loss="vanilla", lambda_l1=100.0,
        train=TrainConfig(epochs=15, batch_size=64, lr_schedule="constant", log_every=25, sample_every=500,
                          ckpt_every=1000),
    )
    base.update(kw)
    return _colorization(name=name, description=description, cite=_SEED003, **base)


@register_recipe("seed003_unet")
def _s003_unet() -> Recipe:
    return _seed003("seed003_unet", "seed 003: plain U-Net (ReLU, no norm), L1 regression, CIFAR-10",
                    discriminator=None, g_plain=True)


@register_recipe("seed003_unet_bn")
def _s003_unet_bn() -> Recipe:
    return _seed003("seed003_unet_bn", "seed 003: U-Net with LeakyReLU + BatchNorm, L1 regression, CIFAR-10",
                    discriminator=None, g_plain=False)


@register_recipe("seed003_gan")
def _s003_gan() -> Recipe:
    return _seed003("seed003_gan", "seed 003: cGAN, plain U-Net G + whole-image D, CIFAR-10",
                    discriminator="image", g_plain=True)


@register_recipe("seed003_gan_bn")
def _s003_gan_bn() -> Recipe:
    return _seed003("seed003_gan_bn", "seed 003: cGAN, LeakyReLU + BatchNorm U-Net G + whole-image D, CIFAR-10",
                    discriminator="image", g_plain=False)


@register_recipe("colorgan")
def _colorgan() -> Recipe:
    # Seed 001 (Shafiq & Lee, sec. 3.1): PASCAL VOC, 15,413 training images at 256 px, 300
    # epochs, batch 16, Adam(0.5, 0.999), lr G 1e-4 / D 2e-4, no schedule stated (constant).
    # Scaled to the data at hand: scenes8 (1,542 photos, 10x fewer than VOC) at 128 px. 300
    # epochs of scenes8 would be 28,900 steps; 100 epochs (9,600 steps, 154k images) keep
    # the seed's batch and learning rates while stopping where a 10x smaller set has long
    # been seen often enough (pix2pix's recipe here takes 20). The critic takes one step
    # per G step: the seed's D learning rate, twice G's, plays the role of WGAN's extra
    # critic steps (the two-time-scale rule, Heusel et al. 2017).
    # G: encoder of 4 levels (latent map H/16), base 32 channels; no dropout (the noise is
    # the source of randomness). D: the 70x70 PatchGAN on (L, ab) with instance norm.
    return ColorGANRecipe(
        name="colorgan",
        description="ColorGAN (seed 001): latent noise branch, PatchGAN critic, WGAN-GP + 100 perceptual + 10 L1 + L_s",
        cite="Shafiq & Lee, 'ColorGAN: Generative Adversarial Network based Image Colorization' (seed 001)",
        data="scenes8", size=128, color_space="lab", g_base=32, g_depth=4, g_dropout=0.0,
        discriminator="patchgan", d_layers=3, gan_loss="wgan", lambda_gp=10.0,
        lambda_gan=0.1, lambda_l1=10.0, lambda_perceptual=100.0, lambda_s=1.0,
        lr=1e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
        train=TrainConfig(epochs=100, batch_size=16, lr_schedule="constant", log_every=10, sample_every=500,
                          ckpt_every=500),
    )


# --------------------------------------------------------------------------- the practical colorizer
# "How to get a good model on a laptop": the kit's colorizer for a small compute budget.
# Two facts of the field set its shape, and measurements on the course's 2-core CPU its sizes
# (benchmarks/RESULTS.md, "Issue 11"):
#
# * colour is low-frequency - JPEG keeps chroma at half resolution, Zhang et al. (2016)
#   predict ab at a quarter of the input size - so G is trained at 64 px and the pipeline
#   upsamples its ab onto the full-resolution L of any photo (pipeline.Colorizer);
# * NoGAN (DeOldify, Antic 2019): most of the budget goes to G alone with L1 (DeOldify adds
#   a perceptual loss; here it is an option, see below: stable, cheap, and G learns *where*
#   colour goes), then D is warmed up on that G's
#   colourings, then a short GAN phase adds the colour L1 averages away (L1's optimum is the
#   median colour, timid wherever several colours are plausible). The GAN phase exports G at
#   every validation and the shipped model is chosen by a stated rule: the most colourful
#   among the validations within 0.3 dB of the best PSNR (checkpoints.select_eval).
#
# Data: scenes8 + flowers5 + imagenet1k (6,435 training photos of scenes, flowers, and
# 876 ImageNet classes: the most varied mix at hand); none of cbsd68, the packs' val
# splits, or the photos bundled with installed packages is trained on.
_NOGAN_DATA = "scenes8+flowers5+imagenet1k"
_NOGAN_CITE = ("NoGAN: J. Antic, DeOldify (2019); low-resolution chroma: Zhang, Isola & Efros 2016; "
               "pix2pix: Isola et al. 2017; perceptual loss: Johnson et al. 2016")


def _nogan_common(**kw: Any) -> dict[str, Any]:
    base = dict(
        data=_NOGAN_DATA, size=64, color_space="lab",
        # G: the pix2pix U-Net at 64 px (6 levels down to 1x1), 32 channels at the top.
        # Measured on the 2-core CPU, batch 32: 32 channels 171 images/s, 48: 88, 64: 36.
        g_base=32,
        # L_p (the kit's feature network) is an option, off by default: it halves the
        # throughput (78 against 171 images/s at 32 channels), and on a fixed CPU budget
        # twice the images of L1 was the better buy; --set lambda_perceptual=10 turns it on
        lambda_l1=100.0, lambda_perceptual=0.0, features="kit",
        # 6,435 photos and a 7.3 M-parameter G overfit: the first run's validation PSNR
        # peaked after 10 passes and fell while the training L1 kept dropping. So pix2pix's
        # dropout (0.5 in the 3 innermost decoder blocks) stays, and each crop shows 57-100 %
        # of the photo's short side (scale_jitter 1.75: short side 64..112 px)
        g_dropout=0.5, scale_jitter=1.75,
    )
    base.update(kw)
    return base


@register_recipe("nogan_pretrain")
def _nogan_pretrain() -> Recipe:
    # NoGAN phase 1: G alone with L1 (no D at all), Adam 5e-4 (beta1 0.9: no moving target
    # here), cosine decay; 22,000 steps of 32 = 704k images, 109 passes over the 6,435 photos
    # (random scales, crops and flips), about 85 minutes on the 2-core CPU
    return _colorization(
        name="nogan_pretrain",
        description="practical colorizer, phase 1: U-Net G alone at 64 px, L1 regression (NoGAN pre-training)",
        cite=_NOGAN_CITE,
        **_nogan_common(discriminator=None, lambda_gan=0.0, lr=5e-4, beta1=0.9),
        train=TrainConfig(steps=22000, batch_size=32, lr_schedule="cosine", log_every=50, sample_every=2500,
                          ckpt_every=250, eval_every=1000, best_metric="psnr"),
    )


@register_recipe("nogan")
def _nogan() -> Recipe:
    # NoGAN phases 2-3: from phase 1's G (init_g), a 32-channel 70x70 PatchGAN warms up
    # alone for 300 steps on G's colourings, then pix2pix's objective with the GAN term at
    # 0.2 (against 100 L1) and G's learning rate at a quarter of pix2pix's (5e-5; D 2e-4).
    # Measured (RESULTS.md, issue 11): with the GAN term at 1 and G at 1e-4, validation PSNR
    # fell 1.1 dB in the first 100 GAN steps for +5 colourfulness; the naive phase (2e-4, no
    # warm-up) lost 1.35 dB in 1,000 steps. Under Adam the step size is set by the learning
    # rate and the *direction* by the mix of the two gradients, so a smaller GAN weight keeps
    # G nearer L1's answer while it adds colour, and validation every 50 steps traces the way.
    return _colorization(
        name="nogan",
        description="practical colorizer, phases 2-3: D warm-up on the pre-trained G, then a short GAN "
                    "phase; the most colourful checkpoint within 0.3 dB of the best PSNR is kept",
        cite=_NOGAN_CITE,
        **_nogan_common(discriminator="patchgan", d_base=32, d_layers=3, gan_loss="vanilla", lambda_gan=0.2,
                        lr=5e-5, lr_d=2e-4, d_pretrain_steps=300, select_psnr_tolerance=0.3),
        train=TrainConfig(steps=1500, batch_size=32, lr_schedule="constant", log_every=25, sample_every=500,
                          ckpt_every=100, eval_every=50, keep_evals=True),
    )


_HINTS_CITE = ("Zhang, Zhu, Isola, Geng, Lin, Yu & Efros, 'Real-Time User-Guided Image Colorization with "
               "Learned Deep Priors' (SIGGRAPH 2017); pix2pix U-Net: Isola et al. 2017")


@register_recipe("hints")
def _hints() -> Recipe:
    # The user-guided colorizer (lesson 12): NoGAN's 64-px data and L1 phase, with G reading
    # (L, hint a, hint b, mask) and Zhang et al.'s simulated users (lessons_lib.data.hints).
    # G is the 32-channel U-Net with its channels capped at 64 (g_max_mult=2: 0.82 M
    # parameters, 1.6 MB in half precision) so that it fits beside the other shipped models
    # in the 60 MB of weights; the outer, full-resolution levels, where hints are copied onto
    # edges, keep nogan's width. With 9x fewer parameters than nogan's G and hints to copy,
    # pix2pix's dropout is left out. L1 alone: the shipped model is judged by PSNR against
    # the number of hints (a GAN term is an option: --set discriminator=patchgan lambda_gan=...)
    return _colorization(
        name="hints",
        description="user-guided colorizer (Zhang, Zhu et al. 2017): U-Net G at 64 px reads L plus a sparse "
                    "hint map and its mask; L1 regression, users simulated (0 hints = automatic)",
        cite=_HINTS_CITE,
        **_nogan_common(discriminator=None, lambda_gan=0.0, lr=5e-4, beta1=0.9, hints=True, g_max_mult=2,
                        g_dropout=0.0),
        train=TrainConfig(steps=14000, batch_size=32, lr_schedule="cosine", log_every=50, sample_every=2000,
                          ckpt_every=250, eval_every=1000, best_metric="psnr"),
    )


# --------------------------------------------------------------------------- the restorer (seed 004)
# Seed 004 trains on FFHQ at 512 px for 40k iterations per stage; the kit's pack is
# celeba10k (9,000 / 1,000 aligned CelebA faces) at 64 px, and the lengths below are the
# seed's iteration counts scaled to a small GPU run (a CPU run overrides --steps).
# The recipe types live with their tasks in lessons_lib.train.restoration.
_SEED004 = ("Lee, Kang, Lee, Baek & Cho, 'Image restoration with a regression network and a GAN' (seed 004); "
            "NAFNet: Chen et al. 2022; StyleGAN2: Karras et al. 2020")


@register_recipe("nafnet")
def _nafnet() -> Recipe:
    from .train.restoration import NAFNetRecipe

    return NAFNetRecipe(
        name="nafnet", description="restorer stage 0: NAFNet deblurs motion-blurred faces (L1 regression, x_R)",
        cite=_SEED004,
        train=TrainConfig(steps=20000, batch_size=16, lr_schedule="cosine", log_every=50, sample_every=1000,
                          ckpt_every=1000, eval_every=2000, best_metric="psnr"),
    )


@register_recipe("stylegan2")
def _stylegan2() -> Recipe:
    from .train.restoration import StyleGAN2Recipe

    return StyleGAN2Recipe(
        name="stylegan2", description="restorer prior: a small StyleGAN2 on sharp faces (logistic loss, lazy R1, mixing)",
        cite=_SEED004,
        train=TrainConfig(steps=30000, batch_size=16, lr_schedule="constant", log_every=50, sample_every=1000,
                          ckpt_every=1000, eval_every=-1),
    )


@register_recipe("inversion")
def _inversion() -> Recipe:
    from .train.restoration import InversionRecipe

    return InversionRecipe(
        name="inversion", description="restorer stage 1: encoder + G fine-tuning, L1 + 10 perceptual + 0.3 GAN (x_G)",
        cite=_SEED004 + "; encoder: BDInvert (Kang et al. 2021) + pSp (Richardson et al. 2021)",
        train=TrainConfig(steps=40000, batch_size=8, lr_schedule="constant", log_every=50, sample_every=1000,
                          ckpt_every=1000, eval_every=2000),
    )


@register_recipe("fusion")
def _fusion() -> Recipe:
    from .train.restoration import FusionRecipe

    return FusionRecipe(
        name="fusion", description="restorer stage 2: fusion of x_R and x_G, L1 + 10 perceptual + contextual (x_hat)",
        cite=_SEED004 + "; contextual loss: Mechrez et al. 2018",
        train=TrainConfig(steps=40000, batch_size=8, lr_schedule="step", lr_milestones=(0.2,), lr_gamma=0.1,
                          log_every=50, sample_every=1000, ckpt_every=1000, eval_every=2000, best_metric="psnr"),
    )


@register_recipe("feature_net")
def _feature_net() -> Recipe:
    # The kit's stand-in for ImageNet VGG16 in the perceptual losses (ColorGAN seed 001,
    # the restorer seed 004) and the network of the _kit distribution metrics (FID_kit,
    # KID_kit, ...): 23 classes (8 scenes + 5 flowers + 10 CIFAR-10) at 64 px, 2,000
    # training images per class at most (25,559 images). 4,000 steps of 32 (5 epochs),
    # cosine decay: validation accuracy 0.69 (scenes8 0.80, flowers5 0.60, cifar10 0.71;
    # chance 0.04) in 34 minutes on one core of the course's CPU (66 images/s). The first
    # shipped network (400 per class, 250 steps) reached 0.36. imagenet1k is not used: one
    # photo per class teaches no class.
    return FeatureNetRecipe(
        name="feature_net",
        description="the kit's feature network: VGG-style classifier on scenes8 + flowers5 + cifar10 (perceptual losses)",
        cite="Simonyan & Zisserman 2015 (VGG); perceptual loss: Johnson et al. 2016; seed 001 eq. 1",
        train=TrainConfig(steps=4000, batch_size=32, lr_schedule="cosine", log_every=50, sample_every=-1,
                          n_samples=0, ckpt_every=250, eval_every=500, best_metric="accuracy"),
    )
