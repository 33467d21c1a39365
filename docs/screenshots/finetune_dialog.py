"""Retake docs/screenshots/finetune_dialog.png: the fine-tune dialog mid-run, fine-tuning the bundled model.

    python docs/screenshots/finetune_dialog.py ../shared/data/composites

It links 48 composites with masks (the shared composites may be shown in screenshots) into a
user-like folder under a temporary home, starts a real 10-minute fine-tune of the bundled model in the
dialog (its own process, as in the editor), waits for eight validations, saves the picture and
discards the run. About two minutes on a 2-core CPU. The test suite takes its own, tiny version of
this picture (tests/test_gui_dialogs_screenshots.py) so it never needs the shared data.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_name("finetune_dialog.png")
VALIDATIONS = 8


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    source = Path(argv[0]).resolve()
    home = Path(tempfile.mkdtemp()) / "alex"
    os.environ.update(QT_QPA_PLATFORM="offscreen", HARMONIZER_DATA_DIR=str(home / ".local/share/harmonizer"),
                      HARMONIZER_CONFIG_DIR=str(home / ".config/harmonizer"))
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from harmonizer_gui import settings
    from harmonizer_gui.app import apply_look
    from harmonizer_gui.dialog_actions import screenshot_dialog
    from harmonizer_gui.main_window import MainWindow

    folder = home / "Pictures" / "street-photos"
    folder.mkdir(parents=True)
    for mask in sorted(source.glob("*_mask.png"))[:96:2]:
        image = mask.with_name(mask.name[: -len("_mask.png")] + ".jpg")
        if image.is_file():
            for f in (image, mask):
                os.symlink(f, folder / f.name)
    app = QApplication([])
    apply_look(app)
    window = MainWindow(settings.Preferences(model="classical", autosave_seconds=0), device="cpu")
    window.prompt_on_close, window.ephemeral = False, True
    window.finetune_action.trigger()  # Tools ▸ Fine-tune on your photos…
    dialog = window.dialogs.finetune
    dialog.add_folder(str(folder))
    dialog.name_edit.setText("street")
    dialog.minutes_radio.setChecked(True)
    dialog.minutes_spin.setValue(10)
    dialog.extra_edit.setText("--batch 4 --threads 2 --workers 1")
    try:
        if not dialog.start_training():
            print("error: the fine-tune did not start", file=sys.stderr)
            return 1
        loop = QEventLoop()
        timer = QTimer(interval=500)
        timer.timeout.connect(lambda: (len(dialog.process.state.vals) >= VALIDATIONS or not dialog.process.active)
                              and loop.quit())
        timer.start()
        loop.exec()
        if not dialog.process.active:
            print(f"error: the fine-tune ended early\n{dialog.process.state.failure_report()}", file=sys.stderr)
            return 1
        screenshot_dialog(window, "finetune", OUT)
        print(f"wrote {OUT}")
        return 0
    finally:
        if dialog.process.active:
            dialog.discard_run()
            dialog.process.wait(60_000)
        shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
