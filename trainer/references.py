"""Training samples for the reference area: the user paints which part of the scene the object stands in.

A scene often holds several lights (sun and shade, a lamp-lit corner), and harmonizing against the whole
background averages them. For the network to follow a chosen area, some training samples come with one:
a random part of the background (a ring near the object, a box, a blob), from which the RAIN layers and the
transform head read the scene's statistics (engine.normalization). Half of those samples also re-light the
rest of the background with a different random change, in the composite and in the target alike: the
object's true colours then agree with the reference area only, so a model that averaged the whole
background would be wrong, and one that follows the reference right.
"""
from __future__ import annotations

import cv2
import numpy as np

from trainer.masks import box_mask, random_mask
from trainer.synthesis import composite, perturb

MIN_REFERENCE = 0.04  # of the frame: a smaller area is redrawn, then the whole background stands in
DISTRACTOR_SHARE = 0.5
EDGE_SIGMA = 0.01  # of the frame's side: light boundaries in photos are soft


def reference_area(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A random part of the background (float32 0..1, the mask's size), or None if none was big enough."""
    h, w = mask.shape
    background = (mask < 0.5).astype(np.float32)
    for _ in range(3):
        kind = rng.random()
        if kind < 1 / 3:
            # Near the object, on one side or all round: the light that falls where it stands.
            reach = int(rng.uniform(0.05, 0.3) * max(h, w)) | 1
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
            area = cv2.dilate((mask >= 0.5).astype(np.uint8), disc).astype(np.float32)
            if rng.random() < 0.5:
                area *= _half_plane(mask, rng)
        elif kind < 2 / 3:
            area = box_mask(h, w, rng)
        else:
            area = random_mask(h, w, rng)
        area *= background
        if area.mean() >= MIN_REFERENCE:
            return area
    return None


def _half_plane(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1 on one side of a random line through the object's centre."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask >= 0.5)
    cy, cx = (ys.mean(), xs.mean()) if len(ys) else (h / 2, w / 2)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return ((xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle) >= 0).astype(np.float32)


def relight_elsewhere(comp: np.ndarray, real: np.ndarray, mask: np.ndarray, reference: np.ndarray,
                      rng: np.random.Generator, donor=None, donor_mask=None) -> tuple[np.ndarray, np.ndarray]:
    """(composite, target) with the background outside the reference re-coloured by one random change."""
    h, w = mask.shape
    elsewhere = (1 - mask) * (1 - reference)
    sigma = EDGE_SIGMA * max(h, w)
    elsewhere = cv2.GaussianBlur(elsewhere.astype(np.float32), (0, 0), sigma) * (1 - mask) * (1 - reference)
    relit, _ = perturb(real, elsewhere, rng, donor=donor, donor_mask=donor_mask)
    # The target is the re-lit photo; the composite is the same outside the object, its own inside.
    return composite(relit, comp, mask), relit
