"""Choosing where the network runs."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from engine.errors import HarmonizerError

if TYPE_CHECKING:
    import torch


def pick_device(name: str = "auto") -> torch.device:
    """'auto' prefers CUDA, then Apple's MPS, then the CPU; an explicit choice must be available."""
    import torch

    name = (name or "auto").lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise HarmonizerError("CUDA was requested but no CUDA GPU is available; use --device cpu or auto")
    if name == "mps" and not has_mps:
        raise HarmonizerError("MPS was requested but is not available on this machine; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise HarmonizerError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from None


def describe_device(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "GPU (Apple MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def cuda_if_known() -> bool | None:
    """Whether CUDA is usable, or None while torch is not loaded yet: a form that merely lists devices
    should not cost torch's import (seconds); whoever runs the network checks again anyway."""
    torch = sys.modules.get("torch")
    try:
        return None if torch is None else bool(torch.cuda.is_available())
    except AttributeError:  # another thread (the editor's model loader) is importing it right now
        return None
