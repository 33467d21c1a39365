"""The canvas's shadow mode (Layer ▸ Shadow handles): drag the shadow's tip to set its direction and length,
drag the ground line up or down; Enter or Esc leaves the mode. A mixin of `Canvas`.

Each drag is one undo step. While dragging, the handles follow the pointer at once and the shadow itself
is cast again at most every SHADOW_PREVIEW_MS (casting takes a moment on a large picture), and once more
where the button is released.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QTimer, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from engine.errors import HarmonizerError
from engine.shadow import ShadowSettings, object_box
from harmonizer_gui.shadow_handles import HANDLE_PX, ShadowHandles

SHADOW_PREVIEW_MS = 120
HANDLE_COLOR = QColor(255, 200, 60)


class CanvasShadow:
    def _init_shadow_mode(self) -> None:
        self._shadow: ShadowHandles | None = None
        self._shadow_drag = ""
        self._shadow_merge = False
        self._shadow_timer = QTimer(self, singleShot=True, interval=SHADOW_PREVIEW_MS)
        self._shadow_timer.timeout.connect(self._apply_shadow_drag)

    @property
    def editing_shadow(self) -> bool:
        return self._shadow is not None

    def begin_shadow_edit(self) -> None:
        """Show the handles, casting a shadow first when the object has none. Raises HarmonizerError when
        there is no object."""
        if self._shadow is not None:
            return
        doc = self.doc
        doc._require_canvas()
        box = object_box(doc.composite_mask())
        if box is None:
            raise HarmonizerError("there is no object to cast a shadow: paint its mask first")
        if doc.shadow is None:
            doc.set_shadow(ShadowSettings())
        self._shadow = ShadowHandles(doc.shadow, box)
        self.setFocus()
        self.shadow_mode_changed.emit(True)
        self._update_cursor()
        self.update()

    def end_shadow_edit(self) -> None:
        if self._shadow is None:
            return
        if self._shadow_drag:
            self._shadow_release()
        self._shadow = None
        self.shadow_mode_changed.emit(False)
        self._update_cursor()
        self.update()

    def _follow_document_shadow(self) -> None:
        box = object_box(self.doc.composite_mask()) if self.doc.background is not None else None
        if self.doc.shadow is None or box is None:
            self.end_shadow_edit()
            return
        self._shadow.settings, self._shadow.box = self.doc.shadow, box
        self.update()

    def _shadow_hit(self, pos: QPointF) -> str:
        return self._shadow.hit(*self.to_canvas(pos), self.zoom)

    def _shadow_press(self, pos: QPointF) -> None:
        self._shadow_drag = self._shadow_hit(pos)
        self._shadow_merge = False

    def _shadow_move(self, pos: QPointF) -> None:
        if self._shadow_drag:
            self._shadow.drag(self._shadow_drag, *self.to_canvas(pos))
            if not self._shadow_timer.isActive():
                self._shadow_timer.start()
            self.update()

    def _shadow_release(self) -> None:
        if self._shadow_drag:
            self._apply_shadow_drag()
            self._shadow_drag = ""

    def _apply_shadow_drag(self) -> None:
        self._shadow_timer.stop()
        if self._shadow is None or self._shadow.settings == self.doc.shadow:
            return
        try:
            self.doc.set_shadow(self._shadow.settings, merge=self._shadow_merge)
        except HarmonizerError:
            self.end_shadow_edit()  # the object is gone (erased, undone): nothing to hold a shadow
            return
        self._shadow_merge = True

    def _shadow_cursor(self, pos: QPointF | None):
        kind = self._shadow_hit(pos) if pos is not None else ""
        return {"tip": Qt.SizeAllCursor, "ground": Qt.SizeVerCursor}.get(kind, Qt.ArrowCursor)

    def _paint_shadow_handles(self, p: QPainter) -> None:
        h = self._shadow
        if h is None:
            return
        p.setRenderHint(QPainter.Antialiasing, True)
        ground = self.to_widget(0, h.ground).y()
        anchor, tip = self.to_widget(*h.anchor()), self.to_widget(*h.tip())
        for color, width in ((QColor(0, 0, 0, 160), 3.0), (HANDLE_COLOR, 1.5)):
            p.setPen(QPen(color, width, Qt.DashLine))
            p.drawLine(QPointF(0, ground), QPointF(self.width(), ground))
            p.setPen(QPen(color, width))
            p.drawLine(anchor, tip)
        p.setPen(QPen(QColor(20, 20, 20), 1))
        p.setBrush(HANDLE_COLOR)
        p.drawEllipse(tip, HANDLE_PX, HANDLE_PX)
        p.drawRect(anchor.x() - 4, anchor.y() - 4, 8, 8)
        p.setPen(QColor(250, 250, 250))
        p.drawText(QPointF(8, ground - 6), "Ground")
