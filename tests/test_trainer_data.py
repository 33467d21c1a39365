"""Trainer data side: perturbations, generated masks, folder layouts, the split, deterministic samples."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import HarmonizerError
from trainer import masks, synthesis
from trainer.data_folders import Entry, find_entries, split_entries
from trainer.datasets import EpochSampler, build_datasets


def textured(h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    base = np.stack(np.meshgrid(np.linspace(40, 200, w), np.linspace(60, 180, h)), -1)
    img = np.concatenate([base, base[..., :1] * 0.5 + 60], -1) + rng.normal(0, 12, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def box_mask(h=48, w=64):
    m = np.zeros((h, w), np.float32)
    m[10:38, 16:48] = 1
    return m


@pytest.mark.parametrize("family", synthesis.FAMILIES)
def test_each_family_changes_only_the_foreground(family):
    img, m = textured(), box_mask()
    donor = textured(seed=5)[:, ::-1] // 2 + 100
    comp, name = synthesis.perturb(img, m, np.random.default_rng(3), donor=donor, donor_mask=m, families=[family])
    assert name.split("+")[0] == family and comp.dtype == np.uint8 and comp.shape == img.shape
    assert name in (family, family + "+exposure")  # v2 gives some objects their own exposure too
    assert np.array_equal(comp[m == 0], img[m == 0])
    assert synthesis.foreground_change(img, comp, m) > 2.0


def test_perturb_is_reproducible_and_visible():
    img, m = textured(), box_mask()
    a, _ = synthesis.perturb(img, m, np.random.default_rng(7))
    b, _ = synthesis.perturb(img, m, np.random.default_rng(7))
    assert np.array_equal(a, b)
    changes = [synthesis.foreground_change(img, synthesis.perturb(img, m, np.random.default_rng(s))[0], m)
               for s in range(20)]
    assert np.median(changes) >= synthesis.MIN_CHANGE


def test_zero_amplitude_lut_is_identity():
    img = textured()
    lut = synthesis.random_lut(np.random.default_rng(0), amplitude=0.0)
    assert np.abs(synthesis.apply_lut(img, lut).astype(int) - img).max() <= 1


def test_random_masks_are_plausible():
    rng = np.random.default_rng(0)
    areas = [masks.random_mask(40, 56, rng).mean() for _ in range(40)]
    assert min(areas) >= masks.MIN_AREA * 0.9 and max(areas) <= masks.MAX_AREA


def test_object_mask_finds_a_distinct_object_and_refuses_a_flat_image():
    img = np.full((64, 64, 3), (70, 110, 60), np.uint8) + np.random.default_rng(0).integers(0, 8, (64, 64, 3)).astype(np.uint8)
    truth = np.zeros((64, 64), bool)
    cv2.circle(img, (30, 34), 14, (230, 60, 50), -1)
    cv2.circle(truth.view(np.uint8), (30, 34), 14, 1, -1)
    found = masks.object_mask(img)
    assert found is not None
    iou = ((found > 0) & truth).sum() / ((found > 0) | truth).sum()
    assert iou > 0.6
    assert masks.object_mask(np.full((32, 32, 3), 128, np.uint8)) is None


def save(path, arr):
    Image.fromarray(arr).save(path)


def make_photos(folder: Path, n=6, size=(64, 48)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = textured(size[1], size[0], seed=i)
        save(folder / f"p{i}.jpg", img)
        if i % 2 == 0:
            save(folder / f"p{i}_mask.png", (box_mask(size[1], size[0]) * 255).astype(np.uint8))
    return folder


def test_photo_folder_skips_bad_files_and_resizes_odd_masks(tmp_path):
    folder = make_photos(tmp_path / "photos")
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    save(folder / "p1_mask.png", (cv2.resize(box_mask(), (32, 24)) * 255).astype(np.uint8))
    logs = []
    train, val, report = build_datasets([folder], 32, val_fraction=0.3, log=logs.append)
    assert report.skipped == 1 and report.train + report.val == 6 and report.val >= 1
    assert any("broken.jpg" in line for line in logs)
    comp, mask, real, _ = train[(0, 0)]
    assert comp.shape == (3, 32, 32) and mask.shape == (1, 32, 32) and real.shape == (3, 32, 32)
    assert -1.0 <= float(comp.min()) and float(comp.max()) <= 1.0
    assert float(mask.mean()) > 0.0


def test_samples_are_a_function_of_epoch_and_index(tmp_path):
    train, val, _ = build_datasets([make_photos(tmp_path / "p")], 32, val_fraction=0.3)
    a, b, c = train[(1, 2)], train[(1, 2)], train[(2, 2)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    v1, v2 = val[0], val[0]
    assert all(torch.equal(x, y) for x, y in zip(v1, v2))
    assert not torch.equal(v1[0], v1[2])  # the validation composite is perturbed


def test_empty_and_all_bad_folders_are_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarmonizerError, match="no images found"):
        build_datasets([tmp_path / "empty"], 32)
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(3):
        (bad / f"x{i}.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(HarmonizerError, match="no usable training images"):
        build_datasets([bad], 32, log=lambda m: None)
    with pytest.raises(HarmonizerError, match="not found"):
        build_datasets([tmp_path / "missing"], 32)


def test_split_is_by_source_photo_and_index_csv_groups(tmp_path):
    folder = make_photos(tmp_path / "p", n=8)
    (folder / "index.csv").write_text("name,keyword,object_name,obj_src\n"
                                      + "".join(f"p{i},k,o,src{i // 2}.jpg\n" for i in range(8)))
    _, entries = find_entries(folder)
    train, val = split_entries(entries, 0.5)
    assert val and train
    assert not {e.group for e in train} & {e.group for e in val}
    assert {e.group for e in entries} == {f"src{i}.jpg" for i in range(4)}
    # The split does not depend on the order the files were listed in.
    train2, val2 = split_entries(entries[::-1], 0.5)
    assert sorted(e.image.name for e in val) == sorted(e.image.name for e in val2)


def test_triplets_and_iharmony4_layouts(tmp_path):
    trip = tmp_path / "trip"
    trip.mkdir()
    for k in ("a", "b", "c"):
        save(trip / f"{k}_real.jpg", textured(seed=ord(k)))
        save(trip / f"{k}_comp.jpg", textured(seed=ord(k)) // 2)
        save(trip / f"{k}_mask.png", (box_mask() * 255).astype(np.uint8))
    kind, entries = find_entries(trip)
    assert kind == "triplets" and len(entries) == 3 and all(e.comp for e in entries)
    save(trip / "d_comp.jpg", textured(seed=9))  # an incomplete triplet is skipped with a warning
    save(trip / "d_mask.png", (box_mask() * 255).astype(np.uint8))
    kind, entries = find_entries(trip)  # (this line raised NameError: trainer.data_folders lacked `import sys`)
    assert kind == "triplets" and len(entries) == 3

    root = tmp_path / "iharmony" / "HSub"
    for d in ("composite_images", "masks", "real_images"):
        (root / d).mkdir(parents=True)
    names = []
    for i in range(3):
        save(root / "real_images" / f"s{i}.jpg", textured(seed=i))
        save(root / "masks" / f"s{i}_1.png", (box_mask() * 255).astype(np.uint8))
        for j in (1, 2):
            save(root / "composite_images" / f"s{i}_1_{j}.jpg", textured(seed=i) // 2)
            names.append(f"s{i}_1_{j}.jpg")
    (root / "HSub_train.txt").write_text("\n".join(names[:4]) + "\n")
    kind, entries = find_entries(tmp_path / "iharmony")
    assert kind == "iharmony4" and len(entries) == 4
    train, val, report = build_datasets([tmp_path / "iharmony"], 32, val_fraction=0.5)
    comp, mask, real, _ = val[0]
    assert not torch.equal(comp, real) and float(mask.mean()) > 0


def test_epoch_sampler_shards_and_resumes_mid_epoch():
    full = EpochSampler(10, seed=1, batch=2)
    full.set_epoch(3)
    keys = list(full)
    assert sorted(i for _, i in keys) == list(range(10)) and {e for e, _ in keys} == {3}
    later = EpochSampler(10, seed=1, batch=2)
    later.set_epoch(3, start_batch=2)
    assert list(later) == keys[4:]
    shards = [EpochSampler(10, seed=1, rank=r, world=2, batch=1) for r in range(2)]
    for s in shards:
        s.set_epoch(0)
    a, b = ({i for _, i in s} for s in shards)
    assert not a & b and len(a) == len(b) == 5


def test_object_masks_do_not_depend_on_what_ran_before():
    """GrabCut draws from OpenCV's per-thread RNG: without a reset the same photo got different masks."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    photos = []
    for _ in range(12):
        img = np.full((96, 128, 3), rng.integers(40, 200, 3), np.float32)
        cv2.circle(img, (int(rng.integers(40, 88)), int(rng.integers(30, 66))), int(rng.integers(14, 26)),
                   [float(v) for v in rng.integers(0, 255, 3)], -1)
        photos.append(np.clip(img + rng.normal(0, 25, img.shape), 0, 255).astype(np.uint8))
    first = [masks.object_mask(p) for p in photos]
    with ThreadPoolExecutor(3) as pool:  # other threads, other order
        again = list(pool.map(masks.object_mask, photos[::-1]))[::-1]
    assert sum(m is not None for m in first) >= 6
    for a, b in zip(first, again):
        assert (a is None) == (b is None) and (a is None or np.array_equal(a, b))


def test_the_v2_recipe_reaches_larger_brightness_mismatches_than_v1():
    """Real composites have a heavier tail of brightness mismatches than the first recipe made
    (benchmarks/realism_stats.py); v2's exposure range covers it."""
    img, m = textured(), box_mask()

    def p90_brightness_change(recipe):
        changes = []
        for s in range(60):
            comp, _ = synthesis.perturb(img, m, np.random.default_rng(s), families=["white_balance"], recipe=recipe)
            changes.append(abs(comp[m > 0].astype(float).mean() - img[m > 0].astype(float).mean()))
        return np.quantile(changes, 0.9)

    assert p90_brightness_change("v2") > 1.2 * p90_brightness_change("v1")


def test_box_and_region_masks_are_plausible():
    rng = np.random.default_rng(1)
    for _ in range(30):
        box = masks.box_mask(40, 56, rng)
        ys, xs = np.nonzero(box)
        assert box[ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()  # a filled rectangle
        assert masks.MIN_AREA <= box.mean() <= masks.MAX_AREA
        region = masks.region_mask(40, 56, rng)
        assert 0 < region.mean() < 1


def test_v2_training_samples_use_regions_and_same_kind_donors(tmp_path):
    """Photos with index.csv keywords: donors of the same kind half the time; some training samples
    re-colour a random region instead of the object; validation always uses the object and v2."""
    from tests.test_trainer_loop import photo_folder
    folder = photo_folder(tmp_path / "p", n=12, masks_every=1, corrupt=0, index_groups=12)
    rows = "".join(f"img{i:03d},{'tree' if i % 2 else 'car'},obj,src{i}.jpg\n" for i in range(12))
    (folder / "index.csv").write_text("name,keyword,object_name,obj_src\n" + rows)
    train, val, _ = build_datasets([folder], 32, val_fraction=0.2, log=lambda m: None)
    assert set(train.by_kind) == {"tree", "car"} and train.recipe == "v2" and val.recipe == "v2"
    donors = [train._donor(np.random.default_rng(s), "tree")[0] for s in range(40)]
    trees = [item.real for item, e in zip(train.cache, train.entries) if e.kind == "tree"]
    same = sum(any(d is t for t in trees) for d in donors)
    assert 0.55 * 40 < same < 0.95 * 40  # half by kind, plus the kind's share of the uniform half
    sentinel = np.zeros((32, 32), np.float32)
    sentinel[:16, :16] = 1

    def used_regions(ds, monkeypatch):
        monkeypatch.setattr(masks, "region_mask", lambda h, w, rng: sentinel)
        return sum(torch.equal(ds[(0, k % len(ds))][1][0], torch.from_numpy(sentinel)) for k in range(60))

    mp = pytest.MonkeyPatch()
    try:
        assert 4 <= used_regions(train, mp) <= 24  # REGION_SHARE of them
        v1, _, _ = build_datasets([folder], 32, val_fraction=0.2, log=lambda m: None, synthesis="v1")
        assert used_regions(v1, mp) == 0
    finally:
        mp.undo()
    assert v1.recipe == "v1" and v1._donor(np.random.default_rng(0), "tree")[0] is not None


def test_scene_light_relights_the_target_and_background_around_the_object_as_pasted(tmp_path):
    """--scene-share: the whole scene takes another light, the pasted object keeps the look it was given,
    so the target asks the network to move the object with the scene; validation never changes."""
    from trainer.config import TrainConfig, check_config

    folder = make_photos(tmp_path / "p", n=8)
    plain, val0, _ = build_datasets([folder], 32, val_fraction=0.25, log=lambda m: None)
    lit, val1, _ = build_datasets([folder], 32, val_fraction=0.25, log=lambda m: None, scene_share=1.0)
    relit = 0
    for k in range(len(plain)):
        comp0, mask, real0, _ = plain[(0, k)]
        comp1, mask1, real1, _ = lit[(0, k)]
        assert torch.equal(mask, mask1)
        inside, outside = mask[0] > 0.99, mask[0] < 0.01
        assert torch.allclose(comp1[:, inside], comp0[:, inside], atol=1 / 127.5)  # the object as it was pasted
        assert torch.equal(comp1[:, outside], real1[:, outside])  # the composite's scene is the target's
        relit += not torch.allclose(real1, real0, atol=2 / 127.5)
    assert relit >= len(plain) - 1  # a draw may come out close to the original light
    assert all(torch.equal(a, b) for a, b in zip(val0[0], val1[0]))
    with pytest.raises(HarmonizerError, match="scene-share"):
        check_config(TrainConfig(data=["x"], scene_share=1.5, lr_decay=0.0))


def test_scene_light_is_on_for_new_v2_runs_and_off_for_runs_from_before_it():
    from trainer.config import SCENE_SHARE, TrainConfig, resolve_recipe

    for recipe, resumed, given, expected in (("v2", None, None, SCENE_SHARE), ("v1", None, None, 0.0),
                                             ("v2", {"head": "transform"}, None, 0.0), ("v2", None, 0.2, 0.2)):
        cfg = TrainConfig(data=["x"], synthesis=recipe, scene_share=given)
        resolve_recipe(cfg, resumed)
        assert cfg.scene_share == expected


def test_distractor_share_sets_how_many_reference_samples_carry_a_second_light(tmp_path):
    """--distractor-share: of the samples with a reference area, the share whose background outside it is
    re-lit; 0 leaves every scene as photographed, 1 re-lights them all. Old runs resume with the old 0.5."""
    from trainer.config import TrainConfig, check_config, resolve_recipe
    from trainer.references import DISTRACTOR_SHARE

    folder = make_photos(tmp_path / "p", n=8)
    sets = []
    for share in (0.0, 1.0):
        train, val, _ = build_datasets([folder], 32, val_fraction=0.25, log=lambda m: None, reference_share=1.0,
                                       distractor_share=share)
        assert train.distractor_share == share and val.reference_share == 0.0
        sets.append(train)
    plain, lit = sets
    relit = 0
    for k in range(len(plain)):
        comp0, mask, real0, ref = plain[(0, k)]
        comp1, _, real1, _ = lit[(0, k)]
        inside, outside = mask[0] > 0.99, mask[0] < 0.01
        for comp, real in ((comp0, real0), (comp1, real1)):  # the composite's scene is the target's
            assert torch.allclose(comp[:, outside], real[:, outside], atol=1.01 / 127.5)
        assert torch.equal(real1[:, inside], real0[:, inside])  # the object's truth is the area's light
        relit += not torch.allclose(real1, real0, atol=2 / 127.5)
    assert relit >= len(plain) - 1  # the same draws, a second light in (nearly) every one
    for resumed, given, expected in ((None, None, DISTRACTOR_SHARE), ({"head": "transform"}, None, DISTRACTOR_SHARE),
                                     (None, 1.0, 1.0)):
        cfg = TrainConfig(data=["x"], distractor_share=given)
        resolve_recipe(cfg, resumed)
        assert cfg.distractor_share == expected
    with pytest.raises(HarmonizerError, match="distractor-share"):
        check_config(TrainConfig(data=["x"], distractor_share=1.5, lr_decay=0.0))
