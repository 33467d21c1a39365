"""How a composite's foreground differs from its surroundings: real composites against synthesized ones.

The trainer only learns to undo the mismatches trainer.synthesis makes, so those should look like the
mismatches of real composites. Each image's foreground (mask > 0.5) is compared, in CIE Lab (L 0..100),
with a ring of background around it: the lightness offset dL, the distance |dab| between the mean (a, b),
the lightness spread ratio (log2 of std L foreground / std L ring), the mean chroma offset, and the hue
angle between the mean colours where both have chroma above 5 (JSON only). Populations:

- real composites (X.jpg + X_mask.png: an object pasted from another photo, no ground truth);
- synthesized: the trainer's own training samples (trainer.datasets.build_datasets on the photos) with
  either synthesis recipe (v1, the first; v2, the default), and one row per v2 synthesis family, the photos perturbed by that family alone with another photo as donor;
- the untouched photos with their own masks: how far a natural foreground sits from its surroundings;
- with --harmonized, the real composites after each given method (classical, default, a model file):
  an unpaired check of what a harmonizer does to real composites. A natural object is not identical to
  its surroundings either, so a method should bring the composites towards the photos' row, not to zero.

    python benchmarks/realism_stats.py [--composites DIR] [--photos DIR] [--samples 600] [--seed 0] [--json OUT]
    python benchmarks/realism_stats.py --harmonized classical --harmonized default --harmonized OTHER.safetensors

The table gives the median and 90th percentile of each absolute difference. A synthesized population
should cover the real composites' range, tails included, and sit clearly above the untouched photos.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.batch import find_pairs  # noqa: E402
from engine.errors import HarmonizerError  # noqa: E402
from engine.image_io import read_image, read_mask  # noqa: E402
from trainer.datasets import build_datasets  # noqa: E402
from trainer.synthesis import FAMILIES, perturb  # noqa: E402
from trainer.validation import to_uint8  # noqa: E402

MIN_PIXELS = 20  # fewer foreground or ring pixels than this give no meaningful mean or spread
SPREAD_FLOOR = 0.5  # L units added to both spreads, so a flat (clipped) region does not dominate the tail
HUE_CHROMA = 5.0  # below this the mean colour is near grey and its hue is noise
KEYS = ("dL", "dab", "log2_spread", "dchroma")
HEADS = ("abs dL", "abs dab", "abs log2 spread", "abs dchroma")  # "|x|" would break a markdown table


def _dilate(binary: np.ndarray, r: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(binary.astype(np.uint8), kernel) > 0


def ring_mask(fg: np.ndarray) -> np.ndarray:
    """The background just around `fg`, its width growing with the object; the pixel next to the edge is
    left out, since a blended or anti-aliased edge is neither foreground nor surround."""
    near = _dilate(fg, 1)
    ring = _dilate(fg, max(3, round(0.1 * math.sqrt(fg.sum())))) & ~near
    if ring.sum() >= MIN_PIXELS:
        return ring
    rest = ~near  # the object fills nearly the frame: whatever background there is
    return rest if rest.sum() >= MIN_PIXELS else ~fg


def image_stats(rgb: np.ndarray, mask: np.ndarray) -> dict | None:
    """Foreground minus surround in Lab for one uint8 RGB image and float mask; None if either is too small."""
    fg = mask > 0.5
    if fg.sum() < MIN_PIXELS:
        return None
    ring = ring_mask(fg)
    if ring.sum() < MIN_PIXELS:
        return None
    lab = cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2LAB)
    f, r = lab[fg].astype(np.float64), lab[ring].astype(np.float64)
    mf, mr = f.mean(0), r.mean(0)
    chroma_f, chroma_r = math.hypot(mf[1], mf[2]), math.hypot(mr[1], mr[2])
    hue = math.nan
    if chroma_f > HUE_CHROMA and chroma_r > HUE_CHROMA:
        turn = math.degrees(math.atan2(mf[2], mf[1]) - math.atan2(mr[2], mr[1]))
        hue = (turn + 180.0) % 360.0 - 180.0
    return {
        "dL": mf[0] - mr[0],
        "dab": math.hypot(*(mf[1:] - mr[1:])),
        "log2_spread": math.log2((f[:, 0].std() + SPREAD_FLOOR) / (r[:, 0].std() + SPREAD_FLOOR)),
        "dchroma": np.hypot(f[:, 1], f[:, 2]).mean() - np.hypot(r[:, 1], r[:, 2]).mean(),
        "dhue": hue,
    }


def summarize(stats: list[dict]) -> dict:
    """Median and 90th percentile of each absolute difference over a population."""
    out = {"count": len(stats)}
    for key in KEYS:
        v = np.abs([s[key] for s in stats]) if stats else np.zeros(0)
        out[key] = {"median": float(np.median(v)) if v.size else math.nan,
                    "p90": float(np.percentile(v, 90)) if v.size else math.nan}
    hues = np.abs([s["dhue"] for s in stats if not math.isnan(s["dhue"])])
    out["dhue"] = {"median": float(np.median(hues)) if hues.size else math.nan, "count": int(hues.size)}
    return out


def _read_pair(image_path, mask_path) -> tuple[np.ndarray, np.ndarray]:
    rgb, _ = read_image(image_path)
    return rgb, read_mask(mask_path, size=(rgb.shape[1], rgb.shape[0]))


def _kept(stats) -> list[dict]:
    return [s for s in stats if s is not None]


def synthesized_stats(photos, samples: int, seed: int, recipe: str = "v2") -> list[dict]:
    """The trainer's training composites, drawn over epochs the way training meets them."""
    train, _, _ = build_datasets([photos], 256, 0.1, seed=seed, log=lambda m: None, synthesis=recipe)
    order = np.random.default_rng([seed, 2]).permutation(len(train))
    out = []
    for k in range(samples):
        comp, mask, _, _ = train[(k // len(train), int(order[k % len(train)]))]
        out.append(image_stats(to_uint8(comp[None])[0], mask[0].numpy()))
    return _kept(out)


def family_stats(photos: list[tuple[np.ndarray, np.ndarray]], family: str, seed: int) -> list[dict]:
    """Each photo perturbed by `family` alone; the donor (for colour-statistics transfer) is another photo."""
    rng = np.random.default_rng([seed, 3, FAMILIES.index(family)])
    out = []
    for i, (rgb, mask) in enumerate(photos):
        j = (i + 1 + int(rng.integers(0, max(1, len(photos) - 1)))) % len(photos)
        donor, donor_mask = photos[j]
        comp, _ = perturb(rgb, mask, rng, donor=donor, donor_mask=donor_mask, families=(family,))
        out.append(image_stats(comp, mask))
    return _kept(out)


def harmonized_stats(comp_pairs, method: str) -> tuple[str, list[dict]]:
    """The real composites after `method` ("classical", or a model name or file): (row name, stats)."""
    from engine.harmonizer import Harmonizer  # only this row needs a network
    h = Harmonizer(method="classical") if method == "classical" else Harmonizer(model=method, device="cpu")
    name = "classical" if method == "classical" else f"{h.model_name} @{h.working_size}"
    out = []
    for p in comp_pairs:
        rgb, mask = _read_pair(*p)
        out.append(image_stats(h.harmonize(rgb, mask), mask))
    return f"real composites, {name}", _kept(out)


def measure(composites, photos, samples: int = 600, seed: int = 0, harmonized=()) -> dict:
    """{population name: summary} for the real composites (and each harmonized version of them), the
    synthesized ones and the photos."""
    comp_pairs, _ = find_pairs(composites)
    photo_pairs, _ = find_pairs(photos)
    if not comp_pairs or not photo_pairs:
        raise HarmonizerError(f"need X.jpg + X_mask.png pairs in both {composites} and {photos}")
    picks = np.random.default_rng([seed, 1]).choice(len(photo_pairs), min(samples, len(photo_pairs)), replace=False)
    sampled = [_read_pair(*photo_pairs[i]) for i in sorted(picks)]
    rows = {"real composites": _kept(image_stats(*_read_pair(*p)) for p in comp_pairs),
            **dict(harmonized_stats(comp_pairs, m) for m in harmonized),
            **{f"synthesized {r} (training samples)": synthesized_stats(photos, samples, seed, r) for r in ("v1", "v2")}}
    for family in FAMILIES:
        rows[f"synthesized: {family}"] = family_stats(sampled, family, seed)
    rows["photos (untouched)"] = _kept(image_stats(rgb, mask) for rgb, mask in sampled)
    return {name: summarize(stats) for name, stats in rows.items()}


def print_table(result: dict) -> None:
    print("| population | n | " + " | ".join(f"{h} med | {h} p90" for h in HEADS) + " |")
    print("| --- | ---: |" + " ---: | ---: |" * len(HEADS))
    for name, s in result.items():
        cells = " | ".join(f"{s[k]['median']:.2f} | {s[k]['p90']:.2f}" for k in KEYS)
        print(f"| {name} | {s['count']} | {cells} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--composites", default=str(ROOT.parent / "shared/data/composites"),
                   help="real composites X.jpg + X_mask.png (default ../shared/data/composites)")
    p.add_argument("--photos", default=str(ROOT.parent / "shared/data/photos"),
                   help="photos X.jpg + X_mask.png the trainer synthesizes from (default ../shared/data/photos)")
    p.add_argument("--samples", type=int, default=600, help="synthesized samples, and photos per family (default 600)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--harmonized", action="append", default=[], metavar="METHOD",
                   help="also the real composites after METHOD: classical, a model name or file (repeatable)")
    p.add_argument("--json", metavar="PATH", help="also write the numbers here")
    args = p.parse_args(argv)
    # Per-image work is far too small to gain from threads; leave the cores to whatever else runs.
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        result = measure(args.composites, args.photos, args.samples, args.seed, args.harmonized)
    except HarmonizerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_table(result)
    if args.json:
        Path(args.json).write_text(json.dumps({"composites": args.composites, "photos": args.photos,
                                               "samples": args.samples, "seed": args.seed,
                                               "populations": result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
