"""The editor around the picture: first start, recovery, preferences and recent files, drag and drop,
the clipboard, live mode and the shortcuts table."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
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
    w.canvas.set_brush(size=123, hardness=0.25)
    w.canvas.set_overlay(color=(10, 200, 30))
    w.panel.live.setChecked(True)
    w.resize(900, 650)
    w.close()
    prefs = settings.Preferences.load()
    assert (prefs.brush_size, prefs.brush_hardness, prefs.overlay_color, prefs.live_mode) == (123, 0.25, "#0ac81e", True)
    again = new_window(qtbot, prefs)
    assert again.canvas.brush.size == 123 and again.canvas.overlay_color == (10, 200, 30)
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
    composed.canvas.set_tool("eraser")
    composed.canvas.set_brush(size=10)
    with qtbot.waitSignal(composed.controller.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        drag(qtbot, composed.canvas, [(90, 75), (100, 75)])
        assert composed.doc.result is None  # the stroke made the old result stale
    assert blocker.args == [True] and composed.doc.result is not None


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
