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
from pathlib import Path
from typing import Any, Callable

from . import LessonsError, smoke_mode
from .colorization.recipes import ColorGANRecipe, ColorizationRecipe
from .featurenet.recipes import FeatureNetRecipe
from .restoration.recipes import FusionRecipe, InversionRecipe, NAFNetRecipe, StyleGAN2Recipe
from .toygan.recipes import DCGANRecipe, ToyGANRecipe
from .train.config import CHECKPOINT_NAME, Recipe, TrainConfig, config_fields, recipe_to_dict
from .train.runstate import load_checkpoint

__all__ = [
    "Recipe",
    "ColorizationRecipe",
    "ToyGANRecipe",
    "DCGANRecipe",
    "FeatureNetRecipe",
    "ColorGANRecipe",
    "NAFNetRecipe",
    "StyleGAN2Recipe",
    "InversionRecipe",
    "FusionRecipe",
    "get_recipe",
    "apply_overrides",
    "list_recipes",
    "describe_recipes",
    "recipe_to_dict",
    "recipe_from_dict",
    "resume_recipe",
    "recipe_fields",
    "build_task",
    "run_recipe",
    "revalidate_run",
    "for_lesson",
    "register_recipe",
]


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


#: every recipe type by its class name, the ``"type"`` that :func:`recipe_to_dict` writes
RECIPE_TYPES: dict[str, type] = {c.__name__: c for c in (
    ColorizationRecipe, ColorGANRecipe, ToyGANRecipe, DCGANRecipe, FeatureNetRecipe, NAFNetRecipe,
    StyleGAN2Recipe, InversionRecipe, FusionRecipe)}


def _from_json(cls: type, values: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``values`` as keyword arguments of the dataclass ``cls``: JSON lists back to tuples where
    the field holds a tuple; a name that is no field of ``cls`` is refused."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields) - set(skip))
    if unknown:
        raise LessonsError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; the dict was written by "
                           f"another version of the kit (valid fields: {', '.join(fields)})")
    out = {}
    for k, v in values.items():
        if k in skip:
            continue
        f = fields[k]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        out[k] = tuple(v) if isinstance(v, list) and isinstance(default, tuple) else v
    return out


def recipe_from_dict(d: dict[str, Any]) -> Recipe:
    """The recipe that :func:`recipe_to_dict` wrote (a model card's or checkpoint's
    ``recipe_config``): ``recipe_from_dict(recipe_to_dict(r)) == r``; validated."""
    kind = d.get("type")
    if kind not in RECIPE_TYPES:
        raise LessonsError(f"unknown recipe type {kind!r}; choose one of: {', '.join(RECIPE_TYPES)}")
    cls = RECIPE_TYPES[kind]
    train_cfg = TrainConfig(**_from_json(TrainConfig, d.get("train", {})))
    recipe = cls(train=train_cfg, **_from_json(cls, d, skip=("type", "train")))
    recipe.validate()
    return recipe


#: training fields that belong to this launch, not to the run being resumed
_LAUNCH_FIELDS = ("out", "resume", "overwrite", "progress")


def resume_recipe(recipe: Recipe, overrides: dict[str, Any]) -> Recipe:
    """The recipe that ``--resume`` continues the run in ``overrides["out"]`` (or the recipe's
    own ``out``) with: the run's own recipe, read back from its checkpoint with
    :func:`recipe_from_dict`, and ``overrides`` (what was given now) on top. A new ``steps`` or
    ``epochs`` replaces both of the run's (one sets the other). Refused when there is nothing to
    resume or the run is of another recipe."""
    out = Path(overrides.get("out", recipe.train.out.replace("{name}", recipe.name)))
    ckpt_path = out / CHECKPOINT_NAME
    if not ckpt_path.is_file():
        raise LessonsError(f"nothing to resume: {ckpt_path} does not exist; start a new run without "
                           "--resume (or point --out at the run to continue)")
    saved = load_checkpoint(ckpt_path).get("task", {})
    if saved.get("recipe") not in (None, recipe.name):
        raise LessonsError(f"{out} holds a run of recipe {saved['recipe']!r}, not {recipe.name!r}; "
                           f"resume it with `lessons train {saved['recipe']} --out {out} --resume`")
    config = saved.get("recipe_config")
    if isinstance(config, dict):
        run = recipe_from_dict(config)
        keep = {k: getattr(recipe.train, k) for k in _LAUNCH_FIELDS}
        if "steps" in overrides or "epochs" in overrides:
            keep.update(steps=recipe.train.steps, epochs=recipe.train.epochs)
        recipe = dataclasses.replace(run, name=recipe.name, train=run.train.replace(**keep))
    return apply_overrides(recipe, **overrides)


def build_task(recipe: Recipe):
    """The :class:`~lessons_lib.train.Task` that trains ``recipe``: ``recipe.Task(recipe)``,
    the class its recipe type imports from its product's ``tasks`` module."""
    recipe.validate()
    if recipe.Task is None:
        raise LessonsError(f"{type(recipe).__name__} names no Task class: set its class attribute Task "
                           "to the task that trains it")
    return recipe.Task(recipe)


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


def revalidate_run(recipe: Recipe) -> list[Path]:
    """Score the models the run in ``recipe.train.out`` kept at validation again with the
    recipe as it is now (a wider decoding grid, a new metric:
    :func:`lessons_lib.train.engine.revalidate`), then let the recipe choose among them again
    (:meth:`Recipe.after_revalidation`). No training. Returns the rewritten cards."""
    from .train.engine import revalidate

    if not recipe.train.out:
        raise LessonsError("revalidation needs the run folder: --out RUN")
    cards = revalidate(build_task(recipe), recipe.train)
    recipe.after_revalidation(Path(recipe.train.out))
    return cards


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
        # the GAN phase continues phase 1's G, by default the run `lessons train nogan_pretrain`
        # writes (as the restorer's stages default to runs/<stage>); missing, it is refused
        init_g="runs/nogan_pretrain",
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


_CLASSES_CITE = ("Zhang, Isola & Efros, 'Colorful Image Colorization' (ECCV 2016): colour classes, class "
                 "rebalancing, annealed mean; NoGAN data and U-Net: see nogan")


@register_recipe("classes")
def _classes() -> Recipe:
    # The colour-class colorizer (issue 25): nogan's data, size and U-Net, with G's last layer
    # emitting logits over the ab bins of 10 that occur in the training photos (about 300; the
    # paper's gamut has 313) and the class-rebalanced cross-entropy alone (soft targets over the
    # 5 nearest bins, sigma 5; prior smoothed by sigma 5, mixed with uniform at lambda 0.5).
    # It starts from the shipped nogan_warm (phase 1's L1 G): every layer but the output one.
    # Validation runs on the select set (5% of each pack's train photos, never trained on), and
    # the shipped (checkpoint, T) is chosen there by select_class_model; the packs' val splits
    # and cbsd68 stay test photos. Steps: sized by measurement on the 2 cores (RESULTS.md, issue 25).
    return _colorization(
        name="classes",
        description="colour-class colorizer (Zhang et al. 2016): U-Net G at 64 px predicts a distribution over "
                    "the ab bins, class-rebalanced cross-entropy, annealed-mean decoding at temperature T",
        cite=_CLASSES_CITE,
        **_nogan_common(discriminator=None, lambda_gan=0.0, lambda_l1=0.0, lr=5e-4, beta1=0.9, head="classes",
                        select_fraction=0.05, val_split="select"),
        init_g="lessons_lib/weights/nogan_warm.safetensors",
        train=TrainConfig(steps=6000, batch_size=32, lr_schedule="cosine", log_every=50, sample_every=1000,
                          ckpt_every=250, eval_every=500, keep_evals=True),
    )


# --------------------------------------------------------------------------- the restorer (seed 004)
# Seed 004 trains on FFHQ at 512 px for 40k iterations per stage; the kit's pack is
# celeba10k (9,000 / 1,000 aligned CelebA faces) at 64 px, and the lengths below are the
# seed's iteration counts scaled to a small GPU run (a CPU run overrides --steps).
# The recipe types are in lessons_lib.restoration.recipes, their tasks in lessons_lib.restoration.tasks.
_SEED004 = ("Lee, Kang, Lee, Baek & Cho, 'Image restoration with a regression network and a GAN' (seed 004); "
            "NAFNet: Chen et al. 2022; StyleGAN2: Karras et al. 2020")


@register_recipe("nafnet")
def _nafnet() -> Recipe:
    return NAFNetRecipe(
        name="nafnet", description="restorer stage 0: NAFNet deblurs motion-blurred faces (L1 regression, x_R)",
        cite=_SEED004,
        train=TrainConfig(steps=20000, batch_size=16, lr_schedule="cosine", log_every=50, sample_every=1000,
                          ckpt_every=1000, eval_every=2000, best_metric="psnr"),
    )


@register_recipe("stylegan2")
def _stylegan2() -> Recipe:
    return StyleGAN2Recipe(
        name="stylegan2", description="restorer prior: a small StyleGAN2 on sharp faces (logistic loss, lazy R1, mixing)",
        cite=_SEED004,
        train=TrainConfig(steps=30000, batch_size=16, lr_schedule="constant", log_every=50, sample_every=1000,
                          ckpt_every=1000, eval_every=-1),
    )


@register_recipe("inversion")
def _inversion() -> Recipe:
    return InversionRecipe(
        name="inversion", description="restorer stage 1: encoder + G fine-tuning, L1 + 10 perceptual + 0.3 GAN (x_G)",
        cite=_SEED004 + "; encoder: BDInvert (Kang et al. 2021) + pSp (Richardson et al. 2021)",
        train=TrainConfig(steps=40000, batch_size=8, lr_schedule="constant", log_every=50, sample_every=1000,
                          ckpt_every=1000, eval_every=2000),
    )


@register_recipe("fusion")
def _fusion() -> Recipe:
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
