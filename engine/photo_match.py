"""Match another photo: the object takes the light of a different picture (or of an area of it) instead of
its own scene's, with AdaIN's content/style trade-off (Huang and Belongie, ICCV 2017): `alpha` 0 keeps the
scene's own light, 1 takes the photo's, in between mixes their statistics.

Both methods read the photo through the statistics they already use for the scene. The classical method
mixes the Lab mean and spread. A network trained with reference areas (trainer.references) sees the photo
beside the composite, on one canvas twice as wide, and the photo's side joins its reference weights: the
RAIN layers and the transform head then take their statistics from the photo (alpha of the weight) and
from the scene's own reference or background (the rest). A network whose encoder also sees the reference
area (engine.rainnet, reference_input) sees those weights as its fifth channel too: fractional there,
where training only showed it whole areas, which is harmless in scale (the scene's side weighs about
1 - alpha). Only statistics and that weight map are read, so the photo is kept small (MAX_SIDE).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_SIDE = 512


@dataclass(frozen=True, eq=False)
class PhotoStyle:
    photo: np.ndarray  # uint8 H x W x 3 RGB, at most MAX_SIDE on its longer side (see `style_from`)
    area: np.ndarray | None = None  # float32 0..1 of the photo's size: the part whose light to take
    alpha: float = 1.0


def shrink(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def side_by_side(comp: np.ndarray, mask: np.ndarray, own: np.ndarray, style: PhotoStyle, size: int):
    """The network's canvas (size x 2 size): the composite's crop (already size x size) on the left, the photo
    on the right. -> (canvas uint8, mask float32, reference weights float32). The weights give the photo's
    area `alpha` of the total and the scene's own statistics area (`own`) the rest."""
    photo = cv2.resize(style.photo, (size, size), interpolation=cv2.INTER_AREA)
    area = np.ones((size, size), np.float32) if style.area is None else np.clip(
        cv2.resize(style.area, (size, size), interpolation=cv2.INTER_AREA), 0, 1)
    weights_own = own * np.float32((1 - style.alpha) / max(float(own.sum()), 1e-6))
    weights_photo = area * np.float32(style.alpha / max(float(area.sum()), 1e-6))
    weights = np.hstack([weights_own, weights_photo])
    weights /= max(float(weights.max()), 1e-12)  # the layers normalise by the total; 0..1 like a painted area
    return np.hstack([comp, photo]), np.hstack([mask, np.zeros_like(mask)]), weights.astype(np.float32)
