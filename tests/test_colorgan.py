"""ColorGAN (seed 001): the generator with its noise branch, L_s, the loss weights, the task,
the recipe and `lessons colorize --seed` on a tiny trained run."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lessons_lib.metrics.features as features_mod
from lessons_lib import LessonsError
from lessons_lib.checkpoints import save_model
from lessons_lib.cli import main
from lessons_lib.data import synthetic_image, synthetic_images, tensor_to_image
from lessons_lib.losses import gradient_penalty, l1_loss
from lessons_lib.models import build_model
from lessons_lib.models.discriminators import pair
from lessons_lib.models.features import project_features
from lessons_lib.recipes import ColorGANRecipe, apply_overrides, build_task, get_recipe


# tiny nets: one torch thread per test (the shared fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A tiny kit feature network in a temporary folder, used as the shipped one (plumbing
    tests only: what the features are worth is checked in test_features.py)."""
    torch.manual_seed(0)
    net = build_model("feature_net", widths=[4, 8, 8, 16], convs_per_stage=[1, 1, 1, 1], n_classes=3)
    path = Path(save_model(net, tmp_path_factory.mktemp("kit") / "features_kit",
                           {"data": "test fixture", "n_classes": 3}))
    saved = features_mod.KIT_WEIGHTS
    features_mod.KIT_WEIGHTS = path
    yield path
    features_mod.KIT_WEIGHTS = saved


def small_g(**kw):
    torch.manual_seed(0)
    return build_model("colorgan_g", base=8, depth=3, **kw).eval()


def L_batch(n=2, size=32):
    rgb = synthetic_images(n, size, seed=1).float() / 255.0
    from lessons_lib.color import rgb_to_lab_normalized

    return rgb_to_lab_normalized(rgb)


# --------------------------------------------------------------------------- the generator
def test_generator_shapes_and_noise_branch():
    G = small_g()
    L, _ = L_batch()
    ab, n = G.forward_with_noise_features(L)
    assert ab.shape == (2, 2, 32, 32)
    assert float(ab.detach().abs().max()) <= 1.0                           # tanh: ab / 110 in [-1, 1]
    # latent map: 3 levels of base 8 -> 32 channels at 32 / 2^3 = 4
    assert G.latent_channels == 32 and n.shape == (2, 32, 4, 4)
    assert G.noise_shape(32, 32) == (8, 4, 4)                       # a quarter of the latent's channels
    z = G.sample_noise(L, seed=0)
    assert z.shape == (2, 8, 4, 4)
    big = G.sample_noise(torch.zeros(64, 1, 128, 128), seed=1)
    assert abs(float(big.std()) - 0.1) < 0.005 and abs(float(big.mean())) < 0.005  # N(0, 0.1^2)
    assert torch.equal(G.noise_features(z), n)                      # n = G_f(z) for seed 0's z


def test_noise_is_added_to_the_latent_map():
    """Zeroing the noise branch's last conv must make the output independent of z."""
    G = small_g()
    L, _ = L_batch()
    with torch.no_grad():
        G.noise_branch[-1].weight.zero_()
        G.noise_branch[-1].bias.fill_(0.3)
    a, b = G(L, seed=1), G(L, seed=2)
    assert torch.equal(a, b)
    with torch.no_grad():  # and adding a constant 0.3 to the latent = a bias on the map
        G.noise_branch[-1].bias.zero_()
    assert not torch.allclose(G(L, seed=1), a)


def test_seeds_are_deterministic_and_different_seeds_differ():
    G = small_g()
    L, _ = L_batch()
    default = G(L)
    assert torch.equal(default, G(L, seed=0))                        # no seed = seed 0
    assert torch.equal(G(L, seed=7), G(L, seed=7))
    assert torch.equal(G(L, seed=7), G(L, generator=torch.Generator().manual_seed(7)))
    z = G.sample_noise(L, seed=7)
    assert torch.equal(G(L, noise=z), G(L, seed=7))
    with torch.no_grad():
        outs = [G(L, seed=s) for s in range(8)]
    dists = [float((a - b).abs().mean()) for a, b in itertools.combinations(outs, 2)]
    assert min(dists) > 0.0                                          # every pair differs


def test_generator_rejects_bad_input():
    G = small_g()
    with pytest.raises(ValueError, match="1 channel"):
        G(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="multiples of 8"):
        G(torch.zeros(1, 1, 36, 36))
    with pytest.raises(ValueError, match=r"noise must have shape \(1, 8, 4, 4\)"):
        G(torch.zeros(1, 1, 32, 32), noise=torch.zeros(1, 8, 2, 2))
    with pytest.raises(ValueError, match="depth"):
        build_model("colorgan_g", depth=1)


# --------------------------------------------------------------------------- L_s projection
def test_project_features_is_a_box_average():
    f = torch.arange(2 * 8 * 8 * 8, dtype=torch.float32).view(2, 8, 8, 8)
    p = project_features(f, 4, (2, 2))
    by_hand = f.view(2, 4, 2, 2, 4, 2, 4).mean(dim=(2, 4, 6))        # pairs of channels, 4x4 cells
    assert torch.allclose(p, by_hand)
    up = project_features(f, 16, (8, 8))                              # more channels: repeated
    assert torch.equal(up[:, 0], f[:, 0]) and torch.equal(up[:, 1], f[:, 0]) and torch.equal(up[:, 15], f[:, 7])
    odd = project_features(torch.rand(1, 96, 16, 16), 256, (4, 4))    # any ratio works
    assert odd.shape == (1, 256, 4, 4)
    assert project_features(f, 8, (8, 8)) is f


# --------------------------------------------------------------------------- task and losses
def tiny_recipe(**kw) -> ColorGANRecipe:
    base = dict(features="kit", g_base=8, g_depth=3, d_base=8, d_layers=2, perceptual_layers=("f1", "f2"),
                perceptual_weights=(1.0, 0.5), s_layer="f3")
    base.update(kw)
    return apply_overrides(get_recipe("colorgan").smoke(), **base)


@pytest.fixture()
def task_and_state(kit):
    task = build_task(tiny_recipe())
    torch.manual_seed(0)
    task.setup(torch.device("cpu"))
    data = task.prepare(synthetic_images(4, 32, seed=2), torch.device("cpu"))
    return task, data


def test_generator_loss_is_the_weighted_sum_of_its_parts(task_and_state):
    task, data = task_and_state
    r = task.recipe
    assert (r.lambda_gan, r.lambda_perceptual, r.lambda_l1, r.lambda_s) == (0.1, 100.0, 10.0, 1.0)  # seed eq. 1
    state = task.forward(data)
    out = task.loss("G", state, 0)
    parts = {k: float(out[k]) for k in ("gan", "perceptual", "l1", "s")}
    expected = 0.1 * parts["gan"] + 100 * parts["perceptual"] + 10 * parts["l1"] + 1 * parts["s"]
    assert float(out["loss"].detach()) == pytest.approx(expected, rel=1e-5)
    # the parts by hand
    with torch.no_grad():
        from lessons_lib.color import lab_normalized_to_rgb

        cond, target, fake = state["cond"], state["target"], state["fake"]
        assert parts["l1"] == pytest.approx(float((fake - target).abs().mean()), rel=1e-5)
        assert parts["gan"] == pytest.approx(float(-task.nets["D"](pair(cond, fake)).mean()), rel=1e-5)
        feats = task.features
        true_rgb, pred_rgb = lab_normalized_to_rgb(cond, target), lab_normalized_to_rgb(cond, fake)
        ft, fp = feats(true_rgb, ("f1", "f2", "f3")), feats(pred_rgb, ("f1", "f2"))
        lp = (fp["f1"] - ft["f1"]).abs().mean() + 0.5 * (fp["f2"] - ft["f2"]).abs().mean()
        assert parts["perceptual"] == pytest.approx(float(lp), rel=1e-5)
        n = state["noise_features"]                                        # (4, 32, 4, 4)
        assert n.shape == (4, 32, 4, 4)
        target_s = project_features(ft["f3"], 32, (4, 4))                  # kit f3: 8 ch at 8x8 -> 32 ch at 4x4
        assert parts["s"] == pytest.approx(float((n - target_s).abs().mean()), rel=1e-5)


def test_loss_weights_are_honoured(kit):
    torch.manual_seed(0)
    w = dict(lambda_gan=0.7, lambda_perceptual=3.0, lambda_l1=2.0, lambda_s=5.0)
    task = build_task(tiny_recipe(**w))
    task.setup(torch.device("cpu"))
    state = task.forward(task.prepare(synthetic_images(4, 32, seed=2), torch.device("cpu")))
    out = task.loss("G", state, 0)
    total = 0.7 * out["gan"] + 3.0 * out["perceptual"] + 2.0 * out["l1"] + 5.0 * out["s"]
    assert float(out["loss"].detach()) == pytest.approx(float(total.detach()), rel=1e-5)
    off = build_task(tiny_recipe(lambda_perceptual=0.0, lambda_s=0.0))
    off.setup(torch.device("cpu"))
    assert off.features is None                                        # no feature network needed
    parts = off.loss("G", off.forward(off.prepare(synthetic_images(4, 32, seed=2), torch.device("cpu"))), 0)
    assert "perceptual" not in parts and "s" not in parts


def test_critic_loss_is_wgan_with_gradient_penalty(task_and_state):
    task, data = task_and_state
    state = task.forward(data)
    torch.manual_seed(5)
    out = task.loss("D", state, 0)
    D, cond = task.nets["D"], state["cond"]
    real, fake = pair(cond, state["target"]), pair(cond, state["fake"].detach())
    torch.manual_seed(5)
    gp = gradient_penalty(D, real, fake, lambda_gp=10.0)
    expected = D(fake).mean() - D(real).mean() + gp
    assert float(out["loss"].detach()) == pytest.approx(float(expected.detach()), rel=1e-4)
    assert float(out["gp"]) == pytest.approx(float(gp.detach()), rel=1e-4)
    # the critic has instance norm, not batch norm (WGAN-GP sec. 4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in D.modules())


def test_training_noise_is_fresh_each_step(task_and_state):
    task, data = task_and_state
    torch.manual_seed(3)
    a = task.forward(data)["fake"]
    b = task.forward(data)["fake"]
    assert not torch.equal(a, b)


# --------------------------------------------------------------------------- recipe
def test_recipe_carries_the_seed_settings():
    r = get_recipe("colorgan")
    assert isinstance(r, ColorGANRecipe)
    assert (r.lr, r.lr_d, r.beta1, r.beta2, r.train.batch_size) == (1e-4, 2e-4, 0.5, 0.999, 16)
    assert (r.gan_loss, r.lambda_gp, r.noise_std, r.color_space, r.discriminator) == ("wgan", 10.0, 0.1, "lab",
                                                                                    "patchgan")
    assert r.data == "scenes8" and r.size in (64, 128)
    assert type(build_task(r)).__name__ == "ColorGANTask"


@pytest.mark.parametrize("bad, message", [
    (dict(color_space="rgb"), "color_space"),
    (dict(lambda_identity=5.0), "identity"),
    (dict(perceptual_weights=(1.0,)), "one weight per layer"),
    (dict(s_layer="relu3_3"), "s_layer"),
    (dict(features="alexnet"), "features"),
    (dict(size=72), "multiple of"),
    (dict(lambda_s=-1.0), "lambda_s"),
    (dict(lambda_ms=-0.5), "lambda_ms"),
    (dict(noise_init="xavier"), "noise_init"),
    (dict(ms_pool=0), "ms_pool"),
    (dict(size=64, ms_pool=3), "divides size 64"),
    (dict(lambda_ms=1.0, noise_std=0.0), "noise_std is 0"),
])
def test_recipe_rejects_bad_options(bad, message):
    with pytest.raises(LessonsError, match=message):
        get_recipe("colorgan", **bad)


def test_task_needs_a_feature_network(tmp_path):
    saved = features_mod.KIT_WEIGHTS
    features_mod.KIT_WEIGHTS = tmp_path / "absent.safetensors"
    try:
        task = build_task(tiny_recipe())
        with pytest.raises(LessonsError, match="lessons train feature_net"):
            task.setup(torch.device("cpu"))
    finally:
        features_mod.KIT_WEIGHTS = saved


# --------------------------------------------------------------------------- a tiny run, the CLI
TINY = ["--data", "synthetic", "--size", "32", "--batch-size", "4", "--steps", "2", "--device", "cpu",
        "--set", "g_base=8", "--set", "g_depth=3", "--set", "d_base=8", "--set", "d_layers=2",
        "--set", "limit=8", "--set", "val_limit=4", "--set", "sample_every=-1", "--set", "eval_every=-1",
        "--set", "progress=false", "--set", "features=kit", "--set", "perceptual_layers=[\"f1\",\"f2\"]",
        "--set", "perceptual_weights=[1,1]", "--set", "s_layer=f3"]


@pytest.fixture(scope="module")
def run(kit, tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run") / "colorgan"
    assert main(["train", "colorgan", *TINY, "--out", str(out)]) == 0
    return out


def test_run_card_says_noise_and_features(run, capsys):
    import json

    card = json.loads((run / "model.json").read_text())
    assert card["arch"] == "colorgan_g" and card["g_noise"] is True and card["g_input"] == "L"
    assert card["perceptual_features"].startswith("kit features_kit (trained on test fixture")
    assert card["recipe"] == "colorgan" and card["steps"] == 2


def test_colorize_cli_with_seeds(run, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    tensor_to_image(synthetic_image(0, 64, seed=3)).resize((40, 30)).save(photo)

    def colorize(name, *extra):
        out = tmp_path / name
        assert main(["colorize", str(photo), str(out), "--weights", str(run), "--device", "cpu", *extra]) == 0
        with Image.open(out) as img:
            assert img.size == (40, 30)
            return np.asarray(img.convert("RGB")).astype(int)

    default, seed0, seed0b = colorize("a.png"), colorize("b.png", "--seed", "0"), colorize("c.png", "--seed", "0")
    assert np.array_equal(default, seed0) and np.array_equal(seed0, seed0b)   # reproducible, default = seed 0
    others = [colorize(f"s{s}.png", "--seed", str(s)) for s in (1, 2, 3)]
    assert any(not np.array_equal(seed0, o) for o in others)                  # the seed changes the colouring


def test_mean_pairwise_distance_by_hand():
    from lessons_lib.metrics import mean_pairwise_distance

    a, b, c = torch.zeros(2, 2, 3, 3), torch.ones(2, 2, 3, 3), torch.zeros(2, 2, 3, 3)
    c[:, 0], c[:, 1] = 3.0, 4.0
    c[1, :, 0, 0] = 0.0                                   # image 1 differs at one pixel
    d = mean_pairwise_distance([a, b, c], reduction="none")
    assert float(d[0]) == pytest.approx((2 ** 0.5 + 5 + 13 ** 0.5) / 3)
    assert float(d[1]) == pytest.approx((2 ** 0.5 + (8 * 5 + 0) / 9 + (8 * 13 ** 0.5 + 2 ** 0.5) / 9) / 3)
    assert float(mean_pairwise_distance([a, a.clone()])) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        mean_pairwise_distance([a])


def test_pipeline_diversity_on_one_image(run):
    from lessons_lib.pipeline import Colorizer

    col = Colorizer(run, device="cpu")
    assert col.has_noise
    L, _ = L_batch(1, 32)
    abs_ = [col.predict_ab(L, seed=s) for s in range(8)]
    from lessons_lib.metrics import mean_pairwise_distance

    assert float(mean_pairwise_distance(abs_)) > 0.0
    assert torch.equal(col.predict_ab(L, seed=4), abs_[4])
    # Colorizer.diversity: the same number in Lab units, and each seed's PSNR
    rgb = synthetic_images(1, 32, seed=1).float() / 255.0
    d = col.diversity(L, truth=rgb, seeds=range(8))
    assert d["mean_pairwise_ab"] == pytest.approx(float(mean_pairwise_distance(abs_)) * 110, rel=1e-5)
    assert len(d["per_image"]) == 1 and len(d["psnr"][0]) == 8
    from lessons_lib.metrics import psnr

    assert d["psnr"][0][3] == pytest.approx(float(psnr(col.colorize_tensor(L, seed=3), rgb)), rel=1e-6)
    assert d["max_psnr_dev_db"] == pytest.approx(max(abs(p - sum(d["psnr"][0]) / 8) for p in d["psnr"][0]))
    with pytest.raises(ValueError, match="at least 2 seeds"):
        col.diversity(L, seeds=[0])


# --------------------------------------------------------------------------- mode seeking (lambda_ms)
def test_mode_seeking_ratio_by_hand():
    from lessons_lib.losses import mode_seeking_loss, mode_seeking_ratio

    a, b = torch.zeros(2, 2, 4, 4), torch.full((2, 2, 4, 4), 0.5)
    b[1] = 0.0                                                  # image 1: equal outputs
    z1, z2 = torch.zeros(2, 3, 1, 1), torch.full((2, 3, 1, 1), 2.0)
    assert float(mode_seeking_ratio(a, b, z1, z2)) == pytest.approx(0.25 / 2.0)   # mean|a-b| 0.25, mean|dz| 2
    assert float(mode_seeking_loss(a, b, z1, z2)) == pytest.approx(1 / (0.125 + 1e-5))
    assert float(mode_seeking_loss(a, a.clone(), z1, z2)) == pytest.approx(1e5)   # collapse: 1 / eps
    # its gradient pushes the two outputs apart
    b = b.requires_grad_()
    mode_seeking_loss(a, b, z1, z2).backward()
    assert float((b.grad[0] * (b.detach()[0] - a[0])).sum()) < 0         # descending moves b[0] away from a[0]


def test_mode_seeking_pool_ignores_pixel_patterns():
    """With pool > 1 the distance is between block means: a checkerboard difference (the
    cheap way to make two outputs differ) counts 0, a uniform shift counts fully."""
    from lessons_lib.losses import mode_seeking_ratio

    a = torch.zeros(1, 2, 8, 8)
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1.0      # +-1
    b = a + 0.5 * checker                                                               # differs by 0.5 everywhere
    c = a + 0.5                                                                         # a uniform shift
    z1, z2 = torch.zeros(1, 4, 1, 1), torch.ones(1, 4, 1, 1)
    assert float(mode_seeking_ratio(a, b, z1, z2)) == pytest.approx(0.5)                # pixels: 0.5
    assert float(mode_seeking_ratio(a, b, z1, z2, pool=2)) == pytest.approx(0.0, abs=1e-7)
    assert float(mode_seeking_ratio(a, c, z1, z2, pool=4)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="pool must be an int >= 1"):
        mode_seeking_ratio(a, c, z1, z2, pool=0)
    with pytest.raises(ValueError, match="at least 16x16"):
        mode_seeking_ratio(a, c, z1, z2, pool=16)


@pytest.mark.parametrize("args, message", [
    ((torch.zeros(2, 2, 4, 4), torch.zeros(2, 2, 4, 2), torch.zeros(2, 1), torch.ones(2, 1)), "same shape"),
    ((torch.zeros(2, 2, 4, 4), torch.zeros(2, 2, 4, 4), torch.zeros(2, 1), torch.ones(3, 1)), "same shape"),
    ((torch.zeros(2, 2, 4, 4), torch.zeros(2, 2, 4, 4), torch.zeros(3, 1), torch.ones(3, 1)), "batch size"),
    ((torch.zeros(2, 2, 4, 4), torch.zeros(2, 2, 4, 4), torch.ones(2, 1), torch.ones(2, 1)), "noise draws are equal"),
])
def test_mode_seeking_rejects_bad_input(args, message):
    from lessons_lib.losses import mode_seeking_loss

    with pytest.raises(ValueError, match=message):
        mode_seeking_loss(*args)


def test_generator_loss_with_mode_seeking(kit):
    torch.manual_seed(0)
    task = build_task(tiny_recipe(lambda_ms=2.0, ms_pool=4))
    task.setup(torch.device("cpu"))
    state = task.forward(task.prepare(synthetic_images(4, 32, seed=2), torch.device("cpu")))
    assert state["fake_2"].shape == state["fake"].shape == (4, 2, 32, 32)
    assert not torch.equal(state["noise"], state["noise_2"])           # two independent draws
    out = task.loss("G", state, 0)
    blocks = torch.nn.functional.avg_pool2d(state["fake"] - state["fake_2"], 4)     # ms_pool = 4
    ratio = blocks.abs().mean() / (state["noise"] - state["noise_2"]).abs().mean()
    assert float(out["ms_ratio"]) == pytest.approx(float(ratio.detach()), rel=1e-5)
    total = 0.1 * out["gan"] + 100 * out["perceptual"] + 10 * out["l1"] + out["s"] + 2.0 / (ratio + 1e-5)
    assert float(out["loss"].detach()) == pytest.approx(float(total.detach()), rel=1e-5)
    assert task.describe()["losses"]["lambda_ms (mode seeking, not in the seed)"] == 2.0
    assert task.describe()["losses"]["ms_pool"] == 4
    # the seed's recipe: no second pass, no term
    plain = build_task(tiny_recipe())
    plain.setup(torch.device("cpu"))
    st = plain.forward(plain.prepare(synthetic_images(4, 32, seed=2), torch.device("cpu")))
    assert "fake_2" not in st and "ms_ratio" not in plain.loss("G", st, 0)


def test_mode_seeking_makes_the_noise_matter():
    """G fitted to one colouring per photo with L1 ignores z; with the mode-seeking term the
    colourings of different seeds move apart, at a price in L1 (100 Adam steps, 32 px)."""
    from lessons_lib.losses import mode_seeking_loss
    from lessons_lib.metrics import mean_pairwise_distance

    L, ab = L_batch(4, 32)

    def fit(lambda_ms):
        G = small_g().train()
        opt = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
        torch.manual_seed(1)
        for _ in range(100):
            z1, z2 = G.sample_noise(L), G.sample_noise(L)
            fakes = G(torch.cat([L, L]), noise=torch.cat([z1, z2]))     # one pass, as ColorGANTask does
            loss = 10 * l1_loss(fakes[:4], ab)
            if lambda_ms:
                loss = loss + lambda_ms * mode_seeking_loss(fakes[:4], fakes[4:], z1, z2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        G.eval()
        with torch.no_grad():
            outs = [G(L, seed=s) * 110 for s in range(4)]                 # ab in Lab units
            return float(mean_pairwise_distance(outs)), float(l1_loss(G(L, seed=0), ab))

    div_0, l1_0 = fit(0.0)
    div_ms, l1_ms = fit(0.1)
    assert div_0 < 0.5                                                     # z ignored: a fraction of a Lab unit
    assert div_ms > 2.0 and div_ms > 10 * div_0                            # a visible difference
    assert l1_ms > l1_0                                                    # diversity is paid for in L1 here


def test_noise_init_kaiming_keeps_the_scale_of_z():
    """The pix2pix rule N(0, 0.02) shrinks z ~ N(0, 0.1^2) through G_f's three convs to a
    few thousandths; He initialisation keeps it near sigma. Only G_f differs."""
    L = torch.rand(4, 1, 64, 64) * 2 - 1
    stds = {}
    for init in ("normal", "kaiming"):
        torch.manual_seed(0)
        G = build_model("colorgan_g", base=16, depth=4, noise_init=init)
        with torch.no_grad():
            stds[init] = float(G.noise_features(G.sample_noise(L, seed=0)).std())
        assert G.noise_init == init
        if init == "normal":
            normal = G
    assert stds["normal"] < 0.01 < 0.04 < stds["kaiming"] < 0.25
    enc = [(n, p) for n, p in G.named_parameters() if not n.startswith("noise_branch")]
    assert all(torch.equal(p, dict(normal.named_parameters())[n]) for n, p in enc)   # the rest: same init
    with pytest.raises(ValueError, match="noise_init"):
        build_model("colorgan_g", base=8, depth=3, noise_init="xavier")


def test_a_kaiming_run_records_its_generator_config(kit):
    task = build_task(tiny_recipe(noise_init="kaiming", lambda_ms=0.1))
    assert task.generator_config()["noise_init"] == "kaiming"
    assert "noise_init" not in build_task(tiny_recipe()).generator_config()   # old cards stay valid


def test_train_cli_with_mode_seeking(kit, tmp_path):
    out = tmp_path / "colorgan_ms"
    assert main(["train", "colorgan", *TINY, "--set", "lambda_ms=1.0", "--set", "noise_init=kaiming",
                 "--out", str(out)]) == 0
    import csv
    import json

    card = json.loads((out / "model.json").read_text())
    assert card["losses"]["lambda_ms (mode seeking, not in the seed)"] == 1.0
    assert card["config"]["noise_init"] == "kaiming"
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert float(rows[-1]["G_ms_ratio"]) > 0                                # the ratio is logged
    from lessons_lib.pipeline import Colorizer

    assert Colorizer(out, device="cpu").model.noise_init == "kaiming"       # the card rebuilds the net
