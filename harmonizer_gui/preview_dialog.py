"""Dialogs whose changes show on the canvas while they are made (Refine edge, Defringe, Shadow, Match photo).

Every change is folded into one undo step; OK keeps it, Cancel (or Esc, or closing the dialog) undoes back
to where the dialog opened. The work runs a moment after the last slider movement, so dragging stays
smooth on a large picture.
"""
from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialog, QDialogButtonBox


class PreviewDialog(QDialog):
    def __init__(self, window, delay_ms: int):
        super().__init__(window)
        self.window, self.doc = window, window.doc
        self._applied = False
        self._depth = self.doc.history.depth  # Cancel undoes back to here, whatever landed on top meanwhile
        self._timer = QTimer(self, singleShot=True, interval=delay_ms)
        self._timer.timeout.connect(self.apply)

    def _add_buttons(self, layout) -> None:
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def apply(self) -> bool:
        """Show the dialog's current values on the canvas (subclasses call `_preview`)."""
        raise NotImplementedError

    def _preview(self, change, *args, **kwargs) -> bool:
        """Run `change(*args, merge=..., **kwargs)`, a Document method, as this dialog's one undo step."""
        self._timer.stop()
        ok = self.window.attempt(change, *args, merge=self._applied, **kwargs)
        self._applied = self._applied or bool(ok)
        return bool(ok)

    def _before_undo(self) -> None:
        """What to stop before Cancel undoes the preview."""

    def accept(self) -> None:
        if self._timer.isActive():
            self.apply()
        super().accept()

    def reject(self) -> None:
        # Esc, Cancel and the window manager all come here: leave the document as the dialog found it.
        self._timer.stop()
        if self._applied:
            self._before_undo()
            # Usually one step; more when something else (a live harmonization) landed on top of the
            # preview, which then could not fold into it: all of it was computed from the preview.
            while self.doc.history.depth > self._depth and self.doc.undo() is not None:
                pass
            self._applied = False
        super().reject()
