"""The feature network of the perceptual losses and the kit-feature scores, without a download.

The networks themselves (the kit's :class:`~lessons_lib.models.features.FeatureNet`, the
:class:`~lessons_lib.models.features.PerceptualFeatures` wrapper) are defined in
:mod:`lessons_lib.models.features`. A classroom may have no internet, so
:func:`load_feature_net` takes, in order:

1. **torchvision's VGG16 ImageNet weights** when the file is already on this disk
   (``vgg16-*.pth`` in torch hub's ``checkpoints`` folder, :func:`lessons_lib.metrics.weights_dir`);
   nothing is ever downloaded;
2. otherwise **the kit's own feature network**, a small VGG-style classifier
   (:class:`~lessons_lib.models.features.FeatureNet`, registered as ``"feature_net"``) trained by the kit's engine on the
   scene, flower and CIFAR-10 categories of the course's data packs
   (``lessons train feature_net``, recipe :func:`lessons_lib.recipes` ``"feature_net"``) and
   shipped as ``lessons_lib/weights/features_kit.safetensors`` with its model card;
3. if neither is there: a :class:`~lessons_lib.LessonsError`. A perceptual loss with
   *random* features measures nothing useful, so the kit never falls back to one silently.

The scores on such a network (:func:`feature_report`: ``fid_kit``, ``kid_kit``, ``lpips_kit``,
``precision_kit``, ``recall_kit``) rank models against each other on the same images; their
values are not comparable with papers' FID or KID.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from .. import LessonsError
from ..checkpoints import load_model, read_card, save_model
from ..models.features import VGG_CUTS, FeatureNet, PerceptualFeatures
from .checks import as_batch, as_float, rgb_pair
from .distributions import frechet_feature_distance, kernel_distance, perceptual_distance, precision_recall
from .pretrained import load_pth, weights_dir

__all__ = ["KIT_WEIGHTS", "find_vgg16_weights", "feature_net_available", "load_feature_net", "ship_feature_net",
           "image_embeddings", "feature_report", "kit_feature_report"]


# --------------------------------------------------------------------------- loading
#: The kit network's shipped weights (a model card ``features_kit.json`` sits next to it).
KIT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "features_kit.safetensors"
# the channels of torchvision's VGG16 at the four cuts (relu1_2, relu2_2, relu3_3, relu4_3)
_VGG_CHANNELS = (64, 128, 256, 512)

_CACHE: dict[tuple, PerceptualFeatures] = {}


def find_vgg16_weights(folder: str | os.PathLike | None = None) -> Path | None:
    """torchvision's VGG16 ImageNet file (``vgg16-*.pth``, not ``vgg16_bn``) in ``folder``
    (default :func:`lessons_lib.metrics.weights_dir`), or None. Never downloads."""
    if folder is None:
        folder = weights_dir()
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.glob("vgg16-*.pth") if p.is_file())
    return found[0] if found else None


def _kit_description(card: dict) -> str:
    data = card.get("data") or "the course's data packs"
    extra = []
    if isinstance(card.get("n_classes"), int):
        extra.append(f"{card['n_classes']} classes")
    acc = (card.get("metrics") or {}).get("accuracy") if isinstance(card.get("metrics"), dict) else None
    if isinstance(acc, (int, float)):
        extra.append(f"val accuracy {acc:.3f}")
    more = f", {', '.join(extra)}" if extra else ""
    return f"kit features_kit (trained on {data}{more})"


def feature_net_available(prefer: str = "vgg16", *, kit_path: str | os.PathLike | None = None,
                          vgg_dir: str | os.PathLike | None = None) -> str | None:
    """Which network :func:`load_feature_net` would use: ``"vgg16"``, ``"kit"`` or None."""
    prefer = _check_prefer(prefer)
    kit = Path(kit_path) if kit_path is not None else KIT_WEIGHTS
    if prefer == "vgg16" and find_vgg16_weights(vgg_dir) is not None:
        return "vgg16"
    if kit.is_file() and kit.with_suffix(".json").is_file():
        return "kit"
    return None


def _check_prefer(prefer: str) -> str:
    p = str(prefer).strip().lower()
    p = {"auto": "vgg16", "vgg": "vgg16", "imagenet": "vgg16"}.get(p, p)
    if p not in ("vgg16", "kit"):
        raise LessonsError(f"unknown feature network {prefer!r}; choose 'vgg16' (ImageNet, when its weights "
                           "are on disk, else the kit's own) or 'kit'")
    return p


def load_feature_net(prefer: str = "vgg16", *, device: str | torch.device | None = None,
                     kit_path: str | os.PathLike | None = None, vgg_dir: str | os.PathLike | None = None,
                     verbose: bool = False) -> PerceptualFeatures:
    """The frozen feature network of the perceptual losses (see the module docstring).

    Args:
        prefer: ``"vgg16"`` (also ``"auto"``): torchvision's VGG16 ImageNet weights when the
            file is on disk, else the kit's network. ``"kit"``: the kit's network only.
        device: where to put it (default cpu).
        kit_path: the kit's ``.safetensors`` (default :data:`KIT_WEIGHTS`; its ``.json`` card
            must sit next to it).
        vgg_dir: where to look for ``vgg16-*.pth`` (default torch hub's checkpoints folder).
        verbose: print which network is used.

    Raises:
        LessonsError: neither is available (the message says how to get one), or a file is
            unreadable. Never returns a network with random weights.
    """
    prefer = _check_prefer(prefer)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    kit = Path(kit_path) if kit_path is not None else KIT_WEIGHTS
    vgg = find_vgg16_weights(vgg_dir) if prefer == "vgg16" else None
    if vgg is not None:
        key = ("vgg16", str(vgg), vgg.stat().st_mtime_ns, str(dev))
        if key not in _CACHE:
            import torchvision

            sd = load_pth(vgg)
            # built on the meta device (no memory, no random init of the 138 M unused
            # weights), then given storage that the strict load below fills completely
            with torch.device("meta"):
                full = torchvision.models.vgg16(weights=None)
            features = full.features[: VGG_CUTS[-1]].to_empty(device="cpu")
            try:
                features.load_state_dict({k[len("features."):]: v for k, v in sd.items()
                                          if k.startswith("features.") and int(k.split(".")[1]) < VGG_CUTS[-1]})
            except (RuntimeError, ValueError) as e:
                raise LessonsError(f"{vgg} is not torchvision's VGG16 state dict ({str(e)[:200]}); "
                                   "delete it or replace it with a good copy") from None
            _CACHE[key] = PerceptualFeatures(features, "vgg16", "vgg16 (ImageNet)", _VGG_CHANNELS, vgg).to(dev)
        net = _CACHE[key]
    elif kit.is_file() and kit.with_suffix(".json").is_file():
        key = ("kit", str(kit), kit.stat().st_mtime_ns, str(dev))
        if key not in _CACHE:
            card = read_card(kit.with_suffix(".json"))
            model = load_model(kit, device=dev)
            if isinstance(model, tuple):
                model = model[0]
            if not isinstance(model, FeatureNet):
                raise LessonsError(f"{kit} holds a {type(model).__name__}, not the kit's feature network; "
                                   "retrain it with `lessons train feature_net`")
            model = model.float()
            _CACHE[key] = PerceptualFeatures(model, "kit", _kit_description(card), model.widths, kit).to(dev)
        net = _CACHE[key]
    else:
        where = vgg_dir if vgg_dir is not None else weights_dir()
        vgg_hint = (f"put torchvision's vgg16-397923af.pth into {where}, or " if prefer == "vgg16" else "")
        raise LessonsError(
            f"no feature network for the perceptual loss: {kit} (the kit's own) is missing"
            + (f" and no vgg16-*.pth is in {where}" if prefer == "vgg16" else "")
            + f"; {vgg_hint}train the kit's network with `lessons train feature_net` "
            "(random features are never used instead)"
        )
    if verbose:
        print(f"perceptual features: {net.description}")
    return net


def ship_feature_net(model_path: str | os.PathLike, ship_to: str | os.PathLike | None = None) -> Path:
    """Write a trained :class:`FeatureNet` (a run's ``model.safetensors``) as the kit's
    shipped feature network: float16 weights (half the size; features need ~3 digits) and a
    card with the data, the steps, the validation accuracy and the command that made it.
    Returns the ``.safetensors`` path (default :data:`KIT_WEIGHTS`)."""
    model, card = load_model(model_path)
    if not isinstance(model, FeatureNet):
        raise LessonsError(f"{model_path} holds a {type(model).__name__}, not a FeatureNet")
    target = Path(ship_to) if ship_to is not None else KIT_WEIGHTS
    target = target.with_suffix("") if target.suffix in (".safetensors", ".json") else target
    target.parent.mkdir(parents=True, exist_ok=True)
    keep = ("task", "purpose", "recipe", "recipe_config", "data", "size", "n_classes", "classes", "n_train",
            "train_config", "steps", "epochs", "images_seen", "metrics", "hardware", "command", "wall_time_s")
    shipped = {k: card[k] for k in keep if k in card}
    shipped["name"] = "features_kit"
    shipped["shipped_from"] = str(model_path)
    return Path(save_model(model, target, shipped, half=True))


# --------------------------------------------------------------------------- kit-feature scores
def image_embeddings(images: torch.Tensor, features: nn.Module, *, layer: str = "f4",
                     batch_size: int = 32) -> torch.Tensor:
    """One feature vector per image: the global average of a feature network's ``layer`` map
    (e.g. the kit's, :func:`load_feature_net` ``("kit")``; ``f4``
    is what its classifier head reads). RGB ``(N, 3, H, W)`` in [0, 1] or uint8 -> ``(N, C)``
    float64."""
    x = as_float(as_batch(images, "images"))
    if x.shape[1] != 3:
        raise ValueError(f"images must be RGB (N, 3, H, W), got shape {tuple(x.shape)}")
    net = features
    with torch.no_grad():
        out = [net(x[i : i + batch_size], (layer,))[layer].mean(dim=(2, 3)) for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out).double()


def feature_report(pred: torch.Tensor, target: torch.Tensor, features: nn.Module, *, k: int = 3) -> dict:
    """The distribution metrics of a set of outputs against their true images, on one
    feature network (:func:`load_feature_net`): ``fid_kit``, ``kid_kit`` (x 1000, as papers print
    KID), ``lpips_kit`` (the mean paired :func:`perceptual_distance`: LPIPS's formula without
    its learned weights), ``precision_kit``, ``recall_kit`` and ``features`` (which network,
    with its validation accuracy: a distance is only as meaningful as the features). The
    suffix names the network: ``_kit`` or ``_vgg16``. Needs 2 images or more per set (and
    more than ``k``; precision and recall are ``None`` below that)."""
    p, t = rgb_pair(pred, target)
    if p.shape[0] < 2:
        raise ValueError(f"distribution metrics need at least 2 images, got {p.shape[0]}")
    net = features
    tag = getattr(net, "source", "kit")
    fp, ft = image_embeddings(p, net), image_embeddings(t, net)
    with torch.no_grad():
        lp = float(torch.cat([perceptual_distance(p[i : i + 32], t[i : i + 32], net, reduction="none")
                              for i in range(0, p.shape[0], 32)]).mean())
    prec, rec = precision_recall(ft, fp, k=k) if p.shape[0] > k else (None, None)
    return {
        f"fid_{tag}": frechet_feature_distance(fp, ft),
        f"kid_{tag}": 1000.0 * kernel_distance(fp, ft)[0],
        f"lpips_{tag}": lp,
        f"precision_{tag}": prec,
        f"recall_{tag}": rec,
        "features": getattr(net, "description", type(net).__name__),
    }


def kit_feature_report(pred: torch.Tensor, truth: torch.Tensor) -> dict:
    """:func:`feature_report` on the kit's shipped feature network, or ``{"features": why
    not}`` when the network is missing or the set has fewer than 2 images."""
    if as_batch(pred, "pred").shape[0] < 2:
        return {"features": "unavailable (distribution metrics need at least 2 images)"}
    try:
        net = load_feature_net("kit")
    except LessonsError as e:
        return {"features": f"unavailable ({e})"}
    return feature_report(pred, truth, net)
