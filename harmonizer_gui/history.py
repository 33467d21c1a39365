"""Undo/redo for the document. Qt-free.

Two kinds of step cover everything: a `FieldStep` swaps whole attribute values (layers, transform,
opacity, a mask replaced by a filter, the harmonized result) and keeps references to them. A `MaskPatch`
restores a box of the mask, and of a harmonized result, which brush strokes modify in place, so a stroke
costs only the pixels it touched. The stack is linear, so an array's in-place edits always match the
position in it and the references stay valid.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harmonizer_gui.transform import Box

# Old steps are dropped once the stack holds more than this many array bytes (full-size masks and
# results of a 12 MP image are ~48 MB each), and never more than MAX_STEPS steps.
MEMORY_LIMIT = 1536 * 1024**2
MAX_STEPS = 200


def _size(value) -> int:
    """Bytes a stored field holds: arrays, and an engine Harmonization's composite, mask and region."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    parts = (getattr(value, name, None) for name in ("composite", "mask", "region"))
    return sum(p.nbytes for p in parts if isinstance(p, np.ndarray))


@dataclass
class FieldStep:
    label: str
    before: dict
    after: dict

    def nbytes(self) -> int:
        return sum(_size(v) for d in (self.before, self.after) for v in d.values())


@dataclass
class MaskPatch:
    label: str
    box: Box
    before: np.ndarray
    after: np.ndarray
    layer: str = "mask"  # the document's array the stroke painted: "mask" or "reference"
    # Fields restored alongside (the stroke marked the harmonized result out of date).
    fields_before: dict = field(default_factory=dict)
    fields_after: dict = field(default_factory=dict)
    # The canvas box of the harmonized result the stroke patched in place, before and after.
    result_box: Box | None = None
    result_before: np.ndarray | None = None
    result_after: np.ndarray | None = None

    def nbytes(self) -> int:
        extra = 0 if self.result_box is None else self.result_before.nbytes + self.result_after.nbytes
        return self.before.nbytes + self.after.nbytes + extra


class History:
    """A linear undo stack; `apply(step, forward)` is supplied by the owner and does the actual swap."""

    def __init__(self, apply):
        self._apply = apply
        self._undo: list = []
        self._redo: list = []

    def push(self, step) -> None:
        self._undo.append(step)
        self._redo.clear()
        self._trim()

    def _trim(self) -> None:
        total = sum(s.nbytes() for s in self._undo)
        while self._undo and (len(self._undo) > MAX_STEPS or total > MEMORY_LIMIT):
            total -= self._undo.pop(0).nbytes()

    def undo(self) -> str | None:
        if not self._undo:
            return None
        step = self._undo.pop()
        self._apply(step, forward=False)
        self._redo.append(step)
        return step.label

    def redo(self) -> str | None:
        if not self._redo:
            return None
        step = self._redo.pop()
        self._apply(step, forward=True)
        self._undo.append(step)
        return step.label

    @property
    def depth(self) -> int:
        """Steps that can be undone now."""
        return len(self._undo)

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    @property
    def top(self):
        """The step undo would revert, when nothing has been undone since (so it may still be merged into)."""
        return self._undo[-1] if self._undo and not self._redo else None

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str:
        return self._undo[-1].label if self._undo else ""

    @property
    def redo_label(self) -> str:
        return self._redo[-1].label if self._redo else ""
