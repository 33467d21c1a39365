"""A canvas-size RGB picture the canvas can draw fast at any zoom.

The pixels live in one numpy buffer that a QImage wraps without copying, so updating a brushed box is a
slice assignment, never a 12 MP conversion. Zoomed out, drawing a 4000 px image into a 900 px window
every repaint would resample millions of pixels and alias; a power-of-two reduction (area-averaged
with OpenCV, kept in step box by box) is drawn instead.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter

MAX_FACTOR = 32


def qimage_rgb(array: np.ndarray) -> QImage:
    """A QImage over an H x W x 3 uint8 C-contiguous array; the caller keeps the array alive."""
    h, w = array.shape[:2]
    return QImage(array.data, w, h, 3 * w, QImage.Format_RGB888)


def qimage_rgba(array: np.ndarray) -> QImage:
    h, w = array.shape[:2]
    return QImage(array.data, w, h, 4 * w, QImage.Format_RGBA8888)


def reduction_for(zoom: float) -> int:
    """The largest power of two not above 1 / zoom (1 when zoomed in), capped."""
    if zoom >= 0.5:
        return 1
    return int(min(MAX_FACTOR, 2 ** math.floor(math.log2(1.0 / zoom))))


class CanvasImage:
    def __init__(self, array: np.ndarray | None = None):
        self.rgb: np.ndarray | None = None
        self.qimage: QImage | None = None
        self._mip: np.ndarray | None = None
        self._mip_qimage: QImage | None = None
        self._factor = 1
        if array is not None:
            self.reset(array)

    @property
    def size(self) -> tuple[int, int]:
        return (0, 0) if self.rgb is None else (self.rgb.shape[1], self.rgb.shape[0])

    def reset(self, array: np.ndarray) -> None:
        """Take `array` as the picture (it is not copied; write to it only through `write`)."""
        self.rgb = np.ascontiguousarray(array, dtype=np.uint8)
        self.qimage = qimage_rgb(self.rgb)
        self._mip = self._mip_qimage = None
        self._factor = 1

    def write(self, box, pixels: np.ndarray) -> None:
        x0, y0, x1, y1 = box
        self.rgb[y0:y1, x0:x1] = pixels
        if self._mip is not None:
            self._update_mip(box)

    def _update_mip(self, box) -> None:
        f = self._factor
        mh, mw = self._mip.shape[:2]
        mx0, my0 = box[0] // f, box[1] // f
        mx1, my1 = min(mw, -(-box[2] // f)), min(mh, -(-box[3] // f))
        if mx1 <= mx0 or my1 <= my0:
            return
        src = self.rgb[my0 * f:my1 * f, mx0 * f:mx1 * f]
        self._mip[my0:my1, mx0:mx1] = cv2.resize(src, (mx1 - mx0, my1 - my0), interpolation=cv2.INTER_AREA)

    def _level(self, factor: int):
        """(QImage, factor actually used) for drawing at a reduction of `factor`."""
        w, h = self.size
        while factor > 1 and (w // factor < 1 or h // factor < 1):
            factor //= 2
        if factor <= 1:
            return self.qimage, 1
        if self._mip is None or self._factor != factor:
            self._factor = factor
            mw, mh = w // factor, h // factor
            self._mip = np.ascontiguousarray(
                cv2.resize(self.rgb[:mh * factor, :mw * factor], (mw, mh), interpolation=cv2.INTER_AREA))
            self._mip_qimage = qimage_rgb(self._mip)
        return self._mip_qimage, factor

    def draw(self, painter: QPainter, zoom: float, offset, clip: QRectF) -> None:
        """Draw with canvas pixel (x, y) at widget (x * zoom + ox, y * zoom + oy), within `clip`."""
        if self.rgb is None:
            return
        image, f = self._level(reduction_for(zoom))
        ox, oy = offset
        w, h = self.size
        # The canvas rectangle the clip shows, in source pixels of the chosen level, slightly padded so
        # smooth sampling at the edge has its neighbours.
        cx0 = max(0.0, math.floor((clip.left() - ox) / zoom) - 2)
        cy0 = max(0.0, math.floor((clip.top() - oy) / zoom) - 2)
        cx1 = min(float(w if f == 1 else (w // f) * f), math.ceil((clip.right() - ox) / zoom) + 2)
        cy1 = min(float(h if f == 1 else (h // f) * f), math.ceil((clip.bottom() - oy) / zoom) + 2)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        # Whole source pixels of the level, so the mapping stays exact.
        sx0, sy0 = math.floor(cx0 / f), math.floor(cy0 / f)
        sx1, sy1 = math.ceil(cx1 / f), math.ceil(cy1 / f)
        target = QRectF(sx0 * f * zoom + ox, sy0 * f * zoom + oy, (sx1 - sx0) * f * zoom, (sy1 - sy0) * f * zoom)
        painter.setRenderHint(QPainter.SmoothPixmapTransform, zoom * f < 2.0)
        painter.drawImage(target, image, QRectF(sx0, sy0, sx1 - sx0, sy1 - sy0))
