"""Which files are images, and which image is whose mask: one rule for batch, the trainer and the dialogs.

The mask of `X.<ext>` is `X_mask.<ext>` in the same folder (the suffix in any letter case; when there
are several, the first in MASK_EXT_ORDER: lossless formats before JPEG), and its reference area, if it
has one, `X_ref.<ext>` (the area whose light the object should take). Files named `*_mask` or `*_ref`
are never pictures. Hidden files, and files in hidden folders, are not images at all (editors' and the file
manager's leftovers).
"""
from __future__ import annotations

from pathlib import Path

from engine.image_io import READ_EXTS

IMAGE_EXTS = frozenset(READ_EXTS)
MASK_SUFFIX = "_mask"
REFERENCE_SUFFIX = "_ref"
MASK_EXT_ORDER = (".png", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".jpg", ".jpeg")


def is_mask_name(path: Path) -> bool:
    return path.stem.lower().endswith(MASK_SUFFIX)


def is_picture_name(path: Path) -> bool:
    """Not a mask nor a reference area of another picture."""
    stem = path.stem.lower()
    return not (stem.endswith(MASK_SUFFIX) or stem.endswith(REFERENCE_SUFFIX))


def reference_beside(picture: Path) -> Path | None:
    """`X_ref.*` beside picture `X.*`, lossless formats first; None when there is none."""
    wanted = (picture.stem + REFERENCE_SUFFIX).lower()
    try:
        found = [p for p in picture.parent.iterdir()
                 if p.stem.lower() == wanted and p.suffix.lower() in IMAGE_EXTS and p.is_file()]
    except OSError:
        return None
    return min(found, key=mask_rank) if found else None


def image_files(folder, recursive: bool = False) -> list[Path]:
    """The image files in `folder` (and below it, with `recursive`), sorted by path."""
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p for p in found
        if p.suffix.lower() in IMAGE_EXTS and not any(s.startswith(".") for s in p.relative_to(folder).parts)
        and p.is_file()
    )


def mask_rank(path: Path) -> int:
    ext = path.suffix.lower()
    return MASK_EXT_ORDER.index(ext) if ext in MASK_EXT_ORDER else len(MASK_EXT_ORDER)


def pair_masks(files: list[Path]) -> list[tuple[Path, Path | None]]:
    """Each picture among `files` (in their order) with its mask among `files`, or None."""
    masks: dict[tuple[Path, str], Path] = {}
    for p in files:
        if is_mask_name(p):
            key = (p.parent, p.stem[: -len(MASK_SUFFIX)].lower())
            if key not in masks or mask_rank(p) < mask_rank(masks[key]):
                masks[key] = p
    return [(p, masks.get((p.parent, p.stem.lower()))) for p in files if is_picture_name(p)]
