"""How far does a method let the object follow the scene's light? A measure of timidity.

Every held-out photo of the trainer's split is left as it was photographed, except that its background
(everything outside the object's mask) is re-lit: warmer and cooler (a white balance of +/- 0.3 stops
between red and blue, in linear light), brighter and darker (+/- 0.5 stops). The object was lit by the
same light as its scene, so a harmonizer should move it as far as the background moved: a gain of 1.
A gain near 0 means it keeps the object as it was pasted and ignores the scene.

    colour gain = (object's b* warm - cool) / (background's b* warm - cool)      (CIELAB)
    light gain  = (object's L* bright - dark) / (background's L* bright - dark)

    python benchmarks/scene_gain.py MODEL [MODEL ...] --data ../shared/data/photos [--limit N]

"classical" names the weight-free method. Prints the median and mean gain per method.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.harmonizer import Harmonizer  # noqa: E402
from trainer.datasets import build_datasets  # noqa: E402
from trainer.validation import to_uint8  # noqa: E402

WARMTH_STOPS = 0.3
LIGHT_STOPS = 0.5


def relight_background(photo: np.ndarray, mask: np.ndarray, gains) -> np.ndarray:
    """`photo` with its background multiplied by per-channel gains in (approximately) linear light."""
    linear = (photo.astype(np.float32) / 255) ** 2.2
    lit = np.clip(linear * np.asarray(gains, np.float32), 0, 1) ** (1 / 2.2) * 255
    m = mask[..., None]
    return np.clip(photo * m + lit * (1 - m) + 0.5, 0, 255).astype(np.uint8)


def mean_lab(img: np.ndarray, where: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    return lab[where].mean(0)


def gains(method: Harmonizer, photo: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(colour gain, light gain) of one photo."""
    inside, outside = mask > 0.5, mask < 0.5
    w, s = 2.0**WARMTH_STOPS, 2.0**LIGHT_STOPS
    lights = {"warm": (w, 1, 1 / w), "cool": (1 / w, 1, w), "bright": (s, s, s), "dark": (1 / s, 1 / s, 1 / s)}
    obj, bg = {}, {}
    for name, g in lights.items():
        comp = relight_background(photo, mask, g)
        obj[name] = mean_lab(method.harmonize(comp, mask), inside)
        bg[name] = mean_lab(comp, outside)
    colour = (obj["warm"][2] - obj["cool"][2]) / (bg["warm"][2] - bg["cool"][2])
    light = (obj["bright"][0] - obj["dark"][0]) / (bg["bright"][0] - bg["dark"][0])
    return float(colour), float(light)


def measure(models: list[str], data: list[str], limit: int | None = None) -> dict:
    _, val, _ = build_datasets(data, 128, log=lambda m: None)
    methods = {h.model_name: h for h in (Harmonizer(method="classical") if m == "classical" else
                                         Harmonizer(model=m, device="cpu") for m in models)}
    found: dict[str, list] = {name: [] for name in methods}
    count = min(len(val), limit) if limit else len(val)
    for i in range(count):
        _, mask_t, real_t, _, _ = val.native(i)
        photo, mask = to_uint8(real_t[None])[0], mask_t[0].numpy()
        for name, method in methods.items():
            found[name].append(gains(method, photo, mask))
    return {name: {"colour_median": float(np.median([g[0] for g in v])), "colour_mean": float(np.mean([g[0] for g in v])),
                   "light_median": float(np.median([g[1] for g in v])), "light_mean": float(np.mean([g[1] for g in v]))}
            for name, v in found.items()} | {"images": count}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model files, installed model names, or classical")
    p.add_argument("--data", action="append", required=True, metavar="DIR")
    p.add_argument("--limit", type=int, help="measure only the first N held-out photos")
    args = p.parse_args(argv)
    result = measure(args.models, args.data, args.limit)
    print(f"{result.pop('images')} held-out photos, background re-lit; 1 = the object follows the scene fully")
    print("| method | colour gain (median / mean) | light gain (median / mean) |")
    print("| --- | --- | --- |")
    for name, r in result.items():
        print(f"| {name} | {r['colour_median']:.2f} / {r['colour_mean']:.2f} | {r['light_median']:.2f} / {r['light_mean']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
