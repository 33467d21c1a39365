"""Pen input for the canvas: a tablet's pressure shapes the mask brush's dabs (size, opacity or both,
`Brush.pressure`), as in Krita and Photoshop. A mixin of `Canvas`.

Only painting listens to the pen itself. Everything else (panning, the transform handles, the split
line) ignores the tablet event, so Qt delivers the mouse event it makes from it and the mouse code runs.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt


class CanvasTablet:
    def tabletEvent(self, event) -> None:
        kind, pos = event.type(), event.position()
        if kind == QEvent.TabletPress:
            if event.button() != Qt.LeftButton or not self._may_paint_at(pos):
                event.ignore()
                return
            self.setFocus()
            self._begin_painting(pos, event.pressure())
        elif kind == QEvent.TabletMove and self._painting:
            self._pointer = pos
            self.doc.stroke_to(*self.to_canvas(pos), event.pressure())
            self.update()
        elif kind == QEvent.TabletRelease and self._painting:
            self._end_painting()
        else:
            event.ignore()  # hovering, or another tool's drag: the synthesized mouse event handles it
            return
        event.accept()
