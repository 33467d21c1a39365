"""A shadow for a pasted object: its silhouette laid down on the ground, darker and sharper near the
object, fainter and softer away from it, in the colour of the scene's own shadows.

Geometry: the ground line is the object's lowest row unless given. A point of the object `h` pixels above
it lands `h * length` away along `angle` (degrees: 0 = to the right, 90 = straight back, 180 = to the
left, 270 = towards the viewer), the depth component shortened by `perspective` (a ground seen at a
grazing angle). The silhouette is cut into bands by height and each band blurred more the farther it
reaches (softness grows with distance, as a real penumbra does); a contact shadow under the base keeps
the object standing on the ground rather than hovering.

Composite: the shadow multiplies the picture by the scene's shadow colour (the mean of the darkest
twentieth of the surroundings), at `opacity`, only where the object is not.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.compositing import nonzero_box
from engine.errors import MaskError

BANDS = 6  # height bands, each blurred for its own distance
WORK_SIDE = 1024  # the shadow is cast at most this big and scaled up (it is smooth)
DARK_SHARE = 0.05  # the darkest share of the surroundings is taken as the scene's shadow colour


@dataclass(frozen=True)
class ShadowSettings:
    angle: float = 235.0  # degrees, see the module's notes: down and to the left, towards the viewer
    length: float = 0.6  # of the object's height
    softness: float = 0.08  # blur at the shadow's far end, as a share of the object's height
    opacity: float = 0.6
    perspective: float = 0.35  # how much the depth direction is shortened
    ground: float | None = None  # canvas row of the ground line; None: the object's lowest row

    def checked(self) -> "ShadowSettings":
        def number(value) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))

        for name, lo, hi in (("length", 0.0, 4.0), ("softness", 0.0, 1.0), ("opacity", 0.0, 1.0),
                             ("perspective", 0.05, 1.0)):
            value = getattr(self, name)
            if not (number(value) and lo <= value <= hi):
                raise MaskError(f"shadow {name} must be between {lo:g} and {hi:g}, got {value!r}")
        if not number(self.angle):
            raise MaskError(f"shadow angle must be a number of degrees, got {self.angle!r}")
        if self.ground is not None and not number(self.ground):
            raise MaskError(f"the ground line must be a row of the picture, got {self.ground!r}")
        return self


def lay_direction(s: ShadowSettings) -> tuple[float, float]:
    """(dx, dy): a point h pixels above the ground lands h dx to the right and h dy up the picture."""
    a = np.deg2rad(s.angle)
    dx = s.length * np.cos(a)
    dy = s.length * np.sin(a) * s.perspective  # positive: away from the viewer, up the picture
    return float(dx), float(np.copysign(max(abs(dy), 0.02), dy if dy else 1.0))  # a flat shadow has some depth


def aim(s: ShadowSettings, dx: float, dy: float) -> ShadowSettings:
    """The settings whose lay_direction is (dx, dy) (the inverse, for dragging the shadow's tip), its length
    kept within what `checked` allows."""
    across, depth = dx, dy / s.perspective
    length = min(4.0, float(np.hypot(across, depth)))
    angle = float(np.degrees(np.arctan2(depth, across))) % 360 if length > 0 else s.angle
    return ShadowSettings(angle=angle, length=length, softness=s.softness, opacity=s.opacity,
                          perspective=s.perspective, ground=s.ground)


def object_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the object that casts the shadow (where the mask is clearly on)."""
    return nonzero_box(np.asarray(mask) > _level(mask))


def _level(mask: np.ndarray) -> float:
    """Where the object is: above half the mask's peak (a mask painted at 45 % grey, which harmonizing
    accepts, still has an object), and never at zero."""
    return min(0.5, 0.5 * float(mask.max(initial=0))) if mask.max(initial=0) > 0 else 0.5


def cast_shadow(mask: np.ndarray, settings: ShadowSettings = ShadowSettings()) -> np.ndarray:
    """The shadow's opacity (float32 H x W, 0..1) for the object `mask` (float32 0..1), anywhere on the
    canvas, under the object too (the object covers it when composited).

    A shadow is smooth, so it is cast on a copy at most WORK_SIDE pixels on its longer side and scaled up:
    at 12 MP the full-size blurs alone took 20 s."""
    s = settings.checked()
    mask = np.asarray(mask, np.float32)
    h, w = mask.shape
    if nonzero_box(mask > _level(mask)) is None:
        raise MaskError("the mask is empty: there is no object to cast a shadow")
    scale = min(1.0, WORK_SIDE / max(h, w))
    if scale >= 1.0:
        return _cast(mask, s, s.ground)
    small = cv2.resize(mask, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    if nonzero_box(small > _level(mask)) is None:  # a sliver that vanishes when shrunk: cast it at full size
        return _cast(mask, s, s.ground)
    ground = None if s.ground is None else s.ground * scale
    return cv2.resize(_cast(small, s, ground), (w, h), interpolation=cv2.INTER_LINEAR)


def _cast(mask: np.ndarray, s: ShadowSettings, ground_row: float | None) -> np.ndarray:
    h, w = mask.shape
    x0, y0, x1, y1 = object_box(mask)
    ground = float(y1 - 1 if ground_row is None else ground_row)
    height = max(1.0, ground - y0)
    dx, dy = lay_direction(s)
    # Source (x, y), h = ground - y above the ground: lands at (x + h dx, ground - h dy).
    warp = np.float32([[1, -dx, ground * dx], [0, dy, ground * (1 - dy)]])
    out = np.zeros((h, w), np.float32)
    rows = np.arange(h, dtype=np.float32)[:, None]
    above = np.clip((ground - rows) / height, 0, 1)  # 0 at the ground, 1 at the object's top
    # The silhouette is flat; the object is not. A shadow cast sideways is as thick (in depth, foreshortened)
    # as the object is deep, taken as its width (round things): without it a pole's shadow is a hairline.
    depth = (x1 - x0) * s.perspective * abs(float(np.cos(np.deg2rad(s.angle))))
    thicken = np.ones((int(round(depth)) | 1, 1), np.uint8) if depth >= 2 else None
    for k in range(BANDS):
        lo, hi = k / BANDS, (k + 1) / BANDS
        band = mask * ((above >= lo) & (above < hi if k < BANDS - 1 else above <= hi)).astype(np.float32)
        if not band.any():
            continue
        laid = cv2.warpAffine(band, warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        if thicken is not None:
            laid = cv2.dilate(laid, thicken, anchor=(0, 0))  # upwards: the depth lies behind the base
        sigma = s.softness * height * (lo + hi) / 2 * max(s.length, 0.05)
        if sigma >= 0.5:
            # The penumbra lies on the ground, so the picture foreshortens it as it does the shadow: a
            # round blur would smear a thin object's shadow (a pole, a leg) up and down into nothing.
            laid = cv2.GaussianBlur(laid, (0, 0), sigmaX=sigma, sigmaY=max(0.5, sigma * s.perspective))
        fade = 1.0 - 0.5 * (lo + hi) / 2  # farther from the object, fainter
        np.maximum(out, laid * np.float32(fade), out=out)
    # Contact: where the object meets the ground, a short dark blur.
    base = mask * (above <= 0.04).astype(np.float32)
    if base.any():
        contact = cv2.GaussianBlur(base, (0, 0), max(1.0, 0.02 * height))
        np.maximum(out, np.clip(contact * 2, 0, 1), out=out)
    return np.clip(out * np.float32(s.opacity), 0, 1)


def shadow_colour(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The scene's shadow colour (float32 RGB, 0..255): the mean of the darkest twentieth of the pixels
    around the object (its bounding box grown by its size), leaving the object out."""
    h, w = mask.shape
    level = _level(mask)
    box = nonzero_box(mask > level)
    if box is None:
        raise MaskError("the mask is empty: there is no object to cast a shadow")
    x0, y0, x1, y1 = box
    pad = max(x1 - x0, y1 - y0)
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    around = image[y0:y1, x0:x1][mask[y0:y1, x0:x1] <= level].astype(np.float32)
    if len(around) < 16:
        return np.float32([60, 60, 70])  # no surroundings to read: a neutral, slightly cool dark
    luma = around @ np.float32([0.299, 0.587, 0.114])
    dark = around[luma <= np.quantile(luma, DARK_SHARE)]
    return dark.mean(0).astype(np.float32)


def shade(picture: np.ndarray, shadow: np.ndarray, mask: np.ndarray, tint: np.ndarray) -> np.ndarray:
    """Same-size arrays: the picture multiplied by `tint` (0..1 RGB) at the shadow's opacity where the
    object (`mask`) is not, rounded to uint8. Where the shadow is 0 the picture comes back bit for bit."""
    k = (shadow * (1 - np.clip(mask, 0, 1)))[..., None]
    part = picture.astype(np.float32)
    part *= 1 - k * (1 - np.asarray(tint, np.float32))
    return np.clip(part + 0.5, 0, 255).astype(np.uint8)


def apply_shadow(composite: np.ndarray, mask: np.ndarray, shadow: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Multiply the picture by `colour` (0..255 RGB) at the shadow's opacity, where the object is not."""
    box = nonzero_box(shadow * (1 - np.clip(mask, 0, 1)) > 1e-3)
    out = composite.copy()
    if box is None:
        return out
    x0, y0, x1, y1 = box
    tint = np.clip(colour, 0, 255).astype(np.float32) / 255
    out[y0:y1, x0:x1] = shade(composite[y0:y1, x0:x1], shadow[y0:y1, x0:x1], mask[y0:y1, x0:x1], tint)
    return out


def add_shadow(composite: np.ndarray, mask: np.ndarray, settings: ShadowSettings = ShadowSettings()) -> np.ndarray:
    """The composite with the object's shadow cast on the scene, in the scene's shadow colour."""
    mask = np.clip(np.asarray(mask, np.float32), 0, 1)
    if mask.shape != composite.shape[:2]:
        raise MaskError(f"the mask is {mask.shape[1]}x{mask.shape[0]}, the picture {composite.shape[1]}x{composite.shape[0]}")
    return apply_shadow(composite, mask, cast_shadow(mask, settings), shadow_colour(composite, mask))
