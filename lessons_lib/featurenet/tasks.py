"""The kit's feature network, trained by the engine: an image classifier as a :class:`Task`.

ColorGAN's perceptual loss (seed 001) and the restorer's need the features of a network
trained to recognise things. Where torchvision's ImageNet VGG16 is not on the disk, the kit
uses its own :class:`~lessons_lib.models.features.FeatureNet`, trained here on the scene,
flower and CIFAR-10 categories of the course's data packs, all labels combined (8 + 5 + 10
= 23 classes), with softmax cross-entropy (label smoothing 0.1, Szegedy et al. 2016,
sec. 7: it keeps the logits - and so the features - from growing without bound):

    L = - sum_k q_k log softmax(f(x))_k,    q = (1 - eps) onehot(y) + eps / K

One command retrains it and replaces the shipped weights::

    lessons train feature_net              # recipe "feature_net", see lessons_lib.recipes

There is no discriminator: ``phases = ("G",)`` (the engine's name for "the one network that
learns"; here G is the classifier).
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Iterable

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from .. import LessonsError
from ..train.task import Task
from ..data import image_to_tensor, open_source
from ..models import build_model
from ..train.config import recipe_to_dict

if TYPE_CHECKING:  # pragma: no cover
    from .recipes import FeatureNetRecipe

__all__ = ["LabelledImages", "FeatureNetTask", "split_packs"]


def split_packs(data: str) -> list[str]:
    """``"scenes8+flowers5+cifar10"`` -> ``["scenes8", "flowers5", "cifar10"]``."""
    packs = [p.strip() for p in str(data).split("+") if p.strip()]
    if not packs:
        raise LessonsError(f"no image source in {data!r}; give names joined by '+', e.g. scenes8+flowers5")
    return packs


class LabelledImages(Dataset):
    """Labelled square crops from several image sources, decoded once and kept in memory.

    Each source's images carry the class of their folder (``source.label(i)``); the label
    of the combined set is ``"<source>/<class>"``, so "scenes8/kitchen" and
    "cifar10/airplane" are different classes. Images are resized (short side) to
    ``load = size + size // 8`` and centre-cropped to ``load x load`` once, at construction
    (decoding 10,000 JPEGs per epoch would cost more than the small network's step);
    items are then a random ``size`` crop + horizontal flip (training) or the centre crop.

    Args:
        packs: source names for :func:`lessons_lib.data.open_source`.
        split: "train" or "val"; for a source without a val split (CIFAR-10), "test".
        size: crop side.
        per_class_limit: at most this many images of each class (the first ones), to
            balance CIFAR-10's 5,000 per class against scenes8's ~190; None = all.
        classes: the class list to index labels with (give the training set's to a
            validation set); None = the sorted classes found here.
        train: random crop + flip, else centre crop.
    """

    def __init__(self, packs: list[str], split: str, size: int, per_class_limit: int | None = None,
                 classes: list[str] | None = None, train: bool = True) -> None:
        self.size = int(size)
        self.load = self.size + self.size // 8
        self.train = train
        items: list[tuple[str, Any, int]] = []
        self.sources = []
        for pack in packs:
            try:
                src = open_source(pack, split)
            except LessonsError:
                if split != "val":
                    raise
                src = open_source(pack, "test")  # CIFAR-10 ships train/test only
            self.sources.append(src)
            counts: dict[str, int] = {}
            for i in range(len(src)):
                label = f"{pack}/{src.label(i) or pack}"
                if per_class_limit is not None and counts.get(label, 0) >= per_class_limit:
                    continue
                counts[label] = counts.get(label, 0) + 1
                items.append((label, src, i))
        found = sorted({label for label, _, _ in items})
        self.classes = list(classes) if classes is not None else found
        unknown = sorted(set(found) - set(self.classes))
        if unknown:
            raise LessonsError(f"classes {unknown[:5]} of split {split!r} are not among the training classes")
        if len(self.classes) < 2:
            raise LessonsError(f"a classifier needs at least 2 classes; {'+'.join(packs)} gives {self.classes}")
        index = {c: k for k, c in enumerate(self.classes)}
        self.labels = torch.tensor([index[label] for label, _, _ in items], dtype=torch.long)
        self.pack_of = [label.split("/", 1)[0] for label, _, _ in items]
        L = self.load
        self.images = torch.empty((len(items), 3, L, L), dtype=torch.uint8)
        for n, (_, src, i) in enumerate(items):
            img = src[i]
            w, h = img.size
            s = L / min(w, h)
            nw, nh = max(L, round(w * s)), max(L, round(h * s))
            img = img.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
            x0, y0 = (nw - L) // 2, (nh - L) // 2
            self.images[n] = image_to_tensor(img.crop((x0, y0, x0 + L, y0 + L)))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = self.images[i]                                   # (3, load, load) uint8
        s, L = self.size, self.load
        if self.train:
            # torch's global RNG: the engine seeds it per item (exact resume)
            x0, y0 = (int(v) for v in torch.randint(0, L - s + 1, (2,)))
            img = img[:, y0:y0 + s, x0:x0 + s]
            if bool(torch.rand(()) < 0.5):
                img = img.flip(-1)
        else:
            o = (L - s) // 2
            img = img[:, o:o + s, o:o + s]
        return img.contiguous(), int(self.labels[i])


class FeatureNetTask(Task):
    """Train :class:`~lessons_lib.models.features.FeatureNet` as a classifier (one phase, "G")."""

    name = "feature_net"
    phases = ("G",)
    export_key = "G"

    def __init__(self, recipe: "FeatureNetRecipe") -> None:
        super().__init__()
        self.recipe = recipe
        self.name = recipe.name
        self.packs = split_packs(recipe.data)
        self._datasets: dict[str, LabelledImages] = {}

    def dataset(self, split: str, train: bool) -> Dataset | None:
        r = self.recipe
        if split == "train":
            if "train" not in self._datasets:
                self._datasets["train"] = LabelledImages(self.packs, "train", r.size, r.per_class_limit, train=True)
            ds = self._datasets["train"]
            if not train:  # the same images without augmentation (a shallow copy shares them)
                ds = copy.copy(ds)
                ds.train = False
            return ds
        if "val" not in self._datasets:
            classes = self.dataset("train", True).classes  # type: ignore[union-attr]
            self._datasets["val"] = LabelledImages(self.packs, "val", r.size, r.val_per_class, classes=classes,
                                                   train=False)
        return self._datasets["val"]

    @property
    def classes(self) -> list[str]:
        return self.dataset("train", True).classes  # type: ignore[union-attr]

    def setup(self, device: torch.device) -> None:
        r = self.recipe
        classes = self.classes
        self.nets = {"G": build_model("feature_net", widths=list(r.widths), convs_per_stage=list(r.convs_per_stage),
                                      n_classes=len(classes), dropout=r.dropout, classes=classes).to(device)}
        # AdamW (Loshchilov & Hutter 2019): weight decay decoupled from the adaptive step,
        # the usual regulariser of a small classifier trained from scratch.
        self.opts = {"G": torch.optim.AdamW(self.nets["G"].parameters(), lr=r.lr, weight_decay=r.weight_decay)}

    def prepare(self, batch: Any, device: torch.device) -> dict[str, torch.Tensor]:
        images, labels = batch
        return {"x": images.to(device).float() / 255.0, "y": labels.to(device)}  # RGB in [0, 1], (B,)

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**data, "logits": self.nets["G"](data["x"])}     # (B, n_classes)

    def loss(self, phase: str, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        if phase != "G":
            raise LessonsError(f"the feature-network task has only the phase 'G', not {phase!r}")
        logits, y = state["logits"].float(), state["y"]
        ce = F.cross_entropy(logits, y, label_smoothing=self.recipe.label_smoothing)
        acc = (logits.argmax(1) == y).float().mean()
        return {"loss": ce, "accuracy": acc.detach()}

    def sample(self, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """The fixed batch's images (a classifier draws nothing)."""
        return data["x"]

    def evaluate(self, batches: Iterable[Any]) -> dict[str, float]:
        """Top-1 and top-5 accuracy, cross-entropy, and top-1 per source, on the val split.

        ``chance`` = 1 / classes and ``majority`` = the share of the most frequent class:
        a classifier that learned nothing scores one of them."""
        n, correct, top5, ce = 0, 0, 0, 0.0
        per: dict[str, list[int]] = {}
        labels_all = []
        offset = 0
        ds = self._datasets.get("val")
        for images, labels in batches:
            data = self.prepare((images, labels), self.device)
            logits = self.nets["G"](data["x"]).float()
            y = data["y"]
            pred = logits.argmax(1)
            k = min(5, logits.shape[1])
            correct += int((pred == y).sum())
            top5 += int((logits.topk(k, dim=1).indices == y[:, None]).any(1).sum())
            ce += float(F.cross_entropy(logits, y, reduction="sum"))
            if ds is not None:
                for j, ok in enumerate((pred == y).tolist()):
                    pack = ds.pack_of[offset + j]
                    per.setdefault(pack, [0, 0])
                    per[pack][0] += int(ok)
                    per[pack][1] += 1
            offset += len(y)
            labels_all.append(y.cpu())
            n += len(y)
        if not n:
            return {}
        counts = torch.bincount(torch.cat(labels_all))
        out = {"n_images": float(n), "accuracy": correct / n, "top5_accuracy": top5 / n, "cross_entropy": ce / n,
               "chance": 1.0 / len(self.classes), "majority": float(counts.max()) / n}
        out.update({f"accuracy_{p}": c / t for p, (c, t) in per.items()})
        return out

    def describe(self) -> dict[str, Any]:
        r = self.recipe
        return {
            "task": "classification",
            "purpose": "feature network of the perceptual losses (lessons_lib.models.features)",
            "recipe": r.name,
            "recipe_config": recipe_to_dict(r),
            "data": " + ".join(self.packs),
            "size": r.size,
            "n_classes": len(self.classes),
            "classes": self.classes,
            "n_train": len(self.dataset("train", True)),  # type: ignore[arg-type]
        }
