"""Rendering for `Document`: the canvas-size composite and its mask (cached, re-rendered box by box), the
placed foreground, and the picture the canvas shows and exports. Qt-free; a mixin so `Document` keeps one
API."""
from __future__ import annotations

import cv2
import numpy as np

from engine.compositing import blend, nonzero_box
from engine.shadow import ShadowSettings, cast_shadow, shade, shadow_colour
from harmonizer_gui.transform import Box


class CompositeRendering:
    """Needs the host's background, foreground, fg_alpha, mask, opacity, result, strength, matrix(),
    foreground_box(), canvas_size, revision and _require_canvas()."""

    def _invalidate(self) -> None:
        self._composite = self._cmask = self._cover = None
        self._shared = False  # the next render allocates fresh arrays

    def _ensure(self) -> None:
        if self._composite is None and self.background is not None:
            w, h = self.canvas_size
            self._composite = np.empty_like(self.background)
            self._cmask = np.zeros((h, w), np.float32)
            self._render((0, 0, w, h))

    def _coverage(self) -> np.ndarray:
        if self._cover is None:
            self._cover = self.mask if self.fg_alpha is None else self.mask * (self.fg_alpha * np.float32(1 / 255))
        return self._cover

    def _render(self, box: Box) -> None:
        if self._shared:
            self._composite, self._cmask = self._composite.copy(), self._cmask.copy()
            self._shared = False
        x0, y0, x1, y1 = box
        self._composite[y0:y1, x0:x1] = self.background[y0:y1, x0:x1]
        if self.foreground is None:
            self._cmask[y0:y1, x0:x1] = self.mask[y0:y1, x0:x1]
            return
        self._cmask[y0:y1, x0:x1] = 0
        # Only the foreground's footprint needs the float blend; the rest is the background as is.
        fx0, fy0, fx1, fy1 = self.foreground_box() or (0, 0, 0, 0)
        x0, y0, x1, y1 = max(x0, fx0), max(y0, fy0), min(x1, fx1), min(y1, fy1)
        if x1 <= x0 or y1 <= y0:
            return
        bg = self.background[y0:y1, x0:x1]
        cover = cv2.warpAffine(self._coverage(), self._matrix_into((x0, y0, x1, y1)), (x1 - x0, y1 - y0),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        fg = self.placed_foreground((x0, y0, x1, y1))
        a = (np.clip(cover, 0, 1) * np.float32(self.opacity))[..., None]
        out = bg.astype(np.float32)
        out += (fg.astype(np.float32) - out) * a
        self._composite[y0:y1, x0:x1] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
        self._cmask[y0:y1, x0:x1] = np.clip(cover, 0, 1)

    def _matrix_into(self, box: Box) -> np.ndarray:
        """The foreground-to-canvas affine, shifted so that canvas `box` starts at (0, 0)."""
        m = self.matrix().copy()
        m[:, 2] -= box[:2]
        return m

    def placed_foreground(self, box: Box) -> np.ndarray:
        """The transformed foreground's pixels over canvas `box` (where it covers them: see the coverage)."""
        x0, y0, x1, y1 = box
        # Replicating the edge keeps bilinear sampling from pulling black into the foreground's rim.
        return cv2.warpAffine(self.foreground, self._matrix_into(box), (x1 - x0, y1 - y0),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def shared_inputs(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(composite, mask, revision) for a harmonization on another thread, without copying 12 MP on
        this one: the arrays are handed over as they are and the document copies them before it next
        writes into them (copy on write)."""
        comp, mask = self.composite(), self.composite_mask()
        self._shared = True
        return comp, mask, self.revision

    def composite(self) -> np.ndarray:
        """The canvas-size composite (cached; do not modify)."""
        self._require_canvas()
        self._ensure()
        return self._composite

    def composite_mask(self) -> np.ndarray:
        """Where the foreground shows, canvas-size float32 0..1: the mask the harmonizer gets."""
        self._require_canvas()
        self._ensure()
        return self._cmask

    def display_region(self, box: Box, with_result: bool = True) -> np.ndarray:
        """What the canvas shows in `box`: the composite, blended towards the result at `strength`, with the
        object's shadow (if it casts one) multiplied in where the object is not."""
        picture = self._harmonized_region(box, with_result)
        if self.shadow is None:
            return picture
        alpha, tint = self.shadow_alpha()
        x0, y0, x1, y1 = box
        if not alpha[y0:y1, x0:x1].any():
            return picture
        return shade(picture, alpha[y0:y1, x0:x1], self._cmask[y0:y1, x0:x1], tint)

    def shadow_alpha(self, settings: ShadowSettings | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(opacity H x W, multiply colour 0..1 RGB) of the object's shadow. Cached; while a stroke is being
        painted the shadow keeps the shape it had when the stroke began (casting it again for every dab
        of a 12 MP picture would stall the brush), and catches up when the stroke ends."""
        settings = settings or self.shadow
        key = (self.revision, settings)
        cache = getattr(self, "_shadow_cache", None)
        if cache is not None and (cache[0] == key or getattr(self, "_stroke", None) is not None):
            return cache[1]
        mask = self.composite_mask()
        if not (mask > 0).any():  # the object was erased or moved off the canvas: it casts nothing
            value = (np.zeros(mask.shape, np.float32), np.ones(3, np.float32))
        else:
            value = (cast_shadow(mask, settings), shadow_colour(self.composite(), mask) / np.float32(255))
        self._shadow_cache = (key, value)
        return value

    def _harmonized_region(self, box: Box, with_result: bool) -> np.ndarray:
        x0, y0, x1, y1 = box
        comp = self.composite()[y0:y1, x0:x1]
        if not (with_result and self.showing_result):
            return comp
        if self.harmonization is not None and not self.result_stale:
            return self.harmonization.region_at(box, self.strength)
        m = self._cmask[y0:y1, x0:x1]
        if not (m > 0).any():
            return comp
        # The result is already the harmonizer's feathered blend at strength 1: weighting it by the
        # soft mask again would fade feathered edges twice, so strength alone interpolates here.
        return blend(comp, self.result[y0:y1, x0:x1], (m > 0).astype(np.float32), self.strength)

    def result_box(self) -> Box | None:
        """Where a result can differ from the composite (None: nowhere, or no picture)."""
        if self.background is None:
            return None
        if self.foreground is not None:
            return self.foreground_box()
        return nonzero_box(self.composite_mask())

    @property
    def showing_result(self) -> bool:
        return self.result is not None and self.result_visible and self.strength > 0

    def flattened(self) -> np.ndarray:
        """The picture as exported: full resolution, the result at the current strength when shown."""
        w, h = self.canvas_size if self.background is not None else (0, 0)
        self._require_canvas()
        return np.ascontiguousarray(self.display_region((0, 0, w, h)))
