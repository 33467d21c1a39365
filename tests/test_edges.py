"""engine.edges: a rough mask snaps to the picture's edge; a cut-out's fringe takes the object's colour."""
import numpy as np
import pytest

from engine.edges import defringe, refine_mask
from engine.errors import MaskError


def two_tone(h=120, w=160, edge=80):
    """Red object on the left of column `edge`, blue-grey background on the right, with grain."""
    rng = np.random.default_rng(0)
    img = np.empty((h, w, 3), np.float32)
    img[:, :edge] = (200, 40, 30)
    img[:, edge:] = (70, 90, 120)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_a_rough_mask_snaps_to_the_edge_and_stays_put_away_from_it():
    img = two_tone()
    rough = np.zeros((120, 160), np.float32)
    rough[20:100, 10:86] = 1.0  # brushed 6 px past the object's edge at column 80
    out = refine_mask(img, rough, radius=8, eps=1e-3)
    row = out[60]
    assert row[70] > 0.9 and row[84] < 0.1  # inside the object kept, the overshoot removed
    edge = int(np.argmax(row[60:100] < 0.5)) + 60
    assert abs(edge - 80) <= 1
    far = np.ones_like(rough, bool)
    far[20 - 9:100 + 9, 10 - 9:86 + 9] = False
    assert np.array_equal(out[far], rough[far])  # nothing changes away from the brushed edge
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


def test_refining_an_empty_or_full_mask_changes_nothing_and_bad_input_is_one_line():
    img = two_tone()
    for mask in (np.zeros((120, 160), np.float32), np.ones((120, 160), np.float32)):
        assert np.array_equal(refine_mask(img, mask), mask)
    with pytest.raises(MaskError, match="radius"):
        refine_mask(img, np.zeros((120, 160), np.float32), radius=0)
    with pytest.raises(MaskError, match="is 10x10"):
        refine_mask(img, np.zeros((10, 10), np.float32))
    bad = np.zeros((120, 160), np.float32)
    bad[5, 5] = np.nan
    with pytest.raises(MaskError, match="NaN"):
        refine_mask(img, bad)


def test_defringe_recolours_the_rim_only():
    img = two_tone(edge=160)  # all red
    mask = np.zeros((120, 160), np.float32)
    mask[30:90, 40:120] = 1.0
    img[30:90, 40:120][:, :2] = (250, 250, 250)  # a white fringe along the object's left edge
    out = defringe(img, mask, width=3)
    rim = out[40:80, 40]
    assert np.all(rim[:, 0] > 150) and np.all(rim[:, 1] < 150)  # the outermost pixels turn red
    assert np.mean(out[40:80, 41, 1]) < np.mean(img[40:80, 41, 1]) - 60  # the second, less so but clearly
    outside = mask == 0
    assert np.array_equal(out[outside], img[outside])  # the surroundings are never touched
    assert np.array_equal(out[40:80, 50:110], img[40:80, 50:110])  # nor the interior away from the rim


def test_defringe_takes_only_the_objects_colour_not_the_new_background():
    img = two_tone()  # red object, blue-grey "new background" right of column 80
    mask = np.zeros((120, 160), np.float32)
    mask[:, :80] = 1.0
    out = defringe(img, mask, width=4)
    # The rim's new colour comes from inside the object: still red, not pulled towards blue-grey.
    assert out[60, 79, 0] > 170 and out[60, 79, 2] < 60
    with pytest.raises(MaskError, match="width"):
        defringe(img, mask, width=0)
