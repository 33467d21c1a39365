"""The fine-tune dialog driving the real trainer through QProcess: a tiny run to completion, Stop and
Resume, with a UI-thread timer proving the window never freezes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PIL import Image  # noqa: E402

from engine.registry import list_models  # noqa: E402
from harmonizer_gui.finetune_dialog import FinetuneDialog  # noqa: E402
from harmonizer_gui.training_run import FINISHED, STOPPED  # noqa: E402
from ui_gaps import GAP_LIMIT_S, GapMeter  # noqa: E402

# A network small enough to train for a few steps in seconds on a shared 2-core machine.
TINY = "--ngf 4 --depth 5 --size 32 --batch 2 --workers 0"


def make_photos(folder: Path, n: int = 6) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(n):
        base = rng.integers(30, 220, 3)
        img = np.clip(base + (xx[..., None] - 32) * rng.uniform(-2, 2, 3), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"photo{i}.png")
        if i % 2 == 0:
            mask = (((xx - 32) ** 2 + (yy - 30) ** 2) < (12 + i) ** 2).astype(np.uint8) * 255
            Image.fromarray(mask).save(folder / f"photo{i}_mask.png")
    return folder


@pytest.fixture
def dialog(tmp_path, monkeypatch, qtbot):
    dlg = FinetuneDialog()
    qtbot.addWidget(dlg)
    dlg.add_folder(str(make_photos(tmp_path / "photos")))
    dlg.name_edit.setText("tiny-test")
    dlg.base_combo.setCurrentIndex(dlg.base_combo.findData(""))  # from scratch: the test owns no model
    dlg.epochs_radio.setChecked(True)
    dlg.epochs_spin.setValue(1)
    dlg.show()
    yield dlg
    if dlg.process.active:
        dlg.process.kill()
        dlg.process.wait(10000)


def test_tiny_training_runs_to_completion(dialog, qtbot):
    dialog.extra_edit.setText(f"{TINY} --max-steps 4")
    with GapMeter() as gaps:
        with qtbot.waitSignal(dialog.process.finished, timeout=300_000) as sig:
            assert dialog.start_training()
    state = dialog.process.state
    assert sig.args == [FINISHED], state.failure_report()
    assert state.start["train_images"] + state.start["val_images"] == 6
    assert len(state.losses) >= 1 and dialog.loss_curves.point_count() >= 2
    assert any(v["epoch"] == 0 for v in state.vals) and dialog.val_curves.point_count() >= 2
    model = Path(state.done["model_path"])
    assert model.is_file() and any(m.path == model for m in list_models())
    assert dialog.results_box.isVisibleTo(dialog) and dialog.results_table.item(0, 0).text() != "–"
    assert dialog.use_btn.isVisibleTo(dialog) and dialog.progress.value() == 1000
    assert gaps.max_gap < GAP_LIMIT_S, f"UI froze for {gaps.max_gap:.3f} s"


def test_stop_leaves_a_checkpoint_that_resumes(dialog, qtbot):
    # A long budget, so the run is still going when Stop arrives; --max-steps only caps it.
    dialog.epochs_spin.setValue(200)
    dialog.extra_edit.setText(f"{TINY} --max-steps 400")
    with GapMeter() as gaps:
        dialog.start_training()
        qtbot.waitUntil(lambda: len(dialog.process.state.losses) >= 1, timeout=300_000)
        with qtbot.waitSignal(dialog.process.finished, timeout=120_000) as sig:
            dialog.stop_training()
    state = dialog.process.state
    assert sig.args == [STOPPED], state.failure_report()
    assert state.done["stopped"] is True and Path(state.checkpoint).is_file()
    assert dialog.resume_btn.isEnabled()
    stopped_at = state.losses[-1][0]
    assert gaps.max_gap < GAP_LIMIT_S, f"UI froze for {gaps.max_gap:.3f} s"

    # Resume with a budget that ends two steps later: it must continue, not start over.
    dialog._resume["settings"]["extra_args"] = [*TINY.split(), "--max-steps", str(stopped_at + 2)]
    with qtbot.waitSignal(dialog.process.finished, timeout=300_000) as sig:
        assert dialog.resume_training()
    state = dialog.process.state
    assert sig.args == [FINISHED], state.failure_report()
    assert state.losses and state.losses[0][0] > stopped_at
    assert Path(state.done["model_path"]).is_file()
