"""A before/after contact sheet on real composites, for looking at a model's results.

Real composites (an object pasted from another photo) have no ground truth, so there is nothing to score;
this lays out, one row per composite, the composite, the classical method and each model given, each
through the full engine pipeline, with the mask's outline drawn on the composite.

    python benchmarks/composite_sheet.py ../shared/data/composites -o work_local/sheet.png
    python benchmarks/composite_sheet.py DIR -o OUT.png --model default --model other.safetensors --count 12

Composites are X.ext with X_mask.png beside them (as `harmonizer batch` pairs them), taken evenly spaced
over the sorted folder so a sheet samples all of it. Keep sheets of data you may not redistribute out of
the repository.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.batch import find_pairs  # noqa: E402
from engine.errors import HarmonizerError  # noqa: E402
from engine.harmonizer import Harmonizer  # noqa: E402
from engine.image_io import read_image, read_mask, write_image  # noqa: E402

CELL = 256
LABEL_H = 22


def _cell(rgb: np.ndarray) -> np.ndarray:
    """The image fitted into a CELL x CELL tile (letterboxed on the editor's dark grey)."""
    h, w = rgb.shape[:2]
    scale = CELL / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    tile = np.full((CELL, CELL, 3), 43, np.uint8)
    y, x = (CELL - small.shape[0]) // 2, (CELL - small.shape[1]) // 2
    tile[y:y + small.shape[0], x:x + small.shape[1]] = small
    return tile


def _outlined(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = rgb.copy()
    contours, _ = cv2.findContours((mask > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 230, 0), max(1, round(max(rgb.shape[:2]) / CELL)))
    return out


def _label_row(labels: list[str]) -> np.ndarray:
    row = np.full((LABEL_H, CELL * len(labels), 3), 30, np.uint8)
    for i, text in enumerate(labels):
        cv2.putText(row, text[:34], (i * CELL + 6, LABEL_H - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (230, 230, 230), 1,
                    cv2.LINE_AA)
    return row


def make_sheet(folder, models: list[str], count: int = 8, device: str = "cpu") -> np.ndarray:
    pairs, _ = find_pairs(folder)
    if not pairs:
        raise HarmonizerError(f"no composites with masks (X.ext + X_mask.png) in {folder}")
    picks = [pairs[round(i)] for i in np.linspace(0, len(pairs) - 1, min(count, len(pairs)))]
    methods = [("classical", Harmonizer(method="classical"))]
    for m in models:
        h = Harmonizer(model=m, device=device)
        methods.append((f"{h.model_name} @{h.working_size}", h))
    rows = [_label_row(["composite", *[name for name, _ in methods]])]
    for comp_path, mask_path in picks:
        comp, _ = read_image(comp_path)
        mask = read_mask(mask_path, (comp.shape[1], comp.shape[0]))
        tiles = [_cell(_outlined(comp, mask))] + [_cell(h.harmonize(comp, mask)) for _, h in methods]
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", help="composites X.ext with X_mask.png beside them")
    p.add_argument("-o", "--out", required=True, help="the sheet (.png or .jpg)")
    p.add_argument("--model", action="append", metavar="MODEL",
                   help="a model name or file (repeatable; default: the bundled model)")
    p.add_argument("--count", type=int, default=8, help="composites on the sheet (default 8)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    try:
        sheet = make_sheet(args.folder, args.model or ["default"], args.count, args.device)
        write_image(args.out, sheet, quality=92)
    except HarmonizerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
