"""Lesson 07: the motion-blur check and the trajectory / blur figures."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import convolve

from lessons_lib import viz
from lessons_lib.data.blur import KernelBank, blur, make_blurred_batch, motion_blur_kernel, rasterize, trajectory
from lessons_lib.exercises import check_motion_blur


def _per_channel_scipy(images, kernel):
    # scipy.ndimage.convolve IS a convolution (it flips the kernel); mode "mirror" is
    # torch's "reflect" (the edge pixel is not repeated).
    k = kernel.double().numpy()
    out = np.stack([[convolve(c.double().numpy(), k, mode="mirror") for c in img] for img in images])
    return torch.from_numpy(out).float()


def _grouped(images, kernel):
    B, C, H, W = images.shape
    n = kernel.shape[-1]
    x = F.pad(images.reshape(1, B * C, H, W), (n // 2,) * 4, mode="reflect")
    return F.conv2d(x, kernel.flip(-1, -2).expand(B * C, 1, n, n), groups=B * C).reshape(B, C, H, W)


def _per_channel_loop(images, kernel):
    # one channel at a time, the flipped kernel through F.conv2d
    n = kernel.shape[-1]
    w = kernel.flip(-1, -2)[None, None]
    out = [F.conv2d(F.pad(images[b:b + 1, c:c + 1], (n // 2,) * 4, mode="reflect"), w)
           for b in range(images.shape[0]) for c in range(images.shape[1])]
    return torch.cat(out, dim=1).reshape(images.shape)


@pytest.mark.parametrize("fn", [_grouped, _per_channel_loop])
def test_right_answers_pass(fn):
    r = check_motion_blur(fn)
    assert r.passed, r
    assert r.status == "passed" and "3 cases" in r.detail


@pytest.mark.parametrize("fn", [blur, _per_channel_scipy,
                                lambda images, kernel: blur(images, kernel),
                                lambda images, kernel: make_blurred_batch(images, KernelBank.from_tensor(kernel[None]))[0]])
def test_the_kits_blur_and_scipys_convolution_are_forbidden(fn):
    r = check_motion_blur(fn)
    assert not r.passed and r.status == "wrong"
    assert "the check runs your code with those calls watched" in r.message
    assert "blur" in r.message or "convolve" in r.message


def test_the_stub_is_not_done():
    def stub(images, kernel):
        raise NotImplementedError("write the blur")

    r = check_motion_blur(stub)
    assert r.status == "not_done" and "Not done yet" in r.message


def test_the_reference_moves_the_image_like_a_convolution():
    # the check's first case, independently: all mass one pixel below and two right of the
    # centre moves the image 1 down and 2 right (away from the reflected border)
    x = torch.rand(1, 1, 12, 14)
    k = torch.zeros(5, 5)
    k[3, 4] = 1.0
    y = blur(x, k)
    assert torch.allclose(y[0, 0, 1:, 2:], x[0, 0, :-1, :-2])


def test_mistakes_get_their_hint_and_nothing_raises():
    def no_flip(images, kernel):
        return _grouped(images, kernel.flip(-1, -2))

    def zero_pad(images, kernel):
        B, C, H, W = images.shape
        n = kernel.shape[-1]
        w = kernel.flip(-1, -2).expand(B * C, 1, n, n)
        return F.conv2d(images.reshape(1, B * C, H, W), w, padding=n // 2, groups=B * C).reshape(B, C, H, W)

    r = check_motion_blur(no_flip)
    assert not r.passed and "correlation" in r.message and "flip" in r.message
    r = check_motion_blur(zero_pad)
    assert not r.passed and "reflect" in r.message
    r = check_motion_blur(lambda images, kernel: images)
    assert not r.passed and "differs" in r.message
    r = check_motion_blur(lambda images, kernel: 1 / 0)
    assert not r.passed and "ZeroDivisionError" in r.message
    r = check_motion_blur(lambda images, kernel: images[:, :1])
    assert not r.passed and "shape" in r.message


def test_trajectory_and_blur_figures():
    path = trajectory(canvas=15, rng=0)
    k = rasterize(path, 15)
    fig = viz.plot_trajectory(path, k)
    assert len(fig.axes) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="n_points, 2"):
        viz.plot_trajectory(path[:, :1], k)
    face = torch.rand(1, 3, 24, 24)
    fig = viz.show_blur(face, motion_blur_kernel(5, seed=0))
    assert len(fig.axes) == 3
    plt.close(fig)
