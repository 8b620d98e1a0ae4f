"""The feature network of the perceptual losses: the kit's classifier, its training task and
recipe, the loader that never falls back to random features, the perceptual loss and the
"not LPIPS" perceptual distance."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import lessons_lib.models.features as features_mod
from lessons_lib import LessonsError
from lessons_lib.checkpoints import save_model
from lessons_lib.losses import PerceptualLoss
from lessons_lib.metrics import (KIT_WEIGHTS, feature_net_available, load_feature_net, perceptual_distance,
                                 ship_feature_net)
from lessons_lib.models import build_model
from lessons_lib.models.features import FeatureNet, PerceptualFeatures
from lessons_lib.recipes import get_recipe, run_recipe
from lessons_lib.train.features import LabelledImages


# tiny nets: one torch thread per test (the shared fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_net(n_classes=3) -> FeatureNet:
    torch.manual_seed(0)
    return build_model("feature_net", widths=[4, 8, 8, 16], convs_per_stage=[1, 2, 1, 1], n_classes=n_classes)


@pytest.fixture()
def kit_file(tmp_path) -> Path:
    return Path(save_model(tiny_net(), tmp_path / "kit", {"data": "fixture", "n_classes": 3,
                                                           "metrics": {"accuracy": 0.5}}))


# --------------------------------------------------------------------------- the network
def test_feature_net_layers_and_logits():
    net = tiny_net().eval()
    x = torch.rand(2, 3, 32, 32)
    f = net.features(x)
    assert {k: tuple(v.shape) for k, v in f.items()} == {
        "f1": (2, 4, 32, 32), "f2": (2, 8, 16, 16), "f3": (2, 8, 8, 8), "f4": (2, 16, 4, 4)}
    assert all(float(v.detach().min()) >= 0 for v in f.values())                  # ReLU outputs
    assert net(x).shape == (2, 3)
    assert set(net.features(x, ("f2",))) == {"f2"}
    with pytest.raises(ValueError, match="f1, f2, f3, f4"):
        net.features(x, ("relu3_3",))
    with pytest.raises(ValueError, match="3 channel"):
        net.features(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="widths"):
        FeatureNet(widths=(4, 8))
    # the input is ImageNet-normalised inside: the ImageNet mean colour becomes 0, the
    # bias-free conv gives 0, BN in eval mode with fresh statistics (mean 0, var 1, shift 0)
    # keeps 0, so f1 = relu(0) = 0
    mean = torch.tensor(features_mod.IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    assert float(net.features(mean.contiguous(), ("f1",))["f1"].detach().abs().max()) < 1e-6


def test_loader_refuses_random_features(tmp_path):
    empty = tmp_path / "hub"
    empty.mkdir()
    with pytest.raises(LessonsError, match="random features are never used") as e:
        load_feature_net("vgg16", kit_path=tmp_path / "none.safetensors", vgg_dir=empty)
    assert "lessons train feature_net" in str(e.value) and "vgg16-397923af.pth" in str(e.value)
    with pytest.raises(LessonsError, match="lessons train feature_net"):
        load_feature_net("kit", kit_path=tmp_path / "none.safetensors")
    with pytest.raises(LessonsError, match="unknown feature network"):
        load_feature_net("alexnet")
    assert feature_net_available("vgg16", kit_path=tmp_path / "none", vgg_dir=empty) is None


def test_loader_refuses_a_file_of_another_model(tmp_path):
    other = Path(save_model(build_model("patchgan", in_channels=3, ndf=4, n_layers=1), tmp_path / "other"))
    with pytest.raises(LessonsError, match="not the kit's feature network"):
        load_feature_net("kit", kit_path=other)


def test_kit_network_loads_frozen(kit_file, capsys):
    net = load_feature_net("kit", kit_path=kit_file, vgg_dir=kit_file.parent, verbose=True)
    assert isinstance(net, PerceptualFeatures) and net.source == "kit"
    assert net.description == "kit features_kit (trained on fixture, 3 classes, val accuracy 0.500)"
    assert capsys.readouterr().out.strip() == f"perceptual features: {net.description}"
    assert net.channels == {"f1": 4, "f2": 8, "f3": 8, "f4": 16}
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training and not net.net.training                   # stays in eval mode
    # the loaded features equal the saved network's
    ref = tiny_net().eval()
    x = torch.rand(1, 3, 16, 16)
    assert torch.allclose(net(x, ("f3",))["f3"], ref.features(x, ("f3",))["f3"], atol=1e-6)


def test_vgg16_is_preferred_when_its_file_is_on_disk(tmp_path, kit_file):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    # a stand-in for torchvision's file: the same keys and shapes (values do not matter here)
    with torch.device("meta"):  # skip the random init of the 138 M weights; fill the 7.6 M we need
        full = torchvision.models.vgg16(weights=None)
    features = full.features[:23].to_empty(device="cpu")
    with torch.no_grad():
        for p in features.parameters():
            p.normal_(0.0, 0.05)
    sd = {f"features.{k}": v for k, v in features.state_dict().items()}
    hub = tmp_path / "hub"
    hub.mkdir()
    torch.save(sd, hub / "vgg16-test.pth")
    net = load_feature_net("vgg16", kit_path=kit_file, vgg_dir=hub)
    assert net.source == "vgg16" and net.description == "vgg16 (ImageNet)"
    out = net(torch.rand(1, 3, 32, 32))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "f1": (1, 64, 32, 32), "f2": (1, 128, 16, 16), "f3": (1, 256, 8, 8), "f4": (1, 512, 4, 4)}
    rgb = torch.rand(1, 3, 32, 32)
    x = (rgb - torch.tensor(features_mod.IMAGENET_MEAN).view(1, 3, 1, 1)) \
        / torch.tensor(features_mod.IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(net(rgb, ("f2",))["f2"], features[:9](x), atol=1e-5)   # relu2_2
    assert load_feature_net("kit", kit_path=kit_file, vgg_dir=hub).source == "kit"


# --------------------------------------------------------------------------- perceptual loss
def test_perceptual_loss_by_hand(kit_file):
    net = load_feature_net("kit", kit_path=kit_file)
    loss = PerceptualLoss(net, ("f1", "f3"), (2.0, 0.5))
    torch.manual_seed(1)
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    y = torch.rand(2, 3, 16, 16)
    value = loss(x, y)
    fx, fy = net(x, ("f1", "f3")), net(y, ("f1", "f3"))
    by_hand = 2.0 * (fx["f1"] - fy["f1"]).abs().mean() + 0.5 * (fx["f3"] - fy["f3"]).abs().mean()
    assert float(value.detach()) == pytest.approx(float(by_hand.detach()), rel=1e-6)
    assert float(loss(y, y)) == 0.0
    value.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0          # gradients reach the image
    assert all(p.grad is None for p in net.parameters())                  # never the network
    with pytest.raises(ValueError, match="one weight per layer"):
        PerceptualLoss(net, ("f1", "f2"), (1.0,))
    with pytest.raises(ValueError, match="same shape"):
        loss(x, torch.rand(2, 3, 8, 8))


def test_perceptual_distance_on_the_feature_network(kit_file):
    """metrics.perceptual_distance (LPIPS's formula with unit channel weights: not LPIPS)
    accepts the loaded feature network."""
    net = load_feature_net("kit", kit_path=kit_file)
    torch.manual_seed(2)
    a, b = torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16)
    d = perceptual_distance(a, b, net, reduction="none")
    assert d.shape == (3,) and bool((d > 0).all()) and bool((d <= 4.0 * 4).all())
    assert float(perceptual_distance(a, a, net)) == pytest.approx(0.0, abs=1e-6)
    fa, fb = net(a), net(b)
    by_hand = sum(((fa[k] / (fa[k].norm(dim=1, keepdim=True) + 1e-10)
                    - fb[k] / (fb[k].norm(dim=1, keepdim=True) + 1e-10)) ** 2).sum(1).mean(dim=(1, 2))
                  for k in fa)
    assert torch.allclose(d, by_hand, atol=1e-5)


# --------------------------------------------------------------------------- data, task, recipe
def test_labelled_images_from_the_bundled_photos():
    ds = LabelledImages(["samples"], "train", 32, train=True)
    assert len(ds.classes) == len(ds) >= 5 and ds.classes[0].startswith("samples/")
    img, label = ds[0]
    assert img.shape == (3, 32, 32) and img.dtype == torch.uint8 and label == ds.classes.index(
        f"samples/{ds.sources[0].label(0)}")
    val = LabelledImages(["samples"], "val", 32, classes=ds.classes, train=False)
    assert torch.equal(val[1][0], val[1][0])                              # centre crop: deterministic
    assert torch.equal(val[1][0], ds.images[1][:, 2:34, 2:34])            # load 36, centre 32
    with pytest.raises(LessonsError, match="at least 2 classes"):
        LabelledImages(["synthetic"], "train", 16, per_class_limit=4)    # no folders: one class


def test_feature_net_recipe_trains_and_ships(tmp_path):
    recipe = get_recipe("feature_net")
    assert recipe.data == "scenes8+flowers5+cifar10" and recipe.size == 64 and recipe.train.lr_schedule == "cosine"
    smoke = recipe.smoke()
    target = tmp_path / "shipped" / "features_kit"
    result = run_recipe(smoke, out=str(tmp_path / "run"), ship=True, ship_to=str(target), eval_every=0)
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["task"] == "classification" and card["n_classes"] == len(card["classes"]) >= 5
    assert 0.0 <= result.val_metrics["accuracy"] <= 1.0
    assert result.val_metrics["chance"] == pytest.approx(1 / card["n_classes"])
    shipped = json.loads(target.with_suffix(".json").read_text())
    assert shipped["dtype"] == "float16" and shipped["data"] == "samples" and shipped["name"] == "features_kit"
    net = load_feature_net("kit", kit_path=target.with_suffix(".safetensors"))
    assert net.description.startswith("kit features_kit (trained on samples")
    # ship=False (the smoke default) leaves nothing behind
    run_recipe(smoke, out=str(tmp_path / "run2"), ship_to=str(tmp_path / "nope"), eval_every=-1)
    assert not (tmp_path / "nope.safetensors").exists()


def test_ship_refuses_another_model(tmp_path):
    other = Path(save_model(build_model("patchgan", in_channels=3, ndf=4, n_layers=1), tmp_path / "other"))
    with pytest.raises(LessonsError, match="not a FeatureNet"):
        ship_feature_net(other, tmp_path / "kit")


# --------------------------------------------------------------------------- the shipped weights
def test_the_shipped_kit_network():
    """The kit ships its trained feature network: small, fp16, with a card whose validation
    accuracy is well above chance."""
    assert KIT_WEIGHTS.is_file(), "lessons_lib/weights/features_kit.safetensors is missing: `lessons train feature_net`"
    assert KIT_WEIGHTS.stat().st_size < 5 * 2**20
    card = json.loads(KIT_WEIGHTS.with_suffix(".json").read_text())
    assert card["dtype"] == "float16" and card["arch"] == "feature_net"
    assert card["data"] == "scenes8 + flowers5 + cifar10" and card["n_classes"] == 23
    assert card["command"].startswith("lessons train feature_net")
    acc, chance = card["metrics"]["accuracy"], card["metrics"]["chance"]
    assert acc > 3 * chance and acc > card["metrics"]["majority"] * 3
    net = load_feature_net("kit", kit_path=KIT_WEIGHTS)
    out = net(torch.rand(1, 3, 64, 64))
    assert [tuple(v.shape[1:]) for v in out.values()] == [(24, 64, 64), (48, 32, 32), (96, 16, 16), (192, 8, 8)]
