"""Model files: safetensors weights plus the architecture config and a model card as JSON metadata.

safetensors never unpickles, so opening a model someone sent you cannot run code.

Reading a file's config and card (`read_info`, what `harmonizer models` and the editor's model picker
need) never imports torch; only saving and loading weights do, inside those functions.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.atomic import atomic_write_bytes
from engine.errors import HarmonizerError, ModelNotFoundError

if TYPE_CHECKING:
    from engine.rainnet import RainNet

FORMAT = "harmonizer-rainnet-1"  # pixel-head models, readable by every version
FORMAT_TRANSFORM = "harmonizer-rainnet-2"  # transform-head models: an older version says it cannot read them
ARCH_KEYS = ("ngf", "depth", "norm", "dropout", "attention", "head", "local")
# Far above any network we train (64 is the published width, 8 the depth for 256 px) but bounded, so a
# crafted config cannot ask for gigabytes before its tensors are even compared with it.
MAX_NGF = 512
MAX_DEPTH = 12
MAX_HEADER_BYTES = 100_000_000


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
    import torch
    from safetensors.torch import save

    from engine.rainnet import count_parameters

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
    # Serialised in memory, then written through atomic_write_bytes: a full disk is one clear line and
    # the file is fsync'd before it takes the final name.
    atomic_write_bytes(path, save(tensors, metadata=meta))
    return path


def _header(path: Path) -> dict:
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        if not 0 < n < MAX_HEADER_BYTES:
            raise ValueError("bad header size")
        header = json.loads(fh.read(n))
    if not isinstance(header, dict):
        raise ValueError("bad header")
    return header


def read_info(path) -> ModelInfo:
    """Config and card without loading the weights (cheap enough for listing models)."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}")
    try:
        meta = _header(path).get("__metadata__") or {}
        if not isinstance(meta, dict) or meta.get("format") not in (FORMAT, FORMAT_TRANSFORM):
            raise ValueError("not a harmonizer model")
        config, card = json.loads(meta["config"]), json.loads(meta.get("card", "{}"))
        if not isinstance(config, dict) or not isinstance(card, dict):
            raise ValueError("its config or card is not a JSON object")
        return ModelInfo(path.stem, path, config, card)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HarmonizerError(f"{path.name} is not a harmonizer model file ({exc})") from None


def _check_arch(config: dict) -> dict:
    """The architecture arguments, each of the right type and range; raises ValueError naming the key."""
    from engine.normalization import NORMS
    from engine.rainnet import HEADS

    arch = {k: config[k] for k in ARCH_KEYS if k in config}
    for key, low, high in (("ngf", 1, MAX_NGF), ("depth", 2, MAX_DEPTH)):
        value = arch.get(key)
        if value is not None and (type(value) is not int or not low <= value <= high):
            raise ValueError(f"{key} must be a whole number from {low} to {high}, got {value!r}")
    if "norm" in arch and arch["norm"] not in NORMS:
        raise ValueError(f"unknown norm {arch['norm']!r} (known: {', '.join(NORMS)})")
    if "head" in arch and arch["head"] not in HEADS:
        raise ValueError(f"unknown head {arch['head']!r} (known: {', '.join(HEADS)})")
    dropout = arch.get("dropout", 0.0)
    number = isinstance(dropout, (int, float)) and not isinstance(dropout, bool)
    if not (number and math.isfinite(dropout) and 0 <= dropout < 1):
        raise ValueError(f"dropout must be a number from 0 to 1, got {dropout!r}")
    for key in ("attention", "local"):
        if key in arch and not isinstance(arch[key], bool):
            raise ValueError(f"{key} must be true or false, got {arch[key]!r}")
    return arch


def _check_shapes(arch: dict, header: dict) -> None:
    """Compare the network the config describes with the file's tensors without allocating either:
    the network is built on the meta device, the tensors are read from the header."""
    import torch

    from engine.rainnet import RainNet

    with torch.device("meta"):
        expected = {k: list(v.shape) for k, v in RainNet(**arch).state_dict().items()}
    stored = {k: v.get("shape") for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    if missing or extra:
        what = f"tensor {missing[0]} is missing" if missing else f"it has an unexpected tensor {extra[0]}"
        raise ValueError(f"{what} ({len(missing)} missing, {len(extra)} unexpected)")
    for key, shape in expected.items():
        if stored[key] != shape:
            raise ValueError(f"tensor {key} is {stored[key]} in the file, {shape} for the config")


def load_model(path, device="cpu") -> tuple[RainNet, ModelInfo]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from engine.rainnet import RainNet

    info = read_info(path)
    try:
        arch = _check_arch(info.config)
    except ValueError as exc:
        raise HarmonizerError(f"{info.path.name} has an unusable architecture config: {exc}") from None
    try:
        _check_shapes(arch, _header(info.path))
    except (TypeError, ValueError) as exc:
        raise HarmonizerError(f"{info.path.name} does not match its architecture config: {exc}") from None
    except OSError as exc:
        raise HarmonizerError(f"cannot read {info.path.name}: {exc.strerror or exc}") from None
    try:
        model = RainNet(**arch)
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
