"""Lesson 08's exercise: StyleGAN2's weight modulation and demodulation."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ._core import Case, Mistake, Result, check_function

__all__ = ["check_demodulation"]


def _conv_with(weight_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], mod, x: torch.Tensor,
               w: torch.Tensor) -> torch.Tensor:
    """Run a 3x3 modulated conv whose per-sample weights come from ``weight_fn(weight, style)``."""
    B, C, H, W = x.shape
    s = mod.modulation(w)                                             # (B, in) the styles
    weight = weight_fn(mod.scale * mod.weight[0], s)                  # (B, out, in, k, k)
    want = (B, mod.out_ch, C, mod.kernel, mod.kernel)
    if not isinstance(weight, torch.Tensor) or tuple(weight.shape) != want:
        got = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"your function returned {got}; expected one weight per sample, shape (B, O, I, k, k) = "
                         f"{want}")
    out = F.conv2d(x.reshape(1, B * C, H, W), weight.reshape(B * mod.out_ch, C, mod.kernel, mod.kernel),
                   padding=mod.kernel // 2, groups=B)
    return out.reshape(B, mod.out_ch, H, W)


def check_demodulation(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Result:
    """Lesson 08: ``fn(weight, style) -> per-sample weights``, StyleGAN2's eqs. 1 and 3.

    ``weight`` is the conv weight (O, I, k, k), ``style`` the styles s (B, I); the answer is
    (B, O, I, k, k) with ``w'_{boik} = s_{bi} w_{oik}`` and
    ``w''_{boik} = w'_{boik} / sqrt(sum_{i,k} w'_{boik}^2 + 1e-8)``. The check does not
    compare weights with a copy of the formula: it convolves images with your weights and
    compares the result with :class:`lessons_lib.models.stylegan2.ModulatedConv2d` itself.
    """
    from ..models.stylegan2 import ModulatedConv2d

    torch.manual_seed(0)
    mods = [ModulatedConv2d(4, 5, 3, w_dim=6, demodulate=True), ModulatedConv2d(3, 2, 3, w_dim=6, demodulate=True)]
    g = torch.Generator().manual_seed(1)
    cases = [Case("4 -> 5 channels, batch 2", (mods[0], torch.randn(2, 4, 6, 6, generator=g),
                                                 torch.randn(2, 6, generator=g))),
             Case("3 -> 2 channels, batch 3", (mods[1], torch.randn(3, 3, 5, 5, generator=g),
                                                 3.0 * torch.randn(3, 6, generator=g)))]

    def student(mod, x, w):
        with torch.no_grad():
            return _conv_with(fn, mod, x, w)

    def reference(mod, x, w):
        with torch.no_grad():
            return mod(x, w)

    def modulate_only(weight, s):
        return weight[None] * s[:, None, :, None, None]

    def demod_over_out(weight, s):
        wp = weight[None] * s[:, None, :, None, None]
        return wp * torch.rsqrt(wp.pow(2).sum(dim=(1, 3, 4), keepdim=True) + 1e-8)

    def no_sqrt(weight, s):
        wp = weight[None] * s[:, None, :, None, None]
        return wp / (wp.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)

    mistakes = [
        Mistake("the weights are modulated but not demodulated: divide each output channel's weights by "
                "sqrt(sum over input channels and kernel taps of w'^2 + 1e-8).",
                lambda mod, x, w: _conv_with(modulate_only, mod, x, w)),
        Mistake("demodulate per OUTPUT channel o: the sum runs over the input channels i and the kernel taps "
                "(dims 2, 3, 4 of the (B, O, I, k, k) tensor), not over the output channels.",
                lambda mod, x, w: _conv_with(demod_over_out, mod, x, w)),
        Mistake("divide by the square ROOT of the sum of squares (its L2 norm), not by the sum itself.",
                lambda mod, x, w: _conv_with(no_sqrt, mod, x, w)),
    ]
    return check_function("modulation and demodulation", student, reference, cases, mistakes=mistakes,
                          output_names=("the convolution with your weights",), atol=1e-4, rtol=1e-4,
                          reference_name="lessons_lib.models.stylegan2.ModulatedConv2d")
