"""A run folder's files: metrics.jsonl / metrics.csv, the curve plot and validation sample strips.

The logs are rewritten whole (atomically) from the in-memory history at every validation: they are
small, a crash can never leave half a line, and a resumed run continues the same history.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from engine.atomic import atomic_write_bytes
from engine.image_io import write_image
from trainer.plots import plot_history

COLUMNS = ("epoch", "epoch_f", "step", "elapsed_s", "loss_g", "loss_l1", "loss_adv", "loss_d",
           "mse", "fmse", "psnr", "comp_mse", "comp_fmse", "comp_psnr")
KEEP_SAMPLE_SETS = 2  # the epoch-0 strips plus the latest ones; older strips are deleted


def write_logs(run_dir: Path, rows: list[dict], title: str = "") -> None:
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    atomic_write_bytes(run_dir / "metrics.jsonl", lines.encode("utf-8"))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r[k]) for k in COLUMNS})
    atomic_write_bytes(run_dir / "metrics.csv", buf.getvalue().encode("utf-8"))
    if rows:
        plot_history(rows, run_dir / "curves.png", title)


def write_samples(run_dir: Path, tag: str, strips) -> list[str]:
    """One PNG per validation image: composite | output | target, separated by white gutters."""
    folder = run_dir / "samples"
    paths = []
    for i, (comp, out, real) in enumerate(strips):
        gutter = np.full((comp.shape[0], 4, 3), 255, np.uint8)
        strip = np.concatenate([comp, gutter, out, gutter, real], axis=1)
        paths.append(str(write_image(folder / f"{tag}_{i}.png", strip)))
    _prune(folder)
    return paths


def _prune(folder: Path) -> None:
    tags = sorted({p.name.rsplit("_", 1)[0] for p in folder.glob("epoch*_*.png")})
    for tag in tags[1:-KEEP_SAMPLE_SETS]:  # tags sort by zero-padded epoch; index 0 is epoch 0
        for p in folder.glob(f"{tag}_*.png"):
            p.unlink(missing_ok=True)
