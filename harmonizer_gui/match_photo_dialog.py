"""Layer ▸ Match photo…: the object takes the light of another photo, mixed with its own scene's by AdaIN's
alpha (engine.photo_match), previewed live: every change sets the document's photo and harmonizes again.

Like the edge dialogs (harmonizer_gui.preview_dialog), all of it is one undo step while the dialog is
open: OK keeps it, Cancel (or Esc, or closing the dialog) undoes back to where it opened, harmonizations
included.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout,
)

from engine.errors import HarmonizerError
from engine.image_io import read_image, read_mask
from engine.photo_match import PhotoStyle, shrink
from harmonizer_gui.preview_dialog import PreviewDialog

PREVIEW_DELAY_MS = 250


class MatchPhotoDialog(PreviewDialog):
    def __init__(self, window, photo_path: str | None = None):
        super().__init__(window, PREVIEW_DELAY_MS)
        self.setWindowTitle("Match photo")
        current = self.doc.match_photo
        self.photo = None if current is None else current.photo
        self.area = None if current is None else current.area  # the photo's part to read; None: all of it
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The object takes the light of another photo instead of its own scene's."))
        form = QFormLayout()
        self.photo_label = QLabel("(none chosen)" if self.photo is None else "the photo in use")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self.choose)
        row = QHBoxLayout()
        row.addWidget(self.photo_label, 1)
        row.addWidget(choose)
        form.addRow("Photo", row)
        self.area_label = QLabel("the whole photo" if self.area is None else "a painted area")
        area_button = QPushButton("Mask…")
        area_button.setToolTip("Read only part of the photo: a greyscale mask of its size (white = use)")
        area_button.clicked.connect(self.choose_area)
        whole = QPushButton("Whole")
        whole.clicked.connect(self.whole_photo)
        row = QHBoxLayout()
        row.addWidget(self.area_label, 1)
        row.addWidget(area_button)
        row.addWidget(whole)
        form.addRow("Area", row)
        self.alpha = QSlider(Qt.Horizontal)
        self.alpha.setRange(0, 100)
        self.alpha.setValue(round(100 * (current.alpha if current else 1.0)))
        self.alpha.setMinimumWidth(220)
        self.alpha.setToolTip("0 %: the scene's own light; 100 %: the photo's")
        self.alpha_label = QLabel()
        self.alpha_label.setMinimumWidth(48)
        self.alpha.valueChanged.connect(self._changed)
        row = QHBoxLayout()
        row.addWidget(self.alpha, 1)
        row.addWidget(self.alpha_label)
        form.addRow("Photo's light", row)
        layout.addLayout(form)
        self._add_buttons(layout)
        self._update_label()
        if photo_path:
            self.load(photo_path)

    def choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Photo to match", "", "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp)")
        if path:
            self.load(path)

    def load(self, path) -> bool:
        try:
            rgb, _ = read_image(path)
        except HarmonizerError as exc:
            self.window.show_message(str(exc), True)
            return False
        self.photo = shrink(rgb)  # only its statistics are read (engine.photo_match)
        self.photo_label.setText(Path(path).name)
        self.whole_photo()
        return True

    def choose_area(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Area of the photo", "", "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp)")
        if path:
            self.load_area(path)

    def load_area(self, path) -> bool:
        if self.photo is None:
            self.window.show_message("Choose the photo first.", True)
            return False
        try:
            area = read_mask(path, size=(self.photo.shape[1], self.photo.shape[0]))
        except HarmonizerError as exc:
            self.window.show_message(str(exc), True)
            return False
        self.area = area
        self.area_label.setText(Path(path).name)
        self.apply()
        return True

    def whole_photo(self) -> None:
        self.area = None
        self.area_label.setText("the whole photo")
        self.apply()

    def style(self) -> PhotoStyle | None:
        return None if self.photo is None else PhotoStyle(self.photo, self.area, self.alpha.value() / 100)

    def _update_label(self) -> None:
        self.alpha_label.setText(f"{self.alpha.value()} %")

    def _changed(self, *_):
        self._update_label()
        if self.photo is not None:
            self._timer.start()

    def apply(self) -> bool:
        if self.photo is None:
            return False
        ok = self._preview(self.doc.set_match_photo, self.style())
        if ok and (self.doc.composite_mask() > 0.01).any():
            self.window.controller.harmonize()
        return ok

    def _before_undo(self) -> None:
        self.window.controller.cancel()  # a harmonization of the preview would land after the undo
