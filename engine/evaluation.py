"""Benchmark a method on an iHarmony4-layout dataset or on a folder of X_comp/X_mask/X_real triplets.

iHarmony4: ROOT/SUBSET/{composite_images, masks, real_images, SUBSET_test.txt}. The composite
`a_1_2.jpg` is foreground 1 of real photo `a`, variant 2: its mask is `masks/a_1.png` and its target
`real_images/a.jpg`. Published iHarmony4 figures are measured at 256 x 256, hence the default size.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from engine.errors import CancelledError, HarmonizerError
from engine.image_io import READ_EXTS, is_image_path, read_image, read_mask, resize_mask
from engine.metrics import MetricAverager

PROTOCOL_SIZE = 256
TRIPLET_ROLES = ("_comp", "_mask", "_real")


@dataclass(frozen=True)
class Sample:
    name: str
    composite: Path
    mask: Path
    real: Path


def _with_any_ext(folder: Path, stem: str, prefer: str) -> Path | None:
    first = folder / f"{stem}{prefer}"
    if first.is_file():
        return first
    return next((folder / f"{stem}{ext}" for ext in sorted(READ_EXTS) if (folder / f"{stem}{ext}").is_file()), None)


def _iharmony_subset(folder: Path) -> tuple[list[Sample], list[str]]:
    comps = folder / "composite_images"
    lists = sorted(folder.glob("*_test.txt"))
    if lists:
        names = [Path(line.strip()).name for line in lists[0].read_text("utf-8").splitlines() if line.strip()]
    else:
        names = sorted(p.name for p in comps.iterdir() if is_image_path(p))
    samples, problems = [], []
    for name in names:
        parts = Path(name).stem.split("_")
        if len(parts) < 3:
            problems.append(f"{name}: not named like photo_object_variant")
            continue
        mask = _with_any_ext(folder / "masks", "_".join(parts[:-1]), ".png")
        real = _with_any_ext(folder / "real_images", "_".join(parts[:-2]), ".jpg")
        comp = comps / name
        if not comp.is_file() or mask is None or real is None:
            missing = "composite" if not comp.is_file() else "mask" if mask is None else "real image"
            problems.append(f"{name}: {missing} not found")
            continue
        samples.append(Sample(Path(name).stem, comp, mask, real))
    return samples, problems


def _triplets(folder: Path) -> list[Sample]:
    found: dict[str, dict[str, Path]] = {}
    for path in folder.iterdir():
        if not path.is_file() or not is_image_path(path):
            continue
        for role in TRIPLET_ROLES:
            if path.stem.endswith(role):
                found.setdefault(path.stem[: -len(role)], {})[role] = path
    return [
        Sample(stem, roles["_comp"], roles["_mask"], roles["_real"])
        for stem, roles in sorted(found.items())
        if len(roles) == 3
    ]


def find_subsets(root, subset: str | None = None) -> tuple[dict[str, list[Sample]], list[str]]:
    """{subset name: samples} plus one-line problems (missing files) found while pairing."""
    root = Path(root)
    if not root.is_dir():
        raise HarmonizerError(f"dataset folder not found: {root}")
    subsets: dict[str, list[Sample]] = {}
    problems: list[str] = []
    if (root / "composite_images").is_dir():  # ROOT is itself one iHarmony4 subset
        subsets[root.name], problems = _iharmony_subset(root)
    else:
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            if (child / "composite_images").is_dir():
                samples, probs = _iharmony_subset(child)
                subsets[child.name] = samples
                problems += [f"{child.name}/{p}" for p in probs]
            elif triplets := _triplets(child):
                subsets[child.name] = triplets
        if triplets := _triplets(root):
            subsets[root.name] = triplets
    if not subsets:
        raise HarmonizerError(
            f"no dataset found in {root}: expected SUBSET/composite_images, masks, real_images "
            "(iHarmony4) or X_comp / X_mask / X_real image triplets"
        )
    if subset is not None:
        if subset not in subsets:
            raise HarmonizerError(f"no subset {subset!r} in {root} (found: {', '.join(subsets)})")
        subsets = {subset: subsets[subset]}
    return subsets, problems


def load_sample(sample: Sample, size: int | None = PROTOCOL_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    comp, _ = read_image(sample.composite)
    real, _ = read_image(sample.real)
    h, w = comp.shape[:2]
    if real.shape[:2] != (h, w):
        raise HarmonizerError(f"{sample.name}: real image is {real.shape[1]}x{real.shape[0]}, composite {w}x{h}")
    mask = read_mask(sample.mask)
    if mask.shape != (h, w):
        mask = resize_mask(mask, (w, h))
    if size:
        comp = cv2.resize(comp, (size, size), interpolation=cv2.INTER_AREA)
        real = cv2.resize(real, (size, size), interpolation=cv2.INTER_AREA)
        mask = resize_mask(mask, (size, size))
    return comp, mask, real


def evaluate(
    subsets: dict[str, list[Sample]],
    harmonizer=None,
    size: int | None = PROTOCOL_SIZE,
    limit: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict:
    """Per-subset and overall mean metrics. `harmonizer=None` scores the unharmonized composites (the
    baseline every method must beat). Unreadable samples are listed under "errors", not fatal."""
    chosen = {name: samples[:limit] if limit else samples for name, samples in subsets.items()}
    total = max(1, sum(len(s) for s in chosen.values()))
    overall, result, errors = MetricAverager(), {"subsets": {}}, []
    done, start = 0, time.monotonic()
    for name, samples in chosen.items():
        avg = MetricAverager()
        for sample in samples:
            if cancel is not None and cancel():
                raise CancelledError("evaluation cancelled")
            try:
                comp, mask, real = load_sample(sample, size)
                pred = comp if harmonizer is None else harmonizer.harmonize(comp, mask)
                avg.update(pred, real, mask)
            except CancelledError:
                raise
            except HarmonizerError as exc:
                errors.append(f"{name}/{sample.name}: {exc}")
            done += 1
            if progress is not None:
                progress(done / total, f"{name}/{sample.name}")
        result["subsets"][name] = {"count": avg.count, **avg.mean()}
        overall.merge(avg)
    result["overall"] = {"count": overall.count, **overall.mean()}
    result["errors"] = errors
    result["seconds"] = time.monotonic() - start
    return result


def format_table(result: dict) -> str:
    header = f"{'subset':<14}{'images':>8}{'MSE':>10}{'fMSE':>10}{'PSNR':>8}{'fPSNR':>8}{'SSIM':>8}"
    rows = [header, "-" * len(header)]
    named = list(result["subsets"].items()) + [("overall", result["overall"])]
    for name, m in named:
        if not m.get("count"):
            rows.append(f"{name:<14}{0:>8}  (no readable images)")
            continue
        rows.append(
            f"{name:<14}{m['count']:>8}{m['mse']:>10.2f}{m['fmse']:>10.2f}{m['psnr']:>8.2f}"
            f"{m['fpsnr']:>8.2f}{m['ssim']:>8.4f}"
        )
    return "\n".join(rows)
