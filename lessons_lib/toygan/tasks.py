"""The two unconditional GANs of lesson 01 as engine tasks: a toy 2-D GAN and DCGAN.

Both optimise the GAN game of Goodfellow et al. (2014), eq. 1,

    min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],

with the non-saturating generator loss -E_z[log D(G(z))] (their sec. 3) by default, or
any loss of :func:`lessons_lib.losses.gan_loss`; the engine alternates a D step and a G
step (their Algorithm 1, k = ``d_steps``).

* :class:`ToyGANTask` - MLPs on a ring of Gaussians (:func:`lessons_lib.models.gan.gaussian_mixture`),
  the classic picture of mode collapse (Metz et al. 2017; Srivastava et al. 2017).
* :class:`DCGANTask` - Radford et al. (2016) on 32x32 images of any image source.

Both take lesson 11's remedies as recipe options (see :class:`GANOptions`): the
saturating minimax G loss (to reproduce "D wins"), one-sided label smoothing, instance
noise, TTUR (``lr_d``), spectral norm in D; and both log ``G_grad``, the mean norm of the
gradient of G's adversarial loss with respect to each generated sample - the signal that
vanishes when D wins against the saturating loss.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import torch
from torch.utils.data import Dataset, Subset

from ..train.task import Task
from ..data import ColorizationDataset, open_source
from ..losses import gan_loss
from ..losses.diversity import mode_seeking_loss
from ..models import build_model
from ..models.gan import gaussian_mixture, gaussian_mixture_centers
from ..train.config import recipe_to_dict

if TYPE_CHECKING:  # pragma: no cover
    from .recipes import DCGANRecipe, ToyGANRecipe

__all__ = ["ToyGANTask", "DCGANTask", "GANOptions", "PointDataset", "render_points", "mode_metrics"]


class PointDataset(Dataset):
    """A fixed tensor of 2-D points, one point (2,) per item."""

    def __init__(self, points: torch.Tensor) -> None:
        self.points = points

    def __len__(self) -> int:
        return self.points.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.points[i]


def render_points(real: torch.Tensor, fake: torch.Tensor, size: int = 128, extent: float = 3.0) -> torch.Tensor:
    """Draw two point clouds into one RGB image (1, 3, size, size) in [0, 1]: real points
    blue, generated points orange, on white, over [-extent, extent]^2 (y up).

    A scatter plot without matplotlib: each point adds to its pixel of a 2-D histogram."""

    def hist(p: torch.Tensor) -> torch.Tensor:
        p = p.detach().float().cpu()
        ij = ((p + extent) / (2 * extent) * size).floor().long()
        keep = ((ij >= 0) & (ij < size)).all(dim=1)
        ij = ij[keep]
        h = torch.zeros(size * size)
        h.index_add_(0, (size - 1 - ij[:, 1]) * size + ij[:, 0], torch.ones(len(ij)))
        return (h.view(size, size) > 0).float()

    img = torch.ones(3, size, size)
    for cloud, colour in ((real, (0.12, 0.47, 0.71)), (fake, (1.0, 0.5, 0.05))):
        mask = hist(cloud)
        for c in range(3):
            img[c] = img[c] * (1 - mask) + colour[c] * mask
    return img[None]


def mode_metrics(fake: torch.Tensor, centers: torch.Tensor, std: float) -> dict[str, float]:
    """Mode coverage of generated points on a Gaussian mixture (Srivastava et al. 2017,
    VEEGAN, sec. 5.1; Metz et al. 2017): a sample is *high quality* when it lies within
    3 standard deviations of its nearest centre; a mode is *covered* when it holds at least
    a quarter of its fair share (n / modes) of the high-quality samples.
    """
    d = torch.cdist(fake.float().cpu(), centers.float().cpu())  # (n, modes)
    dist, nearest = d.min(dim=1)
    hq = dist <= 3 * std
    counts = torch.bincount(nearest[hq], minlength=centers.shape[0])
    fair = fake.shape[0] / centers.shape[0]
    return {
        "modes_covered": float((counts >= 0.25 * fair).sum()),
        "high_quality": float(hq.float().mean()),
        "mean_distance": float(dist.mean()),
    }


class GANOptions:
    """The parts of the toy and DCGAN tasks that lesson 11's options change."""

    recipe: Any
    nets: dict
    device: torch.device

    def _gan_and_opts(self) -> None:
        r = self.recipe
        kw = {"real_label": r.real_label} if r.real_label != 1.0 else {}
        self.gan = gan_loss(r.gan_loss, **kw)
        # beta1 = 0.5: Radford et al. 2016; lr_d: TTUR (Heusel et al. 2017), D's own lr
        lrs = {"G": r.lr, "D": r.lr_d if r.lr_d is not None else r.lr}
        self.opts = {k: torch.optim.Adam(n.parameters(), lr=lrs[k], betas=(r.beta1, 0.999))
                     for k, n in self.nets.items()}

    def noise_std(self, step: int) -> float:
        """The instance-noise std at ``step``: ``instance_noise``, annealed linearly to 0
        over ``instance_noise_steps`` when given (Sonderby et al. 2017)."""
        r = self.recipe
        if r.instance_noise <= 0:
            return 0.0
        if r.instance_noise_steps:
            return r.instance_noise * max(0.0, 1.0 - step / r.instance_noise_steps)
        return r.instance_noise

    def _d_input(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """What D sees: x, plus N(0, std^2) instance noise when on (on real AND fake inputs,
        so that the two distributions overlap and D's optimum stays smooth)."""
        std = self.noise_std(step)
        return x + std * torch.randn_like(x) if std > 0 else x

    def _gan_loss(self, phase: str, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        D = self.nets["D"]
        see = lambda x: self._d_input(x, step)  # noqa: E731  (instance noise on what D sees)
        if phase == "D":
            out = self.gan.d_step(D, state["real"], state["fake"], see)
            if self.recipe.instance_noise > 0:
                out["noise"] = torch.tensor(self.noise_std(step))
            return out
        fake = state["fake"]
        adv = self.gan.g_step(D, fake, see)
        out = {"loss": adv}
        if fake.requires_grad:
            # |d l_i / d G(z_i)| per sample (the mean loss carries 1/B): the gradient G gets
            (grad,) = torch.autograd.grad(adv, fake, retain_graph=True)
            out["grad"] = (grad.detach().float().flatten(1).norm(dim=1) * grad.shape[0]).mean()
        lam = getattr(self.recipe, "lambda_ms", 0.0)
        if lam > 0:
            ms = mode_seeking_loss(fake, state["fake2"], state["z"], state["z2"])
            out["loss"] = adv + lam * ms
            out["ms"] = ms.detach()
        return out


class ToyGANTask(GANOptions, Task):
    """A toy GAN with MLP G and D learning a ring of 2-D Gaussians (lesson 01)."""

    name = "gan_toy"

    def __init__(self, recipe: "ToyGANRecipe") -> None:
        super().__init__()
        self.recipe = recipe
        self.name = recipe.name

    def setup(self, device: torch.device) -> None:
        r = self.recipe
        sn = {"spectral_norm": True} if r.d_spectral_norm else {}
        self.nets = {
            "G": build_model("toy_gan_g", z_dim=r.z_dim, hidden=r.hidden, layers=r.layers).to(device),
            "D": build_model("toy_gan_d", hidden=r.hidden, layers=r.layers, **sn).to(device),
        }
        self._gan_and_opts()

    def _points(self, n: int, seed: int) -> torch.Tensor:
        r = self.recipe
        return gaussian_mixture(n, modes=r.modes, radius=r.radius, std=r.std, seed=seed)

    def dataset(self, split: str, train: bool) -> Dataset | None:
        r = self.recipe
        # a fixed sample of the mixture per split; different seeds for train and val
        return PointDataset(self._points(r.n_points if split == "train" else r.n_val, r.data_seed + (split != "train")))

    def prepare(self, batch: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        real = batch.float().to(device)
        z = torch.randn(real.shape[0], self.recipe.z_dim).to(device)  # z ~ N(0, I)
        data = {"real": real, "z": z}
        if self.recipe.lambda_ms > 0:  # a second draw for the mode-seeking term
            data["z2"] = torch.randn(real.shape[0], self.recipe.z_dim).to(device)
        return data

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {**data, "fake": self.nets["G"](data["z"])}  # (B, 2)
        if "z2" in data:
            out["fake2"] = self.nets["G"](data["z2"])
        return out

    def loss(self, phase: str, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        return self._gan_loss(phase, state, step)

    def sample(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """A scatter image of 1,000 real (blue) and 1,000 generated (orange) points."""
        real = self._points(1000, self.recipe.data_seed + 7)
        z = torch.randn(1000, self.recipe.z_dim).to(self.device)
        return render_points(real, self.nets["G"](z), extent=self.recipe.radius * 1.5)

    def evaluate(self, batches: Iterable[torch.Tensor]) -> dict[str, float]:
        r = self.recipe
        n = sum(b.shape[0] for b in batches)
        z = torch.randn(n, r.z_dim).to(self.device)
        return mode_metrics(self.nets["G"](z), gaussian_mixture_centers(r.modes, r.radius), r.std)

    def describe(self) -> dict[str, Any]:
        return {"task": "gan_toy", "recipe": self.recipe.name, "recipe_config": recipe_to_dict(self.recipe),
                "data": f"gaussian_mixture(modes={self.recipe.modes})"}


class DCGANTask(GANOptions, Task):
    """DCGAN (Radford et al. 2016) on ``size`` x ``size`` images of an image source (lesson 01)."""

    name = "dcgan"

    def __init__(self, recipe: "DCGANRecipe") -> None:
        super().__init__()
        self.recipe = recipe
        self.name = recipe.name
        self._train: dict[bool, Dataset] = {}

    def setup(self, device: torch.device) -> None:
        r = self.recipe
        up = {"upsample": r.g_upsample} if r.g_upsample != "transpose" else {}
        sn = {"spectral_norm": True} if r.d_spectral_norm else {}
        self.nets = {
            "G": build_model("dcgan_g", z_dim=r.z_dim, width=r.width, image_size=r.size, **up).to(device),
            "D": build_model("dcgan_d", width=r.width, image_size=r.size, **sn).to(device),
        }
        # DCGAN's own settings (sec. 4): Adam lr 2e-4, beta1 0.5
        self._gan_and_opts()

    def dataset(self, split: str, train: bool) -> Dataset | None:
        if split != "train":
            return None  # an unconditional GAN has nothing to validate against here
        if train not in self._train:
            ds: Dataset = ColorizationDataset(open_source(self.recipe.data, "train"), self.recipe.size, train=train)
            if self.recipe.limit is not None and self.recipe.limit < len(ds):
                ds = Subset(ds, range(self.recipe.limit))
            self._train[train] = ds
        return self._train[train]

    def prepare(self, batch: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        real = batch.to(device).float() / 127.5 - 1.0                      # uint8 -> [-1, 1] like tanh
        z = torch.randn(real.shape[0], self.recipe.z_dim).to(device)       # z ~ N(0, I)
        return {"real": real, "z": z}

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**data, "fake": self.nets["G"](data["z"])}  # (B, 3, S, S)

    def loss(self, phase: str, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        return self._gan_loss(phase, state, step)

    def sample(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """Generated images from the fixed noise of the sample batch, in [0, 1]."""
        return ((self.nets["G"](data["z"]).float() + 1) / 2).clamp(0, 1)

    def describe(self) -> dict[str, Any]:
        return {"task": "dcgan", "recipe": self.recipe.name, "recipe_config": recipe_to_dict(self.recipe),
                "data": self.recipe.data, "size": self.recipe.size}
