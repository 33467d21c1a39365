"""The batch export dialog: pairing, a run with a corrupt file in a worker thread, the report, Cancel,
and byte-identical output with `harmonizer batch` for identical settings."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PIL import Image  # noqa: E402

from harmonizer_gui.batch_dialog import BatchDialog  # noqa: E402
from ui_gaps import GAP_LIMIT_S, GapMeter  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def composite(seed: int, size=(48, 64)):
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(40, 200, 3)
    img[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = rng.integers(0, 255, 3)  # the pasted foreground
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
    return img, mask


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, name in enumerate(("alpha.png", "beta.jpg", "gamma.png")):
        img, mask = composite(i)
        Image.fromarray(img).save(folder / name, quality=95)
        Image.fromarray(mask).save(folder / f"{Path(name).stem}_mask.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    Image.fromarray(composite(9)[1]).save(folder / "broken_mask.png")
    Image.fromarray(composite(5)[0]).save(folder / "lonely.png")  # no mask: listed, not exported
    return tmp_path, folder


def make_dialog(qtbot, folder, out):
    dlg = BatchDialog()
    qtbot.addWidget(dlg)
    dlg.set_input_folder(str(folder))
    dlg.out_edit.setText(str(out))
    dlg.method_combo.setCurrentIndex(dlg.method_combo.findData("classical"))
    dlg.show()
    return dlg


def run_dialog(qtbot, dlg):
    with qtbot.waitSignal(dlg.worker_done, timeout=120_000):
        assert dlg.start_export()


def test_pairs_and_unmatched_are_shown(inputs, qtbot):
    tmp_path, folder = inputs
    dlg = make_dialog(qtbot, folder, tmp_path / "out")
    assert "4 composites with a mask" in dlg.found_label.text()
    assert [dlg.unmatched_list.item(i).text() for i in range(dlg.unmatched_list.count())] == ["lonely.png"]
    assert dlg.export_btn.isEnabled()
    dlg.template_edit.setText("{nme}_x")
    assert not dlg.export_btn.isEnabled() and "{name}" in dlg.template_note.text()
    dlg.template_edit.setText("{name}_x")
    assert dlg.template_note.text() == "beach.jpg → beach_x.png"
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("jpg"))
    assert dlg.quality_spin.isEnabled()
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("tif"))
    assert not dlg.quality_spin.isEnabled()


def test_export_with_a_corrupt_file_reports_it_and_keeps_going(inputs, qtbot):
    tmp_path, folder = inputs
    out = tmp_path / "out"
    dlg = make_dialog(qtbot, folder, out)
    with GapMeter() as gaps:
        run_dialog(qtbot, dlg)
    assert gaps.max_gap < GAP_LIMIT_S, f"UI froze for {gaps.max_gap:.3f} s"
    written = sorted(p.name for p in out.iterdir())
    assert written == ["alpha_harmonized.png", "beta_harmonized.png", "gamma_harmonized.png"]
    for name in written:
        assert Image.open(out / name).size == (64, 48)
    text = dlg.report_text.toPlainText()
    assert "broken.png" in text and dlg.report_text.isVisibleTo(dlg)
    assert dlg.save_report_btn.isEnabled()
    saved = tmp_path / "report.txt"
    dlg.save_report(saved)
    assert "broken.png" in saved.read_text()

    # Again with "skip": nothing is rewritten; with "rename": new files beside the old ones.
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    dlg.policy_combo.setCurrentIndex(dlg.policy_combo.findData("skip"))
    run_dialog(qtbot, dlg)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes
    dlg.policy_combo.setCurrentIndex(dlg.policy_combo.findData("rename"))
    run_dialog(qtbot, dlg)
    assert len(list(out.iterdir())) == 6
    # The next opening starts from the last run's choices.
    again = BatchDialog()
    qtbot.addWidget(again)
    assert again.out_edit.text() == str(out) and again.policy_combo.currentData() == "rename"
    assert again.method_combo.currentData() == "classical" and "4 composites" in again.found_label.text()


def test_cancel_stops_between_files_without_partial_outputs(inputs, qtbot):
    tmp_path, folder = inputs
    for i in range(12):
        img, mask = composite(20 + i, (256, 256))
        Image.fromarray(img).save(folder / f"many{i:02d}.png")
        Image.fromarray(mask).save(folder / f"many{i:02d}_mask.png")
    out = tmp_path / "out"
    dlg = make_dialog(qtbot, folder, out)
    with qtbot.waitSignal(dlg.worker_done, timeout=120_000):
        dlg.start_export()
        assert dlg.cancel_btn.isEnabled() and not dlg.export_btn.isEnabled()
        dlg.cancel_btn.click()
    assert "ancel" in dlg.file_label.text()
    produced = list(out.iterdir()) if out.exists() else []
    assert len(produced) < 15
    assert not [p for p in produced if ".tmp" in p.name]  # atomic writes leave no partial files
    assert dlg.export_btn.isEnabled()


def test_cli_and_dialog_write_identical_files(inputs, qtbot):
    from engine import openraster

    tmp_path, folder = inputs
    img, mask = composite(7)
    layers = [openraster.OraLayer("paper", np.dstack([img, np.full(mask.shape, 255, np.uint8)])),
              openraster.OraLayer("object", np.dstack([img, mask]))]
    project = tmp_path / "delta.ora"
    openraster.save_ora(project, layers, {}, (img.shape[1], img.shape[0]))
    gui_out, cli_out = tmp_path / "gui", tmp_path / "cli"
    dlg = make_dialog(qtbot, folder, gui_out)
    dlg.add_ora([str(project)])
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("jpg"))
    dlg.quality_spin.setValue(80)
    dlg.template_edit.setText("{name}-h")
    dlg.strength_spin.setValue(70)
    dlg.limit_radio.setChecked(True)
    dlg.max_side_spin.setValue(32)
    run_dialog(qtbot, dlg)
    cmd = [sys.executable, "-m", "harmonizer_cli", "batch", str(folder), str(project), "--out", str(cli_out), "--method", "classical",
           "--format", "jpg", "--quality", "80", "--name", "{name}-h", "--strength", "0.7", "--max-side", "32"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    gui_files = sorted(p.name for p in gui_out.iterdir())
    assert gui_files == ["alpha-h.jpg", "beta-h.jpg", "delta-h.jpg", "gamma-h.jpg"], done.stderr
    assert sorted(p.name for p in cli_out.iterdir()) == gui_files, done.stderr
    for name in gui_files:
        assert (gui_out / name).read_bytes() == (cli_out / name).read_bytes(), name
        assert max(Image.open(gui_out / name).size) == 32


def test_batch_export_starts_with_the_editors_model(inputs, qtbot):
    from engine.model_file import save_model
    from engine.rainnet import RainNet
    from harmonizer_gui import settings
    from harmonizer_gui.main_window import MainWindow

    tmp_path, _folder = inputs
    mine = save_model(tmp_path / "data" / "models" / "mine.safetensors", RainNet(ngf=4, depth=5), {"size": 64}, {})
    window = MainWindow(settings.Preferences(), device="cpu")
    window.prompt_on_close = False
    qtbot.addWidget(window)
    window.select_model(str(mine))
    qtbot.waitUntil(lambda: window.controller.loaded_model == str(mine), timeout=60_000)
    window.batch_action.trigger()  # Tools ▸ Batch export…
    assert window.dialogs.batch.method_combo.currentData() == "mine"
    assert window.dialogs.batch.options().model == "mine"
    window.close()
