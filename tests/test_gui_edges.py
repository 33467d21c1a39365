"""Mask ▸ Refine edge… and Layer ▸ Defringe…: a live preview on the canvas as the sliders move, one undo
step on OK, the document untouched after Esc or Cancel."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QDialogButtonBox  # noqa: E402

from test_gui_editor import composed, env, images, window  # noqa: E402,F401


def two_tone_with_rough_mask(folder):
    """A red object left of column 100 on a blue-grey picture, and a mask brushed 6 px past its edge."""
    rng = np.random.default_rng(0)
    img = np.empty((150, 200, 3), np.float32)
    img[:, :100] = (200, 40, 30)
    img[:, 100:] = (70, 90, 120)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((150, 200), np.uint8)
    mask[30:120, 20:106] = 255
    Image.fromarray(img).save(folder / "scene.png")
    Image.fromarray(mask).save(folder / "scene_mask.png")
    return folder / "scene.png", folder / "scene_mask.png"


def run_dialog(qtbot, window, trigger, steps):
    """Open the dialog through `trigger` (it is modal) and play `steps(dialog)` inside its event loop."""
    def play():
        dlg = window.edge
        assert dlg is not None and dlg.isVisible()
        steps(dlg)

    QTimer.singleShot(50, play)
    trigger()


def test_refine_edge_previews_live_and_ok_keeps_one_undo_step(qtbot, window, images):
    scene, mask = two_tone_with_rough_mask(images)
    assert window.open_path(scene)
    window.load_mask(str(mask))
    doc = window.doc
    rough = doc.mask.copy()
    depth = doc.history.depth
    seen = {}

    def steps(dlg):
        seen["preview"] = doc.mask.copy()  # shown at once, before any slider moves
        dlg.radius.setValue(10)
        qtbot.waitUntil(lambda: not dlg._timer.isActive(), timeout=5000)
        seen["after_slider"] = doc.mask.copy()
        qtbot.mouseClick(dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok), Qt.LeftButton)

    run_dialog(qtbot, window, lambda: qtbot.keyClick(window, Qt.Key_R, Qt.ControlModifier | Qt.AltModifier), steps)
    assert not np.array_equal(seen["preview"], rough)
    row = doc.mask[75]
    assert row[90] > 0.9 and row[104] < 0.1  # the 6 px overshoot is gone, the object kept
    assert doc.history.depth == depth + 1 and "Refine" in window.undo_action.text()
    window.undo_action.trigger()  # Edit ▸ Undo
    assert np.array_equal(doc.mask, rough)


def test_esc_leaves_the_mask_as_it_was(qtbot, window, images):
    scene, mask = two_tone_with_rough_mask(images)
    assert window.open_path(scene)
    window.load_mask(str(mask))
    doc = window.doc
    rough, depth = doc.mask.copy(), doc.history.depth

    def steps(dlg):
        assert not np.array_equal(doc.mask, rough)  # previewing
        qtbot.keyClick(dlg, Qt.Key_Escape)

    run_dialog(qtbot, window, lambda: window.edge_dialog("refine"), steps)
    assert np.array_equal(doc.mask, rough) and doc.history.depth == depth


def test_defringe_recolours_the_foreground_rim_and_cancel_undoes_it(qtbot, composed):
    doc = composed.doc
    fg = doc.foreground.copy()
    fg[:, :, :] = (240, 180, 60)
    fg[25:35, 0:4] = (255, 255, 255)  # a white fringe at the ellipse's left tip
    doc.change("fringe", foreground=fg)
    depth = doc.history.depth

    def cancel(dlg):
        qtbot.mouseClick(dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.Cancel), Qt.LeftButton)

    run_dialog(qtbot, composed, lambda: composed.edge_dialog("defringe"), cancel)
    assert np.array_equal(doc.foreground, fg) and doc.history.depth == depth

    def ok(dlg):
        dlg.width_slider.setValue(4)
        qtbot.waitUntil(lambda: not dlg._timer.isActive(), timeout=5000)
        dlg.accept()

    action = composed.actions_by_name["Defringe…"]
    run_dialog(qtbot, composed, action.trigger, ok)
    inside = doc.fg_alpha[25:35, 0:4] > 0
    blue_before, blue_after = fg[25:35, 0:4, 2][inside], doc.foreground[25:35, 0:4, 2][inside]
    assert blue_after.mean() < blue_before.mean() - 60  # the white fringe took on the object's orange
    assert np.array_equal(doc.foreground[:, 10:60], fg[:, 10:60])  # away from the rim nothing changed
    assert doc.history.depth == depth + 1
