"""The main window's file commands: open, save, export, masks, the clipboard, recent files and drops.

A mixin of `MainWindow` (it uses the window's document, preferences and message display). Every command
takes an optional path so that scripts and tests can skip the file dialog; failures are shown in the
window and leave the document as it was.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

from engine.errors import HarmonizerError
from engine.image_io import LOSSY_FORMATS, READ_EXTS, is_image_path, write_format
from harmonizer_gui import document_io

IMAGE_FILTER = "Images ({})".format(" ".join(f"*{e}" for e in sorted(READ_EXTS)))
PROJECT_FILTER = "OpenRaster project (*.ora)"
EXPORT_FILTERS = {"PNG (*.png)": ".png", "JPEG (*.jpg *.jpeg)": ".jpg", "WebP (*.webp)": ".webp",
                  "TIFF (*.tif *.tiff)": ".tif"}


class FileCommands:
    def _folder(self) -> str:
        return self.prefs.last_folder if self.prefs.last_folder and Path(self.prefs.last_folder).is_dir() else ""

    def _remember(self, path) -> None:
        self.prefs.last_folder = str(Path(path).resolve().parent)
        if not self.ephemeral:
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

    def _confirm_model_file(self, model_path: str) -> bool:
        """A project naming a model file outside the model folders: whoever made the file chose that path,
        so it is used only if the user says so."""
        answer = QMessageBox.question(
            self, "Harmonizer", f"This project uses the model file\n{model_path[:300]}\n\nwhich is not one of your "
            "installed models. Use it? (No opens the project with the default model.)",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def _read_image(self, path):
        """An image file as an engine.image_io.Picture, or None with the reason shown."""
        try:
            return document_io.open_image(path)
        except HarmonizerError as exc:
            self.show_message(str(exc), True)
            return None

    def open_background(self, path=None) -> bool:
        """A new picture on this background, as File ▸ Open is in every editor: the cut-out goes too
        (Layer ▸ Replace background keeps it). The file is read before asking, so a bad file costs
        no question."""
        path = path or self._ask_open("Open background", IMAGE_FILTER)
        image = self._read_image(path) if path else None
        if image is None or not self.confirm_discard():
            return False
        if not self.attempt(self.doc.load, image.rgb, bg_name=Path(path).name, model=self.doc.model,
                            background16=image.rgb16, bg_exif=image.exif):
            return False
        self._remember(path)
        self.show_message(f"Opened {Path(path).name} as the background{_noted(image)}.")
        return True

    def replace_background(self, path=None) -> bool:
        """Another background under the same cut-out, mask and placement: one undoable step."""
        if self.doc.background is None:
            return self.open_background(path)
        path = path or self._ask_open("Replace background", IMAGE_FILTER)
        image = self._read_image(path) if path else None
        if image is None or not self.attempt(self.doc.set_background, image.rgb, Path(path).name, image.rgb16,
                                             image.exif):
            return False
        self._remember(path)
        self.show_message(f"{Path(path).name} is the new background{_noted(image)}; Ctrl+Z brings the old one back.")
        return True

    def open_foreground(self, path=None) -> bool:
        if self.doc.background is None:
            return self.open_background(path)
        path = path or self._ask_open("Open foreground", IMAGE_FILTER)
        image = self._read_image(path) if path else None
        if image is None or not self.attempt(self.doc.set_foreground, image.rgb, image.alpha, Path(path).name):
            return False
        self._remember(path)
        hint = "" if image.alpha is not None else " It has no transparency: paint the mask (B) or erase (E)."
        self.show_message(f"Placed {Path(path).name} as the foreground{_noted(image)}.{hint}")
        return True

    def open_project(self, path=None) -> bool:
        path = path or self._ask_open("Open project", PROJECT_FILTER)
        if not path or not self.confirm_discard():
            return False
        message = self.attempt(document_io.load_project, self.doc, path, confirm_model=self._confirm_model_file)
        if not message:
            return False
        self._remember(path)
        self.controller.select_model(self.doc.model)
        self.show_message(message)  # what was merged or recovered, for files from other programs
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

    def export_again(self) -> bool:
        """GIMP's "Export to": the last export of this picture, same file and quality, no questions."""
        if self.doc.export_path is None:
            return self.export()
        return self.export(self.doc.export_path, self.prefs.export_quality)

    def export(self, path=None, quality: int | None = None) -> bool:
        """Export As: asks for the file (and a JPEG or WebP quality) unless `path` is given."""
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
            if write_format(path) is None:
                path += EXPORT_FILTERS.get(chosen, ".png")
            if quality is None and write_format(path) in LOSSY_FORMATS:
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
        self.doc.export_path = str(path)
        self._update_export_action()
        self.show_message(f"Exported {Path(path).name} ({self.doc.canvas_size[0]} × {self.doc.canvas_size[1]}).")
        return True

    def _update_export_action(self) -> None:
        target = self.doc.export_path
        self.export_again_action.setText(f"Export to {Path(target).name}" if target else "Export")
        self.export_again_action.setStatusTip(f"Write {target} again" if target else "Export the picture (asks where)")

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

    # -- the clipboard ---------------------------------------------------------------------------------
    def copy_picture(self) -> bool:
        """Ctrl+C: the picture as exported (the harmonized result at its strength), for other programs."""
        if self.doc.background is None:
            self.show_message("Nothing to copy: open a background first.", True)
            return False
        rgb = self.doc.flattened()
        h, w = rgb.shape[:2]
        QApplication.clipboard().setImage(QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy())
        what = "the harmonized picture" if self.doc.showing_result else "the picture (not harmonized yet)"
        self.show_message(f"Copied {what}, {w} × {h}.")
        return True

    def paste(self, foreground: bool) -> bool:
        """Ctrl+V: image data, or an image file copied in a file manager."""
        mime = QApplication.clipboard().mimeData()
        paths = [p for p in mime_paths(mime) if is_image_path(p)]
        if paths:
            return self.open_foreground(paths[0]) if foreground else self.open_background(paths[0])
        image = mime_image(mime)
        if image is None:
            self.show_message("The clipboard holds no image.", True)
            return False
        return self._place_image(image, foreground, "Pasted image")

    def _place_image(self, image: QImage, foreground: bool, name: str) -> bool:
        """Image data without a file: the cut-out on the picture there is, else a new picture."""
        rgb, alpha = qimage_to_arrays(image)
        if foreground and self.doc.background is not None:
            return bool(self.attempt(self.doc.set_foreground, rgb, alpha, name))
        if self.doc.background is not None and not self.confirm_discard():
            return False
        return bool(self.attempt(self.doc.load, rgb, bg_name=name, model=self.doc.model))

    # -- drag and drop: files from a file manager, or image data from a browser ------------------------
    @staticmethod
    def _droppable(mime) -> bool:
        return bool(_openable(mime_paths(mime))) or mime_image(mime) is not None

    def dragEnterEvent(self, event) -> None:
        if self._droppable(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if self._droppable(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        mime = event.mimeData()
        paths = _openable(mime_paths(mime))
        event.acceptProposedAction()
        if not paths:
            image = mime_image(mime)
            if image is not None:
                self._place_image(image, True, "Dropped image")
            return
        for path in paths:
            if not self.open_path(path):
                break


def _noted(picture) -> str:
    """What reading changed or ignored ("converted from Adobe RGB (1998) to sRGB"), for the status line."""
    depth = ", 16 bits per channel kept for PNG and TIFF exports" if picture.rgb16 is not None else ""
    return "".join(f" ({note})" for note in picture.notes) + depth


def _openable(paths) -> list[str]:
    return [p for p in paths if is_image_path(p) or document_io.is_project(p)]


def mime_paths(mime) -> list[str]:
    """Local files named by a clipboard or drop (a file manager's copy or drag)."""
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]


def mime_image(mime) -> QImage | None:
    """Image data in a clipboard or drop: Qt's own image, or the encoded bytes a browser offers."""
    if mime is None:
        return None
    if mime.hasImage():
        image = QImage(mime.imageData())
        if not image.isNull():
            return image
    for fmt in mime.formats():
        if fmt.startswith("image/"):
            image = QImage.fromData(mime.data(fmt))
            if not image.isNull():
                return image
    return None


def qimage_to_arrays(image: QImage):
    """A QImage (e.g. from the clipboard) as (RGB uint8, alpha uint8 or None)."""
    image = image.convertToFormat(QImage.Format_RGBA8888)
    w, h = image.width(), image.height()
    buf = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h)
    rgba = buf.reshape(h, image.bytesPerLine())[:, :4 * w].reshape(h, w, 4).copy()
    alpha = rgba[..., 3]
    return np.ascontiguousarray(rgba[..., :3]), (None if alpha.min() == 255 else np.ascontiguousarray(alpha))
