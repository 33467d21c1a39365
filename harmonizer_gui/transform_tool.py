"""Free transform of the foreground (Ctrl+T): which handle is under the pointer and what a drag does.

Qt-free geometry; the canvas draws the handles and feeds it canvas coordinates. Scale handles keep the
opposite corner (or edge) where it is, as in Photoshop and Krita; Shift keeps the aspect ratio on a
scale and snaps rotation to 15 degrees.
"""
from __future__ import annotations

import math

import numpy as np

from harmonizer_gui import transform as tf
from harmonizer_gui.transform import Transform

HANDLE_PX = 7        # half-size of a square handle, in screen pixels
ROTATE_ZONE_PX = 28  # just outside the box, this far from a corner, a drag rotates
MIN_SCALE = 0.01
# Handle positions in units of the foreground's size, (0, 0) = top-left outer corner.
HANDLES = {
    "nw": (0.0, 0.0), "n": (0.5, 0.0), "ne": (1.0, 0.0), "e": (1.0, 0.5),
    "se": (1.0, 1.0), "s": (0.5, 1.0), "sw": (0.0, 1.0), "w": (0.0, 0.5),
}


class TransformTool:
    def __init__(self, start: Transform, fg_size: tuple[int, int]):
        self.start = start
        self.current = start
        self.fg_size = fg_size
        self._drag = None

    def _uv(self, fx: float, fy: float) -> tuple[float, float]:
        w, h = self.fg_size
        return fx * w - 0.5, fy * h - 0.5

    def matrix(self, t: Transform | None = None) -> np.ndarray:
        return (t or self.current).matrix(self.fg_size)

    def handle_points(self) -> dict[str, tuple[float, float]]:
        """Canvas positions of the eight handles."""
        m = self.matrix()
        return {name: tuple(tf.apply(m, [self._uv(*pos)])[0]) for name, pos in HANDLES.items()}

    def outline(self) -> np.ndarray:
        return tf.corners(self.matrix(), self.fg_size)

    def hit(self, x: float, y: float, zoom: float) -> str:
        """'nw'...'w' for a scale handle, 'rotate' just outside a corner, 'move' inside, '' elsewhere."""
        tol = (HANDLE_PX + 2) / zoom
        for name, (hx, hy) in self.handle_points().items():
            if abs(x - hx) <= tol and abs(y - hy) <= tol:
                return name
        u, v = tf.apply(tf.invert(self.matrix()), [(x, y)])[0]
        w, h = self.fg_size
        if -0.5 <= u <= w - 0.5 and -0.5 <= v <= h - 0.5:
            return "move"
        corners = self.outline()
        if min(math.hypot(x - cx, y - cy) for cx, cy in corners) <= ROTATE_ZONE_PX / zoom:
            return "rotate"
        return ""

    def press(self, kind: str, x: float, y: float) -> None:
        self._drag = (kind, x, y, self.current) if kind else None

    def release(self) -> None:
        self._drag = None

    @property
    def dragging(self) -> bool:
        return self._drag is not None

    def drag(self, x: float, y: float, keep_aspect: bool = False) -> Transform:
        if self._drag is None:
            return self.current
        kind, px, py, t0 = self._drag
        if kind == "move":
            self.current = t0.replaced(cx=t0.cx + x - px, cy=t0.cy + y - py)
        elif kind == "rotate":
            a0 = math.atan2(py - t0.cy, px - t0.cx)
            a1 = math.atan2(y - t0.cy, x - t0.cx)
            angle = t0.angle + math.degrees(a1 - a0)
            if keep_aspect:
                angle = round(angle / 15.0) * 15.0
            self.current = t0.replaced(angle=((angle + 180.0) % 360.0) - 180.0)
        else:
            self.current = self._scaled(kind, x, y, t0, keep_aspect)
        return self.current

    def _scaled(self, kind: str, x: float, y: float, t0: Transform, keep_aspect: bool) -> Transform:
        hx, hy = HANDLES[kind]
        ax, ay = 1.0 - hx, 1.0 - hy  # the opposite handle stays put
        if kind in ("n", "s"):
            ax = 0.5
        if kind in ("e", "w"):
            ay = 0.5
        m0 = self.matrix(t0)
        anchor_uv = self._uv(ax, ay)
        handle_uv = self._uv(hx, hy)
        anchor = tf.apply(m0, [anchor_uv])[0]
        a = math.radians(t0.angle)
        c, s = math.cos(a), math.sin(a)
        # The pointer relative to the anchor, in the foreground's rotated (unscaled) frame.
        dx, dy = x - anchor[0], y - anchor[1]
        d = (c * dx + s * dy, -s * dx + c * dy)
        fh = -1.0 if t0.flip_h else 1.0
        fv = -1.0 if t0.flip_v else 1.0
        hu, hv = handle_uv[0] - anchor_uv[0], handle_uv[1] - anchor_uv[1]
        sx, sy = t0.sx, t0.sy
        if keep_aspect:
            vx, vy = hu * fh * sx, hv * fv * sy
            k = (d[0] * vx + d[1] * vy) / max(vx * vx + vy * vy, 1e-9)
            sx, sy = max(MIN_SCALE, sx * k), max(MIN_SCALE, sy * k)
        else:
            if abs(hu) > 1e-9:
                sx = max(MIN_SCALE, d[0] / (fh * hu))
            if abs(hv) > 1e-9:
                sy = max(MIN_SCALE, d[1] / (fv * hv))
        t = t0.replaced(sx=sx, sy=sy)
        # Put the centre where it must be for the anchor to land on the same canvas point again.
        lin = t.matrix(self.fg_size)[:, :2]
        w, h = self.fg_size
        centre_uv = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
        cx, cy = anchor - lin @ (np.array(anchor_uv) - centre_uv)
        return t.replaced(cx=float(cx), cy=float(cy))
