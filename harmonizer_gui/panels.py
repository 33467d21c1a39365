"""The side panel: harmonize controls, layers, brush and mask overlay. Thin views that follow the
document, the canvas and the harmonize controller, and forward the user's changes to them."""
from __future__ import annotations

import contextlib
import math
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSignalBlocker, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QColorDialog, QComboBox, QFrame, QHBoxLayout, QLabel, QListWidget,
    QListWidgetItem, QProgressBar, QPushButton, QSlider, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from engine.bundled import bundled_dir
from engine.errors import HarmonizerError
from harmonizer_gui.canvas import Canvas
from harmonizer_gui.document import Document
from harmonizer_gui.harmonize_controller import HarmonizeController, model_choices
from harmonizer_gui.tool_settings import BRUSH_MAX, BRUSH_MIN

ICONS = bundled_dir("icons")
THUMB = 44
STALE_COLOR = "#e0a030"  # the out-of-date badge: a warning, not an error
SIZE_STEPS = 1000
PRESSURE_CHOICES = (("Pressure sets size", "size"), ("Pressure sets opacity", "opacity"),
                    ("Pressure sets size and opacity", "both"), ("Pressure ignored", "off"))


def icon(name: str) -> QIcon:
    path = ICONS / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def thumbnail(rgb: np.ndarray, alpha: np.ndarray | None = None) -> QIcon:
    # Striding first keeps a 12 MP layer's thumbnail to a few milliseconds on the UI thread.
    step = max(1, max(rgb.shape[:2]) // (THUMB * 4))
    rgb = rgb[::step, ::step]
    alpha = None if alpha is None else alpha[::step, ::step]
    h, w = rgb.shape[:2]
    scale = THUMB / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    if alpha is not None:
        a = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)[..., None].astype(np.float32) / 255
        small = (small * a + 70 * (1 - a)).astype(np.uint8)  # transparent parts on the panel's grey
    small = np.ascontiguousarray(small)
    image = QImage(small.data, size[0], size[1], 3 * size[0], QImage.Format_RGB888).copy()
    return QIcon(QPixmap.fromImage(image))


def section(title: str) -> QLabel:
    label = QLabel(title.upper())
    label.setObjectName("sectionTitle")
    return label


def slider_row(label: str, slider: QSlider, value_label: QLabel) -> QHBoxLayout:
    row = QHBoxLayout()
    name = QLabel(label)
    name.setMinimumWidth(64)
    row.addWidget(name)
    row.addWidget(slider, 1)
    value_label.setMinimumWidth(44)
    value_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
    row.addWidget(value_label)
    return row


def size_to_slider(size: float) -> int:
    return round(SIZE_STEPS * math.log(size / BRUSH_MIN) / math.log(BRUSH_MAX / BRUSH_MIN))


def slider_to_size(value: int) -> float:
    # Logarithmic: the fine end (1-20 px) gets as much travel as the coarse end.
    return BRUSH_MIN * (BRUSH_MAX / BRUSH_MIN) ** (value / SIZE_STEPS)


@contextlib.contextmanager
def quiet(*widgets):
    """Set widgets from the model without their change signals writing the values back."""
    blockers = [QSignalBlocker(w) for w in widgets]
    try:
        yield
    finally:
        for b in blockers:
            b.unblock()


class SidePanel(QWidget):
    def __init__(self, doc: Document, canvas: Canvas, controller: HarmonizeController, parent=None):
        super().__init__(parent)
        self.setObjectName("sidePanel")
        self.doc, self.canvas, self.controller = doc, canvas, controller
        self.tools = canvas.tools
        self._opacity_fresh = True
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(6)
        self._build_harmonize(layout)
        self._add_rule(layout)
        self._build_layers(layout)
        self._add_rule(layout)
        self._build_brush(layout)
        self._add_rule(layout)
        self._build_overlay(layout)
        layout.addStretch(1)
        self._thumb_timer = QTimer(self, singleShot=True, interval=400)
        self._thumb_timer.timeout.connect(self.refresh_layers)
        doc.events.layers.connect(self.refresh_layers)
        doc.events.result.connect(self._on_result)
        doc.events.history.connect(self._thumb_timer.start)
        doc.events.strength.connect(self._on_strength)
        self.tools.events.brush.connect(self._sync_brush)
        self.tools.events.tool.connect(self._sync_brush)
        self.tools.events.overlay.connect(self.sync_overlay)
        controller.busy_changed.connect(self._on_busy)
        controller.progress.connect(self._on_progress)
        controller.model_changed.connect(self._on_model_changed)
        self.refresh_models()
        self.refresh_layers()
        self._sync_brush()
        self._on_busy(False)

    @staticmethod
    def _add_rule(layout) -> None:
        rule = QFrame()
        rule.setFrameShape(QFrame.HLine)
        rule.setObjectName("rule")
        layout.addSpacing(4)
        layout.addWidget(rule)
        layout.addSpacing(2)

    # -- harmonize -------------------------------------------------------------------------------------
    def _build_harmonize(self, layout) -> None:
        layout.addWidget(section("Harmonize"))
        row = QHBoxLayout()
        row.addWidget(QLabel("Model"))
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The network that harmonizes, or the classical colour transfer")
        self.model_combo.activated.connect(self._on_model_picked)
        row.addWidget(self.model_combo, 1)
        layout.addLayout(row)
        self.device_label = QLabel("Device: loading…")
        self.device_label.setObjectName("dimLabel")
        layout.addWidget(self.device_label)
        self.harmonize_button = QPushButton(icon("harmonize"), "  Harmonize")
        self.harmonize_button.setObjectName("harmonizeButton")
        self.harmonize_button.setToolTip("Harmonize the foreground with the background (Ctrl+H)")
        self.harmonize_button.setIconSize(QSize(20, 20))
        self.harmonize_button.setMinimumHeight(36)
        self.harmonize_button.clicked.connect(self.controller.harmonize)
        layout.addWidget(self.harmonize_button)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        row.addWidget(self.progress, 1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop harmonizing (Esc); the picture stays as it was")
        self.cancel_button.clicked.connect(self.controller.cancel)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.strength = QSlider(Qt.Horizontal)
        self.strength.setRange(0, 100)
        self.strength.setValue(round(self.doc.strength * 100))
        self.strength.setToolTip("How far the result moves from the original; applies instantly")
        self.strength_label = QLabel()
        self.strength.valueChanged.connect(self._on_strength_slider)
        layout.addLayout(slider_row("Strength", self.strength, self.strength_label))
        self._on_strength(self.doc.strength)
        self.live = QCheckBox("Live: harmonize again after each change")
        self.live.setToolTip("Re-run shortly after the foreground moves or the mask is painted")
        self.live.toggled.connect(self.controller.set_live)
        layout.addWidget(self.live)

    def refresh_models(self) -> None:
        current = self.controller.loaded_model or self.doc.model
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for label, value in model_choices():
            self.model_combo.addItem(label, value)
        if self.model_combo.findData(current) < 0 and current:
            self.model_combo.addItem(Path(current).stem if current.endswith(".safetensors") else current, current)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(current)))
        self.model_combo.blockSignals(False)

    def _on_model_picked(self, index: int) -> None:
        self.controller.select_model(self.model_combo.itemData(index))

    def _on_model_changed(self, value: str, label: str, device: str) -> None:
        self.refresh_models()
        self.device_label.setText(f"Device: {device}")

    def _on_busy(self, busy: bool) -> None:
        running = self.controller.running
        self.cancel_button.setEnabled(running)
        self.progress.setEnabled(running)
        if not running:  # an empty box beside Cancel read as broken; say what it is waiting for
            self.progress.setValue(0)
            self.progress.setFormat("Ready")
        stale = self.doc.result is not None and self.doc.result_stale
        label = ("Harmonizing…" if running else "Loading model…" if self.controller.loading
                 else "Harmonize again" if stale else "Harmonize")
        self.harmonize_button.setText("  " + label)

    def _on_progress(self, fraction: float, stage: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.progress.setFormat(stage)

    def _on_strength_slider(self, value: int) -> None:
        self.strength_label.setText(f"{value} %")
        self.doc.set_strength(value / 100)

    def _on_strength(self, value: float) -> None:
        with quiet(self.strength):
            self.strength.setValue(round(value * 100))
        self.strength_label.setText(f"{round(value * 100)} %")

    # -- layers ----------------------------------------------------------------------------------------
    def _build_layers(self, layout) -> None:
        layout.addWidget(section("Layers"))
        self.layers = QListWidget()
        self.layers.setIconSize(QSize(THUMB, THUMB))
        self.layers.setObjectName("layerList")
        self.layers.setFixedHeight(3 * (THUMB + 10) + 6)
        self.layers.itemChanged.connect(self._on_layer_item_changed)
        layout.addWidget(self.layers)
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("Opacity of the foreground layer")
        self.opacity_label = QLabel()
        self.opacity.valueChanged.connect(self._on_opacity_slider)
        self.opacity.sliderPressed.connect(self._opacity_pressed)
        layout.addLayout(slider_row("Opacity", self.opacity, self.opacity_label))

    def _on_result(self) -> None:
        self.refresh_layers()
        self._on_busy(self.controller.busy)

    def refresh_layers(self) -> None:
        doc = self.doc
        self.layers.blockSignals(True)
        self.layers.clear()
        if doc.result is not None:
            label = "Harmonized\n⚠ out of date" if doc.result_stale else "Harmonized"
            item = QListWidgetItem(thumbnail(doc.result), label)
            item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsUserCheckable | Qt.ItemIsSelectable)
            item.setCheckState(Qt.Checked if doc.result_visible else Qt.Unchecked)
            item.setToolTip("The mask was painted since this result: Harmonize (Ctrl+H) updates it"
                            if doc.result_stale else "The harmonized result (untick to hide it; hold Y to compare)")
            if doc.result_stale:
                item.setForeground(QColor(STALE_COLOR))
            item.setData(Qt.UserRole, "result")
            self.layers.addItem(item)
        if doc.foreground is not None:
            item = QListWidgetItem(thumbnail(doc.foreground, doc.fg_alpha), f"{doc.fg_name or 'Foreground'}\nwith mask")
            item.setToolTip("The cut-out with its layer mask (Ctrl+T to transform)")
            self.layers.addItem(item)
        if doc.shadow is not None and doc.background is not None:
            alpha, tint = doc.shadow_alpha()
            shade = np.empty(alpha.shape + (3,), np.uint8)
            shade[:] = np.clip(tint * 255, 0, 255).astype(np.uint8)
            item = QListWidgetItem(thumbnail(shade, (alpha * 255).astype(np.uint8)), "Shadow\nmultiply")
            item.setToolTip("The object's shadow (Layer ▸ Shadow… changes it, Layer ▸ Remove shadow drops it)")
            self.layers.addItem(item)
        if doc.background is not None:
            item = QListWidgetItem(thumbnail(doc.background), doc.bg_name or "Background")
            item.setToolTip("The background: it defines the canvas size")
            self.layers.addItem(item)
        self.layers.blockSignals(False)
        self.opacity.setEnabled(doc.foreground is not None)
        with quiet(self.opacity):
            self.opacity.setValue(round(doc.opacity * 100))
        self.opacity_label.setText(f"{round(doc.opacity * 100)} %")

    def _on_layer_item_changed(self, item) -> None:
        if item.data(Qt.UserRole) == "result":
            self.doc.set_result_visible(item.checkState() == Qt.Checked)

    def _opacity_pressed(self) -> None:
        self._opacity_fresh = True

    def _on_opacity_slider(self, value: int) -> None:
        self.opacity_label.setText(f"{value} %")
        if self.doc.foreground is None:
            return
        # One undo step per drag: the first change opens it, the rest of the drag folds into it.
        self.doc.set_opacity(value / 100, merge=not self._opacity_fresh)
        self._opacity_fresh = False

    # -- brush -----------------------------------------------------------------------------------------
    def _build_brush(self, layout) -> None:
        layout.addWidget(section("Brush"))
        self._build_target(layout)
        self.brush_button, self.eraser_button = self._choice_row(layout, [
            ("Brush", "Paint (B)", "brush", lambda: self.tools.set_tool("brush")),
            ("Eraser", "Erase (E); X swaps", "eraser", lambda: self.tools.set_tool("eraser")),
        ])
        self.size_slider = QSlider(Qt.Horizontal)
        self.size_slider.setRange(0, SIZE_STEPS)
        self.size_slider.setToolTip("Brush diameter in image pixels ([ and ])")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(int(BRUSH_MIN), int(BRUSH_MAX))
        self.size_spin.setSuffix(" px")
        self.size_spin.setKeyboardTracking(False)
        self.size_spin.setFixedWidth(88)
        self.size_slider.valueChanged.connect(self._on_size_slider)
        self.size_spin.valueChanged.connect(self._on_size_spin)
        size_row = QHBoxLayout()
        label = QLabel("Size")
        label.setMinimumWidth(64)
        size_row.addWidget(label)
        size_row.addWidget(self.size_slider, 1)
        size_row.addWidget(self.size_spin)
        layout.addLayout(size_row)
        self.hardness = QSlider(Qt.Horizontal)
        self.hardness.setRange(0, 100)
        self.hardness.setToolTip("Edge hardness (Shift+[ and Shift+])")
        self.hardness_label = QLabel()
        self.hardness.valueChanged.connect(self._on_hardness)
        layout.addLayout(slider_row("Hardness", self.hardness, self.hardness_label))
        self.pressure_combo = QComboBox()
        for label, mode in PRESSURE_CHOICES:
            self.pressure_combo.addItem(label, mode)
        self.pressure_combo.setToolTip("What a tablet pen's pressure changes (a mouse always paints fully)")
        self.pressure_combo.activated.connect(
            lambda i: self.tools.set_brush(pressure=self.pressure_combo.itemData(i)))
        row = QHBoxLayout()
        label = QLabel("Pen")
        label.setMinimumWidth(64)
        row.addWidget(label)
        row.addWidget(self.pressure_combo, 1)
        layout.addLayout(row)

    def _build_target(self, layout) -> None:
        """What the brush paints: the mask, or the reference area; and whether harmonizing follows it."""
        self.mask_target, self.reference_target = self._choice_row(layout, [
            ("Mask", "The brush paints the object's mask (R switches)", None, lambda: self.tools.set_target("mask")),
            ("Reference area", "The brush paints the part of the scene whose light the object should take "
             "(R switches)", None, lambda: self.tools.set_target("reference")),
        ])
        self.match_check = QCheckBox("Match reference area  (Shift+R)")
        self.match_check.setToolTip("Harmonize towards the reference area's light instead of the whole background's")
        self.match_check.toggled.connect(self._on_match_toggled)
        layout.addWidget(self.match_check)
        self.tools.events.target.connect(self._sync_target)
        self.doc.events.reference.connect(self._sync_target)
        self._sync_target()

    def _choice_row(self, layout, specs) -> list[QToolButton]:
        """A row of exclusive buttons, one per (text, tooltip, icon name or None, slot)."""
        row = QHBoxLayout()
        group = QButtonGroup(self)
        buttons = []
        for text, tip, icon_name, slot in specs:
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setMinimumHeight(30 if icon_name else 26)
            if icon_name:
                button.setIcon(icon(icon_name))
                button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
                button.setIconSize(QSize(18, 18))
            button.clicked.connect(slot)
            group.addButton(button)
            row.addWidget(button, 1)
            buttons.append(button)
        layout.addLayout(row)
        return buttons

    def _sync_target(self, *_):
        self.mask_target.setChecked(self.tools.target == "mask")
        self.reference_target.setChecked(self.tools.target == "reference")
        with quiet(self.match_check):
            self.match_check.setChecked(self.doc.match_reference)

    def _on_match_toggled(self, on: bool) -> None:
        try:
            self.doc.set_match_reference(on)
        except HarmonizerError as exc:
            with quiet(self.match_check):
                self.match_check.setChecked(self.doc.match_reference)
            self.controller.message.emit(str(exc), True)

    def _sync_brush(self, *_):
        b, tool = self.tools.brush, self.tools.tool
        with quiet(self.size_slider, self.size_spin, self.hardness, self.pressure_combo):
            self.size_slider.setValue(size_to_slider(b.size))
            self.size_spin.setValue(round(b.size))
            self.hardness.setValue(round(b.hardness * 100))
            self.pressure_combo.setCurrentIndex(max(0, self.pressure_combo.findData(b.pressure)))
        self.hardness_label.setText(f"{round(b.hardness * 100)} %")
        self.brush_button.setChecked(tool == "brush")
        self.eraser_button.setChecked(tool == "eraser")

    def _on_size_slider(self, value: int) -> None:
        self.tools.set_brush(size=round(slider_to_size(value)))

    def _on_size_spin(self, value: int) -> None:
        self.tools.set_brush(size=value)

    def _on_hardness(self, value: int) -> None:
        self.hardness_label.setText(f"{value} %")
        self.tools.set_brush(hardness=value / 100)

    # -- overlay ---------------------------------------------------------------------------------------
    def _build_overlay(self, layout) -> None:
        layout.addWidget(section("Mask overlay"))
        row = QHBoxLayout()
        self.overlay_check = QCheckBox("Show mask  (M)")
        self.overlay_check.toggled.connect(lambda on: self.tools.set_overlay(visible=on))
        row.addWidget(self.overlay_check, 1)
        self.color_button = QPushButton()
        self.color_button.setObjectName("colorButton")
        self.color_button.setFixedSize(34, 22)
        self.color_button.setToolTip("Overlay colour")
        self.color_button.clicked.connect(self._pick_color)
        row.addWidget(self.color_button)
        layout.addLayout(row)
        self.overlay_opacity = QSlider(Qt.Horizontal)
        self.overlay_opacity.setRange(5, 100)
        self.overlay_opacity_label = QLabel()
        self.overlay_opacity.valueChanged.connect(self._on_overlay_opacity)
        self.overlay_opacity.sliderReleased.connect(
            lambda: self.tools.set_overlay(opacity=self.overlay_opacity.value() / 100))
        layout.addLayout(slider_row("Opacity", self.overlay_opacity, self.overlay_opacity_label))
        self.sync_overlay()

    def sync_overlay(self) -> None:
        t = self.tools
        with quiet(self.overlay_check, self.overlay_opacity):
            self.overlay_check.setChecked(t.overlay_visible)
            self.overlay_opacity.setValue(round(t.overlay_opacity * 100))
        self.overlay_opacity_label.setText(f"{round(t.overlay_opacity * 100)} %")
        r, g, b = t.overlay_color
        self.color_button.setStyleSheet(f"background-color: rgb({r},{g},{b}); border: 1px solid #888;")

    def _on_overlay_opacity(self, value: int) -> None:
        self.overlay_opacity_label.setText(f"{value} %")
        # Re-tinting a 12 MP canvas on every tick of a drag would stutter: apply on release (or a click).
        if not self.overlay_opacity.isSliderDown():
            self.tools.set_overlay(opacity=value / 100)

    def _pick_color(self) -> None:
        color = QColorDialog.getColor(QColor(*self.tools.overlay_color), self, "Mask overlay colour")
        if color.isValid():
            self.tools.set_overlay(color=(color.red(), color.green(), color.blue()))
