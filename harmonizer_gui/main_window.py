"""The editor's main window: canvas in the middle, side panel on the right, menus, status bar, files,
drag and drop, autosave and remembered preferences. Every user-facing failure is shown in the window
(status bar and a message box) and leaves the document as it was."""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDockWidget, QInputDialog, QLabel, QMainWindow, QMessageBox, QScrollArea

from engine.errors import HarmonizerError
from harmonizer_gui import dialog_actions, document_io, menus, settings
from harmonizer_gui.canvas import Canvas
from harmonizer_gui.document import Document
from harmonizer_gui.harmonize_controller import HarmonizeController, describe_model
from harmonizer_gui.panels import ICONS, SidePanel
from harmonizer_gui.tool_settings import ToolSettings
from harmonizer_gui.window_files import FileCommands


TRANSFORM_HINT = ("Transform: drag moves, handles scale (Shift: keep ratio), outside a corner rotates · "
                  "Enter applies, Esc cancels")
SHADOW_HINT = ("Shadow: drag the round handle to point the shadow, the dashed ground line up or down · "
               "Enter or Esc when done (Ctrl+Z undoes a drag)")


def hex_color(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def parse_color(text: str):
    text = text.lstrip("#")
    return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))


class MainWindow(FileCommands, QMainWindow):
    def __init__(self, prefs: settings.Preferences | None = None, device: str = "auto"):
        super().__init__()
        self.setWindowTitle("Harmonizer")
        self.setWindowIcon(QIcon(str(ICONS / "harmonizer.svg")))
        self.prefs = prefs or settings.Preferences.load()
        self.recent = settings.RecentFiles()
        self.prompt_on_close = True  # tests and --screenshot turn the "save changes?" question off
        self.ephemeral = False  # True: closing saves no preferences and leaves the autosave file alone
        self.last_error = ""
        self.error_box: QMessageBox | None = None
        self.edge = None  # the Refine edge / Defringe dialog while it is open
        self.match_dialog = None  # the Match photo dialog while it is open
        self.doc = Document()
        self.tools = ToolSettings()
        self.canvas = Canvas(self.doc, self.tools)
        self.setCentralWidget(self.canvas)
        self.controller = HarmonizeController(self.doc, self, device)
        self.panel = SidePanel(self.doc, self.canvas, self.controller)
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.panel.sizeHint().width() + 16)
        self.dock = QDockWidget("Properties", self)
        self.dock.setObjectName("propertiesDock")
        self.dock.setWidget(scroll)
        self.dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self._build_status()
        self.dialogs = dialog_actions.DialogActions(self)
        menus.build_menus(self)
        self.toolbar = menus.build_toolbar(self)
        self.setAcceptDrops(True)
        self._connect()
        self._apply_prefs()
        self._autosave_thread: threading.Thread | None = None
        self._autosaved_revision = None
        self.autosave_timer = QTimer(self)
        self.autosave_timer.timeout.connect(self.autosave)
        if self.prefs.autosave_seconds > 0:
            self.autosave_timer.start(self.prefs.autosave_seconds * 1000)
        self._update_title()
        self._update_history()

    # -- layout pieces ---------------------------------------------------------------------------------
    def _build_status(self) -> None:
        bar = self.statusBar()
        self.size_label, self.zoom_label, self.pos_label = QLabel(), QLabel(), QLabel()
        self.device_label, self.model_label = QLabel(), QLabel()
        for label in (self.size_label, self.zoom_label, self.pos_label, self.model_label, self.device_label):
            label.setObjectName("statusField")
            bar.addPermanentWidget(label)
        self.pos_label.setMinimumWidth(90)

    def _connect(self) -> None:
        doc, canvas, ctl = self.doc, self.canvas, self.controller
        doc.events.layers.connect(self._on_layers)
        doc.events.history.connect(self._update_history)
        doc.events.modified.connect(lambda _m: self._update_title())
        self.tools.events.overlay.connect(lambda: self.overlay_action.setChecked(self.tools.overlay_visible))
        canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        canvas.cursor_moved.connect(self._on_cursor)
        canvas.stroke_finished.connect(ctl.stroke_finished)
        canvas.transform_mode_changed.connect(lambda on: self._on_canvas_mode(on, TRANSFORM_HINT))
        canvas.shadow_mode_changed.connect(lambda on: self._on_canvas_mode(on, SHADOW_HINT))
        canvas.shadow_mode_changed.connect(lambda on: self.shadow_handles_action.setChecked(on))
        canvas.view_mode_changed.connect(self._on_view_mode)
        ctl.message.connect(self.show_message)
        ctl.model_changed.connect(self._on_model_changed)
        self._on_layers()

    def _apply_prefs(self) -> None:
        p = self.prefs
        self.tools.set_brush(size=p.brush_size, hardness=p.brush_hardness, pressure=p.pen_pressure)
        self.tools.set_overlay(visible=p.overlay_visible, color=parse_color(p.overlay_color),
                               opacity=p.overlay_opacity)
        self.panel.live.setChecked(p.live_mode)
        if p.window_geometry:
            self.restoreGeometry(QByteArray.fromHex(p.window_geometry.encode("ascii")))
        else:
            self.resize(1440, 900)
        if p.window_state:
            self.restoreState(QByteArray.fromHex(p.window_state.encode("ascii")))
        self.controller.select_model(p.model or "default", by_user=False)  # a preference, not an edit

    def save_prefs(self) -> None:
        p, t = self.prefs, self.tools
        p.brush_size = int(round(t.brush.size))
        p.brush_hardness = round(t.brush.hardness, 3)
        p.pen_pressure = t.brush.pressure
        p.overlay_visible = t.overlay_visible
        p.overlay_color = hex_color(t.overlay_color)
        p.overlay_opacity = round(t.overlay_opacity, 3)
        p.live_mode = self.controller.live
        p.model = self.doc.model
        p.window_geometry = bytes(self.saveGeometry().toHex()).decode("ascii")
        p.window_state = bytes(self.saveState().toHex()).decode("ascii")
        try:
            p.save()
        except HarmonizerError as exc:
            self.show_message(f"Preferences not saved: {exc}", True, box=False)

    # -- messages --------------------------------------------------------------------------------------
    def show_message(self, text: str, error: bool = False, box: bool = True) -> None:
        """Status bar for news, plus a (non-blocking) message box for errors."""
        self.statusBar().showMessage(("⚠ " if error else "") + text, 15000 if error else 6000)
        if not error:
            return
        self.last_error = text
        if box:
            if self.error_box is None:
                self.error_box = QMessageBox(QMessageBox.Warning, "Harmonizer", "", QMessageBox.Ok, self)
                # Not modal: the message stays readable while the user carries on (and fixes the cause).
                self.error_box.setWindowModality(Qt.NonModal)
            self.error_box.setText(text)
            self.error_box.show()

    def attempt(self, fn, *args, **kwargs):
        """Run a document operation; a HarmonizerError is shown and the result is None."""
        try:
            result = fn(*args, **kwargs)
        except HarmonizerError as exc:
            self.show_message(str(exc), True)
            return None
        return True if result is None else result

    def _update_title(self) -> None:
        name = Path(self.doc.path).name if self.doc.path else (self.doc.bg_name or "Untitled")
        self.setWindowTitle(f"{'• ' if self.doc.modified else ''}{name} — Harmonizer")

    def _update_history(self) -> None:
        h = self.doc.history
        self.undo_action.setEnabled(h.can_undo)
        self.redo_action.setEnabled(h.can_redo)
        self.undo_action.setText(f"Undo {h.undo_label}" if h.can_undo else "Undo")
        self.redo_action.setText(f"Redo {h.redo_label}" if h.can_redo else "Redo")

    def _on_layers(self) -> None:
        size = self.doc.canvas_size
        self.size_label.setText(f"{size[0]} × {size[1]} px" if size else "no image")
        self._update_title()

    def _on_cursor(self, x: int, y: int) -> None:
        self.pos_label.setText(f"x {x}  y {y}" if x >= 0 else "")

    def _on_model_changed(self, value: str, label: str, device: str) -> None:
        self.model_label.setText(f"Model: {label}")
        self.device_label.setText(device)

    def _on_canvas_mode(self, on: bool, hint: str) -> None:
        # The hint is the one thing to read in a canvas mode: the model and device fields make room
        # for it (a status message is cut, not wrapped, where the permanent fields begin).
        for label in (self.model_label, self.device_label):
            label.setVisible(not on)
        if on:
            self.statusBar().showMessage(hint)
        else:
            self.statusBar().clearMessage()

    def _on_view_mode(self, mode: str) -> None:
        self.split_action.blockSignals(True)
        self.split_action.setChecked(self.canvas.split)
        self.split_action.blockSignals(False)

    # -- models (the EditorHost of dialog_actions) --------------------------------------------------------
    def select_model(self, path_or_name: str) -> None:
        self.panel.refresh_models()
        self.controller.select_model(str(path_or_name))
        self.show_message(f"Loading {describe_model(str(path_or_name))}…")

    def refresh_models(self) -> None:
        self.panel.refresh_models()

    def current_model(self) -> str:
        return self.controller.loaded_model or self.doc.model

    # -- edit, mask and layer commands -----------------------------------------------------------------
    def undo(self) -> None:
        if self.canvas.transforming:
            self.canvas.cancel_transform()
            return
        label = self.doc.undo()
        self.statusBar().showMessage(f"Undid {label.lower()}." if label else "Nothing to undo.", 3000)

    def redo(self) -> None:
        label = self.doc.redo()
        self.statusBar().showMessage(f"Redid {label.lower()}." if label else "Nothing to redo.", 3000)

    def mask_op(self, name: str) -> None:
        self.attempt(getattr(self.doc, name))

    def feather_mask(self, radius: float | None = None) -> None:
        if radius is None:
            radius, ok = QInputDialog.getDouble(self, "Feather mask", "Radius (image pixels):", 4.0, 0.5, 500.0, 1)
            if not ok:
                return
        self.attempt(self.doc.feather_mask, radius)

    def grow_mask(self, grow: bool, pixels: float | None = None) -> None:
        if pixels is None:
            title = "Grow mask" if grow else "Shrink mask"
            pixels, ok = QInputDialog.getDouble(self, title, "By (image pixels):", 3.0, 0.5, 500.0, 1)
            if not ok:
                return
        self.attempt(self.doc.grow_mask, pixels if grow else -pixels)

    def edge_dialog(self, kind: str) -> int:
        """Mask ▸ Refine edge…, Layer ▸ Defringe… or Layer ▸ Shadow… (harmonizer_gui.edge_dialog); returns the
        dialog's result."""
        from harmonizer_gui.edge_dialog import EdgeDialog

        return self._preview_dialog("edge", lambda: EdgeDialog(self, kind))

    def match_photo_dialog(self, photo_path: str | None = None) -> int:
        """Layer ▸ Match photo… (harmonizer_gui.match_photo_dialog); returns the dialog's result."""
        from harmonizer_gui.match_photo_dialog import MatchPhotoDialog

        return self._preview_dialog("match_dialog", lambda: MatchPhotoDialog(self, photo_path))

    def _preview_dialog(self, attribute: str, make) -> int:
        """Run a modal preview dialog on the picture, kept as `self.<attribute>` while it is open."""
        if self.doc.background is None:
            self.show_message("Open a picture first.", True)
            return 0
        setattr(self, attribute, make())
        try:
            return getattr(self, attribute).exec()
        finally:
            setattr(self, attribute, None)

    def stop_matching_photo(self) -> None:
        if self.doc.match_photo is None:
            self.show_message("No other photo is being matched.", True)
            return
        self.attempt(self.doc.set_match_photo, None)

    def toggle_shadow_handles(self, on: bool) -> None:
        if on and not self.canvas.editing_shadow:
            if self.canvas.transforming:
                self.canvas.commit_transform()
            if self.attempt(self.canvas.begin_shadow_edit) is None:
                self.shadow_handles_action.setChecked(False)
        elif not on:
            self.canvas.end_shadow_edit()

    def remove_shadow(self) -> None:
        if self.doc.shadow is None:
            self.show_message("The object casts no shadow.", True)
            return
        self.attempt(self.doc.set_shadow, None)

    def ask_opacity(self) -> None:
        if self.doc.foreground is None:
            self.show_message("There is no foreground layer.", True)
            return
        value, ok = QInputDialog.getInt(self, "Foreground opacity", "Opacity (%):", round(self.doc.opacity * 100), 0, 100)
        if ok:
            self.doc.set_opacity(value / 100, merge=False)

    def toggle_transform(self) -> None:
        self.canvas.end_shadow_edit()
        if self.canvas.transforming:
            self.canvas.commit_transform()
        elif not self.canvas.begin_transform():
            self.show_message("Open a foreground to transform first.", True, box=False)

    def escape(self) -> None:
        if self.canvas.transforming:
            self.canvas.cancel_transform()
        elif self.canvas.editing_shadow:
            self.canvas.end_shadow_edit()
        elif self.controller.running:
            self.controller.cancel()

    def set_overlay_visible(self, on: bool) -> None:
        self.tools.set_overlay(visible=on)

    def about(self) -> None:
        QMessageBox.about(self, "About Harmonizer",
                          "<b>Harmonizer</b><br>Drop a cut-out on a background, brush its mask and harmonize: "
                          "the cut-out takes on the background's colour and light.<br><br>"
                          "RAIN generator (Ling et al., CVPR 2021) with full-resolution colour lifting.")

    # -- autosave and closing --------------------------------------------------------------------------
    def autosave(self, wait: bool = False) -> bool:
        """Save a snapshot to settings.autosave_path() on a background thread (PNG encoding of a large
        picture takes seconds); returns False when there was nothing new to save."""
        doc = self.doc
        if doc.background is None or not doc.modified:
            return False
        key = (doc.revision, doc.history.depth, doc.strength, id(doc.result), doc.shadow)
        if key == self._autosaved_revision or (self._autosave_thread and self._autosave_thread.is_alive()):
            return False
        self._autosaved_revision = key
        snapshot = doc.snapshot()
        path = settings.autosave_path()

        def work():
            try:
                document_io.save_project(snapshot, path, compress_level=1)
            except HarmonizerError:
                pass  # autosave is best effort; the next tick tries again
        self._autosave_thread = threading.Thread(target=work, name="autosave", daemon=True)
        self._autosave_thread.start()
        if wait:
            self._autosave_thread.join()
        return True

    def recover_autosave(self) -> bool:
        path = settings.autosave_path()
        if not path.is_file():
            return False
        # The autosave is this editor's own file: the model it names is one this user chose.
        if not self.attempt(document_io.load_project, self.doc, path, confirm_model=lambda _: True):
            return False
        self.doc.path = None
        self.doc.mark_modified()
        self._update_title()
        self.controller.select_model(self.doc.model)
        self.show_message("Recovered the autosaved picture; save it to keep it.")
        return True

    def closeEvent(self, event) -> None:
        # A trainer or a batch still working is stopped cleanly first (the trainer saves a checkpoint);
        # the window then closes for real, and only then asks about the picture.
        if not self.dialogs.can_close(then=self.close):
            event.ignore()
            return
        if self.canvas.transforming:
            self.canvas.commit_transform()
        if not self.confirm_discard():
            event.ignore()
            return
        self.autosave_timer.stop()
        if self._autosave_thread is not None:
            self._autosave_thread.join(30)
        self.controller.shutdown()
        if not self.ephemeral:
            self.save_prefs()
            # A clean exit leaves nothing to recover.
            try:
                settings.autosave_path().unlink(missing_ok=True)
            except OSError:
                pass
        super().closeEvent(event)

