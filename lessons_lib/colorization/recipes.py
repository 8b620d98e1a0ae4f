"""The colorization recipe types: what a colorizer trains (the U-Net or ColorGAN generator,
the discriminator, the losses, the data, the optimiser) as typed dataclasses, each naming
by import the task that trains it (``ColorizationRecipe.Task`` is
:class:`~lessons_lib.colorization.tasks.ColorizationTask`).

The named recipes (``pix2pix``, ``nogan``, ``seed000_full``, ...) are in
:mod:`lessons_lib.recipes`, the registry of every product's recipes.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .. import LessonsError
from ..checkpoints import select_eval
from ..color.classes import setting_name
from ..train.diffaugment import parse_policy
from ..models.colorgan import NOISE_INITS
from ..models.features import LAYERS
from ..train.config import Recipe, check_smoothing, choice
from .colorgan_task import ColorGANTask
from .tasks import ColorizationTask

__all__ = ["ColorizationRecipe", "ColorGANRecipe", "select_class_model"]


def select_class_model(run: str | Path, *, min_gain_db: float, temperatures: tuple,
                       corrections: tuple = (0.0,)) -> dict[str, Any] | None:
    """The rule of a class-head run (issue 25), on its validation set (the select set, never
    a test photo): among every (checkpoint, T, prior correction) setting - the models kept at
    each validation (``RUN/evals``), else the run's last model - whose PSNR is at least
    ``min_gain_db`` above the gray input's, the most colourful; when none is, the setting
    with the best PSNR. Writes ``RUN/selected.safetensors`` and its card, whose
    ``classes.temperature`` and ``classes.correction`` are the chosen ones (the Colorizer's
    defaults) and whose ``selection`` records the rule and every candidate. Returns the
    selection (None, with a warning, for a run that never validated)."""
    run = Path(run)
    found = sorted((run / "evals").glob("step_*.safetensors")) or [run / "model.safetensors"]
    rows = []
    for weights in found:
        card = json.loads(weights.with_suffix(".json").read_text())
        m = card.get("metrics") or {}
        if "psnr_gray" not in m:
            warnings.warn(f"{weights}'s card has no validation metrics of the temperatures (psnr_gray, psnr_T*): "
                          "no (checkpoint, T) chosen; validate the run (eval_every > 0) to choose them by rule",
                          stacklevel=2)
            return None
        for c in corrections:
            for t in temperatures:
                key = setting_name(t, c)
                if f"psnr_{key}" in m:
                    rows.append({"path": str(weights), "step": int(card.get("steps", 0)), "temperature": float(t),
                                 "correction": float(c), "psnr": float(m[f"psnr_{key}"]),
                                 "psnr_gray": float(m["psnr_gray"]), "colorfulness": float(m[f"colorfulness_{key}"])})
    if not rows:
        raise LessonsError(f"no candidate of {run} was scored at the temperatures {list(temperatures)} "
                           f"and corrections {list(corrections)}")
    ok = [r for r in rows if r["psnr"] - r["psnr_gray"] >= min_gain_db]
    pick = max(ok, key=lambda r: r["colorfulness"]) if ok else max(rows, key=lambda r: r["psnr"])
    rule = (f"the most colourful (checkpoint, T, correction) with validation PSNR >= the gray input's + "
            f"{min_gain_db:g} dB" + ("" if ok else " (none met it: the best PSNR)"))
    src = Path(pick["path"])
    shutil.copyfile(src, run / "selected.safetensors")
    card = json.loads(src.with_suffix(".json").read_text())
    card.setdefault("classes", {}).update(temperature=pick["temperature"], correction=pick["correction"])
    sel = {"rule": rule, "from": src.name, **{k: v for k, v in pick.items() if k != "path"},
           "candidates": [{k: v for k, v in r.items() if k != "path"} for r in rows]}
    card["selection"] = sel
    (run / "selected.json").write_text(json.dumps(card, indent=2))
    print(f"selected {src.name} at T = {pick['temperature']:g}, correction {pick['correction']:g}: {rule} "
          f"(PSNR {pick['psnr']:.2f} dB, gray {pick['psnr_gray']:.2f}; colourfulness {pick['colorfulness']:.1f})",
          flush=True)
    return sel


@dataclass
class ColorizationRecipe(Recipe):
    """A conditional-GAN (or plain regression) colorizer: U-Net G, optional conditional D.

    The objective (pix2pix, Isola et al. 2017, eq. 4, + CycleGAN's identity term):
    ``lambda_gan * L_GAN + lambda_l1 * L1 + lambda_identity * L_idt``; see
    :mod:`lessons_lib.colorization.tasks`.
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
    #: "val", or "test" for sources that ship a test split only (CIFAR-10), or "select": the
    #: select set carved out of the train split (below), so that no test photo chooses anything
    val_split: str = "val"
    #: > 0: hold out this share of each pack's train photos as the ``select`` set (a seeded,
    #: deterministic draw, :func:`lessons_lib.data.select_split`), never trained on; it
    #: validates, and so chooses the checkpoint and a class head's temperature, when
    #: ``val_split="select"`` (issue 25: 0.05)
    select_fraction: float = 0.0
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
    # --- the head (issue 25): "ab" regresses ab with a tanh; "classes" predicts a distribution
    # over the ab bins of 10 that occur in the training photos (Zhang, Isola & Efros 2016,
    # "Colorful Image Colorization"; lessons_lib.color.classes), learnt with the class-
    # rebalanced cross-entropy and decoded by the annealed mean at a temperature T
    head: str = "ab"
    #: a JSON of the bins and their prior (``ColourClasses.to_dict``) or a class-head model
    #: card to take them from; None = measured on the training photos when the run starts
    class_prior: str | None = None
    #: photos the prior is measured on (evenly spread over the packs; None = every one: 13 s for
    #: nogan's 6,114 at 64 px)
    class_prior_images: int | None = None
    #: the soft encoding: each target spread over this many nearest bins (paper: 5; 1 = hard)
    class_neighbours: int = 5
    #: the Gaussian of the soft encoding and of the prior's smoothing, Lab units (paper: 5)
    class_sigma: float = 5.0
    #: weight of the uniform distribution mixed into the prior before inverting it (paper: 0.5)
    class_lambda: float = 0.5
    #: the class head predicts at size / class_stride (2: a 1x1 output conv at half size, the
    #: ab upsampled: 4.5x cheaper a step than at full size with ~250 bins; 1: full size)
    class_stride: int = 2
    #: weight of the rebalanced cross-entropy in G's objective (the L1 term can stay beside it)
    lambda_class: float = 1.0
    #: the decoding temperature of validation, the samples and the card (paper: 0.38)
    temperature: float = 0.38
    #: the temperatures each validation also scores (psnr_T*, colorfulness_T*); the selection
    #: rule picks the checkpoint and T among them
    temperatures: tuple = (1.0, 0.77, 0.58, 0.45, 0.38, 0.3, 0.2)
    #: the prior correction of validation's headline metrics, the samples and the card: the
    #: share of the class rebalancing undone before decoding (0 = the head as trained, Zhang et
    #: al.; 1 = undone; lessons_lib.color.classes.correct_logits)
    class_correction: float = 0.0
    #: the corrections each validation also scores, with every temperature (psnr_T*_c*); the
    #: selection rule picks (checkpoint, T, correction) among them
    class_corrections: tuple = (0.0, 0.25, 0.5, 0.75, 1.0)
    #: the rule's fidelity floor: the pair (checkpoint, T) must keep the validation PSNR at least
    #: this many dB above the gray input (issue 11's target is 0.5 dB on test photos; the margin
    #: leaves room for the select set being easier or harder than them)
    select_min_gain_db: float = 0.7
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
    #: family, e.g. the L1 pre-training run; ``nogan``: runs/nogan_pretrain); None = random
    #: initialisation. A path that does not exist is refused, naming the run that makes it
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

    Task: ClassVar[type] = ColorizationTask

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
        choice("head", self.head, ("ab", "classes"))
        if not 0.0 <= self.select_fraction < 0.5:
            raise LessonsError(f"select_fraction is the share of each pack's train photos held out, in [0, 0.5) "
                               f"(issue 25: 0.05), got {self.select_fraction}")
        if self.val_split == "select" and self.select_fraction <= 0:
            raise LessonsError("val_split='select' validates on the select set: set select_fraction > 0 (e.g. 0.05)")
        if self.head == "classes":
            if self.color_space != "lab":
                raise LessonsError("head='classes' predicts bins of the ab plane: it needs color_space='lab'")
            if self.lambda_identity > 0:
                raise LessonsError("head='classes' has no identity loss (G's output is logits): set lambda_identity=0")
            if not (self.temperature > 0 and all(t > 0 for t in self.temperatures)):
                raise LessonsError(f"temperatures must be > 0 (1 = the mean, near 0 = the mode), got "
                                   f"{self.temperature} and {list(self.temperatures)}")
            if not all(0.0 <= c <= 1.0 for c in (self.class_correction, *self.class_corrections)):
                raise LessonsError(f"prior corrections are shares of the rebalancing undone, in [0, 1], got "
                                   f"{self.class_correction} and {list(self.class_corrections)}")
            if self.class_neighbours < 1 or self.class_sigma < 0 or not 0.0 < self.class_lambda <= 1.0:
                raise LessonsError(f"class_neighbours >= 1, class_sigma >= 0 and class_lambda in (0, 1] "
                                   f"(paper: 5, 5, 0.5), got {self.class_neighbours}, {self.class_sigma}, "
                                   f"{self.class_lambda}")
            choice("class_stride", self.class_stride, (1, 2))
            if self.class_prior_images is not None and self.class_prior_images < 1:
                raise LessonsError(f"class_prior_images must be >= 1 (or None: every photo), got {self.class_prior_images}")
        if self.scale_jitter < 1.0:
            raise LessonsError(f"scale_jitter is the largest short side over size, >= 1 (1 = off), "
                               f"got {self.scale_jitter}")
        if self.size < 8 or self.size % 8:
            raise LessonsError(f"size must be a multiple of 8 (e.g. 32, 64, 128, 256), got {self.size}")
        for k in ("lambda_l1", "lambda_gan", "lambda_identity", "lambda_gp", "lr", "g_dropout", "nin_dropout",
                  "lambda_perceptual", "d_pretrain_steps", "lambda_class"):
            if getattr(self, k) < 0:
                raise LessonsError(f"{k} must be >= 0, got {getattr(self, k)}")
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
        """With ``select_psnr_tolerance`` (or a class head): pick the run's model by rule and
        store it as ``RUN/selected.safetensors`` (+ card with the rule and every candidate),
        which the zoo ships in place of the last step's ``model.safetensors``."""
        self.after_revalidation(Path(result.out))

    def after_revalidation(self, out: Path) -> None:
        """The selection rule over the models kept at validation (a class head's: the
        (checkpoint, T, correction) setting; else :func:`select_eval` with
        ``select_psnr_tolerance``)."""
        if self.head == "classes":
            select_class_model(out, min_gain_db=self.select_min_gain_db, temperatures=self.temperatures,
                               corrections=self.class_corrections)
            return
        if self.select_psnr_tolerance is None:
            return
        choice = select_eval(out, tolerance=self.select_psnr_tolerance)
        src = Path(choice["path"])
        shutil.copyfile(src, out / "selected.safetensors")
        card = json.loads(src.with_suffix(".json").read_text())
        card["selection"] = {k: v for k, v in choice.items() if k != "path"}
        card["selection"]["from"] = src.name
        (out / "selected.json").write_text(json.dumps(card, indent=2))
        print(f"selected {src.name}: {choice['rule']} (PSNR {choice['psnr']:.2f} dB, best "
              f"{choice['best_psnr']:.2f}; colourfulness {choice['colorfulness']:.1f})", flush=True)

    def smoke(self) -> "ColorizationRecipe":
        """Synthetic 32-px images, 8-channel nets, 2 steps of batch 4; G starts afresh (no
        ``init_g``: a warm start trained at full size would not fit the 8-channel G)."""
        return dataclasses.replace(
            self, init_g=None, data="synthetic", size=32, limit=16, val_limit=8, g_base=8, d_base=8,
            class_prior=None, class_prior_images=64,
            d_layers=min(self.d_layers, 2), val_split="select" if self.val_split == "select" else "val",
            train=self.train.replace(steps=2, batch_size=4, log_every=1, sample_every=0, ckpt_every=1000,
                                     eval_every=0, n_samples=4, progress=False),
        )


@dataclass
class ColorGANRecipe(ColorizationRecipe):
    """ColorGAN (Shafiq & Lee, seed 001): the colorization recipe plus a noise branch and
    two feature losses; see :mod:`lessons_lib.colorization.colorgan_task`. G's objective (eq. 1):
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

    Task: ClassVar[type] = ColorGANTask

    def validate(self) -> None:
        super().validate()
        choice("color_space", self.color_space, ("lab",))
        choice("d_norm", self.d_norm, ("batch", "instance", "none"))
        choice("noise_init", self.noise_init, NOISE_INITS)
        choice("s_layer", self.s_layer, LAYERS)
        if self.lambda_identity:
            raise LessonsError("ColorGAN has no identity loss: lambda_identity must be 0")
        if self.hints:
            raise LessonsError("ColorGAN's generator takes no hints; train a hint model with the U-Net recipes "
                               "(lessons train hints)")
        if self.head != "ab":
            raise LessonsError("ColorGAN's generator regresses ab; the colour-class head belongs to the U-Net "
                               "recipes (lessons train classes)")
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
