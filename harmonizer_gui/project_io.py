"""OpenRaster projects in and out of a `Document`. Qt-free.

An .ora project stays a normal OpenRaster file that Krita or GIMP open and show as the user sees it
(background, the placed foreground, the harmonized layer at the strength's opacity). The editable state
(the untransformed foreground, its layer mask, the transform, model and strength) rides along as extras,
plus the flattened composite and its mask so that batch export needs no rendering.

Other programs' files keep their layers: everything below the foreground is rendered into the background
(blend modes and groups as OpenRaster says) and written back unchanged when saving. Programs that re-save
our file drop the extras (Krita does) but keep layer names, opacity, visibility and offsets, so the
editor's own layers are recognised by those.
"""
from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from engine.compositing import nonzero_box
from engine.errors import HarmonizerError, ImageReadError
from engine.registry import DEFAULT_NAME, registry_name, resolve_model, validate_name
from engine.photo_match import MAX_SIDE, PhotoStyle, shrink
from engine.shadow import ShadowSettings
from engine import openraster as ora
from engine.openraster import MATCH_AREA_ENTRY, MATCH_PHOTO_ENTRY, REFERENCE_ENTRY
from harmonizer_gui.document import CLASSICAL, Document
from engine.openraster_stack import SRC_OVER, KNOWN_OPS, OraGroup, OraLayer, count, unknown_ops
from harmonizer_gui.transform import Transform

FORMAT_VERSION = 1
FOREGROUND_ENTRY = "harmonizer/foreground.png"
LAYER_MASK_ENTRY = "harmonizer/layer_mask.png"
RESULT_LAYER = "Harmonized"
SHADOW_LAYER = "Shadow"
MULTIPLY = "svg:multiply"
# The only extras load_project reads; anything else in the zip is never decompressed.
PROJECT_EXTRAS = (ora.DOCUMENT_ENTRY, FOREGROUND_ENTRY, LAYER_MASK_ENTRY, REFERENCE_ENTRY, MATCH_PHOTO_ENTRY,
                  MATCH_AREA_ENTRY)
PAPER = 255  # transparent parts of the bottom of a stack show white, as in Krita and GIMP


def is_project(path) -> bool:
    return Path(path).suffix.lower() == ".ora"


def png_bytes(array: np.ndarray, compress_level: int = 6) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def _mask_png(mask: np.ndarray, compress_level: int = 6) -> bytes:
    # 16 bits keep a feathered edge's gradations exact across save and load.
    return png_bytes((np.clip(mask, 0, 1) * 65535 + 0.5).astype(np.uint16), compress_level)


def _mask_from_png(data: bytes, what: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A 8/16-bit greyscale PNG as float32 0..1; with `size` (w, h), one of another size is refused from its
    header, before a pixel is decoded."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if size is not None and img.size != tuple(size):
                raise ImageReadError(f"the project's {what} is {img.size[0]}x{img.size[1]}, not {size[0]}x{size[1]}")
            arr = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"the project's {what} is damaged ({exc})") from None
    top = 65535.0 if arr.dtype != np.uint8 else 255.0
    if arr.ndim != 2:
        raise ImageReadError(f"the project's {what} is not a greyscale image")
    return (arr.astype(np.float32) / np.float32(top)).clip(0, 1)


def _rgba(rgb: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    a = np.full(rgb.shape[:2], 255, np.uint8) if alpha is None else alpha
    return np.dstack([rgb, a])


# -- saving ------------------------------------------------------------------------------------------
def _placed_foreground(doc: Document) -> OraLayer | None:
    """The foreground as other programs should see it: transformed, cropped to its footprint."""
    box = doc.foreground_box()
    if box is None:
        return None
    x0, y0, x1, y1 = box
    rgb = doc.placed_foreground(box)
    alpha = (doc.composite_mask()[y0:y1, x0:x1] * 255 + 0.5).astype(np.uint8)
    return OraLayer(doc.fg_name or "Foreground", _rgba(rgb, alpha), x0, y0, doc.opacity)


def _shadow_layer(doc: Document) -> OraLayer | None:
    """The object's shadow as a multiply layer under it, so that Krita and other programs show it too (we
    redraw it from the settings in document.json)."""
    if doc.shadow is None:
        return None
    alpha, tint = doc.shadow_alpha()
    a = alpha * (1 - doc.composite_mask())
    box = nonzero_box(a > 0.5 / 255)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    rgba = np.empty((y1 - y0, x1 - x0, 4), np.uint8)
    rgba[..., :3] = np.clip(tint * 255 + 0.5, 0, 255).astype(np.uint8)
    rgba[..., 3] = np.clip(a[y0:y1, x0:x1] * 255 + 0.5, 0, 255).astype(np.uint8)
    return OraLayer(SHADOW_LAYER, rgba, x0, y0, 1.0, True, MULTIPLY)


def _result_layer(doc: Document) -> OraLayer | None:
    if doc.result is None:
        return None
    # The result equals the composite outside the mask, so its changed box is all that needs storing;
    # drawn at the strength's opacity over the composite it gives exactly what the editor shows.
    x0, y0, x1, y1 = nonzero_box(np.any(doc.result != doc.composite(), axis=2)) or (0, 0, 1, 1)
    crop = np.ascontiguousarray(doc.result[y0:y1, x0:x1])
    return OraLayer(RESULT_LAYER, _rgba(crop), x0, y0, doc.strength, doc.result_visible)


def save_project(doc: Document, path, compress_level: int = 6) -> Path:
    path = Path(path)
    if doc.background is None:
        raise HarmonizerError("nothing to save: open a background first")
    # Another program's layers go back as they came (the background is their render); otherwise the
    # background is one layer.
    under, over = doc.kept_layers or ([OraLayer(doc.bg_name or "Background", _rgba(doc.background))], [])
    # The shadow goes on top: the editor shades the picture after blending the result, so does this.
    ours = [layer for layer in (_placed_foreground(doc), _result_layer(doc), _shadow_layer(doc)) if layer is not None]
    state = {
        "format": FORMAT_VERSION, "model": registry_name(doc.model) or doc.model, "strength": doc.strength, "opacity": doc.opacity,
        "transform": doc.transform.to_dict(), "background_name": doc.bg_name, "foreground_name": doc.fg_name,
        "has_foreground": doc.foreground is not None, "has_result": doc.result is not None,
        "result_visible": doc.result_visible,
        "shadow": None if doc.shadow is None else dataclasses.asdict(doc.shadow),
        "match_reference": doc.match_reference,
        "match_photo_alpha": None if doc.match_photo is None else doc.match_photo.alpha,
    }
    if doc.kept_layers:
        state["kept_layers"] = [len(under), len(over)]
    extras = {
        ora.DOCUMENT_ENTRY: json.dumps(state, indent=1).encode("utf-8"),
        LAYER_MASK_ENTRY: _mask_png(doc.mask, compress_level),
        ora.COMPOSITE_ENTRY: png_bytes(doc.composite(), compress_level),
        ora.COMPOSITE_MASK_ENTRY: png_bytes((doc.composite_mask() * 255 + 0.5).astype(np.uint8), compress_level),
    }
    if doc.reference is not None and doc.reference.shape == doc.background.shape[:2]:
        extras[REFERENCE_ENTRY] = _mask_png(doc.reference, compress_level)
    if doc.match_photo is not None:
        extras[MATCH_PHOTO_ENTRY] = png_bytes(doc.match_photo.photo, compress_level)
        if doc.match_photo.area is not None:
            extras[MATCH_AREA_ENTRY] = _mask_png(doc.match_photo.area, compress_level)
    if doc.foreground is not None:
        extras[FOREGROUND_ENTRY] = png_bytes(_rgba(doc.foreground, doc.fg_alpha), compress_level)
    ora.save_ora(path, [*under, *ours, *over], extras, doc.canvas_size, compress_level=compress_level)
    return path


# -- loading -----------------------------------------------------------------------------------------
def _paste(canvas: np.ndarray, layer: OraLayer) -> None:
    """Put a layer's opaque RGB onto a canvas-size array at its offset (clipped)."""
    h, w = canvas.shape[:2]
    lh, lw = layer.rgba.shape[:2]
    x0, y0, x1, y1 = max(0, layer.x), max(0, layer.y), min(w, layer.x + lw), min(h, layer.y + lh)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = layer.rgba[y0 - layer.y:y1 - layer.y, x0 - layer.x:x1 - layer.x, :3]


def _background(nodes, size) -> np.ndarray:
    flat = ora.flatten(nodes, size)
    a = flat[..., 3:].astype(np.float32) * np.float32(1 / 255)
    return np.clip(flat[..., :3] * a + PAPER * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def _kept(under, over):
    """Layers worth keeping for the next save: anything but the editor's own single background layer."""
    if over or len(under) > 1 or (under and isinstance(under[0], OraGroup)):
        return under, over
    return None


def _placed(layer: OraLayer) -> dict:
    """A placed layer as the foreground, where it lies, untransformed, its transparency kept."""
    lh, lw = layer.rgba.shape[:2]
    alpha = layer.rgba[..., 3].copy()
    return dict(foreground=np.ascontiguousarray(layer.rgba[..., :3]), fg_alpha=None if alpha.min() == 255 else alpha,
                fg_name=layer.name, opacity=float(layer.opacity) if layer.visible else 0.0,
                transform=Transform(cx=layer.x + (lw - 1) / 2.0, cy=layer.y + (lh - 1) / 2.0))


def _load_ours(project: ora.OraProject, state: dict, path) -> dict:
    stack = project.stack
    if not stack:
        raise ImageReadError(f"cannot read {path}: the project has no layers")
    kept = state.get("kept_layers")
    if kept is None:
        n_under, n_over = 1, 0
    elif (isinstance(kept, list) and len(kept) == 2 and all(type(n) is int for n in kept)
          and kept[0] >= 1 and kept[1] >= 0 and sum(kept) <= len(stack)):
        n_under, n_over = kept
    else:
        raise ImageReadError(f"cannot read {path}: its editor state has invalid kept_layers {str(kept)[:40]}")
    under, ours, over = stack[:n_under], stack[n_under:len(stack) - n_over], stack[len(stack) - n_over:]
    fields = {"background": _background(under, project.size), "kept_layers": _kept(under, over),
              "bg_name": str(state.get("background_name") or under[0].name)}
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
    if REFERENCE_ENTRY in project.extras:
        fields["reference"] = _mask_from_png(project.extras[REFERENCE_ENTRY], "reference area", project.size)
    fields["match_reference"] = bool(state.get("match_reference", False))
    if MATCH_PHOTO_ENTRY in project.extras and state.get("match_photo_alpha") is not None:
        fields["match_photo"] = _match_photo(project.extras[MATCH_PHOTO_ENTRY], project.extras.get(MATCH_AREA_ENTRY),
                                             _unit(state, "match_photo_alpha", path), path)
    result_layer = next((la for la in ours if isinstance(la, OraLayer) and la.name == RESULT_LAYER), None)
    if state.get("has_result") and result_layer is not None:
        fields["result_layer"] = result_layer
        fields["result_visible"] = bool(result_layer.visible)
    fields.update(opacity=_unit(state, "opacity", path), strength=_unit(state, "strength", path),
                  model=str(state.get("model") or "default"), shadow=_shadow(state, path))
    return fields


def _match_photo(data: bytes, area_png: bytes | None, alpha: float, path) -> PhotoStyle:
    try:
        with Image.open(io.BytesIO(data)) as img:
            if max(img.size) > 4 * MAX_SIDE:  # ours are MAX_SIDE at most: refuse a crafted giant
                raise ValueError(f"{img.size[0]}x{img.size[1]} is larger than the editor writes")
            rgb = np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"cannot read {path}: its photo to match is damaged ({exc})") from None
    try:
        area = None if area_png is None else _mask_from_png(area_png, "area of the photo to match",
                                                          (rgb.shape[1], rgb.shape[0]))
    except ImageReadError as exc:
        raise ImageReadError(f"cannot read {path}: {exc}") from None
    return PhotoStyle(shrink(rgb), None if area is None else shrink(area), alpha)


def _shadow(state: dict, path) -> ShadowSettings | None:
    """The object's shadow from the editor state; a malformed one is refused by name, like a bad opacity."""
    value = state.get("shadow")
    if value is None:
        return None
    try:
        if not isinstance(value, dict):
            raise TypeError
        return ShadowSettings(**{k: value[k] for k in value if k in ShadowSettings.__dataclass_fields__}).checked()
    except (TypeError, ValueError, HarmonizerError) as exc:
        raise ImageReadError(f"cannot read {path}: its shadow settings are invalid ({exc or 'not a table'})") from None


def _unit(state: dict, key: str, path) -> float:
    """A 0..1 setting from the editor state; anything else is refused by name before the document is
    touched (an opacity of -3 used to export wrong pixels, one of inf to fail halfway through loading)."""
    value = state.get(key, 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ImageReadError(f"cannot read {path}: its editor state has {key} {str(value)[:40]}, expected 0 to 1")
    return float(value)


def _model(value: str, confirm_model) -> tuple[str, str]:
    """The model a project asks for, as the editor selects it, and what to tell the user. Projects are
    sent around, so a model file is only read where the registry says: a registered name is used as it is
    (the picker lists registered models by their file), a path outside the registry only when
    `confirm_model(path)` says yes; otherwise the default model, with a note."""
    name = registry_name(value)
    if name is None:
        if confirm_model is not None and confirm_model(value):
            return value, ""
        return DEFAULT_NAME, (f" It names the model file {value[:200]}, which is not used unless you choose it; "
                              f"the default model is selected.")
    if name in (DEFAULT_NAME, CLASSICAL):
        return name, ""
    try:
        return str(resolve_model(validate_name(name))), ""
    except HarmonizerError:
        return DEFAULT_NAME, f" Its model {name[:64]!r} is not installed here; the default model is selected."


def _load_resaved(project: ora.OraProject) -> dict | None:
    """Our own project re-saved by a program that dropped the extras, recognised by its layers: the
    Harmonized layer on top (only hidden elements above it), the placed foreground right below it and
    the background below that. None when the stack does not look like that."""
    stack = project.stack
    top = None
    for i in reversed(range(len(stack))):
        if isinstance(stack[i], OraLayer) and stack[i].name == RESULT_LAYER:
            top = i
            break
        if stack[i].visible and stack[i].name != SHADOW_LAYER:  # our shadow may lie over the result
            return None
    if top is None or top < 2 or not isinstance(stack[top - 1], OraLayer):
        return None
    under, fg, result, over = stack[:top - 1], stack[top - 1], stack[top], stack[top + 1:]
    # The saved layer's transparency is the layer mask times the cut-out's alpha: as the mask it can be
    # painted back where it was erased.
    fields = _placed(fg)
    fields.update(mask=fg.rgba[..., 3].astype(np.float32) * np.float32(1 / 255), fg_alpha=None,
                  background=_background(under, project.size), kept_layers=_kept(under, over),
                  bg_name=under[0].name if len(under) == 1 else "Background", result_layer=result,
                  result_visible=bool(result.visible), strength=float(result.opacity))
    return fields


def _load_foreign(project: ora.OraProject, path) -> tuple[dict, str]:
    """Another program's .ora: the top visible layer (a plain one, at the top level, over something) is the
    foreground and the rest renders into the background; all of it is kept for saving. Returns the fields
    and what was merged, for the user."""
    stack = project.stack
    if not any(la.visible and la.opacity > 0 for la in project.layers):
        raise ImageReadError(f"cannot read {path}: the project has no visible layers")
    k = max(i for i, node in enumerate(stack) if node.visible)
    top = stack[k]
    plain = isinstance(top, OraLayer) and top.composite_op == SRC_OVER and top.opacity > 0
    below = any(la.visible and la.opacity > 0 for la in ora.leaves(stack[:k]))
    fg = top if plain and below else None
    under, over = (stack[:k], stack[k + 1:]) if fg else (stack, [])
    fields = {"background": _background(under, project.size), "kept_layers": (under, over),
              "bg_name": under[0].name if len(under) == 1 else "Background"}
    if fg is not None:
        fields.update(_placed(fg))
    return fields, _merged_note(under, fg, project.skipped)


def _merged_note(under, fg, skipped) -> str:
    layers, groups, hidden = count(under)
    text = f"{layers} layer{'s' * (layers != 1)}"
    if groups:
        text += f" in {groups} group{'s' * (groups != 1)}"
    if hidden:
        text += f" ({hidden} hidden)"
    text += " merged into the background"
    ops = sorted({node.composite_op[4:] for node in _nodes(under) if node.composite_op in KNOWN_OPS - {SRC_OVER}})
    if ops:
        text += ", blend modes " + ", ".join(ops)
    strange = sorted(unknown_ops(under))
    if strange:
        text += f"; {', '.join(o[:40] for o in strange)} drawn as normal"
    if fg is not None:
        text += f"; '{fg.name}' is the foreground"
    text += ". Saving keeps these layers"
    if skipped:
        text += f"; {len(skipped)} non-PNG layer{'s' * (len(skipped) != 1)} (vector, text) not shown nor kept"
    return text + "."


def _nodes(nodes):
    for node in nodes:
        yield node
        yield from _nodes(getattr(node, "children", None) or [])


def load_project(doc: Document, path, confirm_model=None) -> str:
    """Open an .ora into `doc` and say what happened; on any error `doc` is left as it was.

    `confirm_model(path) -> bool` is asked before a model file the project names outside the model
    registry is used (see _model); without it such a file is never used."""
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
    name = Path(path).name
    message = f"Opened {name}."
    if state is not None:
        fields = _load_ours(project, state, path)
    elif (fields := _load_resaved(project)) is not None:
        message = (f"Opened {name}, re-saved by another program that dropped the editor's own data: the foreground "
                   f"is placed as it was (scale and rotation now fixed), its transparency is the mask, and the "
                   f"model is the one selected now. Saving here brings the editor's data back.")
    else:
        fields, merged = _load_foreign(project, path)
        message = f"Opened {name}: {merged}"
    result_layer = fields.pop("result_layer", None)
    result_visible = fields.pop("result_visible", True)
    scratch = Document()  # build and check everything first, so a bad file leaves `doc` untouched
    scratch.load(**fields, path=Path(path))
    if "model" in fields:  # asked only once the file is known to open
        fields["model"], note = _model(fields["model"], confirm_model)
        message += note
    result = None
    if result_layer is not None:
        result = scratch.composite().copy()
        _paste(result, result_layer)
    doc.load(**fields, result=result, path=Path(path))
    if result is not None and not result_visible:
        doc.set_result_visible(False)
    return message
