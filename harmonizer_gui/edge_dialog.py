"""Mask ▸ Refine edge…, Layer ▸ Defringe… and Layer ▸ Shadow…: a few sliders with a live preview on the
canvas.

Every change re-runs the operation from what the document held when the dialog opened, as one undo step
(harmonizer_gui.preview_dialog: OK keeps it, Cancel undoes it).
"""
from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout

from engine.shadow import ShadowSettings
from harmonizer_gui.preview_dialog import PreviewDialog

PREVIEW_DELAY_MS = 150
TITLES = {"refine": "Refine mask edge", "defringe": "Defringe", "shadow": "Shadow"}
EPS_RANGE = (1e-4, 1e-1)  # guided filter eps, on a log slider


def _slider(lo: int, hi: int, value: int) -> QSlider:
    s = QSlider(Qt.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    s.setMinimumWidth(220)
    return s


class EdgeDialog(PreviewDialog):
    """kind "refine": radius and edge sensitivity for Document.refine_mask_edges; "defringe": width for
    Document.defringe; "shadow": direction, length, softness and opacity for Document.set_shadow."""

    def __init__(self, window, kind: str):
        if kind not in TITLES:
            raise ValueError(kind)
        super().__init__(window, PREVIEW_DELAY_MS)
        self.kind = kind
        self.setWindowTitle(TITLES[kind])
        self._base = {"refine": lambda: self.doc.mask.copy(), "defringe": self.doc.defringe_source,
                      "shadow": lambda: None}[kind]()
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.value_labels = {}
        if kind == "refine":
            layout.addWidget(QLabel("Snaps the mask's edge to the picture's edges nearby."))
            self.radius = _slider(1, 64, 8)
            self.sensitivity = _slider(0, 100, self._eps_to_slider(1e-3))
            self.sensitivity.setToolTip("Left: follow faint edges; right: only strong ones, smoother")
            self._add_row(form, "Radius", self.radius)
            self._add_row(form, "Edge sensitivity", self.sensitivity)
        elif kind == "defringe":
            layout.addWidget(QLabel("Gives the cut-out's rim the object's own colour, removing the old background's."))
            self.width_slider = _slider(1, 16, 3)
            self._add_row(form, "Width", self.width_slider)
        else:
            layout.addWidget(QLabel("Casts the object's shadow on the ground, in the colour of the scene's shadows."))
            s = self.doc.shadow or ShadowSettings()
            self.angle = _slider(0, 359, round(s.angle) % 360)
            self.angle.setToolTip("0° right, 90° away from you, 180° left, 270° towards you")
            self.length = _slider(0, 300, round(s.length * 100))
            self.softness = _slider(0, 50, round(s.softness * 100))
            self.opacity = _slider(0, 100, round(s.opacity * 100))
            for label, slider in (("Direction", self.angle), ("Length", self.length), ("Softness", self.softness),
                                  ("Opacity", self.opacity)):
                self._add_row(form, label, slider)
        layout.addLayout(form)
        self._add_buttons(layout)
        self._update_labels()
        self.apply()  # the preview shows at once

    # -- values ------------------------------------------------------------------------------------------
    @staticmethod
    def _eps_to_slider(eps: float) -> int:
        lo, hi = map(math.log10, EPS_RANGE)
        return round(100 * (math.log10(eps) - lo) / (hi - lo))

    def eps(self) -> float:
        lo, hi = map(math.log10, EPS_RANGE)
        return 10 ** (lo + (hi - lo) * self.sensitivity.value() / 100)

    def _add_row(self, form: QFormLayout, label: str, slider: QSlider) -> None:
        value = QLabel()
        value.setMinimumWidth(56)
        self.value_labels[slider] = value
        slider.valueChanged.connect(self._changed)
        row = QHBoxLayout()
        row.addWidget(slider, 1)
        row.addWidget(value)
        form.addRow(label, row)

    def settings(self) -> ShadowSettings:
        return ShadowSettings(angle=float(self.angle.value()), length=self.length.value() / 100,
                              softness=self.softness.value() / 100, opacity=self.opacity.value() / 100)

    def _update_labels(self) -> None:
        for slider, label in self.value_labels.items():
            if self.kind == "refine" and slider is self.sensitivity:
                label.setText(f"{self.eps():.0e}")
            elif self.kind == "shadow":
                label.setText(f"{slider.value()}°" if slider is self.angle else f"{slider.value()} %")
            else:
                label.setText(f"{slider.value()} px")

    def _changed(self, *_):
        self._update_labels()
        self._timer.start()

    # -- preview, OK, Cancel ---------------------------------------------------------------------------
    def apply(self) -> bool:
        if self.kind == "refine":
            return self._preview(self.doc.refine_mask_edges, self.radius.value(), self.eps(), base=self._base)
        if self.kind == "defringe":
            return self._preview(self.doc.defringe, self.width_slider.value(), base=self._base)
        return self._preview(self.doc.set_shadow, self.settings())
