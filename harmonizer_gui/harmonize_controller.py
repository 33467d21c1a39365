"""Between the document and the worker thread: which model is loaded, running and cancelling
harmonizations, live mode, and what to tell the user about it.

The main window and the side panel only talk to this object; it never touches widgets.
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from engine.registry import DEFAULT_NAME, list_models
from harmonizer_gui.document import CLASSICAL, Document
from harmonizer_gui.worker import HarmonizeWorker

LIVE_DELAY_MS = 350  # after the last stroke or move, long enough not to start a run per dab


def model_choices() -> list[tuple[str, str]]:
    """(label, value) for the model picker: the bundled default when installed, every model found,
    and the classical method, which needs no weights."""
    defaults, others = [], []
    for info in list_models():
        if info.bundled and info.name == DEFAULT_NAME:
            defaults.append(("Default model", DEFAULT_NAME))
        else:
            others.append((info.name if not info.bundled else f"{info.name} (bundled)", str(info.path)))
    return defaults + others + [("Classical (no model)", CLASSICAL)]


def describe_model(value: str) -> str:
    if value == CLASSICAL:
        return "Classical"
    if value == DEFAULT_NAME:
        return "Default model"
    return Path(value).stem if value.endswith(".safetensors") else value


class HarmonizeController(QObject):
    busy_changed = Signal(bool)
    progress = Signal(float, str)
    message = Signal(str, bool)           # text, is_error
    model_changed = Signal(str, str, str)  # model value in use, its label, device description
    finished = Signal(bool)               # True when a result was installed

    def __init__(self, doc: Document, parent=None, device: str = "auto"):
        super().__init__(parent)
        self.doc = doc
        self.device = device
        self.loaded_model: str | None = None   # what the worker holds now
        self.device_name = ""
        self.live = False
        self._pending_model: tuple[int, str] | None = None
        self._job: int | None = None
        self._harmonize_after_load = False
        self._started = 0.0
        self._shut_down = False
        self.worker = HarmonizeWorker()
        self.worker.model_loaded.connect(self._on_model_loaded)
        self.worker.model_failed.connect(self._on_model_failed)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished_job.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.notice.connect(lambda text: self.message.emit(text, False))
        # Started from the event loop, once the window is up: the first model load imports torch
        # (seconds of interpreter time), which would otherwise hold up building and showing the window.
        QTimer.singleShot(0, self, self._start_worker)
        self._live_timer = QTimer(self, singleShot=True, interval=LIVE_DELAY_MS)
        self._live_timer.timeout.connect(self._live_run)
        doc.events.changed.connect(self._on_doc_changed)
        doc.events.result.connect(self._on_result)
        self._told_stale = False

    def _start_worker(self) -> None:
        if not self._shut_down and not self.worker.isRunning():
            self.worker.start()

    # -- models ----------------------------------------------------------------------------------------
    def select_model(self, value: str, by_user: bool = True) -> None:
        """Load `value` in the worker ("default", a name, a path or "classical"); the document remembers it."""
        self.doc.set_model(value, by_user)
        if value == self.loaded_model and self._pending_model is None:
            return
        self._pending_model = (self.worker.load_model(value, self.device), value)
        self.busy_changed.emit(self.busy)

    def _on_model_loaded(self, request: int, name: str, device: str, method: str) -> None:
        if self._pending_model is None or self._pending_model[0] != request:
            return
        value = self._pending_model[1]
        self._pending_model = None
        self.loaded_model = value
        self.device_name = device
        self.model_changed.emit(value, describe_model(value), device)
        self.busy_changed.emit(self.busy)
        if self._harmonize_after_load:
            self._harmonize_after_load = False
            self.harmonize()

    def _on_model_failed(self, request: int, value: str, text: str) -> None:
        if self._pending_model is None or self._pending_model[0] != request:
            return
        self._pending_model = None
        if value == DEFAULT_NAME:
            # No bundled weights yet: the editor still works, with the weight-free method.
            self.message.emit("No bundled model is installed yet; using the classical method "
                              "(Tools ▸ Fine-tune trains one).", False)
        else:
            self.message.emit(f"Cannot use {describe_model(value)}: {text}; using the classical method.", True)
        self.select_model(CLASSICAL, by_user=False)

    # -- running ---------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._job is not None or self._pending_model is not None

    @property
    def running(self) -> bool:
        return self._job is not None

    @property
    def loading(self) -> bool:
        """A network is being loaded (switching to the classical method is instant)."""
        return self._pending_model is not None and self._pending_model[1] != CLASSICAL

    def harmonize(self) -> bool:
        """Start harmonizing the current composite; False (with a message) when it cannot start."""
        if self.doc.background is None:
            self.message.emit("Open a background image first.", True)
            return False
        if self._pending_model is not None:
            self._harmonize_after_load = True
            self.message.emit("Loading the model…", False)
            return True
        if self.loaded_model is None:
            self._harmonize_after_load = True
            self.select_model(self.doc.model or CLASSICAL)
            return True
        mask = self.doc.composite_mask()
        if not (mask > 0.01).any():
            self.message.emit("The mask is empty: paint over the object to harmonize (B for the brush).", True)
            return False
        self._job = self.worker.submit(*self.doc.shared_inputs(), reference=self.doc.harmonize_reference(),
                                       style=self.doc.match_photo)
        self._started = time.perf_counter()
        self.busy_changed.emit(True)
        self.progress.emit(0.0, "starting")
        return True

    def cancel(self) -> None:
        """Stop the running harmonization; the document stays as it is."""
        self._harmonize_after_load = False
        self._live_timer.stop()
        if self._job is not None:
            # Forget the job now (a queued one never reports back); its late replies are ignored.
            self._job = None
            self.worker.cancel()
            self.message.emit("Harmonization cancelled; the picture is unchanged.", False)
            self.busy_changed.emit(self.busy)
            self.finished.emit(False)

    @property
    def needs_run(self) -> bool:
        """No result for the picture as it is: none yet, or the mask was painted since."""
        return self.doc.background is not None and (self.doc.result is None or self.doc.result_stale)

    def set_live(self, on: bool) -> None:
        self.live = bool(on)
        if self.live and self.needs_run:
            self._live_timer.start()
        elif not self.live:
            self._live_timer.stop()

    def _on_doc_changed(self, _box) -> None:
        if self.live and self.needs_run and not self.doc.stroking:
            self._live_timer.start()

    def _on_result(self) -> None:
        # Said once per stale result, in the status line; the panel shows it on the layer and button.
        stale = self.doc.result is not None and self.doc.result_stale
        if stale and not self._told_stale and not self.live:
            self.message.emit("The harmonized layer is out of date (the mask, the reference area or the photo to "
                              "match changed). Harmonize again (Ctrl+H) to update it.", False)
        self._told_stale = stale

    def stroke_finished(self) -> None:
        if self.live:
            self._live_timer.start()

    def _live_run(self) -> None:
        if self.live and self.needs_run and not self.doc.stroking:
            if (self.doc.composite_mask() > 0.01).any():
                self.harmonize()

    # -- worker replies --------------------------------------------------------------------------------
    def _on_progress(self, job: int, fraction: float, stage: str) -> None:
        if job == self._job:
            self.progress.emit(fraction, stage)

    def _on_finished(self, job: int, result, revision: int) -> None:
        if job != self._job:
            return
        self._job = None
        picture, harmonization = result
        installed = self.doc.set_result(picture, revision, harmonization)
        if not installed:
            self.message.emit("The picture changed while harmonizing; the result was discarded.", False)
        else:
            seconds = time.perf_counter() - self._started
            what = describe_model(self.loaded_model or "")
            what = "the classical method" if what == "Classical" else what
            self.message.emit(f"Harmonized with {what} in {seconds:.1f} s.", False)
        self.busy_changed.emit(self.busy)
        self.finished.emit(installed)

    def _on_failed(self, job: int, text: str) -> None:
        if job != self._job:
            return
        self._job = None
        self.message.emit(text[:1].upper() + text[1:], True)
        self.busy_changed.emit(self.busy)
        self.finished.emit(False)

    def _on_cancelled(self, job: int) -> None:
        if job != self._job:
            return  # superseded by a newer job, which is running now
        self._job = None
        self.message.emit("Harmonization cancelled; the picture is unchanged.", False)
        self.busy_changed.emit(self.busy)
        self.finished.emit(False)

    def shutdown(self) -> None:
        self._shut_down = True
        self._live_timer.stop()
        self.worker.stop()

