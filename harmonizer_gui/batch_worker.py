"""The thread a batch export runs on: it builds the Harmonizer (loading a model takes seconds) and runs
engine.batch.run_batch, reporting progress, the report, or one line of failure as signals."""
from __future__ import annotations

import threading

from PySide6.QtCore import QThread, Signal

from engine import batch as engine_batch
from engine.errors import CancelledError, HarmonizerError
from engine.harmonizer import Harmonizer


class BatchWorker(QThread):
    """Runs one batch; the Harmonizer is built here too, since loading a model can take seconds."""

    progressed = Signal(float, str)
    failed = Signal(str)
    report_ready = Signal(object)

    def __init__(self, items, out_dir, options, parent=None):
        super().__init__(parent)
        self.items, self.out_dir, self.options = items, out_dir, options
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        try:
            harmonizer = Harmonizer(model=self.options.model, method=self.options.method, device="auto")
            report = engine_batch.run_batch(
                self.items, self.out_dir, self.options, harmonizer,
                progress=lambda f, stage: self.progressed.emit(float(f), str(stage)),
                cancel=self._cancel.is_set,
            )
        except CancelledError as exc:
            self.failed.emit(str(exc) or "cancelled")
        except HarmonizerError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug must reach the user as a message, never kill the thread silently
            self.failed.emit(f"unexpected error: {type(exc).__name__}: {exc}")
        else:
            self.report_ready.emit(report)
