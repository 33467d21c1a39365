"""Screenshots of both dialogs in a real, plausible state: the fine-tune dialog mid-run (curves from a real
tiny training) and the batch dialog after a run that met a corrupt file.

They go to a temporary folder; `HARMONIZER_UPDATE_SCREENSHOTS=1` writes the batch dialog's to
docs/screenshots/ instead. The docs' fine-tune picture shows a real fine-tune of the bundled model and
is retaken with docs/screenshots/finetune_dialog.py (it needs the shared composites).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from PIL import Image  # noqa: E402
from editor_host import StandInEditor  # noqa: E402
from harmonizer_gui.dialog_actions import screenshot_dialog  # noqa: E402
from test_gui_dialogs_finetune import TINY, make_photos  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def out_dir(tmp_path) -> Path:
    if os.environ.get("HARMONIZER_UPDATE_SCREENSHOTS") == "1":
        from PySide6.QtWidgets import QApplication

        from harmonizer_gui.app import apply_look

        apply_look(QApplication.instance())  # the docs show the dialogs as the editor shows them
        return DOCS
    return tmp_path


@pytest.fixture
def window(qtbot, no_bundled_models):
    # A tiny run from scratch (the bundled model's architecture would not fit the tiny settings).
    win = StandInEditor()
    qtbot.addWidget(win)
    return win


def test_finetune_dialog_screenshot_mid_run(window, tmp_path, qtbot):
    dlg = window.dialogs.show_finetune()
    dlg.add_folder(str(make_photos(tmp_path / "holiday-photos", n=10)))
    dlg.name_edit.setText("holiday")
    dlg.epochs_spin.setValue(40)
    dlg.extra_edit.setText(TINY)
    dlg.start_training()
    try:
        # Mid-run: a few validation checks and steps in, still training.
        qtbot.waitUntil(lambda: len(dlg.process.state.vals) >= 4 or not dlg.process.active, timeout=300_000)
        assert dlg.process.active, dlg.process.state.failure_report()
        path = screenshot_dialog(window, "finetune", tmp_path / "finetune_dialog.png")
    finally:
        with qtbot.waitSignal(dlg.process.finished, timeout=60_000):
            dlg.discard_run()
    img = Image.open(path)
    assert 700 <= img.size[0] <= 1366 and 560 <= img.size[1] <= 768 - 80  # a laptop screen, title bar aside


def test_batch_dialog_screenshot_after_a_run(window, tmp_path, qtbot):
    from test_gui_dialogs_batch import composite

    folder = tmp_path / "composites"
    folder.mkdir()
    for i, name in enumerate(("street.png", "portrait.jpg", "beach.png", "market.png", "harbour.jpg")):
        img, mask = composite(i, (96, 128))
        Image.fromarray(img).save(folder / name)
        Image.fromarray(mask).save(folder / f"{Path(name).stem}_mask.png")
    (folder / "scan-0042.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    Image.fromarray(composite(7)[1]).save(folder / "scan-0042_mask.png")
    Image.fromarray(composite(8)[0]).save(folder / "unmasked.jpg")
    dlg = window.dialogs.show_batch()
    dlg.set_input_folder(str(folder))
    dlg.method_combo.setCurrentIndex(dlg.method_combo.findData("classical"))
    with qtbot.waitSignal(dlg.worker_done, timeout=120_000):
        dlg.start_export()
    assert "scan-0042.png" in dlg.report_text.toPlainText()
    path = screenshot_dialog(window, "batch", out_dir(tmp_path) / "batch_dialog.png")
    assert Image.open(path).size[1] >= 600
