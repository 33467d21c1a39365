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


def test_a_shadow_previews_live_saves_with_the_project_and_undoes(qtbot, composed, tmp_path):
    from engine.shadow import ShadowSettings
    from harmonizer_gui.document_io import load_project, save_project

    doc = composed.doc
    plain = doc.flattened().copy()
    depth = doc.history.depth

    def ok(dlg):
        dlg.angle.setValue(250)
        dlg.length.setValue(120)
        qtbot.waitUntil(lambda: not dlg._timer.isActive(), timeout=5000)
        dlg.accept()

    run_dialog(qtbot, composed, composed.actions_by_name["Shadow…"].trigger, ok)
    assert doc.shadow == ShadowSettings(angle=250.0, length=1.2)
    qtbot.waitUntil(lambda: any(composed.panel.layers.item(i).text().startswith("Shadow")
                                for i in range(composed.panel.layers.count())), timeout=5000)
    assert doc.history.depth == depth + 1 and "Shadow" in composed.undo_action.text()
    shaded = doc.flattened()
    outside = doc.composite_mask() == 0
    darker = shaded.astype(int).sum(2) < plain.astype(int).sum(2) - 20
    assert darker[outside].any()  # the ground darkens
    solid = doc.composite_mask() >= 0.999
    assert np.array_equal(shaded[solid], plain[solid])  # the object does not (its soft rim lets some show)
    composed.set_overlay_visible(False)  # the canvas then shows exactly the picture
    composed.canvas.flush()
    assert np.array_equal(composed.canvas.after.rgb, shaded)  # and the canvas shows it

    path = tmp_path / "shadow.ora"
    save_project(doc, path)
    again = type(doc)()
    load_project(again, path)
    assert again.shadow == doc.shadow and np.array_equal(again.flattened(), shaded)
    # Other programs see it as a multiply layer under the cut-out, drawing what the editor draws.
    from engine import openraster as ora

    project = ora.load_ora(path)
    names = [layer.name for layer in project.stack]
    assert project.stack[names.index("Shadow")].composite_op == "svg:multiply"
    rendered = ora.flatten(project.stack, project.size)
    assert np.abs(rendered[..., :3].astype(int) - shaded.astype(int)).max() <= 2

    composed.actions_by_name["Remove shadow"].trigger()
    assert doc.shadow is None and np.array_equal(doc.flattened(), plain)
    composed.undo_action.trigger()
    assert doc.shadow is not None


def test_a_project_with_malformed_shadow_settings_is_one_clear_line(qtbot, composed, tmp_path):
    import json
    import zipfile

    from engine.errors import ImageReadError
    from harmonizer_gui.document_io import load_project, save_project

    composed.doc.set_shadow(None)
    path = tmp_path / "p.ora"
    save_project(composed.doc, path)
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    state = json.loads(entries["harmonizer/document.json"])
    state["shadow"] = {"angle": 10, "length": 99}
    entries["harmonizer/document.json"] = json.dumps(state).encode()
    bad = tmp_path / "bad.ora"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("mimetype", entries.pop("mimetype"), compress_type=zipfile.ZIP_STORED)
        for name, data in entries.items():
            zf.writestr(name, data)
    with pytest.raises(ImageReadError, match="shadow settings are invalid"):
        load_project(type(composed.doc)(), bad)


def test_cancel_undoes_back_to_where_the_dialog_opened_even_past_a_step_that_landed_meanwhile(qtbot, composed):
    doc = composed.doc
    depth = doc.history.depth
    before = doc.flattened().copy()

    def steps(dlg):
        doc.set_opacity(0.5, merge=False)  # as a live harmonization landing on top of the preview would
        dlg.length.setValue(150)
        qtbot.waitUntil(lambda: not dlg._timer.isActive(), timeout=5000)
        dlg.reject()

    run_dialog(qtbot, composed, lambda: composed.edge_dialog("shadow"), steps)
    assert doc.history.depth == depth and doc.shadow is None
    assert np.array_equal(doc.flattened(), before)
