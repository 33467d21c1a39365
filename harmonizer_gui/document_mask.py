"""Mask editing for `Document`: brush strokes (one undo step each, storing only the box they touched),
whole-mask filters and loading a mask from a file. Qt-free; a mixin so `Document` keeps one API."""
from __future__ import annotations

import cv2
import numpy as np

from engine.edges import refine_mask
from engine.errors import MaskError
from harmonizer_gui import mask_ops
from harmonizer_gui import transform as tf
from harmonizer_gui.history import MaskPatch
from harmonizer_gui.transform import Box


REFINE_LABEL = "Refine mask edge"


class MaskEditing:
    """Needs the host's mask, matrix(), canvas_size, result, history, events, _render, _cover, ..."""

    def _mask_region_changed(self, mask_box: Box, shown_before: np.ndarray | None = None) -> None:
        """Re-render only the canvas pixels a changed box of the mask reaches. `shown_before` (where the
        foreground showed in that canvas box before the change) asks for the result to be patched too,
        before the views hear of the change."""
        if self._composite is None:
            self.revision += 1
            self.events.changed(None)
            return
        x0, y0, x1, y1 = mask_box
        if self._cover is not None and self.fg_alpha is not None:
            self._cover[y0:y1, x0:x1] = self.mask[y0:y1, x0:x1] * (self.fg_alpha[y0:y1, x0:x1] * np.float32(1 / 255))
        canvas_box = tf.map_box(self.matrix(), mask_box, self.canvas_size)
        self.revision += 1
        if canvas_box is not None:
            self._render(canvas_box)
            if shown_before is not None and self.result is not None:
                self._patch_stale_result(canvas_box, shown_before)
            self.events.changed(canvas_box)

    def begin_stroke(self, brush, target: str = "mask") -> None:
        """Start a brush stroke on the mask, or on the reference area (`target` "reference"; painting one
        switches matching it on, in the same undo step)."""
        self._require_canvas()
        if target == "reference":
            previous = self.reference
            if self.reference is None or self.reference.shape != self.mask_shape_of_canvas():
                self.reference = np.zeros(self.mask_shape_of_canvas(), np.float32)
            identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
            self._stroke = {"brush": brush, "layer": "reference", "orig": self.reference.copy(), "box": None,
                            "last": None, "m": identity, "m_inv": identity, "stale": self.result_stale,
                            "match": self.match_reference, "previous": previous}
            if not self.match_reference:
                self.match_reference = True
                self.events.reference()
            return
        # A harmonized result survives the stroke, marked out of date, and is patched in place where the
        # stroke changes what shows (as the mask is), so its original is kept for the undo step.
        self._stroke = {"brush": brush, "layer": "mask", "orig": self.mask.copy(), "box": None, "last": None,
                        "result": None if self.result is None else self.result.copy(),
                        "stale": self.result_stale, "m": self.matrix(), "m_inv": tf.invert(self.matrix())}

    def stroke_to(self, x: float, y: float, pressure: float = 1.0) -> Box | None:
        """Paint (or erase) from the previous point to (x, y) in canvas pixels; returns the canvas box changed.
        `pressure` (0..1, a pen's) scales the dabs as the brush's `pressure` setting says."""
        s = self._stroke
        if s is None:
            return None
        brush = s["brush"]
        last = s["last"]
        pressure = min(1.0, max(0.0, float(pressure)))
        s["last"] = (x, y, pressure)
        # Spaced by the smaller dab at either end, so a light touch leaves no gaps between dabs.
        spacing = max(1.0, brush.pressed(min(pressure, last[2]) if last else pressure)[0] * 0.12)
        if last is None:
            points = [(x, y, pressure)]
        else:
            lx, ly, lp = last
            n = int(np.hypot(x - lx, y - ly) // spacing)
            points = [(lx + (x - lx) * f, ly + (y - ly) * f, lp + (pressure - lp) * f)
                      for f in (i / n for i in range(1, n + 1))]
            if not points:
                s["last"] = last  # keep accumulating until a spacing's worth of movement
                return None
        layer = self.reference if s["layer"] == "reference" else self.mask
        limit = (layer.shape[1], layer.shape[0])
        changed = None
        for px, py, pp in points:
            size, strength = brush.pressed(pp)
            dab = tf.dab_weights(s["m_inv"], s["m"], (px, py), size / 2.0, brush.hardness, limit)
            if dab is None:
                continue
            (x0, y0, x1, y1), w = dab
            if strength < 1.0:
                w = w * np.float32(strength)
            region = layer[y0:y1, x0:x1]
            if brush.erase:
                np.minimum(region, 1.0 - w, out=region)
            else:
                np.maximum(region, w, out=region)
            changed = tf.union(changed, (x0, y0, x1, y1))
        if changed is None:
            return None
        s["box"] = tf.union(s["box"], changed)
        if s["layer"] == "reference":
            if self.match_reference and self.result is not None and not self.result_stale:
                self.result_stale = True  # it followed another area (or the whole background)
                self._reference_changed(changed, result_fields=True)
            else:
                self._reference_changed(changed)
            self.mark_modified()
            return changed
        canvas_box = tf.map_box(s["m"], changed, self.canvas_size)
        shown_before = None
        if self.result is not None and canvas_box is not None:
            self._ensure()
            x0, y0, x1, y1 = canvas_box
            shown_before = self._cmask[y0:y1, x0:x1] > 0
        self._mask_region_changed(changed, shown_before)
        self.mark_modified()
        return canvas_box

    def _patch_stale_result(self, box: Box, shown_before: np.ndarray) -> None:
        """Where a stroke revealed or hid the foreground, the old result shows the composite as it is
        now (an unharmonized cut-out, or the background): painting visibly works before the next run."""
        x0, y0, x1, y1 = box
        changed = ~(shown_before & (self._cmask[y0:y1, x0:x1] > 0))
        region = self.result[y0:y1, x0:x1]
        region[changed] = self._composite[y0:y1, x0:x1][changed]
        if not self.result_stale:
            self.result_stale = True
            self.events.result()

    def end_stroke(self) -> None:
        s, self._stroke = self._stroke, None
        if s is not None and s["box"] is None and s["layer"] == "reference":
            self.reference = s["previous"]  # nothing was painted: all stays as it was
            if self.match_reference != s["match"]:
                self.match_reference = s["match"]
                self.events.reference()
        if s is None or s["box"] is None:
            return
        x0, y0, x1, y1 = s["box"]
        if s["layer"] == "reference":
            label = "Erase reference area" if s["brush"].erase else "Paint reference area"
            patch = MaskPatch(label, s["box"], s["orig"][y0:y1, x0:x1].copy(), self.reference[y0:y1, x0:x1].copy(),
                              layer="reference")
            for key, before in (("match_reference", s["match"]), ("result_stale", s["stale"])):
                if getattr(self, key) != before:
                    patch.fields_before[key], patch.fields_after[key] = before, getattr(self, key)
            if s["previous"] is not self.reference:  # the stroke made the array: undo takes it away again
                patch.fields_before["reference"], patch.fields_after["reference"] = s["previous"], self.reference
            self.history.push(patch)
            self.events.history()
            return
        label = "Erase mask" if s["brush"].erase else "Paint mask"
        patch = MaskPatch(label, s["box"], s["orig"][y0:y1, x0:x1].copy(), self.mask[y0:y1, x0:x1].copy())
        cbox = tf.map_box(s["m"], s["box"], self.canvas_size)
        if s["result"] is not None and cbox is not None:
            cx0, cy0, cx1, cy1 = cbox
            patch.result_box = cbox
            patch.result_before = s["result"][cy0:cy1, cx0:cx1].copy()
            patch.result_after = self.result[cy0:cy1, cx0:cx1].copy()
            if not s["stale"]:
                patch.fields_before, patch.fields_after = {"result_stale": False}, {"result_stale": True}
        self.history.push(patch)
        self.events.history()
        if self.shadow is not None:  # the shadow follows the new outline, wherever it falls
            self.events.changed(None)

    def mask_shape_of_canvas(self) -> tuple[int, int]:
        w, h = self.canvas_size
        return h, w

    @property
    def stroking(self) -> bool:
        return self._stroke is not None

    def _replace_mask(self, mask: np.ndarray, label: str) -> None:
        self._require_canvas()
        self.change(label, mask=np.ascontiguousarray(np.clip(mask, 0, 1), dtype=np.float32))

    def invert_mask(self) -> None:
        self._require_canvas()
        self._replace_mask(1.0 - self.mask, "Invert mask")

    def clear_mask(self) -> None:
        self._require_canvas()
        self._replace_mask(np.zeros_like(self.mask), "Clear mask")

    def fill_mask(self) -> None:
        self._require_canvas()
        self._replace_mask(np.ones_like(self.mask), "Fill mask")

    def _filtered(self, fn, label: str) -> None:
        """Apply `fn(visible coverage, closed) -> coverage` and store the layer mask that shows it."""
        self._require_canvas()
        closed = self.foreground is not None
        cover = self._coverage() if closed else self.mask
        self._replace_mask(mask_ops.to_mask(fn(cover, closed), self.fg_alpha if closed else None), label)

    def feather_mask(self, radius: float) -> None:
        """Soften the visible edge by about `radius` canvas pixels."""
        sigma = max(0.3, radius / self.mask_scale() / 2.0)
        self._filtered(lambda c, closed: mask_ops.feather(c, sigma, closed), f"Feather mask {radius:g} px")

    def grow_mask(self, pixels: float) -> None:
        """Grow (positive) or shrink (negative) the visible area by `pixels` canvas pixels."""
        r = abs(pixels) / self.mask_scale()
        if r <= 0:
            return
        if pixels > 0:
            self._filtered(lambda c, closed: mask_ops.grow(c, r), f"Grow mask {pixels:g} px")
        else:
            self._filtered(lambda c, closed: mask_ops.shrink(c, r, closed), f"Shrink mask {-pixels:g} px")

    def refine_mask_edges(self, radius: float, eps: float = 1e-3, base: np.ndarray | None = None,
                          merge: bool = False) -> None:
        """Snap the layer mask's edge to the picture's edges within about `radius` canvas pixels
        (engine.edges.refine_mask, guided by the foreground's colours, or the picture's without one).
        `base`: the mask to start from (a live preview re-runs from the mask it opened with); `merge`
        folds the change into the previous one of the same name, so a preview is one undo step."""
        self._require_canvas()
        guide = self.foreground if self.foreground is not None else self.background
        r = min(256, max(1, round(radius / self.mask_scale())))
        start = self.mask if base is None else base
        if start.shape != self.mask.shape:
            raise MaskError("the mask changed size while it was being refined; open Refine edge again")
        self.change(REFINE_LABEL, merge=merge, mask=refine_mask(guide, start, r, eps))

    def load_mask(self, mask: np.ndarray, name: str = "mask") -> None:
        """Use a mask read from a file: foreground-size, or canvas-size (mapped onto the foreground)."""
        self._require_canvas()
        mask = np.asarray(mask, np.float32)
        mh, mw = mask.shape[:2]
        cw, ch = self.canvas_size
        if mask.shape == self.mask.shape:
            self._replace_mask(mask, f"Load mask {name}")
        elif self.foreground is not None and (mw, mh) == (cw, ch):
            fw, fh = self.fg_size
            into_fg = tf.invert(self.matrix())
            warped = cv2.warpAffine(mask, into_fg, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            self._replace_mask(warped, f"Load mask {name}")
        else:
            sizes = f"the canvas ({cw}x{ch})"
            if self.foreground is not None:
                sizes = f"the foreground ({self.fg_size[0]}x{self.fg_size[1]}) or " + sizes
            raise MaskError(f"the mask {name} is {mw}x{mh}; it must be the size of {sizes}")
