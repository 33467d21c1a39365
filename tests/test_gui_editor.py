"""The editor window end to end with pytest-qt: open images, paint with the mouse, undo, harmonize in
the worker thread (classical and a tiny RainNet made here), transform, .ora round trip, export, and bad
inputs that must leave the picture as it was."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.image_io import read_image  # noqa: E402
from harmonizer_gui import document_io, settings  # noqa: E402
from harmonizer_gui.document import Document  # noqa: E402
from harmonizer_gui.main_window import MainWindow  # noqa: E402

RUN_TIMEOUT_MS = 60_000


@pytest.fixture
def env(tmp_path, no_bundled_models):
    # No bundled weights, whatever resources/models holds today: the editor must cope.
    return tmp_path


@pytest.fixture
def images(env):
    h, w = 150, 200
    y, x = np.mgrid[0:h, 0:w]
    bg = np.dstack([40 + x * 60 // w, 60 + y * 80 // h, np.full_like(x, 150)]).astype(np.uint8)
    Image.fromarray(bg).save(env / "bg.png")
    fg = np.zeros((60, 70, 4), np.uint8)
    fg[..., :3] = (240, 180, 60)
    yy, xx = np.mgrid[0:60, 0:70]
    fg[..., 3] = np.where((yy - 30) ** 2 / 28**2 + (xx - 35) ** 2 / 33**2 <= 1, 255, 0)
    Image.fromarray(fg, "RGBA").save(env / "fg.png")
    (env / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(env / "small_mask.png")
    return env


@pytest.fixture
def window(qtbot, env):
    w = MainWindow(settings.Preferences(), device="cpu")
    w.prompt_on_close = False
    qtbot.addWidget(w)
    w.resize(1100, 760)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.controller.loaded_model == "classical", timeout=RUN_TIMEOUT_MS)
    yield w
    w.close()
    # A QMimeData made in Python and handed to the clipboard (as a file manager's Copy is imitated) is
    # deleted by Qt's own exit clean-up, after the interpreter is gone: the process would pass its tests
    # and then die of a segmentation fault. Qt-made clipboard data (the editor's Ctrl+C) is unaffected.
    QApplication.clipboard().clear()


@pytest.fixture
def composed(window, images):
    assert window.open_path(images / "bg.png")
    assert window.open_path(images / "fg.png")  # the second image becomes the foreground
    return window


def drag(qtbot, canvas, points, button=Qt.LeftButton):
    pts = [canvas.to_widget(x, y).toPoint() for x, y in points]
    qtbot.mousePress(canvas, button, pos=pts[0])
    for p in pts[1:]:
        qtbot.mouseMove(canvas, p)
    qtbot.mouseRelease(canvas, button, pos=pts[-1])


def harmonize(qtbot, w) -> bool:
    with qtbot.waitSignal(w.controller.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(w.panel.harmonize_button, Qt.LeftButton)
    return blocker.args[0]


def changed_only_inside_mask(doc: Document) -> bool:
    diff = np.any(doc.result != doc.composite(), axis=2)
    return bool(diff.any()) and not diff[doc.composite_mask() == 0].any()


def test_missing_default_model_falls_back_to_classical(window):
    assert window.controller.loaded_model == "classical"
    assert "classical" in window.model_label.text().lower()
    assert window.panel.model_combo.currentData() == "classical"
    assert window.panel.model_combo.findData("default") < 0


def test_open_background_then_foreground(composed):
    doc = composed.doc
    assert doc.canvas_size == (200, 150) and doc.fg_size == (67, 57)
    assert composed.panel.layers.count() == 2
    assert "200 × 150" in composed.size_label.text()
    assert tuple(doc.composite()[75, 100]) == (240, 180, 60)
    # The canvas shows the composite (overlay off) without re-rendering on paint.
    composed.set_overlay_visible(False)
    assert np.array_equal(composed.canvas.after.rgb, doc.composite())


def test_mouse_stroke_changes_the_mask_and_undo_restores_it(qtbot, composed):
    doc, canvas, tools = composed.doc, composed.canvas, composed.tools
    tools.set_tool("eraser")
    tools.set_brush(size=12, hardness=1.0)
    before = doc.mask.copy()
    drag(qtbot, canvas, [(85, 75), (95, 75), (105, 75), (115, 75)])
    assert doc.composite_mask()[75, 100] == 0.0
    assert not np.array_equal(doc.mask, before)
    assert composed.undo_action.isEnabled() and "Erase" in composed.undo_action.text()
    qtbot.keyClick(composed, Qt.Key_Z, Qt.ControlModifier)
    assert np.array_equal(doc.mask, before)
    qtbot.keyClick(composed, Qt.Key_Y, Qt.ControlModifier)  # redo
    assert doc.composite_mask()[75, 100] == 0.0


def test_keys_switch_tools_brush_size_overlay_and_compare(qtbot, composed):
    canvas = composed.canvas
    qtbot.keyClick(canvas, Qt.Key_E)
    assert canvas.tool == "eraser"
    qtbot.keyClick(canvas, Qt.Key_X)
    assert canvas.tool == "brush"
    size = canvas.brush.size
    qtbot.keyClick(canvas, Qt.Key_BracketRight)
    assert canvas.brush.size > size and composed.panel.size_spin.value() == round(canvas.brush.size)
    overlay = composed.tools.overlay_visible
    qtbot.keyClick(canvas, Qt.Key_M)
    assert composed.tools.overlay_visible != overlay
    assert composed.overlay_action.isChecked() == composed.panel.overlay_check.isChecked() != overlay
    qtbot.keyPress(canvas, Qt.Key_Y)
    assert canvas.view_mode == "before"
    qtbot.keyRelease(canvas, Qt.Key_Y)
    assert canvas.view_mode == "normal"


def test_harmonize_classical_changes_only_the_masked_pixels(qtbot, composed):
    assert harmonize(qtbot, composed)
    doc = composed.doc
    assert changed_only_inside_mask(doc)
    assert composed.panel.layers.count() == 3
    panel = composed.panel  # idle again: the bar says so, Cancel has nothing to stop
    qtbot.waitUntil(lambda: panel.progress.format() == "Ready" and not panel.cancel_button.isEnabled())
    composed.panel.strength.setValue(50)  # instant, no rerun
    assert doc.strength == 0.5 and not composed.controller.running
    half = doc.flattened()
    assert np.abs(half.astype(int) - doc.composite()).max() < np.abs(doc.result.astype(int) - doc.composite()).max()
    composed.undo()
    assert doc.result is None


def test_harmonize_with_a_rain_model_file(qtbot, composed, tmp_path):
    from engine.model_file import save_model
    from engine.rainnet import RainNet

    path = save_model(tmp_path / "tiny.safetensors", RainNet(ngf=4, depth=5), {"size": 64}, {"purpose": "test"})
    composed.select_model(str(path))
    qtbot.waitUntil(lambda: composed.controller.loaded_model == str(path), timeout=RUN_TIMEOUT_MS)
    assert composed.panel.model_combo.currentData() == str(path)
    assert "tiny" in composed.model_label.text()
    assert harmonize(qtbot, composed)
    assert changed_only_inside_mask(composed.doc)
    assert composed.doc.model == str(path)


def test_transform_with_handles_enter_commits_esc_cancels(qtbot, composed):
    doc, canvas = composed.doc, composed.canvas
    start = doc.transform
    qtbot.keyClick(canvas, Qt.Key_T, Qt.ControlModifier)
    assert canvas.transforming
    drag(qtbot, canvas, [(start.cx, start.cy), (start.cx + 10, start.cy + 5), (start.cx + 20, start.cy + 10)])
    assert doc.transform == start  # only a preview until Enter
    qtbot.keyClick(canvas, Qt.Key_Return)
    assert not canvas.transforming
    assert doc.transform.cx == pytest.approx(start.cx + 20, abs=1) and doc.transform.cy == pytest.approx(start.cy + 10, abs=1)
    moved = doc.transform
    canvas.begin_transform()
    se = canvas._tool.handle_points()["se"]
    drag(qtbot, canvas, [se, (se[0] + 15, se[1] + 15)])
    assert canvas._tool.current.sx > 1.2
    composed.escape()
    assert doc.transform == moved and not canvas.transforming
    composed.undo()
    assert doc.transform == start


def test_ora_round_trip_through_the_window(qtbot, composed, tmp_path):
    composed.doc.set_transform(composed.doc.transform.replaced(angle=12.0, sx=1.1))
    composed.feather_mask(2.0)
    assert harmonize(qtbot, composed)
    composed.panel.strength.setValue(70)
    path = tmp_path / "project.ora"
    assert composed.save_as(str(path))
    assert not composed.doc.modified and composed.windowTitle().startswith("project.ora")
    reopened = Document()
    document_io.load_project(reopened, path)
    doc = composed.doc
    for name in ("background", "foreground", "fg_alpha", "result"):
        assert np.array_equal(getattr(reopened, name), getattr(doc, name)), name
    assert np.abs(reopened.mask - doc.mask).max() < 1e-4
    assert reopened.transform == doc.transform and reopened.strength == pytest.approx(0.7)
    composed.doc.clear_mask()
    assert composed.open_project(str(path))
    assert composed.panel.layers.count() == 3 and np.array_equal(composed.doc.result, doc.result)


def test_status_line_says_what_opening_converted_or_merged(window, images, tmp_path):
    from icc_profiles import rgb_profile

    from engine import openraster as ora

    rgb = np.asarray(Image.open(images / "bg.png"))
    Image.fromarray(rgb).save(tmp_path / "adobe.jpg", icc_profile=rgb_profile("Adobe RGB (1998)"), quality=95)
    assert window.open_background(str(tmp_path / "adobe.jpg"))
    assert "converted from Adobe RGB (1998) to sRGB" in window.statusBar().currentMessage()
    layers = [ora.OraLayer("paper", np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])),
              ora.OraLayer("ink", np.full((20, 20, 4), 90, np.uint8), composite_op="svg:multiply"),
              ora.OraLayer("object", np.full((10, 10, 4), 200, np.uint8), x=5, y=5)]
    ora.save_ora(tmp_path / "other.ora", layers, {}, (200, 150))
    assert window.open_project(str(tmp_path / "other.ora"))
    message = window.statusBar().currentMessage()
    assert "2 layers merged into the background, blend modes multiply" in message and "'object'" in message


def test_export_writes_a_readable_full_resolution_file(composed, tmp_path):
    assert composed.export(str(tmp_path / "out.png"))
    rgb, _ = read_image(tmp_path / "out.png")
    assert np.array_equal(rgb, composed.doc.flattened())
    assert composed.export(str(tmp_path / "out.webp"), quality=80)
    assert read_image(tmp_path / "out.webp")[0].shape == (150, 200, 3)


def test_bad_inputs_leave_the_document_unchanged(qtbot, composed, images, tmp_path):
    doc = composed.doc
    state = (doc.background, doc.foreground, doc.mask, doc.transform, doc.history.undo_label, doc.revision)

    def unchanged():
        return (doc.background, doc.foreground, doc.mask, doc.transform, doc.history.undo_label, doc.revision) == state

    assert not composed.open_foreground(str(images / "broken.png"))
    assert "broken.png" in composed.last_error and composed.error_box.isVisible() and unchanged()
    assert not composed.open_background(str(images / "missing.jpg"))
    assert "no such file" in composed.last_error and unchanged()
    assert not composed.load_mask(str(images / "small_mask.png"))
    assert "10x10" in composed.last_error and unchanged()
    (tmp_path / "bad.ora").write_bytes(b"not a zip at all")
    assert not composed.open_project(str(tmp_path / "bad.ora"))
    assert "bad.ora" in composed.last_error and unchanged()
    assert not composed.export(str(tmp_path / "no_such_dir" / "x.bmp"))
    assert unchanged()
    # A cancelled run leaves no result behind.
    qtbot.mouseClick(composed.panel.harmonize_button, Qt.LeftButton)
    composed.escape()
    qtbot.wait(300)
    assert doc.result is None and "cancelled" in composed.statusBar().currentMessage() and unchanged()
    # A model that cannot load: told so, and the classical method takes over.
    composed.select_model(str(tmp_path / "nope.safetensors"))
    qtbot.waitUntil(lambda: "nope" in composed.last_error, timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: composed.controller.loaded_model == "classical", timeout=RUN_TIMEOUT_MS)
    assert unchanged()


def test_empty_mask_is_reported_not_run(qtbot, composed):
    composed.mask_op("clear_mask")
    assert not composed.controller.harmonize()
    assert "mask is empty" in composed.last_error and composed.doc.result is None


def test_autosave_and_recovery(qtbot, composed, env):
    assert composed.autosave(wait=True)
    path = settings.autosave_path()
    assert path.is_file() and str(path).startswith(str(env / "data"))
    other = MainWindow(settings.Preferences(), device="cpu")
    other.prompt_on_close = False
    qtbot.addWidget(other)
    assert other.recover_autosave()
    assert np.array_equal(other.doc.composite(), composed.doc.composite()) and other.doc.modified
    other.ephemeral = True  # keep the file for the check below
    other.close()
    assert path.is_file()
    composed.close()  # a clean exit removes it and remembers the preferences
    assert not path.is_file() and settings.Preferences.path().is_file()


def test_screenshot_renders_the_sample_after_harmonizing(env, qtbot):
    from harmonizer_gui import app

    out = env / "shot.png"
    assert app.main(["--screenshot", str(out)]) == 0
    img = Image.open(out)
    assert img.size == app.SCREENSHOT_SIZE
    # An offscreen picture leaves no trace in the user's session: no autosave, no recent files.
    assert not settings.autosave_path().exists() and settings.RecentFiles().paths() == []


def test_a_stroke_after_harmonizing_keeps_the_result_marked_out_of_date(qtbot, composed):
    assert harmonize(qtbot, composed)
    doc, panel = composed.doc, composed.panel
    result = doc.result.copy()
    composed.set_overlay_visible(False)  # the canvas then shows exactly the picture
    composed.tools.set_tool("eraser")
    composed.tools.set_brush(size=12, hardness=1.0)
    drag(qtbot, composed.canvas, [(85, 75), (95, 75), (105, 75)])
    assert doc.result is not None and doc.result_stale
    assert panel.layers.count() == 3 and "out of date" in panel.layers.item(0).text()
    assert "out of date" in composed.statusBar().currentMessage()
    assert "again" in panel.harmonize_button.text()
    # Where the foreground was erased the picture shows the background, not the old harmonized pixels.
    assert tuple(doc.flattened()[75, 95]) == tuple(doc.background[75, 95])
    composed.canvas.flush()
    assert tuple(composed.canvas.after.rgb[75, 95]) == tuple(doc.background[75, 95])
    qtbot.keyClick(composed, Qt.Key_Z, Qt.ControlModifier)
    assert not doc.result_stale and np.array_equal(doc.result, result)
    qtbot.keyClick(composed, Qt.Key_Y, Qt.ControlModifier)
    assert doc.result_stale
    assert harmonize(qtbot, composed)
    assert not doc.result_stale and "out of date" not in panel.layers.item(0).text()
    assert panel.harmonize_button.text().strip() == "Harmonize"
