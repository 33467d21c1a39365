"""Rebuild the first-start sample composite from the images inside a scikit-image wheel.

    python -m pip download scikit-image --no-deps -d /tmp/skimage_wheel
    python resources/samples/make_sample.py /tmp/skimage_wheel/scikit_image-*.whl

The background is SpaceX's public-domain launch photo (`skimage/data/rocket.jpg`); the foreground is
NASA's public-domain portrait of Eileen Collins (`skimage/data/astronaut.png`) cut out with GrabCut. The
studio-lit orange suit against the blue dusk is the kind of mismatch the editor is there to fix.

Writes `background.jpg` and `foreground.png` (RGBA, canvas-sized, the object already in place, its
alpha the composite mask) beside this script, or into --out. Pass --preview to also save the composite.
"""
from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

BACKGROUND = "skimage/data/rocket.jpg"
FOREGROUND = "skimage/data/astronaut.png"
SCALE = 0.6  # of the 512 px portrait, so she stands beside the rocket rather than in front of it
FEATHER_SIGMA = 0.8  # px at the final scale: softens the staircase GrabCut leaves without a halo


def read_member(source: Path, member: str) -> np.ndarray:
    """An RGB image from the wheel (a .whl is a zip) or from an already unpacked wheel folder."""
    if source.is_dir():
        data = (source / member).read_bytes()
    else:
        with zipfile.ZipFile(source) as zf:
            data = zf.read(member)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def cut_out(rgb: np.ndarray) -> np.ndarray:
    """Binary mask (uint8 0/255) of the astronaut and the helmet she holds, for the 512x512 portrait.

    The seeds are rectangles read off the photo: the flag, the shuttle model and the dark table are
    background; her face, the suit and the helmet are foreground; GrabCut settles the edges between.
    """
    seeds = np.full(rgb.shape[:2], cv2.GC_PR_BGD, np.uint8)
    seeds[10:, 20:510] = cv2.GC_PR_FGD
    for y0, y1, x0, x1 in ((0, 8, 0, 512), (0, 512, 0, 4), (0, 200, 0, 70), (0, 120, 0, 140),
                           (0, 280, 360, 512), (280, 335, 372, 512), (0, 150, 310, 512)):
        seeds[y0:y1, x0:x1] = cv2.GC_BGD
    for y0, y1, x0, x1 in ((60, 180, 190, 260), (260, 500, 100, 330), (400, 500, 330, 460)):
        seeds[y0:y1, x0:x1] = cv2.GC_FGD
    cv2.setRNGSeed(0)  # GrabCut's GMM initialisation draws from OpenCV's RNG
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(rgb[..., ::-1]), seeds, None, bgd, fgd, 8, cv2.GC_INIT_WITH_MASK)
    mask = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8) * 255
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    # One pixel in from GrabCut's edge: the grey studio backdrop otherwise shows as a halo in the hair.
    return cv2.erode(fill_holes(mask), np.ones((3, 3), np.uint8))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Background pockets enclosed by the object (inside the neck ring) belong to it."""
    h, w = mask.shape
    # Pad with background everywhere but the bottom, where the portrait is cut by the frame, so a pocket
    # touching only the bottom edge is still an opening rather than a hole.
    padded = np.pad(mask, ((1, 0), (1, 1)), constant_values=0)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((h + 3, w + 4), np.uint8), (0, 0), 255)
    holes = flood[1:, 1:-1] == 0
    out = mask.copy()
    out[holes] = 255
    return out


def build(source: Path):
    background = read_member(source, BACKGROUND)
    portrait = read_member(source, FOREGROUND)
    mask = cut_out(portrait)
    size = round(portrait.shape[1] * SCALE), round(portrait.shape[0] * SCALE)
    small = np.asarray(Image.fromarray(portrait).resize(size, Image.Resampling.LANCZOS))
    small_mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.GaussianBlur(small_mask, (0, 0), FEATHER_SIGMA)
    bh, bw = background.shape[:2]
    # Bottom-right: the portrait's cut edges (bottom, the helmet at the right) meet the frame's edges.
    x0, y0 = bw - size[0], bh - size[1]
    foreground = np.zeros((bh, bw, 4), np.uint8)
    foreground[y0:, x0:, :3] = small
    foreground[y0:, x0:, 3] = small_mask
    foreground[foreground[..., 3] == 0, :3] = 0  # invisible pixels compress better as black
    return background, foreground


TABLE = "skimage/data/coffee.png"  # CC0 (Rachel Michetti): a wooden table, for the shadow demonstration


def rocket_cut_out(launch: np.ndarray) -> np.ndarray:
    """The rocket from the launch photo as RGBA, cut above the pad's structures: GrabCut for the body, the
    bright nose against the dark sky added by threshold, each row filled between its ends (a rocket is
    convex across)."""
    mask = np.zeros(launch.shape[:2], np.uint8)
    cv2.setRNGSeed(1)
    cv2.grabCut(cv2.cvtColor(launch, cv2.COLOR_RGB2BGR), mask, (300, 122, 42, 213), np.zeros((1, 65)),
                np.zeros((1, 65)), 6, cv2.GC_INIT_WITH_RECT)
    body = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    body[335:] = 0
    count, labels, stats, _ = cv2.connectedComponentsWithStats(body)
    body = (labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])).astype(np.uint8)
    luma = launch.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    body[120:160, 305:340] |= (luma[120:160, 305:340] > 60).astype(np.uint8)
    for y in range(body.shape[0]):
        xs = np.flatnonzero(body[y])
        if len(xs):
            body[y, xs[0]:xs[-1] + 1] = 1
    x, y, w, h = cv2.boundingRect(body)
    alpha = cv2.GaussianBlur(body[y:y + h, x:x + w] * 255, (0, 0), FEATHER_SIGMA)
    rgba = np.dstack([launch[y:y + h, x:x + w], alpha])
    rgba[alpha == 0, :3] = 0
    return rgba


def build_table(source: Path):
    """(table photo, rocket cut-out RGBA): the second sample, a toy-sized rocket to stand on the table."""
    return read_member(source, TABLE), rocket_cut_out(read_member(source, BACKGROUND))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="scikit-image wheel (.whl) or its unpacked folder")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--preview", type=Path, help="also write the plain composite here (PNG)")
    args = parser.parse_args(argv)
    background, foreground = build(args.wheel)
    args.out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(background).save(args.out / "background.jpg", quality=90, optimize=True)
    Image.fromarray(foreground).save(args.out / "foreground.png", optimize=True)
    table, rocket = build_table(args.wheel)
    Image.fromarray(table).save(args.out / "table.jpg", quality=90, optimize=True)
    Image.fromarray(rocket).save(args.out / "rocket.png", optimize=True)
    if args.preview:
        alpha = foreground[..., 3:].astype(np.float32) / 255.0
        comp = foreground[..., :3] * alpha + background * (1.0 - alpha)
        Image.fromarray(np.clip(comp + 0.5, 0, 255).astype(np.uint8)).save(args.preview)


if __name__ == "__main__":
    main()
