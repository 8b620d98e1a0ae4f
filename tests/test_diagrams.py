"""Architecture diagrams: drawn from the built models, so their shapes are the models' shapes."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lessons_lib import LessonsError, viz  # noqa: E402
from lessons_lib.diagrams import architecture_stages, format_shape  # noqa: E402
from lessons_lib.models import build_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def no_leaked_figures():
    plt.close("all")
    yield
    assert not plt.get_fignums(), "a test left a figure open"


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def _by_label(stages, label):
    found = [s for s in stages if s.label == label]
    assert found, f"no stage {label!r} in {[s.label for s in stages]}"
    return found


@pytest.mark.parametrize("name", viz.ARCHITECTURES)
def test_each_diagram_draws_with_its_shapes_and_no_overlaps(name):
    fig = viz.draw_architecture(name)
    try:
        assert isinstance(fig, Figure)
        w, h = fig.get_size_inches()
        assert 6 <= w <= 12.5 and 2.3 <= h <= 5.5, (w, h)
        texts = " | ".join(_texts(fig))
        for st in architecture_stages(name):
            if st.shape is not None and st.kind != "add":
                assert format_shape(st.shape) in texts, (st, texts)
        # no two pieces of text overlap, and no text overlaps the legend
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        ax = fig.axes[0]
        boxes = [(t.get_text(), t.get_window_extent(r)) for t in ax.texts if t.get_text().strip()]
        for i, (ta, ba) in enumerate(boxes):
            for tb, bb in boxes[i + 1:]:
                assert not ba.overlaps(bb), f"{ta!r} overlaps {tb!r}"
        leg = ax.get_legend().get_window_extent(r)
        for t, b in boxes:
            assert not b.overlaps(leg), f"{t!r} overlaps the legend"
        # every line of a box fits inside its box
        from matplotlib.patches import FancyBboxPatch
        from matplotlib.text import Annotation

        frames = [p.get_window_extent(r) for p in ax.patches if isinstance(p, FancyBboxPatch)]
        for t in ax.texts:
            if isinstance(t, Annotation) and t.get_text():
                px, py = ax.transData.transform(t.xy)
                frame = next(f for f in frames if f.contains(px, py))
                tb = t.get_window_extent(r)
                assert frame.x0 <= tb.x0 and tb.x1 <= frame.x1, f"{t.get_text()!r} sticks out of its box"
                assert frame.y0 <= tb.y0 and tb.y1 <= frame.y1, f"{t.get_text()!r} sticks out of its box"
        title = ax.title.get_window_extent(r)
        assert title.x0 >= 0 and title.x1 <= fig.bbox.width, "the title is wider than the figure"
    finally:
        plt.close(fig)


def test_viz_reexports_the_entry_point():
    from lessons_lib import diagrams

    assert viz.draw_architecture is diagrams.draw_architecture
    assert "draw_architecture" in viz.__all__ and "ARCHITECTURES" in viz.__all__
    assert set(viz.ARCHITECTURES) == {"unet", "patchgan", "nin_patchgan", "colorgan", "nafnet_block",
                                      "stylegan2_block", "restorer"}


def test_draws_into_a_given_axes():
    fig, axes = plt.subplots(1, 2, figsize=(12, 3))
    try:
        out = viz.draw_architecture("patchgan", ax=axes[1], n_layers=2, input_size=64)
        assert out is fig
        assert "1×14×14" in " ".join(t.get_text() for t in axes[1].texts)
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- U-Net
def test_unet_encoder_halves_and_doubles_up_to_the_cap_as_the_model_does():
    cfg = dict(in_channels=1, out_channels=2, base=8, image_size=64, max_mult=4)
    stages = architecture_stages("unet", **cfg)
    enc = [s for s in stages if s.kind == "conv_down"]
    model = build_model("unet", **cfg).eval()
    assert len(enc) == model.depth == 6
    # an independent forward pass through the encoder blocks
    h = torch.zeros(1, 1, 64, 64)
    with torch.no_grad():
        for block, st in zip(model.down, enc):
            h = block(h)
            assert st.shape == tuple(h.shape[1:])
    for i, st in enumerate(enc):
        assert st.shape == (8 * min(2 ** i, 4), 64 // 2 ** (i + 1), 64 // 2 ** (i + 1))
    assert stages[-1].shape == (2, 64, 64)                       # y = ab at the input's size
    dec = [s for s in stages if s.kind == "conv_up"]
    assert [s.shape[1] for s in dec] == [2, 4, 8, 16, 32]        # the decoder doubles H back


def test_unet_base_and_depth_change_the_drawing():
    e8 = [s for s in architecture_stages("unet", base=8, image_size=32) if s.kind == "conv_down"]
    e16 = [s for s in architecture_stages("unet", base=16, image_size=32) if s.kind == "conv_down"]
    assert e16[0].shape[0] == 2 * e8[0].shape[0] == 16
    e_d3 = [s for s in architecture_stages("unet", base=8, image_size=32, depth=3) if s.kind == "conv_down"]
    assert len(e_d3) == 3 and e_d3[-1].shape == (32, 4, 4)
    fig = viz.draw_architecture("unet", base=16, image_size=32)
    try:
        assert "16×16×16" in " ".join(_texts(fig))
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- discriminators
@pytest.mark.parametrize("size,n_layers", [(256, 3), (64, 2), (70, 1)])
def test_patchgan_ends_in_one_channel_patch_map_of_the_expected_size(size, n_layers):
    stages = architecture_stages("patchgan", n_layers=n_layers, ndf=8, input_size=size)
    last = stages[-1]
    side = size // 2 ** n_layers - 2              # n stride-2 halvings, then two 4x4 s1 p1 convs (-1 each)
    assert last.kind == "head" and last.shape == (1, side, side)
    D = build_model("patchgan", in_channels=3, ndf=8, n_layers=n_layers).eval()
    with torch.no_grad():
        assert tuple(D(torch.zeros(1, 3, size, size)).shape[1:]) == last.shape
    assert len(stages) == n_layers + 3            # input, n strided blocks, the s1 block, the logits
    assert stages[1].shape[0] == 8 and stages[0].shape == (3, size, size)


def test_nin_patchgan_stages_and_global_pool():
    stages = architecture_stages("nin_patchgan", ndf=8, n_layers=2, mlp_layers=1, input_size=64)
    mlp = [s for s in stages if s.kind == "mlp"]
    assert len(mlp) == 3 and all("1×1" in s.label for s in mlp)       # after each 4x4 conv but the last
    assert stages[-1].shape == (1, 14, 14)
    pooled = architecture_stages("nin_patchgan", ndf=8, n_layers=2, global_pool=True, input_size=64)
    assert pooled[-1].kind == "pool" and pooled[-1].shape == (1,)


# --------------------------------------------------------------------------- ColorGAN
def test_colorgan_noise_is_added_to_the_latent_map():
    stages = architecture_stages("colorgan", base=8, depth=3, input_size=32)
    G = build_model("colorgan_g", base=8, depth=3).eval()
    L = torch.zeros(1, 1, 32, 32)
    with torch.no_grad():
        ab, n = G.forward_with_noise_features(L)
    add = [s for s in stages if s.kind == "add"]
    assert len(add) == 1 and add[0].shape == tuple(n.shape[1:]) == (32, 4, 4)
    z = [s for s in stages if s.kind == "noise"][0]
    assert z.shape == G.noise_shape(32, 32)
    assert _by_label(stages, "ab (output)")[0].shape == tuple(ab.shape[1:])
    D = build_model("patchgan", in_channels=3, ndf=32, n_layers=3).eval()
    with torch.no_grad():
        assert stages[-1].shape == tuple(D(torch.cat([L, ab], 1)).shape[1:]) == (1, 2, 2)
    d2 = architecture_stages("colorgan", base=8, depth=3, input_size=32, discriminator=dict(ndf=8, n_layers=2))
    assert d2[-1].shape == (1, 6, 6)


# --------------------------------------------------------------------------- NAFNet
@pytest.mark.parametrize("width,level", [(8, 0), (16, 0), (8, 2)])
def test_nafnet_block_is_2c_before_simplegate_and_c_after(width, level):
    stages = architecture_stages("nafnet_block", width=width, enc_blocks=[1, 1], dec_blocks=[1, 1],
                                 input_size=32, level=level)
    c, side = width * 2 ** level, 32 // 2 ** level
    x = stages[0]
    assert x.shape == (c, side, side)
    convs = [s for s in stages if s.label == "Conv1×1"]
    assert [s.shape[0] for s in convs] == [2 * c, c, 2 * c, c]   # c -> 2c, back to c, twice
    dw = _by_label(stages, "DWConv3×3")[0]
    assert dw.shape == (2 * c, side, side)
    gates = _by_label(stages, "SimpleGate")
    assert [g.shape for g in gates] == [(c, side, side)] * 2
    assert [s.shape for s in stages if s.kind == "add"] == [(c, side, side)] * 2
    assert stages[-1].shape == x.shape
    assert f"{c}×1×1" in _by_label(stages, "SCA")[0].detail      # the attention weights, one per channel


# --------------------------------------------------------------------------- StyleGAN2
def test_stylegan2_block_shapes_match_the_generator_features():
    cfg = dict(size=32, z_dim=16, w_dim=16, n_mlp=1, channel_base=256, channel_max=32)
    stages = architecture_stages("stylegan2_block", block_res=16, **cfg)
    G = build_model("stylegan2_g", **cfg).eval()
    with torch.no_grad():
        _, info = G(torch.zeros(1, 16), noise="const", return_features=True)
    up = [s for s in stages if s.label.startswith("ModConv3×3 ↑2")][0]
    assert up.shape == tuple(info["features"][16].shape[1:]) == (G.channels[16], 16, 16)
    assert stages[0].shape == (G.channels[8], 8, 8)                  # x from the 8x8 block
    styles = [s for s in stages if s.label.startswith("A:")]
    assert [s.shape for s in styles] == [(G.channels[8],), (G.channels[16],), (G.channels[16],)]
    assert _by_label(stages, "ToRGB 1×1")[0].shape == (3, 16, 16)
    assert _by_label(stages, "upsample ×2")[0].shape == tuple(info["skips"][16].shape[1:]) == (3, 16, 16)
    assert len([s for s in stages if s.kind == "add"]) == 3         # two noise sums, the RGB skip sum
    with pytest.raises(LessonsError, match="block_res"):
        architecture_stages("stylegan2_block", block_res=64, **cfg)


# --------------------------------------------------------------------------- restorer
def test_restorer_pipeline_shapes_and_the_residual_option():
    small = dict(size=32, nafnet=dict(width=4, enc_blocks=[1, 1], dec_blocks=[1, 1]),
                 generator=dict(size=32, z_dim=16, w_dim=16, n_mlp=1, channel_base=256, channel_max=16),
                 encoder=dict(width=8, max_channels=16), fusion=dict(width=8, n_blocks=2))
    res = architecture_stages("restorer", residual=True, **small)
    plain = architecture_stages("restorer", residual=False, **small)
    for stages in (res, plain):
        assert _by_label(stages, "x_R")[0].shape == (3, 32, 32)
        assert _by_label(stages, "x_G")[0].shape == (3, 32, 32)
        assert _by_label(stages, "f_16 (feature map)")[0].shape == (16, 16, 16)
        G = build_model("stylegan2_g", **small["generator"])
        assert _by_label(stages, "w codes")[0].shape == (G.n_w_after(16), 16)
        assert _by_label(stages, "Conv3×3 (x_R)")[0].shape == (8, 32, 32)
        assert _by_label(stages, "x̂ (restored)")[0].shape == (3, 32, 32)
    assert len([s for s in res if s.kind == "add"]) == 2             # features sum + x_R + correction
    assert len([s for s in plain if s.kind == "add"]) == 1
    assert _by_label(res, "Res × 2")


# --------------------------------------------------------------------------- bad input
def test_unknown_name_lists_the_known_ones():
    with pytest.raises(LessonsError) as e:
        viz.draw_architecture("resnet")
    for name in viz.ARCHITECTURES:
        assert name in str(e.value)


def test_a_rejected_keyword_is_named():
    with pytest.raises(LessonsError, match="bogus"):
        viz.draw_architecture("unet", bogus=3)
    with pytest.raises(LessonsError, match="depth"):
        architecture_stages("unet", depth=2)
    with pytest.raises(LessonsError, match="n_layers"):
        architecture_stages("patchgan", n_layers=0)
    with pytest.raises(LessonsError, match="width"):
        architecture_stages("restorer", width=16)            # a network's keyword needs its dict
    with pytest.raises(LessonsError, match="nonsense"):
        architecture_stages("restorer", fusion=dict(nonsense=1))
    assert not plt.get_fignums()


def test_drawing_leaves_the_random_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    architecture_stages("patchgan", ndf=8, n_layers=1, input_size=32)
    assert torch.equal(torch.rand(3), expected)
