"""Space held over the canvas pans it wherever the keyboard focus is, as in Krita and Photoshop.

Key events go to the focused widget, which after a click in the side panel is a slider or a checkbox
(where Space would toggle it). An application event filter hands Space to the canvas instead while the
pointer is over it, except in text fields and other windows, where Space is typing.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

TEXT_INPUTS = (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit)


class SpaceToCanvas(QObject):
    def __init__(self, canvas):
        super().__init__(canvas)
        self.canvas = canvas
        QApplication.instance().installEventFilter(self)

    def _routes(self, obj) -> bool:
        c = self.canvas
        if obj is c or not isinstance(obj, QWidget) or not c.isVisible() or obj.window() is not c.window():
            return False
        if c.space_held:
            return True  # a press went to the canvas: its repeats and release must follow it there
        return c.pointer_inside and not isinstance(obj, TEXT_INPUTS)

    def eventFilter(self, obj, event) -> bool:
        if event.type() not in (QEvent.KeyPress, QEvent.KeyRelease) or event.key() != Qt.Key_Space:
            return False
        if not self._routes(obj):
            return False
        if not event.isAutoRepeat():
            self.canvas.hold_space(event.type() == QEvent.KeyPress)
        return True
