"""lessons_lib.metrics against scikit-image and hand computations in numpy.

PSNR / SSIM: skimage.metrics on real photos with noise. Raw accuracy, AuC, MAE and
colorfulness: straightforward numpy versions of the published formulas. LPIPS / FID: the
"unavailable" path (no weights on disk), and the computation path on weights the test
writes itself into a temporary torch hub folder (random numbers, checked for the maths
and the plumbing only; a real figure needs the published weights).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data as skdata
from skimage import metrics as skmetrics

from lessons_lib import LessonsError, color, metrics


def _chw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)


@pytest.fixture(scope="module")
def noisy_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo, photo + Gaussian noise) in [0, 1] float64, three real photos at 1/4 size."""
    rng = np.random.default_rng(0)
    pairs = []
    for name, sigma in (("astronaut", 0.05), ("chelsea", 0.1), ("coffee", 0.2)):
        img = getattr(skdata, name)()[::4, ::4] / 255.0
        pairs.append((img, np.clip(img + rng.normal(0, sigma, img.shape), 0, 1)))
    return pairs


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An empty torch hub folder and no lpips package: no pretrained weights anywhere."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(metrics.pretrained, "_nets", {})
    real_find_spec = __import__("importlib.util").util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name == "lpips" else real_find_spec(name, *a)
    )
    return tmp_path / "torch" / "hub" / "checkpoints"


# --------------------------------------------------------------------------- PSNR / SSIM
def test_psnr_matches_skimage(noisy_pairs):
    for img, noisy in noisy_pairs:
        ref = skmetrics.peak_signal_noise_ratio(img, noisy, data_range=1.0)
        ours = metrics.psnr(_chw(noisy), _chw(img))
        assert abs(float(ours) - ref) < 1e-6
        ours32 = metrics.psnr(_chw(noisy).float(), _chw(img).float())
        assert abs(float(ours32) - ref) < 1e-3
        # data_range in 0-255 units gives the same figure on 0-255 data.
        assert abs(float(metrics.psnr(_chw(noisy) * 255, _chw(img) * 255, data_range=255.0)) - ref) < 1e-6
    assert float(metrics.psnr(_chw(img), _chw(img))) == float("inf")


def test_psnr_ssim_per_image_and_batch_mean(noisy_pairs):
    # Same size crops of the three photos make one batch.
    imgs = np.stack([p[0][:64, :64] for p in noisy_pairs])
    noisy = np.stack([p[1][:64, :64] for p in noisy_pairs])
    pb, tb = torch.from_numpy(noisy).permute(0, 3, 1, 2), torch.from_numpy(imgs).permute(0, 3, 1, 2)
    per_psnr = metrics.psnr(pb, tb, reduction="none")
    per_ssim = metrics.ssim(pb, tb, reduction="none")
    assert per_psnr.shape == (3,) and per_ssim.shape == (3,)
    for i in range(3):
        assert abs(float(per_psnr[i]) - skmetrics.peak_signal_noise_ratio(imgs[i], noisy[i], data_range=1.0)) < 1e-6
        ref = skmetrics.structural_similarity(
            imgs[i], noisy[i], channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )
        assert abs(float(per_ssim[i]) - ref) < 1e-4
    assert abs(float(metrics.ssim(pb, tb)) - float(per_ssim.mean())) < 1e-12
    # Noise levels 0.05 < 0.1 < 0.2 rank the images.
    assert per_ssim[0] > per_ssim[1] > per_ssim[2]
    with pytest.raises(ValueError, match="reduction 'sum'"):
        metrics.psnr(pb, tb, reduction="sum")


def test_ssim_matches_skimage_wang_setting(noisy_pairs):
    for img, noisy in noisy_pairs:
        ref = skmetrics.structural_similarity(
            img, noisy, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )
        ours64 = float(metrics.ssim(_chw(noisy), _chw(img)))
        ours32 = float(metrics.ssim(_chw(noisy).float(), _chw(img).float()))
        assert abs(ours64 - ref) < 1e-8
        assert abs(ours32 - ref) < 1e-4
        assert 0.05 < ref < 0.99  # a real, non-trivial comparison
    # Gray (one channel) images too.
    img, noisy = noisy_pairs[0]
    ref = skmetrics.structural_similarity(
        img[..., 0], noisy[..., 0], data_range=1.0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False,
    )
    assert abs(float(metrics.ssim(_chw(noisy[..., :1]), _chw(img[..., :1]))) - ref) < 1e-8
    assert abs(float(metrics.ssim(_chw(img), _chw(img))) - 1.0) < 1e-9


def test_ssim_is_differentiable_and_checks_size():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    y = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    (1 - metrics.ssim(x, y)).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    a = x[:1, :1, :12, :12].detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a: metrics.ssim(a, y[:1, :1, :12, :12]), (a,), fast_mode=True)
    with pytest.raises(ValueError, match="at least 11x11 pixels.*10x16"):
        metrics.ssim(torch.rand(1, 3, 10, 16), torch.rand(1, 3, 10, 16))


# --------------------------------------------------------------------------- MAE
def test_mae_per_channel_matches_numpy():
    rng = np.random.default_rng(1)
    p, t = rng.random((2, 3, 8, 9)), rng.random((2, 3, 8, 9))
    out = metrics.mae(torch.from_numpy(p), torch.from_numpy(t), names=("R", "G", "B"))
    for i, ch in enumerate("RGB"):
        assert abs(out[ch] - np.abs(p[:, i] - t[:, i]).mean()) < 1e-12
    assert abs(out["mean"] - np.abs(p - t).mean()) < 1e-12
    assert set(out) == {"R", "G", "B", "mean"}
    assert abs(metrics.mae(torch.from_numpy(p), torch.from_numpy(t), per_channel=False) - np.abs(p - t).mean()) < 1e-12
    default = metrics.mae(torch.from_numpy(p[0]), torch.from_numpy(t[0]))
    assert set(default) == {"c0", "c1", "c2", "mean"}
    with pytest.raises(ValueError, match="2 channel names"):
        metrics.mae(torch.from_numpy(p), torch.from_numpy(t), names=("a", "b"))


@pytest.mark.parametrize(
    "fn", [metrics.mae, metrics.psnr, metrics.ssim, metrics.raw_accuracy_curve, metrics.colorization_report,
           metrics.restoration_report, metrics.colorfulness_gap]
)
def test_shape_mismatch_names_both_shapes(fn):
    with pytest.raises(ValueError, match=r"\(2, 3, 16, 16\).*\(2, 3, 16, 12\)"):
        fn(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 12))


def test_bad_inputs():
    with pytest.raises(TypeError, match="torch.Tensor"):
        metrics.psnr(np.zeros((3, 4, 4)), torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        metrics.mae(torch.zeros(4, 4), torch.zeros(4, 4))
    with pytest.raises(ValueError, match=r"RGB images \(B, 3, H, W\), got shape \(1, 2, 16, 16\)"):
        metrics.colorization_report(torch.rand(1, 2, 16, 16), torch.rand(1, 2, 16, 16))
    with pytest.raises(ValueError, match=r"Lab \(B, 3, H, W\) or ab \(B, 2, H, W\)"):
        metrics.raw_accuracy_curve(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="increasing"):
        metrics.raw_accuracy_curve(torch.rand(1, 2, 4, 4), torch.rand(1, 2, 4, 4), thresholds=[5, 1])


# --------------------------------------------------------------------------- raw accuracy
def test_raw_accuracy_curve_matches_hand_computation():
    rng = np.random.default_rng(2)
    target = rng.uniform(-60, 60, (2, 2, 10, 12))
    pred = target + rng.normal(0, 25, target.shape)
    pred[0, :, 0, 0] = target[0, :, 0, 0]  # one exact pixel: counted at t = 0
    pred[0, :, 0, 1] = target[0, :, 0, 1] + np.array([3.0, 4.0])  # distance exactly 5
    thr, acc = metrics.raw_accuracy_curve(torch.from_numpy(pred), torch.from_numpy(target))
    assert thr.tolist() == list(range(151))
    # Hand computation: every pixel's Euclidean ab distance, then the share <= t.
    dist = []
    for b in range(2):
        for y in range(10):
            for x in range(12):
                da, db = pred[b, 0, y, x] - target[b, 0, y, x], pred[b, 1, y, x] - target[b, 1, y, x]
                dist.append((da * da + db * db) ** 0.5)
    dist = np.array(dist)
    ref = np.array([(dist <= t).mean() for t in range(151)])
    np.testing.assert_allclose(acc.numpy(), ref, rtol=0, atol=1e-12)
    assert acc[0] == pytest.approx(1 / 240)
    assert acc[5] >= 2 / 240  # the distance-5 pixel counts at t = 5 (<=, not <)
    assert acc[-1] == 1.0 and bool((acc[1:] >= acc[:-1]).all())
    # AuC: trapezoidal area over 0..150, divided by 150.
    ref_auc = sum((ref[i] + ref[i + 1]) / 2 for i in range(150)) / 150
    assert metrics.auc((thr, acc)) == pytest.approx(ref_auc, abs=1e-12)
    # Lab input (L ignored) gives the same curve.
    L = rng.uniform(0, 100, (2, 1, 10, 12))
    lab_p, lab_t = np.concatenate([L, pred], 1), np.concatenate([L * 0.5, target], 1)
    _, acc_lab = metrics.raw_accuracy_curve(torch.from_numpy(lab_p), torch.from_numpy(lab_t))
    assert torch.equal(acc_lab, acc)


def test_auc_extremes_and_custom_thresholds():
    t = torch.zeros(1, 2, 4, 4)
    assert metrics.auc(metrics.raw_accuracy_curve(t, t)) == pytest.approx(1.0)
    far = torch.full((1, 2, 4, 4), 200.0)
    assert metrics.auc(metrics.raw_accuracy_curve(far, t)) == pytest.approx(0.0)
    _, acc = metrics.raw_accuracy_curve(far, t, thresholds=[0, 100, 300])
    assert acc.tolist() == [0.0, 0.0, 1.0]  # distance 200 sqrt(2) = 282.8
    with pytest.raises(ValueError, match="equal length"):
        metrics.auc((torch.arange(3), torch.ones(2)))


# --------------------------------------------------------------------------- colorfulness
def _colorfulness_numpy(img255: np.ndarray) -> float:
    """Hasler & Suesstrunk 2003 on one HxWx3 image in 0-255."""
    r, g, b = (img255[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def test_colorfulness_matches_numpy_and_gray_is_zero():
    photos = [getattr(skdata, n)()[::4, ::4] for n in ("astronaut", "coffee", "chelsea")]
    for img in photos:
        ref = _colorfulness_numpy(img)
        assert float(metrics.colorfulness(_chw(img))) == pytest.approx(ref, rel=1e-5)  # uint8
        assert float(metrics.colorfulness(_chw(img).double() / 255)) == pytest.approx(ref, rel=1e-9)
        assert ref > 10  # real colour photos
        gray = color.rgb_to_gray(_chw(img).float() / 255)
        assert float(metrics.colorfulness(gray)) < 1e-3
    both = torch.stack([_chw(photos[0][:64, :64]), _chw(photos[1][:64, :64])])
    per = metrics.colorfulness(both, reduction="none")
    assert per.shape == (2,)
    assert float(per[1]) == pytest.approx(_colorfulness_numpy(photos[1][:64, :64]), rel=1e-5)
    with pytest.raises(ValueError, match="RGB"):
        metrics.colorfulness(torch.rand(1, 1, 8, 8))


def test_colorfulness_gap_sign():
    img = _chw(skdata.coffee()[::4, ::4]).float() / 255
    washed = color.lab_to_rgb(color.rgb_to_lab(img) * torch.tensor([1.0, 0.4, 0.4]).view(3, 1, 1))
    gap = metrics.colorfulness_gap(washed, img)
    assert gap < -5  # desaturated prediction: negative gap
    assert gap == pytest.approx(float(metrics.colorfulness(washed) - metrics.colorfulness(img)))
    assert metrics.colorfulness_gap(img, washed) == pytest.approx(-gap)


# --------------------------------------------------------------------------- reports
def test_colorization_report_without_weights(no_weights):
    assert not metrics.lpips_available() and not metrics.fid_available()
    img = _chw(skdata.astronaut()[::8, ::8]).float() / 255
    pred = color.rgb_to_gray(img)  # a colorizer that adds no colour at all
    rep = metrics.colorization_report(pred, img)
    assert set(rep) == {
        "n_images", "mae_rgb", "mae_ab", "auc", "psnr", "ssim", "colorfulness", "colorfulness_gt",
        "colorfulness_gap", "lpips", "fid",
    }
    assert rep["lpips"] == rep["fid"] == "unavailable (no pretrained weights)"
    assert set(rep["mae_rgb"]) == {"R", "G", "B", "mean"} and set(rep["mae_ab"]) == {"a", "b", "mean"}
    # Units: RGB MAE in 0-255, ab MAE in Lab units, both from the same images.
    assert rep["mae_rgb"]["mean"] == pytest.approx(float((pred - img).abs().mean() * 255), rel=1e-5)
    lab = color.rgb_to_lab(img)
    assert rep["mae_ab"]["mean"] == pytest.approx(float(lab[1:].abs().mean()), abs=0.05)  # pred ab ~ 0
    assert rep["colorfulness"] < 1e-3 and rep["colorfulness_gt"] > 10
    assert rep["colorfulness_gap"] == pytest.approx(rep["colorfulness"] - rep["colorfulness_gt"])
    assert 0 < rep["auc"] < 1 and 0 < rep["ssim"] < 1 and rep["psnr"] > 5
    text = metrics.format_report(rep)
    assert "LPIPS (alex)" in text and "unavailable (no pretrained weights)" in text
    assert "MAE RGB (0-255)" in text and f"{rep['auc']:.4f}" in text
    # Perfect colorization.
    perfect = metrics.colorization_report(img, img)
    assert perfect["auc"] == pytest.approx(1.0) and perfect["mae_rgb"]["mean"] == 0.0
    assert perfect["ssim"] == pytest.approx(1.0)


def test_restoration_report_without_weights(no_weights, noisy_pairs):
    img, noisy = noisy_pairs[1]
    rep = metrics.restoration_report(_chw(noisy).float(), _chw(img).float())
    assert rep["lpips"] == metrics.UNAVAILABLE
    assert rep["psnr"] == pytest.approx(skmetrics.peak_signal_noise_ratio(img, noisy, data_range=1.0), abs=1e-3)
    assert "PSNR (dB)" in metrics.format_report(rep)
    with pytest.raises(LessonsError, match=r"unavailable \(no pretrained weights\).*alexnet-owt-7be5be79.pth"):
        metrics.lpips_distance(_chw(noisy), _chw(img))
    with pytest.raises(LessonsError, match="pt_inception-2015-12-05-6726825d.pth"):
        metrics.fid(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="unknown LPIPS network 'squeeze'"):
        metrics.lpips_available("squeeze")


# --------------------------------------------------------------------------- LPIPS / FID maths
def _alexnet_features() -> torch.nn.Sequential:
    """torchvision's AlexNet feature layers, uninitialised (the 58M-parameter classifier is
    never materialised: built on the meta device)."""
    import torchvision

    with torch.device("meta"):
        net = torchvision.models.alexnet(weights=None)
    return net.features.to_empty(device="cpu")


def _write_fake_lpips(folder, seed: int = 0) -> tuple[dict, dict]:
    """Random AlexNet features and LPIPS linear layers saved as the real files would be."""
    torch.manual_seed(seed)
    features = _alexnet_features()
    for m in features:
        if isinstance(m, torch.nn.Conv2d):
            m.reset_parameters()
    backbone = {f"features.{k}": v for k, v in features.state_dict().items()}
    linear = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(backbone, folder / "alexnet-owt-7be5be79.pth")
    torch.save(linear, folder / "lpips_alex.pth")
    return backbone, linear


def _lpips_by_hand(x, y, backbone, linear) -> torch.Tensor:
    """LPIPS eq. 1 via forward hooks on torchvision's AlexNet ReLUs 1, 4, 7, 9, 11."""
    features = _alexnet_features()
    features.load_state_dict({k[9:]: v for k, v in backbone.items()})
    feats = []
    for idx in (1, 4, 7, 9, 11):
        features[idx].inplace = False
        features[idx].register_forward_hook(lambda m, i, o: feats.append(o))
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    with torch.no_grad():  # up to ReLU 11; the last max pool is not read
        features[:12](((x * 2 - 1) - shift) / scale)
        features[:12](((y * 2 - 1) - shift) / scale)
    d = torch.zeros(x.shape[0])
    for i in range(5):
        fx, fy = feats[i], feats[i + 5]
        fx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        fy = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        w = linear[f"lin{i}.model.1.weight"].view(1, -1, 1, 1)
        d += ((fx - fy) ** 2 * w).sum(1).mean(dim=(1, 2))
    return d


def test_lpips_computes_with_weights_on_disk(no_weights):
    backbone, linear = _write_fake_lpips(no_weights)
    assert metrics.lpips_available("alex") and not metrics.lpips_available("vgg")
    torch.manual_seed(1)
    x = torch.rand(2, 3, 48, 48)
    y = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    d = metrics.lpips_distance(x, y, reduction="none")
    torch.testing.assert_close(d, _lpips_by_hand(x, y, backbone, linear), rtol=1e-4, atol=1e-7)
    assert float(metrics.lpips_distance(x, x)) == pytest.approx(0.0, abs=1e-7)
    assert float(metrics.lpips_distance(y, x)) == pytest.approx(float(d.mean()), rel=1e-5)
    rep = metrics.restoration_report(y, x)
    assert rep["lpips"] == pytest.approx(float(d.mean()), rel=1e-5)
    # A replaced file is picked up (the loaded network is keyed by file and time).
    import os

    torch.save({k: v * 2 for k, v in linear.items()}, no_weights / "lpips_alex.pth")
    os.utime(no_weights / "lpips_alex.pth", ns=(1, 1))
    assert float(metrics.lpips_distance(x, y)) == pytest.approx(2 * float(d.mean()), rel=1e-4)


def test_lpips_corrupt_weights_file(no_weights):
    _write_fake_lpips(no_weights)
    (no_weights / "alexnet-owt-7be5be79.pth").write_bytes(b"not a torch file at all")
    with pytest.raises(LessonsError, match="cannot read the weights file .*alexnet-owt-7be5be79.pth"):
        metrics.lpips_distance(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))


def test_frechet_distance_matches_scipy_sqrtm():
    from scipy import linalg

    rng = np.random.default_rng(3)
    a = rng.normal(size=(100, 8)) @ rng.normal(size=(8, 8))
    b = rng.normal(0.5, 1.5, size=(100, 8))
    m1, s1, m2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    ref = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    ours = metrics.frechet_distance(*(torch.from_numpy(v) for v in (m1, s1, m2, s2)))
    assert ours == pytest.approx(ref, rel=1e-8)
    assert metrics.frechet_distance(*(torch.from_numpy(v) for v in (m1, s1, m1, s1))) == pytest.approx(0, abs=1e-8)


def test_fid_inception_pools_like_tensorflow(no_weights, monkeypatch):
    """The FID Inception loads a state dict of torchvision's Inception3 (1008 classes) and
    gives 2048-d pool3 features; its mixed blocks are torchvision's, with TF's pooling."""
    from torchvision.models.inception import Inception3

    torch.manual_seed(0)
    state = Inception3(num_classes=1008, aux_logits=False, init_weights=False).state_dict()
    assert not any(k.startswith("AuxLogits") for k in state)
    no_weights.mkdir(parents=True)
    (no_weights / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"placeholder")
    # The 100 MB file is not written: the loader returns the in-memory state dict instead.
    monkeypatch.setattr(metrics.pretrained, "load_pth", lambda path: state)
    assert metrics.fid_available()
    feats = metrics.pretrained._fid_features(torch.rand(1, 3, 32, 32), batch_size=1)
    assert feats.shape == (1, 2048) and torch.isfinite(feats).all()
    net = next(v for k, v in metrics.pretrained._nets.items() if k[0] == "fid").net
    inception = metrics.pretrained._FIDInception
    mixed, avg, mx = inception._mixed, inception._tf_avg_pool, inception._tf_max_pool
    with torch.no_grad():
        for block, ch in ((net.Mixed_5b, 192), (net.Mixed_6b, 768), (net.Mixed_7b, 1280)):
            h = torch.randn(1, ch, 6, 6)
            ours, tv = mixed(block, h, avg), block(h)
            assert ours.shape == tv.shape
            # Average pools that ignore the zero padding differ only on the border ring.
            torch.testing.assert_close(ours[..., 1:-1, 1:-1], tv[..., 1:-1, 1:-1])
            assert not torch.allclose(ours, tv)
        # The last block takes a 3x3 max pool in its pooling branch (its last 192 channels).
        h = torch.randn(1, 2048, 5, 5)
        ours, tv = mixed(net.Mixed_7c, h, mx), net.Mixed_7c(h)
        torch.testing.assert_close(ours[:, :-192], tv[:, :-192])
        torch.testing.assert_close(ours[:, -192:], net.Mixed_7c.branch_pool(F.max_pool2d(h, 3, 1, 1)))


def test_fid_statistics_and_checks(no_weights, monkeypatch):
    """fid() = Frechet distance of the two sets' feature means and covariances."""
    no_weights.mkdir(parents=True)
    (no_weights / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"placeholder")
    # Stand-in features (the first 6 pixel values) so that the statistics can be checked.
    monkeypatch.setattr(metrics.pretrained, "_fid_features", lambda x, batch_size: x.flatten(1)[:, :6].double())
    torch.manual_seed(2)
    x, y = torch.rand(20, 3, 12, 12), torch.rand(15, 3, 12, 12) * 0.5
    fx, fy = x.flatten(1)[:, :6].double().numpy(), y.flatten(1)[:, :6].double().numpy()
    ref = metrics.frechet_distance(
        *(torch.from_numpy(v) for v in (fx.mean(0), np.cov(fx, rowvar=False), fy.mean(0), np.cov(fy, rowvar=False)))
    )
    assert metrics.fid(x, y) == pytest.approx(ref, rel=1e-10)
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="at least 2 images"):
        metrics.fid(x[:1], y)
    with pytest.raises(ValueError, match="RGB"):
        metrics.fid(x[:, :2], y[:, :2])
    rep = metrics.colorization_report(x[:1], x[:1])
    assert rep["fid"] == "unavailable (needs at least 2 images)"
    assert metrics.colorization_report(x[:2], y[:2])["fid"] == pytest.approx(metrics.fid(x[:2], y[:2]))


# --------------------------------------------------------------------------- feature distance
class _TwoLayers(torch.nn.Module):
    """A fixed two-layer feature network returning named maps, like PerceptualFeatures."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.c1 = torch.nn.Conv2d(3, 5, 3, padding=1)
        self.c2 = torch.nn.Conv2d(5, 7, 3, stride=2, padding=1)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        return {"f1": a, "f2": torch.relu(self.c2(a))}


def test_perceptual_distance_matches_numpy():
    net = _TwoLayers().double()
    torch.manual_seed(5)
    x = torch.rand(2, 3, 10, 12, dtype=torch.float64)
    y = (x + 0.3 * torch.randn_like(x)).clamp(0, 1)
    d = metrics.perceptual_distance(x, y, net, reduction="none")
    with torch.no_grad():
        fx, fy = net(x), net(y)
    ref = np.zeros(2)
    for layer in ("f1", "f2"):
        a, b = fx[layer].numpy(), fy[layer].numpy()
        a = a / (np.sqrt((a**2).sum(1, keepdims=True)) + 1e-10)
        b = b / (np.sqrt((b**2).sum(1, keepdims=True)) + 1e-10)
        ref += ((a - b) ** 2).sum(1).mean(axis=(1, 2))
    np.testing.assert_allclose(d.detach().numpy(), ref, rtol=1e-10)
    assert float(metrics.perceptual_distance(x, x, net).detach()) == 0.0
    assert 0 < float(d.detach().mean()) <= 8  # two layers, at most 4 each
    # A list of maps works too, and gradients reach the prediction.
    xg = x.clone().requires_grad_()
    metrics.perceptual_distance(xg, y, lambda z: list(net(z).values())).backward()
    assert torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0
    with pytest.raises(TypeError, match="feature maps"):
        metrics.perceptual_distance(x, y, lambda z: z.mean())
