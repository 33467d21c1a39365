"""OpenRaster files that travel between programs: blend modes and group isolation rendered as the spec
says, other programs' layers kept when saving, and the editor's own project recognised after Krita
re-saved it without the extras (issue 9, items 12 and 13)."""
from __future__ import annotations

import re
import zipfile
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from engine import openraster as ora
from harmonizer_gui import document_io
from harmonizer_gui.document import Document
from engine.openraster import OraGroup, OraLayer


def solid(h, w, color, alpha=255):
    a = np.empty((h, w, 4), np.uint8)
    a[..., :3] = color
    a[..., 3] = alpha
    return a


def pixel(nodes, size=(4, 4), at=(1, 1)):
    return tuple(int(v) for v in ora.flatten(nodes, size)[at[1], at[0]])


BACK = (200, 100, 50)


@pytest.mark.parametrize("op, expected", [
    ("svg:src-over", (128, 255, 0)),
    ("svg:multiply", (100, 100, 0)),                         # b * s
    ("svg:screen", (228, 255, 50)),                          # b + s - b * s
    ("svg:darken", (128, 100, 0)),
    ("svg:lighten", (200, 255, 50)),
    ("svg:overlay", (201, 200, 0)),                          # hard-light with the layers swapped
    ("svg:difference", (72, 155, 50)),
    ("svg:plus", (255, 255, 50)),
])
def test_blend_modes_follow_w3c_compositing(op, expected):
    got = pixel([OraLayer("back", solid(4, 4, BACK)), OraLayer("top", solid(4, 4, (128, 255, 0)), composite_op=op)])
    assert np.abs(np.array(got[:3]) - expected).max() <= 1 and got[3] == 255, (op, got)


def test_half_opaque_multiply_and_porter_duff_erasers():
    half = [OraLayer("back", solid(4, 4, BACK)),
            OraLayer("top", solid(4, 4, (0, 0, 0)), opacity=0.5, composite_op="svg:multiply")]
    assert pixel(half)[:3] == (100, 50, 25)
    hole = solid(2, 2, (0, 0, 0))
    erased = [OraLayer("back", solid(4, 4, BACK)), OraLayer("cut", hole, x=1, y=1, composite_op="svg:dst-out")]
    assert pixel(erased)[3] == 0 and pixel(erased, at=(0, 0)) == (*BACK, 255)
    kept = [OraLayer("back", solid(4, 4, BACK)), OraLayer("keep", hole, x=1, y=1, composite_op="svg:dst-in")]
    assert pixel(kept) == (*BACK, 255) and pixel(kept, at=(0, 0))[3] == 0  # dst-in clears outside the layer


def test_group_isolation():
    grey = OraLayer("grey", solid(4, 4, (128, 128, 128)), composite_op="svg:multiply")
    red = OraLayer("red", solid(4, 4, (255, 0, 0)))
    # Isolated, the multiply meets the group's empty backdrop and shows as plain grey over the red.
    assert pixel([red, OraGroup("g", [grey])])[:3] == (128, 128, 128)
    # Pass-through ("auto" with nothing forcing isolation): the multiply reaches the red below.
    assert pixel([red, OraGroup("g", [grey], isolation="auto")])[:3] == (128, 0, 0)
    # "auto" is isolated anyway when the group's opacity or operator would act on each child.
    assert pixel([red, OraGroup("g", [grey], opacity=0.999, isolation="auto")])[:3] == (128, 128, 128)


def test_non_separable_modes_keep_the_backdrops_luminosity():
    def lum(c):
        return 0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2]

    for op in ("svg:hue", "svg:saturation", "svg:color"):
        got = pixel([OraLayer("back", solid(4, 4, BACK)), OraLayer("top", solid(4, 4, (20, 60, 220)), composite_op=op)])
        assert abs(lum(got) - lum(BACK)) <= 1.5, op
    got = pixel([OraLayer("back", solid(4, 4, BACK)), OraLayer("top", solid(4, 4, (90, 90, 90)), composite_op="svg:luminosity")])
    assert abs(lum(got) - 90) <= 1.5


# -- another program's file ------------------------------------------------------------------------------------
def gimp_like(path):
    """Paper, a hidden sketch, a group (multiply shade and a label, with an offset), and a pasted object on top."""
    paper = solid(40, 60, (240, 230, 210))
    stack = [
        OraLayer("paper", paper),
        OraLayer("sketch", solid(10, 10, (0, 0, 255)), visible=False),
        OraGroup("shading", [OraLayer("shade", solid(20, 30, (128, 128, 128)), x=5, y=5, composite_op="svg:multiply"),
                             OraLayer("label", solid(3, 3, (255, 0, 0)), x=40, y=30)], isolation="auto"),
        OraLayer("weird", solid(2, 2, (0, 255, 0)), x=58, y=38, composite_op="krita:burn"),
        OraLayer("object", solid(8, 8, (10, 200, 30)), x=20, y=15),
    ]
    ora.save_ora(path, stack, {}, (60, 40))
    return stack


def test_foreign_file_renders_its_blend_modes_and_says_what_was_merged(tmp_path):
    gimp_like(tmp_path / "gimp.ora")
    doc = Document()
    message = document_io.load_project(doc, tmp_path / "gimp.ora")
    assert doc.fg_name == "object" and doc.fg_size == (8, 8)
    # The pass-through group's multiply shade darkens the paper instead of covering it with grey.
    assert np.abs(doc.background[10, 10].astype(int) - (120, 115, 105)).max() <= 1
    assert tuple(doc.background[0, 0]) == (240, 230, 210)
    for words in ("5 layers in 1 group (1 hidden) merged into the background", "blend modes multiply",
                  "krita:burn drawn as normal", "'object' is the foreground", "Saving keeps these layers"):
        assert words in message, message


def test_saving_keeps_the_foreign_layers(tmp_path):
    gimp_like(tmp_path / "gimp.ora")
    doc = Document()
    document_io.load_project(doc, tmp_path / "gimp.ora")
    background = doc.background.copy()
    document_io.save_project(doc, tmp_path / "again.ora")
    saved = ora.load_ora(tmp_path / "again.ora")
    assert [node.name for node in saved.stack] == ["paper", "sketch", "shading", "weird", "object"]
    assert saved.stack[1].visible is False and isinstance(saved.stack[2], OraGroup)
    assert saved.stack[2].isolation == "auto"
    assert [la.composite_op for la in saved.stack[2].children] == ["svg:multiply", "svg:src-over"]
    assert saved.stack[3].composite_op == "krita:burn"
    # Reopened here, it is the editor's own file: the same picture, no merge report.
    other = Document()
    assert document_io.load_project(other, tmp_path / "again.ora") == "Opened again.ora."
    assert np.array_equal(other.background, background) and other.fg_name == "object"
    assert other.kept_layers is not None
    # A new background replaces the kept layers (the background was their render).
    other.set_background(np.zeros((40, 60, 3), np.uint8), "black.png")
    document_io.save_project(other, tmp_path / "replaced.ora")
    assert [n.name for n in ora.load_ora(tmp_path / "replaced.ora").stack] == ["black.png", "object"]
    other.undo()
    assert other.kept_layers is not None


def test_hidden_top_layers_and_a_blended_top_layer_stay_in_the_background(tmp_path):
    stack = [OraLayer("paper", solid(10, 10, (200, 200, 200))),
             OraLayer("tint", solid(10, 10, (255, 0, 0)), composite_op="svg:multiply"),
             OraLayer("notes", solid(10, 10, (0, 0, 0)), visible=False)]
    ora.save_ora(tmp_path / "t.ora", stack, {}, (10, 10))
    doc = Document()
    message = document_io.load_project(doc, tmp_path / "t.ora")
    assert doc.foreground is None and tuple(doc.background[5, 5]) == (200, 0, 0)
    assert "3 layers (1 hidden) merged" in message and "foreground" not in message


# -- the editor's own file after Krita ---------------------------------------------------------------------------
def krita_resave(src, dst):
    """What Krita 5 does to our file: the extras go, stack.xml is rewritten in its own style (root stack
    named, attributes reordered, opacity printed with six decimals, sources renamed) and the layers kept."""
    with zipfile.ZipFile(src) as zf:
        root = ET.fromstring(zf.read("stack.xml"))
        data = {name: zf.read(name) for name in zf.namelist() if name.startswith("data/")}
    image = ET.Element("image", {"version": "0.0.1", "h": root.get("h"), "w": root.get("w"), "xres": "72", "yres": "72"})
    stack = ET.SubElement(image, "stack", {"name": "root", "opacity": "1", "visibility": "visible"})
    renamed = {}
    for i, layer in enumerate(root.find("stack")):
        src = f"data/layer{i + 1}.png"
        renamed[src] = data[layer.get("src")]
        ET.SubElement(stack, "layer", {
            "composite-op": layer.get("composite-op"), "name": layer.get("name"),
            "opacity": f"{float(layer.get('opacity')):.6f}", "selected": "true" if i == 0 else "false",
            "src": src, "visibility": layer.get("visibility"), "x": layer.get("x"), "y": layer.get("y")})
    with zipfile.ZipFile(dst, "w") as zf:
        zf.writestr("mimetype", "image/openraster", zipfile.ZIP_STORED)
        zf.writestr("stack.xml", b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(image))
        for name, payload in renamed.items():
            zf.writestr(name, payload)
        zf.writestr("documentinfo.xml", "<document-info/>")
    with zipfile.ZipFile(dst) as zf:
        assert not [n for n in zf.namelist() if n.startswith("harmonizer/")]


@pytest.fixture
def harmonized(tmp_path):
    doc = Document()
    y, x = np.mgrid[0:60, 0:80]
    doc.load(np.dstack([x * 3, y * 4, np.full_like(x, 90)]).astype(np.uint8), bg_name="beach.jpg")
    fg = np.full((20, 24, 3), (230, 200, 40), np.uint8)
    alpha = np.zeros((20, 24), np.uint8)
    alpha[2:18, 2:22] = 255
    doc.set_foreground(fg, alpha, "surfer.png")
    doc.set_transform(doc.transform.replaced(cx=30.0, cy=25.0))
    doc.set_opacity(0.8)
    result = doc.composite().copy()
    result[doc.composite_mask() > 0] = (180, 150, 90)
    doc.set_result(result, doc.revision)
    doc.set_strength(0.6)
    path = document_io.save_project(doc, tmp_path / "mine.ora")
    return doc, path


def test_own_project_resaved_by_krita_is_recognised(harmonized, tmp_path):
    doc, path = harmonized
    krita_resave(path, tmp_path / "krita.ora")
    other = Document()
    message = document_io.load_project(other, tmp_path / "krita.ora")
    assert "re-saved by another program" in message and "transparency is the mask" in message
    assert other.fg_name == "surfer.png" and other.bg_name == "beach.jpg"  # not the Harmonized layer
    assert np.array_equal(other.background, doc.background)
    assert other.opacity == pytest.approx(0.8) and other.strength == pytest.approx(0.6)
    assert other.result is not None and np.array_equal(other.result, doc.result)
    assert np.abs(other.composite().astype(int) - doc.composite()).max() <= 1
    assert np.abs(other.flattened().astype(int) - doc.flattened()).max() <= 1
    # Saving here writes the editor's data again, and no foreign layers were invented.
    document_io.save_project(other, tmp_path / "back.ora")
    assert [n.name for n in ora.load_ora(tmp_path / "back.ora").stack] == ["beach.jpg", "surfer.png", "Harmonized"]


def test_a_layer_named_harmonized_needs_the_editors_layout(tmp_path):
    # Two layers only: there is no placed foreground under it, so it is an ordinary foreign file.
    ora.save_ora(tmp_path / "two.ora", [OraLayer("paper", solid(8, 8, (9, 9, 9))),
                                         OraLayer("Harmonized", solid(4, 4, (1, 2, 3)))], {}, (8, 8))
    doc = Document()
    message = document_io.load_project(doc, tmp_path / "two.ora")
    assert doc.fg_name == "Harmonized" and re.search(r"1 layer merged", message)
