"""The editor's remembered state: preferences, recent files and where autosave goes. Qt-free.

Everything read back from disk is treated as untrusted: a hand-edited or half-migrated file falls back to
defaults field by field instead of stopping the application from starting.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from engine.atomic import atomic_write_bytes
from engine.errors import HarmonizerError
from engine.registry import user_data_root
from harmonizer_gui.document import PRESSURE_MODES

PREFERENCES_FILE = "preferences.json"
RECENT_FILE = "recent.json"
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def config_dir() -> Path:
    # HARMONIZER_CONFIG_DIR lets tests and portable installs keep settings beside everything else.
    from platformdirs import user_config_dir

    return Path(os.environ.get("HARMONIZER_CONFIG_DIR") or user_config_dir("harmonizer", appauthor=False))


def autosave_path() -> Path:
    return user_data_root() / "autosave" / "autosave.ora"


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass
class Preferences:
    overlay_color: str = "#ff3b30"
    overlay_opacity: float = 0.45
    overlay_visible: bool = True
    brush_size: int = 40
    brush_hardness: float = 0.7
    pen_pressure: str = "size"  # what a tablet pen's pressure changes: size, opacity, both or off
    model: str = "default"
    live_mode: bool = False
    window_geometry: str = ""  # hex of QWidget.saveGeometry()
    window_state: str = ""  # hex of QMainWindow.saveState()
    last_folder: str = ""
    autosave_seconds: int = 60
    export_format: str = "png"
    export_quality: int = 95

    @staticmethod
    def path() -> Path:
        return config_dir() / PREFERENCES_FILE

    @classmethod
    def load(cls) -> "Preferences":
        data = _read_json(cls.path())
        prefs = cls()
        if not isinstance(data, dict):
            return prefs
        for f in fields(cls):
            if f.name in data:
                value = _coerce(data[f.name], getattr(prefs, f.name))
                if value is not None and _valid(f.name, value):
                    setattr(prefs, f.name, value)
        return prefs

    def save(self) -> None:
        """Atomic; raises HarmonizerError (ImageWriteError) when the folder is not writable."""
        atomic_write_bytes(self.path(), json.dumps(asdict(self), indent=1).encode("utf-8"))


def _coerce(value, default):
    """`value` as the type of `default`, or None when it is another kind of thing."""
    # bool is an int subclass, so check it first: `true` must not become brush size 1.
    if isinstance(default, bool):
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if isinstance(default, int):
        return value if isinstance(value, int) else None
    if isinstance(default, float):
        return float(value) if isinstance(value, (int, float)) and value == value else None
    if isinstance(default, str):
        return value if isinstance(value, str) else None
    return None


def _valid(name: str, value) -> bool:
    # Values the editor cannot display would only be clamped later; refusing them here keeps one rule.
    if name == "overlay_color":
        return bool(_HEX_COLOR.match(value))
    if name in ("overlay_opacity", "brush_hardness"):
        return 0.0 <= value <= 1.0
    if name == "brush_size":
        return 1 <= value <= 5000
    if name == "autosave_seconds":
        return value >= 0  # 0 turns autosave off
    if name == "export_quality":
        return 1 <= value <= 100
    if name == "pen_pressure":
        return value in PRESSURE_MODES
    if name == "export_format":
        return value in ("png", "jpg", "webp", "tif", "ora")
    return True


class RecentFiles:
    """Recently opened projects and images, most recent first, kept in config_dir()/recent.json."""

    def __init__(self, max_items: int = 10):
        self.max_items = max_items

    @staticmethod
    def path() -> Path:
        return config_dir() / RECENT_FILE

    def _stored(self) -> list[str]:
        data = _read_json(self.path())
        if not isinstance(data, list):
            return []
        return [p for p in data if isinstance(p, str) and p]

    def _write(self, paths: list[str]) -> None:
        try:
            atomic_write_bytes(self.path(), json.dumps(paths, indent=1).encode("utf-8"))
        except HarmonizerError:
            pass  # a read-only config folder only costs the menu its memory, never the open itself

    def add(self, path) -> None:
        resolved = str(Path(path).expanduser().resolve())
        kept = [p for p in self._stored() if not _same(p, resolved)]
        self._write([resolved, *kept][: self.max_items])

    def paths(self) -> list[Path]:
        """The remembered files that still exist, most recent first."""
        return [Path(p) for p in self._stored() if Path(p).is_file()][: self.max_items]

    def clear(self) -> None:
        self._write([])


def _same(stored: str, resolved: str) -> bool:
    try:
        return str(Path(stored).expanduser().resolve()) == resolved
    except (OSError, RuntimeError):
        return stored == resolved
