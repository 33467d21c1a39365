"""The weight-free method: match the foreground's Lab statistics to the background's.

Plain Reinhard-style transfer (mean and std per Lab channel) over-corrects in practice: a white shirt
pasted on a dark street turns grey, and a low-contrast background flattens a detailed object. So the
transfer is damped: the std ratio is clamped, lightness moves only part of the way, and chroma moves
most of the way. All work is done inside the mask's bounding box (float32) so 12 MP stays fast.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.compositing import Harmonization, mask_box, reference_where
from engine.errors import MaskError

# Fraction of the full mean/std correction applied per Lab channel (L, a, b). Lightness is the
# object's own shading and exposure; only part of the difference is the scene's light.
TRANSFER = np.array([0.6, 0.85, 0.85], np.float32)
# A contrast change beyond these factors looks like a filter, not like light.
STD_RATIO_RANGE = (0.6, 1.5)
# Pixels count as foreground/background statistics only when the mask is clearly on/off, so the
# feathered seam does not mix the two populations.
FG_THRESHOLD, BG_THRESHOLD = 0.5, 0.5
# Background statistics come from a ring around the object at most this many times its size, so a
# distant, differently lit part of a large photo has less say than the object's surroundings.
CONTEXT = 1.0
MIN_PIXELS = 16


def _lab(rgb_uint8: np.ndarray) -> np.ndarray:
    # float32 input in 0..1 gives L in 0..100 and a/b in about -127..127 without 8-bit quantisation.
    return cv2.cvtColor(rgb_uint8.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2LAB)


def _stats(lab: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # OpenCV's masked mean/std (population std, like numpy's) without gathering the pixels.
    mean, std = cv2.meanStdDev(lab, mask=where.view(np.uint8))
    return mean.ravel().astype(np.float32), std.ravel().astype(np.float32)


def lab_transfer(fg_mean, fg_std, bg_mean, bg_std) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (scale, offset) so that new = lab * scale + offset, damped as described above."""
    ratio = np.clip(bg_std / np.maximum(fg_std, 1e-3), *STD_RATIO_RANGE)
    scale = 1.0 + TRANSFER * (ratio - 1.0)
    target_mean = fg_mean + TRANSFER * (bg_mean - fg_mean)
    offset = target_mean - fg_mean * scale
    return scale.astype(np.float32), offset.astype(np.float32)


def harmonize_classical(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return the composite with its masked foreground recoloured to sit in the background's light.

    `composite` is uint8 H x W x 3 RGB, `mask` float32 H x W in 0..1 (soft edges blend). Pixels where
    the mask is 0 are returned unchanged, bit for bit.
    """
    box, region = classical_region(composite, mask)
    return Harmonization(composite, np.asarray(mask, np.float32), box, region).at(1.0)


def _reference_stats(composite, mask, reference, bg_threshold):
    """Lab mean and spread of the reference area, leaving out the object itself."""
    where = reference_where(reference, mask, bg_threshold)
    x0, y0, x1, y1 = mask_box(where)
    return _stats(_lab(composite[y0:y1, x0:x1]), where[y0:y1, x0:x1])


def classical_region(composite: np.ndarray, mask: np.ndarray, reference: np.ndarray | None = None,
                     style=None) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """The recoloured pixels, not yet blended: ((x0, y0, x1, y1), float32 0..255 of that box), the box
    covering every pixel where the mask is above 0. `reference` (float32 0..1, the composite's size): the
    area whose light the object should take, instead of the background around it. `style`
    (engine.photo_match.PhotoStyle): another photo whose statistics are mixed in by its alpha."""
    if composite.ndim != 3 or composite.shape[2] != 3 or composite.dtype != np.uint8:
        raise MaskError(f"composite must be H x W x 3 uint8, got {composite.shape} {composite.dtype}")
    if mask.shape != composite.shape[:2]:
        raise MaskError(f"mask is {mask.shape[::-1]} but the composite is {composite.shape[1::-1]}")
    mask = np.asarray(mask, np.float32)
    peak = float(mask.max(initial=0))
    if peak <= 0:
        raise MaskError("the mask has no foreground: paint the object that should be harmonized")
    # A faint mask (painted at low opacity everywhere) still marks an object: threshold below its peak.
    fg_threshold = min(FG_THRESHOLD, 0.5 * peak)
    bg_threshold = min(BG_THRESHOLD, fg_threshold)
    fg = mask > fg_threshold
    if np.count_nonzero(fg) < MIN_PIXELS:
        raise MaskError(
            f"the masked region is too small ({np.count_nonzero(fg)} pixels; at least {MIN_PIXELS} are needed)"
        )
    h, w = mask.shape
    x0, y0, x1, y1 = mask_box(fg)
    pad = int(round(max(x1 - x0, y1 - y0) * CONTEXT))
    cx0, cy0, cx1, cy1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    ctx_mask = mask[cy0:cy1, cx0:cx1]
    bg_ctx = ctx_mask < bg_threshold
    if np.count_nonzero(bg_ctx) < MIN_PIXELS:
        # The object fills its surroundings: fall back to the whole image's background.
        bg_all = mask < bg_threshold
        if np.count_nonzero(bg_all) < MIN_PIXELS:
            raise MaskError("the mask covers the whole image: some background is needed to harmonize against")
        cx0, cy0, cx1, cy1 = 0, 0, w, h
        ctx_mask, bg_ctx = mask, bg_all
    ctx_lab = _lab(composite[cy0:cy1, cx0:cx1])
    if reference is None:
        bg_mean, bg_std = _stats(ctx_lab, bg_ctx)
    else:
        bg_mean, bg_std = _reference_stats(composite, mask, reference, bg_threshold)
    if style is not None:
        area = np.ones(style.photo.shape[:2], bool) if style.area is None else style.area > 0.5
        photo_mean, photo_std = _stats(_lab(style.photo), area)
        bg_mean = bg_mean + np.float32(style.alpha) * (photo_mean - bg_mean)
        bg_std = bg_std + np.float32(style.alpha) * (photo_std - bg_std)
    fg_mean, fg_std = _stats(ctx_lab, ctx_mask > fg_threshold)
    scale, offset = lab_transfer(fg_mean, fg_std, bg_mean, bg_std)

    # Apply over everything the (soft) mask touches, not just the thresholded core.
    sx0, sy0, sx1, sy1 = mask_box(mask)
    if cx0 <= sx0 and cy0 <= sy0 and sx1 <= cx1 and sy1 <= cy1:  # usually: reuse the context's Lab
        lab = ctx_lab[sy0 - cy0 : sy1 - cy0, sx0 - cx0 : sx1 - cx0]
    else:
        lab = _lab(composite[sy0:sy1, sx0:sx1])
    # new = lab * scale + offset per channel, in one pass
    lab = cv2.transform(lab, np.hstack([np.diag(scale), offset[:, None]]).astype(np.float32))
    np.clip(lab[..., 0], 0, 100, out=lab[..., 0])
    rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    rgb *= np.float32(255)
    return (sx0, sy0, sx1, sy1), rgb
