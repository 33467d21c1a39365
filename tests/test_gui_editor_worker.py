"""The harmonize worker thread: model loading and jobs off the UI thread, cancel, the latest job wins,
and a UI timer that keeps ticking while a 12-megapixel composite is harmonized."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QTimer  # noqa: E402

from engine.compositing import Harmonization  # noqa: E402
from engine.errors import CancelledError, HarmonizerError  # noqa: E402
from harmonizer_gui.worker import HarmonizeWorker  # noqa: E402

TIMEOUT_MS = 60_000


class GatedHarmonizer:
    """Reports progress, then waits for the test to open a gate, checking cancel like the engine does."""

    method, model_name, device_name = "fake", "fake", "CPU"

    def __init__(self, **kwargs):
        if kwargs.get("model") == "broken":
            raise HarmonizerError("broken.safetensors is not a harmonizer model file")
        self.notice = ""
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls = []

    def run(self, composite, mask, progress=None, cancel=None, reference=None, style=None):
        self.calls.append(int(composite[0, 0, 0]))
        progress(0.1, "running")
        self.started.set()
        while not self.gate.wait(0.005):
            if cancel():
                raise CancelledError("cancelled")
        h, w = mask.shape
        return Harmonization(composite, mask, (0, 0, w, h), composite.astype(np.float32) + 1)


@pytest.fixture
def worker(qtbot):
    w = HarmonizeWorker(harmonizer_factory=GatedHarmonizer)
    w.start()
    yield w
    if w.harmonizer is not None:
        w.harmonizer.gate.set()
    w.stop()
    assert w.wait(5000)


def load(qtbot, worker, model="fake"):
    with qtbot.waitSignal(worker.model_loaded, timeout=TIMEOUT_MS) as blocker:
        worker.load_model(model)
    assert blocker.args[1:] == ["fake", "CPU", "fake"]
    return worker.harmonizer


def image(value):
    return np.full((8, 8, 3), value, np.uint8), np.ones((8, 8), np.float32)


def test_job_reports_progress_and_result(qtbot, worker):
    h = load(qtbot, worker)
    stages = []
    worker.progress.connect(lambda job, fraction, stage: stages.append(stage))
    h.gate.set()
    with qtbot.waitSignal(worker.finished_job, timeout=TIMEOUT_MS) as blocker:
        job = worker.submit(*image(5), revision=42)
    assert blocker.args[0] == job and blocker.args[2] == 42 and int(blocker.args[1][0][0, 0, 0]) == 6
    assert stages == ["running", "done"]


def test_cancel_stops_a_running_job(qtbot, worker):
    h = load(qtbot, worker)
    job = worker.submit(*image(1), revision=0)
    assert h.started.wait(10)
    with qtbot.waitSignal(worker.cancelled, timeout=TIMEOUT_MS) as blocker:
        worker.cancel()
    assert blocker.args == [job]
    qtbot.waitUntil(lambda: not worker.busy, timeout=TIMEOUT_MS)


def test_latest_job_wins(qtbot, worker):
    h = load(qtbot, worker)
    first = worker.submit(*image(1), revision=1)
    assert h.started.wait(10)
    cancelled = []
    worker.cancelled.connect(cancelled.append)
    worker.submit(*image(2), revision=2)
    last = worker.submit(*image(3), revision=3)  # replaces the waiting one before it ever runs
    with qtbot.waitSignal(worker.finished_job, timeout=TIMEOUT_MS) as blocker:
        h.gate.set()
    assert blocker.args[0] == last and blocker.args[2] == 3
    assert cancelled == [first] and h.calls == [1, 3]


def test_model_errors_are_messages(qtbot, worker):
    with qtbot.waitSignal(worker.model_failed, timeout=TIMEOUT_MS) as blocker:
        request = worker.load_model("broken")
    assert blocker.args == [request, "broken", "broken.safetensors is not a harmonizer model file"]
    with qtbot.waitSignal(worker.failed, timeout=TIMEOUT_MS) as blocker:
        worker.submit(*image(1), revision=0)
    assert "no model" in blocker.args[1]


def test_ui_keeps_ticking_while_a_12_megapixel_composite_is_harmonized(qtbot, tmp_path, monkeypatch):
    """The only timed assertion: a 10 ms UI timer never waits more than 100 ms during the run."""
    from harmonizer_gui import settings
    from harmonizer_gui.main_window import MainWindow

    w = MainWindow(settings.Preferences(model="classical", autosave_seconds=0), device="cpu")
    w.prompt_on_close = False
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.controller.loaded_model == "classical", timeout=TIMEOUT_MS)
    rng = np.random.default_rng(0)
    h, wd = 3000, 4000
    y, x = np.mgrid[0:h, 0:wd]
    bg = np.dstack([(x // 16) % 256, (y // 12) % 256, np.full_like(x, 120)]).astype(np.uint8)
    fg = rng.integers(150, 255, (1400, 1000, 3), dtype=np.uint8)
    w.doc.load(bg, bg_name="big.png")
    w.doc.set_foreground(fg, None, "fg.png")
    w.doc.composite()
    qtbot.wait(50)

    ticks = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    with qtbot.waitSignal(w.controller.finished, timeout=TIMEOUT_MS) as blocker:
        timer.start()
        qtbot.wait(30)
        assert w.controller.harmonize()
    qtbot.wait(30)
    timer.stop()
    assert blocker.args == [True] and w.doc.result is not None
    gaps = np.diff(ticks)
    assert len(gaps) > 3
    assert gaps.max() < 0.100, f"the UI stalled for {gaps.max() * 1000:.0f} ms"
    w.close()
