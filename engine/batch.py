"""Harmonize a folder of composites. `harmonizer batch` and the GUI's batch dialog both call `run_batch`,
so the same settings give byte-identical files.

Items are `(image_path, mask_path)` pairs from `find_pairs`, or `(name, loader)` where `loader()` returns
`(rgb uint8 H x W x 3, mask float32 H x W)`: .ora projects come as those (`project_items`), for the CLI and
the dialog alike.

Reading and writing run on I/O threads around the network (engine.pipeline), so decoding the next
picture and encoding the last overlap the current one's compute; `workers > 1` also runs that many
network steps at once, sharing one model. Output names are planned before anything runs, so they never
depend on which thread finishes first.
"""
from __future__ import annotations

import re
import string
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from engine.atomic import NameTakenError, atomic_write_bytes, check_writable_folder, sweep_stale_temps
from engine.errors import CancelledError, HarmonizerError, MaskError
from engine.image_io import read_image, read_mask, resize_mask, write_image
from engine.openraster import load_composite, load_matching
from engine.pairing import MASK_SUFFIX, image_files, mask_rank, pair_masks, reference_beside
from engine.pipeline import run_stages
from engine.shadow import ShadowSettings, add_shadow

FORMATS = ("png", "jpg", "webp", "tif")
POLICIES = ("skip", "rename", "overwrite")
PROJECT_EXT = ".ora"
MIN_SIDE = 16
MAX_NAME = 255  # bytes in a file name on common file systems


@dataclass
class BatchOptions:
    format: str = "png"
    quality: int = 95
    name_template: str = "{name}"
    overwrite: str = "overwrite"
    strength: float = 1.0
    max_side: int | None = None
    method: str = "rain"
    model: str = "default"
    workers: int = 1
    shadow: ShadowSettings | None = None  # cast the object's shadow after harmonizing (engine.shadow)

    def __post_init__(self):
        self.format = str(self.format).lower().lstrip(".")
        if self.format in ("jpeg",):
            self.format = "jpg"
        if self.format == "tiff":
            self.format = "tif"
        if self.format not in FORMATS:
            raise HarmonizerError(f"unknown output format {self.format!r}; choose one of {', '.join(FORMATS)}")
        if not 1 <= int(self.quality) <= 100:
            raise HarmonizerError(f"quality must be between 1 and 100, got {self.quality}")
        check_template(self.name_template)
        if self.overwrite not in POLICIES:
            raise HarmonizerError(f"unknown overwrite policy {self.overwrite!r}; choose one of {', '.join(POLICIES)}")
        try:
            strength = float(self.strength)
        except (TypeError, ValueError):
            strength = float("nan")  # refused just below, in the same words
        if not 0.0 <= strength <= 1.0:
            raise HarmonizerError(f"strength must be between 0 and 1, got {self.strength}")
        if self.max_side is not None and int(self.max_side) < MIN_SIDE:
            raise HarmonizerError(f"--max-side must be at least {MIN_SIDE} pixels, got {self.max_side}")
        if self.shadow is not None:
            self.shadow = self.shadow.checked()
        if int(self.workers) < 1:
            raise HarmonizerError(f"workers must be at least 1, got {self.workers}")


def check_template(template: str) -> None:
    """The name template must contain {name} and no other field, and must not leave the folder.

    Format specs are allowed ('{name:.20}' truncates) but every number in them is bounded: a width such
    as '{name:>999999999}' would build a gigabyte string for each file."""
    if len(template) > MAX_NAME:
        raise HarmonizerError(f"bad name template: it is {len(template)} characters, above {MAX_NAME}")
    try:
        parsed = [(f, spec or "") for _, f, spec, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise HarmonizerError(f"bad name template {template!r}: {exc}") from None
    fields = [f for f, _ in parsed]
    if "name" not in fields or any(f != "name" for f in fields):
        raise HarmonizerError(f"bad name template {template!r}: it must contain {{name}} and no other field")
    for _, spec in parsed:
        if any(int(n) > MAX_NAME for n in re.findall(r"\d+", spec)) or "{" in spec:
            raise HarmonizerError(f"bad name template {template!r}: a width above {MAX_NAME} or a nested field")
    if "/" in template or "\\" in template:
        raise HarmonizerError(f"bad name template {template!r}: it must not contain a folder separator")


def find_pairs(input_dir, masks_dir=None) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Pair every composite X.ext with its mask; return (pairs, composites without a mask).

    Without `masks_dir` the mask is X_mask.* beside the composite (engine.pairing's rule); with it,
    masks_dir/X.* or masks_dir/X_mask.* (PNG preferred). Files named *_mask are never composites.
    """
    folder = Path(input_dir)
    if not folder.is_dir():
        raise HarmonizerError(f"input folder not found: {folder}")
    masks = Path(masks_dir) if masks_dir else None
    if masks is not None and not masks.is_dir():
        raise HarmonizerError(f"masks folder not found: {masks}")
    files = sorted(image_files(folder), key=lambda p: p.name.lower())
    found = pair_masks(files)
    if masks is not None:
        beside = {p.stem.lower(): p for p in sorted(image_files(masks), key=mask_rank, reverse=True)}
        found = [(p, beside.get(p.stem.lower()) or beside.get(p.stem.lower() + MASK_SUFFIX)) for p, _ in found]
    pairs = [(p, m) for p, m in found if m is not None]
    return pairs, [p for p, m in found if m is None]


def project_items(paths) -> list[tuple[str, Callable]]:
    """.ora projects as batch items (name, loader): each is read when its turn comes, flattened by
    engine.openraster within its limits."""
    return [(Path(p).stem, partial(_project_item, Path(p))) for p in paths]


def _project_item(path: Path):
    """(rgb, mask, reference area, photo to match) of an editor project: harmonized as the editor does."""
    rgb, mask = load_composite(path)
    reference, style = load_matching(path)
    if reference is not None and reference.shape != mask.shape:
        raise MaskError(f"cannot harmonize {path}: its reference area is not the size of its picture")
    return rgb, mask, reference, style


def find_items(inputs, masks_dir=None) -> tuple[list, list[Path]]:
    """Batch items from folders of composites (see find_pairs) and .ora project files, in the order given;
    returns (items, composites without a mask)."""
    items, unmatched = [], []
    for entry in map(Path, inputs):
        if entry.suffix.lower() == PROJECT_EXT and not entry.is_dir():
            if not entry.is_file():
                raise HarmonizerError(f"project not found: {entry}")
            items += project_items([entry])
        else:
            pairs, lost = find_pairs(entry, masks_dir)
            items += pairs
            unmatched += lost
    return items, unmatched


def output_path_for(name: str, out_dir, options: BatchOptions) -> Path:
    """Where the output for an input named `name` (its stem) goes, before any overwrite policy."""
    return Path(out_dir) / f"{options.name_template.format(name=name)}.{options.format}"


def _renamed(path: Path, taken: set[Path], on_disk: bool = True) -> Path:
    n = 2
    while True:
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        if candidate not in taken and not (on_disk and candidate.exists()):
            return candidate
        n += 1


@dataclass
class BatchReport:
    out_dir: Path
    total: int = 0
    written: list[tuple[str, Path]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled

    def summary(self) -> str:
        parts = [f"{len(self.written)} written", f"{len(self.skipped)} skipped", f"{len(self.failed)} failed"]
        text = f"{', '.join(parts)} of {self.total} in {self.seconds:.1f} s"
        return f"Cancelled: {text}" if self.cancelled else text

    def to_text(self) -> str:
        lines = [f"Batch harmonization into {self.out_dir}", self.summary(), ""]
        for title, rows in (("Failed", self.failed), ("Skipped", self.skipped), ("Notes", self.notes)):
            if rows:
                lines.append(f"{title}:")
                lines += [f"  {name}: {reason}" for name, reason in rows]
                lines.append("")
        if self.written:
            lines.append("Written:")
            lines += [f"  {name} -> {path.name}" for name, path in self.written]
        return "\n".join(lines).rstrip() + "\n"

    def save(self, path) -> None:
        atomic_write_bytes(path, self.to_text().encode("utf-8"))


@dataclass
class _Job:
    label: str  # shown in the report: the composite's file name or the loader item's name
    stem: str
    source: tuple
    target: Path | None = None
    planned: Path | None = None  # the name before any renaming: where a retry counts _2, _3... from


def _jobs(items) -> list[_Job]:
    jobs = []
    for item in items:
        first, second = item
        if callable(second):
            jobs.append(_Job(str(first), str(first), (None, second)))
        else:
            path = Path(first)
            jobs.append(_Job(path.name, path.stem, (path, Path(second))))
    return jobs


def _plan(jobs: list[_Job], out_dir: Path, options: BatchOptions, report: BatchReport) -> list[_Job]:
    """Decide every output name up front; two inputs never write the same file in one run.

    Inputs whose names clash (x.png and x.jpg) get x and x_2 from the input list alone, so a rerun
    with "skip" recognises both outputs; only then is the overwrite policy applied against the disk.
    """
    planned: set[Path] = set()
    for job in jobs:
        path = output_path_for(job.stem, out_dir, options)
        if path in planned:
            path = _renamed(path, planned, on_disk=False)
            report.notes.append((job.label, f"another input has the same name; written as {path.name}"))
        planned.add(path)
        job.target = job.planned = path
    taken = set(planned)
    todo = []
    for job in jobs:
        if len(job.target.name.encode("utf-8", "replace")) > MAX_NAME:
            report.failed.append((job.label, f"the output name is longer than {MAX_NAME} bytes; shorten the template"))
            continue
        if _is_own_input(job):
            report.failed.append((job.label, f"{job.target.name} would overwrite the input; choose another output folder"))
            continue
        if job.target.exists():
            if options.overwrite == "skip":
                report.skipped.append((job.label, f"{job.target.name} already exists"))
                continue
            if options.overwrite == "rename":
                job.target = _renamed(job.target, taken)
                taken.add(job.target)
        todo.append(job)
    return todo


def _is_own_input(job: _Job) -> bool:
    sources = [p for p in job.source if isinstance(p, Path)]
    if not sources or not job.target.exists():
        return False
    return any(job.target.resolve() == p.resolve() for p in sources)


def _load(job: _Job):
    """(rgb, mask, alpha, reference area, photo to match, note) of one item; a picture's X_ref.* is its
    reference area, a project's are its own."""
    image_path, source = job.source
    if image_path is None:
        # An item's source gives (rgb, mask), and a project's also what it harmonizes towards.
        rgb, mask, *towards = source()
        reference, style = towards if towards else (None, None)
        return np.ascontiguousarray(rgb, np.uint8), np.asarray(mask, np.float32), None, reference, style, None
    rgb, alpha = read_image(image_path)
    h, w = rgb.shape[:2]
    notes = []

    def fitted(path: Path) -> np.ndarray:
        m = read_mask(path)
        if m.shape != (h, w):
            notes.append(f"{path.name} is {m.shape[1]}x{m.shape[0]}, resized to {w}x{h}")
            m = resize_mask(m, (w, h))
        return m

    mask = fitted(source)
    ref_path = reference_beside(image_path)
    reference = None if ref_path is None else fitted(ref_path)
    return rgb, mask, alpha, reference, None, "; ".join(notes) or None


def _failure(exc: Exception) -> tuple[str, str]:
    """One bad file (or a bug on an odd input) must not end the batch: it is reported as failed."""
    if isinstance(exc, HarmonizerError):
        return "failed", str(exc)
    return "failed", f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _shrink(rgb, mask, alpha, reference, max_side):
    h, w = rgb.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return rgb, mask, alpha, reference
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    mask = resize_mask(mask, size)
    if alpha is not None:
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    if reference is not None:
        reference = resize_mask(reference, size)
    return rgb, mask, alpha, reference


def run_batch(
    items,
    out_dir,
    options: BatchOptions,
    harmonizer,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> BatchReport:
    """Harmonize every item into `out_dir`; bad items are reported, never fatal. Cancel stops between
    files (and inside one at the harmonizer's stage boundaries) and returns the partial report."""
    start = time.monotonic()
    out_dir = Path(out_dir)
    check_writable_folder(out_dir / "output", what=f"into {out_dir}")  # before any work, not after it
    sweep_stale_temps(out_dir)
    jobs = _jobs(items)
    report = BatchReport(out_dir=out_dir, total=len(jobs))
    todo = _plan(jobs, out_dir, options, report)
    taken = {job.target for job in jobs if job.target is not None}
    lock = threading.Lock()
    # Set when the main thread is interrupted (Ctrl+C, SIGTERM): queued items then do not start, and
    # running ones stop at their next stage boundary; their temp files are removed by atomic_path.
    stopping = threading.Event()

    def cancelled() -> bool:
        return stopping.is_set() or (cancel is not None and cancel())

    done = [len(jobs) - len(todo)]
    total = max(1, len(jobs))
    alpha_ok = options.format in ("png", "tif", "webp")
    serial = int(options.workers) == 1

    shown = [0.0]
    told = threading.Lock()
    # Each job's place in the run: the network works on one job while an earlier one is still being
    # written, so the count of finished jobs lags behind what the bar should show.
    place = {id(job): done[0] + k for k, job in enumerate(todo)}

    def tell(fraction: float, stage: str) -> None:
        if progress is not None:
            with told:  # reports come from several threads; the bar never goes back
                shown[0] = max(shown[0], min(1.0, fraction))
                progress(shown[0], stage)

    def write(job: _Job, out, alpha) -> str | None:
        """Publish the output; returns a skip reason. Under "skip" and "rename" the name is claimed
        atomically, so another batch writing into the same folder at the same time never loses a file."""
        kwargs = {"quality": int(options.quality), "alpha": alpha if alpha_ok else None}
        if options.overwrite == "overwrite":
            write_image(job.target, out, **kwargs)
            return None
        while True:
            try:
                write_image(job.target, out, exclusive=True, **kwargs)
                return None
            except NameTakenError:
                if options.overwrite == "skip":
                    return f"{job.target.name} already exists"
                with lock:
                    job.target = _renamed(job.planned, taken)
                    taken.add(job.target)

    def prepared(job: _Job):  # the read stage, on an I/O thread
        rgb, mask, alpha, reference, style, note = _load(job)
        return (*_shrink(rgb, mask, alpha, reference, options.max_side), style, note)

    def compute(job: _Job, loaded):
        if cancelled():
            raise CancelledError("cancelled")

        def inner(fraction: float, stage: str) -> None:
            if serial:  # with parallel items, within-file fractions from several threads would jitter
                tell((place[id(job)] + 0.9 * fraction) / total, f"{job.label}: {stage}")

        try:
            tell(place[id(job)] / total, f"{job.label}: reading")
            rgb, mask, alpha, reference, style, note = loaded.result()
            out = harmonizer.harmonize(rgb, mask, strength=float(options.strength), progress=inner, cancel=cancelled,
                                       reference=reference, style=style)
            if options.shadow is not None:
                out = add_shadow(out, mask, options.shadow)
            if reference is not None and not harmonizer.follows_reference:
                note = "; ".join(filter(None, (note, f"its reference area was not used: {harmonizer.model_name} was not "
                                                     "trained for reference areas (the default model and --method "
                                                     "classical use them)")))
        except CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - see _failure
            record(job, _failure(exc))
            return None
        return out, alpha, note

    def publish(job: _Job, computed) -> None:  # the write stage, on an I/O thread
        out, alpha, note = computed
        try:
            skipped = write(job, out, alpha)
        except Exception as exc:  # noqa: BLE001 - see _failure
            record(job, _failure(exc))
        else:
            record(job, ("skipped", skipped) if skipped else ("written", note))

    def record(job: _Job, result: tuple[str, str | None]) -> None:
        with lock:
            if result[0] == "skipped":
                report.skipped.append((job.label, result[1]))
            elif result[0] == "written":
                report.written.append((job.label, job.target))
                if result[1]:
                    report.notes.append((job.label, result[1]))
            else:
                report.failed.append((job.label, result[1]))
            done[0] += 1
            tell(done[0] / total, f"{job.label}: {result[0]}")

    try:
        run_stages(todo, prepared, compute, publish, workers=int(options.workers), stopping=stopping)
    except CancelledError:
        report.cancelled = True
    # Report order follows the input order, whatever order threads finished in.
    order = {job.label: i for i, job in enumerate(jobs)}
    for rows in (report.written, report.skipped, report.failed, report.notes):
        rows.sort(key=lambda row: order.get(row[0], 0))
    report.seconds = time.monotonic() - start
    return report
