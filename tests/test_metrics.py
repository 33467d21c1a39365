"""Metrics on cases small enough to work out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine import metrics
from engine.metrics import MetricAverager, fmse, fpsnr, image_metrics, mse, psnr, ssim


def test_mse_over_all_values():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0] = (3, 0, 0)  # one value off by 3: 9 / 12
    assert mse(a, b) == pytest.approx(9 / 12)
    # uint8 arithmetic must not wrap around: 0 - 255 is -255, not 1
    assert mse(np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), 255, np.uint8)) == 255.0**2


def test_fmse_is_foreground_error_over_three_times_area():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0] = (2, 2, 2)  # inside the mask: squared error 12
    b[3, 3] = (9, 9, 9)  # outside: must not count
    mask = np.zeros((4, 4), np.float32)
    mask[0, :2] = 1.0  # area 2
    mask[1, 0] = 0.4  # below the 0.5 binarisation: not foreground
    assert fmse(a, b, mask) == pytest.approx(12 / (3 * 2))
    assert fmse(a, b, (mask * 255).astype(np.uint8)) == pytest.approx(2.0)  # 8-bit masks work too
    assert fmse(a, b, np.zeros((4, 4))) == 0.0  # empty mask: defined as no foreground error


def test_psnr_and_fpsnr_values_and_cap():
    a = np.zeros((2, 2, 3), np.uint8)
    b = np.full((2, 2, 3), 10, np.uint8)  # MSE 100
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    mask = np.ones((2, 2))
    assert fpsnr(a, b, mask) == pytest.approx(psnr(a, b))
    assert psnr(a, a) == metrics.PSNR_CAP  # identical images: capped, never inf


def test_ssim_of_constant_images_by_hand():
    a = np.full((16, 16, 3), 100, np.uint8)
    b = np.full((16, 16, 3), 110, np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)  # variances and covariance are zero
    assert ssim(a, b) == pytest.approx(expected, rel=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)


def _ssim_reference(x, y):
    """Explicit loops: Gaussian-weighted statistics at each interior pixel of one channel."""
    r, sigma = 5, 1.5
    g = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * sigma**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(r, x.shape[0] - r):
        for j in range(r, x.shape[1] - r):
            px, py = x[i - r : i + r + 1, j - r : j + r + 1], y[i - r : i + r + 1, j - r : j + r + 1]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
            cov = (w * (px - mx) * (py - my)).sum()
            vals.append(((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def test_ssim_matches_a_loop_reference_per_channel():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (18, 17, 3)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    ref = np.mean([_ssim_reference(a[..., c].astype(float), b[..., c].astype(float)) for c in range(3)])
    assert ssim(a, b) == pytest.approx(ref, rel=1e-6)
    assert ssim(a, b) == pytest.approx(ssim(b, a))
    assert 0 < ssim(a, b) < 1


def test_image_metrics_and_averager_average_per_image():
    a = np.zeros((2, 2, 3), np.uint8)
    b1 = np.full((2, 2, 3), 10, np.uint8)  # MSE 100
    b2 = np.full((2, 2, 3), 20, np.uint8)  # MSE 400
    mask = np.array([[1, 0], [0, 0]], np.float32)
    avg = MetricAverager()
    first = avg.update(b1, a, mask)
    assert set(first) == {"mse", "fmse", "psnr", "fpsnr", "ssim"}
    avg.add(image_metrics(b2, a, mask, with_ssim=False))
    assert avg.count == 2
    mean = avg.mean()
    assert mean["mse"] == pytest.approx(250)
    assert mean["fmse"] == pytest.approx(250)
    # PSNR is averaged per image, not computed from the mean MSE
    assert mean["psnr"] == pytest.approx((psnr(b1, a) + psnr(b2, a)) / 2)
    assert mean["psnr"] != pytest.approx(10 * math.log10(255**2 / 250))
    other = MetricAverager()
    other.add({"mse": 50.0})
    avg.merge(other)
    assert avg.count == 3 and avg.mean()["mse"] == pytest.approx(550 / 3)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        mse(np.zeros((2, 2, 3)), np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="mask"):
        fmse(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)), np.zeros((3, 3)))
