"""The face restorer: a blurred photo in, the restored photo out, at the input's size."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import LessonsError
from ..color.gamut import BAND_PIXELS, source_index
from ..inference import MAX_PIXELS, REDUCING_GAP, Pipeline
from .bundle import load_restorer_parts, locate_restorer, restorer_card
from ..data import image_to_tensor
from ..models.layers import check_image_batch

__all__ = ["Restorer"]


# =========================================================================== Restorer
class Restorer(Pipeline):
    """The face restorer of seed 004 as a function: ``Restorer(weights)(image) -> PIL.Image``.

    Args:
        weights: a restorer bundle (a folder with ``restorer.json``, what ``lessons train
            fusion`` writes into ``OUT/restorer``; layout in :mod:`lessons_lib.restoration.bundle`),
            or the run folder of one stage: ``nafnet`` (x_R only), ``inversion`` (x_R, x_G) or
            ``fusion`` (all three; its card names the earlier runs).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        output: what ``__call__`` returns by default: ``"x_hat"`` (fusion), ``"x_G"``
            (inversion) or ``"x_R"`` (NAFNet); default the last stage the weights have.

    What it does with an image of any size ``W x H``: the networks run on aligned face
    crops at their training size ``S`` (64 px for the course's celeba10k run); the whole
    image is resized to ``S x S`` (bicubic, antialiased), restored there, and the change
    the restorer made, ``delta = out_S - in_S``, is upsampled (bilinear, band by band so
    memory stays bounded) and added to the original: ``out = in + up(delta)``. At the model's
    resolution the result is the restorer's output; finer detail of the input, which the
    model never saw, is kept as it was. A photo that is not a centred face is still
    deblurred by NAFNet (``output="x_R"``), but x_G and x_hat will look like a face.

    ``.model`` is a :class:`lessons_lib.restoration.bundle.RestorerParts` (the loaded nets).
    """

    task = "restoration"
    verb = "restored"

    def __init__(self, weights: str | os.PathLike, device: str | torch.device = "auto", *,
                 output: str | None = None, max_pixels: int = MAX_PIXELS, band_pixels: int = BAND_PIXELS) -> None:
        super().__init__(weights, device, max_pixels=max_pixels)
        if band_pixels < 1:
            raise ValueError(f"band_pixels must be >= 1, got {band_pixels}")
        self.band_pixels = int(band_pixels)
        self._output = output

    def _locate(self, weights: Path) -> Path:

        return locate_restorer(weights)

    @property
    def card(self) -> dict[str, Any]:
        """The restorer's card (a bundle's ``restorer.json`` or the run's model card), checked."""
        if self._card is None:

            self._card = restorer_card(self._st_path)
        return self._card

    @property
    def model(self):  # -> RestorerParts
        """The loaded networks (:class:`~lessons_lib.restoration.bundle.RestorerParts`), on first use."""
        if self._model is None:
            with self._lock:
                if self._model is None:

                    self.card  # noqa: B018 - the task check comes before loading any weights
                    self._model = load_restorer_parts(self._st_path, device=self.device)
        return self._model

    @property
    def size(self) -> int:
        """The face size S the networks were trained at."""
        return self.model.size

    @property
    def outputs(self) -> tuple[str, ...]:
        """What this restorer can return: ``("blurred", "x_R"[, "x_G"[, "x_hat"]])``."""
        return self.model.outputs

    @property
    def output(self) -> str:
        """The default output of :meth:`__call__`: the one asked for, else the one the card
        names (``default_output``: a shipped restorer's is chosen by
        :func:`lessons_lib.zoo.choose_restorer_output`'s rule on held-out faces), else the
        last stage the weights have."""
        if self._output is not None:
            return self._check_output(self._output)
        named = self.card.get("default_output")
        return named if named in self.outputs[1:] else self.outputs[-1]

    @property
    def output_reason(self) -> str | None:
        """Why the card names its default output (None when it names none)."""
        return self.card.get("default_output_why")

    def _check_output(self, output: str) -> str:
        if output not in self.outputs[1:]:
            raise LessonsError(f"output {output!r} is not available from {self.weights} (stage {self.model.stage}); "
                               f"choose one of {', '.join(self.outputs[1:])}")
        return output

    def restore_tensor(self, blurred: torch.Tensor) -> dict[str, torch.Tensor]:
        """Batched restoration: ``(B, 3, H, W)`` in [0, 1] -> ``{"blurred", "x_R", "x_G", "x_hat"}``
        (those the weights have), each ``(B, 3, H, W)`` in [0, 1].

        Faces of another size than S are resized to S (bilinear, antialiased) and the
        outputs resized back: an evaluation at a size the model was not trained at."""
        check_image_batch(blurred, 3, "blurred")
        if not blurred.is_floating_point():
            raise ValueError(f"blurred must be float in [0, 1], got {blurred.dtype}")
        x = blurred.to(self.device, torch.float32)
        s = self.size
        h, w = x.shape[-2:]
        small = x if (h, w) == (s, s) else F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False,
                                                           antialias=True)
        outs = self.model.run(small)
        if (h, w) != (s, s):
            outs = {k: (x if k == "blurred" else F.interpolate(v, size=(h, w), mode="bilinear", align_corners=False,
                                                               antialias=True).clamp(0, 1))
                    for k, v in outs.items()}
        return outs

    def __call__(self, image: Any, output: str | None = None):
        """Restore one image (path, bytes, PIL image, numpy array, tensor) -> RGB PIL image of its
        size, its ``info`` holding the provenance note ("restored by a model", the model and
        output, the version; :func:`~lessons_lib.inference.save_image` writes it)."""
        out_name = self._check_output(output) if output is not None else self.output
        return self._mark(self._restore(image, out_name), out_name)

    def _restore(self, image: Any, out_name: str):
        import numpy as np
        from PIL import Image

        img = self._open(image)
        s = self.size
        W, H = img.size
        small = img if img.size == (s, s) else img.resize((s, s), Image.Resampling.BICUBIC,
                                                          reducing_gap=REDUCING_GAP)
        x = image_to_tensor(small)[None].to(self.device).float() / 255.0   # (1, 3, S, S)
        y = self.model.run(x)[out_name]                                     # (1, 3, S, S)
        if (W, H) == (s, s):
            pixels = (y[0] * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            return Image.fromarray(np.ascontiguousarray(pixels))
        delta = (y - x)[0]                                                  # (3, S, S) what the model changed
        if W * H <= self.band_pixels:  # small: in one go, antialiased when shrinking
            full = image_to_tensor(img)[None].to(self.device).float() / 255.0
            up = F.interpolate(delta[None], size=(H, W), mode="bilinear", align_corners=False,
                               antialias=W < s or H < s)
            pixels = ((full + up).clamp(0, 1)[0] * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            return Image.fromarray(np.ascontiguousarray(pixels))
        # large: bilinear upsampling of delta, band by band (as recombine does for ab)
        dev = self.device
        x0, x1, wx = source_index(W, s, dev)
        d_x = torch.lerp(delta[:, :, x0], delta[:, :, x1], wx)             # (3, S, W)
        y0, y1, wy = source_index(H, s, dev)
        rows = max(1, self.band_pixels // W)
        out = Image.new("RGB", (W, H))
        for r0 in range(0, H, rows):
            r1 = min(H, r0 + rows)
            d_band = torch.lerp(d_x[:, y0[r0:r1]], d_x[:, y1[r0:r1]], wy[r0:r1].view(1, -1, 1))  # (3, rows, W)
            band = np.asarray(img.crop((0, r0, W, r1)), dtype=np.uint8)    # (rows, W, 3)
            band_t = torch.from_numpy(band.transpose(2, 0, 1).copy()).to(dev).float() / 255.0
            pixels = ((band_t + d_band).clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            out.paste(Image.fromarray(np.ascontiguousarray(pixels)), (0, r0))
        return out
