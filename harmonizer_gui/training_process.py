"""The trainer as a child process: a thin QProcess wrapper that feeds a `training_run.RunState`.

Training never runs in the UI process: a crash, a CUDA out-of-memory or a stuck data loader then costs
the user a training run, never their open document.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from harmonizer_gui.training_run import (
    ACTIVE, CANCELLED, FAILED, STARTING, STOPPING, RunState, project_root, trainer_command,
)


class TrainingProcess(QObject):
    """Runs one trainer process at a time and keeps its `RunState` current.

    `event` carries every protocol event as it arrives; `phase_changed` fires on each phase change;
    `finished` fires once when the process has gone and the final phase is known.
    """

    event = Signal(dict)
    phase_changed = Signal(str)
    finished = Signal(str)

    def __init__(self, parent=None, command=trainer_command):
        super().__init__(parent)
        self._command = command
        self.state = RunState()
        self.args: list[str] = []
        self._proc: QProcess | None = None
        self._out_buf = b""
        self._err_buf = b""
        self._cancel_requested = False

    # -- control -------------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.state.phase in ACTIVE

    def start(self, args: list[str], env: dict[str, str] | None = None) -> None:
        if self.active:
            raise RuntimeError("a training run is already active")
        self.state = RunState(phase=STARTING)
        self.args = list(args)
        self._out_buf = self._err_buf = b""
        self._cancel_requested = False
        proc = QProcess(self)
        penv = QProcessEnvironment.systemEnvironment()
        # The child must import the same source tree as this process, installed or not.
        root = str(project_root())
        existing = penv.value("PYTHONPATH", "")
        penv.insert("PYTHONPATH", root + (os.pathsep + existing if existing else ""))
        penv.insert("PYTHONUNBUFFERED", "1")
        for key, value in (env or {}).items():
            penv.insert(key, value)
        proc.setProcessEnvironment(penv)
        proc.setWorkingDirectory(root)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc = proc
        program, argv = self._command(self.args)
        self.phase_changed.emit(STARTING)
        proc.start(program, argv)

    def stop(self) -> None:
        """Ask the trainer to save a checkpoint and exit (SIGTERM); the done event follows."""
        if self._proc is not None and self.active and self.state.phase != STOPPING:
            self._set_phase(STOPPING)
            self._proc.terminate()

    def kill(self) -> None:
        """For a trainer that ignores SIGTERM: no checkpoint, the last one it wrote remains."""
        if self._proc is not None and self._proc.state() != QProcess.NotRunning:
            self._proc.kill()

    def cancel(self) -> None:
        """Discard the run: kill the process and remove its run folder once it has gone."""
        if self._proc is not None and self._proc.state() != QProcess.NotRunning:
            self._cancel_requested = True
            self._proc.kill()
        elif self.state.phase not in ACTIVE:
            self._remove_run_dir()

    def wait(self, msecs: int) -> bool:
        """Block until the process has gone (tests and application shutdown only)."""
        if self._proc is None or self._proc.state() == QProcess.NotRunning:
            return True
        return self._proc.waitForFinished(msecs)

    # -- process output ------------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        self._out_buf += bytes(self._proc.readAllStandardOutput())
        *lines, self._out_buf = self._out_buf.split(b"\n")
        for raw in lines:
            self._feed(raw.decode("utf-8", "replace"))

    def _read_stderr(self) -> None:
        self._err_buf += bytes(self._proc.readAllStandardError())
        *lines, self._err_buf = self._err_buf.split(b"\n")
        for raw in lines:
            # tqdm-style carriage returns: only the last state of the line is worth keeping.
            self.state.feed_stderr(raw.decode("utf-8", "replace").split("\r")[-1])

    def _feed(self, line: str) -> None:
        before = self.state.phase
        ev = self.state.feed_line(line)
        if ev is not None:
            self.event.emit(ev)
        if self.state.phase != before:
            self.phase_changed.emit(self.state.phase)

    def _flush(self) -> None:
        if self._proc is None:
            return
        self._read_stdout()
        self._read_stderr()
        if self._out_buf.strip():
            self._feed(self._out_buf.decode("utf-8", "replace"))
        self.state.feed_stderr(self._err_buf.decode("utf-8", "replace"))
        self._out_buf = self._err_buf = b""

    def _on_error(self, error) -> None:
        if error == QProcess.FailedToStart:
            self.state.error = f"could not start the trainer: {self._proc.errorString()}"
            self.state.phase = FAILED
            self.phase_changed.emit(FAILED)
            self.finished.emit(FAILED)

    def _on_finished(self, exit_code: int, exit_status) -> None:
        self._flush()
        crashed = exit_status == QProcess.CrashExit
        phase = self.state.conclude(exit_code, crashed, self._cancel_requested)
        if phase == CANCELLED:
            self._remove_run_dir()
        self.phase_changed.emit(phase)
        self.finished.emit(phase)

    def _remove_run_dir(self) -> None:
        run_dir = self.state.run_dir
        if run_dir and Path(run_dir).is_dir():
            shutil.rmtree(run_dir, ignore_errors=True)

    def _set_phase(self, phase: str) -> None:
        self.state.phase = phase
        self.phase_changed.emit(phase)
