"""Where models live: bundled ones installed with the package (resources/models in the repository), the
user's own in the platformdirs data folder."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from platformdirs import user_data_dir

from engine.atomic import atomic_path
from engine.bundled import bundled_dir
from engine.errors import HarmonizerError, ModelNotFoundError
from engine.model_file import ModelInfo, read_info

SUFFIX = ".safetensors"
DEFAULT_NAME = "default"
_NAME_RE = re.compile(r"^[\w][\w .\-]{0,63}$")


def bundled_models_dir() -> Path:
    return bundled_dir("models")


def user_data_root() -> Path:
    # HARMONIZER_DATA_DIR lets tests (and portable installs) keep everything in one folder.
    return Path(os.environ.get("HARMONIZER_DATA_DIR") or user_data_dir("harmonizer", appauthor=False))


def user_models_dir() -> Path:
    return user_data_root() / "models"


def validate_name(name: str) -> str:
    name = name.strip()
    if not _NAME_RE.match(name) or name in (".", ".."):
        raise HarmonizerError(
            f"invalid model name {name!r}: use letters, digits, spaces, '.', '-' or '_' (at most 64)"
        )
    return name


def list_models() -> list[ModelInfo]:
    """Bundled models first, then the user's; a user model never hides a bundled one of the same name."""
    found: list[ModelInfo] = []
    for folder, bundled in ((bundled_models_dir(), True), (user_models_dir(), False)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            try:
                info = read_info(path)
            except HarmonizerError:
                continue  # a broken file in the folder must not hide the others
            info.bundled = bundled
            found.append(info)
    return found


def is_model_path(text: str) -> bool:
    """Whether a model value names a file rather than a registered model."""
    return text.endswith(SUFFIX) or os.sep in text or bool(os.altsep and os.altsep in text)


def registry_name(value) -> str | None:
    """The registered name `value` stands for here: a name is itself, a path the name of the registered
    model it is (one in the bundled or user folder); None for a file outside the registry."""
    text = str(value)
    if not is_model_path(text):
        return text
    path = Path(text).expanduser()
    try:
        same = resolve_model(path.stem).resolve() == path.resolve()
    except (HarmonizerError, OSError):
        return None
    return path.stem if same else None


def resolve_model(name_or_path) -> Path:
    text = str(name_or_path)
    path = Path(text).expanduser()
    if is_model_path(text):
        if path.is_file():
            return path
        raise ModelNotFoundError(f"model file not found: {path}")
    for folder in (user_models_dir(), bundled_models_dir()) if text != DEFAULT_NAME else (bundled_models_dir(),):
        candidate = folder / f"{text}{SUFFIX}"
        if candidate.is_file():
            return candidate
    if text == DEFAULT_NAME:
        raise ModelNotFoundError(
            "no trained weights are installed for the default model "
            f"(expected {bundled_models_dir() / (DEFAULT_NAME + SUFFIX)}); "
            "use the classical method (--method classical) or train one with `harmonizer train`"
        )
    names = ", ".join(m.name for m in list_models()) or "none installed"
    raise ModelNotFoundError(f"no model named {text!r} (available: {names})")


def register_model(src_path, name: str) -> Path:
    """Copy a model file into the user's model folder under `name` (atomically) and return its path."""
    name = validate_name(name)
    if name == DEFAULT_NAME:
        raise HarmonizerError("'default' is the bundled model's name; choose another name")
    read_info(src_path)  # refuse to register something that is not a model
    dest = user_models_dir() / f"{name}{SUFFIX}"
    with atomic_path(dest) as tmp:
        shutil.copyfile(src_path, tmp)
    return dest
