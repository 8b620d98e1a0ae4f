"""Motion-blur kernels, the kernel bank and blurred pairs (lessons_lib.data.blur)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lessons_lib import LessonsError
from lessons_lib.data.blur import (
    BlurredPairs,
    KernelBank,
    blur,
    kernel_size_for,
    make_blurred_batch,
    motion_blur_kernel,
    rasterize,
    show_kernels,
    trajectory,
)


def _centre_of_mass(k: torch.Tensor) -> tuple[float, float]:
    n = k.shape[-1]
    ys, xs = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij")
    k = k.double()
    return float((k * ys).sum() / k.sum()), float((k * xs).sum() / k.sum())


@pytest.mark.parametrize("size", [9, 17, 71])
def test_kernel_is_a_centred_normalised_psf(size):
    k = motion_blur_kernel(size, seed=3)
    assert k.shape == (size, size) and k.dtype == torch.float32
    assert float(k.min()) >= 0.0
    assert abs(float(k.sum()) - 1.0) < 1e-5
    cy, cx = _centre_of_mass(k)
    c = (size - 1) / 2
    assert abs(cy - c) < 1e-3 and abs(cx - c) < 1e-3
    assert float(k.max()) < 0.9  # a blur, not a delta (the path is 60/64 N pixels long)


def test_kernel_determinism_and_variety():
    a = motion_blur_kernel(31, seed=7)
    b = motion_blur_kernel(31, seed=7)
    c = motion_blur_kernel(31, seed=8)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


@pytest.mark.parametrize("size", [0, 8, -3, 2.5])
def test_bad_kernel_size(size):
    with pytest.raises(ValueError, match="odd"):
        motion_blur_kernel(size, seed=0)


def test_trajectory_has_the_requested_length():
    t = trajectory(canvas=71, length=40.0, anxiety=0.005, n_points=500, rng=1)
    assert t.shape == (500, 2)
    assert np.allclose(t[0], 0.0)
    steps = np.linalg.norm(np.diff(t, axis=0), axis=1)
    assert np.allclose(steps, 40.0 / 499, rtol=1e-9)  # constant speed: the path is 40 px long
    straight = trajectory(canvas=71, length=30.0, anxiety=0.0, n_points=200, rng=2)
    assert np.isclose(np.linalg.norm(straight[-1] - straight[0]), 30.0)  # no anxiety: a straight line


def test_rasterize_bilinear_splatting_by_hand():
    # two points at (x, y) = (0, 0) and (0.5, 0): after centring the mean (0.25, 0) lands
    # on pixel (1, 1) of a 3x3 canvas: points at x = 0.75 and 1.25, y = 1.
    k = rasterize(np.array([[0.0, 0.0], [0.5, 0.0]]), 3)
    expected = torch.zeros(3, 3)
    expected[1, 0] = 0.5 * 0.25
    expected[1, 1] = 0.5 * 0.75 + 0.5 * 0.75
    expected[1, 2] = 0.5 * 0.25
    assert torch.allclose(k, expected, atol=1e-7)
    # a path longer than the canvas is shrunk about its centre, not clipped: sum stays 1
    long = rasterize(np.array([[0.0, 0.0], [100.0, 0.0]]), 5)
    assert abs(float(long.sum()) - 1) < 1e-6 and long[2, 0] > 0 and long[2, 4] > 0


def test_kernel_size_for():
    assert kernel_size_for(512) == 71
    assert kernel_size_for(64) == 9
    assert kernel_size_for(128) == 17
    assert kernel_size_for(16) == 3
    assert all(kernel_size_for(s) % 2 == 1 for s in range(1, 600, 7))
    with pytest.raises(ValueError):
        kernel_size_for(0)


def test_bank_is_reproducible_and_indexable(tmp_path):
    a = KernelBank(n=12, size=9, seed=0)
    b = KernelBank(n=12, size=9, seed=0)
    c = KernelBank(n=12, size=9, seed=1)
    assert torch.equal(a.kernels, b.kernels)
    assert (a.kernels - c.kernels).abs().max() > 1e-3
    assert len(a) == 12 and a[3].shape == (9, 9) and a[torch.tensor([0, 5])].shape == (2, 9, 9)
    assert torch.allclose(a.kernels.sum(dim=(1, 2)), torch.ones(12), atol=1e-5)
    # kernel i of a bank is the single kernel of its child seed; a smaller bank is a prefix
    assert torch.allclose(a[4], motion_blur_kernel(9, seed=a.kernel_seed(4)), atol=1e-6)
    assert torch.allclose(KernelBank(n=5, size=9, seed=0).kernels, a.kernels[:5], atol=1e-6)
    path = a.save(tmp_path / "bank.safetensors")
    loaded = KernelBank.load(path)
    assert torch.equal(loaded.kernels, a.kernels) and loaded.params["seed"] == 0


def test_bank_load_errors(tmp_path):
    with pytest.raises(LessonsError, match="does not exist"):
        KernelBank.load(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(LessonsError, match="not a readable kernel bank"):
        KernelBank.load(bad)
    with pytest.raises(ValueError, match="sum to 1"):
        KernelBank.from_tensor(torch.ones(2, 3, 3))
    with pytest.raises(ValueError, match="no kernel seeds"):
        KernelBank.from_tensor(torch.ones(2, 3, 3) / 9).kernel_seed(0)


def test_bank_of_1000_is_quick():
    t0 = time.perf_counter()
    bank = KernelBank(n=1000, size=71, seed=0)
    elapsed = time.perf_counter() - t0
    print(f"KernelBank(n=1000, size=71) built in {elapsed:.2f} s")
    assert bank.kernels.shape == (1000, 71, 71)
    assert elapsed < 20.0  # about 1-2 s on a 2-core machine; a per-kernel Python loop takes minutes


def test_delta_kernel_leaves_image_unchanged_and_constant_stays_constant():
    x = torch.rand(3, 3, 20, 24)
    delta = torch.zeros(5, 5)
    delta[2, 2] = 1.0
    assert torch.allclose(blur(x, delta), x, atol=1e-6)
    const = torch.full((2, 3, 16, 16), 0.37)
    k = KernelBank(n=2, size=9, seed=0).kernels
    assert torch.allclose(blur(const, k), const, atol=1e-6)


def test_blur_is_a_true_convolution_per_sample():
    x = torch.rand(2, 3, 12, 12)
    down = torch.zeros(3, 3)
    down[2, 1] = 1.0  # mass one row below the centre: y[i, j] = x[i - 1, j]
    y = blur(x, down)
    assert torch.allclose(y[:, :, 1:, :], x[:, :, :-1, :], atol=1e-6)
    # each image uses its own kernel: compare with a plain per-image reference
    ks = KernelBank(n=2, size=5, seed=3).kernels
    out = blur(x, ks)
    for b in range(2):
        ref = F.conv2d(F.pad(x[b : b + 1], (2, 2, 2, 2), mode="reflect"), ks[b].flip(0, 1).expand(3, 1, 5, 5), groups=3)
        assert torch.allclose(out[b : b + 1], ref, atol=1e-6)


def test_blur_errors():
    with pytest.raises(ValueError, match="too large"):
        blur(torch.rand(1, 3, 8, 8), torch.ones(21, 21) / 441)
    with pytest.raises(ValueError, match="one kernel per image"):
        blur(torch.rand(3, 3, 16, 16), torch.ones(2, 3, 3) / 9)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        blur(torch.rand(3, 16, 16), torch.ones(3, 3) / 9)


def test_blurred_batches():
    bank = KernelBank(n=20, size=9, seed=0)
    sharp = torch.rand(4, 3, 32, 32)
    g = torch.Generator().manual_seed(0)
    blurred, s, idx = make_blurred_batch(sharp, bank, g)
    assert blurred.shape == sharp.shape and s is sharp and idx.shape == (4,) and idx.dtype == torch.long
    assert torch.allclose(blurred, blur(sharp, bank[idx]).clamp(0, 1), atol=1e-6)
    assert float(blurred.min()) >= 0 and float(blurred.max()) <= 1
    # the same generator state gives the same pairs; noise adds the requested std
    b1, _, i1 = make_blurred_batch(sharp, bank, torch.Generator().manual_seed(5), noise_std=0.05)
    b2, _, i2 = make_blurred_batch(sharp, bank, torch.Generator().manual_seed(5), noise_std=0.05)
    assert torch.equal(b1, b2) and torch.equal(i1, i2)
    mid = torch.full((2, 3, 32, 32), 0.5)
    noisy, _, _ = make_blurred_batch(mid, bank, torch.Generator().manual_seed(1), noise_std=0.05)
    assert abs(float((noisy - 0.5).std()) - 0.05) < 0.005
    u8, _, _ = make_blurred_batch((sharp * 255).to(torch.uint8), bank, kernel_idx=idx)
    assert u8.dtype == torch.float32 and float(u8.max()) <= 1.0


def test_blurred_pairs_state_round_trip():
    pairs = BlurredPairs(KernelBank(n=10, size=5, seed=0), noise_std=0.01, seed=3)
    sharp = torch.rand(2, 3, 16, 16)
    state = pairs.state_dict()
    first = pairs(sharp)
    pairs.load_state_dict(state)
    again = pairs(sharp)
    assert torch.equal(first[0], again[0]) and torch.equal(first[2], again[2])


def test_show_kernels_returns_a_figure():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = show_kernels(KernelBank(n=6, size=9, seed=0), n=6, ncols=3)
    assert isinstance(fig, Figure)
    assert sum(1 for ax in fig.axes if ax.images) == 6
    import matplotlib.pyplot as plt

    plt.close(fig)
