"""Start-up cost: torch (seconds to import) is loaded only when a network is about to run, and the
editor builds its window before the model loads, saying so on the Harmonize button.

The torch checks run in fresh interpreters: the test process itself has long imported torch."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300

# Runs each command in turn and names the first one after which torch is loaded.
CLI_PROBE = """
import sys
from harmonizer_cli import main

def run(*argv):
    try:
        main(list(argv))
    except SystemExit:  # --help and --version exit through argparse
        pass
    if "torch" in sys.modules:
        print("TORCH AFTER: " + " ".join(argv))
        sys.exit(0)

run("--help")
run("--version")
run("harmonize", "--help")
run("models")
run("harmonize", sys.argv[1] + "/c.png", sys.argv[1] + "/m.png", "-o", sys.argv[1] + "/out.png",
    "--method", "classical")
run("batch", sys.argv[1] + "/in", "-o", sys.argv[1] + "/batch", "--method", "classical")
run("eval", sys.argv[1] + "/eval", "--baseline")
print("NO TORCH")
"""

# The editor's window with the default model chosen, then the Tools dialogs' forms.
GUI_PROBE = """
import sys
from harmonizer_gui.app import application
from harmonizer_gui import settings
from harmonizer_gui.main_window import MainWindow

app = application()
prefs = settings.Preferences()
prefs.autosave_seconds = 0
window = MainWindow(prefs, device="cpu")
window.prompt_on_close = False
window.show()
print("window: " + ("TORCH" if "torch" in sys.modules else "no torch"))
window.controller.select_model("classical")  # the forms below are what is measured, not the model
actions = window.dialogs
actions.show_batch()
actions.show_finetune()
app.processEvents()
print("dialogs: " + ("TORCH" if "torch" in sys.modules else "no torch"))
window.close()
"""


def probe_env(tmp_path: Path) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HARMONIZER_DATA_DIR=str(tmp_path / "data"),
               HARMONIZER_CONFIG_DIR=str(tmp_path / "config"))
    env.pop("PYTHONPATH", None)
    return env


def scene(folder: Path, stem: str, mask_name: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / f"{stem}.png")
    if mask_name:
        mask = np.zeros((48, 64), np.uint8)
        mask[12:36, 20:44] = 255
        Image.fromarray(mask).save(folder / mask_name)


def test_the_command_line_imports_torch_only_for_a_network(tmp_path):
    scene(tmp_path, "c", "m.png")
    scene(tmp_path / "in", "a", "a_mask.png")
    scene(tmp_path / "eval", "x_comp", "x_mask.png")
    scene(tmp_path / "eval", "x_real", None)
    done = subprocess.run([sys.executable, "-c", CLI_PROBE, str(tmp_path)], cwd=ROOT, env=probe_env(tmp_path),
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "NO TORCH", done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "out.png").is_file() and (tmp_path / "batch" / "a.png").is_file()


def test_the_editor_window_and_dialog_forms_come_up_without_torch(tmp_path):
    pytest.importorskip("PySide6")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(GUI_PROBE)], cwd=ROOT, env=probe_env(tmp_path),
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["window:", "no", "torch", "dialogs:", "no", "torch"], done.stdout + done.stderr


def test_the_harmonize_button_says_loading_until_the_model_is_ready(qtbot, tmp_path, monkeypatch):
    pytest.importorskip("PySide6")
    from engine.registry import bundled_models_dir, list_models
    from harmonizer_gui import settings
    from harmonizer_gui.main_window import MainWindow

    if not any(m.bundled and m.name == "default" for m in list_models()):
        pytest.skip(f"no bundled default model in {bundled_models_dir()}")
    window = MainWindow(settings.Preferences(), device="cpu")
    window.prompt_on_close = False
    qtbot.addWidget(window)
    # Nothing is loaded before the event loop runs: the window comes first.
    assert not window.controller.worker.isRunning()
    assert window.panel.harmonize_button.text().strip() == "Loading model…"
    qtbot.waitUntil(lambda: window.controller.loaded_model == "default", timeout=120_000)
    assert window.panel.harmonize_button.text().strip() == "Harmonize"
    window.close()
