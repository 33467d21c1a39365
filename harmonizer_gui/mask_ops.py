"""Whole-mask filters (feather, grow, shrink) as pure functions on float32 0..1 arrays. Qt-free.

They work on what is visible (the foreground's alpha times its mask), because that edge is the one a user
means when softening or contracting a cut-out. `closed` says the array ends at the foreground's border,
beyond which nothing shows: there the edge counts as outside, so a rectangular photo gets soft sides too.
A canvas-size mask is open: an object touching the picture's border does not fade towards it.
"""
from __future__ import annotations

import cv2
import numpy as np


def _pad(a: np.ndarray, pad: int, closed: bool) -> np.ndarray:
    mode = cv2.BORDER_CONSTANT if closed else cv2.BORDER_REFLECT
    return cv2.copyMakeBorder(a, pad, pad, pad, pad, mode, value=0)


def feather(cover: np.ndarray, sigma: float, closed: bool) -> np.ndarray:
    pad = int(np.ceil(3 * sigma)) + 1
    out = cv2.GaussianBlur(_pad(cover, pad, closed), (0, 0), sigma)
    return out[pad:-pad, pad:-pad]


def grow(cover: np.ndarray, radius: float) -> np.ndarray:
    """Expand by `radius` pixels (distance transform: linear in the image size, whatever the radius)."""
    inside = (cover > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
    return np.maximum(cover, np.clip(radius + 0.5 - dist, 0, 1))


def shrink(cover: np.ndarray, radius: float, closed: bool) -> np.ndarray:
    inside = _pad((cover > 0.5).astype(np.uint8), 1, closed)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)[1:-1, 1:-1]
    return np.minimum(cover, np.clip(dist - radius - 0.5, 0, 1))


def to_mask(cover: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """The layer mask that, times `alpha`, shows `cover` (as far as the alpha allows)."""
    if alpha is None:
        return np.clip(cover, 0, 1).astype(np.float32)
    a = alpha.astype(np.float32) * np.float32(1 / 255)
    return np.clip(np.divide(cover, a, out=np.ones_like(cover), where=a > 0), 0, 1).astype(np.float32)
