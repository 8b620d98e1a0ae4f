"""lessons_lib.checkpoints: safetensors + JSON card round trips and every refusal."""
from __future__ import annotations

import hashlib
import json
import pickle

import pytest
import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import save_file

from lessons_lib import LessonsError, __version__, checkpoints
from lessons_lib.models import build_model, register


@register("_test_ckpt_tiny")
class _Tiny(nn.Module):
    """Conv + BatchNorm (running stats and an int64 counter are buffers) + linear head."""

    def __init__(self, channels: int = 3, width: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(channels, width, 3, padding=1)  # (B, width, H, W)
        self.bn = nn.BatchNorm2d(width)  # (B, width, H, W)
        self.head = nn.Linear(width, 2)  # (B, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


@register("_test_ckpt_other")
class _Other(nn.Module):
    def __init__(self, width: int = 4):
        super().__init__()
        self.lin = nn.Linear(width, width)


def _trained_tiny(width: int = 4) -> nn.Module:
    torch.manual_seed(0)
    model = build_model("_test_ckpt_tiny", channels=3, width=width)
    model.train()
    model(torch.randn(4, 3, 8, 8))  # moves the BatchNorm running stats off their defaults
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


CARD = {
    "recipe": "tiny-test",
    "data": {"source": "synthetic", "n": 8},
    "size": 8,
    "steps": 3,
    "metrics": {"psnr": 21.5, "lpips": "unavailable (no pretrained weights)"},
    "command": "lessons train tiny",
    "hardware": "cpu",
}


def test_round_trip_state_card_and_outputs(tmp_path):
    model = _trained_tiny()
    out = checkpoints.save_model(model, tmp_path / "tiny", CARD)
    assert out == tmp_path / "tiny.safetensors" and out.is_file()
    card = json.loads((tmp_path / "tiny.json").read_text())
    # Caller keys kept, and every required key present and right.
    for k, v in CARD.items():
        assert card[k] == v
    assert card["arch"] == "_test_ckpt_tiny" and card["config"] == {"channels": 3, "width": 4}
    assert card["format"] == "gan-lessons/1" and card["package_version"] == __version__
    assert card["n_parameters"] == sum(p.numel() for p in model.parameters()) == 3 * 4 * 9 + 4 + 8 + 8 + 2
    assert card["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert card["created"][:4].isdigit() and "T" in card["created"]
    # The weights file carries the buffers and, in its metadata, arch + config.
    with safe_open(str(out), "pt") as f:
        assert {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"} <= set(f.keys())
        meta = f.metadata()
    assert meta["arch"] == "_test_ckpt_tiny" and json.loads(meta["config"]) == {"channels": 3, "width": 4}

    loaded, lcard = checkpoints.load_model(tmp_path / "tiny.safetensors")
    assert lcard == card
    assert loaded.arch == "_test_ckpt_tiny" and not loaded.training
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(loaded(x), model(x))
    assert checkpoints.read_card(tmp_path / "tiny") == card
    # No temporary files left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.json", "tiny.safetensors"]


def test_load_by_card_stem_or_folder_and_lone_safetensors(tmp_path):
    model = _trained_tiny()
    checkpoints.save_model(model, tmp_path / "w.json")  # a suffix is replaced: w.safetensors + w.json
    for p in (tmp_path / "w.json", tmp_path / "w", tmp_path):
        loaded, card = checkpoints.load_model(p, expect_arch="_test_ckpt_tiny")
        assert torch.equal(loaded.conv.weight, model.conv.weight)
    # A folder with several checkpoints: model.safetensors wins; without it, an error.
    checkpoints.save_model(_trained_tiny(width=2), tmp_path / "other")
    with pytest.raises(LessonsError, match=r"holds 2 checkpoints \(other.safetensors, w.safetensors\)"):
        checkpoints.load_model(tmp_path)
    checkpoints.save_model(model, tmp_path / "model")
    assert checkpoints.resolve_checkpoint(tmp_path).name == "model.safetensors"
    # The .safetensors alone (card deleted) still rebuilds the model from its metadata.
    (tmp_path / "w.json").unlink()
    loaded, card = checkpoints.load_model(tmp_path / "w.safetensors")
    assert torch.equal(loaded.bn.running_mean, model.bn.running_mean)
    assert card["arch"] == "_test_ckpt_tiny" and card["config"] == {"channels": 3, "width": 4}
    assert card["format"] == "gan-lessons/1"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LessonsError, match="no .safetensors checkpoint in the folder"):
        checkpoints.load_model(empty)


def test_half_precision_save(tmp_path):
    model = _trained_tiny()
    full = checkpoints.save_model(model, tmp_path / "full")
    half = checkpoints.save_model(model, tmp_path / "half", {"note": "fp16"}, half=True)
    with safe_open(str(half), "pt") as f:
        assert f.get_tensor("conv.weight").dtype == torch.float16
        assert f.get_tensor("bn.num_batches_tracked").dtype == torch.int64  # ints stay ints
    def float_bytes(path):
        with safe_open(str(path), "pt") as f:
            return sum(f.get_tensor(k).nbytes for k in f.keys() if f.get_tensor(k).is_floating_point())

    assert float_bytes(half) * 2 == float_bytes(full)
    # The files differ by that much (the JSON headers are about the same size).
    assert full.stat().st_size - half.stat().st_size >= float_bytes(half) - 16
    assert checkpoints.read_card(half)["dtype"] == "float16"
    assert checkpoints.read_card(full)["dtype"] == "float32"
    loaded, _ = checkpoints.load_model(half)
    assert loaded.conv.weight.dtype == torch.float32
    torch.testing.assert_close(loaded.conv.weight, model.conv.weight, rtol=1e-3, atol=1e-4)
    assert int(loaded.bn.num_batches_tracked) == int(model.bn.num_batches_tracked) == 1
    as64, _ = checkpoints.load_model(full, dtype=torch.float64)
    assert as64.conv.weight.dtype == torch.float64
    assert as64.bn.num_batches_tracked.dtype == torch.int64


def test_wrong_arch_and_unknown_arch(tmp_path):
    checkpoints.save_model(_trained_tiny(), tmp_path / "tiny")
    with pytest.raises(LessonsError, match="this checkpoint holds a '_test_ckpt_tiny', expected 'unet'"):
        checkpoints.load_model(tmp_path / "tiny", expect_arch="unet")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "ghost.safetensors"),
              metadata={"arch": "no_such_model", "config": "{}"})
    with pytest.raises(LessonsError, match="cannot rebuild .*unknown model architecture 'no_such_model'"):
        checkpoints.load_model(tmp_path / "ghost.safetensors")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "anon.safetensors"))
    with pytest.raises(LessonsError, match="does not say which architecture"):
        checkpoints.load_model(tmp_path / "anon.safetensors")


def test_missing_truncated_and_random_files(tmp_path):
    with pytest.raises(LessonsError, match="no checkpoint at .*nowhere"):
        checkpoints.load_model(tmp_path / "nowhere.safetensors")
    path = checkpoints.save_model(_trained_tiny(), tmp_path / "tiny")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated in the tensor data
    with pytest.raises(LessonsError, match="tiny.safetensors"):
        checkpoints.load_model(path)
    path.write_bytes(data[:20])  # truncated in the header
    with pytest.raises(LessonsError, match="not a valid safetensors file"):
        checkpoints.load_model(path)
    path.write_bytes(bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).tolist()))
    with pytest.raises(LessonsError, match="not a valid safetensors file"):
        checkpoints.read_card(path)
    path.write_bytes(data)
    (tmp_path / "tiny.json").write_text("{not json")
    with pytest.raises(LessonsError, match="tiny.json is not valid JSON"):
        checkpoints.load_model(path)


def test_shape_mismatch_and_missing_keys_are_listed(tmp_path):
    meta = {"arch": "_test_ckpt_tiny", "config": json.dumps({"channels": 3, "width": 4})}
    good = {k: v.contiguous() for k, v in _trained_tiny().state_dict().items()}
    bad = dict(good)
    bad["conv.weight"] = torch.zeros(8, 3, 3, 3)
    del bad["head.bias"]
    bad["extra.weight"] = torch.zeros(1)
    save_file(bad, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(LessonsError) as err:
        checkpoints.load_model(tmp_path / "bad.safetensors")
    msg = str(err.value)
    assert "1 missing keys: head.bias" in msg
    assert "1 unexpected keys: extra.weight" in msg
    assert "conv.weight: file (8, 3, 3, 3) vs model (4, 3, 3, 3)" in msg
    # Weights of another architecture under this one's name.
    other = {k: v.contiguous() for k, v in build_model("_test_ckpt_other").state_dict().items()}
    save_file(other, str(tmp_path / "other.safetensors"), metadata=meta)
    with pytest.raises(LessonsError) as err:
        checkpoints.load_model(tmp_path / "other.safetensors")
    msg = str(err.value)
    # 9 missing, the first 5 named; both foreign keys named.
    assert "9 missing keys: conv.weight, conv.bias, bn.weight, bn.bias, bn.running_mean (+4 more)" in msg
    assert "2 unexpected keys: " in msg and "lin.weight" in msg and "lin.bias" in msg


def test_sha_mismatch_warns_but_loads(tmp_path):
    model = _trained_tiny()
    path = checkpoints.save_model(model, tmp_path / "tiny")
    card = json.loads((tmp_path / "tiny.json").read_text())
    card["sha256"] = "0" * 64
    (tmp_path / "tiny.json").write_text(json.dumps(card))
    with pytest.warns(UserWarning, match="does not match the sha256 in its card"):
        loaded, _ = checkpoints.load_model(path)
    assert torch.equal(loaded.conv.weight, model.conv.weight)


def test_never_unpickles(tmp_path, monkeypatch):
    """A torch.save()d file renamed .safetensors is refused without being unpickled."""
    model = _trained_tiny()
    torch.save(model.state_dict(), tmp_path / "sneaky.safetensors")

    def forbidden(*a, **k):
        raise AssertionError("checkpoints must never unpickle")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    with pytest.raises(LessonsError, match="not a valid safetensors file .*pickled .pt"):
        checkpoints.load_model(tmp_path / "sneaky.safetensors")
    # The normal path works with unpickling forbidden.
    checkpoints.save_model(model, tmp_path / "ok")
    loaded, _ = checkpoints.load_model(tmp_path / "ok")
    assert torch.equal(loaded.head.weight, model.head.weight)


def test_save_refusals_leave_old_files_intact(tmp_path):
    model = _trained_tiny()
    path = checkpoints.save_model(model, tmp_path / "tiny")
    before = (path.read_bytes(), (tmp_path / "tiny.json").read_bytes())
    with pytest.raises(ValueError, match="plain JSON"):
        checkpoints.save_model(model, tmp_path / "tiny", {"bad": object()})
    assert (path.read_bytes(), (tmp_path / "tiny.json").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.json", "tiny.safetensors"]
    with pytest.raises(LessonsError, match="build_model"):
        checkpoints.save_model(nn.Linear(2, 2), tmp_path / "plain")
    with pytest.raises(LessonsError, match="does not exist"):
        checkpoints.save_model(model, tmp_path / "no" / "such" / "dir" / "tiny")
