"""Training data: photo folders (composites synthesized on the fly), iHarmony4, triplet folders.

Every sample is a (composite, mask, real, reference) tuple of tensors: composite and real 3 x S x S in
[-1, 1], mask and reference 1 x S x S in 0..1. The reference is the area the scene's light is read from:
the whole background (1 - mask) unless the run trains with reference areas (trainer.references). A sample is a pure function of (seed, epoch, index): its random crop, mask and
perturbation come from a generator seeded by those numbers, so data never depends on which worker made
it and a resumed run sees exactly the samples the uninterrupted run would have seen.

Training composites follow the run's synthesis recipe (trainer.synthesis: "v2" by default, "v1" for
ablations); validation composites always use v2's, so runs with either recipe are scored on the same set.
v2 also re-colours a random region instead of the object in REGION_SHARE of training samples (any part of
a photo can be a pasted layer; LEMaRT pre-trains on such regions) and takes half its donors from photos
of the same kind of object (index.csv keywords), whose colours a pasted object typically brings along.

Which files are training data, and the validation split, are decided in trainer.data_folders.
"""
from __future__ import annotations

import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from engine.errors import HarmonizerError
from engine.image_io import read_image, read_mask
from trainer import masks as mask_gen
from trainer.data_folders import Entry, find_entries, split_entries, unit_hash
from trainer.references import DISTRACTOR_SHARE, reference_area, relight_elsewhere
from trainer.synthesis import composite, perturb, scene_light

MAX_SCALE = 1.35  # random zoom for training crops; cached photos keep just enough pixels for it
CACHE_BYTES = 2 * 1024**3  # decoded photos are kept in memory when they fit in this
MIN_FG = 0.01  # a crop whose foreground is smaller than this fraction is redrawn
VAL_SEED = 20210620  # fixed: validation composites do not change with --seed, so runs stay comparable
VAL_RECIPE = "v2"
REGION_SHARE = 0.2
SAME_KIND_DONORS = 0.5


@dataclass
class Loaded:
    real: np.ndarray
    mask: np.ndarray | None  # uint8 0..255 (a quarter of float32's memory in the cache)
    comp: np.ndarray | None = None
    object_mask: np.ndarray | None = None


@dataclass
class DataReport:
    kinds: list[str] = field(default_factory=list)
    found: int = 0
    skipped: int = 0
    train: int = 0
    val: int = 0
    cached: bool = False


def resize_cover(img: np.ndarray, short: int, interp_up=cv2.INTER_LINEAR) -> np.ndarray:
    h, w = img.shape[:2]
    s = short / min(h, w)
    size = (max(short, round(w * s)), max(short, round(h * s)))
    if size == (w, h):
        return img
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else interp_up)


def load_entry(entry: Entry, max_short: int | None, with_object_mask: bool = False) -> Loaded:
    """Decode one entry (HarmonizerError if unusable), shrunk so its short side is at most max_short."""
    real, alpha = read_image(entry.image)
    h, w = real.shape[:2]
    comp = None
    if entry.comp is not None:
        comp, _ = read_image(entry.comp)
        if comp.shape[:2] != (h, w):
            comp = cv2.resize(comp, (w, h), interpolation=cv2.INTER_AREA)
    mask = None
    if entry.mask is not None:
        mask = read_mask(entry.mask, size=(w, h))
    elif alpha is not None and 0 < (alpha > 127).mean() < 1:
        mask = alpha.astype(np.float32) / 255.0  # a cut-out PNG carries its own foreground
    if mask is not None:
        area = float(mask.mean())
        if area < 0.002 or area > 0.98:
            if entry.comp is not None:
                raise HarmonizerError(f"{entry.mask}: the mask is empty or covers the whole image")
            mask = None  # a photo with a useless mask still trains with a generated one
    if max_short and min(h, w) > max_short:
        real = resize_cover(real, max_short)
        nh, nw = real.shape[:2]
        if comp is not None:
            comp = cv2.resize(comp, (nw, nh), interpolation=cv2.INTER_AREA)
        if mask is not None:
            mask = cv2.resize(mask, (nw, nh), interpolation=cv2.INTER_AREA)
    obj = None
    if mask is None and entry.comp is None and with_object_mask:
        found = mask_gen.object_mask(real)
        obj = None if found is None else (found * 255).astype(np.uint8)
    mask_u8 = None if mask is None else np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Loaded(real, mask_u8, comp, obj)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)


def mask_tensor(mask: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None]


class HarmonizationDataset(Dataset):
    """Training (random crops, flips, zoom, fresh perturbations) or validation (fixed) samples.

    Training keys are (epoch, index) pairs from `EpochSampler`; validation keys are plain indices.
    """

    def __init__(self, entries: list[Entry], size: int, train: bool, seed: int = 0, cache: list | None = None,
                 synthesis: str = "v2", reference_share: float = 0.0, scene_share: float = 0.0,
                 distractor_share: float = DISTRACTOR_SHARE):
        self.entries = entries
        self.size = size
        self.train = train
        self.seed = seed
        self.cache = cache  # list[Loaded] parallel to entries, or None to decode on every access
        self.recipe = synthesis if train else VAL_RECIPE
        self.failures = 0
        # Validation sets keep 0 (their scores stay comparable across runs); benchmarks/reference_check.py
        # sets a validation set's share and distractor share to score the reference behaviour itself.
        self.reference_share = reference_share
        self.distractor_share = distractor_share
        self.scene_share = scene_share  # trainer.synthesis.scene_light; validation keeps 0 as well
        self.by_kind: dict[str, list[int]] = {}
        for i, e in enumerate(entries):
            if e.kind:
                self.by_kind.setdefault(e.kind, []).append(i)

    def __len__(self) -> int:
        return len(self.entries)

    def _load(self, i: int) -> Loaded:
        if self.cache is not None:
            return self.cache[i]
        return load_entry(self.entries[i], round(self.size * MAX_SCALE))

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (None, key)
        if self.train:
            rng = np.random.default_rng([self.seed, 1, int(epoch or 0), int(index)])
        else:
            rng = self._val_rng(index)
        for attempt in range(len(self.entries)):
            i = (index + attempt) % len(self.entries)
            try:
                item = self._load(i)
            except HarmonizerError as exc:
                # Only in decode-on-access mode (cached data was checked up front): skip to the next photo.
                self.failures += 1
                print(f"warning: skipped unreadable training image: {exc}", file=sys.stderr)
                continue
            comp, mask, real, _, reference = self._make(item, rng, kind=self.entries[i].kind)
            return comp, mask, real, reference
        raise HarmonizerError("none of the training images could be read")

    def _val_rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([VAL_SEED, int(unit_hash(self.entries[index].image.name) * 2**32)])

    def native(self, index: int):
        """Validation sample `index` at its photo's own resolution (the centre square of its short side),
        with the perturbation __getitem__ gives it: for scoring a full-resolution pipeline on the very
        composites the trainer validates on. -> (composite, mask, real, the synthesis families used, or ""
        for a given composite, reference area). Raises HarmonizerError for an unreadable photo."""
        assert not self.train, "only validation samples are fixed"
        entry = self.entries[index]
        item = load_entry(entry, None, with_object_mask=entry.mask is None and entry.comp is None)
        return self._make(item, self._val_rng(index), size=min(item.real.shape[:2]), kind=entry.kind)

    def _make(self, item: Loaded, rng: np.random.Generator, size: int | None = None, kind: str = ""):
        s = size or self.size
        mask = None if item.mask is None else item.mask.astype(np.float32) / 255.0
        if mask is None and item.comp is None:
            if item.object_mask is not None and rng.random() < 0.5:
                mask = item.object_mask.astype(np.float32) / 255.0
            else:
                h, w = item.real.shape[:2]
                mask = mask_gen.random_mask(h, w, rng)
        layers = [item.real, mask] + ([item.comp] if item.comp is not None else [])
        layers = self._geometry(layers, rng, s)
        real, mask = layers[0], layers[1]
        if mask.mean() < MIN_FG and item.comp is None:
            mask = mask_gen.random_mask(s, s, rng)  # the crop missed the object: any region will do
        family = ""
        if item.comp is not None:
            comp = layers[2]
        else:
            if self.train and self.recipe == "v2" and rng.random() < REGION_SHARE:
                mask = mask_gen.region_mask(s, s, rng)
            donor, donor_mask = self._donor(rng, kind)
            comp, family = perturb(real, mask, rng, donor=donor, donor_mask=donor_mask, recipe=self.recipe)
        if self.scene_share and rng.random() < self.scene_share:
            # The scene is re-lit around the object as it was pasted: the object must follow the new light.
            lit = scene_light(real, rng, self.recipe)
            comp, real = composite(lit, comp, mask), lit
        reference = None
        if self.reference_share and rng.random() < self.reference_share:
            reference = reference_area(mask, rng)
            if reference is not None and rng.random() < self.distractor_share:
                donor, donor_mask = self._donor(rng, kind)
                comp, real = relight_elsewhere(comp, real, mask, reference, rng, donor, donor_mask)
        if reference is None:
            reference = 1 - mask
        return to_tensor(comp), mask_tensor(mask), to_tensor(real), family, mask_tensor(reference)

    def _geometry(self, layers, rng, s: int):
        h, w = layers[0].shape[:2]
        if not self.train:
            short = s
        else:
            short = round(s * rng.uniform(1.0, MAX_SCALE))
        scale = short / min(h, w)
        nw, nh = max(s, round(w * scale)), max(s, round(h * scale))
        out = []
        for layer in layers:
            if (layer.shape[1], layer.shape[0]) != (nw, nh):
                interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
                layer = cv2.resize(layer, (nw, nh), interpolation=interp)
            out.append(layer)
        if self.train:
            for _ in range(3):  # prefer crops that keep a useful part of the foreground
                y, x = int(rng.integers(0, nh - s + 1)), int(rng.integers(0, nw - s + 1))
                if out[1][y:y + s, x:x + s].mean() >= MIN_FG:
                    break
            flip = rng.random() < 0.5
        else:
            y, x, flip = (nh - s) // 2, (nw - s) // 2, False
        out = [layer[y:y + s, x:x + s] for layer in out]
        if flip:
            out = [layer[:, ::-1] for layer in out]
        return [np.ascontiguousarray(layer) for layer in out]

    def _donor(self, rng, kind: str = ""):
        """Another photo's region for colour-statistics transfer (only from the in-memory cache)."""
        if self.cache is None or len(self.cache) < 2:
            return None, None
        same = self.by_kind.get(kind, []) if self.recipe == "v2" else []
        if len(same) > 1 and rng.random() < SAME_KIND_DONORS:
            d = self.cache[same[int(rng.integers(0, len(same)))]]
        else:
            d = self.cache[int(rng.integers(0, len(self.cache)))]
        dmask = d.mask if d.mask is not None else d.object_mask
        return d.real, None if dmask is None else dmask.astype(np.float32) / 255.0


class EpochSampler(torch.utils.data.Sampler):
    """Yields (epoch, index) keys: a DistributedSampler's shard of a seeded per-epoch permutation.

    `start` skips the first batches of an epoch on resume, so the data order continues exactly.
    """

    def __init__(self, length: int, seed: int, rank: int = 0, world: int = 1, batch: int = 1):
        self.inner = torch.utils.data.DistributedSampler(
            range(length), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=world > 1
        )
        self.batch = batch
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = epoch
        self.start = start_batch * self.batch
        self.inner.set_epoch(epoch)

    def __iter__(self):
        order = list(self.inner)
        return iter([(self.epoch, i) for i in order[self.start:]])

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.start)

    def batches_per_epoch(self) -> int:
        return len(self.inner) // self.batch  # the loader drops the last partial batch


def build_datasets(dirs, size: int, val_fraction: float = 0.1, seed: int = 0, max_images: int | None = None,
                   threads: int | None = None, log=None, synthesis: str = "v2", reference_share: float = 0.0,
                   scene_share: float = 0.0, distractor_share: float = DISTRACTOR_SHARE):
    """(train dataset, val dataset, DataReport) from one or more data folders."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    report = DataReport()
    train_e, val_e = [], []
    for d in dirs:
        kind, entries = find_entries(d)
        report.kinds.append(kind)
        if max_images:
            # A subset of whole source photos, spread over the folder rather than its first names.
            entries = sorted(entries, key=lambda e: (unit_hash("subset:" + e.group), str(e.image)))[:max_images]
            entries.sort(key=lambda e: str(e.image))
        if not entries:
            raise HarmonizerError(f"no images found in {d}")
        tr, va = split_entries(entries, val_fraction)
        train_e += tr
        val_e += va
    report.found = len(train_e) + len(val_e)
    max_short = round(size * MAX_SCALE)
    synthesized = sum(1 for e in train_e + val_e if e.comp is None)
    report.cached = (len(train_e) + len(val_e)) * (max_short * max_short * 4) * (2 if synthesized < report.found else 1) <= CACHE_BYTES
    train_cache = val_cache = None
    if report.cached:
        train_e, train_cache, bad_t = _decode_all(train_e, max_short, threads, log)
        val_e, val_cache, bad_v = _decode_all(val_e, max_short, threads, log)
        report.skipped = bad_t + bad_v
    if not train_e:
        where = ", ".join(str(d) for d in dirs)
        raise HarmonizerError(f"no usable training images in {where} ({report.skipped} unreadable)")
    report.train, report.val = len(train_e), len(val_e)
    return (HarmonizationDataset(train_e, size, True, seed, train_cache, synthesis, reference_share, scene_share,
                                 distractor_share),
            HarmonizationDataset(val_e, size, False, seed, val_cache), report)


def _decode_all(entries, max_short, threads, log):
    def one(e):
        try:
            return load_entry(e, max_short, with_object_mask=e.mask is None and e.comp is None)
        except HarmonizerError as exc:
            return exc

    workers = threads or min(4, os.cpu_count() or 1)
    kept, cache, bad = [], [], 0
    # engine.image_io both logs and warns about a resized mask; the log line is enough.
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=workers) as pool:
        warnings.simplefilter("ignore", UserWarning)
        for e, item in zip(entries, pool.map(one, entries)):
            if isinstance(item, Exception):
                bad += 1
                log(f"warning: skipped {e.image.name}: {item}")
                continue
            kept.append(e)
            cache.append(item)
    return kept, cache, bad
