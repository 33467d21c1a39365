"""Files in and out of a `Document`: images, masks, exports and .ora projects. Qt-free.

An .ora project stays a normal OpenRaster file that Krita or GIMP open and show as the user sees it
(background, the placed foreground, the harmonized layer at the strength's opacity). The editable state
(the untransformed foreground, its layer mask, the transform, model and strength) rides along as extras,
plus the flattened composite and its mask so that batch export needs no rendering.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from engine.atomic import atomic_path
from engine.errors import HarmonizerError, ImageReadError, ImageWriteError
from engine.image_io import read_image, read_mask, write_image
from harmonizer_gui import ora
from harmonizer_gui.document import Document
from harmonizer_gui.transform import Transform

FORMAT_VERSION = 1
FOREGROUND_ENTRY = "harmonizer/foreground.png"
LAYER_MASK_ENTRY = "harmonizer/layer_mask.png"
RESULT_LAYER = "Harmonized"
EXPORT_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
# The only extras load_project reads; anything else in the zip is never decompressed.
PROJECT_EXTRAS = (ora.DOCUMENT_ENTRY, FOREGROUND_ENTRY, LAYER_MASK_ENTRY)


def is_project(path) -> bool:
    return Path(path).suffix.lower() == ".ora"


def open_image(path) -> tuple[np.ndarray, np.ndarray | None]:
    return read_image(path)


def add_image(doc: Document, path) -> str:
    """The first image becomes the background, later ones the foreground; returns which it became."""
    rgb, alpha = open_image(path)
    name = Path(path).name
    if doc.background is None:
        doc.load(rgb, bg_name=name, model=doc.model)
        return "background"
    doc.set_foreground(rgb, alpha, name)
    return "foreground"


# -- masks and exports -------------------------------------------------------------------------------
def load_mask(doc: Document, path) -> None:
    doc.load_mask(read_mask(path), Path(path).name)


def _png(array: np.ndarray, compress_level: int = 6) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def _mask_png(mask: np.ndarray, compress_level: int = 6) -> bytes:
    # 16 bits keep a feathered edge's gradations exact across save and load.
    return _png((np.clip(mask, 0, 1) * 65535 + 0.5).astype(np.uint16), compress_level)


def _mask_from_png(data: bytes, what: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as img:
            arr = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"the project's {what} is damaged ({exc})") from None
    top = 65535.0 if arr.dtype != np.uint8 else 255.0
    if arr.ndim != 2:
        raise ImageReadError(f"the project's {what} is not a greyscale image")
    return (arr.astype(np.float32) / np.float32(top)).clip(0, 1)


def save_mask(doc: Document, path) -> Path:
    """The composite's mask (canvas size, 8-bit greyscale PNG), the pair `harmonizer harmonize` reads."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ImageWriteError(f"cannot write {path}: save masks as .png")
    data = _png((doc.composite_mask() * 255 + 0.5).astype(np.uint8))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def export_image(doc: Document, path, quality: int = 95) -> Path:
    """The picture at full resolution (the result at the current strength when it is shown)."""
    if Path(path).suffix.lower() not in EXPORT_EXTS:
        raise ImageWriteError(f"cannot export {path}: use .png, .jpg, .webp or .tif")
    return write_image(path, doc.flattened(), quality)


# -- projects ----------------------------------------------------------------------------------------
def _rgba(rgb: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    a = np.full(rgb.shape[:2], 255, np.uint8) if alpha is None else alpha
    return np.dstack([rgb, a])


def _placed_foreground(doc: Document) -> ora.OraLayer | None:
    """The foreground as other programs should see it: transformed, cropped to its footprint."""
    box = doc.foreground_box()
    if box is None:
        return None
    x0, y0, x1, y1 = box
    m = doc.matrix().copy()
    m[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    rgb = cv2.warpAffine(doc.foreground, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = (doc.composite_mask()[y0:y1, x0:x1] * 255 + 0.5).astype(np.uint8)
    return ora.OraLayer(doc.fg_name or "Foreground", _rgba(rgb, alpha), x0, y0, doc.opacity)


def _result_layer(doc: Document) -> ora.OraLayer | None:
    if doc.result is None:
        return None
    # The result equals the composite outside the mask, so its changed box is all that needs storing;
    # drawn at the strength's opacity over the composite it gives exactly what the editor shows.
    diff = np.any(doc.result != doc.composite(), axis=2)
    if not diff.any():
        x0 = y0 = 0
        x1 = y1 = 1
    else:
        rows, cols = np.flatnonzero(diff.any(1)), np.flatnonzero(diff.any(0))
        x0, y0, x1, y1 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    crop = np.ascontiguousarray(doc.result[y0:y1, x0:x1])
    return ora.OraLayer(RESULT_LAYER, _rgba(crop), x0, y0, doc.strength, doc.result_visible)


def save_project(doc: Document, path, compress_level: int = 6) -> Path:
    path = Path(path)
    if doc.background is None:
        raise HarmonizerError("nothing to save: open a background first")
    layers = [ora.OraLayer(doc.bg_name or "Background", _rgba(doc.background))]
    for layer in (_placed_foreground(doc), _result_layer(doc)):
        if layer is not None:
            layers.append(layer)
    state = {
        "format": FORMAT_VERSION, "model": doc.model, "strength": doc.strength, "opacity": doc.opacity,
        "transform": doc.transform.to_dict(), "background_name": doc.bg_name, "foreground_name": doc.fg_name,
        "has_foreground": doc.foreground is not None, "has_result": doc.result is not None,
        "result_visible": doc.result_visible,
    }
    extras = {
        ora.DOCUMENT_ENTRY: json.dumps(state, indent=1).encode("utf-8"),
        LAYER_MASK_ENTRY: _mask_png(doc.mask, compress_level),
        ora.COMPOSITE_ENTRY: _png(doc.composite(), compress_level),
        ora.COMPOSITE_MASK_ENTRY: _png((doc.composite_mask() * 255 + 0.5).astype(np.uint8), compress_level),
    }
    if doc.foreground is not None:
        extras[FOREGROUND_ENTRY] = _png(_rgba(doc.foreground, doc.fg_alpha), compress_level)
    ora.save_ora(path, layers, extras, doc.canvas_size, compress_level=compress_level)
    return path


def _paste(canvas: np.ndarray, layer: ora.OraLayer) -> None:
    """Put a layer's opaque RGB onto a canvas-size array at its offset (clipped)."""
    h, w = canvas.shape[:2]
    lh, lw = layer.rgba.shape[:2]
    x0, y0, x1, y1 = max(0, layer.x), max(0, layer.y), min(w, layer.x + lw), min(h, layer.y + lh)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = layer.rgba[y0 - layer.y:y1 - layer.y, x0 - layer.x:x1 - layer.x, :3]


def _load_ours(project: ora.OraProject, state: dict, path) -> dict:
    w, h = project.size
    if not project.layers:
        raise ImageReadError(f"cannot read {path}: the project has no layers")
    bg_layer = project.layers[0]
    background = np.zeros((h, w, 3), np.uint8)
    _paste(background, bg_layer)
    fields = {"background": background, "bg_name": str(state.get("background_name") or bg_layer.name)}
    mask = _mask_from_png(project.extras[LAYER_MASK_ENTRY], "layer mask") if LAYER_MASK_ENTRY in project.extras else None
    if state.get("has_foreground") and FOREGROUND_ENTRY in project.extras:
        try:
            with Image.open(io.BytesIO(project.extras[FOREGROUND_ENTRY])) as img:
                rgba = np.asarray(img.convert("RGBA"))
        except (OSError, ValueError) as exc:
            raise ImageReadError(f"cannot read {path}: its foreground is damaged ({exc})") from None
        alpha = rgba[..., 3].copy()
        fields.update(foreground=np.ascontiguousarray(rgba[..., :3]), fg_alpha=None if alpha.min() == 255 else alpha,
                      fg_name=str(state.get("foreground_name") or "Foreground"))
        try:
            fields["transform"] = Transform.from_dict(state.get("transform") or {})
        except (TypeError, ValueError):
            raise ImageReadError(f"cannot read {path}: its foreground transform is invalid") from None
    fields["mask"] = mask
    result_layer = next((la for la in project.layers[1:] if la.name == RESULT_LAYER), None)
    if state.get("has_result") and result_layer is not None:
        fields["result_layer"] = result_layer
        fields["result_visible"] = bool(result_layer.visible)
    fields.update(opacity=_unit(state, "opacity", path), strength=_unit(state, "strength", path),
                  model=str(state.get("model") or "default"))
    return fields


def _unit(state: dict, key: str, path) -> float:
    """A 0..1 setting from the editor state; anything else is refused by name before the document is
    touched (an opacity of -3 used to export wrong pixels, one of inf to fail halfway through loading)."""
    value = state.get(key, 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ImageReadError(f"cannot read {path}: its editor state has {key} {str(value)[:40]}, expected 0 to 1")
    return float(value)


def _load_foreign(project: ora.OraProject, path) -> dict:
    """Another program's .ora: the bottom layers flatten into the background, the top one is the foreground."""
    visible = [la for la in project.layers if la.visible and la.opacity > 0]
    if not visible:
        raise ImageReadError(f"cannot read {path}: the project has no visible layers")
    w, h = project.size
    under = visible[:-1] if len(visible) > 1 else visible
    flat = ora.flatten(under, project.size)
    # Transparent parts of the bottom of the stack show white, as in Krita and GIMP.
    a = flat[..., 3:].astype(np.float32) / 255
    background = np.clip(flat[..., :3] * a + 255 * (1 - a) + 0.5, 0, 255).astype(np.uint8)
    fields = {"background": background, "bg_name": visible[0].name if len(visible) > 1 else "Background"}
    if len(visible) > 1:
        top = visible[-1]
        lh, lw = top.rgba.shape[:2]
        alpha = top.rgba[..., 3].copy()
        fields.update(foreground=np.ascontiguousarray(top.rgba[..., :3]), fg_alpha=None if alpha.min() == 255 else alpha,
                      fg_name=top.name, opacity=float(top.opacity),
                      transform=Transform(cx=top.x + (lw - 1) / 2.0, cy=top.y + (lh - 1) / 2.0))
    return fields


def load_project(doc: Document, path) -> None:
    """Open an .ora into `doc`; on any error `doc` is left as it was."""
    project = ora.load_ora(path, extras=PROJECT_EXTRAS)
    raw = project.extras.get(ora.DOCUMENT_ENTRY)
    state = None
    if raw is not None:
        try:
            state = json.loads(raw.decode("utf-8"))
            if not isinstance(state, dict):
                raise ValueError("not an object")
        except (UnicodeDecodeError, ValueError) as exc:
            raise ImageReadError(f"cannot read {path}: its editor state is damaged ({exc})") from None
    fields = _load_ours(project, state, path) if state is not None else _load_foreign(project, path)
    result_layer = fields.pop("result_layer", None)
    result_visible = fields.pop("result_visible", True)
    scratch = Document()  # build and check everything first, so a bad file leaves `doc` untouched
    scratch.load(**fields, path=Path(path))
    result = None
    if result_layer is not None:
        result = scratch.composite().copy()
        _paste(result, result_layer)
    doc.load(**fields, result=result, path=Path(path))
    if result is not None and not result_visible:
        doc.set_result_visible(False)
