"""How long the UI thread froze: a 20 ms timer whose largest interval between ticks is the answer."""
from __future__ import annotations

import time

from PySide6.QtCore import QTimer

# Generous: a dialog doing real work on the UI thread freezes for far longer; a loaded CI machine
# still stays under it.
GAP_LIMIT_S = 0.25


class GapMeter:
    def __init__(self):
        self.max_gap, self._last = 0.0, None
        self.timer = QTimer(interval=20)
        self.timer.timeout.connect(self._tick)

    def _tick(self):
        now = time.monotonic()
        if self._last is not None:
            self.max_gap = max(self.max_gap, now - self._last)
        self._last = now

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.stop()
