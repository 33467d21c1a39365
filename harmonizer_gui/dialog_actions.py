"""The editor's Tools dialogs (fine-tune, batch export): created on first use, told which model the
editor uses, and asked before the window closes while one of them is working.

The window it serves is an `EditorHost`: the main window, or a small stand-in in tests. Its menu
actions are built in menus.py like every other action.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

from PySide6.QtCore import QObject


class EditorHost(Protocol):
    """What the dialogs need from the editor's window (a QMainWindow)."""

    def current_model(self) -> str | None: ...  # what the editor harmonizes with, as select_model takes it

    def select_model(self, path_or_name: str) -> None: ...

    def refresh_models(self) -> None: ...  # a model was installed: offer it

    def statusBar(self): ...


class DialogActions(QObject):
    """Owns the two dialogs, one of each per window."""

    def __init__(self, window: EditorHost):
        super().__init__(window)
        self.window = window
        # Created on first use: the editor starts without paying for either dialog's imports.
        self.finetune = None
        self.batch = None

    def show_finetune(self):
        if self.finetune is None:
            from harmonizer_gui.finetune_dialog import FinetuneDialog

            self.finetune = FinetuneDialog(self.window)
            self.finetune.model_ready.connect(self._on_model_ready)
            self.finetune.use_model.connect(self.window.select_model)
        return _bring_up(self.finetune)

    def show_batch(self):
        if self.batch is None:
            from harmonizer_gui.batch_dialog import BatchDialog

            self.batch = BatchDialog(self.window)
        else:
            self.batch.refresh_models()  # a model trained since the last opening must be offered
        # A batch is the picture on screen done many times over: it starts with the editor's model.
        model = self.window.current_model()
        if model and not self.batch.running:
            self.batch.select_model(model)
        return _bring_up(self.batch)

    def _on_model_ready(self, name: str, path: str) -> None:
        self.window.refresh_models()
        if self.batch is not None:
            self.batch.refresh_models()
        self.window.statusBar().showMessage(
            f"Fine-tuned model “{name}” is ready; the fine-tune window offers to use it.", 10000)

    def can_close(self, then: Callable[[], None]) -> bool:
        """True when no dialog is working. Otherwise a running trainer is stopped cleanly (it saves a
        checkpoint) or a batch cancelled, after asking, and `then` runs once it has; False meanwhile."""
        for dialog in (self.finetune, self.batch):
            if dialog is not None and not dialog.can_close(then):
                return False
        return True


def _bring_up(dialog):
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


def screenshot_dialog(main_window, kind: str, out_path) -> Path:
    """Open the fine-tune or batch dialog of `main_window` and save it as a PNG (for `--screenshot`-style
    flags and the docs); the caller sets up whatever state the picture should show first or after."""
    from PySide6.QtWidgets import QApplication

    from engine.atomic import atomic_path
    from engine.errors import ImageWriteError

    controller = main_window.dialogs
    shows = {"finetune": controller.show_finetune, "batch": controller.show_batch}
    if kind not in shows:
        raise ValueError(f"unknown dialog {kind!r}; use finetune or batch")
    dialog = shows[kind]()
    QApplication.processEvents()
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        if not dialog.grab().save(str(tmp), "PNG"):
            raise ImageWriteError(f"cannot write {out_path}")
    return out_path
