"""The trainer as a child process: the run-state model (plain Python) and a thin QProcess wrapper.

Training never runs in the UI process: a crash, a CUDA out-of-memory or a stuck data loader then costs
the user a training run, never their open document. The trainer talks back through the JSON lines of
docs/architecture.md; `RunState` turns those lines into state the dialog only has to display.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

STDERR_TAIL = 30
# Phases a run goes through; the dialog maps each to the buttons that make sense.
IDLE, STARTING, RUNNING, STOPPING, FINISHED, STOPPED, FAILED, CANCELLED = (
    "idle", "starting", "running", "stopping", "finished", "stopped", "failed", "cancelled",
)
ACTIVE = (STARTING, RUNNING, STOPPING)
EVENTS = ("start", "step", "val", "checkpoint", "done", "error")


@dataclass
class RunState:
    """Everything known about one trainer run, built only from what the process printed."""

    phase: str = IDLE
    start: dict | None = None
    last_step: dict | None = None
    losses: list[tuple[int, float, float]] = field(default_factory=list)  # (step, loss_g, loss_l1)
    vals: list[dict] = field(default_factory=list)
    checkpoint: str | None = None
    done: dict | None = None
    error: str | None = None
    exit_code: int | None = None
    stderr_tail: deque = field(default_factory=lambda: deque(maxlen=STDERR_TAIL))
    ignored_lines: int = 0

    @property
    def run_dir(self) -> str | None:
        return (self.start or {}).get("run_dir")

    @property
    def fraction(self) -> float:
        if self.done and not self.done.get("stopped"):
            return 1.0
        return float((self.last_step or {}).get("fraction") or 0.0)

    @property
    def eta_s(self) -> float | None:
        return (self.last_step or {}).get("eta_s")

    @property
    def before(self) -> dict | None:
        """Validation before any training: the done event's numbers, else the epoch-0 val event."""
        if self.done and self.done.get("before"):
            return self.done["before"]
        first = next((v for v in self.vals if v.get("epoch") == 0), None)
        return first

    @property
    def after(self) -> dict | None:
        if self.done and self.done.get("after"):
            return self.done["after"]
        trained = [v for v in self.vals if v.get("epoch", 0) > 0]
        return trained[-1] if trained else None

    def feed_line(self, line: str) -> dict | None:
        """Apply one stdout line; returns the event it held, or None for anything that is not one.

        A stray print from a library must not end the run, so non-JSON lines are counted and kept with
        stderr for the crash report rather than treated as fatal.
        """
        line = line.strip()
        if not line:
            return None
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict) or event.get("event") not in EVENTS:
            self.ignored_lines += 1
            self.stderr_tail.append(line)
            return None
        kind = event["event"]
        if kind == "start":
            self.start = event
            self.phase = RUNNING if self.phase == STARTING else self.phase
        elif kind == "step":
            self.last_step = event
            self.losses.append((int(event["step"]), float(event["loss_g"]), float(event.get("loss_l1", 0.0))))
        elif kind == "val":
            self.vals.append(event)
        elif kind == "checkpoint":
            self.checkpoint = event.get("path") or self.checkpoint
        elif kind == "done":
            self.done = event
            self.checkpoint = event.get("checkpoint") or self.checkpoint
        elif kind == "error":
            self.error = str(event.get("message") or "the trainer reported an unknown error")
        return event

    def feed_stderr(self, line: str) -> None:
        line = line.rstrip()
        if line:
            self.stderr_tail.append(line)

    def conclude(self, exit_code: int | None, crashed: bool, cancelled: bool) -> str:
        """Decide the final phase once the process has gone; returns it."""
        self.exit_code = exit_code
        if cancelled:
            self.phase = CANCELLED
        elif self.done is not None and exit_code == 0 and not crashed:
            self.phase = STOPPED if self.done.get("stopped") else FINISHED
        else:
            self.phase = FAILED
            if not self.error:
                self.error = (
                    "the trainer was killed or crashed" if crashed
                    else f"the trainer exited with code {exit_code} before finishing"
                )
        return self.phase

    def failure_report(self) -> str:
        """The text shown for a failed run: the message, the checkpoint it left and its last output."""
        lines = [self.error or "the trainer failed"]
        lines.append(f"Last checkpoint: {self.checkpoint}" if self.checkpoint else "No checkpoint was saved.")
        if self.stderr_tail:
            lines.append("")
            lines.append("Last output of the trainer:")
            lines.extend(self.stderr_tail)
        return "\n".join(lines)


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def trainer_command(args: list[str]) -> tuple[str, list[str]]:
    """`python -m trainer ARGS` with this interpreter, so it also works from a source checkout."""
    return sys.executable, ["-m", "trainer", *args]


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
