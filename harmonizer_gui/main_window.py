"""The editor's main window: canvas in the middle, side panel on the right, menus, status bar, files,
drag and drop, autosave and remembered preferences. Every user-facing failure is shown in the window
(status bar and a message box) and leaves the document as it was."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QIcon, QImage
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QMessageBox, QScrollArea,
)

from engine.errors import HarmonizerError
from engine.image_io import READ_EXTS, is_image_path
from harmonizer_gui import dialog_actions, document_io, menus, settings
from harmonizer_gui.canvas import Canvas
from harmonizer_gui.document import Document
from harmonizer_gui.harmonize_controller import HarmonizeController, describe_model
from harmonizer_gui.panels import ICONS, SidePanel

IMAGE_FILTER = "Images ({})".format(" ".join(f"*{e}" for e in sorted(READ_EXTS)))
PROJECT_FILTER = "OpenRaster project (*.ora)"
EXPORT_FILTERS = {"PNG (*.png)": ".png", "JPEG (*.jpg *.jpeg)": ".jpg", "WebP (*.webp)": ".webp",
                  "TIFF (*.tif *.tiff)": ".tif"}
STYLE = Path(__file__).with_name("dark.qss")


def hex_color(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def parse_color(text: str):
    text = text.lstrip("#")
    return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))


class MainWindow(QMainWindow):
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
        self.doc = Document()
        self.canvas = Canvas(self.doc)
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
        menus.build_menus(self)
        dialog_actions.install(self)
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
        canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        canvas.cursor_moved.connect(self._on_cursor)
        canvas.stroke_finished.connect(ctl.stroke_finished)
        canvas.transform_mode_changed.connect(self._on_transform_mode)
        canvas.view_mode_changed.connect(self._on_view_mode)
        ctl.message.connect(self.show_message)
        ctl.model_changed.connect(self._on_model_changed)
        self._on_layers()

    def _apply_prefs(self) -> None:
        p = self.prefs
        self.canvas.set_brush(size=p.brush_size, hardness=p.brush_hardness)
        self.canvas.set_overlay(visible=p.overlay_visible, color=parse_color(p.overlay_color),
                                opacity=p.overlay_opacity)
        self.overlay_action.setChecked(p.overlay_visible)
        self.panel.sync_overlay()
        self.panel.live.setChecked(p.live_mode)
        if p.window_geometry:
            self.restoreGeometry(QByteArray.fromHex(p.window_geometry.encode("ascii")))
        else:
            self.resize(1440, 900)
        if p.window_state:
            self.restoreState(QByteArray.fromHex(p.window_state.encode("ascii")))
        self.controller.select_model(p.model or "default")

    def save_prefs(self) -> None:
        p, c = self.prefs, self.canvas
        p.brush_size = int(round(c.brush.size))
        p.brush_hardness = round(c.brush.hardness, 3)
        p.overlay_visible = c.overlay_visible
        p.overlay_color = hex_color(c.overlay_color)
        p.overlay_opacity = round(c.overlay_opacity, 3)
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

    def _on_transform_mode(self, on: bool) -> None:
        if on:
            self.statusBar().showMessage("Transform: drag inside to move, handles to scale (Shift keeps "
                                         "proportions), outside a corner to rotate; Enter applies, Esc cancels")
        else:
            self.statusBar().clearMessage()

    def _on_view_mode(self, mode: str) -> None:
        self.split_action.blockSignals(True)
        self.split_action.setChecked(self.canvas.split)
        self.split_action.blockSignals(False)

    # -- models (also called by dialog_actions) --------------------------------------------------------
    def select_model(self, path_or_name: str) -> None:
        self.panel.refresh_models()
        self.controller.select_model(str(path_or_name))
        self.show_message(f"Loading {describe_model(str(path_or_name))}…")

    def refresh_models(self) -> None:
        self.panel.refresh_models()

    # -- files -----------------------------------------------------------------------------------------
    def _folder(self) -> str:
        return self.prefs.last_folder if self.prefs.last_folder and Path(self.prefs.last_folder).is_dir() else ""

    def _remember(self, path) -> None:
        self.prefs.last_folder = str(Path(path).resolve().parent)
        self.recent.add(path)

    def _ask_open(self, title: str, filters: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, title, self._folder(), filters)
        return path or None

    def confirm_discard(self) -> bool:
        """Before replacing the document: offer to save unsaved changes. True to go on."""
        if not (self.prompt_on_close and self.doc.modified and self.doc.background is not None):
            return True
        answer = QMessageBox.question(self, "Harmonizer", "Save the changes to this picture first?",
                                      QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel)
        if answer == QMessageBox.Save:
            return self.save()
        return answer == QMessageBox.Discard

    def open_background(self, path=None) -> bool:
        path = path or self._ask_open("Open background", IMAGE_FILTER)
        if not path or not self.confirm_discard():
            return False
        try:
            rgb, _alpha = document_io.open_image(path)
            if self.doc.background is None or self.doc.foreground is None:
                self.doc.load(rgb, bg_name=Path(path).name, model=self.doc.model)
            else:
                self.doc.set_background(rgb, Path(path).name)
        except HarmonizerError as exc:
            self.show_message(str(exc), True)
            return False
        self._remember(path)
        self.show_message(f"Opened {Path(path).name} as the background.")
        return True

    def open_foreground(self, path=None) -> bool:
        if self.doc.background is None:
            return self.open_background(path)
        path = path or self._ask_open("Open foreground", IMAGE_FILTER)
        if not path:
            return False
        try:
            rgb, alpha = document_io.open_image(path)
            self.doc.set_foreground(rgb, alpha, Path(path).name)
        except HarmonizerError as exc:
            self.show_message(str(exc), True)
            return False
        self._remember(path)
        hint = "" if alpha is not None else " It has no transparency: paint the mask (B) or erase (E)."
        self.show_message(f"Placed {Path(path).name} as the foreground.{hint}")
        return True

    def open_project(self, path=None) -> bool:
        path = path or self._ask_open("Open project", PROJECT_FILTER)
        if not path or not self.confirm_discard():
            return False
        if not self.attempt(document_io.load_project, self.doc, path):
            return False
        self._remember(path)
        self.controller.select_model(self.doc.model)
        self.show_message(f"Opened {Path(path).name}.")
        return True

    def open_path(self, path) -> bool:
        """Open whatever `path` is: a project, or an image as background (first) or foreground."""
        if document_io.is_project(path):
            return self.open_project(path)
        if self.doc.background is None:
            return self.open_background(path)
        return self.open_foreground(path)

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        for p in paths:
            self.recent_menu.addAction(p.name, lambda p=p: self.open_path(p)).setStatusTip(str(p))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def save(self) -> bool:
        if self.doc.path is None or not document_io.is_project(self.doc.path):
            return self.save_as()
        return self._save_to(self.doc.path)

    def save_as(self, path=None) -> bool:
        if self.doc.background is None:
            self.show_message("Nothing to save: open a background first.", True)
            return False
        if path is None:
            start = str(Path(self._folder()) / (Path(self.doc.bg_name or "untitled").stem + ".ora"))
            path, _ = QFileDialog.getSaveFileName(self, "Save project", start, PROJECT_FILTER)
            if not path:
                return False
            if not path.lower().endswith(".ora"):
                path += ".ora"
        return self._save_to(path)

    def _save_to(self, path) -> bool:
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            ok = self.attempt(document_io.save_project, self.doc, path)
        finally:
            QApplication.restoreOverrideCursor()
        if ok:
            self.doc.mark_saved(Path(path))
            self._remember(path)
            self._update_title()
            self.show_message(f"Saved {Path(path).name}.")
        return bool(ok)

    def export(self, path=None, quality: int | None = None) -> bool:
        if self.doc.background is None:
            self.show_message("Nothing to export: open a background first.", True)
            return False
        if path is None:
            fmt = "." + (self.prefs.export_format if self.prefs.export_format != "ora" else "png")
            start = str(Path(self._folder()) / (Path(self.doc.bg_name or "untitled").stem + "_harmonized" + fmt))
            wanted = next((f for f, e in EXPORT_FILTERS.items() if e == fmt), None)
            path, chosen = QFileDialog.getSaveFileName(self, "Export image", start, ";;".join(EXPORT_FILTERS), wanted)
            if not path:
                return False
            if Path(path).suffix.lower() not in document_io.EXPORT_EXTS:
                path += EXPORT_FILTERS.get(chosen, ".png")
            if quality is None and Path(path).suffix.lower() in (".jpg", ".jpeg", ".webp"):
                quality, ok = QInputDialog.getInt(self, "Export quality", "Quality (1–100):",
                                                  self.prefs.export_quality, 1, 100)
                if not ok:
                    return False
        quality = quality or self.prefs.export_quality
        if not self.attempt(document_io.export_image, self.doc, path, quality):
            return False
        self.prefs.export_quality = int(quality)
        self.prefs.export_format = Path(path).suffix.lower().lstrip(".").replace("jpeg", "jpg").replace("tiff", "tif")
        self.prefs.last_folder = str(Path(path).resolve().parent)
        self.show_message(f"Exported {Path(path).name} ({self.doc.canvas_size[0]} × {self.doc.canvas_size[1]}).")
        return True

    def load_mask(self, path=None) -> bool:
        if self.doc.background is None:
            self.show_message("Open a background first.", True)
            return False
        path = path or self._ask_open("Load mask", IMAGE_FILTER)
        if not path:
            return False
        ok = self.attempt(document_io.load_mask, self.doc, path)
        if ok:
            self.show_message(f"Loaded the mask {Path(path).name}.")
        return bool(ok)

    def save_mask(self, path=None) -> bool:
        if self.doc.background is None:
            self.show_message("There is no mask to save.", True)
            return False
        if path is None:
            start = str(Path(self._folder()) / (Path(self.doc.bg_name or "untitled").stem + "_mask.png"))
            path, _ = QFileDialog.getSaveFileName(self, "Save mask", start, "PNG (*.png)")
            if not path:
                return False
        ok = self.attempt(document_io.save_mask, self.doc, path)
        if ok:
            self.show_message(f"Saved the mask as {Path(path).name}.")
        return bool(ok)

    def paste(self, foreground: bool) -> bool:
        image = QApplication.clipboard().image()
        if image.isNull():
            self.show_message("The clipboard holds no image.", True)
            return False
        rgb, alpha = qimage_to_arrays(image)
        if foreground and self.doc.background is not None:
            return bool(self.attempt(self.doc.set_foreground, rgb, alpha, "Pasted image"))
        if self.doc.background is not None and not self.confirm_discard():
            return False
        return bool(self.attempt(self.doc.load, rgb, bg_name="Pasted image", model=self.doc.model))

    # -- drag and drop ---------------------------------------------------------------------------------
    @staticmethod
    def _dropped_paths(event) -> list[str]:
        if not event.mimeData().hasUrls():
            return []
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        return [p for p in paths if is_image_path(p) or document_io.is_project(p)]

    def dragEnterEvent(self, event) -> None:
        if self._dropped_paths(event):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if self._dropped_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = self._dropped_paths(event)
        event.acceptProposedAction()
        for path in paths:
            if not self.open_path(path):
                break

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

    def ask_opacity(self) -> None:
        if self.doc.foreground is None:
            self.show_message("There is no foreground layer.", True)
            return
        value, ok = QInputDialog.getInt(self, "Foreground opacity", "Opacity (%):", round(self.doc.opacity * 100), 0, 100)
        if ok:
            self.doc.set_opacity(value / 100, merge=False)

    def toggle_transform(self) -> None:
        if self.canvas.transforming:
            self.canvas.commit_transform()
        elif not self.canvas.begin_transform():
            self.show_message("Open a foreground to transform first.", True, box=False)

    def escape(self) -> None:
        if self.canvas.transforming:
            self.canvas.cancel_transform()
        elif self.controller.running:
            self.controller.cancel()

    def set_overlay_visible(self, on: bool) -> None:
        self.canvas.set_overlay(visible=on)
        self.panel.sync_overlay()

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
        key = (doc.revision, len(doc.history._undo), doc.strength, id(doc.result))
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
        if not self.attempt(document_io.load_project, self.doc, path):
            return False
        self.doc.path = None
        self.doc._mark_modified(True)
        self._update_title()
        self.controller.select_model(self.doc.model)
        self.show_message("Recovered the autosaved picture; save it to keep it.")
        return True

    def closeEvent(self, event) -> None:
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


def qimage_to_arrays(image: QImage):
    """A QImage (e.g. from the clipboard) as (RGB uint8, alpha uint8 or None)."""
    image = image.convertToFormat(QImage.Format_RGBA8888)
    w, h = image.width(), image.height()
    buf = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h)
    rgba = buf.reshape(h, image.bytesPerLine())[:, :4 * w].reshape(h, w, 4).copy()
    alpha = rgba[..., 3]
    return np.ascontiguousarray(rgba[..., :3]), (None if alpha.min() == 255 else np.ascontiguousarray(alpha))
