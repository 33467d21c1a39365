"""The canvas: shows the document, paints the mask, transforms the foreground, compares before/after.

A thin view over `Document`. What it shows is kept in `CanvasImage` buffers that are updated box by
box from the document's `changed(box)` events, so a brush stroke on a 12 MP picture touches only the
dab's pixels. The transform tool previews with QPainter transforms (no re-rendering per mouse move)
and hands the document one transform on Enter.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QWidget

from harmonizer_gui.canvas_display import Display
from harmonizer_gui.canvas_image import CanvasImage
from harmonizer_gui.canvas_keys import SpaceToCanvas
from harmonizer_gui.canvas_tablet import CanvasTablet
from harmonizer_gui.canvas_painting import CanvasPainting
from harmonizer_gui.canvas_shadow import CanvasShadow
from harmonizer_gui.document import Brush, Document
from harmonizer_gui.tool_settings import ToolSettings
from harmonizer_gui.transform_tool import TransformTool

ZOOM_MIN, ZOOM_MAX = 0.02, 32.0
ZOOM_STEP = 1.25
FIT_MARGIN = 24
CURSORS = {"move": Qt.SizeAllCursor, "rotate": Qt.CrossCursor, "n": Qt.SizeVerCursor, "s": Qt.SizeVerCursor,
           "e": Qt.SizeHorCursor, "w": Qt.SizeHorCursor, "nw": Qt.SizeFDiagCursor, "se": Qt.SizeFDiagCursor,
           "ne": Qt.SizeBDiagCursor, "sw": Qt.SizeBDiagCursor}


class Canvas(CanvasPainting, CanvasTablet, CanvasShadow, QWidget):
    zoom_changed = Signal(float)
    cursor_moved = Signal(int, int)         # canvas pixel under the pointer, (-1, -1) outside
    stroke_finished = Signal()
    transform_mode_changed = Signal(bool)
    shadow_mode_changed = Signal(bool)
    view_mode_changed = Signal(str)         # "normal", "before" (key held) or "split"

    def __init__(self, doc: Document, tools: ToolSettings | None = None, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.tools = tools or ToolSettings()
        self.zoom = 1.0
        self.offset = (0.0, 0.0)
        self.fit_mode = True  # keep fitting on resize until the user zooms
        self.display = Display(doc, self.tools, self)
        self.display.updated.connect(self._on_display_updated)
        self.split = False
        self.split_pos = 0.5
        self._holding_before = False
        self._space = False
        self._pan = None
        self._painting = False
        self._split_drag = False
        self._pointer: QPointF | None = None
        self._tool: TransformTool | None = None
        self._preview = None  # (QImage, its array, reduction factor) of the foreground while transforming
        self._preview_bg: CanvasImage | None = None
        self._init_shadow_mode()
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WA_OpaquePaintEvent)
        self._space_router = SpaceToCanvas(self)
        self.tools.events.tool.connect(self._on_tool)
        self.tools.events.brush.connect(self.update)  # the outline's size and hardness
        self.tools.events.target.connect(lambda _target: self.update())  # the outline's colour
        doc.events.changed.connect(self._on_changed)
        doc.events.layers.connect(self._on_layers)
        self._on_layers()

    # -- coordinates -----------------------------------------------------------------------------------
    def to_canvas(self, pos: QPointF) -> tuple[float, float]:
        """Widget position -> canvas coordinates with pixel centres at integers."""
        return (pos.x() - self.offset[0]) / self.zoom - 0.5, (pos.y() - self.offset[1]) / self.zoom - 0.5

    def to_widget(self, x: float, y: float) -> QPointF:
        return QPointF((x + 0.5) * self.zoom + self.offset[0], (y + 0.5) * self.zoom + self.offset[1])

    def box_rect(self, box) -> QRectF:
        x0, y0, x1, y1 = box
        return QRectF(x0 * self.zoom + self.offset[0] - 2, y0 * self.zoom + self.offset[1] - 2,
                      (x1 - x0) * self.zoom + 4, (y1 - y0) * self.zoom + 4)

    # -- document -> pixels ----------------------------------------------------------------------------
    @property
    def after(self) -> CanvasImage:
        return self.display.after

    @property
    def before(self) -> CanvasImage | None:
        return self.display.before

    def flush(self) -> None:
        """Bring the shown pixels fully up to date now (they otherwise catch up band by band)."""
        self.display.flush()
        self.update()

    def _on_display_updated(self, box) -> None:
        self.update(self.box_rect(box).toAlignedRect())

    def _on_layers(self) -> None:
        self.cancel_transform()
        self.display.reset()
        if self.split or self._holding_before:
            self.display.need_before()
        self.fit()

    def _on_changed(self, box) -> None:
        if self.doc.background is None or self.after.size != self.doc.canvas_size:
            self._on_layers()
            return
        if self._tool is not None and not self.doc.stroking:
            self.cancel_transform()  # an undo or a file under a pending transform: the preview is stale
        if self._shadow is not None and not self._shadow_drag:
            self._follow_document_shadow()  # an undo, or the object moved: the handles follow
        self.display.refresh(box)

    # -- view ------------------------------------------------------------------------------------------
    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        zoom = min(ZOOM_MAX, max(ZOOM_MIN, zoom))
        anchor = anchor or QPointF(self.width() / 2, self.height() / 2)
        # Keep the canvas point under the anchor where it is.
        cx = (anchor.x() - self.offset[0]) / self.zoom
        cy = (anchor.y() - self.offset[1]) / self.zoom
        self.zoom = zoom
        self.offset = (anchor.x() - cx * zoom, anchor.y() - cy * zoom)
        self.fit_mode = False
        self._preview = None
        self.zoom_changed.emit(self.zoom)
        self.update()

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / ZOOM_STEP)

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def fit(self) -> None:
        self.fit_mode = True
        size = self.doc.canvas_size
        if size is None:
            self.zoom, self.offset = 1.0, (0.0, 0.0)
        else:
            w, h = size
            avail_w, avail_h = max(1, self.width() - 2 * FIT_MARGIN), max(1, self.height() - 2 * FIT_MARGIN)
            self.zoom = min(ZOOM_MAX, max(ZOOM_MIN, min(avail_w / w, avail_h / h)))
            self.offset = ((self.width() - w * self.zoom) / 2, (self.height() - h * self.zoom) / 2)
        self._preview = None
        self.zoom_changed.emit(self.zoom)
        self.update()

    def resizeEvent(self, event) -> None:
        if self.fit_mode:
            self.fit()
        super().resizeEvent(event)

    def set_split(self, on: bool) -> None:
        self.split = bool(on)
        if self.split:
            self.display.need_before()
        self.view_mode_changed.emit(self.view_mode)
        self.update()

    def hold_before(self, on: bool) -> None:
        """Show the composite without the result while `on` (a held key)."""
        if on:
            self.display.need_before()
        self._holding_before = bool(on)
        self.view_mode_changed.emit(self.view_mode)
        self.update()

    @property
    def view_mode(self) -> str:
        return "before" if self._holding_before else ("split" if self.split else "normal")

    # -- tools (their settings live in self.tools) ------------------------------------------------------
    @property
    def brush(self) -> Brush:
        return self.tools.brush

    @property
    def tool(self) -> str:
        return self.tools.tool

    def _on_tool(self, _tool: str) -> None:
        self._update_cursor()
        self.update()

    # -- transform mode --------------------------------------------------------------------------------
    @property
    def transforming(self) -> bool:
        return self._tool is not None

    def begin_transform(self) -> bool:
        if self._tool is not None or not self.doc.has_foreground:
            return False
        self._tool = TransformTool(self.doc.transform, self.doc.fg_size)
        self._preview_bg = CanvasImage(self.doc.background)
        self._preview = None
        self.setFocus()
        self.transform_mode_changed.emit(True)
        self._update_cursor()
        self.update()
        return True

    def commit_transform(self) -> None:
        tool, self._tool = self._tool, None
        self._end_transform()
        if tool is not None and tool.current != self.doc.transform:
            self.doc.set_transform(tool.current)

    def cancel_transform(self) -> None:
        if self._tool is not None:
            self._tool = None
            self._end_transform()

    def _end_transform(self) -> None:
        self._preview = self._preview_bg = None
        self.transform_mode_changed.emit(False)
        self._update_cursor()
        self.update()

    # -- input -----------------------------------------------------------------------------------------
    def _update_cursor(self) -> None:
        if self._pan is not None:
            self.setCursor(Qt.ClosedHandCursor)
        elif self._space:
            self.setCursor(Qt.OpenHandCursor)
        elif self._tool is not None:
            kind = self._tool.hit(*self.to_canvas(self._pointer), self.zoom) if self._pointer else ""
            self.setCursor(CURSORS.get(kind, Qt.ArrowCursor))
        elif self._shadow is not None:
            self.setCursor(self._shadow_cursor(self._pointer))
        elif self.split and self._pointer is not None and abs(self._pointer.x() - self.width() * self.split_pos) < 6:
            self.setCursor(Qt.SplitHCursor)
        else:
            self.setCursor(Qt.BlankCursor if self.doc.background is not None else Qt.ArrowCursor)

    @property
    def pointer_inside(self) -> bool:
        return self._pointer is not None

    @property
    def space_held(self) -> bool:
        return self._space

    def hold_space(self, on: bool) -> None:
        """Space down: the left button pans instead of painting (see canvas_keys for the routing)."""
        self._space = bool(on)
        if not on:
            self._pan = None
        self._update_cursor()
        self.update()

    def _near_split(self, pos: QPointF) -> bool:
        return self.split and abs(pos.x() - self.width() * self.split_pos) < 6

    def mousePressEvent(self, event) -> None:
        pos = event.position()
        self.setFocus()
        if event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton and self._space):
            self._pan = (pos, self.offset)
            self._update_cursor()
            self.update()
        elif event.button() == Qt.LeftButton and self._tool is not None:
            self._tool.press(self._tool.hit(*self.to_canvas(pos), self.zoom), *self.to_canvas(pos))
        elif event.button() == Qt.LeftButton and self._shadow is not None:
            self._shadow_press(pos)  # only the handles take a press: no painting in this mode
        elif event.button() == Qt.LeftButton and self._near_split(pos):
            self._split_drag = True
        elif event.button() == Qt.LeftButton and self.doc.background is not None:
            self._begin_painting(pos)
        event.accept()

    def _may_paint_at(self, pos: QPointF) -> bool:
        """A left press here would paint: no pan, transform, shadow handle or split drag takes it."""
        return not (self._space or self._tool is not None or self._shadow is not None or self._near_split(pos)
                    or self.doc.background is None)

    def _begin_painting(self, pos: QPointF, pressure: float = 1.0) -> None:
        self.doc.begin_stroke(self.tools.stroke_brush(), self.tools.target)
        self._painting = True
        self.doc.stroke_to(*self.to_canvas(pos), pressure)

    def _end_painting(self) -> None:
        self._painting = False
        self.doc.end_stroke()
        self.stroke_finished.emit()
        self._update_cursor()
        self.update()

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        old = self._cursor_rect()
        self._pointer = pos
        x, y = self.to_canvas(pos)
        size = self.doc.canvas_size
        inside = size is not None and -0.5 <= x < size[0] - 0.5 and -0.5 <= y < size[1] - 0.5
        self.cursor_moved.emit(int(round(x)) if inside else -1, int(round(y)) if inside else -1)
        if self._pan is not None:
            start, (ox, oy) = self._pan
            self.offset = (ox + pos.x() - start.x(), oy + pos.y() - start.y())
            self.fit_mode = False
            self.update()
            return
        if self._tool is not None:
            if self._tool.dragging:
                self._tool.drag(x, y, bool(event.modifiers() & Qt.ShiftModifier))
                self.update()
            else:
                self._update_cursor()
            return
        if self._shadow is not None:
            self._shadow_move(pos)
            self._update_cursor()
            return
        if self._split_drag:
            self.split_pos = min(0.98, max(0.02, pos.x() / max(1, self.width())))
            self.update()
            return
        if self._painting:
            self.doc.stroke_to(x, y)
        self._update_cursor()
        self.update(old.united(self._cursor_rect()).toAlignedRect())

    def mouseReleaseEvent(self, event) -> None:
        if self._pan is not None and event.button() in (Qt.MiddleButton, Qt.LeftButton):
            self._pan = None
        elif self._tool is not None:
            self._tool.release()
        elif self._shadow is not None:
            self._shadow_release()
        elif self._split_drag:
            self._split_drag = False
        elif self._painting and event.button() == Qt.LeftButton:
            self._end_painting()
            return
        self._update_cursor()
        self.update()

    def leaveEvent(self, event) -> None:
        old = self._cursor_rect()
        self._pointer = None
        self.cursor_moved.emit(-1, -1)
        self.update(old.toAlignedRect())

    def enterEvent(self, event) -> None:
        # Hold-keys (Space, Y) need the keyboard; painters expect it to follow the pointer.
        if not self.hasFocus() and self.window().isActiveWindow():
            self.setFocus()

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta()
        if event.modifiers() & Qt.ControlModifier:
            steps = delta.y() / 120.0
            if steps:
                self.set_zoom(self.zoom * ZOOM_STEP ** steps, event.position())
        else:
            pixels = event.pixelDelta()
            dx, dy = (pixels.x(), pixels.y()) if not pixels.isNull() else (delta.x() / 2, delta.y() / 2)
            if event.modifiers() & Qt.ShiftModifier:
                dx, dy = dy, dx
            self.offset = (self.offset[0] + dx, self.offset[1] + dy)
            self.fit_mode = False
            self.update()
        event.accept()

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key == Qt.Key_Space and not event.isAutoRepeat():
            self.hold_space(True)
        elif key == Qt.Key_Y and not event.isAutoRepeat() and not event.modifiers():
            self.hold_before(True)
        elif key in (Qt.Key_Return, Qt.Key_Enter) and self._tool is not None:
            self.commit_transform()
        elif key == Qt.Key_Escape and self._tool is not None:
            self.cancel_transform()
        elif key in (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Escape) and self._shadow is not None:
            self.end_shadow_edit()
        elif key == Qt.Key_Space or key == Qt.Key_Y:
            pass  # auto-repeat of a held key
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.isAutoRepeat():
            return
        if event.key() == Qt.Key_Space:
            self.hold_space(False)
        elif event.key() == Qt.Key_Y:
            self.hold_before(False)
        else:
            super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        # A key released while another widget had focus must not leave the canvas stuck in a mode.
        if self._holding_before:
            self.hold_before(False)
        self._space = False
        super().focusOutEvent(event)
