"""The editor around the picture: first start, recovery, preferences and recent files, drag and drop,
the clipboard, live mode and the shortcuts table."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PIL import Image  # noqa: E402
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication, QTableWidget  # noqa: E402

from harmonizer_gui import app, menus, settings  # noqa: E402
from harmonizer_gui.main_window import MainWindow  # noqa: E402
from test_gui_editor import RUN_TIMEOUT_MS, composed, drag, env, images, window  # noqa: E402,F401


def new_window(qtbot, prefs=None):
    w = MainWindow(prefs or settings.Preferences.load(), device="cpu")
    w.prompt_on_close = False
    qtbot.addWidget(w)
    return w


def test_first_start_opens_the_sample(qtbot, env):
    w = new_window(qtbot)
    assert app.startup(w, [], None) == "sample"
    assert w.doc.background is not None and w.doc.foreground is not None
    assert w.doc.bg_name.startswith("background") and w.doc.fg_name.startswith("foreground")


def test_recent_files_skip_the_sample_and_autosave_is_offered(qtbot, images):
    w = new_window(qtbot)
    assert w.open_path(images / "bg.png")
    assert [p.name for p in w.recent.paths()] == ["bg.png"]
    w.open_path(images / "fg.png")
    w.autosave(wait=True)
    fresh = new_window(qtbot)
    assert app.startup(fresh, [], None, ask=lambda _w: False) == "declined"
    assert fresh.doc.background is None and not settings.autosave_path().exists()
    w._autosaved_revision = None
    w.autosave(wait=True)
    again = new_window(qtbot)
    assert app.startup(again, [], None, ask=lambda _w: True) == "recovered"
    assert np.array_equal(again.doc.composite(), w.doc.composite())
    later = new_window(qtbot)
    settings.autosave_path().unlink()
    assert app.startup(later, [], None) == "empty"  # not a first start any more: no sample


def test_preferences_survive_a_restart(qtbot, env):
    w = new_window(qtbot)
    w.tools.set_brush(size=123, hardness=0.25)
    w.tools.set_overlay(color=(10, 200, 30))
    w.panel.live.setChecked(True)
    w.resize(900, 650)
    w.close()
    prefs = settings.Preferences.load()
    assert (prefs.brush_size, prefs.brush_hardness, prefs.overlay_color, prefs.live_mode) == (123, 0.25, "#0ac81e", True)
    again = new_window(qtbot, prefs)
    assert again.canvas.brush.size == 123 and again.tools.overlay_color == (10, 200, 30)
    assert again.panel.live.isChecked() and again.controller.live


def test_drops_first_background_then_foreground_and_ora_opens_a_project(qtbot, window, images, tmp_path):
    def drop(path):
        data = QMimeData()
        data.setUrls([QUrl.fromLocalFile(str(path))])
        event = QDropEvent(QPointF(50, 50), Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier)
        window.dropEvent(event)

    drop(images / "bg.png")
    assert window.doc.background is not None and window.doc.foreground is None
    drop(images / "fg.png")
    assert window.doc.fg_name == "fg.png"
    window.save_as(str(tmp_path / "dropped.ora"))
    window.doc.clear_mask()
    drop(tmp_path / "dropped.ora")
    assert window.doc.composite_mask().max() == 1.0 and window.doc.path.name == "dropped.ora"


def test_paste_from_the_clipboard(window):
    image = QImage(120, 80, QImage.Format_RGBA8888)
    image.fill(Qt.darkCyan)
    QApplication.clipboard().setImage(image)
    assert window.paste(foreground=False) and window.doc.canvas_size == (120, 80)
    small = QImage(30, 20, QImage.Format_RGB888)
    small.fill(Qt.yellow)
    QApplication.clipboard().setImage(small)
    assert window.paste(foreground=True) and window.doc.fg_size == (30, 20)
    QApplication.clipboard().clear()
    assert not window.paste(foreground=True) and "clipboard" in window.last_error


def test_live_mode_harmonizes_after_a_stroke(qtbot, composed):
    composed.panel.live.setChecked(True)
    assert composed.doc.result is None
    with qtbot.waitSignal(composed.controller.finished, timeout=RUN_TIMEOUT_MS):
        pass  # turning live mode on harmonizes what is there
    assert composed.doc.result is not None
    composed.tools.set_tool("eraser")
    composed.tools.set_brush(size=10)
    with qtbot.waitSignal(composed.controller.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        drag(qtbot, composed.canvas, [(90, 75), (100, 75)])
        assert composed.doc.result_stale  # the stroke made the old result stale; it stays until the rerun
    assert blocker.args == [True] and composed.doc.result is not None and not composed.doc.result_stale


def test_shortcuts_table_lists_the_menus_and_canvas_keys(window):
    rows = menus.shortcut_rows(window)
    keys = {action: key for _where, action, key in rows}
    assert keys["Harmonize"].startswith("Ctrl+H") and keys["Undo"] == "Ctrl+Z"
    assert "Ctrl+Shift+Z" in keys["Redo"] and "Ctrl+Y" in keys["Redo"]
    assert keys["Free transform"] == "Ctrl+T" and keys["Show the original while held"] == "Y"
    table = menus.shortcuts_dialog(window).findChild(QTableWidget)
    assert table.rowCount() == len(rows) and table.item(0, 0).text() == "File"
    tools = [a.text() for a in window.menuBar().actions() if a.text().replace("&", "") == "Tools"]
    assert len(tools) == 1  # dialog_actions filled the existing menu instead of adding a second one


def test_the_untouched_sample_is_replaced_without_a_question(qtbot, images, monkeypatch):
    w = new_window(qtbot)
    w.prompt_on_close = True  # as for a user: a real question would block, so any question fails the test
    asked = []
    monkeypatch.setattr("harmonizer_gui.window_files.QMessageBox.question", lambda *a, **k: asked.append(a))
    assert app.startup(w, [], None) == "sample"
    qtbot.waitUntil(lambda: w.controller.loaded_model is not None, timeout=RUN_TIMEOUT_MS)
    assert not w.doc.modified and not w.windowTitle().startswith("•")
    assert w.open_background(str(images / "bg.png"))
    assert asked == [] and w.doc.foreground is None and w.doc.bg_name == "bg.png"
    assert w.panel.layers.count() == 1


def test_a_project_naming_a_model_file_asks_before_using_it(qtbot, composed, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from harmonizer_gui import document_io

    sent = tmp_path / "sent.safetensors"
    sent.write_bytes(b"not ours to read unasked")
    composed.doc.set_model(str(sent))
    path = document_io.save_project(composed.doc, tmp_path / "sent.ora")
    composed.doc.set_model("classical")
    answers, asked = [QMessageBox.No, QMessageBox.Yes], []
    monkeypatch.setattr("harmonizer_gui.window_files.QMessageBox.question",
                        lambda *a, **k: asked.append(a[2]) or answers.pop(0))
    assert composed.open_project(str(path))
    assert composed.doc.model == "default" and str(sent) in asked[0]
    assert "default model is selected" in composed.statusBar().currentMessage()
    assert composed.open_project(str(path))
    assert composed.doc.model == str(sent) and len(asked) == 2


def test_replace_background_keeps_the_cut_out_in_one_undo_step(qtbot, composed, images, tmp_path):
    doc = composed.doc
    fg, transform = doc.foreground, doc.transform
    Image.fromarray(np.full((150, 200, 3), 30, np.uint8)).save(tmp_path / "night.png")
    assert composed.replace_background(str(tmp_path / "night.png"))
    assert doc.foreground is fg and doc.transform == transform and doc.bg_name == "night.png"
    assert "Replace background" in composed.undo_action.text()
    composed.undo()
    assert doc.bg_name == "bg.png"


def test_ctrl_e_exports_again_without_a_dialog_and_ctrl_shift_e_asks(qtbot, composed, tmp_path, monkeypatch):
    from harmonizer_gui import window_files

    asked = []

    def save_dialog(*args, **kwargs):
        asked.append(args)
        return str(tmp_path / "first.jpg"), "JPEG (*.jpg *.jpeg)"

    monkeypatch.setattr(window_files.QFileDialog, "getSaveFileName", save_dialog)
    monkeypatch.setattr(window_files.QInputDialog, "getInt", lambda *a, **k: (80, True))
    qtbot.keyClick(composed, Qt.Key_E, Qt.ControlModifier)  # nothing exported yet: asks where
    assert len(asked) == 1 and (tmp_path / "first.jpg").is_file()
    (tmp_path / "first.jpg").unlink()
    composed.doc.set_opacity(0.5)
    qtbot.keyClick(composed, Qt.Key_E, Qt.ControlModifier)  # again: same file, no dialog
    assert len(asked) == 1 and (tmp_path / "first.jpg").is_file()
    assert composed.export_again_action.text() == "Export to first.jpg"
    qtbot.keyClick(composed, Qt.Key_E, Qt.ControlModifier | Qt.ShiftModifier)  # Export As always asks
    assert len(asked) == 2
    composed.open_background(str(tmp_path / "first.jpg"))  # another picture has no export target yet
    qtbot.keyClick(composed, Qt.Key_E, Qt.ControlModifier)
    assert len(asked) == 3


def test_ctrl_c_copies_the_harmonized_picture(qtbot, composed):
    from test_gui_editor import harmonize

    assert harmonize(qtbot, composed)
    qtbot.keyClick(composed, Qt.Key_C, Qt.ControlModifier)
    image = QApplication.clipboard().image().convertToFormat(QImage.Format_RGB888)
    assert (image.width(), image.height()) == composed.doc.canvas_size
    assert tuple(image.pixelColor(100, 75).getRgb()[:3]) == tuple(composed.doc.flattened()[75, 100])
    assert "harmonized" in composed.statusBar().currentMessage()


def test_paste_a_copied_image_file(window, images):
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(images / "bg.png"))])  # what a file manager's Copy puts there
    QApplication.clipboard().setMimeData(data)
    assert window.paste(foreground=False) and window.doc.bg_name == "bg.png"
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(images / "fg.png"))])
    QApplication.clipboard().setMimeData(data)
    assert window.paste(foreground=True) and window.doc.fg_name == "fg.png"
    assert window.doc.fg_alpha is not None  # the file's transparency came along, as when opened


def test_pasting_a_copied_file_leaves_a_process_that_exits_cleanly(tmp_path):
    """The test above, alone in a fresh interpreter: its exit status, not only its verdict, must be clean."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path}",
                           __file__, "-k", "test_paste_a_copied_image_file"],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout


def test_drop_image_data_from_a_browser(window, images):
    from PySide6.QtGui import QDragEnterEvent

    data = QMimeData()
    data.setData("image/png", (images / "bg.png").read_bytes())  # a browser offers the bytes and a web URL
    data.setUrls([QUrl("https://example.org/bg.png")])
    enter = QDragEnterEvent(QPointF(50, 50), Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    window.dropEvent(QDropEvent(QPointF(50, 50), Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier))
    assert window.doc.canvas_size == (200, 150) and window.doc.bg_name == "Dropped image"
    data = QMimeData()
    data.setImageData(QImage(str(images / "fg.png")))
    window.dropEvent(QDropEvent(QPointF(50, 50), Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier))
    assert window.doc.fg_name == "Dropped image" and window.doc.fg_alpha is not None


def test_a_missing_qt_platform_library_is_one_clear_line():
    import os
    import subprocess
    import sys

    from harmonizer_gui import platform_check

    missing = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
    line = platform_check.problem({"DISPLAY": ":0"}, "linux", loads=lambda so: so not in missing)
    assert "libxcb-icccm4 libxcb-keysyms1" in line and "\n" not in line
    assert platform_check.problem({"DISPLAY": ":0"}, "linux", loads=lambda so: True) is None
    assert platform_check.problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert "DISPLAY" in platform_check.problem({}, "linux")
    # The real start, on a display that does not exist: one line and exit status 1, never Qt's abort.
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DISPLAY")}
    if not sys.platform.startswith("linux"):
        return
    root = Path(platform_check.__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "harmonizer_gui.app"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=root)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and done.stderr.startswith("error: no display")


def test_the_readme_shortcut_table_is_the_editors(window):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("<summary>Keyboard shortcuts</summary>", 1)[1].split("</details>", 1)[0]
    rows = [tuple(cell.strip() for cell in line.strip().strip("|").split(" | "))
            for line in block.splitlines() if line.startswith("| ")][2:]  # after the header and its rule
    assert rows == menus.shortcut_rows(window)
    keys = {action: key for _where, action, key in rows}
    assert keys["Export"] == "Ctrl+E" and keys["Export as"] == "Ctrl+Shift+E" and keys["Copy picture"] == "Ctrl+C"


def test_tool_settings_live_in_one_model_that_every_view_follows(window, qtbot):
    """Brush, tool and overlay are one Qt-free ToolSettings: a change from the panel, a key or the menu
    reaches the canvas, the other views and the saved preferences; writing back the same value is quiet."""
    tools, panel = window.tools, window.panel
    seen = []
    tools.events.brush.connect(lambda: seen.append("brush"))
    panel.size_spin.setValue(77)  # the user types a size in the panel
    assert tools.brush.size == 77 and window.canvas.brush.size == 77 and seen == ["brush"]
    panel.size_spin.setValue(77)
    tools.set_brush(size=77)
    assert seen == ["brush"]  # nothing changed, nothing fired
    qtbot.mouseClick(panel.eraser_button, Qt.LeftButton)
    assert tools.tool == "eraser" and window.eraser_action.isChecked()
    window.overlay_action.trigger()  # View ▸ Show mask overlay
    assert panel.overlay_check.isChecked() == tools.overlay_visible == window.overlay_action.isChecked()
    tools.set_brush(size=5000, hardness=-1)
    assert (tools.brush.size, tools.brush.hardness) == (2000.0, 0.0)
    assert panel.size_spin.value() == 2000 and panel.hardness.value() == 0
    window.save_prefs()
    assert window.prefs.brush_size == 2000 and window.prefs.overlay_visible == tools.overlay_visible
