"""What the canvas shows, kept in step with the document: the picture ("after": the result blended at
its strength), the original ("before", only while a comparison needs it), the mask overlay tint and the
reference area's tint (shown while the brush paints it, or with the mask overlay).

Updates arrive as boxes. A brush dab's box is redrawn at once; a large box (a result on a 12 MP photo,
the overlay switched on) is redrawn in row bands from the event loop, a few milliseconds at a time, so
the window never stops answering while it catches up.
"""
from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from engine.compositing import nonzero_box
from harmonizer_gui.canvas_image import CanvasImage
from harmonizer_gui.document import Document
from harmonizer_gui.tool_settings import REFERENCE_COLOR, ToolSettings

BAND_PIXELS = 300_000   # redrawn in one go up to this many pixels
SLICE_SECONDS = 0.012   # then bands are worked through for at most this long per event-loop turn


class Display(QObject):
    updated = Signal(object)  # the canvas box that was redrawn

    def __init__(self, doc: Document, tools: ToolSettings, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.tools = tools
        self.after = CanvasImage()
        self.before: CanvasImage | None = None
        self._pending: list[tuple[int, int, int, int]] = []
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self._work)
        tools.events.overlay.connect(self._on_overlay)
        tools.events.target.connect(lambda _target: self._on_reference_tint())
        tools.events.overlay.connect(self._on_reference_tint)

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def _differs_from_composite(self) -> bool:
        return (self.tools.overlay_visible or self.doc.showing_result or self.doc.shadow is not None
                or self._reference_shown())

    def _reference_shown(self) -> bool:
        t = self.tools
        return self.doc.reference is not None and (t.target == "reference" or t.overlay_visible)

    def _on_reference_tint(self) -> None:
        if self.doc.reference is not None and self.doc.background is not None:
            self.refresh(nonzero_box(self.doc.reference > 0))

    def _differing_box(self):
        """Where the shown picture can differ from the composite: the object's box, or (with a shadow or
        a reference area, which may lie anywhere) everything (None)."""
        return None if self.doc.shadow is not None or self._reference_shown() else self.doc.result_box()

    def reset(self) -> None:
        """New picture or canvas size: start from the composite, then redraw what differs from it."""
        self._pending.clear()
        self.before = None
        if self.doc.background is None:
            self.after = CanvasImage()
            return
        self.after = CanvasImage(self.doc.composite().copy())
        if self._differs_from_composite():
            self.refresh(self._differing_box())

    def need_before(self) -> None:
        if self.before is None and self.doc.background is not None:
            self.before = CanvasImage(self.doc.composite().copy())
            if self.tools.overlay_visible or self.doc.shadow is not None or self._reference_shown():
                self.refresh(self._differing_box())

    def _on_overlay(self) -> None:
        if self.doc.background is not None:
            self.refresh(self.doc.result_box())  # the tint only ever covers the mask's area

    def refresh(self, box=None) -> None:
        size = self.doc.canvas_size
        if size is None:
            return
        if box is None and not self._differs_from_composite():
            # The whole picture changed and shows as composited: one copy, no per-pixel work.
            self._pending.clear()
            self._write_composite()
            return
        x0, y0, x1, y1 = box or (0, 0, size[0], size[1])
        if x1 <= x0 or y1 <= y0:
            return
        if (x1 - x0) * (y1 - y0) <= BAND_PIXELS:
            self._write((x0, y0, x1, y1))
            return
        rows = max(1, BAND_PIXELS // (x1 - x0))
        self._pending.extend((x0, y, x1, min(y1, y + rows)) for y in range(y0, y1, rows))
        self._timer.start()

    def flush(self) -> None:
        """Finish every pending band now (before a screenshot or a test looks at the buffers)."""
        while self._pending:
            self._write(self._pending.pop(0))

    def _work(self) -> None:
        start = time.perf_counter()
        while self._pending and time.perf_counter() - start < SLICE_SECONDS:
            self._write(self._pending.pop(0))
        if self._pending:
            self._timer.start()

    def _write_composite(self) -> None:
        if self.after.size != self.doc.canvas_size:
            return
        w, h = self.doc.canvas_size
        comp = self.doc.composite()
        self.after.write((0, 0, w, h), comp)
        if self.before is not None:
            self.before.write((0, 0, w, h), comp)
        self.updated.emit((0, 0, w, h))

    def _write(self, box) -> None:
        if self.doc.background is None or self.after.size != self.doc.canvas_size:
            self._pending.clear()
            return
        self.after.write(box, self.pixels(box, True))
        if self.before is not None:
            self.before.write(box, self.pixels(box, False))
        self.updated.emit(box)

    def pixels(self, box, with_result: bool) -> np.ndarray:
        rgb = self.doc.display_region(box, with_result)
        t = self.tools
        x0, y0, x1, y1 = box
        if self._reference_shown():
            rgb = _tint(rgb, self.doc.reference[y0:y1, x0:x1], REFERENCE_COLOR, t.overlay_opacity)
        if t.overlay_visible:
            rgb = _tint(rgb, self.doc.composite_mask()[y0:y1, x0:x1], t.overlay_color, t.overlay_opacity)
        return rgb


def _tint(rgb: np.ndarray, weight: np.ndarray, color, opacity: float) -> np.ndarray:
    """`rgb` pulled towards `color` by weight x opacity (a copy; `rgb` itself when the weight is all 0)."""
    inside = nonzero_box(weight)
    if inside is None:
        return rgb
    # Tint only inside the weight's bounding box: cheap however large the canvas.
    c0, r0, c1, r1 = inside
    out = rgb.copy()
    part = out[r0:r1, c0:c1].astype(np.float32)
    a = weight[r0:r1, c0:c1, None] * np.float32(opacity)
    part += (np.array(color, np.float32) - part) * a
    out[r0:r1, c0:c1] = np.clip(part + 0.5, 0, 255).astype(np.uint8)
    return out
