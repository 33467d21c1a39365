"""A reference area: the object takes the light of the area the user chose, not the whole background's."""
import numpy as np
import pytest
from PIL import Image

from engine.errors import MaskError
from engine.harmonizer import Harmonizer
from harmonizer_cli import main
from tests.test_harmonizer import tiny_model  # noqa: F401  (a fixture)


def sun_and_shade():
    """A scene lit warm on the left and blue-shaded on the right, a grey object in the middle."""
    rng = np.random.default_rng(1)
    h, w = 120, 200
    img = np.empty((h, w, 3), np.float32)
    img[:, :100] = (215, 160, 90)   # sunlit
    img[:, 100:] = (70, 95, 150)    # shade
    img = img + rng.normal(0, 6, img.shape)
    mask = np.zeros((h, w), np.float32)
    mask[40:80, 85:115] = 1.0
    img[40:80, 85:115] = (128, 128, 128) + rng.normal(0, 6, (40, 30, 3))
    warm = np.zeros((h, w), np.float32)
    warm[:, :60] = 1.0
    shade = np.zeros((h, w), np.float32)
    shade[:, 140:] = 1.0
    return np.clip(img, 0, 255).astype(np.uint8), mask, warm, shade


def warmth(img, mask):
    inside = img[mask > 0.5].astype(np.float32)
    return float(inside[:, 0].mean() - inside[:, 2].mean())


def test_the_object_follows_the_chosen_area():
    comp, mask, warm, shade = sun_and_shade()
    h = Harmonizer(method="classical")
    against_sun = h.harmonize(comp, mask, reference=warm)
    against_shade = h.harmonize(comp, mask, reference=shade)
    plain = h.harmonize(comp, mask)
    assert warmth(against_sun, mask) > warmth(plain, mask) > warmth(against_shade, mask)
    assert warmth(against_sun, mask) > 60 and warmth(against_shade, mask) < -40
    outside = mask == 0
    assert np.array_equal(against_sun[outside], comp[outside])  # the reference only steers the object
    # 0..255 references work as masks do
    np.testing.assert_array_equal(h.harmonize(comp, mask, reference=(warm * 255).astype(np.uint8)), against_sun)


def test_bad_reference_areas_are_one_clear_line():
    comp, mask, warm, _ = sun_and_shade()
    h = Harmonizer(method="classical")
    with pytest.raises(MaskError, match="empty or too small"):
        h.harmonize(comp, mask, reference=np.zeros_like(mask))
    with pytest.raises(MaskError, match="on the object itself"):
        h.harmonize(comp, mask, reference=mask.copy())
    with pytest.raises(MaskError, match="reference area is 10x10"):
        h.harmonize(comp, mask, reference=np.ones((10, 10), np.float32))
    nan = warm.copy()
    nan[0, 0] = np.nan
    with pytest.raises(MaskError, match="reference area holds NaN"):
        h.harmonize(comp, mask, reference=nan)


def test_a_network_model_not_trained_for_references_says_so(tiny_model):
    comp, mask, warm, _ = sun_and_shade()
    h = Harmonizer(model=str(tiny_model), device="cpu")
    plain = h.harmonize(comp, mask)
    assert h.notice == ""
    with_ref = h.harmonize(comp, mask, reference=warm)
    assert "not trained to use a reference area" in h.notice
    np.testing.assert_array_equal(with_ref, plain)


def test_the_command_line_takes_a_reference(tmp_path, capsys):
    comp, mask, warm, shade = sun_and_shade()
    Image.fromarray(comp).save(tmp_path / "comp.png")
    Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    Image.fromarray((warm * 255).astype(np.uint8)).save(tmp_path / "sun.png")
    Image.fromarray((shade * 255).astype(np.uint8)).save(tmp_path / "shade.png")
    for ref in ("sun", "shade"):
        assert main(["harmonize", str(tmp_path / "comp.png"), str(tmp_path / "mask.png"), "-o",
                     str(tmp_path / f"out_{ref}.png"), "--method", "classical",
                     "--reference", str(tmp_path / f"{ref}.png")]) == 0
    sun = np.asarray(Image.open(tmp_path / "out_sun.png"))
    shade_out = np.asarray(Image.open(tmp_path / "out_shade.png"))
    assert warmth(sun, mask) > warmth(shade_out, mask) + 80


def test_batch_uses_a_reference_area_beside_the_composite(tmp_path):
    from engine.batch import BatchOptions, find_pairs, run_batch

    comp, mask, warm, shade = sun_and_shade()
    for name, ref in (("sunny", warm), ("shady", shade)):
        Image.fromarray(comp).save(tmp_path / f"{name}.png")
        Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / f"{name}_mask.png")
        Image.fromarray((ref * 255).astype(np.uint8)).save(tmp_path / f"{name}_ref.png")
    pairs, unmatched = find_pairs(tmp_path)
    assert [p.name for p, _ in pairs] == ["shady.png", "sunny.png"] and unmatched == []  # _ref files are no pictures
    out = tmp_path / "out"
    report = run_batch(pairs, out, BatchOptions(method="classical"), Harmonizer(method="classical"))
    assert report.ok
    sunny, shady = (np.asarray(Image.open(out / f"{n}.png")) for n in ("sunny", "shady"))
    assert warmth(sunny, mask) > warmth(shady, mask) + 80


def test_the_chosen_area_steers_the_object_on_a_real_photo():
    """The bundled sample (a real photo of a launch pad, a real cut-out of an astronaut) with a second light:
    the left third of the scene lit warm, the right third cool. With the classical method the astronaut
    harmonized against an area on the left ends warmer than against one on the right, and so does it with
    the default model, though less: docs/quality.md has 36.0 against 29.8, 33.7 for the whole background.
    The default before its encoder saw the area moved 34.4 against 31.9 and fails the margin here; the one
    before scene-light training went the wrong way (41.2 against 41.9)."""
    from engine.bundled import bundled_dir
    from engine.image_io import read_image

    samples = bundled_dir("samples")
    bg, _ = read_image(samples / "background.jpg")
    fg, alpha = read_image(samples / "foreground.png")
    mask = alpha.astype(np.float32) / 255
    scene = bg.astype(np.float32)
    third = bg.shape[1] // 3
    scene[:, :third] *= (1.25, 1.0, 0.7)
    scene[:, -third:] *= (0.75, 0.95, 1.25)
    comp = np.clip(scene * (1 - mask[..., None]) + fg * mask[..., None], 0, 255).astype(np.uint8)
    left, right = np.zeros_like(mask), np.zeros_like(mask)
    left[: bg.shape[0] // 2, : third - 20] = 1
    right[: bg.shape[0] // 2, -third + 20:] = 1
    classical = Harmonizer(method="classical")
    warm, cool, plain = (classical.harmonize(comp, mask, reference=r) for r in (left, right, None))
    assert warmth(warm, mask) > warmth(plain, mask) > warmth(cool, mask)
    assert warmth(warm, mask) - warmth(cool, mask) > 20
    h = Harmonizer("default", device="cpu")
    assert h.follows_reference
    plain = h.harmonize(comp, mask)
    warm, cool = (h.harmonize(comp, mask, reference=r) for r in (left, right))
    assert np.abs(warm.astype(int) - plain).max() > 2 and h.notice == ""
    assert warmth(warm, mask) > warmth(plain, mask) > warmth(cool, mask)
    assert warmth(warm, mask) > warmth(cool, mask) + 4
