"""The colorization task: pix2pix and the seed-000 / seed-003 colorizers on the one engine.

A conditional GAN (Isola et al. 2017, "pix2pix", eq. 4) learns G: gray -> colour with

    G* = arg min_G max_D  L_cGAN(G, D) + lambda_L1 L_L1(G) [+ lambda_idt L_idt(G)]

    L_cGAN = E[log D(x, y)] + E[log(1 - D(x, G(x)))]      (or LSGAN / WGAN-GP / hinge)
    L_L1   = E[ ||y - G(x)||_1 ]                            (pix2pix eq. 3, lambda 100)
    L_idt  = E[ ||G(y) - y||_1 ]                            (CycleGAN identity, seed 000)

where x is the gray condition and y the true colours, in one of two colour spaces:

* ``color_space="lab"`` (pix2pix colorization, ColorGAN): x = L/50 - 1, G(x) = ab/110, and
  D sees the pair (L, ab) - 3 channels. A generator trained with the identity loss takes
  three channels: (L, 0, 0) to colorize, (L, a, b) for the identity term.
* ``color_space="rgb"`` (seeds 000 and 003 work in RGB): x = the gray image in 3 equal
  channels, G(x) = RGB, all in [-1, 1]; D sees (gray3, rgb) - 6 channels.

The discriminator is swappable: ``"patchgan"`` (pix2pix 70x70), ``"nin_patchgan"`` (seed
000's NIN-MLP PatchGAN), ``"image"`` (one logit per image), or ``None`` - no adversary at
all, plain L1 regression (seed 003's "CNN (U-Net)" models).

The head is swappable too (issue 25): ``head="ab"`` regresses ab (tanh), ``head="classes"``
predicts logits over Q colour bins and learns them with the class-rebalanced cross-entropy
of Zhang, Isola & Efros 2016 (:mod:`lessons_lib.color.classes`, :mod:`lessons_lib.losses.classes`);
its ab, for D, the metrics and the samples, is the annealed mean at ``recipe.temperature``
after the prior correction ``recipe.class_correction``.
The bins and their prior are measured on the training photos (:func:`colour_histogram`)
unless ``recipe.class_prior`` names a file that holds them.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset

from .. import LessonsError
from ..data.hints import HINT_CHANNELS, simulate_hints
from ..train.task import Task
from .inputs import generator_input, generator_input_kind
from ..checkpoints import load_model
from ..color import AB_SCALE, lab_normalized_to_rgb
from ..color.classes import ColourClasses, decode_classes, grid_histogram, setting_name
from ..data import ColorizationDataset, lab_batch, open_source, select_split
from ..data.sources import SELECT_SEED
from ..losses import (PerceptualLoss, gan_loss, gradient_penalty, identity_loss, identity_target, l1_loss,
                      rebalanced_class_loss)
from ..metrics import colorfulness, colorization_report, load_feature_net, psnr
from ..metrics.accumulate import BatchMeans
from ..models import build_model
from ..models.discriminators import pair
from ..train.config import recipe_to_dict
from ..train.diffaugment import DiffAugment
from ..train.runstate import adam

if TYPE_CHECKING:  # pragma: no cover
    from .recipes import ColorizationRecipe

__all__ = ["ColorizationTask", "DISCRIMINATORS", "colour_histogram", "load_colour_classes"]

# recipe name of the discriminator -> registered model architecture
DISCRIMINATORS = {"patchgan": "patchgan", "nin_patchgan": "nin_patchgan", "image": "image_discriminator"}
#: a named recipe whose G starts from another recipe's run (``init_g``) -> that recipe, named
#: in the error when the warm start is missing (NoGAN: the GAN phase after the L1 pre-training)
WARM_STARTS = {"nogan": "nogan_pretrain"}
#: validation batch i of a hint model draws its hints from a generator seeded VAL_HINT_SEED + i
VAL_HINT_SEED = 12_000


def colour_histogram(data: str, size: int, *, split: str = "train", select_fraction: float = 0.0,
                     limit: int | None = None, batch_size: int = 64) -> tuple["torch.Tensor", dict[str, Any]]:
    """Count the training pixels per ab grid cell (:func:`lessons_lib.color.classes.grid_histogram`)
    of ``data``'s ``split`` at ``size`` x ``size`` (each photo resized and centre-cropped as
    for validation), leaving out the select set when ``select_fraction > 0`` and, with
    ``limit``, reading every n-th photo so that ``limit`` spread over all the packs.
    Returns the counts and a description of what was read (for the model card)."""
    source = open_source(data, split)
    idx = select_split(source, select_fraction)[0] if select_fraction > 0 else list(range(len(source)))
    if limit is not None and limit < len(idx):
        stride = len(idx) / float(limit)
        idx = [idx[int(i * stride)] for i in range(int(limit))]
    ds = Subset(ColorizationDataset(source, size, train=False), idx)
    counts = None
    for s in range(0, len(ds), batch_size):
        batch = torch.stack([ds[i] for i in range(s, min(s + batch_size, len(ds)))])
        _, ab = lab_batch(batch, "cpu", "lab")                                  # (B, 2, S, S) ab / 110
        h = grid_histogram(ab * AB_SCALE)
        counts = h if counts is None else counts + h
    if counts is None:
        raise LessonsError(f"no training photos in {data!r} ({split}) to measure the colour prior on")
    return counts, {"data": data, "split": split, "size": size, "images": len(ds), "pixels": int(counts.sum()),
                    "select_fraction_excluded": select_fraction}


def load_colour_classes(path: str) -> ColourClasses:
    """The colour classes stored in ``path``: a JSON of :meth:`ColourClasses.to_dict`, or a
    model card (``.json``, or the card beside a ``.safetensors`` or in a run folder) holding
    them under ``"classes"``."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "model.json"
    elif p.suffix == ".safetensors":
        p = p.with_suffix(".json")
    if not p.is_file():
        raise LessonsError(f"class_prior={path}: no such file (a colour-prior JSON or a class-head model card)")
    d = json.loads(p.read_text())
    return ColourClasses.from_dict(d.get("classes", d))


def _limited(ds: Dataset, limit: int | None) -> Dataset:
    if limit is None or limit >= len(ds):  # type: ignore[arg-type]
        return ds
    return Subset(ds, range(int(limit)))


class ColorizationTask(Task):
    """pix2pix-style colorization as a :class:`~lessons_lib.train.task.Task`.

    Built from a :class:`~lessons_lib.recipes.ColorizationRecipe`; phases ("D", "G"), or
    ("G",) when ``recipe.discriminator is None``.
    """

    name = "colorization"
    #: the registered generator architecture (ColorGAN's task swaps it, see train/colorgan.py)
    generator_arch = "unet"

    def __init__(self, recipe: "ColorizationRecipe") -> None:
        super().__init__()
        self.recipe = recipe
        self.name = recipe.name
        self.color_space = recipe.color_space
        if self.color_space not in ("lab", "rgb"):
            raise LessonsError(f"unknown color_space {recipe.color_space!r}; choose 'lab' or 'rgb'")
        if recipe.discriminator is not None and recipe.discriminator not in DISCRIMINATORS:
            raise LessonsError(
                f"unknown discriminator {recipe.discriminator!r}; choose one of "
                f"{', '.join(DISCRIMINATORS)} or None (no adversary: plain L1 regression)"
            )
        self.phases = ("D", "G") if recipe.discriminator is not None else ("G",)
        # Lab: the identity term feeds (L, a, b), so G then takes 3 channels and colorizes
        # (L, 0, 0); without it G takes L alone, as pix2pix does. RGB: always gray3 / rgb.
        self.lab_with_chroma_input = self.color_space == "lab" and recipe.lambda_identity > 0
        self._datasets: dict[tuple[str, bool], Dataset | None] = {}
        self.features = None
        self.perceptual = None
        self.see: DiffAugment | None = None       # set in setup when the recipe asks for DiffAugment
        #: the colour classes of a class head (head="classes"), built in :meth:`colour_classes`
        self.classes: ColourClasses | None = None
        self._class_tensors: tuple[torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ building
    @property
    def class_head(self) -> bool:
        """True when G predicts colour classes (``head="classes"``), not ab."""
        return getattr(self.recipe, "head", "ab") == "classes"

    def colour_classes(self) -> ColourClasses:
        """The Q bins, prior and weights of a class head: from ``recipe.class_prior``, else
        measured once on the training photos (the select set left out)."""
        r = self.recipe
        if self.classes is None:
            if r.class_prior:
                cc = load_colour_classes(r.class_prior)
            else:
                counts, src = colour_histogram(r.data, r.size, split=r.train_split,
                                               select_fraction=r.select_fraction, limit=r.class_prior_images)
                cc = ColourClasses.from_histogram(counts, sigma=r.class_sigma, lam=r.class_lambda, source=src)
                print(f"colour classes: {cc.n} ab bins of 10 occur in {src['images']} training photos "
                      f"({src['pixels']:,} pixels)", flush=True)
            self.classes = cc
        return self.classes

    def generator_config(self) -> dict[str, Any]:
        r = self.recipe
        if self.color_space == "lab":
            in_ch, out_ch = (3 if self.lab_with_chroma_input else 1), 2
            if r.hints:  # (L, hint a, hint b, mask): conditioning by concatenation (Zhang et al. 2017)
                in_ch = 1 + HINT_CHANNELS
            if self.class_head:  # Q logits, no tanh (Zhang, Isola & Efros 2016)
                out_ch = self.colour_classes().n
        else:
            in_ch, out_ch = 3, 3
        cfg: dict[str, Any] = dict(in_channels=in_ch, out_channels=out_ch, base=r.g_base, depth=r.g_depth,
                                   image_size=r.size, dropout=r.g_dropout)
        if r.g_max_mult != 8:  # the shipped cards before the hint model lack the key (the default)
            cfg["max_mult"] = r.g_max_mult
        if r.g_plain:
            cfg["plain"] = True
        else:
            cfg.update(norm=r.g_norm, act=r.g_act)
        if r.g_upsample != "transpose":  # lesson 11; the shipped cards lack the key (the default)
            cfg["upsample"] = r.g_upsample
        if self.class_head:
            cfg["out_act"] = "none"
            if r.class_stride == 2:
                cfg["half_res_out"] = True
        return cfg

    def discriminator_config(self) -> dict[str, Any]:
        r = self.recipe
        # conditional D: condition channels + output channels (pix2pix sec. 2.1)
        in_ch = 1 + 2 if self.color_space == "lab" else 3 + 3
        cfg: dict[str, Any] = dict(in_channels=in_ch, ndf=r.d_base)
        if r.discriminator in ("patchgan", "nin_patchgan"):
            cfg["n_layers"] = r.d_layers
        if r.discriminator == "nin_patchgan":
            cfg.update(mlp_layers=r.nin_mlp_layers, dropout=r.nin_dropout, global_pool=r.d_global_pool,
                       act=r.nin_act)
        if r.discriminator == "image":
            cfg["image_size"] = r.size
        if r.d_spectral_norm:  # lesson 11 (Miyato et al. 2018)
            cfg["spectral_norm"] = True
        return cfg

    #: feature layers computed beyond L_p's (ColorGAN adds L_s's layer)
    def extra_feature_layers(self) -> tuple[str, ...]:
        return ()

    def needs_features(self) -> bool:
        """Whether a loss term reads the frozen feature network (L_p here)."""
        return self.recipe.lambda_perceptual > 0

    def load_features(self, device: torch.device | str = "cpu"):
        """The frozen feature network of the perceptual terms (printed: which one)."""
        r = self.recipe
        if self.features is None:
            self.features = load_feature_net(r.features, device=device, verbose=True)
            self.perceptual = PerceptualLoss(self.features, r.perceptual_layers, r.perceptual_weights)
        return self.features

    def true_features(self, state: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Feature maps of the true colour photo, computed once per step (no gradients)."""
        if "true_features" not in state:
            with torch.no_grad():
                true_rgb = lab_normalized_to_rgb(state["cond"].float(), state["target"].float())  # (B, 3, H, W)
                state["true_features"] = self.perceptual.features(true_rgb, extra=self.extra_feature_layers())
        return state["true_features"]

    def perceptual_loss(self, state: dict[str, Any]) -> torch.Tensor:
        """L_p = sum_l w_l mean|phi_l(colorized) - phi_l(photo)| (Johnson et al. 2016, eq. 2),
        the colorized photo rebuilt from the true L and G's ab (differentiable in ab)."""
        pred_rgb = lab_normalized_to_rgb(state["cond"].float(), state["fake"].float())      # (B, 3, H, W)
        return self.perceptual.distance(self.perceptual.features(pred_rgb), self.true_features(state))

    def active_phases(self, step: int) -> tuple[str, ...]:
        """NoGAN's critic warm-up: D alone for the first ``d_pretrain_steps`` steps."""
        if step < self.recipe.d_pretrain_steps and "D" in self.phases:
            return ("D",)
        return self.phases

    def _warm_start(self, G: torch.nn.Module) -> None:
        """Load ``recipe.init_g`` into G (same architecture and config, strict)."""
        r = self.recipe
        if not Path(r.init_g).expanduser().exists():
            made_by = WARM_STARTS.get(r.name)
            how = (f"make it with `lessons train {made_by} --out {r.init_g}`" if made_by else
                   "point init_g at the run (or .safetensors) whose G this run continues")
            raise LessonsError(f"the warm start init_g={r.init_g} does not exist: {how}, or pass "
                               f"--set init_g=PATH (--set init_g=none trains G from a random start)")
        src, card = load_model(r.init_g, expect_arch=self.generator_arch)
        want = self.generator_config()
        # a class head may start from a regression G (nogan_warm): all but the last layer
        head_keys = ("out_channels", "out_act", "half_res_out") if self.class_head else ()
        have = {k: card.get("config", {}).get(k) for k in want}
        if card.get("config", {}).get("out_act") is None and "out_act" in want:
            have["out_act"] = "tanh"
        diff = [k for k in want if have[k] != want[k] and k not in head_keys]
        if diff:
            diff_s = ", ".join(f"{k}: weights {have[k]!r} vs recipe {want[k]!r}" for k in diff)
            raise LessonsError(f"init_g {r.init_g} holds another generator than this recipe builds ({diff_s}); "
                               "set the recipe's options to the warm start's (see its card) or train G anew")
        mine, theirs = G.state_dict(), src.state_dict()
        skipped = [k for k in mine if k in theirs and theirs[k].shape != mine[k].shape]
        if skipped and not all(k.startswith("up.0.") for k in skipped):
            raise LessonsError(f"init_g {r.init_g}: only the output layer may differ, but {skipped} do")
        G.load_state_dict({k: (mine[k] if k in skipped else v) for k, v in theirs.items()})
        if skipped:
            print(f"init_g: every layer of {r.init_g} but the output layer ({', '.join(skipped)}: "
                  f"{have['out_channels']} -> {want['out_channels']} channels, initialised anew)", flush=True)

    def setup(self, device: torch.device) -> None:
        r = self.recipe
        self.nets = {"G": build_model(self.generator_arch, **self.generator_config()).to(device)}
        if r.init_g:
            self._warm_start(self.nets["G"])
        # Adam with beta1 = 0.5 instead of 0.9 (Radford et al. 2016, sec. 4; pix2pix): with a
        # moving target (D changes every step) a long momentum memory makes G and D
        # oscillate; 0.5 halves the memory and keeps GAN training stable.
        betas = (r.beta1, r.beta2)
        self.opts = {"G": adam(self.nets["G"].parameters(), lr=r.lr, betas=betas)}
        if r.discriminator is not None:
            self.nets["D"] = build_model(DISCRIMINATORS[r.discriminator], **self.discriminator_config()).to(device)
            self.opts["D"] = adam(self.nets["D"].parameters(), lr=r.lr_d or r.lr, betas=betas)
            kw: dict[str, Any] = {}
            if r.gan_loss == "lsgan":
                kw = dict(a=r.lsgan_a, b=r.lsgan_b, c=r.lsgan_c)
            if r.real_label != 1.0:  # one-sided label smoothing (Salimans et al. 2016)
                kw["real_label"] = r.real_label
            self.gan = gan_loss(r.gan_loss, **kw)
            # pix2pix divides D's objective by 2 ("slows down the rate at which D learns
            # relative to G"). Its vanilla loss is BCE(real) + BCE(fake), so 0.5 here; the
            # LSGAN objective of Mao et al. already carries the 1/2 (and equals pix2pix's
            # 0.5 * (MSE + MSE)). Under Adam a constant factor on a loss hardly changes the
            # update (Adam divides by the gradient's RMS); it matters through eps and
            # relative to a gradient penalty.
            self.d_weight = r.d_loss_weight if r.d_loss_weight is not None else (
                0.5 if self.gan.mode == "vanilla" else 1.0)
        # DiffAugment (Zhao et al. 2020): D sees real and fake pairs through the same random,
        # differentiable transforms, in its step and in G's; None = D sees them as they are
        self.see = DiffAugment(r.diffaugment) if r.diffaugment and "D" in self.nets else None
        if self.needs_features():  # last: building it must not move the RNG the nets were drawn from
            self.load_features(device)
            self.features.to(device)

    # ------------------------------------------------------------------ data
    def dataset(self, split: str, train: bool) -> Dataset | None:
        key = (split, train)
        if key in self._datasets:
            return self._datasets[key]
        r = self.recipe
        if split == "train":
            source = open_source(r.data, r.train_split)
            jitter = round(r.size * r.scale_jitter) if r.scale_jitter > 1 else None
            full: Dataset = ColorizationDataset(source, r.size, train=train, max_load_size=jitter)
            if r.select_fraction > 0:   # the select set is never trained on (issue 25)
                full = Subset(full, select_split(source, r.select_fraction)[0])
            if r.train_stride > 1:      # every k-th photo: all classes of a sorted pack
                full = Subset(full, range(0, len(full), r.train_stride))
            ds: Dataset | None = _limited(full, r.limit)
        elif r.val_split == "select":
            # validation on the select set: carved out of the train split, so the packs' val
            # splits (and cbsd68) stay test photos
            source = open_source(r.data, r.train_split)
            ds = _limited(Subset(ColorizationDataset(source, r.size, train=False),
                                 select_split(source, r.select_fraction)[1]), r.val_limit)
        else:
            try:
                source = open_source(r.data, r.val_split)
            except LessonsError as e:
                warnings.warn(f"no validation data: {e}; training without validation metrics", stacklevel=2)
                ds = None
            else:
                ds = _limited(ColorizationDataset(source, r.size, train=False), r.val_limit)
        self._datasets[key] = ds
        return ds

    def prepare(self, batch: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        """uint8 RGB (B, 3, S, S) -> condition and target on the device, converted there in
        one batched pass (the reference pix2pix converts per image with skimage, in the loader)."""
        cond, target = lab_batch(batch, device, self.color_space)
        data = {"cond": cond, "target": target}
        if self.recipe.hints:
            data["hints"] = self.simulate_hints(target)
        return data

    def simulate_hints(self, target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A simulated user's hints on the true ab (Zhang et al. 2017, sec. 3.3;
        :mod:`lessons_lib.data.hints`): (B, 3, H, W) = (hint a, hint b, mask). The points are
        drawn from torch's CPU generator (which the engine seeds and checkpoints), or from
        ``generator``."""
        r = self.recipe
        hint_ab, mask = simulate_hints(target.float(), p=r.hint_p, max_patch=r.hint_max_patch,
                                       sigma=r.hint_sigma, generator=generator)
        return torch.cat([hint_ab, mask], dim=1).to(target.dtype)

    @property
    def g_input_kind(self) -> str:
        """How G is fed (:data:`~lessons_lib.colorization.inputs.G_INPUTS`), the card's ``"g_input"``."""
        return generator_input_kind(self.color_space, hints=self.recipe.hints, chroma_input=self.lab_with_chroma_input)

    def g_input(self, cond: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """What G colorizes (:func:`~lessons_lib.colorization.inputs.generator_input`, shared with
        the Colorizer): L, (L, 0, 0), gray3, or (L, hint a, hint b, mask) with zeros for no hints."""
        return generator_input(self.g_input_kind, cond, hints if self.recipe.hints else None)

    def colour_input(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """The real colour image in model space, the identity loss's input: (L, a, b) or rgb."""
        if self.color_space == "lab":
            return torch.cat([data["cond"], data["target"]], dim=1)
        return data["target"]

    # ------------------------------------------------------------------ one step
    def decode(self, out: torch.Tensor, temperature: float | None = None,
               size: tuple[int, int] | None = None, correction: float | None = None) -> torch.Tensor:
        """G's output -> its colours in model space: the output itself for an ab/RGB head; for
        a class head :func:`~lessons_lib.color.classes.decode_classes` of the logits
        ``(B, Q, h, w)`` at ``temperature`` and prior ``correction`` (defaults: the recipe's
        ``temperature`` and ``class_correction``) as ab / 110 ``(B, 2, H, W)``, upsampled to
        ``size`` when the head predicts at a lower resolution (differentiable)."""
        if not self.class_head:
            return out
        r = self.recipe
        return decode_classes(out, self.classes, r.temperature if temperature is None else temperature,
                              correction=r.class_correction if correction is None else correction,
                              size=size, scale=AB_SCALE)

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.nets["G"](self.g_input(data["cond"], data.get("hints")))   # (B, 2|3|Q, H, W)
        if self.class_head:
            return {**data, "logits": out, "fake": self.decode(out, size=data["cond"].shape[-2:])}
        return {**data, "fake": out}                                          # in [-1, 1]

    def loss(self, phase: str, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        r = self.recipe
        cond, target, fake = state["cond"], state["target"], state["fake"]
        if phase == "D":
            D = self.nets["D"]
            real_pair = pair(cond, target)                 # (B, 3|6, H, W): D judges (x, y)
            fake_pair = pair(cond, fake.detach())          # detach: the D step stops at D
            out = self.gan.d_step(D, real_pair, fake_pair, see=self.see)  # DiffAugment: T on both
            loss = self.d_weight * out.pop("loss")
            if self.gan.mode == "wgan" and r.lambda_gp > 0:
                # WGAN-GP (Gulrajani et al. 2017, eq. 3): the critic's gradient norm is pushed
                # to 1 on random interpolates of real and fake pairs.
                gp = gradient_penalty(D, real_pair, fake_pair, lambda_gp=r.lambda_gp)
                loss = loss + gp
                out["gp"] = gp.detach()
            return {"loss": loss, **out}
        if phase == "G":
            l1 = l1_loss(fake, target)
            loss = r.lambda_l1 * l1
            out: dict[str, torch.Tensor] = {"l1": l1.detach()}
            if self.class_head:
                # Zhang et al. eq. 2: soft-encoded target, weighted by the nearest bin's w
                cc = self.classes
                if self._class_tensors is None or self._class_tensors[0].device != fake.device:
                    self._class_tensors = (cc.centres.to(fake.device), cc.weights.float().to(fake.device))
                centres, weights = self._class_tensors
                logits = state["logits"]
                ab_true = target.float() * AB_SCALE                          # (B, 2, H, W) Lab units
                if logits.shape[-1] != ab_true.shape[-1]:                   # a half-size head: 2x2 means
                    ab_true = F.avg_pool2d(ab_true, ab_true.shape[-1] // logits.shape[-1])
                ce = rebalanced_class_loss(logits, ab_true, centres, weights, k=r.class_neighbours,
                                           sigma=r.class_sigma)
                loss = loss + r.lambda_class * ce
                out["class_ce"] = ce.detach()
            if "D" in self.nets:
                adv = self.gan.g_step(self.nets["D"], pair(cond, fake), see=self.see)  # through D (and T), into G
                loss = loss + r.lambda_gan * adv
                out["gan"] = adv.detach()
            if r.lambda_perceptual > 0 and self.perceptual is not None:
                lp = self.perceptual_loss(state)
                loss = loss + r.lambda_perceptual * lp
                out["perceptual"] = lp.detach()
            if r.lambda_identity > 0:
                colour = self.colour_input(state)
                idt = identity_loss(self.nets["G"], colour, identity_target(colour, self.color_space))
                loss = loss + r.lambda_identity * idt
                out["identity"] = idt.detach()
            return {"loss": loss, **out}
        raise LessonsError(f"the colorization task has no phase {phase!r}")

    # ------------------------------------------------------------------ outputs
    def to_rgb(self, cond: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Model space -> RGB in [0, 1]: Lab recombines the true L with the predicted ab."""
        if self.color_space == "lab":
            return lab_normalized_to_rgb(cond.float(), out.float())
        return ((out.float() + 1.0) / 2.0).clamp(0, 1)

    def sample(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """Three rows: the gray input, the colorization, the ground truth: (3, N, 3, H, W)."""
        cond, target = data["cond"], data["target"]
        hints = data.get("hints")
        fake = self.decode(self.nets["G"](self.g_input(cond, hints)), size=cond.shape[-2:])
        truth = self.to_rgb(cond, target)
        if hints is not None:   # the gray input with the hint patches painted in their colours
            gray = self.to_rgb(cond, hints[:, :2])
        elif self.color_space == "lab":
            gray = self.to_rgb(cond, torch.zeros_like(target))
        else:
            gray = ((cond.float() + 1.0) / 2.0).clamp(0, 1)
        return torch.stack([gray, self.to_rgb(cond, fake), truth])

    def evaluate(self, batches: Iterable[torch.Tensor]) -> dict[str, float]:
        """Means over the validation images of :func:`lessons_lib.metrics.colorization_report`
        (MAE, AuC, PSNR, SSIM, colorfulness and its gap to the ground truth, LPIPS when its
        weights are present), batch results weighted by batch size. Every image has the same
        number of pixels, so the weighted mean of the per-batch AuC is the AuC of the whole set.
        FID is left out: it is a statistic of the whole set, not a mean over batches. A hint
        model is scored with simulated hints drawn from fixed seeds (the same at every validation)."""
        acc = BatchMeans(skip=("n_images", "fid"))
        for i, batch in enumerate(batches):
            cond, target = lab_batch(batch, self.device, self.color_space)
            data = {"cond": cond, "target": target}
            if self.recipe.hints:  # the same simulated hints at every validation (seeded per batch)
                data["hints"] = self.simulate_hints(target, torch.Generator().manual_seed(VAL_HINT_SEED + i))
            out = self.nets["G"](self.g_input(data["cond"], data.get("hints")))
            hw = cond.shape[-2:]
            pred = self.to_rgb(data["cond"], self.decode(out, size=hw))
            truth = batch.to(self.device).float() / 255.0       # the exact ground truth
            row = _flatten(colorization_report(pred, truth))
            if self.class_head:  # the temperature sweep the after-training rule chooses T from
                row["psnr_gray"] = float(psnr(self.to_rgb(cond, torch.zeros_like(target)), truth))
                for c in self.recipe.class_corrections:
                    for t in self.recipe.temperatures:
                        rgb_t = self.to_rgb(cond, self.decode(out, t, size=hw, correction=c))
                        row[f"psnr_{setting_name(t, c)}"] = float(psnr(rgb_t, truth))
                        row[f"colorfulness_{setting_name(t, c)}"] = float(colorfulness(rgb_t))
            acc.add(row, batch.shape[0])
        return {"n_images": float(acc.n), **acc.means()} if acc.n else {}

    def describe(self) -> dict[str, Any]:
        r = self.recipe
        info = {
            "task": "colorization",
            "recipe": r.name,
            "recipe_config": recipe_to_dict(r),
            "data": r.data,
            "size": r.size,
            "color_space": self.color_space,
            # how a pipeline feeds the exported G: "L" (B,1,H,W) -> ab; "L00" (L, 0, 0) -> ab;
            # "gray3" (gray in 3 channels, [-1, 1]) -> RGB [-1, 1]
            "g_input": self.g_input_kind,
        }
        if r.hints:
            info["hints"] = {"p": r.hint_p, "max_patch": r.hint_max_patch, "sigma": r.hint_sigma,
                             "channels": ["hint_a", "hint_b", "mask"],
                             "cite": "Zhang, Zhu et al. 2017, Real-Time User-Guided Image Colorization"}
        if r.lambda_perceptual > 0:
            info["perceptual_features"] = (self.features.description if self.features is not None
                                           else f"{r.features} (not loaded yet)")
        if r.init_g:
            info["init_g"] = r.init_g
        if self.class_head:   # what the Colorizer decodes with: the bins, the default T and correction
            info["head"] = "classes"
            info["classes"] = {**self.colour_classes().to_dict(), "temperature": r.temperature,
                               "correction": r.class_correction, "neighbours": r.class_neighbours}
        if r.select_fraction > 0:
            info["select"] = {"fraction": r.select_fraction, "of": f"{r.data} {r.train_split}",
                              "seed": SELECT_SEED, "excluded_from_training": True,
                              "validation": r.val_split == "select"}
        return info


def _flatten(report: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric entries of a (possibly nested) metrics dict; strings ("unavailable ...") are dropped."""
    flat: dict[str, float] = {}
    for k, v in report.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flatten(v, key + "_"))
        elif isinstance(v, bool):
            continue
        elif isinstance(v, (int, float)):
            flat[key] = float(v)
        elif isinstance(v, torch.Tensor) and v.numel() == 1:
            flat[key] = float(v)
    return flat
