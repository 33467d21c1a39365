"""What the fine-tune dialog asks for and remembers, free of Qt: the run's settings and the trainer
arguments they make, the photo count by the trainer's pairing rule, the validation share, a proposed
model name, and the memory of a stopped run that can be resumed after a restart.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.atomic import atomic_write_bytes
from engine.errors import HarmonizerError
from engine.pairing import image_files, pair_masks
from engine.registry import DEFAULT_NAME
from harmonizer_gui import settings

SCRATCH = ""  # base-model combo data for "no base model"
# Advanced users (and the tests) can pass trainer options the form does not show, e.g. --ngf 8.
EXTRA_ARGS_ENV = "HARMONIZER_TRAIN_EXTRA_ARGS"
STATE_FILE = "finetune_last_run.json"
# Fewer validation photos than this and a before/after change is mostly chance: the dialog raises the
# held-out share for small sets (up to MAX_VAL_FRACTION) and says so when it is still short.
MIN_VAL_PHOTOS = 5
VAL_FRACTION, MAX_VAL_FRACTION = 0.1, 0.3


def count_photos(folders) -> tuple[int, int]:
    """(photos, photos with a mask) in the folders and their subfolders, paired by the trainer's rule
    (engine.pairing: X.ext + X_mask.*)."""
    photos = masks = 0
    for folder in folders:
        try:
            pairs = pair_masks(image_files(folder, recursive=True))
        except OSError:
            continue
        photos += len(pairs)
        masks += sum(mask is not None for _, mask in pairs)
    return photos, masks


def few_val_photos(n: int) -> str:
    return (f"Measured on only {n} validation photo{'s' * (n != 1)}: the change is mostly chance; "
            f"with {MIN_VAL_PHOTOS} or more photos held out it means something.")


def val_fraction(photos: int) -> float:
    """The held-out share that leaves about MIN_VAL_PHOTOS photos for validation, within limits."""
    if photos <= 0:
        return VAL_FRACTION
    return round(min(MAX_VAL_FRACTION, max(VAL_FRACTION, MIN_VAL_PHOTOS / photos)), 2)


def propose_name(folders, taken=()) -> str:
    """A model name from the first photo folder's name ("Holiday 2024" -> "holiday-2024"), numbered
    past the names in `taken`, so Start works without typing and the list still says where it came from."""
    stem = Path(folders[0]).name if folders else ""
    base = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-.")[:48] or "my-photos"
    base = "my-photos" if base == DEFAULT_NAME else base
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "estimating…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass
class FinetuneSettings:
    folders: list[str]
    name: str
    base_model: str = SCRATCH
    budget_kind: str = "epochs"  # or "minutes"
    budget: float = 5
    size: int = 256
    device: str = "auto"
    batch: int = 4
    extra_args: list[str] = field(default_factory=list)
    val_fraction: float = VAL_FRACTION

    def to_args(self) -> list[str]:
        args: list[str] = []
        for folder in self.folders:
            args += ["--data", folder]
        if self.base_model:
            args += ["--init", self.base_model]
        args += [f"--{self.budget_kind}", f"{self.budget:g}", "--size", str(self.size), "--batch", str(self.batch)]
        args += ["--device", self.device, "--out", self.name, "--progress", "json"]
        if self.val_fraction != VAL_FRACTION:
            args += ["--val-fraction", f"{self.val_fraction:g}"]
        return args + list(self.extra_args)  # last, so they override the form's values


# -- a stopped run, remembered across restarts so that it can be resumed ---------------------------------
def _memory_path() -> Path:
    return settings.config_dir() / STATE_FILE


def remember_run(settings: FinetuneSettings, checkpoint: str, run_dir: str | None, curves: dict) -> dict:
    """Write the record of a stopped run; returns it. A failed write only loses the memory across restarts."""
    record = {"settings": asdict(settings), "checkpoint": checkpoint, "run_dir": run_dir, "curves": curves}
    try:
        atomic_write_bytes(_memory_path(), json.dumps(record, indent=1).encode())
    except HarmonizerError:
        pass
    return record


def forget_run() -> None:
    try:
        _memory_path().unlink(missing_ok=True)
    except OSError:
        pass


def remembered_run() -> dict | None:
    """The remembered run if its record is whole and its checkpoint is still there."""
    try:
        data = json.loads(_memory_path().read_text())
        FinetuneSettings(**data["settings"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data if Path(data.get("checkpoint") or "").is_file() else None
