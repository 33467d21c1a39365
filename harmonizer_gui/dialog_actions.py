"""Hooks the fine-tune and batch dialogs into the editor's main window (Tools menu, quitting, model switch).

The editor calls `install(main_window)` once; everything else stays in this module so the main window
needs no knowledge of the dialogs beyond that call.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu


OBJECT_NAME = "harmonizer_dialog_actions"
# Method names, in order of preference, through which the editor can switch to a model by path or name.
EDITOR_MODEL_SETTERS = ("select_model", "set_model")
EDITOR_MODEL_REFRESHERS = ("refresh_models", "reload_models")
EDITOR_MODEL_GETTER = "current_model"  # what the editor harmonizes with, as select_model takes it


def tools_menu(main_window) -> QMenu:
    bar = main_window.menuBar()
    for action in bar.actions():
        menu = action.menu()
        if menu is not None and menu.title().replace("&", "").strip().lower() == "tools":
            return menu
    return bar.addMenu("&Tools")


class DialogActions(QObject):
    """Owns the two dialogs (one of each per window, created on first use) and their menu actions."""

    def __init__(self, main_window):
        super().__init__(main_window)
        self.setObjectName(OBJECT_NAME)
        self.window = main_window
        # Created on first use: the editor starts without paying for either dialog's imports.
        self.finetune = None
        self.batch = None
        menu = tools_menu(main_window)
        self.finetune_action = QAction("Fine-tune on your photos…", main_window)
        self.finetune_action.setStatusTip("Train a model on your own photos in the background")
        self.finetune_action.triggered.connect(self.show_finetune)
        self.batch_action = QAction("Batch export…", main_window)
        self.batch_action.setStatusTip("Harmonize a folder of composites or .ora projects")
        self.batch_action.triggered.connect(self.show_batch)
        menu.addAction(self.finetune_action)
        menu.addAction(self.batch_action)
        main_window.installEventFilter(self)

    def show_finetune(self):
        if self.finetune is None:
            from harmonizer_gui.finetune_dialog import FinetuneDialog

            self.finetune = FinetuneDialog(self.window)
            self.finetune.model_ready.connect(self._on_model_ready)
            self.finetune.use_model.connect(self.switch_model)
        self.finetune.show()
        self.finetune.raise_()
        self.finetune.activateWindow()
        return self.finetune

    def show_batch(self):
        if self.batch is None:
            from harmonizer_gui.batch_dialog import BatchDialog

            self.batch = BatchDialog(self.window)
        else:
            self.batch._refresh_models()  # a model trained since the last opening must be offered
        # A batch is the picture on screen done many times over: it starts with the editor's model.
        model = getattr(self.window, EDITOR_MODEL_GETTER, None)
        if callable(model) and model() and not self.batch.running:
            self.batch.select_model(model())
        self.batch.show()
        self.batch.raise_()
        self.batch.activateWindow()
        return self.batch

    def _on_model_ready(self, name: str, path: str) -> None:
        for attr in EDITOR_MODEL_REFRESHERS:
            if callable(getattr(self.window, attr, None)):
                getattr(self.window, attr)()
                break
        if self.batch is not None:
            self.batch._refresh_models()
        self._status(f"Fine-tuned model “{name}” is ready; the fine-tune window offers to use it.")

    def switch_model(self, path: str) -> bool:
        for attr in EDITOR_MODEL_SETTERS:
            setter = getattr(self.window, attr, None)
            if callable(setter):
                setter(path)
                return True
        self._status(f"Choose “{Path(path).stem}” in the model list to use it.")
        return False

    def _status(self, text: str) -> None:
        bar = getattr(self.window, "statusBar", None)
        if callable(bar):
            bar().showMessage(text, 10000)

    def eventFilter(self, obj, event) -> bool:
        # Quitting with a trainer or a batch running: stop them cleanly first (the trainer saves a
        # checkpoint), then close the window for real; the editor's own close handling runs then.
        if obj is self.window and event.type() == QEvent.Close:
            if self.finetune is not None and self.finetune.process.active:
                event.ignore()
                self.finetune.request_stop_then(self._close_again)
                return True
            if self.batch is not None and self.batch.running:
                event.ignore()
                self.batch.request_cancel_then(self._close_again)
                return True
        return False

    def _close_again(self) -> None:
        self.window.close()


def install(main_window) -> DialogActions:
    """Add the Tools menu entries to `main_window` (idempotent) and return the controller."""
    existing = main_window.findChild(DialogActions, OBJECT_NAME)
    return existing if existing is not None else DialogActions(main_window)


def screenshot_dialog(main_window, kind: str, out_path) -> Path:
    """Open the fine-tune or batch dialog of `main_window` and save it as a PNG (for `--screenshot`-style
    flags and the docs); the caller sets up whatever state the picture should show first or after."""
    from PySide6.QtWidgets import QApplication

    from engine.atomic import atomic_path
    from engine.errors import ImageWriteError

    controller = install(main_window)
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
