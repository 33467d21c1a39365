"""Where training data comes from: photo folders (X.jpg with an optional X_mask.*, and an index.csv naming
each photo's source), iHarmony4 datasets and X_comp/X_mask/X_real triplet folders, as `Entry`s; and the
validation split by source photo.

The split is by a hash of each source photo's name, so it is the same for every training seed, two
crops of one photo never straddle it, and it stays put when photos are added.
"""
from __future__ import annotations

import csv
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from engine.errors import HarmonizerError
from engine.pairing import image_files, pair_masks


@dataclass
class Entry:
    image: Path  # the real photo
    mask: Path | None = None  # None: generate one
    comp: Path | None = None  # a given composite (iHarmony4, triplets); None: synthesize
    group: str = ""  # source photo, for the split
    kind: str = ""  # what the mask holds (index.csv keyword), for same-kind donors



def photo_entries(folder: Path) -> list[Entry]:
    index = _index_rows(folder)
    entries = []
    for p, mask in pair_masks(image_files(folder, recursive=True)):
        group, kind = index.get(p.stem, (str(p.relative_to(folder).with_suffix("")), ""))
        entries.append(Entry(p, mask, None, group, kind))
    return entries


def _index_rows(folder: Path) -> dict[str, tuple[str, str]]:
    """name -> (source photo, keyword) from an index.csv with an obj_src column (the shared photos have one)."""
    index = folder / "index.csv"
    if not index.is_file():
        return {}
    try:
        with open(index, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    if not rows or "obj_src" not in rows[0] or "name" not in rows[0]:
        return {}
    return {Path(r["name"]).stem: (r["obj_src"], (r.get("keyword") or "").strip().lower())
            for r in rows if r.get("name") and r.get("obj_src")}


_TRIPLET = re.compile(r"^(?P<key>.+)_(?P<role>comp|mask|real)$", re.IGNORECASE)


def triplet_entries(folder: Path) -> list[Entry]:
    roles: dict[str, dict[str, Path]] = {}
    for p in image_files(folder):
        m = _TRIPLET.match(p.stem)
        if m:
            roles.setdefault(m["key"], {})[m["role"].lower()] = p
    entries = []
    for key, r in sorted(roles.items()):
        if {"comp", "mask", "real"} <= r.keys():
            entries.append(Entry(r["real"], r["mask"], r["comp"], key))
        else:
            print(f"warning: {folder / key}: incomplete triplet (needs _comp, _mask and _real); skipped",
                  file=sys.stderr)
    return entries


def _iharmony_subsets(root: Path) -> list[Path]:
    if (root / "composite_images").is_dir():
        return [root]
    return sorted(p for p in root.iterdir() if (p / "composite_images").is_dir())


def iharmony_entries(root: Path) -> list[Entry]:
    """Training lists of iHarmony4 subsets (SUBSET_train.txt); the test lists are left to `harmonizer eval`.

    Names follow the dataset: composite a0001_1_2.jpg, mask a0001_1.png, real a0001.jpg.
    """
    entries = []
    for sub in _iharmony_subsets(root):
        lists = sorted(sub.glob("*_train.txt"))
        if lists:
            names = []
            for lst in lists:
                names += [ln.strip() for ln in lst.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        else:
            names = [p.name for p in image_files(sub / "composite_images")]
        reals = {p.stem: p for p in image_files(sub / "real_images")} if (sub / "real_images").is_dir() else {}
        for name in names:
            comp = sub / "composite_images" / Path(name).name
            parts = comp.stem.split("_")
            if len(parts) < 3:
                continue
            real = reals.get(parts[0], sub / "real_images" / f"{parts[0]}.jpg")
            mask = sub / "masks" / f"{parts[0]}_{parts[1]}.png"
            entries.append(Entry(real, mask, comp, f"{sub.name}/{parts[0]}"))
    return entries


def find_entries(folder) -> tuple[str, list[Entry]]:
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise HarmonizerError(f"data folder not found: {folder}")
    if _iharmony_subsets(folder):
        return "iharmony4", iharmony_entries(folder)
    if any(_TRIPLET.match(p.stem) and p.stem.lower().endswith("_comp") for p in image_files(folder)):
        return "triplets", triplet_entries(folder)
    return "photos", photo_entries(folder)


def unit_hash(text: str) -> float:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big") / 2.0**64


def split_entries(entries: list[Entry], val_fraction: float) -> tuple[list[Entry], list[Entry]]:
    """Validation = the source photos whose name hashes below `val_fraction` (at least one of them)."""
    if val_fraction <= 0 or len(entries) < 2:
        return list(entries), []
    score = {g: unit_hash(g) for g in {e.group for e in entries}}
    val_groups = {g for g, u in score.items() if u < val_fraction}
    if not val_groups and len(score) >= 2:
        val_groups = {min(score, key=score.get)}
    if len(val_groups) == len(score):  # never leave nothing to train on
        val_groups.discard(max(val_groups, key=score.get))
    train = [e for e in entries if e.group not in val_groups]
    val = [e for e in entries if e.group in val_groups]
    return train, val
