"""The colorizer: any photo in, the same photo in colour out (see :mod:`lessons_lib.pipeline`)."""
from __future__ import annotations

import os
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from .. import LessonsError
from ..color.gamut import BAND_PIXELS, lab_to_rgb_keep_lightness, recombine
from ..inference import MAX_PIXELS, REDUCING_GAP, Pipeline
from .inputs import G_INPUTS, generator_input, generator_input_kind
from ..color import AB_SCALE, L_SCALE, normalize_lab, rgb_to_lab, rgb_uint8_to_lab
from ..color.classes import ColourClasses, check_correction, decode_classes
from .confine import Confinement, confine_hints
from ..data import image_to_tensor
from ..data.hints import HintPoints, check_hints, downsample_hints, paint_hints
from ..metrics import mean_pairwise_distance, psnr

__all__ = ["Colorizer", "MAX_CHROMA", "HINT_SIZE", "check_temperature"]


def check_temperature(t: Any) -> float:
    """A colour-class model's decoding temperature as a float > 0, or a clear error."""
    try:
        t = float(t)
    except (TypeError, ValueError):
        raise LessonsError(f"the temperature must be a number > 0 (1 = the mean colour, 0.38 = Zhang et al.'s, "
                           f"near 0 = the most likely colour), got {t!r}") from None
    if not (t > 0 and t == t and t != float("inf")):
        raise LessonsError(f"the temperature must be > 0 (1 = the mean colour, 0.38 = Zhang et al.'s, "
                           f"near 0 = the most likely colour), got {t:g}")
    return t


# =========================================================================== Colorizer
#: The largest chroma gain a Colorizer accepts (beyond it most colours leave the gamut).
MAX_CHROMA = 3.0
#: The side (model pixels) of the square a user's hint becomes (the training patches were 1-9 px)
HINT_SIZE = 3


class Colorizer(Pipeline):
    """A trained colorizer as a function: ``Colorizer(weights)(image) -> PIL.Image``.

    Args:
        weights: a run folder (holding ``model.safetensors`` and ``model.json``, what
            ``lessons train`` writes), a ``.safetensors`` file or its ``.json`` card.
        device: ``"auto"`` (cuda, then mps, then cpu), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        max_pixels: larger images are refused (memory: see the module docstring).
        band_pixels: band size of the full-resolution recombination.
        hint_size: the side, in model pixels, of the square a user's hint becomes (a hint
            model only; its training patches were 1-9 px).
        chroma: a gain on the predicted ab (1 = the model's own colours, 0 = gray, 1.3 = 30 %
            more saturated). A colorizer trained with L1 paints timid colours (the median of
            the plausible ones); the gain buys colourfulness for fidelity, measured by
            ``benchmarks/colour_frontier.py``. The hue is unchanged; out-of-gamut colours are
            brought back keeping the lightness, as always.
        temperature: a colour-class model only (card ``"head": "classes"``; Zhang, Isola &
            Efros 2016): the annealed mean's T, > 0. 1 = the mean of the predicted colour
            distribution (the best PSNR, pale), towards 0 its mode (vivid, spotty); None =
            the T its card chose on the select set. Given for another model, it is refused.
        confine: a hint model only: keep each hint on its object by an edge-aware
            confinement of what the hints change (:mod:`lessons_lib.colorization.confine`):
            True / a dict of ``sigma``, ``beta``, ``pull`` / False; "card" (the default) = the
            card's ``"confine"`` (the shipped hint model's is on).
        correction: a colour-class model's prior correction in [0, 1], the share of the class
            rebalancing undone before decoding (0 = the head as trained, 1 = undone: paler,
            better PSNR); None = the card's (chosen with T on the select set).

    Attributes (read lazily from the model card): :attr:`card`, :attr:`size` (the training
    size S), :attr:`color_space` (``"lab"`` or ``"rgb"``), :attr:`g_input` (how the
    generator is fed), :attr:`has_noise`.
    """

    task = "colorization"
    verb = "colorized"

    def __init__(self, weights: str | os.PathLike, device: str | torch.device = "auto", *,
                 max_pixels: int = MAX_PIXELS, band_pixels: int = BAND_PIXELS, chroma: float = 1.0,
                 hint_size: int = HINT_SIZE, temperature: float | None = None,
                 correction: float | None = None, confine: Any = "card") -> None:
        super().__init__(weights, device, max_pixels=max_pixels)
        self.temperature = None if temperature is None else check_temperature(temperature)
        self._confine = confine
        if confine not in (None, "card"):   # checked here, so a bad value fails before any photo
            Confinement.from_value(confine)
        # checked here, so a bad value fails before any photo
        self._correction = None if correction is None else check_correction(correction)
        self._classes: ColourClasses | None = None
        if not isinstance(hint_size, int) or not 1 <= hint_size <= 16:
            raise LessonsError(f"hint_size is the side of a hint's square in model pixels, 1-16, got {hint_size!r}")
        self.hint_size = hint_size
        if band_pixels < 1:
            raise ValueError(f"band_pixels must be >= 1, got {band_pixels}")
        self.band_pixels = int(band_pixels)
        try:
            chroma = float(chroma)
        except (TypeError, ValueError):
            raise LessonsError(f"chroma must be a number (1 = the model's colours), got {chroma!r}") from None
        if not 0.0 <= chroma <= MAX_CHROMA:
            raise LessonsError(f"chroma must be between 0 (gray) and {MAX_CHROMA:g}, got {chroma:g}; "
                               "1 keeps the model's colours, 1.2-1.5 makes them more vivid")
        self.chroma = chroma

    # ------------------------------------------------------------------ card facts
    @property
    def size(self) -> int:
        """The model's training size S: every image is resized to S x S for the network."""
        size = self.card.get("size")
        if not isinstance(size, int) or size < 1:
            raise LessonsError(f"the model card of {self._st_path} has no valid 'size' (the training image size)")
        return size

    @property
    def color_space(self) -> str:
        """``"lab"`` (G predicts ab) or ``"rgb"`` (G predicts RGB, seeds 000 / 003)."""
        cs = self.card.get("color_space")
        if cs not in ("lab", "rgb"):
            raise LessonsError(f"the model card of {self._st_path} has color_space {cs!r}; expected 'lab' or 'rgb'")
        return cs

    @property
    def g_input(self) -> str:
        """How G is fed: ``"L"`` (B,1,S,S), ``"L00"`` ((L, 0, 0), B,3,S,S), ``"gray3"``
        (the gray image in 3 channels, [-1, 1]) or ``"L+hints"`` ((L, hint a, hint b, mask),
        B,4,S,S); from the card, else from the colour space and the generator's input channels."""
        gi = self.card.get("g_input")
        if gi in G_INPUTS:
            return gi
        return generator_input_kind(self.color_space, chroma_input=getattr(self.model, "in_channels", 1) == 3)

    @property
    def takes_hints(self) -> bool:
        """True for a model that reads colour hints (card ``"g_input": "L+hints"``)."""
        return self.g_input == "L+hints"

    def _refuse_hints(self) -> None:
        name = self.card.get("name") or self.card.get("recipe") or str(self.weights)
        raise LessonsError(f"the model {name} takes no colour hints; use the shipped hint model "
                           "(--model hints) or weights trained with the hints recipe (lessons train hints)")

    def hint_map(self, hints: Sequence[Any], image_size: tuple[int, int]) -> torch.Tensor:
        """A user's hints on a photo of ``image_size = (width, height)`` -> the hint channels
        the model reads, ``(1, 3, S, S)`` (hint a, hint b, mask; ab / 110) on :attr:`device`.

        Each hint (``"X,Y,COLOUR"``, ``{"x", "y", "color"}``, ``(x, y, colour)`` or a
        :class:`~lessons_lib.data.hints.Hint`; checked to lie inside the photo) becomes a
        square of :attr:`hint_size` model pixels centred where (x, y) falls at S x S,
        carrying the colour's ab; a later hint over an earlier one wins."""
        hints = check_hints(hints, image_size)
        s, k = self.size, min(self.hint_size, self.size)
        W, H = image_size
        n = len(hints)
        if n == 0:
            return torch.zeros(1, 3, s, s, device=self.device)
        # the centre of pixel (x, y) is (x + 0.5, y + 0.5); at S x S it lies at (x + 0.5) * S / W
        cx = torch.tensor([(h.x + 0.5) * s / W for h in hints], dtype=torch.float64)
        cy = torch.tensor([(h.y + 0.5) * s / H for h in hints], dtype=torch.float64)
        top = lambda c: (c - k / 2.0).round().long().clamp_(0, s - k)  # noqa: E731
        pts = HintPoints(image=torch.zeros(n, dtype=torch.long), y=top(cy), x=top(cx),
                         size=torch.full((n,), k, dtype=torch.long))
        rgb = torch.tensor([h.rgb for h in hints], dtype=torch.uint8).T.reshape(1, 3, n, 1)
        ab = rgb_uint8_to_lab(rgb)[0, 1:, :, 0].T / AB_SCALE                # (n, 2) the colours' ab / 110
        hint_ab, mask = paint_hints(pts, ab.float(), 1, s, s, device=self.device)
        return torch.cat([hint_ab, mask], dim=1)

    @property
    def class_head(self) -> bool:
        """True for a colour-class model (card ``"head": "classes"``): G predicts logits over
        the ab bins of :attr:`classes`, decoded by the annealed mean at a temperature."""
        return self.card.get("head") == "classes"

    @property
    def classes(self) -> ColourClasses:
        """The bins (and prior) of a colour-class model, from its card."""
        if not self.class_head:
            self._refuse_temperature()
        if self._classes is None:
            self._classes = ColourClasses.from_dict(self.card.get("classes") or {})
        return self._classes

    @property
    def confinement(self) -> Confinement | None:
        """A hint model's edge-aware confinement of its hints (:mod:`.confine`): the
        Colorizer's ``confine``, else the card's ``"confine"`` (None: the network's answer as
        it is)."""
        if not self.takes_hints:
            return None
        value = self.card.get("confine") if self._confine == "card" else self._confine
        return Confinement.from_value(value)

    @property
    def correction(self) -> float:
        """A class model's prior correction: the Colorizer's, else the card's (0 = the head as
        trained; :func:`~lessons_lib.color.classes.correct_logits`)."""
        if self._correction is not None:
            return self._correction
        return float((self.card.get("classes") or {}).get("correction", 0.0))

    @property
    def default_temperature(self) -> float | None:
        """The T the card chose (on the select set), None for a model without a class head."""
        if not self.class_head:
            return None
        return check_temperature((self.card.get("classes") or {}).get("temperature", 0.38))

    def _refuse_temperature(self) -> None:
        name = self.card.get("name") or self.card.get("recipe") or str(self.weights)
        raise LessonsError(f"the model {name} regresses ab and has no temperature; a temperature (and a prior "
                           "correction) applies to a colour-class model only (--model classes, or one you train: lessons train classes)")

    def correction_for(self, correction: float | None) -> float | None:
        """The prior correction of one call: the call's, else the Colorizer's, else the card's
        (a class head); one given for another model is refused; None for such a model."""
        if correction is not None:
            c = check_correction(correction)
            if not self.class_head:
                self._refuse_temperature()
            return c
        return self.correction if self.class_head else None

    def temperature_for(self, temperature: float | None) -> float | None:
        """The T of one call: the call's, else the Colorizer's, else the card's (class head);
        a T given to another model is refused."""
        t = temperature if temperature is not None else self.temperature
        if not self.class_head:
            if t is not None or self._correction is not None:
                self._refuse_temperature()
            return None
        return self.default_temperature if t is None else check_temperature(t)

    @property
    def has_noise(self) -> bool:
        """True when the generator takes a noise source (card ``"g_noise": true``)."""
        return bool(self.card.get("g_noise", False))

    # ------------------------------------------------------------------ the network
    def _generator_input(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised L ``(B, 1, S, S)`` (and hint channels ``(B, 3, S, S)`` for a hint model)
        -> what G was trained on (see :attr:`g_input`): the function training uses too."""
        if hints is not None and not self.takes_hints:
            self._refuse_hints()
        return generator_input(self.g_input, L, hints)

    def _generate(self, L_small: torch.Tensor, seed: int | None, hints: torch.Tensor | None = None,
                  temperature: float | None = None, correction: float | None = None) -> torch.Tensor:
        """The colours at the model's size S, as served: :meth:`_run_generator`, and for a hint
        model with a confinement (:attr:`confinement`) the hints' change kept on their objects
        (:func:`~lessons_lib.colorization.confine.confine_hints`, on L at S x S). The one path of
        :meth:`predict_ab` and of colorizing a photo."""
        ab = self._run_generator(L_small, seed, hints, temperature, correction)
        conf = self.confinement if hints is not None else None
        if conf is not None and bool((hints[:, 2] > 0).any()):
            free = self._run_generator(L_small, seed, None, temperature, correction)
            ab = confine_hints(L_small, hints, free, ab, conf)
        return ab

    def _run_generator(self, L_small: torch.Tensor, seed: int | None,
                       hints: torch.Tensor | None = None, temperature: float | None = None,
                       correction: float | None = None) -> torch.Tensor:
        """Normalised L at S x S (and hint channels at S x S) -> normalised ab (B, 2, S, S) (ab / 110);
        a class head's logits are decoded by the annealed mean at ``temperature`` after the prior
        ``correction`` (None: the Colorizer's, else the card's)."""
        t = self.temperature_for(temperature)
        c = self.correction_for(correction)
        x = self._generator_input(L_small, hints)
        with torch.no_grad():
            if self.has_noise:
                g = torch.Generator(device=x.device).manual_seed(0 if seed is None else int(seed))
                out = self.model(x, generator=g)
            else:
                out = self.model(x)
            out = out.float()
        if t is not None:   # (B, Q, s, s) logits -> the annealed mean, ab/110, at S x S
            ab = decode_classes(out, self.classes, t, correction=c, size=L_small.shape[-2:], scale=AB_SCALE)
        elif self.color_space == "lab":
            ab = out                                                          # (B, 2, S, S) ab/110
        else:
            rgb = ((out + 1.0) / 2.0).clamp(0.0, 1.0)                         # (B, 3, S, S) in [0, 1]
            ab = rgb_to_lab(rgb)[:, 1:] / AB_SCALE                            # its ab, /110
        return ab if self.chroma == 1.0 else ab * self.chroma

    def predict_ab(self, L: torch.Tensor, seed: int | None = None, hints: torch.Tensor | None = None,
                   temperature: float | None = None, correction: float | None = None) -> torch.Tensor:
        """Normalised L ``(B, 1, H, W)`` (``L/50 - 1``, what :func:`lessons_lib.data.lab_batch`
        gives) -> normalised ab ``(B, 2, H, W)`` (``ab/110``) at the same size.

        L is resized to the model size S (bilinear, antialiased) when ``H x W != S x S``,
        and the predicted ab are resized back (bilinear). ``hints`` (a hint model only):
        ``(B, 3, h, w)`` = (hint a, hint b, mask), at S x S or at any size, which is brought to
        S x S by :func:`lessons_lib.data.hints.downsample_hints` (a hinted pixel stays hinted).
        ``temperature``, ``correction``: a colour-class model's T and prior correction for this
        call (see the class docstring)."""
        if not isinstance(L, torch.Tensor):
            raise TypeError(f"L must be a torch.Tensor, got {type(L).__name__}")
        if L.dim() != 4 or L.shape[1] != 1:
            raise ValueError(f"L must have shape (B, 1, H, W), got {tuple(L.shape)}")
        if not L.is_floating_point():
            raise ValueError(f"L must be a float tensor (L/50 - 1), got {L.dtype}")
        if L.numel() and float(L.max()) > 1.5:
            raise ValueError("L looks like L* in 0..100; pass the normalised L/50 - 1 "
                             "(lessons_lib.color.normalize_lab or lessons_lib.data.lab_batch)")
        if hints is not None:
            if not self.takes_hints:
                self._refuse_hints()
            if not isinstance(hints, torch.Tensor) or hints.dim() != 4 or hints.shape[1] != 3 \
                    or hints.shape[0] != L.shape[0]:
                got = tuple(hints.shape) if isinstance(hints, torch.Tensor) else type(hints).__name__
                raise ValueError(f"hints must be a tensor (B, 3, h, w) = (hint a, hint b, mask) with L's batch "
                                 f"size {L.shape[0]}, got {got}")
        s = self.size
        L = L.to(self.device, torch.float32)
        h, w = L.shape[-2:]
        small = L if (h, w) == (s, s) else F.interpolate(L, size=(s, s), mode="bilinear",
                                                           align_corners=False, antialias=True)
        if hints is not None:
            hints = downsample_hints(hints.to(self.device, torch.float32), (s, s))
        ab = self._generate(small, seed, hints, temperature, correction)
        if (h, w) != (s, s):
            ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
        return ab

    def colorize_tensor(self, L: torch.Tensor, seed: int | None = None, hints: torch.Tensor | None = None,
                        temperature: float | None = None, correction: float | None = None) -> torch.Tensor:
        """Batched colorization: normalised L ``(B, 1, H, W)`` -> RGB ``(B, 3, H, W)`` in [0, 1].

        The input L is kept (recombined with the predicted ab by
        :func:`lab_to_rgb_keep_lightness`), exactly as :meth:`__call__` does for one photo.
        ``hints`` as in :meth:`predict_ab`.
        """
        return self._recombine_batch(L, self.predict_ab(L, seed, hints, temperature, correction))

    @staticmethod
    def _recombine_batch(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """Normalised L (B, 1, H, W) and normalised ab (B, 2, H, W) -> RGB in [0, 1], L kept."""
        L = L.to(ab.device, torch.float32)
        lab = torch.cat([(L + 1.0) * L_SCALE, ab * AB_SCALE], dim=1)          # (B, 3, H, W) Lab
        return lab_to_rgb_keep_lightness(lab)

    def diversity(self, L: torch.Tensor, truth: torch.Tensor | None = None,
                  seeds: Sequence[int] = range(8)) -> dict[str, Any]:
        """How much the colourings of several seeds differ (seed 001's "diverse colorization",
        measured as in benchmarks/colorgan_compare.py).

        Args:
            L: normalised L ``(B, 1, H, W)``.
            truth: the photos, RGB ``(B, 3, H, W)`` in [0, 1], for each seed's PSNR (optional).
            seeds: at least 2 seeds.
        Returns ``mean_pairwise_ab`` (Lab units: the per-pixel ab distance between two
        colourings, averaged over pixels and all pairs of seeds; 0 for a model without noise),
        ``per_image`` (the same per image), ``chroma`` (mean ab length of the first seed's
        colouring, for scale) and, with ``truth``, ``psnr`` (B rows x one per seed),
        ``psnr_dev_db`` (per image: the largest distance of a seed's PSNR from the image's
        mean) and ``max_psnr_dev_db`` (their maximum).
        """
        seeds = [int(s) for s in seeds]
        if len(seeds) < 2:
            raise ValueError(f"diversity needs at least 2 seeds, got {seeds}")
        abs_ = [self.predict_ab(L, seed=s) for s in seeds]                      # (B, 2, H, W) ab / 110
        per_image = mean_pairwise_distance([ab * AB_SCALE for ab in abs_], reduction="none")  # (B,) Lab units
        out: dict[str, Any] = {"seeds": seeds, "mean_pairwise_ab": float(per_image.mean()),
                               "per_image": per_image.tolist(),
                               "chroma": float((abs_[0] * AB_SCALE).norm(dim=1).mean())}
        if truth is not None:
            truth = truth.to(self.device, torch.float32)
            by_seed = torch.stack([psnr(self._recombine_batch(L, ab), truth, reduction="none")
                                   for ab in abs_], dim=1).double()             # (B, seeds) dB
            dev = (by_seed - by_seed.mean(dim=1, keepdim=True)).abs().amax(dim=1)  # (B,)
            out["psnr"] = by_seed.tolist()
            out["psnr_dev_db"] = dev.tolist()
            out["max_psnr_dev_db"] = float(dev.max())
        return out

    # ------------------------------------------------------------------ one photo
    def __call__(self, image: Any, seed: int | None = None, hints: Sequence[Any] | None = None,
                 temperature: float | None = None, correction: float | None = None):
        """Colorize one image (path, bytes, file object, PIL image, numpy array, tensor).

        Returns an RGB PIL image of the input's size whose L* is the input's, its ``info``
        holding the provenance note ("colorized by a model", the model, the version; written
        into a PNG by :func:`~lessons_lib.inference.save_image`); ``seed``
        picks the colouring of a model with a noise input (default 0; ignored otherwise);
        ``hints``: a user's colour hints for a hint model (see :meth:`hint_map`);
        ``temperature``, ``correction``: a colour-class model's T and prior correction (see
        the class docstring).
        """
        from PIL import Image

        if hints:
            from ..data.hints import check_hint_count

            check_hint_count(len(hints))                                    # before the photo is decoded
        img = self._open(image)
        s = self.size
        small = img if img.size == (s, s) else img.resize((s, s), Image.Resampling.BICUBIC,
                                                          reducing_gap=REDUCING_GAP)
        rgb8 = image_to_tensor(small)[None].to(self.device)                 # (1, 3, S, S) uint8
        L_small, _ = normalize_lab(rgb_uint8_to_lab(rgb8))                  # (1, 1, S, S)
        hint_maps = None
        if hints:
            if not self.takes_hints:
                self._refuse_hints()
            hint_maps = self.hint_map(hints, img.size)                      # (1, 3, S, S)
        ab = self._generate(L_small, seed, hint_maps, temperature, correction)[0] * AB_SCALE  # (2, S, S) Lab units
        out = recombine(img, ab, band_pixels=self.band_pixels, device=self.device)
        detail = ", ".join(x for x in (f"seed {seed}" if self.has_noise and seed is not None else "",
                                       f"{len(hints)} hints" if hints else "") if x)
        return self._mark(out, detail)                                      # "colorized by a model" in its file
