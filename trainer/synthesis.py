"""Appearance perturbations that turn a real photo into a training composite.

The foreground of a real photo gets a changed appearance and the untouched photo is the target, the way
iHarmony4 was built. Each family models one way a pasted object fails to match its new scene:
another photo's colour statistics, a camera's tone curve, white balance and exposure, a hue/saturation
shift, or a smooth non-linear colour grade (3D LUT). Ranges are wide enough to be clearly visible and
narrow enough to stay photographic.

Two recipes. "v1" is the first one. "v2" (the default) is matched to real composites: measured as the
foreground-minus-surround Lab mean difference (benchmarks/realism_stats.py), real composites have a
heavier tail of large brightness mismatches than v1 made, so v2 widens the exposure and mean-shift ranges
(the ranges below); and the dataset gives it box-shaped and random regions besides object masks and
donors of the same kind of object (trainer.datasets).

Everything works on uint8 RGB H x W x 3 arrays and float32 masks H x W in 0..1; randomness comes only
from the `numpy.random.Generator` passed in, so a seeded generator reproduces a composite exactly.
"""
from __future__ import annotations

import cv2
import numpy as np

# A composite whose foreground moved less than this (mean absolute change, 0..255 scale) teaches the
# network nothing; it is drawn again.
MIN_CHANGE = 5.0
MAX_TRIES = 5
FAMILIES = ("stats", "curves", "white_balance", "hsv", "lut")
# Per recipe: the exposure change in stops, and the random Lab mean shift (L, a, b) of a donor-less
# statistics transfer.
RANGES = {
    "v1": {"stops": 0.9, "shift": (25.0, 20.0, 20.0)},
    "v2": {"stops": 1.4, "shift": (35.0, 22.0, 22.0)},
}
# v2: the share of composites whose object also comes with its own exposure (on top of the family's
# change), and how far that is off, in stops. Real composites sit further from their surroundings in
# lightness than any single family puts them (benchmarks/realism_stats.py: median |dL| 15.3 against
# 10.9 without this).
EXPOSURE_SHARE = 0.6
EXPOSURE_STOPS = (0.3, 1.2)


def _to_float(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) * (1.0 / 255.0)


def _region_lab_stats(lab: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = mask.reshape(-1).astype(np.float64)
    total = w.sum()
    pixels = lab.reshape(-1, 3).astype(np.float64)
    if total < 1.0:
        return pixels.mean(0), pixels.std(0) + 1e-3
    mean = (pixels * w[:, None]).sum(0) / total
    var = (((pixels - mean) ** 2) * w[:, None]).sum(0) / total
    return mean, np.sqrt(var) + 1e-3


def stats_transfer(img, mask, rng, donor=None, donor_mask=None, recipe="v2") -> np.ndarray:
    """Give the foreground the Lab mean/std of another photo's region (Reinhard-style transfer).

    Without a donor, random target statistics stand in: a shifted mean and a scaled spread.
    """
    lab = cv2.cvtColor(_to_float(img), cv2.COLOR_RGB2LAB)
    mean, std = _region_lab_stats(lab, mask)
    if donor is not None:
        dlab = cv2.cvtColor(_to_float(donor), cv2.COLOR_RGB2LAB)
        dmask = donor_mask if donor_mask is not None and donor_mask.sum() >= 1 else np.ones(dlab.shape[:2], np.float32)
        t_mean, t_std = _region_lab_stats(dlab, dmask)
    else:
        shift = np.array(RANGES[recipe]["shift"])
        t_mean = mean + rng.uniform(-shift, shift)
        t_std = std * rng.uniform(0.6, 1.5, 3)
    # Clamp the spread ratio: transferring from a flat region (sky) onto a textured one would erase it.
    ratio = np.clip(t_std / std, 0.4, 2.5)
    strength = rng.uniform(0.6, 1.0)
    new = (lab - mean) * ratio + t_mean
    lab = lab + strength * (new - lab)
    lab[..., 0] = np.clip(lab[..., 0], 0, 100)
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def tone_curves(img, mask, rng, **_) -> np.ndarray:
    """Per-channel gamma and a monotone curve through a few random control points."""
    x = np.linspace(0.0, 1.0, 256)
    common_gamma = np.exp(rng.uniform(np.log(0.6), np.log(1.6)))
    luts = []
    for _c in range(3):
        gamma = common_gamma * np.exp(rng.normal(0.0, 0.12))
        knots_x = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
        knots_y = knots_x + rng.uniform(-0.08, 0.08, 5) * np.array([0.3, 1, 1, 1, 0.3])
        knots_y = np.maximum.accumulate(np.clip(knots_y, 0, 1))  # monotone: a tone curve never inverts
        curve = np.interp(x**gamma, knots_x, knots_y)
        luts.append(np.clip(curve * 255.0 + 0.5, 0, 255).astype(np.uint8))
    lut = np.stack(luts, axis=1).reshape(256, 1, 3)
    return cv2.LUT(np.ascontiguousarray(img), lut)


def white_balance(img, mask, rng, recipe="v2", **_) -> np.ndarray:
    """Colour temperature / tint gains and an exposure change, applied in (approximately) linear light."""
    linear = _to_float(img) ** 2.2
    temp = rng.uniform(-0.35, 0.35)
    tint = rng.uniform(-0.15, 0.15)
    stops = RANGES[recipe]["stops"]
    exposure = 2.0 ** rng.uniform(-stops, stops)
    gains = np.array([2.0**temp, 2.0**tint, 2.0**-temp], np.float32) * exposure
    out = np.clip(linear * gains, 0.0, 1.0) ** (1 / 2.2)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def exposure(img, mask, rng, **_) -> np.ndarray:
    """Brighter or darker by a few tenths of a stop to a stop and more, in (approximately) linear light."""
    stops = rng.uniform(*EXPOSURE_STOPS) * rng.choice([-1.0, 1.0])
    out = np.clip(_to_float(img) ** 2.2 * 2.0**stops, 0.0, 1.0) ** (1 / 2.2)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def hsv_shift(img, mask, rng, **_) -> np.ndarray:
    hsv = cv2.cvtColor(_to_float(img), cv2.COLOR_RGB2HSV)  # H in degrees, S and V in 0..1
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-25, 25)) % 360.0
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.5, 1.6), 0, 1)
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.7, 1.3), 0, 1)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def random_lut(rng, grid: int = 5, amplitude: float = 0.12) -> np.ndarray:
    """A smooth 3D colour LUT: identity plus a low-frequency displacement, grid^3 x 3 in 0..1."""
    axis = np.linspace(0.0, 1.0, grid, dtype=np.float32)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    ident = np.stack([r, g, b], -1)
    # A coarse 3x3x3 displacement upsampled trilinearly keeps the grade smooth (no posterization).
    coarse = rng.normal(0.0, amplitude, (3, 3, 3, 3)).astype(np.float32)
    coarse += rng.normal(0.0, amplitude * 0.5, (1, 1, 1, 3)).astype(np.float32)  # an overall cast
    pos = axis * 2.0
    disp = _trilinear(coarse, pos[:, None, None], pos[None, :, None], pos[None, None, :])
    return np.clip(ident + disp, 0.0, 1.0)


def _trilinear(table, x, y, z):
    """Sample table[nx, ny, nz, C] at fractional grid coordinates (broadcastable arrays)."""
    n = np.array(table.shape[:3]) - 1
    x, y, z = np.broadcast_arrays(x, y, z)
    coords = [np.clip(c, 0, m) for c, m in zip((x, y, z), n)]
    lo = [np.minimum(np.floor(c).astype(np.int64), m - 1) for c, m in zip(coords, n)]
    fr = [(c - l).astype(np.float32)[..., None] for c, l in zip(coords, lo)]
    out = 0.0
    for dx in (0, 1):
        wx = fr[0] if dx else 1 - fr[0]
        for dy in (0, 1):
            wy = fr[1] if dy else 1 - fr[1]
            for dz in (0, 1):
                wz = fr[2] if dz else 1 - fr[2]
                out = out + wx * wy * wz * table[lo[0] + dx, lo[1] + dy, lo[2] + dz]
    return out


def apply_lut(img: np.ndarray, lut: np.ndarray) -> np.ndarray:
    grid = lut.shape[0] - 1
    pos = _to_float(img) * grid
    out = _trilinear(lut, pos[..., 0], pos[..., 1], pos[..., 2])
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def lut_grade(img, mask, rng, **_) -> np.ndarray:
    return apply_lut(img, random_lut(rng))


# Scene light: one global change of the whole photo, the composite's background and the target alike. Trained
# only on photos whose objects were lit as they were photographed, a network learns to give an object its
# typical look back and follows a background's colour cast only about 40 % of the way
# (benchmarks/scene_gain.py); a scene re-lit under the untouched object teaches it to take the scene's light.
SCENE_FAMILIES = ("white_balance", "curves", "lut")


def scene_light(img: np.ndarray, rng: np.random.Generator, recipe: str = "v2") -> np.ndarray:
    """The whole photo under another light or grade (a white balance and exposure, tone curves or a LUT)."""
    name = SCENE_FAMILIES[int(rng.integers(len(SCENE_FAMILIES)))]
    return _APPLY[name](img, None, rng, recipe=recipe)


_APPLY = {
    "stats": stats_transfer,
    "curves": tone_curves,
    "white_balance": white_balance,
    "hsv": hsv_shift,
    "lut": lut_grade,
}


def composite(img: np.ndarray, changed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(np.float32)
    out = changed.astype(np.float32) * m + img.astype(np.float32) * (1.0 - m)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def foreground_change(img: np.ndarray, comp: np.ndarray, mask: np.ndarray) -> float:
    area = float(mask.sum())
    if area < 1.0:
        return 0.0
    diff = np.abs(img.astype(np.float32) - comp.astype(np.float32)).mean(-1)
    return float((diff * mask).sum() / area)


def perturb(img, mask, rng, donor=None, donor_mask=None, families=FAMILIES, recipe="v2") -> tuple[np.ndarray, str]:
    """Return (composite uint8, name of the families used): `img` with its foreground re-coloured.

    One family most of the time, two chained sometimes (real composites often differ in several ways).
    A draw that barely changes the foreground is repeated; after MAX_TRIES the strongest one is kept.
    """
    families = list(families)
    best, best_change, best_name = None, -1.0, ""
    for _ in range(MAX_TRIES):
        count = 2 if rng.random() < 0.3 else 1
        chosen = list(rng.choice(families, size=min(count, len(families)), replace=False))
        changed = img
        if recipe == "v2" and rng.random() < EXPOSURE_SHARE:
            chosen.append("exposure")
        for name in chosen:
            apply = exposure if name == "exposure" else _APPLY[name]
            changed = apply(changed, mask, rng, donor=donor, donor_mask=donor_mask, recipe=recipe)
        comp = composite(img, changed, mask)
        change = foreground_change(img, comp, mask)
        if change > best_change:
            best, best_change, best_name = comp, change, "+".join(chosen)
        if change >= MIN_CHANGE:
            break
    return best, best_name
