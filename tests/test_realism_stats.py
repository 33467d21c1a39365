"""benchmarks/realism_stats.py: foreground-vs-surround Lab statistics and the end-to-end table."""
import json

import cv2
import numpy as np
from PIL import Image

from benchmarks import realism_stats


def _lab_image(fg_lab, bg_lab, size=64, noise=0.0, seed=0):
    """uint8 RGB made in Lab: a centred square foreground of fg_lab on bg_lab, and its float mask."""
    lab = np.empty((size, size, 3), np.float32)
    lab[:] = bg_lab
    q = size // 4
    lab[q:3 * q, q:3 * q] = fg_lab
    lab[..., 0] += np.random.default_rng(seed).normal(0, noise, (size, size)).astype(np.float32)
    rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    mask = np.zeros((size, size), np.float32)
    mask[q:3 * q, q:3 * q] = 1.0
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8), mask


def test_image_stats_lightness_colour_and_spread():
    rgb, mask = _lab_image((70, 0, 0), (40, 0, 0), noise=2.0)
    s = realism_stats.image_stats(rgb, mask)
    assert abs(s["dL"] - 30) < 1.5
    assert s["dab"] < 1.5 and abs(s["dchroma"]) < 1.5
    assert abs(s["log2_spread"]) < 0.5  # the same noise inside and out
    assert np.isnan(s["dhue"])  # both grey: no hue to compare

    darker = realism_stats.image_stats(*_lab_image((40, 0, 0), (70, 0, 0)))
    assert abs(darker["dL"] + 30) < 1.5

    # A reddish object on a bluish background: a large (a, b) distance and a hue turn of about 90 degrees.
    s = realism_stats.image_stats(*_lab_image((50, 30, 0), (50, 0, -30)))
    assert abs(s["dab"] - 30 * np.sqrt(2)) < 3
    assert abs(abs(s["dhue"]) - 90) < 5
    assert abs(s["dL"]) < 1.5

    # A more saturated foreground of the same hue; a textured foreground on a flat surround.
    assert realism_stats.image_stats(*_lab_image((50, 40, 0), (50, 10, 0)))["dchroma"] > 25
    rgb, mask = _lab_image((50, 0, 0), (50, 0, 0))
    rgb[mask > 0.5] = np.random.default_rng(1).integers(60, 200, (int(mask.sum()), 1)).astype(np.uint8)
    assert realism_stats.image_stats(rgb, mask)["log2_spread"] > 2


def test_ring_and_tiny_masks():
    fg = np.zeros((64, 64), bool)
    fg[16:48, 16:48] = True
    ring = realism_stats.ring_mask(fg)
    assert not (ring & fg).any() and ring.sum() > 0
    # 3 px wide (the minimum) for this 32 x 32 object, less the pixel next to the edge.
    assert [bool(ring[y, 30]) for y in (12, 13, 14, 15)] == [False, True, True, False]
    full = np.ones((64, 64), np.float32)
    full[0, :10] = 0  # nothing left around the object but a sliver: no surround, no statistics
    assert realism_stats.image_stats(np.zeros((64, 64, 3), np.uint8), full) is None
    assert realism_stats.image_stats(np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64), np.float32)) is None


def _folder(path, count, seed):
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(count):
        fg_l, bg_l = rng.uniform(30, 80, 2)
        rgb, mask = _lab_image((fg_l, *rng.uniform(-20, 20, 2)), (bg_l, *rng.uniform(-20, 20, 2)), noise=3, seed=i)
        Image.fromarray(rgb).save(path / f"img_{i:02d}.jpg", quality=95)
        Image.fromarray((mask * 255).astype(np.uint8)).save(path / f"img_{i:02d}_mask.png")
    return path


def test_main_end_to_end(tmp_path, capsys):
    composites, photos = _folder(tmp_path / "composites", 3, 0), _folder(tmp_path / "photos", 6, 1)
    out = tmp_path / "stats.json"
    argv = ["--composites", str(composites), "--photos", str(photos), "--samples", "4", "--json", str(out)]
    assert realism_stats.main(argv) == 0
    table = capsys.readouterr().out
    assert "| real composites | 3 |" in table and "| photos (untouched) | 4 |" in table
    data = json.loads(out.read_text())["populations"]
    assert set(data) == {"real composites", "synthesized v1 (training samples)", "synthesized v2 (training samples)",
                         "photos (untouched)", *(f"synthesized: {f}" for f in realism_stats.FAMILIES)}
    assert data["synthesized v1 (training samples)"]["count"] == data["synthesized v2 (training samples)"]["count"] == 4
    assert all(data[f"synthesized: {f}"]["count"] == 4 for f in realism_stats.FAMILIES)
    assert data["real composites"]["dL"]["p90"] >= data["real composites"]["dL"]["median"] >= 0

    empty = tmp_path / "empty"
    empty.mkdir()
    assert realism_stats.main(["--composites", str(empty), "--photos", str(photos), "--samples", "2"]) == 1
    assert "pairs" in capsys.readouterr().err


def test_harmonized_rows_follow_the_method(tmp_path):
    # Objects far lighter than their surroundings: the classical transfer (which moves the foreground's
    # Lab statistics towards the background's) must leave a much smaller lightness gap than the composites.
    composites = tmp_path / "composites"
    composites.mkdir()
    for i in range(3):
        rgb, mask = _lab_image((85, 10, 10), (35, -5, -5), noise=3, seed=i)
        Image.fromarray(rgb).save(composites / f"c{i}.png")
        Image.fromarray((mask * 255).astype(np.uint8)).save(composites / f"c{i}_mask.png")
    photos = _folder(tmp_path / "photos", 4, 1)
    data = realism_stats.measure(composites, photos, samples=2, harmonized=["classical"])
    raw, done = data["real composites"], data["real composites, classical"]
    assert done["count"] == raw["count"] == 3
    assert raw["dL"]["median"] > 45 and done["dL"]["median"] < 0.5 * raw["dL"]["median"]
