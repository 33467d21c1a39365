"""The harmonize thread: one long-lived QThread that owns the loaded `Harmonizer`.

The UI thread only posts requests (load a model, harmonize a composite) and gets Qt signals back; the
model is loaded and run entirely here, so a 12 MP composite or a slow model load never freezes the
window. Requests do not queue up: a newer harmonize job replaces a waiting one and cancels a running
one (live mode posts a job per brush stroke; only the latest matters).
"""
from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QThread, Signal

from engine.errors import CancelledError, HarmonizerError

CLASSICAL = "classical"


@dataclass
class Job:
    id: int
    composite: np.ndarray
    mask: np.ndarray
    revision: int
    reference: np.ndarray | None = None
    style: object = None  # engine.photo_match.PhotoStyle


@dataclass
class ModelRequest:
    id: int
    model: str     # "classical", "default", a registered name or a .safetensors path
    device: str


class HarmonizeWorker(QThread):
    model_loaded = Signal(int, str, str, str)  # request id, model name, device description, method
    model_failed = Signal(int, str, str)       # request id, requested model, message
    progress = Signal(int, float, str)         # job id, fraction, stage
    finished_job = Signal(int, object, int)    # job id, (uint8 picture at strength 1, its Harmonization), revision
    failed = Signal(int, str)                  # job id, message
    cancelled = Signal(int)                    # job id
    notice = Signal(str)                       # a non-fatal remark from the engine (e.g. fell back to CPU)

    def __init__(self, parent=None, harmonizer_factory=None):
        super().__init__(parent)
        self._lock = threading.Condition()
        self._job: Job | None = None
        self._model: ModelRequest | None = None
        self._cancel = threading.Event()
        self._quit = False
        self._next_id = 0
        self._running_id: int | None = None
        self.harmonizer = None
        if harmonizer_factory is None:
            from engine.harmonizer import Harmonizer

            harmonizer_factory = Harmonizer
        self._factory = harmonizer_factory

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- called from the UI thread -------------------------------------------------------------------
    def load_model(self, model: str, device: str = "auto") -> int:
        with self._lock:
            request = ModelRequest(self._new_id(), model, device)
            self._model = request
            self._lock.notify()
        return request.id

    def submit(self, composite: np.ndarray, mask: np.ndarray, revision: int,
               reference: np.ndarray | None = None, style=None) -> int:
        """Queue a harmonization of copies the caller will not modify (`reference`: the area whose light
        the object should take; `style`: another photo to match); returns the job id."""
        with self._lock:
            job = Job(self._new_id(), composite, mask, revision, reference, style)
            if self._running_id is not None:
                self._cancel.set()  # the newer request wins
            self._job = job
            self._lock.notify()
        return job.id

    def cancel(self) -> None:
        with self._lock:
            self._job = None
            if self._running_id is not None:
                self._cancel.set()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running_id is not None or self._job is not None

    def stop(self, timeout_ms: int = 10000) -> None:
        with self._lock:
            self._quit = True
            self._job = None
            self._cancel.set()
            self._lock.notify()
        self.wait(timeout_ms)

    # -- the thread ----------------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            with self._lock:
                while not self._quit and self._model is None and self._job is None:
                    self._lock.wait()
                if self._quit:
                    return
                # A model change is handled before any waiting job, which then runs with the new model.
                request, self._model = self._model, None
                job = None
                if request is None:
                    job, self._job = self._job, None
                    self._running_id = job.id
                    self._cancel.clear()
            if request is not None:
                self._load(request)
            else:
                try:
                    self._harmonize(job)
                finally:
                    with self._lock:
                        self._running_id = None

    def _load(self, request: ModelRequest) -> None:
        try:
            if request.model == CLASSICAL:
                h = self._factory(method=CLASSICAL)
            else:
                h = self._factory(model=request.model, method="rain", device=request.device)
        except HarmonizerError as exc:
            self.model_failed.emit(request.id, request.model, str(exc))
            return
        except Exception as exc:  # a broken model file must not kill the thread
            traceback.print_exc()
            self.model_failed.emit(request.id, request.model, f"cannot load the model: {exc}")
            return
        self.harmonizer = h
        self.model_loaded.emit(request.id, h.model_name, h.device_name, h.method)

    def _harmonize(self, job: Job) -> None:
        h = self.harmonizer
        if h is None:
            self.failed.emit(job.id, "no model is loaded yet")
            return

        def progress(fraction: float, stage: str) -> None:
            self.progress.emit(job.id, float(fraction), stage)

        h.notice = ""
        try:
            harmonization = h.run(job.composite, job.mask, progress=progress, cancel=self._cancel.is_set,
                                  reference=job.reference, style=job.style)
            # The strength-1 picture is made here, off the UI thread: at 12 MP it is a full-frame copy.
            out = (harmonization.at(1.0), harmonization)
            progress(1.0, "done")
        except CancelledError:
            self.cancelled.emit(job.id)
            return
        except HarmonizerError as exc:
            self.failed.emit(job.id, str(exc))
            return
        except MemoryError:
            self.failed.emit(job.id, "not enough memory to harmonize this image")
            return
        except Exception as exc:
            traceback.print_exc()
            self.failed.emit(job.id, f"harmonization failed: {type(exc).__name__}: {exc}")
            return
        if h.notice:
            self.notice.emit(h.notice)
        if self._cancel.is_set():
            self.cancelled.emit(job.id)
        else:
            self.finished_job.emit(job.id, out, job.revision)
