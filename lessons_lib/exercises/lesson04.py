"""Lesson 04's exercises: a 1x1 convolution is a linear layer applied at every pixel, and
the parameter count of one NIN "mlpconv" block of seed 000's discriminator."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ._core import Case, Mistake, Result, check_function, check_value

__all__ = ["check_pointwise_linear", "check_mlpconv_parameters", "mlpconv_parameter_count"]


# --------------------------------------------------------------------------- 1x1 conv = per-pixel linear
def _pointwise_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """PyTorch's own 1x1 convolution with the linear layer's (K, C) weight as a (K, C, 1, 1) kernel."""
    return F.conv2d(x, weight[:, :, None, None], bias)


def _pointwise_cases() -> list[Case]:
    g = torch.Generator().manual_seed(4)
    # Non-square maps with C != K and H != W: a reshape that mixes the axes cannot pass by luck.
    x1, w1, b1 = torch.randn(2, 3, 4, 5, generator=g), torch.randn(6, 3, generator=g), torch.randn(6, generator=g)
    # C == K: a transposed weight has the right shape here, so only the values can tell.
    x2, w2, b2 = torch.randn(1, 4, 3, 2, generator=g), torch.randn(4, 4, generator=g), torch.randn(4, generator=g)
    # A feature map of the size the NIN-PatchGAN sees at its last block (1 image, 8 channels).
    x3, w3, b3 = torch.randn(1, 8, 7, 7, generator=g), torch.randn(8, 8, generator=g), torch.randn(8, generator=g)
    return [
        Case("a (2, 3, 4, 5) map, 3 -> 6 channels", (x1, w1, b1)),
        Case("a (1, 4, 3, 2) map, 4 -> 4 channels", (x2, w2, b2)),
        Case("a (1, 8, 7, 7) map, 8 -> 8 channels", (x3, w3, b3)),
    ]


_POINTWISE_MISTAKES = [
    Mistake("your function returns zeros: the stub is still in place. Apply the weight and add the bias "
            "at every pixel.",
            lambda x, w, b: torch.zeros(x.shape[0], w.shape[0], x.shape[2], x.shape[3])),
    Mistake("the bias is missing: a linear layer computes W f + b at every pixel.",
            lambda x, w, b: F.conv2d(x, w[:, :, None, None])),
    Mistake("you used the transposed weight: nn.Linear's weight is (out, in) = (K, C), so the output "
            "channel k is sum_c W[k, c] * x[c] (einsum 'kc,bchw->bkhw', or x_perm @ W.T).",
            lambda x, w, b: F.conv2d(x, w.T[:, :, None, None], b)),
    Mistake("you applied an activation: this exercise is the linear part alone (NIN puts the "
            "activation after it, as a separate layer).",
            lambda x, w, b: F.relu(F.conv2d(x, w[:, :, None, None], b))),
    Mistake("the channels got mixed with the positions: x.reshape(B, H, W, C) is not a transpose. "
            "Move the channel axis last with x.permute(0, 2, 3, 1), then apply the weight.",
            lambda x, w, b: (x.reshape(x.shape[0], x.shape[2], x.shape[3], x.shape[1]) @ w.T + b)
            .permute(0, 3, 1, 2)),
    Mistake("the way in is right, the way back is not: (B, H, W, K) -> (B, K, H, W) is a transpose, "
            "y.permute(0, 3, 1, 2), not a reshape.",
            lambda x, w, b: (x.permute(0, 2, 3, 1) @ w.T + b).reshape(x.shape[0], w.shape[0], x.shape[2], x.shape[3])),
]


def check_pointwise_linear(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Result:
    """Lesson 04: ``fn(x, weight, bias) -> y``, a linear layer applied to every pixel's feature vector.

    ``x`` is a feature map (B, C, H, W), ``weight`` a linear layer's (K, C) matrix and
    ``bias`` its (K,) vector; the answer is (B, K, H, W) with
    ``y[b, :, i, j] = weight @ x[b, :, i, j] + bias`` - exactly a 1x1 convolution with the
    kernel ``weight[:, :, None, None]`` (Lin et al. 2014, sec. 3.1: the mlpconv layer's
    "cascaded cross channel parametric pooling" is a 1x1 convolution). The reference is
    PyTorch's ``F.conv2d``; write yours with permute + matmul (or ``nn.Linear``, or einsum).
    """
    return check_function(
        "a linear layer at every pixel",
        fn,
        _pointwise_reference,
        _pointwise_cases(),
        mistakes=_POINTWISE_MISTAKES,
        output_names=("y",),
        atol=1e-4,
        rtol=1e-4,
        reference_name="a 1x1 convolution (torch.nn.functional.conv2d)",
    )


# --------------------------------------------------------------------------- parameters of one mlpconv block
def mlpconv_parameter_count(c_in: int = 64, c_out: int = 128, mlp_layers: int = 2) -> int:
    """Trainable parameters of one inner mlpconv block of :class:`NINPatchGAN`, counted on
    the package's own block (a 4x4 conv, then ``mlp_layers`` 1x1 convs, each with BatchNorm)."""
    from ..models.discriminators import _mlpconv
    from ..models.layers import count_parameters

    block = _mlpconv(c_in, c_out, 2, mlp_layers, "batch", "leaky", 0.2, first=False)
    return count_parameters(block)


def check_mlpconv_parameters(answer: int, c_in: int = 64, c_out: int = 128, mlp_layers: int = 2) -> Result:
    """Lesson 04: the parameter count of one mlpconv block ``c_in -> c_out`` of the NIN-PatchGAN.

    The block (seed 000 fig. 3, :func:`lessons_lib.models.discriminators._mlpconv`) is a 4x4
    conv ``c_in -> c_out`` and ``mlp_layers`` 1x1 convs ``c_out -> c_out``, each followed by
    BatchNorm (a scale and a shift per channel), LeakyReLU and dropout (no parameters). A conv
    followed by BatchNorm has no bias (BN's shift replaces it). The expected number is counted
    on the package's block, so the check follows the package if the block changes.
    """
    expected = mlpconv_parameter_count(c_in, c_out, mlp_layers)
    k4 = 16 * c_in * c_out          # the 4x4 conv's weights
    k1 = mlp_layers * c_out * c_out  # the 1x1 convs' weights
    bn = (1 + mlp_layers) * 2 * c_out
    mistakes = {
        float(k4 + k1): "BatchNorm has parameters too: a scale gamma and a shift beta per channel, "
                        "after each of the block's convolutions.",
        float(k4 + k1 + bn + (1 + mlp_layers) * c_out): "a convolution followed by BatchNorm has no bias "
                                                       "(BN's shift beta plays its role): drop the conv biases.",
        float(k4 + 2 * c_out): "you counted the 4x4 convolution (and its BatchNorm) only: the mlpconv block "
                               f"adds {mlp_layers} 1x1 convs, each with c_out * c_out weights and a BatchNorm.",
        float(9 * c_in * c_out + k1 + bn): "the block's first convolution is 4x4 (16 weights per input-output "
                                           "channel pair), as in the PatchGAN, not 3x3.",
        float(k4 + mlp_layers * 16 * c_out * c_out + bn): "the MLP layers are 1x1 convolutions: c_out * c_out "
                                                          "weights each, not 16 * c_out * c_out.",
        float(k4 + k1 + 2 * c_out): "each 1x1 conv has its own BatchNorm: count 2 * c_out parameters after "
                                    "every convolution of the block, not only the first.",
    }
    mistakes.pop(float(expected), None)  # never flag the right answer (degenerate sizes)
    return check_value(
        f"parameters of an mlpconv block {c_in} -> {c_out} with {mlp_layers} 1x1 layers",
        answer,
        float(expected),
        mistakes=mistakes,
        unit=" parameters",
    )
