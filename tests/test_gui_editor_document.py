"""The editor's Qt-free document: layers, the layer mask that moves with the foreground, brush strokes
and mask operations with undo, results that go stale, and .ora round trips through document_io."""
from __future__ import annotations

import numpy as np
import pytest

from engine.errors import HarmonizerError, MaskError
from engine.compositing import blend
from engine.harmonizer import Harmonizer
from engine import openraster as ora
from harmonizer_gui import document_io
from harmonizer_gui.document import Brush, Document
from harmonizer_gui.transform import Transform


def background(w=160, h=120):
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // w, y * 255 // h, np.full_like(x, 90)]).astype(np.uint8)


def cutout(w=50, h=40):
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:] = (230, 200, 40)
    alpha = np.zeros((h, w), np.uint8)
    alpha[5:h - 5, 5:w - 5] = 255
    return rgb, alpha


@pytest.fixture
def doc():
    d = Document()
    d.load(background(), bg_name="bg.png")
    d.set_foreground(*cutout(), name="fg.png")
    return d


def test_foreground_is_cropped_to_its_alpha_and_centred(doc):
    assert doc.fg_size == (40, 30)  # transparent margins dropped
    box = doc.foreground_box()
    assert abs((box[0] + box[2]) / 2 - 80) <= 1 and abs((box[1] + box[3]) / 2 - 60) <= 1
    comp, mask = doc.composite(), doc.composite_mask()
    assert tuple(comp[60, 80]) == (230, 200, 40)
    assert mask[60, 80] == 1.0 and mask[5, 5] == 0.0
    assert (comp[mask == 0] == background()[mask == 0]).all()


def test_mask_moves_with_the_foreground(doc):
    doc.begin_stroke(Brush(size=8, hardness=1.0, erase=True))
    doc.stroke_to(80, 60)
    doc.end_stroke()
    assert doc.composite_mask()[60, 80] == 0.0
    doc.set_transform(doc.transform.replaced(cx=doc.transform.cx + 30))
    mask = doc.composite_mask()
    assert mask[60, 110] == 0.0 and mask[60, 96] == 1.0 and mask[60, 80] == 0.0  # the hole travelled along


def test_stroke_is_one_undo_step_storing_only_its_box(doc):
    before = doc.mask.copy()
    doc.begin_stroke(Brush(size=6, hardness=0.5, erase=True))
    for x in range(70, 91, 2):
        doc.stroke_to(x, 60)
    doc.end_stroke()
    assert not np.array_equal(doc.mask, before)
    step = doc.history._undo[-1]
    x0, y0, x1, y1 = step.box
    assert step.before.shape == (y1 - y0, x1 - x0) and step.before.size < doc.mask.size / 2
    doc.undo()
    assert np.array_equal(doc.mask, before)
    doc.redo()
    assert doc.mask[15, 20] < 0.01


def test_mask_operations_are_undoable(doc):
    original = doc.mask.copy()
    doc.invert_mask()
    assert doc.mask.max() == 0.0
    doc.fill_mask()
    doc.feather_mask(3)
    assert 0 < doc.mask.min() < 0.5 and doc.mask[15, 20] > 0.99  # the sides soften, the middle stays
    doc.grow_mask(-4)
    doc.grow_mask(2)
    doc.clear_mask()
    assert doc.composite_mask().max() == 0
    for _ in range(6):
        doc.undo()
    assert np.array_equal(doc.mask, original)
    assert not doc.history.can_undo or doc.history.undo_label == "Place foreground"


def test_result_goes_stale_and_undo_brings_it_back(doc):
    out = Harmonizer(method="classical").harmonize(doc.composite(), doc.composite_mask())
    assert doc.set_result(out, doc.revision)
    stale = doc.revision
    doc.flip(True)
    assert doc.result is None
    assert not doc.set_result(out, stale)  # computed from the old composite: refused
    doc.undo()
    assert doc.result is out


def test_strength_blends_without_rerunning(doc):
    out = Harmonizer(method="classical").harmonize(doc.composite(), doc.composite_mask())
    doc.set_result(out, doc.revision)
    doc.set_strength(0.4)
    expected = blend(doc.composite(), out, doc.composite_mask(), 0.4)
    assert np.array_equal(doc.flattened(), expected)


def test_plain_composite_mask_is_in_canvas_pixels():
    d = Document()
    d.load(background())
    d.begin_stroke(Brush(size=10, hardness=1.0))
    d.stroke_to(20, 30)
    d.end_stroke()
    assert d.composite_mask()[30, 20] == 1.0 and d.composite_mask()[90, 120] == 0.0
    assert np.array_equal(d.composite(), background())


def test_load_mask_must_fit(doc):
    before = doc.mask
    with pytest.raises(MaskError, match="must be the size"):
        doc.load_mask(np.ones((7, 9), np.float32), "small.png")
    assert doc.mask is before and doc.history.undo_label == "Place foreground"
    canvas_mask = np.zeros((120, 160), np.float32)
    canvas_mask[50:70, 70:90] = 1
    doc.load_mask(canvas_mask, "canvas.png")  # canvas-size masks are mapped onto the foreground
    assert np.abs(doc.composite_mask()[52:68, 72:88] - 1).max() < 1e-3
    assert doc.composite_mask()[47:49, 60:100].max() == 0


def test_operations_need_a_background():
    d = Document()
    with pytest.raises(HarmonizerError, match="background"):
        d.set_foreground(*cutout())
    with pytest.raises(HarmonizerError):
        d.invert_mask()


def test_ora_round_trip_keeps_every_layer(doc, tmp_path):
    doc.set_transform(Transform(cx=70.0, cy=55.0, sx=1.4, sy=0.8, angle=17.0, flip_h=True))
    doc.feather_mask(2)
    doc.set_opacity(0.9)
    doc.set_model("classical")
    out = Harmonizer(method="classical").harmonize(doc.composite(), doc.composite_mask())
    doc.set_result(out, doc.revision)
    doc.set_strength(0.6)
    path = document_io.save_project(doc, tmp_path / "p.ora")
    other = Document()
    document_io.load_project(other, path)
    assert np.array_equal(other.background, doc.background)
    assert np.array_equal(other.foreground, doc.foreground)
    assert np.array_equal(other.fg_alpha, doc.fg_alpha)
    assert np.abs(other.mask - doc.mask).max() < 1e-4
    assert other.transform == doc.transform and other.opacity == pytest.approx(0.9)
    assert other.model == "classical" and other.strength == pytest.approx(0.6)
    assert np.array_equal(other.composite(), doc.composite())
    assert np.array_equal(other.result, doc.result)
    assert (other.fg_name, other.bg_name) == ("fg.png", "bg.png")
    # The file is plain OpenRaster too: what other programs see, and what batch export reads.
    project = ora.load_ora(path)
    assert [la.name for la in project.layers] == ["bg.png", "fg.png", "Harmonized"]
    rgb, mask = ora.load_composite(path)
    assert np.array_equal(rgb, doc.composite()) and np.abs(mask - doc.composite_mask()).max() <= 1 / 255


def _saved_model(path) -> str:
    import json

    return json.loads(ora.load_ora(path).extras[ora.DOCUMENT_ENTRY])["model"]


def test_projects_name_models_by_registry_name_and_a_model_file_only_when_confirmed(doc, tmp_path, monkeypatch):
    """A project is a file people send each other: the model it names is read from the model folders,
    never from a path it chose, unless the user confirms that path."""
    from engine.registry import user_models_dir

    mine = user_models_dir() / "mine.safetensors"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"registered")
    doc.set_model(str(mine))  # the picker's value for a registered model is its file
    assert _saved_model(document_io.save_project(doc, tmp_path / "mine.ora")) == "mine"
    other = Document()
    assert document_io.load_project(other, tmp_path / "mine.ora") == "Opened mine.ora."
    assert other.model == str(mine)

    sent = tmp_path / "sent" / "theirs.safetensors"
    sent.parent.mkdir()
    sent.write_bytes(b"anything")
    doc.set_model(str(sent))
    path = document_io.save_project(doc, tmp_path / "theirs.ora")
    assert _saved_model(path) == str(sent)
    message = document_io.load_project(other, path)
    assert other.model == "default" and f"model file {sent}" in message and "default model" in message
    asked = []
    document_io.load_project(other, path, confirm_model=lambda p: asked.append(p) or False)
    assert other.model == "default" and asked == [str(sent)]
    document_io.load_project(other, path, confirm_model=lambda p: True)
    assert other.model == str(sent)

    doc.set_model("not here")
    message = document_io.load_project(other, document_io.save_project(doc, tmp_path / "gone.ora"))
    assert other.model == "default" and "'not here' is not installed" in message


def test_foreign_ora_top_layer_becomes_the_foreground(tmp_path):
    bg = np.dstack([background(), np.full((120, 160), 255, np.uint8)])
    rgb, alpha = cutout()
    layers = [ora.OraLayer("paper", bg), ora.OraLayer("object", np.dstack([rgb, alpha]), x=30, y=20)]
    ora.save_ora(tmp_path / "k.ora", layers, {}, (160, 120))
    d = Document()
    document_io.load_project(d, tmp_path / "k.ora")
    assert d.fg_name == "object" and d.fg_size == (50, 40)
    assert tuple(d.composite()[20 + 20, 30 + 25]) == (230, 200, 40)
    assert d.composite_mask()[20 + 2, 30 + 2] == 0


def test_bad_project_leaves_the_document_alone(doc, tmp_path):
    bad = tmp_path / "bad.ora"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    state = (doc.background, doc.foreground, doc.mask, doc.transform, doc.history.undo_label)
    with pytest.raises(HarmonizerError):
        document_io.load_project(doc, bad)
    assert (doc.background, doc.foreground, doc.mask, doc.transform, doc.history.undo_label) == state


def test_exports_and_mask_png(doc, tmp_path):
    from engine.image_io import read_image, read_mask

    png = document_io.export_image(doc, tmp_path / "out.png")
    assert np.array_equal(read_image(png)[0], doc.flattened())
    jpg = document_io.export_image(doc, tmp_path / "out.jpg", quality=85)
    assert read_image(jpg)[0].shape == (120, 160, 3)
    with pytest.raises(HarmonizerError):
        document_io.export_image(doc, tmp_path / "out.xyz")
    mask = read_mask(document_io.save_mask(doc, tmp_path / "m.png"))
    assert np.abs(mask - doc.composite_mask()).max() <= 1 / 255


def test_sixteen_bit_background_exports_at_16_bits_and_jpeg_keeps_its_exif(tmp_path):
    import cv2
    from PIL import Image

    rng = np.random.default_rng(5)
    bg16 = rng.integers(0, 65536, (120, 160, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), bg16[..., ::-1])
    d = Document()
    assert document_io.add_image(d, tmp_path / "deep.png") == "background"
    rgb, alpha = cutout()
    d.set_foreground(rgb, alpha, "fg.png")
    out = cv2.imread(str(document_io.export_image(d, tmp_path / "out.png")), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert out.dtype == np.uint16
    untouched = d.composite_mask() == 0
    assert np.array_equal(out[untouched], bg16[untouched])  # bit-exact where the background shows
    covered = d.composite_mask() == 1
    assert np.abs(out[covered] / 257.0 - d.flattened()[covered]).max() <= 0.5 + 1e-6
    tif = cv2.imread(str(document_io.export_image(d, tmp_path / "out.tif")), cv2.IMREAD_UNCHANGED)
    assert tif.dtype == np.uint16
    # An 8-bit background exports 8 bits; a camera JPEG's EXIF travels to JPEG exports, upright.
    img = Image.fromarray(background())
    exif = img.getexif()
    exif[0x0112], exif[0x0110] = 3, "Harmonizer Mk II"
    img.save(tmp_path / "cam.jpg", exif=exif, quality=95)
    d = Document()
    document_io.add_image(d, tmp_path / "cam.jpg")
    assert d.background16 is None and d.bg_exif is not None
    with Image.open(document_io.export_image(d, tmp_path / "out.jpg")) as got:
        assert got.getexif()[0x0110] == "Harmonizer Mk II" and got.getexif()[0x0112] == 1
    with Image.open(document_io.export_image(d, tmp_path / "out8.png")) as got:
        assert got.mode == "RGB" and got.info.get("icc_profile")
    d.set_background(background(), "plain.png")  # a new background brings its own metadata (none)
    assert d.bg_exif is None
    d.undo()
    assert d.bg_exif is not None


def test_a_strength_below_one_is_blended_once_like_the_engine():
    """The editor shows (and exports) at 40 % exactly what harmonize(strength=0.4) returns: blended once
    from the harmonizer's float pixels, not from a rounded strength-1 picture (on this textured picture
    with a feathered mask, rounding twice put 357 pixels a level off at 40 %)."""
    rng = np.random.default_rng(0)
    soft = np.zeros((60, 80), np.float32)
    soft[15:45, 20:60] = 1.0
    soft[15:45, 20:24] = np.linspace(0.2, 0.9, 4)
    doc = Document()
    doc.load(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8), mask=soft)
    h = Harmonizer(method="classical")
    comp, mask = doc.composite(), doc.composite_mask()
    result = h.run(comp, mask)
    doc.set_result(result.at(1.0), doc.revision, result)
    for strength in (0.4, 0.73, 1.0):
        doc.set_strength(strength)
        assert np.array_equal(doc.flattened(), h.harmonize(comp, mask, strength))
    doc.undo()
    assert doc.result is None and doc.harmonization is None
    doc.redo()
    assert doc.harmonization is not None
    doc.clear_result()
    assert doc.harmonization is None
