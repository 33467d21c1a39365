"""Training checkpoints: everything needed to continue a run exactly where it stopped.

Saved with torch.save (atomically) but holding only tensors and plain Python containers, so loading
uses `weights_only=True` and a checkpoint from elsewhere cannot run code. RNG states are stored in that
form too (numpy's and Python's as tensors and lists).
"""
from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from engine.atomic import atomic_write_bytes
from engine.errors import HarmonizerError

FORMAT = "harmonizer-train-checkpoint-1"


def rng_state() -> dict:
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state = {
        "python": [py_version, list(py_internal), py_gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                  int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path, state: dict) -> Path:
    path = Path(path)
    # Serialised in memory first: torch.save straight to a full disk fails with an opaque RuntimeError
    # from its zip writer, while a plain write says "No space left on device" (and is fsync'd).
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path


def run_folder(checkpoint) -> Path:
    """The folder a run resumed from `checkpoint` writes into: the run folder it sits in (RUN/checkpoints/
    last.pt), or else the checkpoint's own folder. A checkpoint also records the folder it was written in,
    but a file from elsewhere must not choose where this machine writes, so that record is never followed."""
    path = Path(checkpoint).expanduser().resolve()
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def load_checkpoint(path) -> dict:
    path = Path(path).expanduser()
    if not path.is_file():
        raise HarmonizerError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises assorted types for truncated or foreign files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HarmonizerError(f"{path.name} is not a readable training checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise HarmonizerError(f"{path.name} is not a harmonizer training checkpoint")
    return state
