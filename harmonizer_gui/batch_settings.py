"""The batch dialog's form as plain data, remembered between openings (a batch is usually re-run with
the last choices). Qt-free; values read back from the file are checked, so a damaged or hand-edited file
only loses the memory."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from engine.atomic import atomic_write_bytes
from engine.errors import HarmonizerError
from harmonizer_gui import settings

SETTINGS_FILE = "batch_dialog.json"
DEFAULT_TEMPLATE = "{name}_harmonized"


@dataclass
class BatchForm:
    input: str = ""
    masks: str = ""
    separate_masks: bool = False
    out: str = ""
    format: str | None = None
    quality: int | None = None
    template: str = DEFAULT_TEMPLATE
    policy: str | None = None
    method: str | None = None
    strength: int | None = None  # percent
    limit: bool = False
    max_side: int | None = None

    def save(self) -> None:
        try:
            atomic_write_bytes(settings.config_dir() / SETTINGS_FILE, json.dumps(asdict(self), indent=1).encode())
        except HarmonizerError:
            pass  # only the convenience of remembering is lost

    @classmethod
    def load(cls) -> "BatchForm":
        """The remembered form; the defaults for anything missing or of the wrong type."""
        try:
            data = json.loads((settings.config_dir() / SETTINGS_FILE).read_text())
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        form = cls()
        for f in fields(cls):
            value = data.get(f.name)
            if f.name in ("separate_masks", "limit"):
                setattr(form, f.name, bool(value))
            elif f.name in ("quality", "strength", "max_side"):
                setattr(form, f.name, value if isinstance(value, int) and not isinstance(value, bool) else None)
            elif value is not None:
                setattr(form, f.name, str(value))
        form.template = form.template or DEFAULT_TEMPLATE
        return form
