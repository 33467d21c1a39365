"""The classical Lab statistics transfer: moves the foreground toward the background, exact outside."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.classical import harmonize_classical
from engine.errors import MaskError


def scene(h=64, w=64, seed=0):
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float32)
    img[:] = (60, 90, 160)  # a blue, dim background
    img += rng.normal(0, 12, img.shape)
    mask = np.zeros((h, w), np.float32)
    mask[16:48, 20:44] = 1
    fg = np.array([230, 200, 90], np.float32) + rng.normal(0, 10, (32, 24, 3))  # bright yellow paste
    img[16:48, 20:44] = fg
    return np.clip(img, 0, 255).astype(np.uint8), mask


def lab_mean(rgb, where):
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    return lab[where].mean(0)


def test_foreground_moves_toward_background_and_outside_is_exact():
    comp, mask = scene()
    out = harmonize_classical(comp, mask)
    assert out.dtype == np.uint8 and out.shape == comp.shape
    np.testing.assert_array_equal(out[mask == 0], comp[mask == 0])
    fg, bg = mask > 0.5, mask < 0.5
    before = np.abs(lab_mean(comp, fg) - lab_mean(comp, bg))
    after = np.abs(lab_mean(out, fg) - lab_mean(out, bg))
    assert (after < before).all()
    # damped, not a full transfer: some of the object's own lightness survives
    assert after[0] > 0.2 * before[0]


def test_soft_mask_blends_and_zero_stays_exact():
    comp, mask = scene()
    soft = cv2.GaussianBlur(mask, (0, 0), 3)
    soft[soft < 1e-3] = 0
    out = harmonize_classical(comp, soft)
    np.testing.assert_array_equal(out[soft == 0], comp[soft == 0])
    hard = harmonize_classical(comp, mask)
    # at a half-on pixel the change is about half the full change
    ys, xs = np.nonzero((soft > 0.4) & (soft < 0.6) & (mask > 0))
    full = hard[ys, xs].astype(float) - comp[ys, xs]
    half = out[ys, xs].astype(float) - comp[ys, xs]
    assert np.abs(half).mean() < np.abs(full).mean()
    assert np.abs(half).mean() > 0.2 * np.abs(full).mean()


def test_empty_foreground_or_background_is_a_clear_error():
    comp, mask = scene()
    with pytest.raises(MaskError, match="no foreground"):
        harmonize_classical(comp, np.zeros_like(mask))
    with pytest.raises(MaskError, match="whole image"):
        harmonize_classical(comp, np.ones_like(mask))
    with pytest.raises(MaskError):
        harmonize_classical(comp, mask[:10])


def test_foreground_filling_its_surroundings_uses_the_whole_background():
    comp, _ = scene(64, 64)
    mask = np.ones((64, 64), np.float32)
    mask[:, :6] = 0  # only a thin strip of background, outside the object's own context window
    out = harmonize_classical(comp, mask)
    np.testing.assert_array_equal(out[:, :6], comp[:, :6])


def test_identical_statistics_change_almost_nothing():
    rng = np.random.default_rng(3)
    comp = rng.integers(80, 180, (48, 48, 3), dtype=np.uint8)
    mask = np.zeros((48, 48), np.float32)
    mask[::2] = 1  # interleaved rows: same distribution inside and outside
    out = harmonize_classical(comp, mask)
    assert np.abs(out.astype(int) - comp).mean() < 3


def test_near_empty_regions():
    comp, _ = scene()
    few = np.zeros((64, 64), np.float32)
    few[30:32, 30:32] = 1  # 4 pixels: too few for statistics
    with pytest.raises(MaskError, match="too small"):
        harmonize_classical(comp, few)
    small = np.zeros((64, 64), np.float32)
    small[30:35, 30:35] = 1  # 25 pixels is enough
    out = harmonize_classical(comp, small)
    np.testing.assert_array_equal(out[small == 0], comp[small == 0])
    almost_all = np.ones((64, 64), np.float32)
    almost_all[0, :3] = 0  # 3 background pixels
    with pytest.raises(MaskError, match="background"):
        harmonize_classical(comp, almost_all)


def test_a_faint_mask_still_marks_the_object():
    comp, mask = scene()
    out = harmonize_classical(comp, mask * 0.4)  # painted at 40 % opacity
    np.testing.assert_array_equal(out[mask == 0], comp[mask == 0])
    full = harmonize_classical(comp, mask)
    change = np.abs(out[mask > 0].astype(float) - comp[mask > 0]).mean()
    assert 0.2 * np.abs(full[mask > 0].astype(float) - comp[mask > 0]).mean() < change
