"""engine.shadow: the object's silhouette laid on the ground, fading and softening with distance, in the
scene's shadow colour, never over the object itself."""
import numpy as np
import pytest

from engine.errors import MaskError
from engine.shadow import ShadowSettings, add_shadow, cast_shadow, shadow_colour


def scene(h=200, w=240):
    rng = np.random.default_rng(0)
    img = np.clip(np.full((h, w, 3), (180, 170, 150), np.float32) + rng.normal(0, 5, (h, w, 3)), 0, 255)
    img[150:200, 150:230] = (40, 50, 90)  # bluish shade in the scene, more than a twentieth of it
    mask = np.zeros((h, w), np.float32)
    mask[60:140, 110:150] = 1.0  # a box standing on row 139
    return img.astype(np.uint8), mask


def test_the_shadow_falls_where_it_is_told_and_fades_with_distance():
    _, mask = scene()
    sh = cast_shadow(mask, ShadowSettings(angle=235, length=0.8, softness=0.1, opacity=0.7))
    assert sh.max() <= 0.7 + 1e-6
    below_left = sh[141:175, 60:110]
    assert below_left.max() > 0.2  # towards the viewer and to the left of the box
    assert sh[:55].max() < 1e-3 and sh[:, 160:].max() < 0.05  # nothing above it, nothing right of it
    near, far = sh[142, 100:120].max(), sh[165:175, 60:90].max()
    assert near > far > 0  # darker next to the object than at the far end
    back = cast_shadow(mask, ShadowSettings(angle=90, length=3.0))  # straight back: up the picture,
    assert back[52:60, 110:150].max() > 0.05 and back[150:].max() < 0.3  # shortened by the perspective


def test_adding_a_shadow_darkens_only_the_ground_in_the_scenes_shadow_colour():
    img, mask = scene()
    out = add_shadow(img, mask)
    assert np.array_equal(out[mask > 0], img[mask > 0])  # the object itself is untouched
    sh = cast_shadow(mask)
    untouched = sh < 1e-3
    assert np.array_equal(out[untouched], img[untouched])
    darker = out.astype(int).sum(2) < img.astype(int).sum(2) - 30
    assert darker.any() and not darker[untouched].any()
    colour = shadow_colour(img, mask)
    assert colour[2] > colour[0]  # the scene's shade is bluish, so is the shadow


def test_a_shadow_off_the_canvas_and_bad_settings():
    img, mask = scene()
    edge = np.zeros_like(mask)
    edge[120:200, 0:30] = 1.0  # standing on the bottom edge, its shadow falling out of the picture
    out = add_shadow(img, edge, ShadowSettings(angle=235, length=2.0))
    assert out.shape == img.shape
    with pytest.raises(MaskError, match="opacity"):
        cast_shadow(mask, ShadowSettings(opacity=2))
    with pytest.raises(MaskError, match="angle"):
        cast_shadow(mask, ShadowSettings(angle=float("nan")))
    with pytest.raises(MaskError, match="empty"):
        cast_shadow(np.zeros_like(mask))
    with pytest.raises(MaskError, match="is 10x10"):
        add_shadow(img, np.ones((10, 10), np.float32))


def test_the_command_line_and_batch_cast_the_shadow(tmp_path, capsys):
    from PIL import Image

    from engine.batch import BatchOptions, find_pairs, run_batch
    from engine.harmonizer import Harmonizer
    from harmonizer_cli import main

    img, mask = scene()
    Image.fromarray(img).save(tmp_path / "box.png")
    Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / "box_mask.png")
    assert main(["harmonize", str(tmp_path / "box.png"), str(tmp_path / "box_mask.png"), "-o",
                 str(tmp_path / "cli.png"), "--method", "classical", "--shadow", "235,0.8"]) == 0
    plain = Harmonizer(method="classical").harmonize(img, mask)
    cli = np.asarray(Image.open(tmp_path / "cli.png"))
    expected = add_shadow(plain, mask, ShadowSettings(angle=235, length=0.8))
    assert np.array_equal(cli, expected) and not np.array_equal(cli, plain)
    report = run_batch(find_pairs(tmp_path)[0], tmp_path / "out", BatchOptions(
        method="classical", shadow=ShadowSettings(angle=235, length=0.8)), Harmonizer(method="classical"))
    assert report.ok and np.array_equal(np.asarray(Image.open(tmp_path / "out" / "box.png")), expected)
    with pytest.raises(SystemExit) as usage:  # a usage error, before any work
        main(["harmonize", str(tmp_path / "box.png"), str(tmp_path / "box_mask.png"), "-o",
              str(tmp_path / "x.png"), "--method", "classical", "--shadow", "235,9"])
    assert usage.value.code == 2 and "length must be between" in capsys.readouterr().err


def test_a_thin_objects_shadow_cast_sideways_is_as_thick_as_the_object_is_deep():
    """A pole lit from the side: its shadow runs along the ground, as thick (foreshortened) as the pole is
    wide. It used to be a hairline that the blur then smeared to almost nothing."""
    from engine.shadow import ShadowSettings, cast_shadow

    mask = np.zeros((300, 400), np.float32)
    mask[60:260, 300:330] = 1  # 30 px wide, 200 px tall, standing on row 259
    s = ShadowSettings(angle=170, length=1.0, opacity=1.0)
    shadow = cast_shadow(mask, s)
    column = shadow[:, 200]  # 100 px left of the pole, half-way along its shadow
    assert column.max() > 0.3
    assert np.count_nonzero(column > 0.15) >= round(30 * s.perspective * 0.9)
    assert shadow[262:, :290].max() < 0.05  # the depth lies behind the base, not in front of it
