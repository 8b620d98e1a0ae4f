"""Distribution metrics (issue 13): FID's formula on feature vectors, KID (unbiased MMD^2),
precision / recall of distributions, the bootstrap interval and the kit-feature report."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lessons_lib import metrics

pytestmark = pytest.mark.usefixtures("one_thread")


def _gauss(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + shift


# --------------------------------------------------------------------------- Frechet
def test_frechet_feature_distance_two_gaussians_closed_form():
    """For N(m1, s1^2 I) and N(m2, s2^2 I) in D dims: |m1 - m2|^2 + D (s1 - s2)^2."""
    d = 4
    a, b = _gauss(40000, d, 0, 0.0, 1.0), _gauss(40000, d, 1, 0.5, 2.0)
    expected = d * 0.5 ** 2 + d * (1.0 - 2.0) ** 2          # 1 + 4 = 5
    assert metrics.frechet_feature_distance(a, b) == pytest.approx(expected, rel=0.03)
    assert metrics.frechet_feature_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_feature_distance_uses_unbiased_covariance():
    a, b = _gauss(30, 3, 2), _gauss(25, 3, 3, 1.0)
    ref = metrics.frechet_distance(a.mean(0), torch.from_numpy(np.cov(a.numpy(), rowvar=False)),
                                   b.mean(0), torch.from_numpy(np.cov(b.numpy(), rowvar=False)))
    assert metrics.frechet_feature_distance(a, b) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(5), "float matrix"),
    (torch.zeros(1, 3), "N >= 2"),
    (torch.zeros(4, 3, dtype=torch.int64), "float matrix"),
    (torch.tensor([[0.0, float("nan")], [1.0, 2.0]]), "NaN"),
])
def test_feature_inputs_are_checked(bad, match):
    with pytest.raises(ValueError, match=match):
        metrics.frechet_feature_distance(bad, torch.zeros(4, 3))


def test_feature_sets_must_share_a_dimension():
    with pytest.raises(ValueError, match="differ in dimension"):
        metrics.kernel_distance(torch.zeros(4, 3), torch.zeros(4, 5))


# --------------------------------------------------------------------------- KID
def _mmd2_loops(a: torch.Tensor, b: torch.Tensor) -> float:
    """The unbiased MMD^2 (Gretton et al. 2012, eq. 3) written with loops, for reference."""
    k = lambda x, y: (float(x @ y) / a.shape[1] + 1.0) ** 3  # noqa: E731
    n, m = len(a), len(b)
    saa = sum(k(a[i], a[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    sbb = sum(k(b[i], b[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    sab = sum(k(a[i], b[j]) for i in range(n) for j in range(m)) / (n * m)
    return saa + sbb - 2 * sab


def test_mmd2_unbiased_matches_the_loop_formula():
    a, b = _gauss(9, 5, 4), _gauss(7, 5, 5, 0.3)
    assert metrics.mmd2_unbiased(a, b) == pytest.approx(_mmd2_loops(a, b), rel=1e-10)
    # whole sets smaller than the subset size: one exact estimate
    mean, std = metrics.kernel_distance(a, b)
    assert mean == pytest.approx(_mmd2_loops(a, b), rel=1e-10) and std == 0.0


def test_kid_is_unbiased_where_the_plug_in_estimate_is_not():
    """Same distribution: KID averages to 0 over many draws (and is sometimes negative);
    FID's plug-in estimate on the same draws is always positive."""
    kid, fd = [], []
    for s in range(60):
        a, b = _gauss(20, 6, 100 + s), _gauss(20, 6, 500 + s)
        kid.append(metrics.mmd2_unbiased(a, b))
        fd.append(metrics.frechet_feature_distance(a, b))
    kid_t = torch.tensor(kid)
    assert abs(float(kid_t.mean())) < 3 * float(kid_t.std()) / len(kid) ** 0.5
    assert (kid_t < 0).any()
    assert min(fd) > 0


def test_kid_grows_with_the_shift_and_subsets_are_reproducible():
    a = _gauss(300, 8, 7)
    near, far = _gauss(300, 8, 8, 0.2), _gauss(300, 8, 9, 1.0)
    k_near = metrics.kernel_distance(a, near, subset_size=100, subsets=20)
    k_far = metrics.kernel_distance(a, far, subset_size=100, subsets=20)
    assert 0 < k_near[0] < k_far[0]
    assert k_near[1] > 0                                   # subsets differ
    assert metrics.kernel_distance(a, near, subset_size=100, subsets=20) == k_near
    with pytest.raises(ValueError, match="at least 2"):
        metrics.kernel_distance(a, near, subset_size=1)


# --------------------------------------------------------------------------- precision / recall
def test_precision_recall_separates_realism_from_coverage():
    real = torch.cat([_gauss(200, 2, 10, -5.0, 0.5), _gauss(200, 2, 11, 5.0, 0.5)])
    one_mode = _gauss(200, 2, 12, 5.0, 0.5)                # realistic, covers half
    p, r = metrics.precision_recall(real, one_mode)
    assert p > 0.9 and 0.35 < r < 0.65
    p, r = metrics.precision_recall(real, real.clone())     # identical sets
    assert p == 1.0 and r == 1.0
    p, r = metrics.precision_recall(real, _gauss(200, 2, 13, 40.0, 0.5))   # far away
    assert p == 0.0 and r == 0.0


def test_precision_recall_k_is_checked():
    with pytest.raises(ValueError, match="k must be"):
        metrics.precision_recall(torch.zeros(4, 2), torch.zeros(3, 2), k=3)


# --------------------------------------------------------------------------- bootstrap
def test_bootstrap_interval_covers_the_value_and_narrows_with_n():
    def mean_gap(x, y):
        return float(x.mean() - y.mean())

    small = metrics.bootstrap_interval(mean_gap, _gauss(30, 1, 20), _gauss(30, 1, 21, 1.0), n_boot=300)
    large = metrics.bootstrap_interval(mean_gap, _gauss(600, 1, 22), _gauss(600, 1, 23, 1.0), n_boot=300)
    assert small[0] < -1.0 + 0.8 and small[1] > -1.0 - 0.8 and small[0] < small[1]
    assert large[0] < -1.0 < large[1]
    assert large[1] - large[0] < (small[1] - small[0]) / 2   # ~ 1/sqrt(20) as wide
    with pytest.raises(ValueError, match="level"):
        metrics.bootstrap_interval(mean_gap, _gauss(5, 1, 0), _gauss(5, 1, 1), level=1.5)


# --------------------------------------------------------------------------- report
class _PoolNet(torch.nn.Module):
    """A fixed feature network with the kit's interface: RGB -> {layer: map}."""

    source = "kit"
    description = "test features (val accuracy 0.500)"

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)

    def forward(self, rgb, layers=("f4",)):
        h = torch.relu(self.conv(rgb))
        return {name: h for name in layers}


def test_feature_report_names_its_network_and_ranks_the_better_copy():
    torch.manual_seed(1)
    truth = torch.rand(12, 3, 16, 16)
    close = (truth + 0.02 * torch.randn_like(truth)).clamp(0, 1)
    gray = truth.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    net = _PoolNet()
    good, bad = metrics.feature_report(close, truth, net), metrics.feature_report(gray, truth, net)
    assert set(good) == {"fid_kit", "kid_kit", "lpips_kit", "precision_kit", "recall_kit", "features"}
    assert good["features"] == "test features (val accuracy 0.500)"
    assert good["fid_kit"] < bad["fid_kit"] and good["lpips_kit"] < bad["lpips_kit"]
    emb = metrics.image_embeddings(truth, net)
    assert emb.shape == (12, 6) and emb.dtype == torch.float64
    assert good["kid_kit"] == pytest.approx(1000 * metrics.mmd2_unbiased(metrics.image_embeddings(close, net), emb))
    with pytest.raises(ValueError, match="at least 2 images"):
        metrics.feature_report(truth[:1], truth[:1], net)


def test_feature_report_on_the_shipped_kit_network():
    from lessons_lib.metrics import kit_feature_report

    torch.manual_seed(2)
    x = torch.rand(6, 3, 32, 32)
    rep = kit_feature_report(x, x)          # the shipped kit network (lessons_lib/weights)
    assert rep["fid_kit"] == pytest.approx(0.0, abs=1e-6) and rep["lpips_kit"] == pytest.approx(0.0, abs=1e-6)
    assert rep["precision_kit"] == 1.0 and rep["recall_kit"] == 1.0
    assert "val accuracy" in rep["features"]
    assert kit_feature_report(x[:1], x[:1]) == {
        "features": "unavailable (distribution metrics need at least 2 images)"}


# --------------------------------------------------------------------------- eval and compare
def test_evaluate_colorizer_adds_the_kit_metrics_for_model_and_gray(tmp_path):
    from lessons_lib.pipeline import Colorizer, evaluate_colorizer, format_evaluation
    from lessons_lib.zoo import model_path

    res = evaluate_colorizer(Colorizer(model_path("nogan"), device="cpu"), "synthetic", size=32, limit=5,
                             feature_metrics=True)
    for col in ("model", "gray_baseline"):
        assert {"fid_kit", "kid_kit", "lpips_kit", "precision_kit", "recall_kit"} <= set(res[col])
        assert "val accuracy" in res[col]["features"]
    assert res["model"]["lpips_kit"] != res["gray_baseline"]["lpips_kit"]
    text = format_evaluation(res)
    assert "KID_kit x1000" in text and "not papers' FID" in text
    plain = evaluate_colorizer(Colorizer(model_path("nogan"), device="cpu"), "synthetic", size=32, limit=5)
    assert "kid_kit" not in plain["model"] and plain["model"]["psnr"] == res["model"]["psnr"]


def test_models_compare_one_table(capsys, tmp_path):
    from lessons_lib import zoo
    from lessons_lib.cli import main

    res = zoo.compare_models(32, limit=4, restore_limit=4, sources=("synthetic",), face_source="synthetic")
    rows = res["colorization"]["synthetic val"]["rows"]
    names = {m["name"] for m in zoo.list_models("colorization")}
    assert {n.replace(" (default)", "") for n in rows} == names | {"gray input"}
    assert all("kid_kit" in r and "psnr" in r for r in rows.values())
    assert rows["gray input"]["colorfulness"] == pytest.approx(0.0, abs=0.05)
    restorer = res["restoration"]["restorer"]
    assert list(restorer["rows"]) == ["x_hat", "x_R", "x_G", "blurred"]
    assert restorer["default_output"] in ("x_hat", "x_R")
    text = zoo.format_comparison(res)
    assert "| gray input | " in text and "| blurred | " in text and "not comparable with papers'" in text
    # the command's options reach compare_models (the packs may be absent here: --help only)
    with pytest.raises(SystemExit):
        main(["models", "compare", "--help"])
    assert "--restore-limit" in capsys.readouterr().out


def test_a_set_too_small_for_precision_prints_n_a():
    from lessons_lib.pipeline import Colorizer, evaluate_colorizer, format_evaluation
    from lessons_lib.zoo import model_path

    res = evaluate_colorizer(Colorizer(model_path("nogan"), device="cpu"), "synthetic", size=32, limit=3,
                             feature_metrics=True)
    assert res["model"]["precision_kit"] is None and res["model"]["fid_kit"] >= 0   # 3 images, k = 3
    line = next(r for r in format_evaluation(res).splitlines() if r.startswith("precision_kit"))
    assert line.split()[-2:] == ["n/a", "n/a"]
