"""Both Tools dialogs close the ways a user closes a window (the Close button, Esc, the window manager's
close, `reject()`), ask before throwing away a run in progress, and fit a 1366x768 laptop screen."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QScrollArea  # noqa: E402

from editor_host import StandInEditor  # noqa: E402
from harmonizer_gui.batch_dialog import BatchDialog  # noqa: E402
from harmonizer_gui.dialog_layout import BODY_NAME  # noqa: E402
from harmonizer_gui.finetune_dialog import FinetuneDialog  # noqa: E402
from test_gui_dialogs_finetune_flow import env  # noqa: E402,F401

LAPTOP = (1366, 768)
# What a desktop's panel and the window's title bar leave of a 768-px-high screen.
USABLE_HEIGHT = 768 - 80


@pytest.fixture
def window(env, qtbot):  # noqa: F811
    win = StandInEditor()
    qtbot.addWidget(win)
    win.show()
    return win


def open_dialog(window, kind):
    return window.dialogs.show_finetune() if kind == "finetune" else window.dialogs.show_batch()


@pytest.mark.parametrize("kind", ["finetune", "batch"])
def test_close_button_esc_close_and_reject_all_close(window, qtbot, kind):
    dlg = open_dialog(window, kind)
    qtbot.waitExposed(dlg)
    qtbot.mouseClick(dlg.close_btn, Qt.LeftButton)
    assert not dlg.isVisible()

    dlg = open_dialog(window, kind)
    qtbot.keyClick(dlg, Qt.Key_Escape)
    assert not dlg.isVisible()

    dlg = open_dialog(window, kind)
    assert dlg.close() and not dlg.isVisible()

    dlg = open_dialog(window, kind)
    dlg.reject()
    assert not dlg.isVisible()


def test_closing_the_finetune_dialog_while_training_asks_first(env, window, qtbot, monkeypatch):  # noqa: F811
    _tmp, photos, command = env
    dlg = open_dialog(window, "finetune")
    dlg.process._command = command
    dlg.add_folder(str(photos))
    dlg.name_edit.setText("mine")
    dlg.extra_edit.setText("--slow")
    dlg.start_training()
    qtbot.waitUntil(lambda: dlg.process.state.last_step is not None, timeout=30000)
    answers = iter([False, True])
    monkeypatch.setattr(FinetuneDialog, "confirm_stop", lambda self: next(answers))
    qtbot.keyClick(dlg, Qt.Key_Escape)  # "keep training"
    assert dlg.isVisible() and dlg.process.active
    with qtbot.waitSignal(dlg.process.finished, timeout=30000) as sig:
        qtbot.mouseClick(dlg.close_btn, Qt.LeftButton)  # "stop": a checkpoint first, then it closes
    assert sig.args == ["stopped"]
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=5000)


def slow_batch(tmp_path, n=12):
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(folder / f"m{i:02d}.png")
        Image.fromarray(np.full((256, 256), 255, np.uint8)).save(folder / f"m{i:02d}_mask.png")
    return folder


def test_closing_the_batch_dialog_while_exporting_asks_first(env, window, qtbot, monkeypatch):  # noqa: F811
    tmp_path = env[0]
    dlg = open_dialog(window, "batch")
    dlg.set_input_folder(str(slow_batch(tmp_path)))
    dlg.out_edit.setText(str(tmp_path / "out"))
    dlg.method_combo.setCurrentIndex(dlg.method_combo.findData("classical"))
    answers = iter([False, True])
    monkeypatch.setattr(BatchDialog, "confirm_cancel", lambda self: next(answers))
    with qtbot.waitSignal(dlg.worker_done, timeout=120_000):
        assert dlg.start_export()
        qtbot.keyClick(dlg, Qt.Key_Escape)  # "keep exporting"
        assert dlg.isVisible() and dlg.running
        assert not dlg.close()  # "cancel": it closes once the current file is done
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=5000)


def fits(dlg, height):
    """The dialog takes `height` without squashing its content into itself, and Close is in reach."""
    dlg.resize(dlg.width(), height)
    qt_app_process()
    body = dlg.findChild(QScrollArea, BODY_NAME).widget()
    close = dlg.close_btn.mapTo(dlg, dlg.close_btn.rect().bottomRight())
    return (dlg.height() <= height and body.height() >= body.minimumSizeHint().height()
            and close.y() < dlg.height() and dlg.close_btn.isVisible())


def qt_app_process():
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()


def test_the_finetune_dialog_fits_a_laptop_screen_before_and_after_its_results(env, window, qtbot):  # noqa: F811
    _tmp, photos, command = env
    dlg = open_dialog(window, "finetune")
    dlg.process._command = command
    assert dlg.width() <= LAPTOP[0] and dlg.height() <= USABLE_HEIGHT
    assert fits(dlg, USABLE_HEIGHT) and fits(dlg, 600)
    dlg.add_folder(str(photos))
    height = dlg.height()
    with qtbot.waitSignal(dlg.process.finished, timeout=30000):
        dlg.start_training()
        qtbot.waitUntil(lambda: not dlg.setup_section.expanded)  # folded while the run is active
    assert dlg.results_box.isVisibleTo(dlg) and dlg.setup_section.expanded
    assert dlg.height() == height  # the results scroll in; the window does not grow off the screen
    assert fits(dlg, USABLE_HEIGHT)


def test_the_batch_dialog_fits_a_laptop_screen(env, window, qtbot):  # noqa: F811
    dlg = open_dialog(window, "batch")
    assert dlg.width() <= LAPTOP[0] and dlg.height() <= USABLE_HEIGHT
    assert fits(dlg, USABLE_HEIGHT) and fits(dlg, 600) and fits(dlg, 480)


@pytest.mark.parametrize("kind", ["finetune", "batch"])
def test_the_dialogs_need_no_sideways_scrolling_at_their_opening_width(window, qtbot, kind):
    """A long note beside a field once made the fine-tune form wider than its dialog: text was cut off at
    the right edge behind a horizontal scroll bar."""
    dlg = open_dialog(window, kind)
    qtbot.waitExposed(dlg)
    qt_app_process()
    scroll = dlg.findChild(QScrollArea, BODY_NAME)
    assert not scroll.horizontalScrollBar().isVisible()
    assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width()
