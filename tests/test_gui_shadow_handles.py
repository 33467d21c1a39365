"""Layer ▸ Shadow handles: the shadow's tip and ground line dragged on the canvas, one undo step per drag,
Enter or Esc to leave, and the handles' geometry matching the shadow the engine casts."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402

from engine.shadow import ShadowSettings, cast_shadow, object_box  # noqa: E402
from harmonizer_gui.shadow_handles import ShadowHandles  # noqa: E402
from test_gui_editor import composed, drag, env, images, window  # noqa: E402,F401


def test_the_tip_handle_sits_where_the_engine_lays_the_objects_top():
    mask = np.zeros((300, 400), np.float32)
    mask[100:200, 190:210] = 1  # a post standing on row 199
    for s in (ShadowSettings(angle=30, length=1.0), ShadowSettings(angle=120, length=0.8),
              ShadowSettings(angle=235, length=0.5, ground=220.0)):
        handles = ShadowHandles(s, object_box(mask))
        tx, ty = handles.tip()
        shadow = cast_shadow(mask, ShadowSettings(s.angle, s.length, 0.01, 1.0, s.perspective, s.ground))
        shadow[mask > 0] = 0
        ys, xs = np.nonzero(shadow > 0.3)
        far = np.argmax(np.hypot(xs - handles.anchor()[0], ys - handles.anchor()[1]))
        # The far end is the top edge laid down: within half the post's width (10 px) of where its middle lands.
        assert math.hypot(xs[far] - tx, ys[far] - ty) <= 11
        again = ShadowHandles(s, handles.box).drag("tip", tx, ty)
        assert again.angle == pytest.approx(s.angle % 360, abs=0.01) and again.length == pytest.approx(s.length)


def test_dragging_the_handles_sets_the_shadow_one_undo_step_each(qtbot, composed):
    w, doc, canvas = composed, composed.doc, composed.canvas
    mask = doc.mask.copy()
    w.shadow_handles_action.trigger()
    assert canvas.editing_shadow and doc.shadow == ShadowSettings() and w.shadow_handles_action.isChecked()
    handles = canvas._shadow
    ax, ground = handles.anchor()
    drag(qtbot, canvas, [handles.tip(), (ax + 30, ground - 5), (ax + 60, ground - 10)])  # to the right, a little back
    s = doc.shadow
    assert s.angle < 90 and s.length == pytest.approx(math.hypot(60, 10 / s.perspective) / handles.height, rel=2e-2)
    assert np.array_equal(doc.mask, mask)  # the drag painted nothing
    assert doc.history.undo_label == "Shadow"
    depth = doc.history.depth
    drag(qtbot, canvas, [(20, ground), (20, ground + 10)])
    assert doc.shadow.ground == pytest.approx(ground + 10, abs=1) and doc.history.depth == depth + 1
    assert canvas._shadow.ground == pytest.approx(doc.shadow.ground)
    qtbot.keyClick(w, Qt.Key_Z, Qt.ControlModifier)
    assert doc.shadow == s and canvas._shadow.settings == s  # the handles follow the undo
    qtbot.keyClick(canvas, Qt.Key_Return)
    assert not canvas.editing_shadow and not w.shadow_handles_action.isChecked()
    drag(qtbot, canvas, [(100, 75), (110, 75)])  # painting again
    assert doc.history.undo_label.startswith("Paint")


def test_esc_leaves_and_remove_shadow_ends_the_mode(qtbot, composed):
    w, canvas = composed, composed.canvas
    w.shadow_handles_action.trigger()
    qtbot.keyClick(w, Qt.Key_Escape)
    assert not canvas.editing_shadow and composed.doc.shadow is not None
    w.shadow_handles_action.trigger()
    w.remove_shadow()
    assert not canvas.editing_shadow and not w.shadow_handles_action.isChecked()


def test_shadow_handles_without_an_object_is_one_line(qtbot, window, images):
    assert window.open_path(images / "bg.png")  # a picture without a mask
    window.shadow_handles_action.trigger()
    assert not window.canvas.editing_shadow and not window.shadow_handles_action.isChecked()
    assert "no object" in window.statusBar().currentMessage()
