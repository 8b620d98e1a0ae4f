"""Lesson 03's exercises: the receptive field of a conv stack, and of a PatchGAN."""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from ..models.discriminators import patchgan_receptive_field
from ..models.layers import ConvGeometry, receptive_field
from ._core import Result, check_value

__all__ = ["check_receptive_field", "check_patchgan_receptive_field", "RF_CASES"]

Layers = Sequence[tuple[int, int]]

#: The conv stacks the check uses, as (kernel, stride) per layer, input side first.
RF_CASES: dict[str, list[tuple[int, int]]] = {
    "one 3x3 conv": [(3, 1)],
    "the 16x16 PatchGAN (n_layers=1)": [(4, 2), (4, 1), (4, 1)],
    "the 34x34 PatchGAN (n_layers=2)": [(4, 2), (4, 2), (4, 1), (4, 1)],
    "the 70x70 PatchGAN (n_layers=3)": [(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)],
    "a VGG-style stack (3x3 convs, 2x2 pools)": [(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2), (3, 1)],
    "a stack with 1x1 convs (NIN)": [(4, 2), (1, 1), (1, 1), (4, 2), (1, 1), (4, 1)],
}


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


def check_receptive_field(fn: Callable[[list[tuple[int, int]]], int]) -> Result:
    """Lesson 03: ``fn(layers) -> int``, the receptive field of a chain of convolutions.

    ``layers`` is a list of ``(kernel, stride)`` pairs, input side first (padding does not
    change the field's size). The answer must equal
    :func:`lessons_lib.models.layers.receptive_field` on every stack of :data:`RF_CASES`
    (16, 34 and 70 for the PatchGANs). The student's function runs on every stack first;
    a known mistake (forgetting the strides, running the top-down recursion in the wrong
    direction, ...) is named when it reproduces the answers on all of them, so two
    mistakes that agree on one stack are told apart by the others.
    """
    exercise = "the receptive field of a conv stack"
    if not callable(fn):
        return Result(exercise, False, [f"pass your function itself (without calling it), got a {type(fn).__name__}."])
    answers: dict[str, int] = {}
    for name, layers in RF_CASES.items():
        try:
            got = fn([tuple(layer) for layer in layers])
        except NotImplementedError:
            return Result(exercise, False, ["your function raised NotImplementedError: replace the `raise "
                                            "NotImplementedError` line with your code."])
        except Exception as exc:  # the student's code: any error becomes a hint
            return Result(exercise, False, [f"on {name}, your function raised {type(exc).__name__}: {exc}."])
        value = _as_int(got)
        if value is None:
            return Result(exercise, False, [f"on {name}, return a whole number of pixels, got {got!r}."])
        answers[name] = value
    wrong = [name for name, layers in RF_CASES.items() if answers[name] != _reference(layers)]
    if not wrong:
        return Result(exercise, True, [], f"matches lessons_lib.models.layers.receptive_field on {len(RF_CASES)} "
                                          f"stacks ({', '.join(RF_CASES)}).")
    name = wrong[0]
    layers, value, expected = RF_CASES[name], answers[wrong[0]], _reference(RF_CASES[wrong[0]])
    for mistake, hint in _MISTAKES:
        if all(answers[n] == mistake(ls) for n, ls in RF_CASES.items()):
            return Result(exercise, False, [f"on {name} ({layers}): got {value}, expected {expected}. {hint}"])
    direction = "too large" if value > expected else "too small"
    return Result(exercise, False, [f"on {name} ({layers}): got {value}, which is {direction} "
                                    f"(expected {expected})."])


def check_patchgan_receptive_field(answer: Any, n_layers: int = 4) -> Result:
    """Lesson 03: the receptive field of the PatchGAN with ``n_layers`` strided layers.

    Graded against :func:`lessons_lib.models.discriminators.patchgan_receptive_field`, which
    reads it off the built model (142 for ``n_layers=4``). The answers of the neighbouring
    depths and the "forgot the strides" sum are named.
    """
    expected = patchgan_receptive_field(n_layers)
    layers = [(4, 2)] * n_layers + [(4, 1), (4, 1)]
    mistakes: dict[float, str] = {}
    for n in (n_layers - 1, n_layers + 1):
        if n >= 1:
            mistakes[float(patchgan_receptive_field(n))] = (
                f"{patchgan_receptive_field(n)} is the field of the PatchGAN with n_layers={n}; "
                "count the strided layers again.")
    mistakes.setdefault(float(_no_strides(layers)),
                        "you ignored the strides: use r_{l-1} = s_l * r_l + (k_l - s_l) from the output back.")
    mistakes.setdefault(float(_backward_in_wrong_order(layers)),
                        "run the recursion r_{l-1} = s_l * r_l + (k_l - s_l) from the output layer back to the input.")
    return check_value(f"the receptive field of the PatchGAN with n_layers={n_layers}", answer, expected,
                       unit=" pixels", mistakes=mistakes)
