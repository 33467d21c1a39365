"""Image harmonization metrics following the iHarmony4 evaluation protocol (DoveNet, CVPR 2020).

All functions take uint8 (or any numeric) H x W x 3 images in 0..255 and compute in float64.

- MSE: mean squared error over all H * W * 3 values.
- fMSE: squared error summed over foreground pixels / (3 * foreground area). The mask is binarised at
  0.5 as the iHarmony4 scripts do. An empty mask has no foreground error to measure: fMSE is 0.0
  (the numerator is an empty sum) rather than 0/0 = NaN, so one odd sample cannot poison an average.
- PSNR: 10 * log10(255^2 / MSE) per image; a dataset's PSNR is the mean of the per-image values, not
  the PSNR of the mean MSE. Identical images (MSE 0) would be +inf, which makes any average inf;
  PSNR is therefore capped at PSNR_CAP dB (documented, far above any real result).
- fPSNR: the same formula on fMSE, with the same cap.
- SSIM: Wang et al. 2004 with an 11 x 11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255,
  computed per RGB channel and averaged; the mean excludes the 5-pixel border where the window would
  leave the image (as scikit-image does). Images smaller than the window use all pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

PEAK = 255.0
PSNR_CAP = 100.0
MASK_THRESHOLD = 0.5
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # 11 x 11 window
SSIM_K1, SSIM_K2 = 0.01, 0.03
NAMES = ("mse", "fmse", "psnr", "fpsnr", "ssim")


def _pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"prediction {a.shape} and target {b.shape} differ in shape")
    return a, b


def _foreground(mask, shape) -> np.ndarray:
    m = np.asarray(mask, np.float64)
    if m.ndim == 3:
        m = m[..., 0]
    if m.max(initial=0) > 1.0:
        m = m / 255.0  # an 8-bit mask straight from the file
    if m.shape != tuple(shape[:2]):
        raise ValueError(f"mask {m.shape} does not match the image {tuple(shape[:2])}")
    return m > MASK_THRESHOLD


def mse(pred, target) -> float:
    a, b = _pair(pred, target)
    return float(np.mean((a - b) ** 2))


def fmse(pred, target, mask) -> float:
    a, b = _pair(pred, target)
    fg = _foreground(mask, a.shape)
    area = int(np.count_nonzero(fg))
    if area == 0:
        return 0.0
    channels = a.shape[2] if a.ndim == 3 else 1
    return float(np.sum((a[fg] - b[fg]) ** 2) / (channels * area))


def psnr_from_mse(value: float) -> float:
    if value <= 0:
        return PSNR_CAP
    return min(PSNR_CAP, 10.0 * math.log10(PEAK * PEAK / value))


def psnr(pred, target) -> float:
    return psnr_from_mse(mse(pred, target))


def fpsnr(pred, target, mask) -> float:
    return psnr_from_mse(fmse(pred, target, mask))


def _blur(x: np.ndarray) -> np.ndarray:
    size = 2 * SSIM_RADIUS + 1
    return cv2.GaussianBlur(x, (size, size), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)


def ssim(pred, target) -> float:
    a, b = _pair(pred, target)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    values = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        mx, my = _blur(x), _blur(y)
        # Population (not sample) variances under the Gaussian weights, as in the original paper.
        vx = _blur(x * x) - mx * mx
        vy = _blur(y * y) - my * my
        cov = _blur(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        r = SSIM_RADIUS
        if s.shape[0] > 2 * r and s.shape[1] > 2 * r:
            s = s[r:-r, r:-r]
        values.append(float(s.mean()))
    return float(np.mean(values))


def image_metrics(pred, target, mask, with_ssim: bool = True) -> dict:
    """All metrics of one image as {"mse", "fmse", "psnr", "fpsnr", "ssim"} (ssim omitted if not asked)."""
    m, fm = mse(pred, target), fmse(pred, target, mask)
    out = {"mse": m, "fmse": fm, "psnr": psnr_from_mse(m), "fpsnr": psnr_from_mse(fm)}
    if with_ssim:
        out["ssim"] = ssim(pred, target)
    return out


@dataclass
class MetricAverager:
    """Accumulates per-image metric values; `mean()` is the protocol's per-image average."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, metrics: dict) -> None:
        for key, value in metrics.items():
            self.values.setdefault(key, []).append(float(value))

    def update(self, pred, target, mask, with_ssim: bool = True) -> dict:
        result = image_metrics(pred, target, mask, with_ssim)
        self.add(result)
        return result

    def merge(self, other: "MetricAverager") -> None:
        for key, vals in other.values.items():
            self.values.setdefault(key, []).extend(vals)

    @property
    def count(self) -> int:
        return max((len(v) for v in self.values.values()), default=0)

    def mean(self) -> dict:
        return {key: float(np.mean(vals)) for key, vals in self.values.items() if vals}
