"""The foreground's placement on the canvas and the pixel geometry shared by the document and the canvas.

Qt-free. A `Transform` is stored as the parameters a user edits (centre position, scale per axis,
rotation, flips) rather than as a bare matrix, so that dragging a scale handle after a rotation, or
flipping twice, never accumulates rounding drift.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), integer pixels


@dataclass(frozen=True)
class Transform:
    """Foreground pixel (u, v) -> canvas: scale and flip about the foreground's centre, rotate, then put
    that centre at (cx, cy) on the canvas. Angles are degrees, clockwise on screen (y points down)."""

    cx: float = 0.0
    cy: float = 0.0
    sx: float = 1.0
    sy: float = 1.0
    angle: float = 0.0
    flip_h: bool = False
    flip_v: bool = False

    def matrix(self, fg_size: tuple[int, int]) -> np.ndarray:
        """2 x 3 float64 affine for cv2.warpAffine: foreground pixel coordinates -> canvas coordinates."""
        w, h = fg_size
        u0, v0 = (w - 1) / 2.0, (h - 1) / 2.0
        sx = -self.sx if self.flip_h else self.sx
        sy = -self.sy if self.flip_v else self.sy
        a = math.radians(self.angle)
        c, s = math.cos(a), math.sin(a)
        lin = np.array([[c * sx, -s * sy], [s * sx, c * sy]])
        offset = np.array([self.cx, self.cy]) - lin @ np.array([u0, v0])
        return np.hstack([lin, offset[:, None]])

    def replaced(self, **changes) -> "Transform":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Transform":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("cx", "cy", "sx", "sy", "angle"):
            if key in known:
                known[key] = float(known[key])
        for key in ("flip_h", "flip_v"):
            if key in known:
                known[key] = bool(known[key])
        t = cls(**known)
        if not all(math.isfinite(v) for v in (t.cx, t.cy, t.sx, t.sy, t.angle)) or t.sx <= 0 or t.sy <= 0:
            raise ValueError(f"invalid transform {data!r}")
        return t


def invert(m: np.ndarray) -> np.ndarray:
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply(m: np.ndarray, points) -> np.ndarray:
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    return pts @ m[:, :2].T + m[:, 2]


def corners(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The foreground's four outer corners on the canvas (pixel edges, not centres), clockwise from top-left."""
    w, h = size
    return apply(m, [(-0.5, -0.5), (w - 0.5, -0.5), (w - 0.5, h - 0.5), (-0.5, h - 0.5)])


def bounding_box(points, limit: tuple[int, int] | None = None, pad: int = 1) -> Box | None:
    """Integer box around `points` grown by `pad`, clipped to `limit=(w, h)`; None when empty."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    x0, y0 = np.floor(pts.min(0)).astype(int) - pad
    x1, y1 = np.ceil(pts.max(0)).astype(int) + pad + 1
    if limit is not None:
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(limit[0], x1), min(limit[1], y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def union(a: Box | None, b: Box | None) -> Box | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def map_box(m: np.ndarray, box: Box, limit: tuple[int, int]) -> Box | None:
    """A pixel box in one space mapped through `m` and boxed again in the other (clipped to `limit`)."""
    x0, y0, x1, y1 = box
    pts = apply(m, [(x0 - 0.5, y0 - 0.5), (x1 - 0.5, y0 - 0.5), (x1 - 0.5, y1 - 0.5), (x0 - 0.5, y1 - 0.5)])
    return bounding_box(pts, limit)


def dab_weights(m_inv: np.ndarray, m: np.ndarray, centre, radius: float, hardness: float,
                limit: tuple[int, int]) -> tuple[Box, np.ndarray] | None:
    """The coverage (float32 0..1) of a round brush dab drawn on the canvas, sampled in the space that
    `m_inv` maps canvas coordinates into (the foreground's pixels, or the canvas itself).

    The dab is round on screen whatever the foreground's scale or rotation, so the distance is measured
    after mapping each target pixel back to the canvas. Returns (box in the target space, weights) or None.
    """
    cx, cy = centre
    r = max(0.5, float(radius))
    ring = [(cx + r * math.cos(t), cy + r * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 16, endpoint=False)]
    box = bounding_box(apply(m_inv, ring), limit, pad=2)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    us, vs = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    px = m[0, 0] * us + m[0, 1] * vs + (m[0, 2] - cx)
    py = m[1, 0] * us + m[1, 1] * vs + (m[1, 2] - cy)
    dist = np.sqrt(px * px + py * py)
    # Full strength inside the hard core, then a smoothstep falloff to zero at the rim.
    core = r * min(max(hardness, 0.0), 1.0)
    t = np.clip((r - dist) / max(r - core, 1e-3), 0.0, 1.0)
    weights = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
    if not weights.any():
        return None
    return box, weights
