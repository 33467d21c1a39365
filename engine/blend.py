"""A blend: several networks whose colour transforms are averaged into one.

Two networks trained differently make different mistakes. The bundled default pairs the transform-head
network (exact tone curves and a smooth affine grid, at 128 px) with the previous pixel-head network (at
256 px): each alone leaves about 27 % of a composite's fMSE on our validation split, their blend 23 %
(docs/quality.md), better on every family of appearance change.

The blend is formed where it is cheap, on the coefficient grid, so full resolution is still one lift:
the lead network (the first; a transform head) supplies the tone curves c and its grid; every other
network's output at its own working size is fitted as a smooth affine map of the *curved* thumbnail,
A c(x) + b (engine.color_lift.LocalAffine.fit), so all grids act on the same c(x) and their weighted
mean is itself such a map.

The networks themselves are held by engine.rainnet.Blend; this module is numpy only (no torch import).
"""
from __future__ import annotations

import cv2
import numpy as np


def mean_grid(grids: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Weighted mean of h x w x 12 coefficient grids, each bilinearly resized (pixel centres aligned, as
    the lift upsamples them) to the finest one's size."""
    h, w = max((g.shape[:2] for g, _ in grids), key=lambda s: s[0] * s[1])
    total = sum(weight for _, weight in grids)
    out = np.zeros((h, w, 12), np.float32)
    for grid, weight in grids:
        if grid.shape[:2] != (h, w):
            grid = cv2.resize(np.ascontiguousarray(grid, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        out += grid * np.float32(weight / total)
    return out


def curved(image: np.ndarray, curves: np.ndarray | None) -> np.ndarray:
    """uint8 RGB through per-channel curves (256 x 3 table, outputs 0..1) -> float32 0..1."""
    if curves is None:
        return image.astype(np.float32) / np.float32(255)
    return cv2.LUT(image, np.ascontiguousarray(curves.reshape(256, 1, 3), np.float32))
