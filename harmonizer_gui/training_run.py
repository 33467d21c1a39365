"""The state of one trainer run, built from its JSON progress lines (plain Python, no Qt).

The trainer talks back through the JSON lines of docs/architecture.md; `RunState` turns those lines into
state the fine-tune dialog only has to display, and `training_process.TrainingProcess` feeds it.
"""
from __future__ import annotations

import json
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

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
