"""Training curves drawn with QPainter as the points arrive (no plotting library in the UI process).

One widget draws one chart: a shared x axis (training step) and up to two y axes, so validation PSNR
(higher is better, dB) and fMSE (lower is better, hundreds) can share a panel without one flattening
the other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

LEFT, RIGHT = "left", "right"


@dataclass
class Series:
    label: str
    color: QColor
    axis: str = LEFT
    markers: bool = False
    points: list[tuple[float, float]] = field(default_factory=list)
    shown: bool = True


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values covering lo..hi (1, 2, 5 x 10^n steps), as a reader expects on an axis."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-6:
        ticks.append(round(value, 10))
        value += step
    return ticks


def format_tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.0e}" if abs(value) < 0.01 else f"{value / 1000:g}k"
    return f"{value:g}"


class CurvesWidget(QWidget):
    """A small line chart. `add_point(series_index, x, y)` appends and repaints."""

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.title = title
        self.series: list[Series] = []
        self.empty_text = "Waiting for data…"
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(220, 150)

    def sizeHint(self) -> QSize:
        return QSize(360, 200)

    def add_series(self, label: str, color: str, axis: str = LEFT, markers: bool = False) -> int:
        self.series.append(Series(label, QColor(color), axis, markers))
        return len(self.series) - 1

    def add_point(self, index: int, x: float, y: float) -> None:
        if not (math.isfinite(x) and math.isfinite(y)):
            return  # a diverged loss must not wreck the axes; the number is still in the log
        self.series[index].points.append((float(x), float(y)))
        self.update()

    def clear(self) -> None:
        for s in self.series:
            s.points.clear()
        self.update()

    def point_count(self) -> int:
        return sum(len(s.points) for s in self.series)

    def history(self) -> list[list[list[float]]]:
        """Every series' points as plain lists (JSON), for `restore` after the widget was rebuilt."""
        return [[list(p) for p in s.points] for s in self.series]

    def restore(self, history) -> None:
        self.clear()
        for s, points in zip(self.series, history or []):
            s.points.extend((float(x), float(y)) for x, y in points)
        self.update()

    # -- drawing -------------------------------------------------------------------------------------
    def show_series(self, index: int, shown: bool, axis: str | None = None) -> None:
        """Hide a series (out of the legend, the scales and the plot; its points are kept) or show it,
        optionally on another axis."""
        s = self.series[index]
        s.shown = shown
        s.axis = axis or s.axis
        self.update()

    def _visible(self) -> list[Series]:
        return [s for s in self.series if s.shown]

    def _range(self, axis: str) -> tuple[float, float] | None:
        ys = [y for s in self._visible() if s.axis == axis for _, y in s.points]
        if not ys:
            return None
        lo, hi = min(ys), max(ys)
        pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
        return lo - pad, hi + pad

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        pal = self.palette()
        text = pal.windowText().color()
        faint = QColor(text)
        faint.setAlpha(40)
        p.fillRect(self.rect(), pal.base())
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        fm = p.fontMetrics()
        has_right = any(s.axis == RIGHT for s in self._visible())
        plot = QRectF(
            fm.horizontalAdvance("00000") + 10, fm.height() * 2 + 6,
            0, 0,
        )
        right_margin = fm.horizontalAdvance("00000") + 10 if has_right else 12
        plot.setRight(self.width() - right_margin)
        plot.setBottom(self.height() - fm.height() - 8)

        # Title and legend on the top line: the colour key is where the eye starts.
        p.setPen(text)
        bold = QFont(font)
        bold.setBold(True)
        p.setFont(bold)
        p.drawText(QPointF(6, fm.ascent() + 4), self.title)
        x_cursor = 6 + p.fontMetrics().horizontalAdvance(self.title) + 14
        p.setFont(font)
        for s in self._visible():
            label = s.label + (" (right)" if s.axis == RIGHT and has_right else "")
            p.setPen(QPen(s.color, 3))
            p.drawLine(QPointF(x_cursor, fm.height() / 2 + 4), QPointF(x_cursor + 14, fm.height() / 2 + 4))
            p.setPen(text)
            p.drawText(QPointF(x_cursor + 18, fm.ascent() + 4), label)
            x_cursor += 18 + fm.horizontalAdvance(label) + 14

        if plot.width() < 20 or plot.height() < 20:
            p.end()
            return
        p.setPen(QPen(faint, 1))
        p.drawRect(plot)
        xs = [x for s in self._visible() for x, _ in s.points]
        if not xs:
            p.setPen(text)
            p.drawText(plot, Qt.AlignCenter, self.empty_text)
            p.end()
            return
        x_lo, x_hi = min(xs), max(xs)
        if x_hi <= x_lo:
            x_lo, x_hi = x_lo - 1, x_hi + 1

        def to_px(x, y, rng):
            fx = (x - x_lo) / (x_hi - x_lo)
            fy = (y - rng[0]) / (rng[1] - rng[0])
            return QPointF(plot.left() + fx * plot.width(), plot.bottom() - fy * plot.height())

        ranges = {axis: self._range(axis) for axis in (LEFT, RIGHT)}
        for axis, rng in ranges.items():
            if rng is None:
                continue
            for tick in nice_ticks(*rng):
                if not rng[0] <= tick <= rng[1]:
                    continue
                y = to_px(x_lo, tick, rng).y()
                if axis == LEFT:
                    p.setPen(QPen(faint, 1, Qt.DotLine))
                    p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
                p.setPen(text)
                label = format_tick(tick)
                if axis == LEFT:
                    p.drawText(QRectF(0, y - fm.height() / 2, plot.left() - 4, fm.height()),
                               Qt.AlignRight | Qt.AlignVCenter, label)
                else:
                    p.drawText(QRectF(plot.right() + 4, y - fm.height() / 2, right_margin, fm.height()),
                               Qt.AlignLeft | Qt.AlignVCenter, label)
        p.setPen(text)
        for tick in nice_ticks(x_lo, x_hi):
            if x_lo <= tick <= x_hi:
                x = to_px(tick, 0, (0, 1)).x()
                p.drawText(QRectF(x - 30, plot.bottom() + 2, 60, fm.height()), Qt.AlignHCenter, format_tick(tick))

        p.setClipRect(plot.adjusted(-4, -4, 4, 4))
        for s in self._visible():
            rng = ranges[s.axis]
            if not s.points or rng is None:
                continue
            path = QPainterPath(to_px(*s.points[0], rng))
            for x, y in s.points[1:]:
                path.lineTo(to_px(x, y, rng))
            p.setPen(QPen(s.color, 1.6))
            p.setBrush(Qt.NoBrush)
            p.drawPath(path)
            if s.markers or len(s.points) == 1:
                p.setBrush(s.color)
                for x, y in s.points:
                    p.drawEllipse(to_px(x, y, rng), 2.6, 2.6)
        p.end()
