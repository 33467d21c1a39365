"""Putting a harmonized region back into the composite: weighted by the (soft) mask, exact outside it.

Shared by the network path and the classical method so both blend identically, and written to touch
only the mask's bounding box: a 12-megapixel frame is never converted to float as a whole.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import MaskError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1
MIN_REFERENCE_PIXELS = 16


def nonzero_box(values: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the non-zero (True) pixels of a 2-D array; None when there are none."""
    rows = np.flatnonzero(values.any(1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(values.any(0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def mask_box(mask: np.ndarray, threshold: float = 0.0) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the pixels where `mask > threshold`; the mask must have some."""
    box = nonzero_box(mask > threshold)
    if box is None:
        raise ValueError("mask_box of an empty mask")
    return box


def reference_where(reference: np.ndarray, mask: np.ndarray, bg_threshold: float = 0.5) -> np.ndarray:
    """The usable pixels of a reference area (bool, the mask's size): painted, and not on the object.
    An area that is empty, too small or only on the object is one clear line for the user."""
    painted = np.asarray(reference, np.float32) > 0.5
    where = painted & (mask < bg_threshold)
    if np.count_nonzero(where) < MIN_REFERENCE_PIXELS:
        if np.count_nonzero(painted) >= MIN_REFERENCE_PIXELS:
            raise MaskError("the reference area lies on the object itself; paint it on the background")
        raise MaskError(f"the reference area is empty or too small (at least {MIN_REFERENCE_PIXELS} pixels are needed)")
    return where


@dataclass(frozen=True)
class Harmonization:
    """One harmonization: what went in, and the harmonized pixels of the box that the mask covers.

    `at(strength)` gives the picture at any strength from these float pixels, rounded once; a strength
    change never runs the method again. `region` is float32 0..255 (clipped), `mask` float32 0..1.
    """

    composite: np.ndarray
    mask: np.ndarray
    box: Box
    region: np.ndarray

    def region_at(self, box: Box, strength: float) -> np.ndarray:
        """The picture at `strength` over `box` only (a view's band), rounded once like `at`."""
        x0, y0, x1, y1 = box
        out = self.composite[y0:y1, x0:x1].copy()
        hx0, hy0, hx1, hy1 = self.box
        ix0, iy0, ix1, iy1 = max(x0, hx0), max(y0, hy0), min(x1, hx1), min(y1, hy1)
        if strength > 0 and ix0 < ix1 and iy0 < iy1:
            out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = blend_region(
                self.composite[iy0:iy1, ix0:ix1], self.region[iy0 - hy0:iy1 - hy0, ix0 - hx0:ix1 - hx0],
                self.mask[iy0:iy1, ix0:ix1], min(float(strength), 1.0))
        return out

    def at(self, strength: float = 1.0) -> np.ndarray:
        h, w = self.mask.shape
        return self.region_at((0, 0, w, h), strength)


def blend(composite: np.ndarray, harmonized: np.ndarray, mask: np.ndarray, strength: float) -> np.ndarray:
    """Full-frame arrays: composite + (harmonized - composite) * mask * strength, exact outside the mask."""
    box = nonzero_box(mask > 0)
    if box is None:
        return composite.copy()
    x0, y0, x1, y1 = box
    region = np.asarray(harmonized[y0:y1, x0:x1], np.float32)
    return Harmonization(composite, np.asarray(mask, np.float32), box, region).at(strength)


def blend_region(composite: np.ndarray, harmonized: np.ndarray, mask: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """composite + (harmonized - composite) * mask * strength, rounded to uint8; same-size arrays.

    `harmonized` may be uint8 or float (0..255, unclipped). Where the mask is 0 the composite comes
    back bit for bit, whatever `harmonized` holds there.
    """
    weight = mask.astype(np.float32, copy=True) if strength >= 1 else mask * np.float32(max(0.0, strength))
    c = composite.astype(np.float32)
    acc = np.subtract(harmonized, c, dtype=np.float32)
    acc *= weight[..., None]
    acc += c
    acc += np.float32(0.5)
    np.clip(acc, 0, 255, out=acc)
    out = acc.astype(np.uint8)
    np.copyto(out, composite, where=(weight <= 0)[..., None])
    return out
