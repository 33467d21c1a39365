"""Canvas navigation (zoom about the pointer, pan, fit, 100 %), the split view and the transform tool's
geometry (rotate with snapping, scale about the opposite handle)."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QWheelEvent  # noqa: E402

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
