"""Lesson 03's exercises: the receptive field of a conv stack, and of a PatchGAN of any depth.

Both answers are *functions* of the setting, checked on stacks and depths the lesson never
shows, with the package's own receptive-field helpers watched (``forbid=``): a number copied
from the lesson, or a call to :func:`lessons_lib.models.layers.receptive_field`, cannot pass.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from ..models.discriminators import ConvChainDiscriminator, PatchGAN, patchgan_receptive_field
from ..models.layers import ConvGeometry, conv_geometry, receptive_field
from ._core import Result, run_student

__all__ = ["check_receptive_field", "check_patchgan_receptive_field", "RF_CASES", "PATCHGAN_DEPTHS"]

Layers = Sequence[tuple[int, int]]

#: The conv stacks the check uses, as (kernel, stride) per layer, input side first. The
#: lesson shows the PatchGAN stacks; the others (odd strides, a big stem, pools, stride 3)
#: are not in the notebook, so only a computation gets them right.
RF_CASES: dict[str, list[tuple[int, int]]] = {
    "one 3x3 conv": [(3, 1)],
    "the 34x34 PatchGAN (n_layers=2)": [(4, 2), (4, 2), (4, 1), (4, 1)],
    "a VGG-style stack (3x3 convs, 2x2 pools)": [(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2), (3, 1)],
    "a stack with 1x1 convs (NIN)": [(4, 2), (1, 1), (1, 1), (4, 2), (1, 1), (4, 1)],
    "a ResNet-like stem (7x7/2, 3x3/2 pool, 3x3 convs)": [(7, 2), (3, 2), (3, 1), (3, 1), (3, 2), (3, 1)],
    "stride-3 layers with 5x5 kernels": [(5, 3), (5, 3), (3, 1)],
    "a stride-2 layer last": [(3, 1), (5, 1), (4, 2)],
}

#: The PatchGAN depths the second exercise is checked on (the lesson prints 1-4).
PATCHGAN_DEPTHS = (1, 5, 6, 7)

#: The kit's receptive-field helpers: the exercises ask for the computation itself.
_FORBID: list[Callable[..., Any]] = [receptive_field, patchgan_receptive_field, conv_geometry,
                                     ConvChainDiscriminator.receptive_field, PatchGAN.__init__]


def _reference(layers: Layers) -> int:
    return receptive_field([ConvGeometry(int(k), int(s), 0) for k, s in layers])


# Common wrong answers, each as a function of the layer list (input side first).
def _no_strides(layers: Layers) -> int:
    """Adds up (k - 1) but forgets that a stride spreads the next layer's taps apart."""
    return 1 + sum(k - 1 for k, _ in layers)


def _backward_in_wrong_order(layers: Layers) -> int:
    """Runs the top-down recursion r <- s r + (k - s) from the input side instead of the output side."""
    r = 1
    for k, s in layers:
        r = s * r + (k - s)
    return r


def _jump_updated_first(layers: Layers) -> int:
    """Forward recursion with the jump multiplied by the stride before it is used."""
    r, j = 1, 1
    for k, s in layers:
        j *= s
        r += (k - 1) * j
    return r


def _sum_of_kernels(layers: Layers) -> int:
    return sum(k for k, _ in layers)


def _product_of_kernels(layers: Layers) -> int:
    return math.prod(k for k, _ in layers)


_MISTAKES: list[tuple[Callable[[Layers], int], str]] = [
    (_no_strides, "You added up (k - 1) over the layers but ignored the strides: after a stride-s layer, "
                  "neighbouring positions are s input pixels apart, so every later kernel tap reaches "
                  "s times further. Track the jump j (the product of the strides so far): r += (k - 1) * j."),
    (_backward_in_wrong_order, "The recursion r_{l-1} = s_l * r_l + (k_l - s_l) runs from the OUTPUT back to the "
                               "input: start with r = 1 at the last layer and go through the list in reverse."),
    (_jump_updated_first, "You multiplied the jump by the layer's own stride before using it: a layer's taps are "
                          "spaced by the strides of the layers BEFORE it. Use j, then update j *= s."),
    (_sum_of_kernels, "Adding the kernel sizes counts the overlapping pixels of neighbouring kernels twice and "
                      "ignores the strides: use the recursion r_{l-1} = s_l * r_l + (k_l - s_l)."),
    (_product_of_kernels, "Multiplying the kernel sizes overestimates the field: kernels overlap, and a stride "
                          "(not a kernel) is what multiplies the spacing. Use the recursion "
                          "r_{l-1} = s_l * r_l + (k_l - s_l)."),
]


def _as_int(value: Any) -> int | None:
    """A whole number (int, integral float, one-element tensor) as int; None for anything else."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        return None
    try:
        v = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, RuntimeError):
        return None
    if not math.isfinite(v) or v != int(v):
        return None
    return int(v)


def _whole_numbers(exercise: str, fn: Callable, cases: dict, case: Callable[[Any], str], where: str
                   ) -> tuple[dict, Result | None]:
    """Run ``fn`` on every ``cases`` value (key -> argument); the answers as ints by key, or
    the verdict that stops the check (a forbidden call, an error, an answer that is not a
    whole number: "``where`` ``case(key)``, return a whole number ...")."""
    answers: dict = {}
    for key, arg in cases.items():
        got, verdict = run_student(exercise, fn, arg, forbid=_FORBID, case=case(key))
        if verdict is not None:
            return answers, verdict
        value = _as_int(got)
        if value is None:
            return answers, Result(exercise, False, [f"{where} {case(key)}, return a whole number of pixels, "
                                                     f"got {got!r}."])
        answers[key] = value
    return answers, None


def check_receptive_field(fn: Callable[[list[tuple[int, int]]], int]) -> Result:
    """Lesson 03: ``fn(layers) -> int``, the receptive field of a chain of convolutions.

    ``layers`` is a list of ``(kernel, stride)`` pairs, input side first (padding does not
    change the field's size). The answer must equal the recursion
    ``r_{l-1} = s_l r_l + (k_l - s_l)`` (from ``r_L = 1``) on every stack of
    :data:`RF_CASES` - most of them stacks the lesson never shows. The kit's helpers
    (``receptive_field``, ``patchgan_receptive_field``, ``conv_geometry``, a model's
    ``.receptive_field``) are forbidden. A known mistake (forgetting the strides, running
    the recursion in the wrong direction, ...) is named when it reproduces the answers on
    all stacks, so two mistakes that agree on one stack are told apart by the others.
    """
    exercise = "the receptive field of a conv stack"
    answers, verdict = _whole_numbers(exercise, fn, {name: [tuple(layer) for layer in layers]
                                                     for name, layers in RF_CASES.items()}, str, "on")
    if verdict is not None:
        return verdict
    wrong = [name for name, layers in RF_CASES.items() if answers[name] != _reference(layers)]
    if not wrong:
        return Result(exercise, True, [], f"the recursion is right on {len(RF_CASES)} stacks "
                                          f"({', '.join(RF_CASES)}).")
    name = wrong[0]
    layers, value, expected = RF_CASES[name], answers[name], _reference(RF_CASES[name])
    for mistake, hint in _MISTAKES:
        if all(answers[n] == mistake(ls) for n, ls in RF_CASES.items()):
            return Result(exercise, False, [f"on {name} ({layers}): got {value}, expected {expected}. {hint}"])
    direction = "too large" if value > expected else "too small"
    return Result(exercise, False, [f"on {name} ({layers}): got {value}, which is {direction} "
                                    f"(expected {expected})."])


def _patchgan_layers(n_layers: int) -> list[tuple[int, int]]:
    return [(4, 2)] * n_layers + [(4, 1), (4, 1)]


# the check's own reference and layer list are answers too
_FORBID += [_reference, _patchgan_layers]


def check_patchgan_receptive_field(fn: Callable[[int], int]) -> Result:
    """Lesson 03: ``fn(n_layers) -> int``, the receptive field of pix2pix's PatchGAN with
    ``n_layers`` 4x4 stride-2 layers followed by two 4x4 stride-1 layers.

    Checked on the depths :data:`PATCHGAN_DEPTHS` (1 and 5-7; the lesson prints 1-4) against
    the model's own field (:func:`lessons_lib.models.discriminators.patchgan_receptive_field`),
    with the kit's helpers and the PatchGAN's constructor forbidden: write the layer list (or a
    closed form) and apply the recursion - your ``my_receptive_field`` may be called. The
    neighbouring depth, the "forgot the strides" sum, the wrong direction and a missing
    stride-1 layer are named.
    """
    exercise = "the receptive field of the PatchGAN of any depth"
    if not callable(fn):
        return Result(exercise, False, ["pass a function of n_layers (def my_patchgan_receptive_field(n_layers): ...), "
                                        f"not a {type(fn).__name__}: a number typed in cannot be checked on other depths."])
    answers, verdict = _whole_numbers(exercise, fn, {n: n for n in PATCHGAN_DEPTHS},
                                      lambda n: f"n_layers={n}", "for")
    if verdict is not None:
        return verdict
    wrong = [n for n in PATCHGAN_DEPTHS if answers[n] != patchgan_receptive_field(n)]
    if wrong:
        n = wrong[0]
        value, expected = answers[n], patchgan_receptive_field(n)
        mistakes: list[tuple[Callable[[int], int], str]] = [
            (lambda m: _reference(_patchgan_layers(m - 1)),
             "that is the field of the PatchGAN with one strided layer less; n_layers counts the stride-2 layers."),
            (lambda m: _reference(_patchgan_layers(m + 1)),
             "that is the field of the PatchGAN with one strided layer more; n_layers counts the stride-2 layers."),
            (lambda m: _no_strides(_patchgan_layers(m)),
             "you ignored the strides: use r_{l-1} = s_l * r_l + (k_l - s_l) from the output back."),
            (lambda m: _backward_in_wrong_order(_patchgan_layers(m)),
             "run the recursion r_{l-1} = s_l * r_l + (k_l - s_l) from the output layer back to the input."),
            (lambda m: _reference([(4, 2)] * m + [(4, 1)]),
             "one of the two 4x4 stride-1 layers is missing (the C512 block and the final 1-channel conv)."),
            (lambda m: _reference([(4, 2)] * m),
             "the two 4x4 stride-1 layers after the strided ones are missing (the C512 block and the output conv)."),
        ]
        for mistake, hint in mistakes:
            if all(answers[m] == mistake(m) for m in PATCHGAN_DEPTHS):
                return Result(exercise, False, [f"for n_layers={n}: got {value}, expected {expected}: {hint}"])
        direction = "too large" if value > expected else "too small"
        return Result(exercise, False, [f"for n_layers={n}: got {value}, which is {direction} (expected {expected})."])
    return Result(exercise, True, [], f"right for n_layers = {', '.join(map(str, PATCHGAN_DEPTHS))} "
                                      f"({', '.join(str(patchgan_receptive_field(n)) for n in PATCHGAN_DEPTHS)} px).")
