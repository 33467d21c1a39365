"""Layout pieces the Tools dialogs share so that they fit a 1366x768 laptop screen: a scrolling body
above a fixed button row, a section that folds away, and a first size capped by the screen.

A dialog whose content decides its minimum height either grows off the screen (Start and Close out of
reach) or, when the window manager refuses, squashes its fields into each other. In a scroll area the
content keeps its own height and the window only scrolls it.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QScrollArea, QSizePolicy, QToolButton, QVBoxLayout, QWidget

BODY_NAME = "dialogBody"
# Room a desktop keeps for its panel and the window's title bar.
SCREEN_MARGIN = (40, 80)


def scrolling(body: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setObjectName(BODY_NAME)
    area.setWidget(body)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
    return area


def fit_to_screen(widget: QWidget, width: int, height: int) -> None:
    """Resize to (width, height), or less where the screen is smaller."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        avail = screen.availableGeometry()
        width = min(width, avail.width() - SCREEN_MARGIN[0])
        height = min(height, avail.height() - SCREEN_MARGIN[1])
    widget.resize(width, height)


class Section(QWidget):
    """A titled part of a dialog that the user (or the dialog) can fold down to its title."""

    def __init__(self, title: str, body: QWidget, parent=None):
        super().__init__(parent)
        self.body = body
        self.header = QToolButton(text=title, checkable=True, checked=True)
        self.header.setObjectName("sectionHeader")
        self.header.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.header.setArrowType(Qt.DownArrow)
        self.header.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.header.toggled.connect(self._show_body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(body)

    @property
    def expanded(self) -> bool:
        return self.header.isChecked()

    def set_expanded(self, on: bool) -> None:
        self.header.setChecked(on)

    def _show_body(self, on: bool) -> None:
        self.body.setVisible(on)
        self.header.setArrowType(Qt.DownArrow if on else Qt.RightArrow)
