"""lessons_lib.pipeline: Colorizer on tiny models trained by the engine, recombination, gamut, evaluation.

The models are the kit's own recipes shrunk to 32 px and 2 training steps (seconds on a
CPU): a Lab pix2pix (G: L -> ab), a Lab pix2pix with the identity loss (G: (L, 0, 0) -> ab)
and seed 000's RGB model (G: gray3 -> RGB). References come from scikit-image (Lab) and
torch's own bilinear interpolation.
"""
from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import color as skcolor
from torch import nn

from lessons_lib import LessonsError
from lessons_lib.color import lab_to_rgb, normalize_lab, rgb_uint8_to_lab
from lessons_lib.data import (
    image_to_tensor,
    lab_batch,
    make_loader,
    synthetic_image,
    tensor_to_image,
)
from lessons_lib.metrics import UNAVAILABLE, colorfulness
from lessons_lib.models import register
from lessons_lib.pipeline import (
    Colorizer,
    evaluate_colorizer,
    format_evaluation,
    lab_to_rgb_keep_lightness,
    recombine,
)
from lessons_lib.recipes import get_recipe, run_recipe

RUNS = {
    # name: (recipe, extra overrides) -> the generator's input layout in the card
    "lab": ("pix2pix", {}),
    "lab_identity": ("pix2pix", {"lambda_identity": 50.0}),
    "rgb": ("seed000_full", {}),
}


# tiny nets: one torch thread per test (the shared fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three run folders, each trained for 2 steps by the engine (model.safetensors + card)."""
    torch.set_num_threads(1)
    out = {}
    for name, (recipe, extra) in RUNS.items():
        r = get_recipe(recipe).smoke()
        folder = tmp_path_factory.mktemp(name)
        run_recipe(r, out=str(folder), device="cpu", sample_every=-1, eval_every=-1, seed=3, **extra)
        out[name] = folder
    return out


def _photo(w: int, h: int, index: int = 0) -> Image.Image:
    """A colourful w x h photo: a synthetic landscape resized (aspect changed on purpose)."""
    return tensor_to_image(synthetic_image(index, 64, seed=7)).resize((w, h), Image.Resampling.BICUBIC)


def _sk_L(img: Image.Image) -> np.ndarray:
    return skcolor.rgb2lab(np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0)[..., 0]


# --------------------------------------------------------------------------- card facts
def test_card_facts_come_from_the_engine(runs):
    lab, idt, rgb = (Colorizer(runs[k], device="cpu") for k in ("lab", "lab_identity", "rgb"))
    assert (lab.size, lab.color_space, lab.g_input) == (32, "lab", "L")
    assert (idt.color_space, idt.g_input) == ("lab", "L00")
    assert (rgb.color_space, rgb.g_input) == ("rgb", "gray3")
    assert lab.card["recipe"] == "pix2pix" and rgb.card["recipe"] == "seed000_full"
    assert not lab.has_noise
    assert lab._model is None  # nothing loaded until the first call


def test_weights_may_be_the_folder_the_safetensors_or_the_card(runs):
    img = _photo(40, 24)
    folder = runs["lab"]
    outs = [np.asarray(Colorizer(w, device="cpu")(img))
            for w in (folder, folder / "model.safetensors", folder / "model.json")]
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])


# --------------------------------------------------------------------------- same size, same L
@pytest.mark.parametrize("name", list(RUNS))
def test_output_has_the_input_size_and_its_lightness(runs, name):
    img = _photo(37, 53)
    out = Colorizer(runs[name], device="cpu")(img)
    assert out.mode == "RGB" and out.size == (37, 53)
    # L* of the output equals L* of the input (scikit-image as the reference): the model's
    # chroma is recombined with the original L, gamut-mapped without touching L
    assert np.abs(_sk_L(out) - _sk_L(img)).max() < 0.5
    # and the model did add colour (its ab are not all zero)
    ab = skcolor.rgb2lab(np.asarray(out) / 255.0)[..., 1:]
    assert np.abs(ab).max() > 1.0


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_gray_rgba_palette_and_16bit_inputs(runs, mode):
    img = _photo(37, 53)
    if mode == "RGBA":
        src = img.convert("RGBA")
        src.putalpha(200)  # composited on white by load_image
    elif mode == "I;16":
        src = Image.fromarray((np.asarray(img.convert("L"), dtype=np.uint16) * 257).astype(np.uint16))
        assert src.mode.startswith("I;16")
    else:
        src = img.convert(mode)
    out = Colorizer(runs["lab"], device="cpu")(src)
    assert out.size == (37, 53) and out.mode == "RGB"
    from lessons_lib.data import load_image

    assert np.abs(_sk_L(out) - _sk_L(load_image(src))).max() < 0.5


def test_path_bytes_and_array_inputs_give_the_same_result(runs, tmp_path):
    img = _photo(45, 31)
    path = tmp_path / "in.png"
    img.save(path)
    c = Colorizer(runs["rgb"], device="cpu")
    ref = np.asarray(c(img))
    assert np.array_equal(np.asarray(c(str(path))), ref)
    assert np.array_equal(np.asarray(c(path.read_bytes())), ref)
    assert np.array_equal(np.asarray(c(np.asarray(img))), ref)


def test_exif_orientation_is_honoured(runs):
    img = _photo(40, 24)
    rotated = img.transpose(Image.Transpose.ROTATE_90)  # 24 x 40 pixels stored...
    exif = Image.Exif()
    exif[0x0112] = 8  # ...displayed rotated 90 degrees back: 40 x 24
    buf = io.BytesIO()
    rotated.save(buf, format="PNG", exif=exif.tobytes())
    out = Colorizer(runs["lab"], device="cpu")(buf.getvalue())
    assert out.size == (40, 24)


def test_one_pixel_image(runs):
    img = Image.new("RGB", (1, 1), (200, 30, 40))
    out = Colorizer(runs["lab"], device="cpu")(img)
    assert out.size == (1, 1)
    assert abs(_sk_L(out)[0, 0] - _sk_L(img)[0, 0]) < 0.5


# --------------------------------------------------------------------------- the model path
def test_call_matches_colorize_tensor_at_model_size(runs):
    """A photo of the model's size: the PIL path and the batched tensor path agree."""
    c = Colorizer(runs["lab_identity"], device="cpu")
    img = _photo(32, 32, index=3)
    out = np.asarray(c(img)).astype(np.float64) / 255.0
    L, _ = lab_batch(image_to_tensor(img)[None], "cpu", "lab")
    ref = c.colorize_tensor(L)[0].permute(1, 2, 0).double().numpy()
    assert np.abs(out - ref).max() <= 0.5 / 255 + 1e-6


def test_rgb_model_uses_the_ab_of_its_rgb_prediction(runs):
    """Seed 000's G predicts RGB from gray3; the pipeline takes that RGB's ab (skimage reference)."""
    c = Colorizer(runs["rgb"], device="cpu")
    img = _photo(32, 32, index=1)
    rgb8 = image_to_tensor(img)[None]
    gray3, _ = lab_batch(rgb8, "cpu", "rgb")                              # what G was trained on
    with torch.no_grad():
        g_rgb = ((c.model(gray3) + 1) / 2).clamp(0, 1)[0].permute(1, 2, 0).double().numpy()
    ref_ab = skcolor.rgb2lab(g_rgb)[..., 1:] / 110.0
    L, _ = normalize_lab(rgb_uint8_to_lab(rgb8))
    ab = c.predict_ab(L)[0].permute(1, 2, 0).double().numpy()
    assert np.abs(ab - ref_ab).max() < 2e-3


def test_predict_ab_resizes_to_the_model_size_and_back(runs):
    c = Colorizer(runs["lab"], device="cpu")
    L = torch.rand(2, 1, 20, 44) * 2 - 1
    ab = c.predict_ab(L)
    assert ab.shape == (2, 2, 20, 44)
    small = F.interpolate(L, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        ref = F.interpolate(c.model(small), size=(20, 44), mode="bilinear", align_corners=False)
    torch.testing.assert_close(ab, ref)


def test_predict_ab_rejects_bad_tensors(runs):
    c = Colorizer(runs["lab"], device="cpu")
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        c.predict_ab(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="L/50 - 1"):
        c.predict_ab(torch.full((1, 1, 32, 32), 60.0))


@pytest.mark.parametrize("kind", ["lab", "rgb"])
def test_chroma_scales_the_predicted_ab(runs, kind):
    L = torch.rand(2, 1, 32, 32) * 2 - 1
    base = Colorizer(runs[kind], device="cpu").predict_ab(L)
    torch.testing.assert_close(Colorizer(runs[kind], device="cpu", chroma=1.5).predict_ab(L), base * 1.5)
    assert torch.equal(Colorizer(runs[kind], device="cpu", chroma=0).predict_ab(L), torch.zeros_like(base))
    gray = Colorizer(runs[kind], device="cpu", chroma=0)(Image.new("RGB", (20, 14), (90, 140, 60)))
    arr = np.asarray(gray).astype(int)
    assert np.abs(arr - arr[..., :1]).max() <= 1          # chroma 0: R = G = B (the photo's gray)


@pytest.mark.parametrize("bad, match", [(-0.1, "between 0"), (3.5, "between 0"), ("vivid", "must be a number")])
def test_bad_chroma_is_refused(runs, bad, match):
    with pytest.raises(LessonsError, match=match):
        Colorizer(runs["lab"], device="cpu", chroma=bad)


# --------------------------------------------------------------------------- recombination
def test_banded_recombination_equals_the_unbanded_one(runs):
    img = _photo(151, 97, index=2)
    whole = Colorizer(runs["lab"], device="cpu", band_pixels=10**9)(img)
    banded = Colorizer(runs["lab"], device="cpu", band_pixels=151 * 7 + 5)(img)  # bands of 7 rows
    one_row = Colorizer(runs["lab"], device="cpu", band_pixels=1)(img)           # one row at a time
    assert np.array_equal(np.asarray(whole), np.asarray(banded))
    assert np.array_equal(np.asarray(whole), np.asarray(one_row))


@pytest.mark.parametrize("size", [(75, 41), (5, 3), (16, 16)])  # up, down and same size
def test_recombine_upsamples_like_torch_bilinear(size):
    w, h = size
    g = torch.Generator().manual_seed(0)
    ab = (torch.rand(2, 16, 16, generator=g) - 0.5) * 60                     # Lab units
    img = _photo(w, h, index=4)
    out = recombine(img, ab, band_pixels=2 * w)                              # bands of 2 rows
    L = rgb_uint8_to_lab(image_to_tensor(img)[None])[:, :1]
    ab_ref = F.interpolate(ab[None], size=(h, w), mode="bilinear", align_corners=False)
    ref = (lab_to_rgb_keep_lightness(torch.cat([L, ab_ref], 1))[0] * 255).round().to(torch.uint8)
    got = image_to_tensor(out)
    assert (got.int() - ref.int()).abs().max() <= 1  # float round-off may flip a rounding


def test_keep_lightness_maps_out_of_gamut_chroma_without_changing_L_or_hue():
    L = torch.tensor([5.0, 30.0, 50.0, 70.0, 95.0, 50.0, 60.0]).view(1, 1, 7, 1).expand(1, 1, 7, 8)
    ang = torch.linspace(0, 2 * np.pi, 9)[:-1]
    chroma = torch.tensor([120.0, 120.0, 120.0, 120.0, 120.0, 5.0, 20.0]).view(7, 1)
    ab = torch.stack([chroma * torch.cos(ang), chroma * torch.sin(ang)])[None]  # (1, 2, 7, 8)
    lab = torch.cat([L, ab], 1).double()
    rgb = lab_to_rgb_keep_lightness(lab)
    assert rgb.min() >= 0 and rgb.max() <= 1
    back = torch.from_numpy(skcolor.rgb2lab(rgb[0].permute(1, 2, 0).numpy())).permute(2, 0, 1)
    assert (back[0] - lab[0, 0]).abs().max() < 0.05                       # L kept
    # hue kept: the ab direction is the requested one wherever chroma is left
    dot = (back[1:] * lab[0, 1:]).sum(0) / (back[1:].norm(dim=0) * lab[0, 1:].norm(dim=0))
    assert dot[back[1:].norm(dim=0) > 2].min() > 0.999
    # chroma 120 is out of gamut at every lightness here; it was reduced, and to the
    # boundary: the kept share k of the chroma plus 1/256 falls outside sRGB
    k = back[1:].norm(dim=0) / lab[0, 1:].norm(dim=0)
    assert (k[:5] < 0.99).all()
    scale = torch.ones_like(lab)
    scale[:, 1:] = (k + 1 / 256)[None]
    out_more = lab_to_rgb(lab * scale, clip=False)[:, :, :5]
    assert ((out_more < 0) | (out_more > 1)).any(dim=1).all()
    # in-gamut colours are converted exactly as lab_to_rgb does
    torch.testing.assert_close(rgb[:, :, 5:], lab_to_rgb(lab)[:, :, 5:])


def _straightforward_keep_lightness(lab: torch.Tensor, steps: int = 8, tol: float = 1e-4) -> torch.Tensor:
    """The reference of the fast gamut mapping: bisect the chroma scale of *every* pixel with
    lab_to_rgb, testing its unclipped sRGB against [-tol, 1 + tol]; pixels inside keep k = 1."""
    L, ab = lab[:, :1], lab[:, 1:]

    def inside(k):
        rgb = lab_to_rgb(torch.cat([L, ab * k], 1), clip=False)
        return ((rgb >= -tol) & (rgb <= 1 + tol)).all(dim=1, keepdim=True)

    lo, hi = torch.zeros_like(L), torch.ones_like(L)
    for _ in range(steps):
        mid = (lo + hi) / 2
        ok = inside(mid)
        lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
    k = torch.where(inside(torch.ones_like(L)), torch.ones_like(L), lo)
    return lab_to_rgb(torch.cat([L, ab * k], 1))


def _assert_same_up_to_8bit_rounding(got: torch.Tensor, ref: torch.Tensor, lab: torch.Tensor) -> None:
    """8-bit images (B, 3, H, W): equal but for float round-off. One level where 255 x the
    value is within round-off of .5; more only where a bisection trial point lies within
    round-off of the gamut boundary (the two paths then keep chroma scales one step, 1/256,
    apart: a colour difference below 1 ab unit, though near a channel's black it is several
    levels of that channel). Both are rare: ~1e-4 and ~5e-5 of the pixels here (a wrong
    number of bisection steps changes 40% of them)."""
    diff = (got.int() - ref.int()).abs().amax(dim=1)                          # (B, H, W)
    assert (diff > 0).float().mean() < 2e-3
    far = diff > 1
    assert far.float().mean() < 5e-4
    if far.any():
        to_lab = lambda x: torch.from_numpy(skcolor.rgb2lab(x.permute(0, 2, 3, 1).double().numpy() / 255.0))
        d_ab = (to_lab(got) - to_lab(ref))[..., 1:].norm(dim=-1)             # (B, H, W)
        chroma = lab[:, 1:].double().norm(dim=1)
        assert (d_ab[far] <= chroma[far] / 256 + 1.0).all()


def test_fast_gamut_mapping_equals_the_straightforward_bisection():
    """lab_to_rgb_keep_lightness (float) and recombine's 8-bit path against the formula, on a
    random batch of lightnesses with mostly out-of-gamut chroma (|ab| up to 110 in every hue)."""
    g = torch.Generator().manual_seed(0)
    rgb8 = torch.randint(0, 256, (2, 3, 128, 128), generator=g, dtype=torch.uint8)  # every lightness
    L = rgb_uint8_to_lab(rgb8)[:, :1]
    ab = torch.tanh(torch.randn(2, 2, 128, 128, generator=g) * 2) * 110
    lab = torch.cat([L, ab], 1)
    ref = _straightforward_keep_lightness(lab)
    unclipped = lab_to_rgb(lab, clip=False)
    assert ((unclipped < 0) | (unclipped > 1)).any(dim=1).float().mean() > 0.5  # the case to speed up
    ref8 = (ref * 255).round().to(torch.uint8)
    fast = lab_to_rgb_keep_lightness(lab)
    _assert_same_up_to_8bit_rounding((fast * 255).round().to(torch.uint8), ref8, lab)
    # the 8-bit path of recombine: the photo's own L, the ab map at the photo's size
    # (bilinear resampling at scale 1 is the identity), in bands of 10 rows
    for i in range(2):
        img = tensor_to_image(rgb8[i])
        got = image_to_tensor(recombine(img, ab[i], band_pixels=128 * 10))[None]
        _assert_same_up_to_8bit_rounding(got, ref8[i:i + 1], lab[i:i + 1])


# --------------------------------------------------------------------------- noise models
@register("test_pipeline_noisy_g")
class _NoisyG(nn.Module):
    """L -> ab plus noise drawn from the generator the pipeline passes (ColorGAN's contract)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)  # (B, 2, H, W)

    def forward(self, x, generator=None):
        noise = torch.randn(x.shape[0], 2, *x.shape[2:], generator=generator, device=x.device)
        return torch.tanh(self.conv(x) + 0.5 * noise)


def test_seed_picks_the_colouring_of_a_noise_model(tmp_path):
    from lessons_lib.checkpoints import save_model
    from lessons_lib.models import build_model

    torch.manual_seed(0)
    card = {"task": "colorization", "recipe": "test", "size": 16, "color_space": "lab",
            "g_input": "L", "g_noise": True}
    save_model(build_model("test_pipeline_noisy_g"), tmp_path / "model", card)
    c = Colorizer(tmp_path, device="cpu")
    img = _photo(20, 12)
    a, b, a2, default = (np.asarray(c(img, seed=s)) for s in (1, 2, 1, None))
    assert np.array_equal(a, a2)                     # one seed, one colouring
    assert not np.array_equal(a, b)                  # another seed, another colouring
    assert np.array_equal(default, np.asarray(c(img, seed=0)))  # no seed = seed 0


# --------------------------------------------------------------------------- errors
def test_missing_weights_say_how_to_get_a_model(tmp_path):
    with pytest.raises(LessonsError, match=r"no model at .*nowhere.*lessons train pix2pix --out"):
        Colorizer(tmp_path / "nowhere")
    with pytest.raises(LessonsError, match=r"no model at .*model.safetensors"):
        Colorizer(tmp_path)  # an empty folder


def test_a_restoration_card_is_refused(runs, tmp_path):
    for f in ("model.safetensors", "model.json"):
        shutil.copy(runs["lab"] / f, tmp_path / f)
    card = json.loads((tmp_path / "model.json").read_text())
    card["task"] = "restoration"
    (tmp_path / "model.json").write_text(json.dumps(card))
    c = Colorizer(tmp_path, device="cpu")
    with pytest.raises(LessonsError, match=r"holds a restoration model.*use `lessons restore`"):
        c(_photo(8, 8))


def test_corrupt_image_error_comes_from_load_image(runs, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    with pytest.raises(LessonsError, match=r"bad.jpg is not a readable image"):
        Colorizer(runs["lab"], device="cpu")(bad)


def test_too_many_pixels_is_refused_before_decoding(runs):
    c = Colorizer(runs["lab"], device="cpu", max_pixels=100)
    with pytest.raises(LessonsError, match="more than the limit"):
        c(_photo(20, 20))


# --------------------------------------------------------------------------- evaluation
def test_evaluate_reports_model_and_gray_baseline(runs):
    c = Colorizer(runs["lab"], device="cpu")
    res = evaluate_colorizer(c, "synthetic", split="val", size=32, limit=6, batch_size=4)
    assert res["n_images"] == 6 and res["size"] == 32 and res["recipe"] == "pix2pix"
    keys = {"mae_rgb", "mae_ab", "auc", "psnr", "ssim", "colorfulness", "colorfulness_gt",
            "colorfulness_gap", "lpips", "fid", "n_images"}
    for name in ("model", "gray_baseline"):
        assert keys <= set(res[name])
        assert set(res[name]["mae_rgb"]) == {"R", "G", "B", "mean"}
        assert set(res[name]["mae_ab"]) == {"a", "b", "mean"}
    # references computed here from the same centre crops
    crops = torch.cat(list(make_loader("synthetic", 32, 6, split="val", train=False, limit=6)))
    lab_np = skcolor.rgb2lab(crops.permute(0, 2, 3, 1).numpy() / 255.0)
    base = res["gray_baseline"]
    # the gray baseline predicts ab = 0: its ab MAE is the photos' mean |a|, |b|
    assert base["mae_ab"]["a"] == pytest.approx(np.abs(lab_np[..., 1]).mean(), abs=0.05)
    assert base["mae_ab"]["b"] == pytest.approx(np.abs(lab_np[..., 2]).mean(), abs=0.05)
    assert base["colorfulness"] < 0.5                                    # gray has no colour
    cf_gt = float(colorfulness(crops))
    assert base["colorfulness_gt"] == pytest.approx(cf_gt, rel=1e-4)
    assert res["model"]["colorfulness_gt"] == pytest.approx(cf_gt, rel=1e-4)
    assert base["colorfulness_gap"] == pytest.approx(base["colorfulness"] - cf_gt, abs=1e-3)
    json.dumps(res)  # plain JSON
    table = format_evaluation(res)
    assert "gray input" in table and "PSNR (dB)" in table and "MAE ab (Lab units) a" in table


def test_evaluation_does_not_depend_on_the_batch_size(runs):
    """Per-batch reports combine exactly: batches of 3 and one batch of 6 agree."""
    c = Colorizer(runs["rgb"], device="cpu")
    a = evaluate_colorizer(c, "synthetic", size=32, limit=6, batch_size=3, baseline=False)
    b = evaluate_colorizer(c, "synthetic", size=32, limit=6, batch_size=6, baseline=False)
    assert "gray_baseline" not in a
    for k in ("auc", "psnr", "ssim", "colorfulness", "colorfulness_gap"):
        assert a["model"][k] == pytest.approx(b["model"][k], rel=1e-5, abs=1e-6), k
    assert a["model"]["mae_ab"]["mean"] == pytest.approx(b["model"]["mae_ab"]["mean"], rel=1e-5)
    if isinstance(a["model"]["lpips"], str):
        assert a["model"]["lpips"] == UNAVAILABLE


def test_fid_is_computed_once_on_the_whole_set(runs, monkeypatch):
    """FID is not a mean over batches: with its weights present (faked here), the evaluation
    computes it on all images together, not per batch."""
    from lessons_lib import metrics

    calls = []

    def fake_fid(pred, target, batch_size=16):
        calls.append((pred.shape[0], target.shape[0]))
        return float(pred.shape[0])  # a value that tells the set size

    # the package (the evaluation imports from it) and the module of colorization_report
    for where in (metrics, metrics.reports):
        monkeypatch.setattr(where, "fid_available", lambda: True)
        monkeypatch.setattr(where, "fid", fake_fid)
    res = evaluate_colorizer(Colorizer(runs["lab"], device="cpu"), "synthetic", size=32, limit=5, batch_size=2)
    assert res["model"]["fid"] == 5.0 and res["gray_baseline"]["fid"] == 5.0
    assert calls.count((5, 5)) == 2  # model and gray input, each on the 5 images
