"""Where the networks run: one rule for training and inference.

A floor below ``train`` and ``pipeline``: inference picks its device without importing the
training engine.
"""
from __future__ import annotations

import platform
from typing import Any

import torch

from . import LessonsError

__all__ = ["resolve_device", "hardware_info"]


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> cuda if available, else mps, else cpu; an explicit device is checked."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise LessonsError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LessonsError("device 'cuda' asked for, but this PyTorch sees no CUDA GPU; use --device cpu or auto")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise LessonsError(f"device {name!r} asked for, but only {torch.cuda.device_count()} GPU(s) are visible")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise LessonsError("device 'mps' asked for, but it is not available here; use --device cpu or auto")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise LessonsError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return dev


def hardware_info(device: torch.device) -> dict[str, Any]:
    """What a model card records of the machine: the device and its name (the CPU model
    from /proc/cpuinfo), torch, python and torch's thread count."""
    info: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        name = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        info["device_name"] = name
    return info
