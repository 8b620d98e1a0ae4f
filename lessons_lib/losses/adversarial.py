"""Adversarial losses: vanilla (non-saturating), LSGAN, WGAN, hinge; gradient penalty and R1.

Every loss takes *logits* - the raw output of a discriminator, before any sigmoid - of any
shape: one per image (B, 1) or a PatchGAN map (B, 1, H', W'). The expectations E[.] below
are means over every element, i.e. over images and patches alike. Losses are computed in
float32 even when the logits come from a bf16 autocast region.

Notation: D(x) is the logit on a real sample, D(G(z)) the logit on a generated one;
sigma is the logistic sigmoid and softplus(t) = log(1 + e^t), so that
-log sigma(t) = softplus(-t) and -log(1 - sigma(t)) = softplus(t).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["GANLoss", "gan_loss", "GAN_LOSSES", "gradient_penalty", "r1_penalty"]

# Canonical names and their aliases ("logistic" and "non-saturating" ARE the vanilla loss).
GAN_LOSSES = ("vanilla", "lsgan", "wgan", "hinge")
_ALIASES = {
    "vanilla": "vanilla", "gan": "vanilla", "bce": "vanilla", "logistic": "vanilla",
    "nonsaturating": "vanilla", "non_saturating": "vanilla", "non-saturating": "vanilla", "ns": "vanilla",
    "lsgan": "lsgan", "ls": "lsgan", "least_squares": "lsgan",
    "wgan": "wgan", "wgan-gp": "wgan", "wgan_gp": "wgan", "wasserstein": "wgan",
    "hinge": "hinge",
    # the minimax generator loss of Goodfellow et al. eq. 1 (lesson 11's "D wins")
    "saturating": "vanilla", "minimax": "vanilla",
}
_SATURATING = ("saturating", "minimax")


def _canonical_mode(name: str) -> str:
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _ALIASES:
        from .. import LessonsError

        raise LessonsError(
            f"unknown GAN loss {name!r}; known: {', '.join(GAN_LOSSES)} "
            "(aliases: logistic / non-saturating = vanilla, wgan-gp = wgan)"
        )
    return _ALIASES[key]


def _as_logits(t: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of discriminator logits, got {type(t).__name__}")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}): the discriminator produced no logits")
    return t.float()


class GANLoss:
    """The adversarial objective as two functions: ``d_loss(real, fake)`` and ``g_loss(fake)``.

    Modes (D minimises d_loss, G minimises g_loss):

    ``"vanilla"`` - Goodfellow et al. (2014), eq. 1, with the non-saturating G loss of their
    sec. 3 (also called "logistic", StyleGAN2's choice). D is a binary classifier trained
    with BCE-with-logits:

        L_D = -E[log sigma(D(x))] - E[log(1 - sigma(D(G(z))))] = E[softplus(-D(x))] + E[softplus(D(G(z)))]
        L_G = -E[log sigma(D(G(z)))]                           = E[softplus(-D(G(z)))]

    (the minimax G loss E[log(1 - sigma(D(G(z))))] saturates when D wins early on; this
    one has the same fixed point and strong gradients exactly then.)

    ``"lsgan"`` - Mao et al. (2017), eq. 2; seed 000 eqs. (1)-(2):

        L_D = 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]
        L_G = 1/2 E[(D(G(z)) - c)^2]

    a = fake label, b = real label, c = the value G wants D to believe; seed 000 and Mao's
    recommended "0-1 coding" use a = 0, b = 1, c = 1 (the defaults). Least squares penalise
    samples far from the decision boundary even when they are on the correct side.

    ``"wgan"`` - Arjovsky et al. (2017); a critic with no sigmoid estimating the
    Wasserstein-1 distance. Needs a Lipschitz constraint: add :func:`gradient_penalty`
    (WGAN-GP, Gulrajani et al. 2017).

        L_D = E[D(G(z))] - E[D(x)]        L_G = -E[D(G(z))]

    ``"hinge"`` - Lim & Ye (2017) and Miyato et al. (2018, SN-GAN):

        L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]        L_G = -E[D(G(z))]

    Two options of the vanilla loss (lesson 11, "when GAN training fails"):

    ``saturating=True`` (or mode ``"saturating"`` / ``"minimax"``) - G minimises the
    minimax term itself, ``L_G = E[log(1 - sigma(D(G(z))))] = -E[softplus(D(G(z)))]``. Its
    gradient with respect to the logit is ``-sigma(D(G(z)))``: it vanishes exactly when D
    rejects G's samples confidently (logit -> -inf), i.e. early in training - Goodfellow
    et al.'s reason for the non-saturating loss.

    ``real_label`` (default 1) - one-sided label smoothing (Salimans et al. 2016, sec. 3.4):
    D's target on real samples is ``real_label`` (0.9) instead of 1, fake targets stay 0:

        L_D = E[real_label * softplus(-D(x)) + (1 - real_label) * softplus(D(x))] + E[softplus(D(G(z)))]

    so D's best logit on a real sample is log(0.9 / 0.1) = 2.2 rather than +inf; D cannot
    grow over-confident. (For LSGAN the real target is ``b``.)

    Schedules such as pix2pix's "divide the D loss by 2" belong to the training engine;
    these are the plain objectives.
    """

    def __init__(self, mode: str = "vanilla", a: float | None = None, b: float | None = None,
                 c: float | None = None, saturating: bool = False, real_label: float = 1.0) -> None:
        key = mode.strip().lower() if isinstance(mode, str) else mode
        self.mode = _canonical_mode(mode)
        self.saturating = bool(saturating) or key in _SATURATING
        self.real_label = float(real_label)
        if self.mode != "lsgan" and any(v is not None for v in (a, b, c)):
            raise ValueError(f"the targets a, b, c belong to the 'lsgan' loss; the {self.mode!r} loss has none")
        if self.mode != "vanilla" and (self.saturating or self.real_label != 1.0):
            raise ValueError(f"saturating and real_label are options of the 'vanilla' loss, not of {self.mode!r}"
                             + (" (LSGAN's real target is b)" if self.mode == "lsgan" else ""))
        if not 0.0 < self.real_label <= 1.0:
            raise ValueError(f"real_label must be in (0, 1] (0.9 = one-sided label smoothing), got {real_label}")
        # LSGAN targets: a = fake label, b = real label, c = G's target (seed 000: 0, 1, 1).
        self.a = 0.0 if a is None else float(a)
        self.b = 1.0 if b is None else float(b)
        self.c = 1.0 if c is None else float(c)

    def __repr__(self) -> str:
        extra = f", a={self.a}, b={self.b}, c={self.c}" if self.mode == "lsgan" else ""
        extra += ", saturating=True" if self.saturating else ""
        extra += f", real_label={self.real_label}" if self.real_label != 1.0 else ""
        return f"GANLoss(mode={self.mode!r}{extra})"

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """The discriminator's (critic's) loss on logits of real and generated samples."""
        r = _as_logits(real_logits, "real_logits")
        f = _as_logits(fake_logits, "fake_logits")
        if self.mode == "vanilla":
            # BCE with logits against 1 (real) and 0 (fake) = softplus(-D(x)) + softplus(D(G(z))).
            if self.real_label != 1.0:  # one-sided label smoothing: BCE against real_label on reals
                real = self.real_label * F.softplus(-r) + (1.0 - self.real_label) * F.softplus(r)
                return real.mean() + F.softplus(f).mean()
            return F.softplus(-r).mean() + F.softplus(f).mean()
        if self.mode == "lsgan":
            return 0.5 * ((r - self.b) ** 2).mean() + 0.5 * ((f - self.a) ** 2).mean()
        if self.mode == "wgan":
            return f.mean() - r.mean()
        return F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()  # hinge

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """The generator's adversarial loss on the logits D gives its samples."""
        f = _as_logits(fake_logits, "fake_logits")
        if self.mode == "vanilla":
            if self.saturating:
                return -F.softplus(f).mean()  # minimax: log(1 - sigma(D(G(z))))
            return F.softplus(-f).mean()  # non-saturating: -log sigma(D(G(z)))
        if self.mode == "lsgan":
            return 0.5 * ((f - self.c) ** 2).mean()
        return -f.mean()  # wgan and hinge

    # ---------------------------------------------------------------- one step of each side
    def d_step(self, D: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
               see: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """D's side of a step, the one copy every task uses: ``D`` judges ``real`` and the
        detached ``fake`` (the D step must not reach G), through ``see`` when given (what D is
        shown, e.g. instance noise). Returns ``{"loss": d_loss, "real": mean logit on real,
        "fake": mean logit on fake}`` (the two means detached, for the log)."""
        see = see or (lambda x: x)
        d_real, d_fake = D(see(real)), D(see(fake.detach()))
        return {"loss": self.d_loss(d_real, d_fake),
                "real": d_real.detach().float().mean(), "fake": d_fake.detach().float().mean()}

    def g_step(self, D: Callable[[torch.Tensor], torch.Tensor], fake: torch.Tensor,
               see: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """G's adversarial term of a step: ``g_loss(D(see(fake)))``, the gradient flowing
        through D into G (D's own parameters are frozen by the engine in the G phase)."""
        see = see or (lambda x: x)
        return self.g_loss(D(see(fake)))


def gan_loss(name: str, **kw) -> GANLoss:
    """Factory by name: ``gan_loss("lsgan", a=0, b=1, c=1)``, ``gan_loss("vanilla", real_label=0.9)``,
    ``gan_loss("saturating")``; unknown names list the known ones."""
    unknown = sorted(set(kw) - {"a", "b", "c", "saturating", "real_label"})
    if unknown:
        from .. import LessonsError

        raise LessonsError(
            f"gan_loss({name!r}) got unknown option(s) {', '.join(unknown)}; the only options are "
            "a, b, c (the LSGAN targets), saturating and real_label (vanilla)"
        )
    return GANLoss(name, **kw)


def _grad_of(outputs: torch.Tensor, inputs: torch.Tensor, what: str) -> torch.Tensor:
    """d(sum outputs)/d inputs with a graph kept, so the penalty itself can be back-propagated."""
    if not inputs.requires_grad:
        raise ValueError(
            f"{what}: the inputs do not require grad; call inputs.requires_grad_(True) BEFORE "
            "running the discriminator on them"
        )
    if not outputs.requires_grad:
        raise ValueError(f"{what}: the logits carry no graph back to the inputs (computed under no_grad?)")
    (grad,) = torch.autograd.grad(outputs.float().sum(), inputs, create_graph=True)
    return grad


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    lambda_gp: float = 10.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP gradient penalty (Gulrajani et al. 2017, algorithm 1, eq. 3).

        x_hat = eps * x + (1 - eps) * G(z),   eps ~ U[0, 1] per sample
        GP    = lambda * E[(||grad_x_hat D(x_hat)||_2 - 1)^2]

    A 1-Lipschitz critic has gradient norm at most 1; penalising the norm's distance from 1
    on points between the real and fake distributions (where the optimal critic's gradient
    has norm 1) enforces it softly. lambda = 10 is the paper's value for every experiment.

    Args:
        critic: any callable on the interpolated tensor; for a conditional critic pass a
            closure, e.g. ``lambda y: D(pair(cond, y))``, and interpolate only the outputs.
            For a patch critic the gradient of the *sum* of its logits is penalised.
        real, fake: same shape (B, ...); ``fake`` is detached (the penalty trains D only).
        generator: optional ``torch.Generator`` for eps (reproducible tests).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have the same shape")
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=generator, dtype=torch.float32).to(device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    grad = _grad_of(critic(x_hat), x_hat, "gradient_penalty")
    norm = grad.float().flatten(1).norm(2, dim=1)  # ||grad||_2 per sample
    return lambda_gp * ((norm - 1.0) ** 2).mean()


def r1_penalty(real_logits: torch.Tensor, real_inputs: torch.Tensor, gamma: float = 10.0) -> torch.Tensor:
    """R1 regulariser (Mescheder et al. 2018, "Which training methods for GANs actually
    converge?", eq. 9): penalise D's gradient on real data only.

        R1 = gamma / 2 * E_x[ ||grad_x D(x)||_2^2 ]

    Usage: ``x = real.detach().requires_grad_(True); logits = D(x); loss = r1_penalty(logits, x)``.
    StyleGAN2 (Karras et al. 2020, sec. 3.1, "lazy regularization") uses gamma = 10 and
    evaluates R1 only every 16 D steps, multiplying it by 16 to keep its weight; that
    schedule is the caller's business. For a patch D the gradient of the sum of its logits
    is used.
    """
    grad = _grad_of(real_logits, real_inputs, "r1_penalty")
    return 0.5 * gamma * grad.float().flatten(1).pow(2).sum(dim=1).mean()
