"""How the canvas draws itself: the picture (normal, held "before", or split), the transform preview with
its handles, and the brush outline. A mixin of `Canvas`, which holds the state it reads."""
from __future__ import annotations

import math

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QTransform

from harmonizer_gui.canvas_image import qimage_rgba, reduction_for
from harmonizer_gui.tool_settings import REFERENCE_COLOR
from harmonizer_gui.transform_tool import HANDLE_PX

BACKDROP = QColor(38, 38, 41)


class CanvasPainting:
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        clip = QRectF(event.rect())
        p.fillRect(event.rect(), BACKDROP)
        if self.doc.background is None:
            self._paint_empty(p)
            return
        if self._tool is not None:
            self._preview_bg.draw(p, self.zoom, self.offset, clip)
            image, _, factor = self._foreground_preview()
            p.save()
            p.setTransform(self._preview_transform(factor))
            p.setRenderHint(QPainter.SmoothPixmapTransform, True)
            p.drawImage(0, 0, image)
            p.restore()
            self._paint_handles(p)
        elif self.view_mode == "before":
            self.before.draw(p, self.zoom, self.offset, clip)
            self._paint_badge(p, "Before", 12)
        elif self.view_mode == "split":
            x = self.width() * self.split_pos
            left = clip.intersected(QRectF(0, 0, x, self.height()))
            right = clip.intersected(QRectF(x, 0, self.width() - x, self.height()))
            if not left.isEmpty():
                p.save(); p.setClipRect(left)
                self.before.draw(p, self.zoom, self.offset, left)
                p.restore()
            if not right.isEmpty():
                p.save(); p.setClipRect(right)
                self.after.draw(p, self.zoom, self.offset, right)
                p.restore()
            p.setPen(QPen(QColor(255, 255, 255, 220), 2))
            p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
            self._paint_badge(p, "Before", x - 70)
            self._paint_badge(p, "After", x + 12)
        else:
            self.after.draw(p, self.zoom, self.offset, clip)
        self._paint_shadow_handles(p)
        self._paint_brush_outline(p)

    def _paint_empty(self, p: QPainter) -> None:
        p.setPen(QColor(150, 150, 155))
        font = p.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        p.setFont(font)
        p.drawText(self.rect(), Qt.AlignCenter,
                   "Drop a background image here\nthen drop a cut-out on it\n\n(or File ▸ Open background…)")

    def _paint_badge(self, p: QPainter, text: str, x: float) -> None:
        rect = QRectF(x, 12, 58, 22)
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(rect, 4, 4)
        p.setPen(QColor(235, 235, 235))
        p.drawText(rect, Qt.AlignCenter, text)

    def _paint_handles(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.Antialiasing, True)
        outline = [self.to_widget(x, y) for x, y in self._tool.outline()]
        path = QPainterPath(outline[0])
        for pt in outline[1:] + outline[:1]:
            path.lineTo(pt)
        p.setBrush(Qt.NoBrush)
        p.setPen(QPen(QColor(0, 0, 0, 160), 3))
        p.drawPath(path)
        p.setPen(QPen(QColor(90, 170, 255), 1.5))
        p.drawPath(path)
        p.setPen(QPen(QColor(20, 20, 20), 1))
        p.setBrush(QColor(250, 250, 250))
        for hx, hy in self._tool.handle_points().values():
            c = self.to_widget(hx, hy)
            p.drawRect(QRectF(c.x() - HANDLE_PX + 2, c.y() - HANDLE_PX + 2, 2 * HANDLE_PX - 4, 2 * HANDLE_PX - 4))

    def _brush_visible(self) -> bool:
        return (self._pointer is not None and self._tool is None and self._shadow is None and self._pan is None
                and not self._space
                and not self._split_drag and self.doc.background is not None)

    def _cursor_rect(self) -> QRectF:
        if self._pointer is None:
            return QRectF()
        r = self.brush.size / 2 * self.zoom + 3
        return QRectF(self._pointer.x() - r, self._pointer.y() - r, 2 * r, 2 * r)

    def _paint_brush_outline(self, p: QPainter) -> None:
        if not self._brush_visible():
            return
        r = self.brush.size / 2 * self.zoom
        p.setRenderHint(QPainter.Antialiasing, True)
        p.setBrush(Qt.NoBrush)
        # Black under white stays visible on any picture; painting the reference area, the line takes
        # its tint, so the brush says which it paints.
        inner = QColor(*REFERENCE_COLOR, 240) if self.tools.target == "reference" else QColor(255, 255, 255, 230)
        for color, width in ((QColor(0, 0, 0, 170), 2.5), (inner, 1.0)):
            p.setPen(QPen(color, width, Qt.SolidLine if self.tool == "brush" else Qt.DashLine))
            p.drawEllipse(self._pointer, r, r)
            if r < 4:
                p.drawLine(self._pointer + QPointF(-6, 0), self._pointer + QPointF(6, 0))
                p.drawLine(self._pointer + QPointF(0, -6), self._pointer + QPointF(0, 6))
        core = r * self.brush.hardness
        if 3 < core < r - 3:
            p.setPen(QPen(QColor(255, 255, 255, 90), 1, Qt.DotLine))
            p.drawEllipse(self._pointer, core, core)

    # -- the transform preview -------------------------------------------------------------------------
    def _foreground_preview(self):
        """The foreground as it shows (alpha x mask x opacity), reduced to about the on-screen size."""
        t = self._tool.current
        scale = self.zoom * math.sqrt(max(t.sx * t.sy, 1e-6))
        factor = reduction_for(scale)
        if self._preview is None or self._preview[2] != factor:
            doc = self.doc
            cover = doc.mask if doc.fg_alpha is None else doc.mask * (doc.fg_alpha / np.float32(255))
            alpha = np.clip(cover * doc.opacity * 255 + 0.5, 0, 255).astype(np.uint8)
            rgba = np.dstack([doc.foreground, alpha])
            if factor > 1:
                h, w = alpha.shape
                rgba = cv2.resize(rgba, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
            rgba = np.ascontiguousarray(rgba)
            self._preview = (qimage_rgba(rgba), rgba, factor)
        return self._preview

    def _preview_transform(self, factor: int) -> QTransform:
        fw, fh = self.doc.fg_size
        ph, pw = self._preview[1].shape[:2]
        m = self._tool.matrix()
        # Preview pixel q spans [q, q + 1); its centre is foreground pixel (q + 0.5) * (size / preview) - 0.5.
        to_fg = QTransform.fromScale(fw / pw, fh / ph) * QTransform.fromTranslate(-0.5, -0.5)
        affine = QTransform(m[0, 0], m[1, 0], m[0, 1], m[1, 1], m[0, 2], m[1, 2])
        view = QTransform.fromTranslate(0.5, 0.5) * QTransform.fromScale(self.zoom, self.zoom) \
            * QTransform.fromTranslate(*self.offset)
        return to_fg * affine * view
