"""Metrics on networks with published weights: LPIPS (AlexNet / VGG16) and FID (Inception-v3).

They are computed only when the weights are already on this disk (:func:`weights_dir`);
nothing is ever downloaded, and a network with random weights never produces a number.
:func:`load_pth` reads such a third-party ``.pth`` file safely (also for the VGG16 of
:func:`lessons_lib.metrics.load_feature_net`).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import LessonsError
from .checks import as_batch, as_float, reduce_per_image, rgb_pair
from .distributions import frechet_distance

__all__ = ["UNAVAILABLE", "weights_dir", "load_pth", "lpips_available", "lpips_distance", "fid_available", "fid"]

#: What a report says for a metric whose pretrained network is not on this disk.
UNAVAILABLE = "unavailable (no pretrained weights)"


# --------------------------------------------------------------------------- pretrained nets
# LPIPS backbones (torchvision's ImageNet weights, file names as torchvision caches them) and
# the layers LPIPS reads: the ReLU outputs of AlexNet's five conv layers (features[0:2],
# [2:5], [5:8], [8:10], [10:12]) or VGG16's relu1_2, 2_2, 3_3, 4_3, 5_3 (features[0:4],
# [4:9], [9:16], [16:23], [23:30]); the lpips package v0.1 (Zhang et al. 2018) does the same.
_LPIPS_NETS = {
    "alex": ("alexnet-owt-7be5be79.pth", (2, 5, 8, 10, 12)),
    "vgg": ("vgg16-397923af.pth", (4, 9, 16, 23, 30)),
}
# LPIPS v0.1 input scaling, applied to images in [-1, 1] (the lpips package's ScalingLayer).
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)
# The Inception-v3 of TensorFlow's FID code, ported to PyTorch by pytorch-fid.
_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"

# Loaded networks, keyed by what they were loaded from (path and modification time), so a
# weights file put in place or replaced later is picked up.
_nets: dict[tuple, nn.Module] = {}


def _stamp(paths) -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns) for p in paths)


def weights_dir() -> Path:
    """Where pretrained weights are looked for: torch hub's ``checkpoints`` folder
    (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``), the
    folder torchvision and pytorch-fid download into. Nothing here downloads."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _lpips_linear_file(net: str) -> Path | None:
    """The LPIPS v0.1 linear layers for ``net``: ``lpips_<net>.pth`` in :func:`weights_dir`,
    or ``weights/v0.1/<net>.pth`` inside an installed ``lpips`` package."""
    candidates = [weights_dir() / f"lpips_{net}.pth"]
    try:
        import importlib.util

        spec = importlib.util.find_spec("lpips")
        if spec is not None and spec.origin:
            candidates.append(Path(spec.origin).parent / "weights" / "v0.1" / f"{net}.pth")
    except (ImportError, ValueError):
        pass
    return next((p for p in candidates if p.is_file()), None)


def _check_net(net: str) -> None:
    if net not in _LPIPS_NETS:
        raise ValueError(f"unknown LPIPS network {net!r}: use one of {sorted(_LPIPS_NETS)}")


def lpips_available(net: str = "alex") -> bool:
    """True when both LPIPS weight files for ``net`` ("alex" or "vgg") are on disk:
    the torchvision backbone (``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``) in
    :func:`weights_dir`, and the LPIPS linear layers (see :func:`_lpips_linear_file`)."""
    _check_net(net)
    return (weights_dir() / _LPIPS_NETS[net][0]).is_file() and _lpips_linear_file(net) is not None


def load_pth(path: Path) -> dict[str, torch.Tensor]:
    """A third-party ``.pth`` state dict, read with torch's restricted loader
    (``weights_only=True``: tensors and containers only, no arbitrary objects)."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means a bad file
        raise LessonsError(f"cannot read the weights file {path}: {e}. Delete it and put a good copy there.") from None
    if not isinstance(sd, dict):
        raise LessonsError(f"{path} does not hold a state dict; delete it and put a good copy there")
    return sd


class _LPIPS(nn.Module):
    """LPIPS v0.1 (Zhang, Isola, Efros, Shechtman & Wang, CVPR 2018, eq. 1):

    ``d(x, y) = sum_l mean_hw sum_c w_lc (f_lc(x)/|f_l(x)| - f_lc(y)/|f_l(y)|)^2``, with
    f_l the backbone's ReLU features at layer l, normalised to unit length over channels at
    each pixel, and w_l >= 0 the learned per-channel weights (a 1x1 conv without bias, as
    in the lpips package; the paper writes the same as ``|| w_l (.) diff ||^2``).
    """

    def __init__(self, net: str, backbone: dict[str, torch.Tensor], linear: dict[str, torch.Tensor]):
        super().__init__()
        import torchvision

        cuts = _LPIPS_NETS[net][1]
        # Built on the meta device (no memory, no random init of the unused classifier),
        # then given real storage that the strict load below fills completely.
        with torch.device("meta"):
            full = (torchvision.models.alexnet if net == "alex" else torchvision.models.vgg16)(weights=None)
        features = full.features.to_empty(device="cpu")
        try:
            features.load_state_dict({k[len("features."):]: v for k, v in backbone.items() if k.startswith("features.")})
        except RuntimeError as e:
            raise LessonsError(f"the {net} backbone weights do not fit torchvision's network: {str(e)[:300]}") from None
        starts = (0,) + cuts[:-1]
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in zip(starts, cuts))
        self.lins = nn.ParameterList()
        for i, sl in enumerate(self.slices):
            w = linear.get(f"lin{i}.model.1.weight", linear.get(f"lin{i}.model.0.weight"))
            channels = [m for m in sl if isinstance(m, nn.Conv2d)][-1].out_channels
            if w is None or tuple(w.shape) != (1, channels, 1, 1):
                raise LessonsError(f"the LPIPS linear-layer file for {net!r} lacks lin{i} of shape (1, {channels}, 1, 1)")
            self.lins.append(nn.Parameter(w.float(), requires_grad=False))
        self.register_buffer("shift", torch.tensor(_LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_LPIPS_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y: (B, 3, H, W) in [0, 1] -> (B,) distances."""
        h = torch.cat([x, y]) * 2.0 - 1.0  # [0, 1] -> [-1, 1], the range LPIPS was trained on
        h = (h - self.shift) / self.scale
        total = x.new_zeros(x.shape[0])
        for sl, w in zip(self.slices, self.lins):
            h = sl(h)
            f = h / (h.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)  # unit length per pixel
            fx, fy = f.chunk(2)
            total = total + F.conv2d((fx - fy) ** 2, w).mean(dim=(1, 2, 3))
        return total


def lpips_distance(
    pred: torch.Tensor, target: torch.Tensor, net: str = "alex", reduction: str = "mean"
) -> torch.Tensor:
    """LPIPS distance (lower = more alike) between RGB images in [0, 1] (or uint8).

    Only with the pretrained weights on disk (:func:`lpips_available`); otherwise a
    :class:`LessonsError` says which files to put where. Never random weights.
    """
    _check_net(net)
    p, t = rgb_pair(pred, target)
    if not lpips_available(net):
        raise LessonsError(
            f"LPIPS is {UNAVAILABLE}: put torchvision's {_LPIPS_NETS[net][0]} and the lpips "
            f"package's weights/v0.1/{net}.pth (as lpips_{net}.pth) into {weights_dir()}, "
            "or `pip install lpips` for the latter"
        )
    files = (weights_dir() / _LPIPS_NETS[net][0], _lpips_linear_file(net))
    key = ("lpips", net, str(p.device), *_stamp(files))
    if key not in _nets:
        backbone, linear = (load_pth(f) for f in files)  # type: ignore[arg-type]
        _nets[key] = _LPIPS(net, backbone, linear).to(p.device)
    model = _nets[key]
    with torch.no_grad():
        d = model(p.float(), t.float())
    return reduce_per_image(d, reduction)


def fid_available() -> bool:
    """True when the FID Inception weights (``pt_inception-2015-12-05-6726825d.pth``, the
    file pytorch-fid downloads) are in :func:`weights_dir`."""
    return (weights_dir() / _FID_FILE).is_file()


class _FIDInception(nn.Module):
    """Inception-v3 pool3 features (2048-d) as TensorFlow's FID code computes them.

    torchvision's Inception3 with 1008 classes, whose mixed blocks pool like TensorFlow:
    average pools ignore the zero padding (``count_include_pad=False``) and the last block
    takes a 3x3 max pool instead (facts of the TF graph, as documented by pytorch-fid).
    Input: RGB in [0, 1], resized to 299x299 (bilinear), scaled to [-1, 1].
    """

    def __init__(self, state_dict: dict[str, torch.Tensor]):
        super().__init__()
        from torchvision.models.inception import Inception3

        with torch.device("meta"):  # no random init: the strict load fills every tensor
            net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
        self.net = net.to_empty(device="cpu")
        try:
            self.net.load_state_dict(state_dict)
        except RuntimeError as e:
            raise LessonsError(f"the FID Inception weights do not fit the network: {str(e)[:300]}") from None
        self.requires_grad_(False).eval()

    @staticmethod
    def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)

    @staticmethod
    def _tf_max_pool(x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)

    @staticmethod
    def _mixed(block: nn.Module, x: torch.Tensor, pool) -> torch.Tensor:
        """One mixed block (torchvision's A, C or E layout) with the given pooling branch."""
        kind = type(block).__name__
        if kind == "InceptionA":
            branches = [
                block.branch1x1(x),
                block.branch5x5_2(block.branch5x5_1(x)),
                block.branch3x3dbl_3(block.branch3x3dbl_2(block.branch3x3dbl_1(x))),
            ]
        elif kind == "InceptionC":
            seven = block.branch7x7_3(block.branch7x7_2(block.branch7x7_1(x)))
            dbl = x
            for i in range(1, 6):
                dbl = getattr(block, f"branch7x7dbl_{i}")(dbl)
            branches = [block.branch1x1(x), seven, dbl]
        else:  # InceptionE: the 3x3 branches split into 1x3 and 3x1 halves
            three = block.branch3x3_1(x)
            dbl = block.branch3x3dbl_2(block.branch3x3dbl_1(x))
            branches = [
                block.branch1x1(x),
                torch.cat([block.branch3x3_2a(three), block.branch3x3_2b(three)], 1),
                torch.cat([block.branch3x3dbl_3a(dbl), block.branch3x3dbl_3b(dbl)], 1),
            ]
        branches.append(block.branch_pool(pool(x)))
        return torch.cat(branches, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 2048)."""
        n = self.net
        h = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2.0 - 1.0
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1, n.Conv2d_3b_1x1, n.Conv2d_4a_3x3, n.maxpool2):
            h = layer(h)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
            h = self._mixed(getattr(n, name), h, self._tf_avg_pool)
        h = n.Mixed_6a(h)  # reduction blocks (B, D) pool without padding: no difference
        for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            h = self._mixed(getattr(n, name), h, self._tf_avg_pool)
        h = n.Mixed_7a(h)
        h = self._mixed(n.Mixed_7b, h, self._tf_avg_pool)
        h = self._mixed(n.Mixed_7c, h, self._tf_max_pool)
        return h.mean(dim=(2, 3))  # (B, 2048) pool3


def _fid_features(x: torch.Tensor, batch_size: int) -> torch.Tensor:
    path = weights_dir() / _FID_FILE
    key = ("fid", str(x.device), *_stamp([path]))
    if key not in _nets:
        _nets[key] = _FIDInception(load_pth(path)).to(x.device)
    net = _nets[key]
    with torch.no_grad():
        return torch.cat([net(x[i : i + batch_size].float()) for i in range(0, x.shape[0], batch_size)]).double()


def fid(pred: torch.Tensor, target: torch.Tensor, batch_size: int = 16) -> float:
    """Frechet Inception Distance between two sets of RGB images in [0, 1] (or uint8).

    The sets may differ in size but need at least 2 images each. FID is biased upwards
    for small sets (thousands of images are usual): compare figures computed on equally
    many images only. Only with the weights on disk (:func:`fid_available`); otherwise a
    :class:`LessonsError` says which file to put where.
    """
    p, t = as_float(as_batch(pred, "pred")), as_float(as_batch(target, "target"))
    for name, x in (("pred", p), ("target", t)):
        if x.shape[1] != 3:
            raise ValueError(f"FID needs RGB images (B, 3, H, W); {name} has shape {tuple(x.shape)}")
        if x.shape[0] < 2:
            raise ValueError(f"FID needs at least 2 images per set; {name} has {x.shape[0]}")
    if not fid_available():
        raise LessonsError(f"FID is {UNAVAILABLE}: put pytorch-fid's {_FID_FILE} into {weights_dir()}")
    stats = []
    for x in (p, t):
        f = _fid_features(x, batch_size)
        stats += [f.mean(0), torch.cov(f.T)]
    return frechet_distance(*stats)

