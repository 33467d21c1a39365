"""Canvas navigation (zoom about the pointer, pan, fit, 100 %), the split view and the transform tool's
geometry (rotate with snapping, scale about the opposite handle)."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QLabel  # noqa: E402

from harmonizer_gui.canvas_image import CanvasImage, reduction_for  # noqa: E402
from harmonizer_gui.transform import Transform  # noqa: E402
from harmonizer_gui.transform import apply as apply_matrix  # noqa: E402
from harmonizer_gui.transform_tool import TransformTool  # noqa: E402
from test_gui_editor import composed, drag, env, images, window  # noqa: E402,F401


def wheel(canvas, pos: QPointF, dy: int, modifiers=Qt.NoModifier):
    event = QWheelEvent(pos, canvas.mapToGlobal(pos), QPoint(), QPoint(0, dy), Qt.NoButton, modifiers,
                        Qt.NoScrollPhase, False)
    canvas.wheelEvent(event)


def test_ctrl_wheel_zooms_about_the_pointer(composed):
    canvas = composed.canvas
    pos = canvas.to_widget(60, 40)
    before = canvas.to_canvas(pos)
    zoom = canvas.zoom
    wheel(canvas, pos, 240, Qt.ControlModifier)
    assert canvas.zoom == pytest.approx(zoom * 1.25 ** 2)
    assert canvas.to_canvas(pos) == pytest.approx(before, abs=1e-6)
    assert composed.zoom_label.text() == f"{canvas.zoom * 100:.0f} %"
    wheel(canvas, pos, -120)  # without Ctrl the wheel scrolls
    assert canvas.zoom == pytest.approx(zoom * 1.25 ** 2) and canvas.to_canvas(pos)[1] > before[1]


def test_keys_zoom_fit_and_actual_pixels(qtbot, composed):
    canvas = composed.canvas
    fit = canvas.zoom
    qtbot.keyClick(canvas, Qt.Key_1, Qt.ControlModifier)
    assert canvas.zoom == 1.0
    qtbot.keyClick(canvas, Qt.Key_Equal, Qt.ControlModifier)
    assert canvas.zoom == pytest.approx(1.25)
    qtbot.keyClick(canvas, Qt.Key_Minus, Qt.ControlModifier)
    assert canvas.zoom == pytest.approx(1.0)
    qtbot.keyClick(canvas, Qt.Key_0, Qt.ControlModifier)
    assert canvas.zoom == pytest.approx(fit) and canvas.fit_mode
    w, h = composed.doc.canvas_size
    left, top = canvas.to_widget(-0.5, -0.5).x(), canvas.to_widget(-0.5, -0.5).y()
    assert left >= 0 and top >= 0 and left + w * canvas.zoom <= canvas.width() + 1


def test_middle_drag_and_space_drag_pan_without_painting(qtbot, composed):
    canvas, doc = composed.canvas, composed.doc
    mask = doc.mask.copy()
    start = canvas.offset
    drag(qtbot, canvas, [(50, 50), (70, 60)], button=Qt.MiddleButton)
    moved = canvas.offset
    assert moved[0] - start[0] == pytest.approx(20 * canvas.zoom, abs=1.5)
    qtbot.keyPress(canvas, Qt.Key_Space)
    drag(qtbot, canvas, [(100, 75), (80, 75)])
    qtbot.keyRelease(canvas, Qt.Key_Space)
    assert canvas.offset[0] < moved[0]
    assert np.array_equal(doc.mask, mask) and not doc.history.undo_label.startswith("Paint")


def test_split_view_shows_before_on_the_left(qtbot, composed):
    from test_gui_editor import harmonize

    assert harmonize(qtbot, composed)
    canvas = composed.canvas
    qtbot.keyClick(canvas, Qt.Key_S)
    assert canvas.view_mode == "split" and composed.split_action.isChecked()
    canvas.flush()
    assert np.array_equal(canvas.before.rgb, canvas.display.pixels((0, 0, 200, 150), False))
    assert not np.array_equal(canvas.before.rgb, canvas.after.rgb)
    shot = canvas.grab().toImage()
    x = int(canvas.width() * canvas.split_pos)
    assert shot.pixelColor(x, canvas.height() // 2).lightness() > 200  # the dividing line


def test_canvas_image_reduction_tracks_updates():
    rgb = np.zeros((64, 96, 3), np.uint8)
    image = CanvasImage(rgb)
    assert reduction_for(1.0) == 1 and reduction_for(0.3) == 2 and reduction_for(0.1) == 8
    qimage, factor = image._level(4)
    assert factor == 4 and (qimage.width(), qimage.height()) == (24, 16)
    image.write((8, 8, 16, 16), np.full((8, 8, 3), 200, np.uint8))
    assert tuple(image._mip[2, 2]) == (200, 200, 200) and tuple(image._mip[5, 5]) == (0, 0, 0)


def test_transform_tool_rotates_and_scales_about_the_opposite_corner():
    t0 = Transform(cx=100.0, cy=80.0, sx=1.0, sy=1.0)
    tool = TransformTool(t0, (40, 20))
    handles = tool.handle_points()
    assert handles["nw"] == pytest.approx((80, 70)) and handles["se"] == pytest.approx((120, 90))  # outer edges
    assert tool.hit(100, 80, zoom=1.0) == "move" and tool.hit(*handles["ne"], zoom=1.0) == "ne"
    assert tool.hit(131, 101, zoom=1.0) == "rotate" and tool.hit(300, 300, zoom=1.0) == ""
    nw = handles["nw"]
    tool.press("se", *handles["se"])
    t = tool.drag(handles["se"][0] + 40, handles["se"][1] + 10)
    assert (t.sx, t.sy) == pytest.approx((2.0, 1.5))
    assert tool.handle_points()["nw"] == pytest.approx(nw)  # the anchor stayed put
    tool.drag(handles["se"][0] + 40, handles["se"][1] + 10, keep_aspect=True)
    assert tool.current.sx == pytest.approx(tool.current.sy)
    tool.release()
    cx, cy = tool.current.cx, tool.current.cy
    tool.press("rotate", cx + 60, cy)  # due east of the centre
    t = tool.drag(cx, cy + 120)  # due south: a quarter turn clockwise
    assert t.angle == pytest.approx(90.0, abs=1e-6)
    t = tool.drag(cx + 10, cy + 120, keep_aspect=True)
    assert t.angle % 15 == pytest.approx(0.0, abs=1e-9)
    m = t.matrix((40, 20))
    centre = apply_matrix(m, [(19.5, 9.5)])[0]
    assert centre == pytest.approx((t.cx, t.cy)) and math.isfinite(t.sx)


def test_space_drag_pans_while_the_pointer_is_over_the_canvas_whatever_has_focus(qtbot, composed):
    canvas, doc, live = composed.canvas, composed.doc, composed.panel.live
    mask = doc.mask.copy()
    qtbot.mouseMove(canvas, canvas.to_widget(100, 75).toPoint())
    live.setFocus()  # the last click was in the side panel
    start = canvas.offset
    qtbot.keyPress(live, Qt.Key_Space)
    drag(qtbot, canvas, [(100, 75), (80, 75)])
    qtbot.keyRelease(canvas.focusWidget() or live, Qt.Key_Space)
    assert canvas.offset[0] < start[0] and not canvas.space_held
    assert np.array_equal(doc.mask, mask) and not live.isChecked()  # no stroke, no toggled checkbox
    # Typing a space in a text field is typing, even with the pointer over the canvas.
    assert canvas.pointer_inside
    composed.panel.size_spin.setFocus()
    qtbot.keyPress(composed.panel.size_spin, Qt.Key_Space)
    assert not canvas.space_held
    qtbot.keyRelease(composed.panel.size_spin, Qt.Key_Space)


@pytest.mark.parametrize("width", [1366, 1280])
def test_the_transform_hint_fits_the_status_bar(qtbot, composed, width):
    from harmonizer_gui.app import style_sheet

    composed.setStyleSheet(style_sheet())  # the editor's own fonts and padding
    composed.resize(width, 760)
    qtbot.keyClick(composed.canvas, Qt.Key_T, Qt.ControlModifier)
    bar = composed.statusBar()
    qtbot.waitUntil(lambda: bar.currentMessage().startswith("Transform"))
    fields = [w for w in bar.findChildren(QLabel, "statusField") if w.isVisible()]
    room = min(w.geometry().left() for w in fields) - 12  # the message's own margins
    assert bar.fontMetrics().horizontalAdvance(bar.currentMessage()) <= room
    qtbot.keyClick(composed.canvas, Qt.Key_Escape)
    assert composed.model_label.isVisible() and bar.currentMessage() == ""


def test_a_ticked_checkbox_shows_a_tick(qtbot, composed):
    from PySide6.QtWidgets import QStyle, QStyleOptionButton

    from harmonizer_gui.app import style_sheet

    check = composed.panel.overlay_check
    composed.setStyleSheet(style_sheet())

    def light_pixels_in_indicator():
        opt = QStyleOptionButton()
        opt.initFrom(check)
        # Inside the border: the label's first letter can touch the indicator's rectangle.
        box = check.style().subElementRect(QStyle.SE_CheckBoxIndicator, opt, check).adjusted(2, 2, -2, -2)
        img = check.grab().toImage()
        return sum(1 for x in range(box.left(), box.right() + 1) for y in range(box.top(), box.bottom() + 1)
                   if min(img.pixelColor(x, y).getRgb()[:3]) > 215)

    check.setChecked(False)
    assert light_pixels_in_indicator() == 0
    check.setChecked(True)
    assert light_pixels_in_indicator() >= 6


def pen_stroke(qtbot, canvas, points, pressure):
    """A stylus stroke as the tablet driver delivers it: press, moves and release with a pressure."""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent
    from PySide6.QtWidgets import QApplication

    pen = QPointingDevice("test pen", 7, QInputDevice.DeviceType.Stylus, QPointingDevice.PointerType.Pen,
                         QInputDevice.Capability.Position | QInputDevice.Capability.Pressure, 1, 2)
    kinds = [QEvent.TabletPress] + [QEvent.TabletMove] * (len(points) - 2) + [QEvent.TabletRelease]
    for kind, (x, y) in zip(kinds, points):
        pos = canvas.to_widget(x, y)
        buttons = Qt.NoButton if kind == QEvent.TabletRelease else Qt.LeftButton
        event = QTabletEvent(kind, pen, pos, QPointF(canvas.mapToGlobal(pos)), pressure, 0.0, 0.0, 0.0, 0.0, 0.0,
                             Qt.NoModifier, Qt.LeftButton, buttons)
        QApplication.sendEvent(canvas, event)
        assert event.isAccepted()


def erased_rows(before, doc, x):
    """How many canvas rows the eraser reached at column x, and how far it went there."""
    was, now = before[:, x], doc.composite_mask()[:, x]
    hit = (was > 0.99) & (now < 0.99)
    return int(hit.sum()), float(now[was > 0.99].min())


@pytest.mark.parametrize("mode", ["size", "opacity", "off"])
def test_pen_pressure_shapes_the_brush_as_the_preference_says(qtbot, composed, mode):
    canvas, doc = composed.canvas, composed.doc
    canvas.tools.set_tool("eraser")
    canvas.tools.set_brush(size=20, hardness=1.0)
    composed.panel.pressure_combo.setCurrentIndex(composed.panel.pressure_combo.findData(mode))
    composed.panel.pressure_combo.activated.emit(composed.panel.pressure_combo.currentIndex())
    assert canvas.brush.pressure == mode
    before = doc.composite_mask().copy()
    pen_stroke(qtbot, canvas, [(80, 70), (84, 70), (88, 70)], pressure=0.25)  # a light touch
    pen_stroke(qtbot, canvas, [(112, 80), (116, 80), (120, 80)], pressure=1.0)  # a firm one
    light, firm = erased_rows(before, doc, 84), erased_rows(before, doc, 116)
    assert firm[0] >= 18 and firm[1] == 0.0  # full pressure: the whole brush, fully
    if mode == "size":
        assert light[0] < firm[0] / 2 and light[1] == 0.0
    elif mode == "opacity":
        assert light[0] >= 18 and light[1] == pytest.approx(0.75, abs=0.02)
    else:
        assert light == firm
    assert "Erase" in composed.undo_action.text()  # each pen stroke is one undo step, as a mouse one
    composed.close()
    from harmonizer_gui import settings

    assert settings.Preferences.load().pen_pressure == mode
