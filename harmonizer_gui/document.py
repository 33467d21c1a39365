"""The editor's document: background, foreground with its layer mask and placement, the harmonized
result, and the undo history. Qt-free: views subscribe to plain callbacks in `Document.events`.

Coordinates: the background defines the canvas. The mask lives in the foreground's own pixels and so
moves, scales and rotates with it; with no foreground (a plain composite opened with its mask) the mask
is in canvas pixels. The mask is a layer mask: it hides the foreground where it is 0, and the visible
part of the foreground is exactly what gets harmonized.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.compositing import Harmonization, nonzero_box
from engine.edges import defringe
from engine.photo_match import PhotoStyle
from engine.shadow import ShadowSettings
from engine.errors import HarmonizerError, MaskError
from harmonizer_gui import transform as tf
from harmonizer_gui.document_mask import MaskEditing
from harmonizer_gui.document_render import CompositeRendering
from harmonizer_gui.history import FieldStep, History, MaskPatch
from harmonizer_gui.transform import Box, Transform

# Fields whose change alters the composite (and so makes a harmonized result stale).
COMPOSITE_FIELDS = ("background", "foreground", "fg_alpha", "mask", "transform", "opacity")
CLASSICAL = "classical"
MATCH_REFERENCE_LABEL = "Match reference area"
MATCH_PHOTO_LABEL = "Match photo"
DEFRINGE_LABEL = "Defringe"
SHADOW_LABEL = "Shadow"


class Event:
    """A list of plain callbacks, napari-style: `doc.events.changed.connect(fn)`."""

    def __init__(self):
        self._callbacks = []

    def connect(self, callback) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def __call__(self, *args) -> None:
        for callback in list(self._callbacks):
            callback(*args)


class DocumentEvents:
    def __init__(self):
        self.changed = Event()   # (box or None): displayed pixels changed in this canvas box (None: all)
        self.layers = Event()    # (): layers added/replaced, canvas size or names changed
        self.result = Event()    # (): harmonized result set, cleared or hidden
        self.strength = Event()  # (value)
        self.history = Event()   # (): undo/redo availability changed
        self.model = Event()     # (name)
        self.modified = Event()  # (bool)
        self.reference = Event()  # (): the reference area was painted or cleared, or its matching switched


PRESSURE_MODES = ("size", "opacity", "both", "off")  # what a pen's pressure changes
MIN_PRESSED_SIZE = 0.1  # a feather-light touch still leaves a visible dab


@dataclass
class Brush:
    size: float = 60.0      # diameter in canvas pixels
    hardness: float = 0.6   # 0 = soft falloff from the centre, 1 = hard edge
    erase: bool = False
    pressure: str = "size"  # one of PRESSURE_MODES; a mouse always presses fully

    def pressed(self, pressure: float) -> tuple[float, float]:
        """(diameter, strength 0..1) of a dab at this pen pressure."""
        size = self.pressure in ("size", "both")
        strength = self.pressure in ("opacity", "both")
        scale = MIN_PRESSED_SIZE + (1 - MIN_PRESSED_SIZE) * pressure
        return self.size * (scale if size else 1.0), (pressure if strength else 1.0)


class Document(CompositeRendering, MaskEditing):
    def __init__(self):
        self.events = DocumentEvents()
        self.history = History(self._apply_step)
        self.background: np.ndarray | None = None
        self.foreground: np.ndarray | None = None
        self.fg_alpha: np.ndarray | None = None
        self.mask: np.ndarray | None = None
        self.transform = Transform()
        self.opacity = 1.0
        self.result: np.ndarray | None = None
        # The engine's result behind `result` while it is unpatched: the picture at any strength is then
        # blended once from its float pixels (a result only stored as its strength-1 picture, as a reopened
        # project's, is interpolated from that, rounding twice, at most a level apart).
        self.harmonization: Harmonization | None = None
        self.shadow: ShadowSettings | None = None  # the object's cast shadow, drawn under it (engine.shadow)
        # The reference area (canvas-size float32 0..1, None until painted): the part of the scene whose
        # light the object should take, used when `match_reference` is on (engine.harmonizer's reference).
        self.reference: np.ndarray | None = None
        self.match_reference = False
        # Another photo whose light the object should take, with AdaIN's alpha (engine.photo_match), or None.
        self.match_photo: PhotoStyle | None = None
        self.result_visible = True
        self.result_stale = False  # the mask was painted since: still shown, worth harmonizing again
        self.strength = 1.0
        self.model = "default"
        self.bg_name = ""
        self.fg_name = ""
        # What exports carry over from the background's file: its 16-bit pixels (uint16, None for 8-bit
        # sources) and its EXIF. Both belong to one background and go when it is replaced.
        self.background16: np.ndarray | None = None
        self.bg_exif: bytes | None = None
        # Another program's .ora layers (below, above the foreground), kept to be saved back unchanged; the
        # background is their render, so replacing it drops them.
        self.kept_layers: tuple[list, list] | None = None
        self.path = None  # the .ora file it was opened from / saved to
        self.export_path = None  # where File ▸ Export last wrote this picture (Ctrl+E writes there again)
        self.modified = False
        self.revision = 0  # bumped whenever the composite or its mask changes
        self._composite: np.ndarray | None = None
        self._cmask: np.ndarray | None = None
        self._cover: np.ndarray | None = None  # alpha * mask in foreground pixels, float32
        self._shared = False  # the caches were handed to a worker: copy before writing into them
        self._stroke = None

    # -- geometry ------------------------------------------------------------------------------------
    @property
    def canvas_size(self) -> tuple[int, int] | None:
        if self.background is None:
            return None
        return self.background.shape[1], self.background.shape[0]

    @property
    def has_foreground(self) -> bool:
        return self.foreground is not None

    @property
    def fg_size(self) -> tuple[int, int] | None:
        return None if self.foreground is None else (self.foreground.shape[1], self.foreground.shape[0])

    def matrix(self, transform: Transform | None = None) -> np.ndarray:
        """Mask pixels -> canvas pixels (identity when the mask is in canvas pixels)."""
        if self.foreground is None:
            return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        return (transform or self.transform).matrix(self.fg_size)

    def foreground_box(self, transform: Transform | None = None) -> Box | None:
        if self.foreground is None:
            return None
        return tf.bounding_box(tf.corners(self.matrix(transform), self.fg_size), self.canvas_size)

    def mask_scale(self) -> float:
        """Canvas pixels per mask pixel (geometric mean over both axes)."""
        m = self.matrix()
        return float(np.sqrt(abs(np.linalg.det(m[:, :2])))) or 1.0

    def placement_for(self, fg_size) -> Transform:
        """A new foreground goes in the middle of the canvas at 100 %, shrunk to fit when larger than it."""
        cw, ch = self.canvas_size
        fw, fh = fg_size
        scale = 1.0 if fw <= cw and fh <= ch else min(0.9 * cw / fw, 0.9 * ch / fh)
        return Transform(cx=(cw - 1) / 2.0, cy=(ch - 1) / 2.0, sx=scale, sy=scale)

    def _require_canvas(self) -> None:
        if self.background is None:
            raise HarmonizerError("open a background image first")

    # -- history plumbing ----------------------------------------------------------------------------
    def _set_fields(self, values: dict) -> None:
        if "result" in values and "harmonization" not in values:
            self.harmonization = None  # whatever replaced the result, it is not that harmonization's
        if "shadow" in values:
            self._shadow_cache = None
        layers_before = (self.canvas_size, self.fg_size, self.bg_name, self.fg_name)
        for key, value in values.items():
            setattr(self, key, value)
        if any(key in COMPOSITE_FIELDS for key in values):
            self._invalidate()
            self.revision += 1
        if (self.canvas_size, self.fg_size, self.bg_name, self.fg_name) != layers_before:
            self.events.layers()
        if {"result", "result_visible", "result_stale"} & set(values):
            self.events.result()
        if "model" in values:
            self.events.model(self.model)
        if {"reference", "match_reference", "match_photo"} & set(values):
            self.revision += 1  # a harmonization started before asked about another area
            self.events.reference()
        if any(key in COMPOSITE_FIELDS for key in values) or {"shadow", "reference"} & set(values):
            self.events.changed(None)
        elif "result" in values or "result_visible" in values:
            # Only the masked area can differ: re-showing 12 MP for a result would stall the UI.
            box = self.result_box()
            if box is not None:
                self.events.changed(box)

    def _apply_step(self, step, forward: bool) -> None:
        if isinstance(step, MaskPatch) and step.layer == "reference":
            # The step may have created the array: on redo it comes back before the pixels are written
            # into it, on undo it goes after they are restored.
            x0, y0, x1, y1 = step.box
            fields = step.fields_after if forward else step.fields_before
            if forward:
                for key, value in fields.items():
                    setattr(self, key, value)
            self.reference[y0:y1, x0:x1] = step.after if forward else step.before
            if not forward:
                for key, value in fields.items():
                    setattr(self, key, value)
            self._reference_changed(step.box, bool(fields))
        elif isinstance(step, MaskPatch):
            x0, y0, x1, y1 = step.box
            self.mask[y0:y1, x0:x1] = step.after if forward else step.before
            if step.result_box is not None and self.result is not None:
                rx0, ry0, rx1, ry1 = step.result_box
                self.result[ry0:ry1, rx0:rx1] = step.result_after if forward else step.result_before
            fields = step.fields_after if forward else step.fields_before
            if fields:
                for key, value in fields.items():
                    setattr(self, key, value)
                self.events.result()
            self._mask_region_changed(step.box)
            if self.shadow is not None:
                self.events.changed(None)
        else:
            self._set_fields(step.after if forward else step.before)
        self.mark_modified()

    def change(self, label: str, merge: bool = False, **values) -> None:
        """Set attributes as one undoable step. Changing the composite drops the (now stale) result,
        in the same step so that undo brings it back. `merge` folds into an identical previous step
        (an opacity slider being dragged)."""
        if any(key in COMPOSITE_FIELDS for key in values) and self.result is not None and "result" not in values:
            values["result"] = None
        if values.get("result", self.result) is None and self.result_stale:
            values["result_stale"] = False
        if "result" in values and "harmonization" not in values:
            values["harmonization"] = None  # so that undo brings back the one the result came with
        before = {key: getattr(self, key) for key in values}
        top = self.history.top
        if merge and isinstance(top, FieldStep) and top.label == label and set(values) <= set(top.after):
            top.after.update(values)
        else:
            self.history.push(FieldStep(label, before, dict(values)))
        self._set_fields(values)
        self.mark_modified()
        self.events.history()

    def undo(self) -> str | None:
        label = self.history.undo()
        self.events.history()
        return label

    def redo(self) -> str | None:
        label = self.history.redo()
        self.events.history()
        return label

    def mark_modified(self, value: bool = True) -> None:
        if self.modified != value:
            self.modified = value
            self.events.modified(value)

    def mark_saved(self, path=None) -> None:
        if path is not None:
            self.path = path
        self.mark_modified(False)

    def snapshot(self) -> "Document":
        """A detached copy for saving on another thread. Layers are never modified in place, so they are
        shared; the mask and the result, which brush strokes do modify, are copied."""
        copy = Document()
        for key in ("background", "foreground", "fg_alpha", "transform", "opacity", "result_visible", "result_stale",
                    "strength", "model", "bg_name", "fg_name", "path", "revision", "background16", "bg_exif", "kept_layers",
                    "shadow", "match_photo"):
            setattr(copy, key, getattr(self, key))
        copy.mask = None if self.mask is None else self.mask.copy()
        copy.reference = None if self.reference is None else self.reference.copy()
        copy.match_reference = self.match_reference
        copy.result = None if self.result is None else self.result.copy()
        return copy

    # -- layers --------------------------------------------------------------------------------------
    def load(self, background, foreground=None, fg_alpha=None, mask=None, transform=None, *, bg_name="",
             fg_name="", opacity=1.0, result=None, strength=1.0, model=None, path=None, background16=None,
             bg_exif=None, kept_layers=None, shadow=None, reference=None, match_reference=False,
             match_photo=None) -> None:
        """Replace everything (opening a file): not undoable, the history starts afresh."""
        self._check_rgb(background, "background")
        if foreground is not None:
            self._check_rgb(foreground, "foreground")
        self.history.clear()
        self.export_path = None
        h, w = background.shape[:2]
        mask_shape = foreground.shape[:2] if foreground is not None else (h, w)
        if mask is None:
            mask = np.ones(mask_shape, np.float32) if foreground is not None else np.zeros((h, w), np.float32)
        if mask.shape != mask_shape:
            raise MaskError(f"mask is {mask.shape[1]}x{mask.shape[0]}, expected {mask_shape[1]}x{mask_shape[0]}")
        if result is not None and result.shape != background.shape:
            result = None
        if reference is not None and reference.shape != (h, w):
            raise MaskError(f"the reference area is {reference.shape[1]}x{reference.shape[0]}, the canvas {w}x{h}")
        fields = dict(background=background, foreground=foreground, fg_alpha=fg_alpha,
                      mask=np.ascontiguousarray(mask, np.float32), opacity=float(opacity), result=result,
                      bg_name=bg_name, fg_name=fg_name, path=path, result_visible=True, result_stale=False,
                      background16=_matching16(background16, background), bg_exif=bg_exif,
                      kept_layers=kept_layers, shadow=shadow, match_reference=bool(match_reference),
                      match_photo=match_photo,
                      reference=None if reference is None else np.ascontiguousarray(reference, np.float32),
                      transform=transform or Transform())
        if model is not None:
            fields["model"] = model
        self._set_fields(fields)
        if foreground is not None and transform is None:
            self._set_fields({"transform": self.placement_for(self.fg_size)})
        self.set_strength(strength)
        self.mark_modified(False)
        self.events.history()

    @staticmethod
    def _check_rgb(rgb, what: str) -> None:
        if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
            raise HarmonizerError(f"the {what} must be an RGB image")

    def set_background(self, rgb: np.ndarray, name: str = "", background16=None, exif=None) -> None:
        self._check_rgb(rgb, "background")
        if self.background is None:
            self.load(rgb, bg_name=name, model=self.model, background16=background16, bg_exif=exif)
            return
        values = {"background": rgb, "bg_name": name, "background16": _matching16(background16, rgb), "bg_exif": exif,
                  "kept_layers": None}
        if rgb.shape[:2] != self.background.shape[:2]:
            values["reference"] = None  # painted on a picture of another size: it means nothing here
        if self.foreground is None and self.mask.shape != rgb.shape[:2]:
            values["mask"] = np.zeros(rgb.shape[:2], np.float32)
        self.change("Replace background", **values)

    def set_foreground(self, rgb: np.ndarray, alpha: np.ndarray | None = None, name: str = "") -> None:
        self._require_canvas()
        self._check_rgb(rgb, "foreground")
        if alpha is not None and alpha.shape != rgb.shape[:2]:
            raise HarmonizerError("the foreground's alpha does not match its size")
        placement = None
        if alpha is not None:
            if not (alpha > 0).any():
                raise HarmonizerError(f"the foreground {name} is fully transparent")
            # Transparent margins would put the transform handles far from the object: crop them. A
            # canvas-size cut-out (already positioned, as exported from another editor) stays in place.
            x0, y0, x1, y1 = nonzero_box(alpha > 0)
            in_place = (rgb.shape[1], rgb.shape[0]) == self.canvas_size
            rgb, alpha = np.ascontiguousarray(rgb[y0:y1, x0:x1]), np.ascontiguousarray(alpha[y0:y1, x0:x1])
            if in_place:
                placement = Transform(cx=(x0 + x1 - 1) / 2.0, cy=(y0 + y1 - 1) / 2.0)
            if alpha.min() == 255:
                alpha = None
        placement = placement or self.placement_for((rgb.shape[1], rgb.shape[0]))
        mask = np.ones(rgb.shape[:2], np.float32)
        self.change("Place foreground", foreground=rgb, fg_alpha=alpha, mask=mask, fg_name=name,
                    transform=placement, opacity=1.0)

    def set_transform(self, transform: Transform, label: str = "Transform") -> None:
        if self.foreground is None:
            raise HarmonizerError("there is no foreground to transform")
        if transform != self.transform:
            self.change(label, transform=transform)

    def flip(self, horizontal: bool) -> None:
        key = "flip_h" if horizontal else "flip_v"
        t = self.transform
        self.set_transform(t.replaced(**{key: not getattr(t, key)}), "Flip horizontal" if horizontal else "Flip vertical")

    def set_opacity(self, value: float, merge: bool = True) -> None:
        value = float(min(1.0, max(0.0, value)))
        if self.foreground is not None and value != self.opacity:
            self.change("Opacity", merge=merge, opacity=value)

    # -- reference area ------------------------------------------------------------------------------
    def harmonize_reference(self) -> np.ndarray | None:
        """The reference area a harmonization should follow now (a copy: strokes paint the document's in
        place), or None: matching is off, or nothing is painted."""
        if not self.match_reference or self.reference is None or not (self.reference > 0.5).any():
            return None
        return self.reference.copy()

    def set_match_reference(self, on: bool) -> None:
        """Harmonize towards the reference area's light (on) or the whole background's, as one undo step;
        a result made the other way is kept on screen, marked out of date."""
        self._require_canvas()
        if bool(on) == self.match_reference:
            return
        values = {"match_reference": bool(on)}
        if self.result is not None and self.reference is not None:
            values["result_stale"] = True
        self.change(MATCH_REFERENCE_LABEL, **values)

    def set_match_photo(self, style: PhotoStyle | None, merge: bool = False) -> None:
        """Take another photo's light (None: the scene's own again), as one undoable step; `merge` folds a
        live preview's changes into it. A result made otherwise stays on screen, marked out of date."""
        self._require_canvas()
        values = {"match_photo": style}
        if self.result is not None:
            values["result_stale"] = True
        self.change(MATCH_PHOTO_LABEL, merge=merge, **values)

    def clear_reference(self) -> None:
        if self.reference is not None:
            values = {"reference": None}
            if self.result is not None and self.match_reference:
                values["result_stale"] = True
            self.change("Clear reference area", **values)

    def _reference_changed(self, box: Box, result_fields: bool = False) -> None:
        if self.match_reference or result_fields:
            self.revision += 1  # a harmonization started before asked about another area
        if result_fields:
            self.events.result()
        self.events.reference()
        self.events.changed(box)

    def set_shadow(self, settings: ShadowSettings | None, merge: bool = False) -> None:
        """Cast the object's shadow on the scene with `settings` (None: no shadow), as one undoable step;
        `merge` folds a live preview's changes into it."""
        self._require_canvas()
        if settings is not None:
            settings = settings.checked()
            self.shadow_alpha(settings)  # an empty mask is refused now, not at the next redraw
        self.change(SHADOW_LABEL, merge=merge, shadow=settings)

    def defringe_source(self) -> dict:
        """The pixels Defringe starts from: the foreground layer, or the picture (and its 16 bits)."""
        if self.foreground is not None:
            return {"foreground": self.foreground}
        return {"background": self.background, "background16": self.background16}

    def defringe(self, width: float, base: dict | None = None, merge: bool = False) -> None:
        """Pull the colours of the cut-out's rim (its partly transparent and outermost `width` canvas
        pixels) towards the object's own (engine.edges.defringe): in the foreground layer, or in the
        picture itself when there is no separate foreground. `base` (from defringe_source) and `merge`:
        a live preview re-runs from the pixels it opened with, as one undo step."""
        self._require_canvas()
        base = base or self.defringe_source()
        if "foreground" in base:
            if self.foreground is None or base["foreground"].shape != self.foreground.shape:
                raise HarmonizerError("the foreground changed while it was being defringed; open Defringe again")
            w = min(64, max(1, round(width / self.mask_scale())))
            self.change(DEFRINGE_LABEL, merge=merge, foreground=defringe(base["foreground"], self._coverage(), w))
            return
        src = base["background"]
        if src.shape != self.background.shape:
            raise HarmonizerError("the picture changed while it was being defringed; open Defringe again")
        new = defringe(src, self.mask, min(64, max(1, round(width))))
        values = {"background": new, "kept_layers": None}  # the picture is ours now: kept layers would undo it
        if base["background16"] is not None:  # the 16 bits stay wherever the rim did not change
            wide = base["background16"].copy()
            changed = (new != src).any(2)
            wide[changed] = new[changed].astype(np.uint16) * 257
            values["background16"] = wide
        self.change(DEFRINGE_LABEL, merge=merge, **values)

    # -- result, strength, model ---------------------------------------------------------------------
    def set_result(self, result: np.ndarray, revision: int, harmonization: Harmonization | None = None) -> bool:
        """Install a harmonized picture (at strength 1) computed from composite `revision`, with the
        engine's `harmonization` it came from when there is one; False if it is stale now."""
        if revision != self.revision or self.background is None or result.shape != self.background.shape:
            return False
        # Strokes patch a result in place, so it must be this document's own writable array.
        result = result if result.flags.writeable else result.copy()
        self.change("Harmonize", result=result, harmonization=harmonization, result_visible=True,
                    result_stale=False)
        return True

    def clear_result(self) -> None:
        if self.result is not None:
            self.change("Discard result", result=None)

    def set_result_visible(self, visible: bool) -> None:
        if self.result is not None and visible != self.result_visible:
            self._set_fields({"result_visible": bool(visible)})

    def set_strength(self, value: float) -> None:
        value = float(min(1.0, max(0.0, value)))
        if value != self.strength:
            self.strength = value
            self.events.strength(value)
            if self.result is not None:
                self.mark_modified()
                box = self.result_box()
                if box is not None:
                    self.events.changed(box)

    def set_model(self, name: str, by_user: bool = True) -> None:
        """`by_user=False` for the editor's own fallback (a model that cannot load): the project
        remembers it, but it is not a change of the user's to save."""
        if name != self.model:
            self.model = name
            self.events.model(name)
            if by_user:
                self.mark_modified()


def _matching16(rgb16, rgb):
    """16-bit pixels only when they are the same picture as the 8-bit background."""
    ok = isinstance(rgb16, np.ndarray) and rgb16.dtype == np.uint16 and rgb16.shape == rgb.shape
    return rgb16 if ok else None
