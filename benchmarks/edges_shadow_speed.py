"""Latency and peak memory of the edge tools (engine.edges) and the cast shadow (engine.shadow) at 256 px,
1 MP and 12 MP, on the same photo-like composites as benchmarks/speed.py, whose object covers about 31 %
of the frame. The mask is made rough first (grown by 1 % of the side and blurred, as a quick brush leaves
it) so refining has work.

    python benchmarks/edges_shadow_speed.py            # 5 repeats (12 MP: 3)
    python benchmarks/edges_shadow_speed.py --quick    # 1 repeat: checks that it runs
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.speed import measure, photo_like  # noqa: E402
from engine.edges import defringe, refine_mask  # noqa: E402
from engine.shadow import add_shadow  # noqa: E402

SIZES = {"256x256": (256, 256), "1024x1024": (1024, 1024), "4000x3000 (12 MP)": (3000, 4000)}  # (h, w)


def rough(mask: np.ndarray) -> np.ndarray:
    r = max(1, round(min(mask.shape) / 100))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.GaussianBlur(cv2.dilate((mask > 0.5).astype(np.uint8), k).astype(np.float32), (0, 0), r / 2 + 0.5)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    print(f"{'operation':<34}{'size':<20}{'median':>10}{'min':>10}{'peak RSS':>10}")
    for label, (h, w) in SIZES.items():
        img, mask = photo_like(h, w)
        brushed = rough(mask)
        big = h * w > 4_000_000
        repeats, warmup = (1, 0) if args.quick else ((3, 1) if big else (5, 1))
        radius = max(4, round(min(h, w) / 64))
        for name, fn in ((f"refine_mask (radius {radius})", lambda: refine_mask(img, brushed, radius)),
                         ("defringe (width 3)", lambda: defringe(img, mask, 3)),
                         ("add_shadow (defaults)", lambda: add_shadow(img, mask))):
            row = measure(fn, repeats, warmup, None)
            print(f"{name:<34}{label:<20}{row['median_ms']:>8.0f} ms{row['min_ms']:>7.0f} ms"
                  f"{row.get('peak_rss_mb', float('nan')):>7.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
