"""Lesson 04's exercises: a 1x1 convolution is a linear layer applied at every pixel, the
parameter count of a NIN "mlpconv" block as a function of its sizes, and the part's larger
exercise: write the mlpconv block of seed 000's discriminator yourself (``check_mlpconv_block``)."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models.discriminators import NINPatchGAN, mlpconv
from ..models.layers import conv_block, count_parameters
from ._core import Case, Mistake, Result, check_function, run_student

__all__ = ["check_pointwise_linear", "check_mlpconv_parameters", "check_mlpconv_block",
           "mlpconv_parameter_count", "mlpconv_formula", "BLOCK_CASES"]

#: The convolution itself (F.conv2d and nn.Conv2d reach torch.conv2d) and the kit's builders:
#: the per-pixel layer is to be written with a matrix product.
_POINTWISE_FORBID: list[Callable[..., Any]] = [torch.conv2d, torch.nn.Conv2d.forward, torch.nn.Conv2d._conv_forward,
                                               conv_block, mlpconv]


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
    PyTorch's ``F.conv2d``; write yours with permute + matmul (or ``nn.Linear``, or einsum):
    ``torch.conv2d`` (hence ``F.conv2d`` and ``nn.Conv2d``) and the kit's block builders are
    forbidden while it runs.
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
        forbid=_POINTWISE_FORBID,
    )


# --------------------------------------------------------------------------- parameters of an mlpconv block
def mlpconv_parameter_count(c_in: int = 64, c_out: int = 128, mlp_layers: int = 2) -> int:
    """Trainable parameters of one inner mlpconv block of :class:`NINPatchGAN`, counted on
    the package's own block (a 4x4 conv, then ``mlp_layers`` 1x1 convs, each with BatchNorm)."""
    block = mlpconv(c_in, c_out, 2, mlp_layers, "batch", "leaky", 0.2, first=False)
    return count_parameters(block)


def mlpconv_formula(c_in: int, c_out: int, kernel: int, mlp_layers: int, batch_norm: bool = True) -> int:
    """The reference count of an mlpconv block: a ``kernel x kernel`` conv ``c_in -> c_out``
    and ``mlp_layers`` 1x1 convs ``c_out -> c_out``. With BatchNorm after each conv, the convs
    have no bias and each BN has a scale and a shift per channel; without it each conv has a bias.
    """
    weights = kernel * kernel * c_in * c_out + mlp_layers * c_out * c_out
    per_conv = 2 * c_out if batch_norm else c_out          # BN's (gamma, beta) or the conv's bias
    return weights + (1 + mlp_layers) * per_conv


_PARAM_CASES = [
    Case("seed 000's block 1: 64 -> 128, 4x4, 2 MLP layers, BatchNorm", (64, 128, 4, 2, True)),
    Case("3 -> 8, 3x3, 1 MLP layer, BatchNorm", (3, 8, 3, 1, True)),
    Case("16 -> 16, 1x1, no MLP layer, BatchNorm", (16, 16, 1, 0, True)),
    Case("5 -> 7, 5x5, 3 MLP layers, no norm (biases)", (5, 7, 5, 3, False)),
    Case("32 -> 24, 4x4, 2 MLP layers, no norm (biases)", (32, 24, 4, 2, False)),
    Case("6 -> 10, 4x4, 4 MLP layers, BatchNorm", (6, 10, 4, 4, True)),
]


def _t(fn: Callable[..., int]) -> Callable[..., torch.Tensor]:
    """An integer formula as a tensor-valued function (the comparison works on tensors)."""
    return lambda *a: torch.tensor(float(fn(*a)))


_PARAM_MISTAKES = [
    Mistake("BatchNorm has parameters too: a scale gamma and a shift beta per channel, after each of the "
            "block's convolutions.",
            _t(lambda ci, co, k, m, bn: k * k * ci * co + m * co * co + (0 if bn else (1 + m) * co))),
    Mistake("a convolution followed by BatchNorm has no bias (BN's shift beta plays its role): drop the conv "
            "biases when batch_norm is True.",
            _t(lambda ci, co, k, m, bn: mlpconv_formula(ci, co, k, m, bn) + ((1 + m) * co if bn else 0))),
    Mistake("without BatchNorm each convolution has a bias: c_out numbers per conv, the k x k one and every 1x1.",
            _t(lambda ci, co, k, m, bn: mlpconv_formula(ci, co, k, m, bn) - (0 if bn else (1 + m) * co))),
    Mistake("with batch_norm=False there is no BatchNorm: no gamma and beta, only each conv's bias (c_out numbers).",
            _t(lambda ci, co, k, m, bn: mlpconv_formula(ci, co, k, m, True))),
    Mistake("you counted the k x k convolution (and its norm) only: the mlpconv block adds mlp_layers 1x1 convs, "
            "each with c_out * c_out weights and its own norm (or bias).",
            _t(lambda ci, co, k, m, bn: mlpconv_formula(ci, co, k, 0, bn))),
    Mistake("the MLP layers are 1x1 convolutions: c_out * c_out weights each, not kernel^2 * c_out * c_out.",
            _t(lambda ci, co, k, m, bn: mlpconv_formula(ci, co, k, m, bn) + m * (k * k - 1) * co * co)),
    Mistake("a k x k kernel has k * k weights per (input, output) channel pair: kernel**2 * c_in * c_out, "
            "not kernel * c_in * c_out.",
            _t(lambda ci, co, k, m, bn: mlpconv_formula(ci, co, k, m, bn) - (k * k - k) * ci * co)),
    Mistake("each 1x1 conv has its own BatchNorm: count 2 * c_out parameters after every convolution of the "
            "block, not only the first.",
            _t(lambda ci, co, k, m, bn: mlpconv_formula(ci, co, k, m, bn) - (2 * m * co if bn else 0))),
]

#: Building the block and counting its parameters is not the exercise: write the arithmetic.
_PARAM_FORBID: list[Callable[..., Any]] = [count_parameters, mlpconv_parameter_count, mlpconv_formula, mlpconv,
                                           conv_block, nn.Module.parameters, nn.Module.named_parameters]


def check_mlpconv_parameters(fn: Callable[..., int]) -> Result:
    """Lesson 04: ``fn(c_in, c_out, kernel, mlp_layers, batch_norm) -> int``, the trainable
    parameters of an mlpconv block (seed 000 fig. 3): a ``kernel x kernel`` conv ``c_in -> c_out``
    and ``mlp_layers`` 1x1 convs ``c_out -> c_out``. With ``batch_norm`` each conv is followed
    by BatchNorm (gamma and beta per channel) and has no bias; without it each conv has a bias.

    Checked on six settings (most not in the lesson) against :func:`mlpconv_formula`, which
    the tests tie to the package's built block. The kit's counters (``count_parameters``,
    ``Module.parameters``) and builders are forbidden: the answer is arithmetic. A typed
    number is refused (it cannot follow the sizes).
    """
    exercise = "the parameter count of an mlpconv block"
    if not callable(fn):
        return Result(exercise, False, ["pass a function of the sizes (def my_mlpconv_parameters(c_in, c_out, kernel, "
                                        f"mlp_layers, batch_norm): ...), not a {type(fn).__name__}: a typed number "
                                        "cannot follow other sizes."])

    def as_tensor(*args):
        value = fn(*args)
        if isinstance(value, torch.Tensor):
            return value.double().reshape(())
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        return torch.tensor(float(value))

    as_tensor.__name__ = getattr(fn, "__name__", "fn")
    return check_function(
        exercise,
        as_tensor,
        _t(mlpconv_formula),
        _PARAM_CASES,
        mistakes=_PARAM_MISTAKES,
        output_names=("the count",),
        atol=0.5,
        rtol=0.0,
        reference_name="the mlpconv formula",
        forbid=_PARAM_FORBID,
    )


# --------------------------------------------------------------------------- the larger exercise: the block
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.PReLU, nn.Tanh, nn.Sigmoid, nn.Softplus,
                nn.Mish, nn.ReLU6, nn.SELU, nn.CELU, nn.Hardtanh, nn.Hardswish, nn.RReLU)
_DROPOUTS = (nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.FeatureAlphaDropout)

#: (name, c_in, c_out, kernel, stride, mlp_layers, H, W): several strides, kernels, depths, odd sizes.
BLOCK_CASES = [
    ("3 -> 8, 4x4 stride 2, 2 MLP layers, 16 x 16 input", 3, 8, 4, 2, 2, 16, 16),
    ("6 -> 16, 4x4 stride 1, 1 MLP layer, 9 x 11 input", 6, 16, 4, 1, 1, 9, 11),
    ("5 -> 12, 3x3 stride 1, 3 MLP layers, 7 x 7 input", 5, 12, 3, 1, 3, 7, 7),
    ("4 -> 6, 5x5 stride 2, no MLP layer, 13 x 10 input", 4, 6, 5, 2, 0, 13, 10),
]

_BLOCK_FORBID: list[Callable[..., Any]] = [mlpconv, conv_block, NINPatchGAN.__init__]


def _out_side(n: int, k: int, s: int) -> int:
    return (n + 2 * ((k - 1) // 2) - k) // s + 1


def _trace(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[nn.Module]]:
    """Run ``module`` on ``x`` and list the leaf modules in the order they ran."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: order.append(mod))
             for m in module.modules() if not list(m.children())]
    try:
        y = module(x)
    finally:
        for h in hooks:
            h.remove()
    return y, order


def _structure_hint(order: list[nn.Module], k: int, s: int, m: int) -> str | None:
    convs = [i for i, mod in enumerate(order) if isinstance(mod, nn.Conv2d)]
    if not convs:
        return ("no nn.Conv2d ran: build the block from nn.Conv2d, nn.BatchNorm2d, an activation module and "
                "nn.Dropout (the check reads the layers it sees run).")
    first = order[convs[0]]
    if tuple(first.kernel_size) != (k, k):
        return f"the block's first convolution must be {k}x{k} (the patch filter), got {tuple(first.kernel_size)}."
    rest = [order[i] for i in convs[1:]]
    if any(tuple(c.kernel_size) != (1, 1) for c in rest):
        return ("the MLP layers are 1x1 convolutions (kernel_size=1, padding 0): they look at one position only; "
                "a larger kernel would widen the receptive field.")
    if len(rest) < m:
        return (f"{m} 1x1 convolution(s) should follow the {k}x{k} one, {len(rest)} ran: the 1x1 convs ARE the micro "
                "MLP of the mlpconv block - one per MLP layer.")
    if len(rest) > m:
        return f"{len(rest)} 1x1 convolutions ran, the block has mlp_layers = {m}."
    if tuple(first.stride) != (s, s) or any(tuple(c.stride) != (1, 1) for c in rest):
        return (f"wrong stride placement: the stride {s} belongs to the {k}x{k} convolution; the 1x1 convs run at "
                "stride 1 on every position of its output.")
    if any(c.bias is not None for c in [first] + rest):
        return "a convolution followed by BatchNorm needs no bias (BN's shift replaces it): bias=False."
    bounds = convs + [len(order)]
    for n, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        seg = order[a + 1:b]
        where = "the first convolution" if n == 0 else f"1x1 convolution {n}"
        idx = {kind: next((i for i, mod in enumerate(seg) if isinstance(mod, cls)), None)
               for kind, cls in (("BatchNorm2d", nn.BatchNorm2d), ("activation", _ACTIVATIONS),
                                 ("Dropout", _DROPOUTS))}
        missing = [kind for kind, i in idx.items() if i is None]
        if missing:
            return (f"after {where} there is no {', no '.join(missing)}: every convolution of the block is "
                    "followed by BatchNorm, an activation and Dropout (seed 000, sec. 3.2.2) - without the "
                    "activation, stacked 1x1 convs collapse into one linear map. Use modules (nn.ReLU(), not "
                    "F.relu): the check reads the layers it sees run.")
        if not idx["BatchNorm2d"] < idx["activation"] < idx["Dropout"]:
            return (f"after {where} the order should be BatchNorm -> activation -> Dropout (seed 000, sec. 3.2.2).")
    return None


def _output_shape_hint(y: Any, name: str, c_out: int, H: int, W: int, k: int, s: int) -> str | None:
    """What is wrong with the block's output shape on a (2, c_in, H, W) input (None: right)."""
    want = (2, c_out, _out_side(H, k, s), _out_side(W, k, s))
    if isinstance(y, torch.Tensor) and tuple(y.shape) == want:
        return None
    got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
    hint = f"on {name}: the output is {got}, expected {want}"
    if isinstance(y, torch.Tensor) and y.dim() == 4 and tuple(y.shape[2:]) == (
            (H - k) // s + 1, (W - k) // s + 1):
        hint += f" - the {k}x{k} conv needs padding (kernel - 1) // 2 = {(k - 1) // 2}"
    elif isinstance(y, torch.Tensor) and y.dim() == 4 and y.shape[1] != c_out:
        hint += " - every conv of the block outputs c_out channels"
    elif isinstance(y, torch.Tensor) and y.dim() == 4 and s > 1 and tuple(y.shape[2:]) == (
            _out_side(H, k, 1), _out_side(W, k, 1)):
        hint += f" - the stride {s} is missing (it belongs to the {k}x{k} conv)"
    return hint + "."


def _layers_hint(block: nn.Module, order: list[nn.Module], name: str, c_in: int, c_out: int, k: int, s: int,
                 m: int) -> str | None:
    """The layers that ran (:func:`_structure_hint`) and the trainable parameter count against
    :func:`mlpconv_formula` (None: both right)."""
    hint = _structure_hint(order, k, s, m)
    if hint is not None:
        return f"on {name}: {hint}"
    n_params = sum(p.numel() for p in block.parameters() if p.requires_grad)
    expected = mlpconv_formula(c_in, c_out, k, m, True)
    if n_params != expected:
        return (f"on {name}: the block has {n_params:,} trainable parameters, the formula "
                f"k^2 c_in c_out + m c_out^2 + (1 + m) 2 c_out gives {expected:,}.")
    return None


def _dropout_hint(block: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str) -> str | None:
    """Eval mode must be deterministic (``y`` is the eval output) and dropout must act in train
    mode; None when both hold (the block is left in eval mode)."""
    with torch.no_grad():
        y2 = block(x)
    if not torch.equal(y, y2):
        return (f"on {name}: in eval mode two passes over the same input differ: nothing "
                "random should act in eval mode (nn.Dropout switches itself off).")
    block.train()
    with torch.no_grad():
        torch.manual_seed(0)
        t1 = block(x)
        t2 = block(x)
    if torch.equal(t1, t2):
        return (f"on {name}: in train mode two passes give the same output: dropout does "
                "not act (p > 0; seed 000's D uses dropout after every layer).")
    block.eval()
    return None


def _locality_hint(block: nn.Module, x: torch.Tensor, name: str, k: int, s: int) -> str | None:
    """The 1x1 layers are per-pixel and one output sees exactly its k x k window (None: right)."""
    H, W = x.shape[-2:]
    ho, wo = _out_side(H, k, s), _out_side(W, k, s)
    # Per pixel: change one input pixel, see which outputs move; they must lie in its k x k windows.
    pad = (k - 1) // 2
    i, j = H // 2, W // 2
    x_moved = x.clone()
    x_moved[:, :, i, j] += 3.0
    with torch.no_grad():
        y = block(x)                                     # again: the train passes moved BN's running stats
        moved = (block(x_moved) - y).abs().amax(dim=(0, 1)) > 1e-6          # (ho, wo)
    rows = torch.arange(ho) * s - pad
    cols = torch.arange(wo) * s - pad
    window = ((rows <= i) & (i <= rows + k - 1))[:, None] & ((cols <= j) & (j <= cols + k - 1))[None, :]
    if bool((moved & ~window).any()):
        return (f"on {name}: changing input pixel ({i}, {j}) changed outputs whose "
                f"{k}x{k} window does not hold it: the layers after the first must be "
                "per-pixel (1x1, padding 0, no pooling or mixing across positions).")
    if not bool(moved.any()):
        return f"on {name}: changing an input pixel changed no output at all."
    # The receptive field of one output, from the gradient: at most k x k, and exactly k x k here.
    xg = x.clone().requires_grad_(True)
    oi, oj = ho // 2, wo // 2
    block(xg)[:, :, oi, oj].abs().sum().backward()
    support = xg.grad.abs().sum(dim=(0, 1)).nonzero()
    block.zero_grad(set_to_none=True)
    if support.numel():
        r0, r1 = int(support[:, 0].min()), int(support[:, 0].max())
        c0, c1 = int(support[:, 1].min()), int(support[:, 1].max())
        lo_r, lo_c = oi * s - pad, oj * s - pad
        if r0 < max(lo_r, 0) or r1 > min(lo_r + k - 1, H - 1) or c0 < max(lo_c, 0) or c1 > min(lo_c + k - 1, W - 1):
            return (f"on {name}: output ({oi}, {oj}) sees input rows {r0}-{r1} and columns "
                    f"{c0}-{c1}; its receptive field should be the {k}x{k} window at "
                    f"rows {lo_r}-{lo_r + k - 1}, columns {lo_c}-{lo_c + k - 1}.")
    return None


def check_mlpconv_block(fn: Callable[..., nn.Module]) -> Result:
    """Lesson 04 (the part's larger exercise): ``fn(c_in, c_out, kernel, stride, mlp_layers) -> nn.Module``,
    one NIN mlpconv block of seed 000's discriminator (sec. 3.2.2, fig. 3):

        Conv2d(c_in, c_out, kernel, stride, padding=(kernel - 1) // 2, bias=False) -> BatchNorm2d -> act -> Dropout
        mlp_layers x [Conv2d(c_out, c_out, 1, bias=False) -> BatchNorm2d -> act -> Dropout]

    On four settings (strides 1 and 2, kernels 3-5, 0-3 MLP layers, odd sizes) the check
    verifies: the output shape; the layers that run (a k x k conv with the stride, then 1x1
    convs at stride 1, each followed by BatchNorm, an activation and Dropout, in that order);
    the parameter count against :func:`mlpconv_formula`; that eval mode is deterministic and
    that dropout acts in train mode; that the receptive field is k x k and the 1x1 layers are
    per-pixel (changing one input pixel changes only the outputs whose k x k window holds it).
    The kit's builders (``mlpconv``, ``conv_block``, ``NINPatchGAN``) are forbidden.
    """
    exercise = "the mlpconv block"
    g = torch.Generator().manual_seed(40)
    for name, c_in, c_out, k, s, m, H, W in BLOCK_CASES:
        block, verdict = run_student(exercise, fn, c_in, c_out, k, s, m, forbid=_BLOCK_FORBID, case=name)
        if verdict is not None:
            return verdict
        if not isinstance(block, nn.Module):
            return Result(exercise, False, [f"on {name}: return an nn.Module (e.g. nn.Sequential(...)), "
                                            f"got {type(block).__name__}."])
        x = torch.randn(2, c_in, H, W, generator=g)
        block.eval()
        with torch.no_grad():
            traced, verdict = run_student(exercise, _trace, block, x, forbid=_BLOCK_FORBID, case=name)
        if verdict is not None:
            return verdict
        y, order = traced
        # each step is checked only when the ones before it hold (the first failure is the hint)
        hint = (_output_shape_hint(y, name, c_out, H, W, k, s)
                or _layers_hint(block, order, name, c_in, c_out, k, s, m)
                or _dropout_hint(block, x, y, name)
                or _locality_hint(block, x, name, k, s))
        if hint is not None:
            return Result(exercise, False, [hint])
    return Result(exercise, True, [], f"right shapes, layers, parameter counts, dropout, a k x k receptive field and "
                                      f"per-pixel 1x1 layers on {len(BLOCK_CASES)} settings "
                                      f"({'; '.join(c[0] for c in BLOCK_CASES)}).")
