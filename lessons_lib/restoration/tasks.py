"""The restorer's four stages on the one engine: :class:`NAFNetTask`, :class:`StyleGAN2Task`,
:class:`InversionTask` and :class:`FusionTask` (seed 004; the overview is in
:mod:`lessons_lib.restorer`, the recipes in :mod:`lessons_lib.restoration.recipes`).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from .. import LessonsError
from ..models import build_model
from ..train.config import recipe_to_dict
from ..train.runstate import load_checkpoint
from ..train.task import Task
from .bundle import load_stage
from .evaluation import feature_net, mean_scores
from .blurred_faces import FaceCrops, blur_batch
from ..data import open_source
from ..losses import contextual_loss, gan_loss, l1_loss, r1_penalty
from ..losses.perceptual import PerceptualLoss
from ..metrics import perceptual_distance
from ..models.inversion import InversionEncoder

if TYPE_CHECKING:  # pragma: no cover - the recipes import these tasks (recipe.Task)
    from .recipes import FaceRecipe

__all__ = ["NAFNetTask", "StyleGAN2Task", "InversionTask", "FusionTask"]


def _limited_faces(r: "FaceRecipe", split: str, train: bool, n_kernels: int, eval_seed: int = 0) -> Dataset | None:
    limit = r.limit if split == r.train_split else r.val_limit
    if split != r.train_split:
        try:
            open_source(r.data, split)
        except LessonsError as e:
            warnings.warn(f"no validation data: {e}; training without validation metrics", stacklevel=3)
            return None
    return FaceCrops(r.data, r.size, split, train, flip=r.flip, n_kernels=n_kernels, eval_seed=eval_seed, limit=limit)


# =========================================================================== shared task code
class _RestorationTask(Task):
    """What the four stages share: face data, blurred pairs, sample grids, the model card."""

    stage = ""

    def __init__(self, recipe: "FaceRecipe") -> None:
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

        scores = mean_scores(scored(), self.features)
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

        self.features = feature_net(self.recipe.perceptual_net, self.device)
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
        r = self.recipe
        d: dict[str, Any] = {"task": "restoration", "stage": self.stage, "recipe": r.name,
                             "recipe_config": recipe_to_dict(r), "data": r.data, "size": r.size}
        if hasattr(r, "n_kernels"):   # a BlurRecipe: the stage trains on blurred/sharp pairs
            d["kernel_bank"] = r.bank_params()
        if self.features is not None:
            d["perceptual_features"] = self.features.description
        if self.sources:
            d["sources"] = self.sources
        return d


def _adam(params, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=betas)


def _to_d_range(images: torch.Tensor) -> torch.Tensor:
    """What the StyleGAN2 discriminator is shown: images in [0, 1] mapped to its [-1, 1]."""
    return images * 2 - 1


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
            return self.gan.d_step(D, state["real"], state["fake"])
        if phase == "G":
            self._batch += state["fake"].shape[0]   # images G learns from this step: the EMA's clock
            return {"loss": self.gan.g_step(D, state["fake"])}
        raise LessonsError(f"the stylegan2 task has no phase {phase!r}")

    def regularize(self, phase: str, state: dict[str, torch.Tensor], step: int) -> torch.Tensor | None:
        if phase != "D" or self.recipe.r1_gamma <= 0:
            return None
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
        r = self.recipe
        D = self.nets["D"]
        x_G, sharp = state["x_G"], state["sharp"]
        if phase == "D":
            return self.gan.d_step(D, sharp, x_G, see=_to_d_range)
        if phase == "G":
            l1 = l1_loss(x_G, sharp)
            loss = r.lambda_l1 * l1
            out = {"l1": l1.detach()}
            if self.perceptual is not None:
                per = self.perceptual(x_G, sharp)
                loss = loss + r.lambda_perceptual * per
                out["perceptual"] = per.detach()
            if r.lambda_adv > 0:
                adv = self.gan.g_step(D, x_G, see=_to_d_range)
                loss = loss + r.lambda_adv * adv
                out["adv"] = adv.detach()
            return {"loss": loss, **out}
        raise LessonsError(f"the inversion task has no phase {phase!r}")

    def regularize(self, phase: str, state: dict[str, torch.Tensor], step: int) -> torch.Tensor | None:
        if phase != "D" or self.recipe.r1_gamma <= 0:
            return None
        x = _to_d_range(state["sharp"]).detach().requires_grad_(True)
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

