"""The reference area in the editor: a third brush target with its own tint and undo, the "Match reference
area" toggle, harmonizing towards the painted area's light, and projects that keep it."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402

from harmonizer_gui import document_io  # noqa: E402
from harmonizer_gui.document import Document  # noqa: E402
from harmonizer_gui.tool_settings import REFERENCE_COLOR  # noqa: E402
from test_gui_editor import composed, drag, env, harmonize, images, window  # noqa: E402,F401


def paint_reference(qtbot, w, xs, y=20):
    if w.tools.target != "reference":
        qtbot.keyClick(w.canvas, Qt.Key_R)
    w.tools.set_brush(size=16, hardness=1.0)
    drag(qtbot, w.canvas, [(x, y) for x in xs])


def object_red(w) -> float:
    doc = w.doc
    return float(doc.result[doc.composite_mask() > 0.5][:, 0].mean())


def test_r_switches_the_brush_to_the_reference_area_which_undo_takes_back(qtbot, composed):
    w, doc = composed, composed.doc
    mask = doc.mask.copy()
    qtbot.keyClick(w.canvas, Qt.Key_R)
    assert w.tools.target == "reference" and w.reference_target_action.isChecked()
    assert w.panel.reference_target.isChecked() and not w.panel.mask_target.isChecked()
    paint_reference(qtbot, w, [10, 20, 30, 40])
    assert doc.reference[20, 25] > 0.99 and doc.reference[100, 100] == 0
    assert np.array_equal(doc.mask, mask)  # the object's mask is untouched
    assert doc.match_reference and w.match_reference_action.isChecked() and w.panel.match_check.isChecked()
    w.canvas.flush()
    shown, plain = w.canvas.after.rgb[20, 25].astype(int), doc.composite()[20, 25].astype(int)
    toward = np.array(REFERENCE_COLOR) - plain
    assert np.dot(shown - plain, toward) > 0  # tinted in the reference area's own colour
    assert "reference area" in w.undo_action.text()
    qtbot.keyClick(w, Qt.Key_Z, Qt.ControlModifier)
    assert doc.reference is None and not doc.match_reference and not w.panel.match_check.isChecked()
    qtbot.keyClick(w, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert doc.reference[20, 25] > 0.99 and doc.match_reference
    qtbot.keyClick(w.canvas, Qt.Key_R)  # back to the mask
    assert w.tools.target == "mask" and w.panel.mask_target.isChecked()


def test_harmonizing_follows_the_painted_area(qtbot, composed):
    """The background grows redder to the right: matching an area on the left leaves the object less red
    than matching one on the right, and switching matching off brings back the whole background's."""
    w, doc = composed, composed.doc
    assert harmonize(qtbot, w)
    plain = object_red(w)
    paint_reference(qtbot, w, [5, 15, 25, 35])
    assert doc.result_stale  # the result was made against the whole background
    assert harmonize(qtbot, w)
    left = object_red(w)
    doc.clear_reference()
    paint_reference(qtbot, w, [165, 175, 185, 195])
    assert harmonize(qtbot, w)
    right = object_red(w)
    assert left < plain < right and right - left > 10
    qtbot.keyClick(w, Qt.Key_R, Qt.ShiftModifier)  # Match reference area off
    assert not doc.match_reference and doc.result_stale
    assert harmonize(qtbot, w)
    assert object_red(w) == pytest.approx(plain, abs=0.5)


def test_a_reference_on_the_object_only_is_refused_in_one_line(qtbot, composed):
    w = composed
    paint_reference(qtbot, w, [95, 100, 105], y=75)  # inside the placed object only
    with qtbot.waitSignal(w.controller.finished, timeout=20000) as blocker:
        qtbot.mouseClick(w.panel.harmonize_button, Qt.LeftButton)
    assert blocker.args[0] is False
    assert "on the object itself" in w.statusBar().currentMessage()


def test_projects_keep_the_reference_area_and_its_matching(qtbot, composed, tmp_path):
    w, doc = composed, composed.doc
    paint_reference(qtbot, w, [10, 20, 30])
    path = document_io.save_project(doc, tmp_path / "ref.ora")
    other = Document()
    document_io.load_project(other, path)
    assert other.match_reference and np.abs(other.reference - doc.reference).max() < 1e-4
    doc.clear_reference()
    path = document_io.save_project(doc, tmp_path / "none.ora")
    document_io.load_project(other, path)
    assert other.reference is None and other.match_reference


def run_match_dialog(qtbot, w, steps, photo=None):
    from PySide6.QtCore import QTimer

    def play():
        dlg = w.match_dialog
        assert dlg is not None and dlg.isVisible()
        steps(dlg)

    QTimer.singleShot(50, play)
    return w.match_photo_dialog(photo)


def warm_photo(folder):
    from PIL import Image

    rng = np.random.default_rng(1)
    photo = np.clip(rng.integers(80, 170, (60, 80, 3)) * np.array([1.4, 1.0, 0.5]), 0, 255).astype(np.uint8)
    Image.fromarray(photo).save(folder / "sunset.png")
    return str(folder / "sunset.png")


def test_match_photo_previews_live_and_cancel_leaves_the_picture_as_it_was(qtbot, composed, images):
    from PySide6.QtWidgets import QDialogButtonBox

    w, doc = composed, composed.doc
    assert harmonize(qtbot, w)
    plain, depth = object_red(w), doc.history.depth
    seen = {}

    def steps(dlg):
        qtbot.waitUntil(lambda: not w.controller.running and not doc.result_stale, timeout=20000)
        seen["full"] = object_red(w)
        dlg.alpha.setValue(40)
        qtbot.waitUntil(lambda: not dlg._timer.isActive() and not w.controller.running and not doc.result_stale,
                        timeout=20000)
        seen["part"] = object_red(w)
        qtbot.keyClick(dlg, Qt.Key_Escape)

    run_match_dialog(qtbot, w, steps, warm_photo(images))
    assert seen["full"] > seen["part"] > plain  # the photo is warmer than the scene
    assert doc.match_photo is None and doc.history.depth == depth and object_red(w) == pytest.approx(plain)

    def ok(dlg):
        qtbot.waitUntil(lambda: not w.controller.running and not doc.result_stale, timeout=20000)
        qtbot.mouseClick(dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok), Qt.LeftButton)

    run_match_dialog(qtbot, w, ok, warm_photo(images))
    assert doc.match_photo is not None and doc.match_photo.alpha == 1.0 and object_red(w) > plain
    full = object_red(w)

    def half(dlg):  # only the photo's left half, the cooler one, is read
        from PIL import Image

        area = np.zeros((60, 80), np.uint8)
        area[:, :40] = 255
        Image.fromarray(area).save(images / "left.png")
        photo = dlg.photo.copy()
        photo[:, :40] = (60, 90, 160)
        dlg.photo = photo
        assert dlg.load_area(str(images / "left.png"))
        qtbot.waitUntil(lambda: not w.controller.running and not doc.result_stale, timeout=20000)
        qtbot.mouseClick(dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok), Qt.LeftButton)

    run_match_dialog(qtbot, w, half)
    assert doc.match_photo.area is not None and object_red(w) < full
    path = document_io.save_project(doc, images / "matched.ora")
    other = Document()
    document_io.load_project(other, path)
    assert other.match_photo is not None and other.match_photo.alpha == 1.0
    assert np.array_equal(other.match_photo.photo, doc.match_photo.photo)
    assert np.abs(other.match_photo.area - doc.match_photo.area).max() < 1e-4
    w.stop_matching_photo()
    assert doc.match_photo is None and doc.result_stale


def test_redo_after_the_reference_was_cleared_brings_the_strokes_back(qtbot, composed):
    """Clearing the reference area, painting again, then undoing and redoing both strokes: the redo used to
    write into an area that no longer existed (TypeError), and the stroke fell out of the history."""
    w, doc = composed, composed.doc
    paint_reference(qtbot, w, [10, 20, 30])
    doc.clear_reference()
    paint_reference(qtbot, w, [150, 160, 170])
    for _ in range(3):
        doc.undo()
    assert doc.reference is None
    for _ in range(3):
        doc.redo()
    assert doc.reference is not None and doc.reference[20, 160] > 0.99 and doc.reference[20, 20] == 0
    assert not doc.history.can_redo


def test_a_reference_on_a_picture_replaced_by_another_size_is_not_saved_with_it(qtbot, composed, images, tmp_path):
    """Replace the background with one of another size, paint a reference area, undo twice: the picture is
    back at its size and must not keep (or save) an area of the other size, which made the project
    impossible to reopen."""
    from PIL import Image

    w, doc = composed, composed.doc
    Image.fromarray(np.full((90, 120, 3), 90, np.uint8)).save(images / "small.png")
    doc.set_background(np.asarray(Image.open(images / "small.png")), "small.png")
    paint_reference(qtbot, w, [10, 20, 30])
    doc.undo()
    doc.undo()
    assert doc.canvas_size == (200, 150) and (doc.reference is None or doc.reference.shape == (150, 200))
    path = document_io.save_project(doc, tmp_path / "sizes.ora")
    document_io.load_project(Document(), path)


def test_a_crafted_projects_reference_area_of_another_size_is_refused_before_decoding(composed, tmp_path):
    import zipfile

    doc = composed.doc
    doc.reference = np.zeros((150, 200), np.float32)
    path = document_io.save_project(doc, tmp_path / "p.ora")
    crafted = tmp_path / "crafted.ora"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(crafted, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("reference_area.png"):
                from harmonizer_gui.project_io import png_bytes

                data = png_bytes(np.zeros((3000, 3000), np.uint16))
            dst.writestr(item, data)
    with pytest.raises(Exception, match="reference area is 3000x3000, not 200x150"):
        document_io.load_project(Document(), crafted)


def test_batch_harmonizes_a_project_towards_its_reference_area(qtbot, composed, tmp_path):
    """A project saved with "Match reference area" on comes out of batch as the editor showed it: towards the
    area (the background is redder on the right, where the area is), not the whole background."""
    from engine.batch import BatchOptions, find_items, run_batch
    from engine.harmonizer import Harmonizer
    from PIL import Image

    w, doc = composed, composed.doc
    paint_reference(qtbot, w, [165, 175, 185, 195])
    assert harmonize(qtbot, w)
    editor = object_red(w)
    document_io.save_project(doc, tmp_path / "towards.ora")
    doc.set_match_reference(False)
    document_io.save_project(doc, tmp_path / "plain.ora")
    items, _ = find_items([tmp_path / "towards.ora", tmp_path / "plain.ora"])
    report = run_batch(items, tmp_path / "out", BatchOptions(method="classical"), Harmonizer(method="classical"))
    assert report.ok
    inside = doc.composite_mask() > 0.5
    red = {n: float(np.asarray(Image.open(tmp_path / "out" / f"{n}.png").convert("RGB"))[inside][:, 0].mean())
           for n in ("towards", "plain")}
    # (Batch reads the project's 8-bit composite mask; on this flat-coloured test object that alone moves
    # the classical statistics by a few levels.)
    assert abs(red["towards"] - editor) < 6 and red["towards"] - red["plain"] > 10
