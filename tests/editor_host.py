"""A stand-in for the editor's window in tests of the Tools dialogs: the EditorHost they need, and the
close handling the main window gives them, without loading the editor."""
from __future__ import annotations

from PySide6.QtWidgets import QMainWindow

from harmonizer_gui.dialog_actions import DialogActions


class StandInEditor(QMainWindow):
    def __init__(self, model: str | None = None):
        super().__init__()
        self.setWindowTitle("Harmonizer")
        self.model = model
        self.selected: list[str] = []
        self.refreshed = 0
        self.dialogs = DialogActions(self)

    def current_model(self) -> str | None:
        return self.model

    def select_model(self, path_or_name: str) -> None:
        self.selected.append(path_or_name)
        self.model = path_or_name

    def refresh_models(self) -> None:
        self.refreshed += 1

    def closeEvent(self, event) -> None:
        if not self.dialogs.can_close(then=self.close):
            event.ignore()
            return
        super().closeEvent(event)
