"""Lesson 08's exercise: StyleGAN2's weight modulation and demodulation."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..models import stylegan2 as sg
from ._core import Case, Mistake, Result, check_function

__all__ = ["check_demodulation"]


def _conv_with(weight_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], mod, x: torch.Tensor,
               w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Run a 3x3 modulated conv whose per-sample weights come from ``weight_fn(weight, style)``.

    ``s`` are the styles ``A(w)``, computed before the check runs (so that the layer's own
    affine map is not called while the student's code is watched)."""
    B, C, H, W = x.shape
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
    Calling that layer (or ``StyledConv``, ``ToRGB``, its ``EqualLinear``, the generator)
    from your function fails the check: write the two lines from the equations.
    """
    torch.manual_seed(0)
    mods = [sg.ModulatedConv2d(4, 5, 3, w_dim=6, demodulate=True), sg.ModulatedConv2d(3, 2, 3, w_dim=6, demodulate=True),
            sg.ModulatedConv2d(6, 3, 1, w_dim=4, demodulate=True)]
    g = torch.Generator().manual_seed(1)
    raw = [(mods[0], torch.randn(2, 4, 6, 6, generator=g), torch.randn(2, 6, generator=g)),
           (mods[1], torch.randn(3, 3, 5, 5, generator=g), 3.0 * torch.randn(3, 6, generator=g)),
           (mods[2], torch.randn(2, 6, 4, 4, generator=g), 0.2 * torch.randn(2, 4, generator=g))]
    with torch.no_grad():
        args = [(m, x, w, m.modulation(w)) for m, x, w in raw]           # the styles s = A(w), outside the watch
    cases = [Case("4 -> 5 channels, batch 2", args[0]), Case("3 -> 2 channels, batch 3, large styles", args[1]),
             Case("a 1x1 kernel, 6 -> 3 channels, small styles", args[2])]
    # The package's modulated convolution and everything around it that computes w'' or applies it.
    forbid = [sg.ModulatedConv2d.forward, sg.StyledConv.forward, sg.ToRGB.forward, sg.EqualLinear.forward,
              sg.StyleGAN2Generator.forward]

    def student(mod, x, w, s):
        with torch.no_grad():
            return _conv_with(fn, mod, x, w, s)

    def reference(mod, x, w, s):
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
                lambda mod, x, w, s: _conv_with(modulate_only, mod, x, w, s)),
        Mistake("demodulate per OUTPUT channel o: the sum runs over the input channels i and the kernel taps "
                "(dims 2, 3, 4 of the (B, O, I, k, k) tensor), not over the output channels.",
                lambda mod, x, w, s: _conv_with(demod_over_out, mod, x, w, s)),
        Mistake("divide by the square ROOT of the sum of squares (its L2 norm), not by the sum itself.",
                lambda mod, x, w, s: _conv_with(no_sqrt, mod, x, w, s)),
    ]
    return check_function("modulation and demodulation", student, reference, cases, mistakes=mistakes,
                          output_names=("the convolution with your weights",), atol=1e-4, rtol=1e-4,
                          reference_name="lessons_lib.models.stylegan2.ModulatedConv2d", forbid=forbid)
