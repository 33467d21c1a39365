"""Model files: safetensors weights plus the architecture config and a model card as JSON metadata.

safetensors never unpickles, so opening a model someone sent you cannot run code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.atomic import atomic_path
from engine.errors import HarmonizerError, ModelNotFoundError
from engine.rainnet import RainNet, count_parameters

FORMAT = "harmonizer-rainnet-1"  # pixel-head models, readable by every version
FORMAT_TRANSFORM = "harmonizer-rainnet-2"  # transform-head models: an older version says it cannot read them
ARCH_KEYS = ("ngf", "depth", "norm", "dropout", "attention", "head", "local")


@dataclass
class ModelInfo:
    name: str
    path: Path
    config: dict
    card: dict = field(default_factory=dict)
    bundled: bool = False

    @property
    def working_size(self) -> int:
        """The size the network runs at when harmonizing."""
        return int(self.config.get("size", 256))

    @property
    def train_size(self) -> int:
        """The size it was trained at. A model may run larger than it trained: the default model, trained
        at 128 px, scores better at 256 (more of the object's detail reaches the network)."""
        return int(self.config.get("train_size", self.working_size))

    @property
    def parameters(self) -> int | None:
        return self.card.get("parameters")


def save_model(path, model: RainNet, config: dict, card: dict, half: bool = True) -> Path:
    """Write weights (fp16 by default: half the file, no measurable loss) with config and card."""
    config = {**{k: model.config[k] for k in ARCH_KEYS}, **config}
    card = {**card, "parameters": count_parameters(model)}
    dtype = torch.float16 if half else torch.float32
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in model.state_dict().items()
    }
    fmt = FORMAT_TRANSFORM if config.get("head") == "transform" else FORMAT
    meta = {"format": fmt, "config": json.dumps(config), "card": json.dumps(card)}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def read_info(path) -> ModelInfo:
    """Config and card without loading the weights (cheap enough for listing models)."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}")
    try:
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if not 0 < n < 100_000_000:
                raise ValueError("bad header size")
            header = json.loads(fh.read(n))
        meta = header.get("__metadata__") or {}
        if meta.get("format") not in (FORMAT, FORMAT_TRANSFORM):
            raise ValueError("not a harmonizer model")
        return ModelInfo(path.stem, path, json.loads(meta["config"]), json.loads(meta.get("card", "{}")))
    except (OSError, ValueError, KeyError) as exc:
        raise HarmonizerError(f"{path.name} is not a harmonizer model file ({exc})") from None


def load_model(path, device="cpu") -> tuple[RainNet, ModelInfo]:
    info = read_info(path)
    try:
        model = RainNet(**{k: info.config[k] for k in ARCH_KEYS if k in info.config})
    except (TypeError, ValueError) as exc:
        raise HarmonizerError(f"{info.path.name} has an unusable architecture config: {exc}") from None
    try:
        state = load_file(str(info.path))
    except (SafetensorError, OSError) as exc:
        raise HarmonizerError(f"cannot read weights from {info.path.name}: {exc}") from None
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise HarmonizerError(f"{info.path.name} does not match its architecture config: {first}") from None
    return model.to(device).eval(), info
