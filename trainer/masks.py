"""Masks for photos that come without one.

Two sources: random smooth shapes (blobs and rounded polygons: cheap, endless variety, teach the network
that any region can be a foreground) and an object-like mask from GrabCut seeded by a spectral-residual
saliency map (closer to what users actually paste: a coherent object with real edges). GrabCut runs on
a small copy of the photo, so it costs milliseconds, and only once per photo.
"""
from __future__ import annotations

import cv2
import numpy as np

MIN_AREA, MAX_AREA = 0.05, 0.6  # fraction of the image a usable foreground covers
GRABCUT_SIDE = 96
GRABCUT_RNG_SEED = 12345


def _area_threshold(field: np.ndarray, area: float) -> np.ndarray:
    """Binary mask of the `area` fraction of pixels where `field` is largest."""
    cut = np.quantile(field, 1.0 - area)
    return (field > cut).astype(np.float32)


def blob_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth blob: low-frequency noise plus a bump around a random centre, thresholded to an area."""
    coarse = rng.normal(0.0, 1.0, (rng.integers(3, 7), rng.integers(3, 7))).astype(np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sigma = rng.uniform(0.15, 0.35) * max(h, w)
    field += 2.5 * np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2)))
    mask = _area_threshold(field, rng.uniform(0.08, 0.45))
    return _largest_component(mask)


def polygon_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A star-shaped polygon with jittered radii, edges rounded by a blur and re-threshold."""
    n = int(rng.integers(5, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    radius = rng.uniform(0.15, 0.35) * min(h, w)
    radii = radius * rng.uniform(0.5, 1.3, n)
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 255)
    k = max(3, int(min(h, w) * 0.04) | 1)
    mask = cv2.GaussianBlur(mask, (k, k), 0)
    return (mask > 127).astype(np.float32)


def box_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An axis-aligned rectangle (LEMaRT's masked regions): any part of any photo can be re-coloured."""
    area = rng.uniform(MIN_AREA * 1.5, MAX_AREA * 0.8)
    aspect = np.exp(rng.uniform(-0.8, 0.8))
    bh = int(np.clip(round(np.sqrt(area * h * w / aspect)), 4, h - 2))
    bw = int(np.clip(round(area * h * w / bh), 4, w - 2))
    y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    mask = np.zeros((h, w), np.float32)
    mask[y:y + bh, x:x + bw] = 1.0
    return mask


def region_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A random region that is not an object: a box a third of the time, else a blob or polygon."""
    return box_mask(h, w, rng) if rng.random() < 1 / 3 else random_mask(h, w, rng)


def random_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    for _ in range(4):
        mask = blob_mask(h, w, rng) if rng.random() < 0.5 else polygon_mask(h, w, rng)
        if MIN_AREA <= mask.mean() <= MAX_AREA:
            return mask
    return mask  # the last draw; the shapes above practically always land in range


def _largest_component(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == biggest).astype(np.float32)


def saliency_map(img: np.ndarray, side: int = 64) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang 2007) at side x side, normalized to 0..1."""
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-6)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), side * 0.04)
    sal -= sal.min()
    return sal / max(float(sal.max()), 1e-8)


def object_mask(img: np.ndarray) -> np.ndarray | None:
    """An object-like mask (GrabCut seeded from saliency), or None when nothing plausible is found."""
    h, w = img.shape[:2]
    scale = GRABCUT_SIDE / max(h, w)
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    sal = cv2.resize(saliency_map(img), (sw, sh), interpolation=cv2.INTER_LINEAR)
    seed = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
    seed[sal > np.quantile(sal, 0.7)] = cv2.GC_PR_FGD
    seed[sal > np.quantile(sal, 0.93)] = cv2.GC_FGD
    border = max(1, sw // 24)
    seed[:border, :] = seed[-border:, :] = cv2.GC_BGD
    seed[:, :border] = seed[:, -border:] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models with k-means++ from OpenCV's per-thread RNG, whose state depends
    # on whatever that thread ran before: reset it, so a photo always gets the same mask (runs are
    # reproducible, and a resumed run or a re-scoring sees the masks the original run saw).
    cv2.setRNGSeed(GRABCUT_RNG_SEED)
    try:
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), seed, None, bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None  # e.g. a flat image: GrabCut cannot fit its colour models
    fg = ((seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)).astype(np.float32)
    fg = _largest_component(fg)
    if not MIN_AREA <= fg.mean() <= MAX_AREA:
        return None
    full = cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR)
    return (full > 0.5).astype(np.float32)
