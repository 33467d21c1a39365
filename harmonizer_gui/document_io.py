"""Files in and out of a `Document`: images, masks and exports; .ora projects live in project_io and are
re-exported here, so callers have one module for files. Qt-free."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from engine.errors import ImageWriteError
from engine.image_io import HIGH_DEPTH_FORMATS, Picture, read_mask, read_picture, write_format, write_image
from harmonizer_gui.document import Document
from harmonizer_gui.project_io import (  # noqa: F401 - the project API, re-exported
    FOREGROUND_ENTRY, FORMAT_VERSION, LAYER_MASK_ENTRY, PROJECT_EXTRAS, RESULT_LAYER, is_project, load_project,
    png_bytes, save_project,
)



def open_image(path) -> Picture:
    """An image file upright and in sRGB, with its 16-bit pixels, EXIF and notes (engine.image_io)."""
    return read_picture(path)


def add_image(doc: Document, path) -> str:
    """The first image becomes the background, later ones the foreground; returns which it became."""
    picture = open_image(path)
    name = Path(path).name
    if doc.background is None:
        doc.load(picture.rgb, bg_name=name, model=doc.model, background16=picture.rgb16, bg_exif=picture.exif)
        return "background"
    doc.set_foreground(picture.rgb, picture.alpha, name)
    return "foreground"


# -- masks and exports -------------------------------------------------------------------------------
def load_mask(doc: Document, path) -> None:
    doc.load_mask(read_mask(path), Path(path).name)


def save_mask(doc: Document, path) -> Path:
    """The composite's mask (canvas size, 8-bit greyscale PNG), the pair `harmonizer harmonize` reads."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ImageWriteError(f"cannot write {path}: save masks as .png")
    data = png_bytes((doc.composite_mask() * 255 + 0.5).astype(np.uint8))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def export_image(doc: Document, path, quality: int = 95) -> Path:
    """The picture at full resolution (the result at the current strength when it is shown), in sRGB, with
    the background file's EXIF in JPEGs and its 16 bits in PNG and TIFF."""
    fmt = write_format(path)
    if fmt is None:
        raise ImageWriteError(f"cannot export {path}: use .png, .jpg, .webp or .tif")
    flat = doc.flattened()
    wide = _flattened16(doc, flat) if fmt in HIGH_DEPTH_FORMATS else None
    return write_image(path, flat, quality, rgb16=wide, exif=doc.bg_exif)


def _flattened16(doc: Document, flat: np.ndarray) -> np.ndarray | None:
    """The exported picture at 16 bits when the background has them. The editor works on an 8-bit copy of
    the background; what rounding took off it is added back in float wherever the background shows, in
    proportion to how much it shows, so untouched areas come out bit-exact and the foreground (8-bit, as
    is the network's output) is left as composited."""
    if doc.background16 is None:
        return None
    shown = 1.0 - doc.composite_mask() * np.float32(doc.opacity if doc.foreground is not None else 1.0)
    out = np.empty(flat.shape, np.uint16)
    for y0 in range(0, flat.shape[0], 512):  # row bands keep the float copies small on a 100 MP picture
        y1 = y0 + 512
        lost = doc.background16[y0:y1] * np.float32(1 / 257) - doc.background[y0:y1]
        level = flat[y0:y1] + lost * shown[y0:y1, :, None]
        out[y0:y1] = np.clip(level * 257 + 0.5, 0, 65535).astype(np.uint16)
    return out
