"""The lessons' figures: the right axes, the right pixels, no figure left open."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from skimage.color import rgb2lab  # noqa: E402

from lessons_lib import LessonsError  # noqa: E402
from lessons_lib.viz import (  # noqa: E402
    before_after,
    lab_axis_colormap,
    plot_accuracy_curve,
    plot_curves,
    show_images,
    show_lab_planes,
    to_display_array,
)


@pytest.fixture(autouse=True)
def no_leaked_figures():
    """Each test closes the figure it gets; anything still open afterwards is a leak."""
    plt.close("all")
    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert not leaked, f"figures left open: {leaked}"


def _rgb(n: int = 1, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- to_display_array
def test_to_display_array_handles_every_image_form():
    t = _rgb()[0]
    assert to_display_array(t).shape == (16, 16, 3)
    np.testing.assert_allclose(to_display_array(t), t.permute(1, 2, 0).numpy())
    u8 = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    np.testing.assert_allclose(to_display_array(u8), u8 / 255.0, rtol=1e-6)
    np.testing.assert_allclose(to_display_array(Image.fromarray(u8)), u8 / 255.0, rtol=1e-6)
    assert to_display_array(Image.fromarray(u8).convert("L")).shape == (16, 16)
    assert to_display_array(torch.zeros(1, 5, 7)).shape == (5, 7)
    assert to_display_array(np.zeros((3, 5, 7))).shape == (5, 7, 3)  # channels-first numpy
    over = to_display_array(torch.tensor([[-0.5, 0.5, 1.5]]))
    np.testing.assert_array_equal(over, [[0.0, 0.5, 1.0]])  # a model overshooting is clipped
    with pytest.raises(ValueError, match=r"\(3, H, W\), \(1, H, W\) or \(H, W\), got \(4, 5, 5\)"):
        to_display_array(torch.zeros(4, 5, 5))
    with pytest.raises(TypeError, match="type str"):
        to_display_array("photo.png")


# --------------------------------------------------------------------------- show_images
def test_show_images_one_axes_per_image_with_the_pixels():
    batch = _rgb(5)
    fig = show_images(batch, titles=[f"#{i}" for i in range(5)], ncols=3)
    try:
        assert len(fig.axes) == 5  # 2 rows x 3 columns, the empty sixth cell removed
        assert [ax.get_title() for ax in fig.axes] == ["#0", "#1", "#2", "#3", "#4"]
        np.testing.assert_allclose(fig.axes[4].images[0].get_array(), batch[4].permute(1, 2, 0).numpy())
    finally:
        plt.close(fig)


def test_show_images_mixed_inputs_and_gray():
    gray = torch.linspace(0, 1, 64).reshape(1, 8, 8)
    fig = show_images([Image.new("RGB", (8, 8), (255, 0, 0)), np.zeros((8, 8)), gray])
    try:
        assert len(fig.axes) == 3
        im = fig.axes[2].images[0]
        assert im.get_cmap().name == "gray" and im.get_clim() == (0.0, 1.0)
        np.testing.assert_allclose(fig.axes[0].images[0].get_array()[0, 0], [1.0, 0.0, 0.0])
    finally:
        plt.close(fig)


def test_show_images_bad_input_opens_no_figure():
    with pytest.raises(ValueError, match="got 2 images but 1 titles"):
        show_images(_rgb(2), titles=["one"])
    with pytest.raises(ValueError, match="got no images"):
        show_images([])
    with pytest.raises(ValueError, match=r"got \(4, 5, 5\)"):
        show_images([torch.zeros(3, 5, 5), torch.zeros(4, 5, 5)])
    assert plt.get_fignums() == []


# --------------------------------------------------------------------------- Lab planes
def test_show_lab_planes_draws_L_a_b_in_lab_units():
    rgb = _rgb(size=12, seed=3)
    fig = show_lab_planes(rgb)
    try:
        assert len(fig.axes) == 7  # photo, L, a, b + three colour bars
        ref = rgb2lab(rgb[0].permute(1, 2, 0).numpy().astype(np.float64))  # (H, W, 3)
        for k in range(3):
            np.testing.assert_allclose(fig.axes[1 + k].images[0].get_array(), ref[..., k], atol=2e-3)
        assert fig.axes[1].images[0].get_clim() == (0.0, 100.0)
        m = np.abs(ref[..., 1:]).max()
        for ax in fig.axes[2:4]:  # a and b: a symmetric range, centred on 0, shared
            lo, hi = ax.images[0].get_clim()
            assert lo == pytest.approx(-m, abs=1e-2) and hi == pytest.approx(m, abs=1e-2)
        assert [ax.get_title() for ax in fig.axes[:4]] == [
            "RGB photo", "L (lightness)", "a (green - / red +)", "b (blue - / yellow +)"]
    finally:
        plt.close(fig)


def test_show_lab_planes_rejects_gray():
    with pytest.raises(ValueError, match="colour"):
        show_lab_planes(torch.zeros(1, 8, 8))


def test_lab_axis_colormaps_show_the_real_colours_of_each_axis():
    a, b = lab_axis_colormap("a", 80.0, n=257), lab_axis_colormap("b", 80.0, n=257)
    g_neg, g_mid, g_pos = a(0.0)[:3], a(0.5)[:3], a(1.0)[:3]
    assert g_neg[1] > g_neg[0] and g_pos[0] > g_pos[1]  # green at -a, red at +a
    assert np.ptp(g_mid) < 0.01 and np.ptp(b(0.5)[:3]) < 0.01  # neutral gray at 0
    y_neg, y_pos = b(0.0)[:3], b(1.0)[:3]
    assert y_neg[2] > max(y_neg[:2]) and min(y_pos[:2]) > y_pos[2]  # blue at -b, yellow at +b
    with pytest.raises(ValueError, match="'a' or 'b'"):
        lab_axis_colormap("L", 10.0)


# --------------------------------------------------------------------------- before / after
@pytest.mark.parametrize("with_truth, n_axes", [(True, 9), (False, 6)])
def test_before_after_rows_and_columns(with_truth, n_axes):
    gray, pred, truth = _rgb(3, seed=1), _rgb(3, seed=2), _rgb(3, seed=3)
    fig = before_after(gray, pred, truth if with_truth else None)
    try:
        assert len(fig.axes) == n_axes
        ncols = 3 if with_truth else 2
        np.testing.assert_allclose(fig.axes[ncols + 1].images[0].get_array(), pred[1].permute(1, 2, 0).numpy())
        assert fig.axes[0].get_title() == "input" and fig.axes[ncols].get_title() == ""
    finally:
        plt.close(fig)


def test_before_after_mismatched_batches():
    with pytest.raises(ValueError, match=r"same number of images in each column, got \[2, 3\]"):
        before_after(_rgb(2), _rgb(3))


# --------------------------------------------------------------------------- curves
@pytest.fixture
def log_csv(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "step,phase,loss_G,loss_D,val_mae\n"
        "0,train,2.0,0.7,\n"
        "10,train,1.5,0.6,12.5\n"
        "20,train,1.0,0.65,\n"
        "30,train,0.8,0.5,9.0\n"
    )
    return path


def test_plot_curves_from_a_csv_log(log_csv):
    fig = plot_curves(log_csv)
    try:
        assert len(fig.axes) == 1
        lines = fig.axes[0].get_lines()
        assert [ln.get_label() for ln in lines] == ["loss_G", "loss_D", "val_mae"]  # the text column is left out
        np.testing.assert_array_equal(lines[0].get_xdata(), [0, 10, 20, 30])
        np.testing.assert_array_equal(lines[2].get_xdata(), [10, 30])  # empty cells are skipped
        np.testing.assert_array_equal(lines[2].get_ydata(), [12.5, 9.0])
        assert fig.axes[0].get_xlabel() == "step"
    finally:
        plt.close(fig)


def test_plot_curves_separate_and_smoothed(log_csv):
    fig = plot_curves(log_csv, keys=["loss_G", "loss_D"], separate=True, smooth=0.5)
    try:
        assert len(fig.axes) == 2
        raw, smooth = fig.axes[0].get_lines()
        # EMA with weight 0.5: 2.0, 0.5*2+0.5*1.5, ...
        np.testing.assert_allclose(smooth.get_ydata(), [2.0, 1.75, 1.375, 1.0875])
        np.testing.assert_array_equal(raw.get_ydata(), [2.0, 1.5, 1.0, 0.8])
        assert fig.axes[1].get_title() == "loss_D"
    finally:
        plt.close(fig)


def test_plot_curves_from_a_dict_without_step():
    fig = plot_curves({"loss": [3.0, 2.0, 1.0]}, logy=True)
    try:
        np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_xdata(), [0, 1, 2])
        assert fig.axes[0].get_yscale() == "log"
    finally:
        plt.close(fig)


def test_plot_curves_errors_say_what_to_do(log_csv, tmp_path):
    with pytest.raises(LessonsError, match=r"no column\(s\) 'loss_X' in the log; it has: step, loss_G"):
        plot_curves(log_csv, keys=["loss_X"])
    with pytest.raises(LessonsError, match="no training log at"):
        plot_curves(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("step,loss\n")
    with pytest.raises(LessonsError, match="no rows yet"):
        plot_curves(tmp_path / "empty.csv")
    with pytest.raises(LessonsError, match="has 2 values but 'step' has 3"):
        plot_curves({"step": [0, 1, 2], "loss": [1.0, 2.0]})
    with pytest.raises(ValueError, match="smooth"):
        plot_curves(log_csv, smooth=1.0)
    assert plt.get_fignums() == []


def test_plot_accuracy_curve_one_and_many():
    t = np.arange(151)
    acc = np.clip(t / 60.0, 0, 1)
    fig = plot_accuracy_curve(t, acc)
    try:
        assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == 1
        np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), acc)
        assert fig.axes[0].get_legend() is None
    finally:
        plt.close(fig)
    fig = plot_accuracy_curve(torch.arange(151.0), {"pix2pix": acc, "full": torch.tensor(acc) ** 0.5})
    try:
        assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["pix2pix", "full"]
        assert fig.axes[0].get_legend() is not None
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="curve 'accuracy' has 10 values but there are 151 thresholds"):
        plot_accuracy_curve(t, np.zeros(10))


def test_plot_tradeoff_marks_the_front_and_respects_directions():
    import matplotlib.pyplot as plt

    from lessons_lib import viz

    runs = {"a": {"psnr": 24.0, "kid_kit": 40.0}, "b": {"psnr": 22.0, "kid_kit": 10.0},
            "c": {"psnr": 21.0, "kid_kit": 30.0}, "gray input": {"psnr": 23.0, "kid_kit": 12.0}}
    fig = viz.plot_tradeoff(runs, x="kid_kit", y="psnr")
    ax = fig.axes[0]
    front = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(front) == 1
    # the front: b (best KID), gray input, a (best PSNR) - c is beaten by b on both
    assert list(front[0].get_xdata()) == [10.0, 12.0, 40.0]
    assert "lower is better" in ax.get_xlabel() and "higher is better" in ax.get_ylabel()
    plt.close(fig)
    fig = viz.plot_tradeoff({"x": {"share": 1.0, "psnr": 2.0}, "y": {"share": 2.0, "psnr": 1.0}}, x="share", y="psnr",
                            better={"share": "max"})
    assert "higher is better" in fig.axes[0].get_xlabel()
    plt.close(fig)
    with pytest.raises(ValueError, match="at least 2 runs"):
        viz.plot_tradeoff({"a": runs["a"]}, x="kid_kit", y="psnr")
    with pytest.raises(ValueError, match="must be 'max' or 'min'"):
        viz.plot_tradeoff(runs, x="kid_kit", y="psnr", better={"psnr": "up"})
