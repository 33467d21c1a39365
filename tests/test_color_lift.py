import cv2
import numpy as np
import pytest

from engine.color_lift import FIT_GRID, LocalAffine


def textured(h, w, seed=0):
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.random((8, 8, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    detail = rng.random((h, w, 3)).astype(np.float32) * 0.3
    return np.clip(base * 0.6 + detail + 0.05, 0, 1)


@pytest.mark.parametrize("size", [64, 256])
def test_a_global_affine_is_recovered_and_lifted_with_full_detail(size):
    full = (textured(400, 600) * 255).astype(np.uint8)
    a = np.array([[0.8, 0.1, 0.0], [0.0, 0.9, 0.05], [0.1, 0.0, 0.7]], np.float32)
    b = np.array([0.05, -0.02, 0.1], np.float32)
    low = cv2.resize(full, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    mask = np.zeros((size, size), np.float32)
    k = size // 64
    mask[10 * k:50 * k, 20 * k:60 * k] = 1
    target_low = low @ a.T + b
    lift = LocalAffine.fit(low, target_low, mask)
    # Thumbnails above FIT_GRID are fitted on a coarser grid (the transform is smooth anyway).
    assert lift.coeffs.shape[:2] == (min(size, FIT_GRID),) * 2
    out = lift.apply(full, full.shape[:2], (0, 0, 600, 400))
    want = (full.astype(np.float32) / 255 @ a.T + b) * 255
    # Inside the foreground the per-pixel transform (not a blurred upsample) reproduces fine detail.
    inside = np.s_[100:300, 250:550]
    assert np.abs(out[inside] - want[inside]).mean() < 1.5


def test_box_argument_transforms_only_a_part_of_the_frame_consistently():
    full = (textured(200, 300, seed=1) * 255).astype(np.uint8)
    low = cv2.resize(full, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    mask = np.ones((32, 32), np.float32)
    target = np.clip(low * 0.7 + 0.2 * low[..., ::-1], 0, 1)
    lift = LocalAffine.fit(low, target, mask)
    whole = lift.apply(full, (200, 300), (0, 0, 300, 200))
    part = lift.apply(full[50:150, 100:250], (200, 300), (100, 50, 250, 150))
    # OpenCV's bilinear sampling steps sub-pixel positions in 1/32ths: a few hundredths of a level at most
    np.testing.assert_allclose(part, whole[50:150, 100:250], atol=3e-2)


def test_windows_without_foreground_fall_back_to_the_global_fit():
    low = textured(64, 64, seed=2)
    mask = np.zeros((64, 64), np.float32)
    mask[:32, :32] = 1  # enough of the photo's colour variety for the global fit to be well posed
    target = low * 0.5  # the output halves every foreground colour
    lift = LocalAffine.fit(low, target, mask)
    far = lift.coeffs[60, 60]
    np.testing.assert_allclose(far[:9].reshape(3, 3), np.eye(3) * 0.5, atol=0.05)
    np.testing.assert_allclose(far[9:], 0, atol=0.03)
    assert np.isfinite(lift.coeffs).all()


def test_apply_matches_a_full_frame_bilinear_reference():
    rng = np.random.default_rng(4)
    coeffs = cv2.GaussianBlur(rng.normal(0, 0.3, (24, 32, 12)).astype(np.float32), (0, 0), 2)
    coeffs[..., [0, 4, 8]] += 1  # around the identity, like a real colour correction
    lift = LocalAffine(coeffs)
    frame = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    full = cv2.resize(coeffs, (400, 300), interpolation=cv2.INTER_LINEAR)  # the exact bilinear upsampling
    a, b = full[..., :9].reshape(300, 400, 3, 3), full[..., 9:]
    reference = (np.einsum("hwij,hwj->hwi", a, frame / 255.0) + b) * 255
    box = (37, 11, 390, 297)
    got = lift.apply(frame[11:297, 37:390], (300, 400), box)
    assert np.abs(got - reference[11:297, 37:390]).max() < 0.5
