"""lessons_lib.color against scikit-image (the reference pix2pix loader's Lab conversion).

Real photos bundled with scikit-image (no download), random colours, out-of-gamut Lab,
gradients at the ends of the range, the model normalisation and the gray conversions.
Largest differences seen on the course machine (float32 vs skimage's float64): about
8e-5 Lab units on the photos, 4e-6 in RGB on the way back; the tolerances leave ~10x room.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color as skcolor
from skimage import data as skdata

from lessons_lib import color

LAB_TOL = 1e-3  # Lab units (L in 0..100): float32 against skimage's float64
RGB_TOL = 1e-4  # RGB in [0, 1]


def _chw(img: np.ndarray) -> torch.Tensor:
    """HxWx3 numpy -> (3, H, W) tensor, dtype kept."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous()


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).double().numpy()


def _random_lab(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """L in [0, 100], a and b in [-128, 127]: most of these are outside the sRGB gamut."""
    return np.stack(
        [rng.uniform(0, 100, shape), rng.uniform(-128, 127, shape), rng.uniform(-128, 127, shape)], -1
    )


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    # Three colour photos scikit-image ships, at half resolution (256x256, 150x226,
    # 200x300) to keep the test fast; rgb2lab on them is the reference.
    return {name: getattr(skdata, name)()[::2, ::2] for name in ("astronaut", "chelsea", "coffee")}


# --------------------------------------------------------------------------- RGB -> Lab
@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_rgb_to_lab_matches_skimage_on_photos(photos, name):
    img = photos[name]
    ref = skcolor.rgb2lab(img)
    u8 = _chw(img)
    via_lut = _hwc(color.rgb_uint8_to_lab(u8))
    via_float = _hwc(color.rgb_to_lab(u8.float() / 255.0))
    via_dispatch = _hwc(color.rgb_to_lab(u8))  # uint8 into rgb_to_lab takes the LUT path
    assert via_lut.shape == ref.shape
    assert np.abs(via_lut - ref).max() < LAB_TOL
    assert np.abs(via_float - ref).max() < LAB_TOL
    assert np.abs(via_dispatch - ref).max() < LAB_TOL
    # Not a trivially small image: L spans most of its range.
    assert ref[..., 0].max() - ref[..., 0].min() > 70


def test_rgb_to_lab_random_colours_batched_and_single():
    rng = np.random.default_rng(0)
    imgs = rng.random((3, 16, 24, 3))
    batch = torch.from_numpy(imgs).permute(0, 3, 1, 2).float()
    lab = color.rgb_to_lab(batch)
    assert lab.shape == (3, 3, 16, 24) and lab.dtype == torch.float32
    for i in range(3):
        ref = skcolor.rgb2lab(imgs[i].astype(np.float32).astype(np.float64))
        assert np.abs(_hwc(lab[i]) - ref).max() < LAB_TOL
        single = color.rgb_to_lab(batch[i])
        assert single.shape == (3, 16, 24)
        torch.testing.assert_close(single, lab[i], rtol=0, atol=1e-4)
    # float64 in, float64 out, and then the agreement is to machine precision.
    lab64 = color.rgb_to_lab(torch.from_numpy(imgs[0]).permute(2, 0, 1))
    assert lab64.dtype == torch.float64
    assert np.abs(_hwc(lab64) - skcolor.rgb2lab(imgs[0])).max() < 1e-9


def test_rgb_uint8_to_lab_every_level_and_random_pixels():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    # Every grey level and every pure primary level 0..255 appears at least once.
    levels = np.arange(256, dtype=np.uint8)
    img[0, :, :] = 0
    extra = np.zeros((4, 256, 3), np.uint8)
    extra[0] = levels[:, None]  # greys
    extra[1, :, 0] = levels  # reds
    extra[2, :, 1] = levels  # greens
    extra[3, :, 2] = levels  # blues
    for im in (img, extra):
        ref = skcolor.rgb2lab(im)
        ours = color.rgb_uint8_to_lab(_chw(im))
        assert np.abs(_hwc(ours) - ref).max() < LAB_TOL
    batch = torch.from_numpy(np.stack([img, img[::-1]])).permute(0, 3, 1, 2)
    out = color.rgb_uint8_to_lab(batch)
    assert out.shape == (2, 3, 20, 30)
    assert np.abs(_hwc(out[1]) - skcolor.rgb2lab(img[::-1])).max() < LAB_TOL
    with pytest.raises(TypeError, match="uint8"):
        color.rgb_uint8_to_lab(batch.float())


def test_blockwise_cpu_path_matches_one_pass(monkeypatch):
    """Large inputs are converted in cache-sized blocks (whole images or bands of rows);
    the result, and its gradient, must not depend on the block size."""
    torch.manual_seed(0)
    x = torch.rand(5, 3, 12, 10, dtype=torch.float64)
    ref_lab = color.rgb_to_lab(x)
    ref_rgb = color.lab_to_rgb(ref_lab)
    ref_u8 = color.rgb_uint8_to_lab((x * 255).round().to(torch.uint8))
    for block, threads in ((250, 2), (50, 2), (50, 1)):  # 2 images per block; bands of 5 rows
        monkeypatch.setattr(color, "_BLOCK_PIXELS", block)
        monkeypatch.setattr(torch, "get_num_threads", lambda n=threads: n)  # pool of 2, or a loop
        torch.testing.assert_close(color.rgb_to_lab(x), ref_lab, rtol=0, atol=1e-12)
        torch.testing.assert_close(color.lab_to_rgb(ref_lab), ref_rgb, rtol=0, atol=1e-12)
        torch.testing.assert_close(
            color.rgb_uint8_to_lab((x * 255).round().to(torch.uint8)), ref_u8, rtol=0, atol=1e-4
        )  # float32: the 3x3 products round differently for other batch shapes
        with torch.no_grad():  # an input that requires grad, under no_grad: no graph
            assert color.rgb_to_lab(x.clone().requires_grad_()).grad_fn is None
    # Gradients through the slice assignments: 2 images of 3x4 pixels, blocks of one image
    # (12 pixels) and bands of two rows (8 pixels).
    for block in (12, 8):
        monkeypatch.setattr(color, "_BLOCK_PIXELS", block)
        xg = x[:2, :, :3, :4].clone().requires_grad_()
        assert torch.autograd.gradcheck(color.rgb_to_lab, (xg,), fast_mode=True)
        lg = ref_lab[:2, :, :3, :4].clone().requires_grad_()
        assert torch.autograd.gradcheck(lambda z: color.lab_to_rgb(z, clip=False), (lg,), fast_mode=True)


# --------------------------------------------------------------------------- Lab -> RGB
@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_lab_to_rgb_matches_skimage_on_photos(photos, name):
    lab = skcolor.rgb2lab(photos[name])
    ref = skcolor.lab2rgb(lab)
    ours = _hwc(color.lab_to_rgb(_chw(lab).float()))
    assert np.abs(ours - ref).max() < RGB_TOL


def test_lab_to_rgb_out_of_gamut_is_clipped_like_skimage():
    rng = np.random.default_rng(2)
    lab = _random_lab(rng, (48, 64))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref = skcolor.lab2rgb(lab)
    # The sample really is out of gamut: skimage had to clip negative Z for some pixels.
    assert any("negative Z" in str(w.message) for w in caught)
    for dtype, tol in ((torch.float32, RGB_TOL), (torch.float64, 1e-10)):
        ours = color.lab_to_rgb(_chw(lab).to(dtype))
        assert not torch.isnan(ours).any()
        assert ours.min() >= 0.0 and ours.max() <= 1.0
        # Same clipping rule (Z < 0 -> 0, then RGB clipped to [0, 1]): agreement everywhere,
        # the pixels skimage warned about included.
        assert np.abs(_hwc(ours) - ref).max() < tol
    # Without the clip, out-of-gamut colours really leave [0, 1] (and stay finite).
    raw = color.lab_to_rgb(_chw(lab).float(), clip=False)
    assert torch.isfinite(raw).all()
    assert raw.min() < -0.1 and raw.max() > 1.1


def test_round_trip_rgb_lab_rgb():
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.random((2, 3, 17, 19))).float()
    back = color.lab_to_rgb(color.rgb_to_lab(x))
    torch.testing.assert_close(back, x, rtol=0, atol=RGB_TOL)
    u8 = torch.from_numpy(rng.integers(0, 256, (2, 3, 8, 8), dtype=np.uint8))
    back8 = (color.lab_to_rgb(color.rgb_uint8_to_lab(u8)) * 255).round().to(torch.uint8)
    assert torch.equal(back8, u8)


# --------------------------------------------------------------------------- gradients
def test_gradients_finite_including_exact_0_and_1():
    x = torch.rand(2, 3, 6, 6)
    x[0, :, 0, 0] = 0.0
    x[0, :, 0, 1] = 1.0
    x[1, 0] = 0.0  # a whole channel at 0
    x[1, 1] = 1.0  # and one at 1
    x.requires_grad_()
    color.rgb_to_lab(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0

    lab = torch.stack(
        [torch.tensor([0.0, 100.0, 50.0, 0.0]), torch.tensor([0.0, 0.0, 80.0, -128.0]),
         torch.tensor([0.0, 0.0, 127.0, -128.0])]
    ).view(3, 1, 4).requires_grad_()
    color.lab_to_rgb(lab).sum().backward()
    assert torch.isfinite(lab.grad).all()
    # Black and white are reached exactly (and so clipped): but L of the mid colour moves RGB.
    assert lab.grad[0, 0, 2] != 0


def test_gradient_matches_finite_differences():
    x = (torch.rand(1, 3, 4, 5, dtype=torch.float64) * 0.9 + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(color.rgb_to_lab, (x,))
    lab = color.rgb_to_lab(x.detach()).requires_grad_()
    assert torch.autograd.gradcheck(color.lab_to_rgb, (lab,))


# --------------------------------------------------------------------------- normalisation
def test_normalize_denormalize_inverse_and_ranges():
    rng = np.random.default_rng(4)
    lab = torch.from_numpy(_random_lab(rng, (8, 9))).permute(2, 0, 1).unsqueeze(0).float()
    L, ab = color.normalize_lab(lab)
    assert L.shape == (1, 1, 8, 9) and ab.shape == (1, 2, 8, 9)
    torch.testing.assert_close(L, lab[:, :1] / 50 - 1)
    torch.testing.assert_close(ab, lab[:, 1:] / 110)
    assert L.min() >= -1 and L.max() <= 1
    torch.testing.assert_close(color.denormalize_lab(L, ab), lab, rtol=0, atol=1e-4)
    # Unbatched too.
    L1, ab1 = color.normalize_lab(lab[0])
    assert L1.shape == (1, 8, 9)
    torch.testing.assert_close(color.denormalize_lab(L1, ab1), lab[0], rtol=0, atol=1e-4)
    # And the shortcuts used by the models.
    rgb = torch.rand(2, 3, 5, 5)
    Ln, abn = color.rgb_to_lab_normalized(rgb)
    torch.testing.assert_close(color.lab_normalized_to_rgb(Ln, abn), rgb, rtol=0, atol=RGB_TOL)
    with pytest.raises(ValueError, match=r"\(1, 2, 8, 9\)"):
        color.denormalize_lab(ab, ab)


# --------------------------------------------------------------------------- gray
def test_gray_lab_keeps_L_and_drops_colour(photos):
    img = _chw(photos["coffee"][::2, ::2])
    lab = color.rgb_to_lab(img)
    gray = color.rgb_to_gray(img, method="lab")
    assert gray.shape == img.shape
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    glab = color.rgb_to_lab(gray)
    assert (glab[0] - lab[0]).abs().max() < 1e-2  # same lightness
    assert glab[1:].abs().max() < 1e-2  # no colour left
    one = color.rgb_to_gray(img.unsqueeze(0), keep_channels=False)
    assert one.shape == (1, 1) + tuple(img.shape[1:])
    torch.testing.assert_close(color.gray_to_rgb(one)[0], gray.float() if gray.is_floating_point() else gray)


def test_gray_luma_matches_pil(photos):
    img = photos["chelsea"]
    pil = np.asarray(Image.fromarray(img).convert("L"), dtype=np.float64) / 255.0
    ours = color.rgb_to_gray(_chw(img), method="luma", keep_channels=False)[0].double().numpy()
    # PIL works in integers and rounds: within one 8-bit level.
    assert np.abs(ours - pil).max() <= 1 / 255 + 1e-6
    with pytest.raises(ValueError, match="unknown gray method 'hsv'"):
        color.rgb_to_gray(_chw(img), method="hsv")


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "fn", [color.rgb_to_lab, color.lab_to_rgb, color.rgb_to_gray, color.normalize_lab]
)
@pytest.mark.parametrize("shape", [(4, 5), (2, 4, 5, 6), (1, 1, 3, 5, 6), (5, 6, 3)])
def test_wrong_shapes_raise_with_the_shape(fn, shape):
    with pytest.raises(ValueError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        fn(torch.rand(shape))


def test_wrong_type_and_gray_shape():
    with pytest.raises(TypeError, match="torch.Tensor"):
        color.rgb_to_lab(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 4\)"):
        color.gray_to_rgb(torch.zeros(2, 3, 4, 4))


# --------------------------------------------------------------------------- device
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(5)
    u8 = torch.from_numpy(rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8))
    cpu = color.rgb_uint8_to_lab(u8)
    gpu = color.rgb_uint8_to_lab(u8.cuda())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-3)
    x = (u8.float() / 255).cuda().requires_grad_()
    lab = color.rgb_to_lab(x)
    torch.testing.assert_close(lab.cpu(), cpu, rtol=0, atol=1e-3)
    back = color.lab_to_rgb(lab)
    back.sum().backward()
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(back.detach().cpu(), u8.float() / 255, rtol=0, atol=RGB_TOL)
