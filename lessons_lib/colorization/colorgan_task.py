"""ColorGAN (seed 001) on the one engine: the colorization task with noise, WGAN-GP and feature losses.

Shafiq & Lee, "ColorGAN: Generative Adversarial Network based Image Colorization", eq. 1:

    L_G = lambda_g L_g + lambda_p L_p + lambda_L1 L_1 + lambda_s L_s,
          {lambda_g, lambda_p, lambda_L1, lambda_s} = {0.1, 100, 10, 1}

* L_g  - the WGAN generator loss -E[D(L, G(L, z))] (Arjovsky et al. 2017); the critic
  minimises E[D(L, G(L, z))] - E[D(L, ab)] + 10 E[(||grad D(x_hat)|| - 1)^2] (WGAN-GP,
  Gulrajani et al. 2017, eq. 3; :func:`lessons_lib.losses.gradient_penalty`);
* L_p  - the perceptual loss, L1 between feature maps of the colorized and the true RGB
  image (:class:`lessons_lib.losses.PerceptualLoss`);
* L_1  - E|ab_pred - ab_true| on ab / 110;
* L_s  - eq. 2, E|| G_f(N(0, 0.1^2)) - VGG(y) ||_1: the conv-processed noise map against
  the features of the true colour image y. The two differ in shape - G_f(z) is
  (B, C_lat, H/16, W/16), the feature map (B, C_f, H_f, W_f) - so the features are
  *projected* without weights (:func:`lessons_lib.models.features.project_features`):
  box-averaged over space to H/16 x W/16 and over groups of channels to C_lat (channels
  repeated when C_f < C_lat). A learned projection could shrink both sides to zero.

Not in the seed, off by default (``lambda_ms = 0``): MSGAN's mode-seeking term (Mao et al.
2019, eq. 3; :mod:`lessons_lib.losses.diversity`),

* L_ms - ``1 / (mean|G(L, z_1) - G(L, z_2)| / mean|z_1 - z_2| + 1e-5)``: G runs twice on the
  batch, with two independent noise draws (one pass over the doubled batch); the first
  colouring is the one every other term sees, the second only enters L_ms. The kit's
  benchmark (benchmarks/RESULTS.md, issue 4) found the seed's recipe ignores z at the
  course's budgets - 100 L_p + 10 L_1 reward one answer per photo - and this term is what
  makes the colourings of different seeds differ.

Everything else - the data, (L, ab) on the device, the PatchGAN critic on the pair
(L, ab), the L1 and WGAN terms, the gradient penalty, the metrics - is
:class:`~lessons_lib.colorization.tasks.ColorizationTask`'s; this class adds the noise,
the two feature terms and a card that says which feature network the run used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .. import LessonsError
from .tasks import ColorizationTask
from ..losses import l1_loss, mode_seeking_loss
from ..losses.diversity import MS_EPS
from ..models.features import project_features

if TYPE_CHECKING:  # pragma: no cover
    from .recipes import ColorGANRecipe

__all__ = ["ColorGANTask"]


class ColorGANTask(ColorizationTask):
    """ColorGAN as a :class:`~lessons_lib.train.task.Task`; built from a ``ColorGANRecipe``."""

    name = "colorgan"
    generator_arch = "colorgan_g"

    def __init__(self, recipe: "ColorGANRecipe") -> None:
        if recipe.color_space != "lab":
            raise LessonsError("ColorGAN works in Lab (G: L -> ab); set color_space='lab'")
        if recipe.lambda_identity > 0:
            raise LessonsError("ColorGAN has no identity loss (its G takes L alone); set lambda_identity=0")
        super().__init__(recipe)
        self.recipe: "ColorGANRecipe" = recipe

    # ------------------------------------------------------------------ building
    def generator_config(self) -> dict[str, Any]:
        r = self.recipe
        cfg: dict[str, Any] = dict(in_channels=1, out_channels=2, base=r.g_base, depth=r.g_depth or 4,
                                   noise_std=r.noise_std, noise_convs=r.noise_convs, norm=r.g_norm,
                                   dropout=r.g_dropout)
        if r.noise_init != "normal":        # older cards lack the key; "normal" is the default
            cfg["noise_init"] = r.noise_init
        if r.noise_channels is not None:
            cfg["noise_channels"] = r.noise_channels
        return cfg

    def discriminator_config(self) -> dict[str, Any]:
        cfg = super().discriminator_config()
        cfg["norm"] = self.recipe.d_norm
        return cfg

    def needs_features(self) -> bool:
        # the feature network is needed only when its terms count (a lesson may switch them off)
        return self.recipe.lambda_perceptual > 0 or self.recipe.lambda_s > 0

    def extra_feature_layers(self) -> tuple[str, ...]:
        return (self.recipe.s_layer,)   # L_s reads the true photo's features at this layer

    # ------------------------------------------------------------------ one step
    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        G = self.nets["G"]
        # the module behind a torch.compile wrapper: compile covers forward() only, and this
        # step needs the method that also returns G_f(z)
        g = getattr(G, "_orig_mod", G)
        cond = data["cond"]
        noise = g.sample_noise(cond)                       # fresh z ~ N(0, 0.1^2) each step (global RNG)
        if self.recipe.lambda_ms <= 0:
            fake, noise_features = g.forward_with_noise_features(cond, noise=noise)
            return {**data, "fake": fake, "noise_features": noise_features}
        # L_ms: a second, independent draw for the same L; both in one pass over 2B images
        noise_2 = g.sample_noise(cond)
        fakes, feats = g.forward_with_noise_features(torch.cat([cond, cond]), noise=torch.cat([noise, noise_2]))
        b = cond.shape[0]
        return {**data, "fake": fakes[:b], "noise_features": feats[:b], "noise": noise,
                "fake_2": fakes[b:], "noise_2": noise_2}

    def loss(self, phase: str, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        # D: the critic's WGAN loss + gradient penalty; G: 0.1 L_g + 10 L_1 - all the parent's
        out = super().loss(phase, state, step)
        if phase != "G":
            return out
        r = self.recipe
        total = out["loss"]                  # the parent added lambda_perceptual * L_p already
        parts: dict[str, torch.Tensor] = {}
        if self.features is not None and r.lambda_s > 0:
            n = state["noise_features"]                                             # (B, C_lat, h, w)
            target_s = project_features(self.true_features(state)[r.s_layer], n.shape[1], tuple(n.shape[-2:]))
            ls = l1_loss(n, target_s)
            total = total + r.lambda_s * ls
            parts["s"] = ls.detach()
        if r.lambda_ms > 0:
            lms = mode_seeking_loss(state["fake"], state["fake_2"], state["noise"], state["noise_2"],
                                    pool=r.ms_pool)
            total = total + r.lambda_ms * lms
            parts["ms_ratio"] = (1.0 / lms - MS_EPS).detach()  # logged: ab/110 moved per unit of z
        return {**out, "loss": total, **parts}

    # ------------------------------------------------------------------ outputs
    def sample(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """Rows: the gray input, the colourings of seeds 0, 1 and 2, the ground truth:
        (5, N, 3, H, W) - one look shows both quality and diversity."""
        cond, target = data["cond"], data["target"]
        G = self.nets["G"]
        rows = [self.to_rgb(cond, torch.zeros_like(target))]
        rows += [self.to_rgb(cond, G(cond, seed=s)) for s in (0, 1, 2)]
        rows.append(self.to_rgb(cond, target))
        return torch.stack(rows)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        r = self.recipe
        info.update(
            task="colorization",
            model="colorgan",
            # the pipeline calls G(x, generator=g): one seed, one colouring (pipeline.Colorizer)
            g_noise=True,
            noise={"std": r.noise_std, "channels": getattr(self.nets.get("G"), "noise_channels", r.noise_channels)},
            losses={"lambda_gan (WGAN)": r.lambda_gan, "lambda_perceptual": r.lambda_perceptual,
                    "lambda_l1": r.lambda_l1, "lambda_s": r.lambda_s, "lambda_gp": r.lambda_gp,
                    "lambda_ms (mode seeking, not in the seed)": r.lambda_ms, "ms_pool": r.ms_pool},
            perceptual_features=(self.features.description if self.features is not None
                                 else "none (lambda_perceptual = lambda_s = 0)"),
        )
        return info

