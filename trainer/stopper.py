"""Stopping a run cleanly: SIGINT/SIGTERM become a request the training loop answers with a checkpoint."""
from __future__ import annotations

import signal


class Stopper:
    """SIGINT/SIGTERM ask for a checkpoint and a clean exit; a second SIGINT aborts at once."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def install(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. called from a test thread): no signals
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def ignore_stop_signals() -> None:
    """For loader workers: Ctrl+C reaches the whole process group (and `kill` of the group every member):
    a worker that died of it would turn a clean stop into a crash. The main process stops the workers."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
