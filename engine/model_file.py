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
    from engine.rainnet import Blend, RainNet

FORMAT = "harmonizer-rainnet-1"  # pixel-head models, readable by every version
FORMAT_TRANSFORM = "harmonizer-rainnet-2"  # transform-head models: an older version says it cannot read them
FORMAT_BLEND = "harmonizer-rainnet-3"  # several networks blended (engine.blend)
FORMATS = (FORMAT, FORMAT_TRANSFORM, FORMAT_BLEND)
# A blend's file describes its lead network at the top level of its config, like any model (so listing,
# working size and fine-tuning read it as before), and the other members under this key.
BLEND = "blend"
MAX_MEMBERS = 4
ARCH_KEYS = ("ngf", "depth", "norm", "dropout", "attention", "head", "local", "reference_input")
# Far above any network we train (64 is the published width, 8 the depth for 256 px) but bounded, so a
# crafted config cannot ask for gigabytes before its tensors are even compared with it.
MAX_NGF = 512
MAX_DEPTH = 12
MAX_HEADER_BYTES = 100_000_000
# Config flag of a model trained to take the scene's light from a reference area (trainer.references).
# Older models run with a reference too, but were never taught what it means, so they are not given one.
REFERENCE_AREAS = "reference_areas"


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
    def follows_reference(self) -> bool:
        return bool(self.config.get(REFERENCE_AREAS))

    @property
    def members(self) -> list[dict]:
        """Each network's config, the lead's first: one for a plain model. Raises ValueError when a blend's
        list is malformed."""
        others = self.config.get(BLEND, [])
        if not isinstance(others, list) or not all(isinstance(m, dict) for m in others):
            raise ValueError(f"{BLEND} must be a list of network configs")
        if len(others) + 1 > MAX_MEMBERS:
            raise ValueError(f"a blend has at most {MAX_MEMBERS} networks, this one {len(others) + 1}")
        return [{k: v for k, v in self.config.items() if k != BLEND}, *others]

    @property
    def parameters(self) -> int | None:
        return self.card.get("parameters")


def save_model(path, model: RainNet, config: dict, card: dict, half: bool = True) -> Path:
    """Write weights (fp16 by default: half the file, no measurable loss) with config and card."""
    import torch

    from engine.rainnet import count_parameters

    config = {**{k: model.config[k] for k in ARCH_KEYS}, **config}
    card = {**card, "parameters": count_parameters(model)}
    dtype = torch.float16 if half else torch.float32
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in model.state_dict().items()
    }
    fmt = FORMAT_TRANSFORM if config.get("head") == "transform" else FORMAT
    return _write(path, tensors, fmt, config, card)


def save_blend(path, members: list, card: dict, half: bool = True) -> Path:
    """Several networks as one model file: `members` is [(RainNet, config with "size" and "weight"), ...],
    the lead (the network that predicts the tone curves, engine.blend) first."""
    import torch

    from engine.rainnet import count_parameters

    if not 2 <= len(members) <= MAX_MEMBERS:
        raise HarmonizerError(f"a blend needs 2 to {MAX_MEMBERS} networks")
    dtype = torch.float16 if half else torch.float32
    configs, tensors = [], {}
    for i, (model, config) in enumerate(members):
        configs.append({**{k: model.config[k] for k in ARCH_KEYS}, **config})
        for k, v in model.state_dict().items():
            tensors[f"{i}.{k}"] = (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
    config = {**configs[0], BLEND: configs[1:]}
    card = {**card, "parameters": sum(count_parameters(m) for m, _ in members)}
    return _write(path, tensors, FORMAT_BLEND, config, card)


def _write(path, tensors: dict, fmt: str, config: dict, card: dict) -> Path:
    from safetensors.torch import save

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
        if not isinstance(meta, dict) or meta.get("format") not in FORMATS:
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
    for key in ("attention", "local", "reference_input"):
        if key in arch and not isinstance(arch[key], bool):
            raise ValueError(f"{key} must be true or false, got {arch[key]!r}")
    return arch


def _check_shapes(archs: list[dict], header: dict, prefixed: bool) -> None:
    """Compare the networks the config describes with the file's tensors without allocating either:
    the networks are built on the meta device, the tensors are read from the header. A blend's tensors
    carry their network's index as a prefix ("1.encoder.0.weight")."""
    import torch

    from engine.rainnet import RainNet

    expected = {}
    with torch.device("meta"):
        for i, arch in enumerate(archs):
            prefix = f"{i}." if prefixed else ""
            expected.update({prefix + k: list(v.shape) for k, v in RainNet(**arch).state_dict().items()})
    stored = {k: v.get("shape") for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    if missing or extra:
        what = f"tensor {missing[0]} is missing" if missing else f"it has an unexpected tensor {extra[0]}"
        raise ValueError(f"{what} ({len(missing)} missing, {len(extra)} unexpected)")
    for key, shape in expected.items():
        if stored[key] != shape:
            raise ValueError(f"tensor {key} is {stored[key]} in the file, {shape} for the config")


def load_model(path, device="cpu", lead_only: bool = False) -> tuple[RainNet | Blend, ModelInfo]:
    """(network, info); a blend file gives an engine.blend.Blend, or with `lead_only` its lead network
    (what fine-tuning starts from)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from engine.rainnet import Blend, RainNet

    info = read_info(path)
    name = info.path.name
    try:
        configs = info.members
        archs = [_check_arch(c) for c in configs]
        weights = [_blend_weight(c) for c in configs]
        sizes = [_size(c) for c in configs]
    except ValueError as exc:
        raise HarmonizerError(f"{name} has an unusable architecture config: {exc}") from None
    try:
        _check_shapes(archs, _header(info.path), prefixed=len(archs) > 1)
    except (TypeError, ValueError) as exc:
        raise HarmonizerError(f"{name} does not match its architecture config: {exc}") from None
    except OSError as exc:
        raise HarmonizerError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        nets = [RainNet(**arch) for arch in archs]
    except (TypeError, ValueError) as exc:
        raise HarmonizerError(f"{name} has an unusable architecture config: {exc}") from None
    for net, size in zip(nets, sizes):
        if size % net.multiple:
            raise HarmonizerError(f"{name} has an unusable architecture config: a working size of {size} px is not a "
                                  f"multiple of {net.multiple} for its network")
    try:
        state = load_file(str(info.path))
    except (SafetensorError, OSError) as exc:
        raise HarmonizerError(f"cannot read weights from {name}: {exc}") from None
    for i, net in enumerate(nets[:1] if lead_only else nets):
        prefix = f"{i}." if len(nets) > 1 else ""
        own = net.state_dict()
        part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)} if prefix else state
        part = {k: v.to(own[k].dtype) if k in own else v for k, v in part.items()}
        try:
            net.load_state_dict(part)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise HarmonizerError(f"{name} does not match its architecture config: {first}") from None
    if len(nets) == 1 or lead_only:
        return nets[0].to(device).eval(), info
    references = [bool(c.get(REFERENCE_AREAS)) for c in configs]
    return Blend(nets, sizes, weights, references).to(device).eval(), info


def _blend_weight(config: dict) -> float:
    weight = config.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (math.isfinite(weight) and 0 < weight <= 1):
        raise ValueError(f"a network's weight must be a number in (0, 1], got {weight!r}")
    return float(weight)


def _size(config: dict) -> int:
    size = config.get("size", 256)
    if type(size) is not int or not 16 <= size <= 4096:
        raise ValueError(f"a working size must be a whole number from 16 to 4096, got {size!r}")
    return size
