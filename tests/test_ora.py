"""OpenRaster projects: exact round trips, the layout other programs expect, files from Krita/GIMP,
the batch loader, one-line errors for damaged files, and atomic writes."""
from __future__ import annotations

import errno
import io
import zipfile
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from engine.errors import ImageReadError, ImageWriteError, MaskError
from engine import openraster as ora
from engine.openraster import OraLayer


def rgba(seed, h, w):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)


def solid(h, w, color, alpha=255):
    a = np.empty((h, w, 4), np.uint8)
    a[..., :3] = color
    a[..., 3] = alpha
    return a


def png(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def layers():
    return [
        OraLayer("background", rgba(1, 30, 40)),
        OraLayer("foreground – ünïcode", rgba(2, 12, 9), x=-3, y=25, opacity=0.45),
        OraLayer("hidden", rgba(3, 50, 60), x=5, y=-7, visible=False),
    ]


def test_round_trip_is_exact(tmp_path, layers):
    extras = {ora.DOCUMENT_ENTRY: b'{"version": 1}', ora.COMPOSITE_MASK_ENTRY: png(np.full((30, 40), 7, np.uint8))}
    path = tmp_path / "проект 調和.ora"
    ora.save_ora(path, layers, extras, (40, 30))
    project = ora.load_ora(path)
    assert project.size == (40, 30)
    assert project.extras == extras
    assert len(project.layers) == len(layers)
    for got, want in zip(project.layers, layers):
        assert (got.name, got.x, got.y, got.opacity, got.visible) == (want.name, want.x, want.y, want.opacity, want.visible)
        assert got.rgba.dtype == np.uint8 and np.array_equal(got.rgba, want.rgba)


def test_layout_other_programs_expect(tmp_path, layers):
    path = tmp_path / "a.ora"
    ora.save_ora(path, layers, {}, (40, 30))
    raw = path.read_bytes()
    # Tools sniff the type at a fixed offset: the first local header (30 bytes) then the name and data.
    assert raw[:4] == b"PK\x03\x04" and raw[30:38] == b"mimetype" and raw[38:54] == b"image/openraster"
    with zipfile.ZipFile(path) as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        names = set(zf.namelist())
        assert {"stack.xml", "mergedimage.png", "Thumbnails/thumbnail.png"} <= names
        root = ET.fromstring(zf.read("stack.xml"))
    assert root.get("w") == "40" and root.get("h") == "30"
    listed = [el.get("name") for el in root.find("stack")]
    assert listed == ["hidden", "foreground – ünïcode", "background"]  # top first
    assert [el.get("visibility") for el in root.find("stack")] == ["hidden", "visible", "visible"]
    for el in root.find("stack"):
        assert el.get("src") in names


def test_merged_image_and_thumbnail(tmp_path):
    layers = [
        OraLayer("red", solid(300, 600, (255, 0, 0))),
        OraLayer("blue", solid(100, 100, (0, 0, 255)), x=550, y=250, opacity=0.5),  # hangs off the corner
        OraLayer("green", solid(300, 600, (0, 255, 0)), visible=False),
        OraLayer("half", solid(10, 10, (255, 255, 255), alpha=0), x=0, y=0),  # fully transparent
    ]
    path = tmp_path / "m.ora"
    ora.save_ora(path, layers, {}, (600, 300))
    with zipfile.ZipFile(path) as zf:
        merged = np.asarray(Image.open(io.BytesIO(zf.read("mergedimage.png"))).convert("RGBA"))
        thumb = Image.open(io.BytesIO(zf.read("Thumbnails/thumbnail.png")))
    assert merged.shape == (300, 600, 4)
    assert tuple(merged[0, 0]) == (255, 0, 0, 255)
    assert tuple(merged[299, 599]) == (128, 0, 128, 255)
    assert tuple(merged[249, 599]) == (255, 0, 0, 255) and tuple(merged[299, 549]) == (255, 0, 0, 255)
    assert max(thumb.size) == 256 and thumb.size == (256, 128)


def test_merge_over_transparency_keeps_straight_colour():
    layers = [OraLayer("a", solid(4, 4, (200, 100, 50), alpha=128)), OraLayer("b", solid(2, 2, (0, 0, 0), alpha=0))]
    out = ora.flatten(layers, (4, 4))
    assert tuple(out[0, 0]) == (200, 100, 50, 128)


def krita_like(path, extra_entries=None):
    """A file the way Krita writes one: cropped layers with offsets, a group, attributes left out."""
    bg = solid(40, 50, (20, 40, 200))
    fg = np.zeros((10, 12, 4), np.uint8)
    fg[..., :3] = (250, 200, 0)
    fg[2:8, 3:9, 3] = 255
    fg[0, 0, 3] = 100
    shade = solid(5, 5, (0, 0, 0), alpha=255)
    stack = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<image w="50" h="40" version="0.0.1" xres="72" yres="72"><stack name="root">'
        '<text name="ignored words"/>'
        '<stack name="group" x="2" y="1" visibility="visible">'
        '<layer name="fg" src="data/layer2.png" x="10" y="20" composite-op="svg:src-over"/>'
        '<layer name="shade" src="data/layer3.png" x="0" y="0" opacity="0.5" visibility="hidden"/>'
        '</stack>'
        '<layer name="vector" src="data/layer9.svg"/>'
        '<layer name="Background" src="data/layer1.png" opacity="1.000000"/>'
        '</stack></image>'
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster", zipfile.ZIP_STORED)
        zf.writestr("stack.xml", stack, zipfile.ZIP_DEFLATED)
        zf.writestr("data/layer1.png", png(bg))
        zf.writestr("data/layer2.png", png(fg))
        zf.writestr("data/layer3.png", png(shade))
        zf.writestr("data/layer9.svg", "<svg/>")
        zf.writestr("documentinfo.xml", "<info/>")
        for name, data in (extra_entries or {}).items():
            zf.writestr(name, data)
    return bg, fg


def test_krita_like_file_loads(tmp_path):
    path = tmp_path / "krita.ora"
    bg, fg = krita_like(path)
    project = ora.load_ora(path)
    assert project.size == (50, 40)
    assert [la.name for la in project.layers] == ["Background", "shade", "fg"]
    back, shade, front = project.layers
    assert (back.x, back.y, back.opacity, back.visible) == (0, 0, 1.0, True)
    assert (front.x, front.y, front.visible) == (12, 21, True)  # group offset added
    assert (shade.x, shade.y, shade.opacity, shade.visible) == (2, 1, 0.5, False)
    assert np.array_equal(front.rgba, fg) and np.array_equal(back.rgba, bg)
    assert "data/layer9.svg" not in project.extras and project.extras == {"documentinfo.xml": b"<info/>"}


def test_load_composite_flattens_a_file_without_our_extras(tmp_path):
    path = tmp_path / "krita.ora"
    bg, fg = krita_like(path)
    rgb, mask = ora.load_composite(path)
    assert rgb.shape == (40, 50, 3) and rgb.dtype == np.uint8
    assert mask.shape == (40, 50) and mask.dtype == np.float32
    expected = np.zeros((40, 50), np.float32)
    expected[21:31, 12:24] = fg[..., 3] / 255.0
    assert np.allclose(mask, expected, atol=1 / 255)
    assert tuple(rgb[0, 0]) == (20, 40, 200)
    assert tuple(rgb[21 + 4, 12 + 5]) == (250, 200, 0)  # inside the opaque foreground
    assert tuple(rgb[21, 12]) == tuple(np.round((np.array([250, 200, 0]) * 100 + np.array([20, 40, 200]) * 155) / 255))


def test_load_composite_prefers_the_editors_extras(tmp_path):
    comp = rgba(5, 40, 50)[..., :3]
    mask = np.zeros((40, 50), np.uint8)
    mask[5:9, 5:9] = 255
    path = tmp_path / "ours.ora"
    krita_like(path, {ora.COMPOSITE_ENTRY: png(comp), ora.COMPOSITE_MASK_ENTRY: png(mask)})
    rgb, got = ora.load_composite(path)
    assert np.array_equal(rgb, comp)
    assert np.array_equal(got, mask.astype(np.float32) / 255.0)


def test_load_composite_needs_a_foreground(tmp_path):
    path = tmp_path / "flat.ora"
    ora.save_ora(path, [OraLayer("only", rgba(1, 8, 8))], {}, (8, 8))
    with pytest.raises(MaskError):
        ora.load_composite(path)


def assert_one_line_read_error(path, loader=ora.load_ora):
    with pytest.raises(ImageReadError) as info:
        loader(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_not_a_zip(tmp_path):
    path = tmp_path / "text.ora"
    path.write_text("hello, I am not a zip")
    assert "not a zip" in assert_one_line_read_error(path)
    assert_one_line_read_error(path, ora.load_composite)
    assert "no such file" in assert_one_line_read_error(tmp_path / "missing.ora")


def test_truncated_file(tmp_path, layers):
    path = tmp_path / "cut.ora"
    ora.save_ora(path, layers, {}, (40, 30))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    assert_one_line_read_error(path)
    assert_one_line_read_error(path, ora.load_composite)


def test_damaged_layer_data(tmp_path, layers):
    path = tmp_path / "bad.ora"
    ora.save_ora(path, layers, {}, (40, 30))
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("data/layer001.png")
    start = info.header_offset + 30 + len(info.filename) + 40  # inside the stored PNG
    raw[start: start + 8] = b"\xff" * 8
    path.write_bytes(bytes(raw))
    assert "damaged" in assert_one_line_read_error(path)


def test_missing_layer_and_missing_stack(tmp_path):
    path = tmp_path / "nolayer.ora"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster", zipfile.ZIP_STORED)
        zf.writestr("stack.xml", '<image w="4" h="4"><stack><layer name="x" src="data/gone.png"/></stack></image>')
    assert "data/gone.png" in assert_one_line_read_error(path)
    path = tmp_path / "nostack.ora"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster", zipfile.ZIP_STORED)
    assert "stack.xml" in assert_one_line_read_error(path)
    path = tmp_path / "krita.kra"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/x-krita", zipfile.ZIP_STORED)
        zf.writestr("stack.xml", "<image/>")
    assert "application/x-krita" in assert_one_line_read_error(path)


def test_bombs_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.ora"
    ora.save_ora(path, [OraLayer("a", rgba(1, 40, 40))], {}, (20, 20))  # the layer is larger than the canvas
    monkeypatch.setattr(ora, "MAX_PIXELS", 1000)  # so only the 40x40 layer counts as a bomb
    assert "layer000.png is 40x40, above" in assert_one_line_read_error(path)
    monkeypatch.setattr(ora, "MAX_PIXELS", 100)
    assert "canvas is 20x20, above" in assert_one_line_read_error(path)
    monkeypatch.setattr(ora, "MAX_ARCHIVE_BYTES", 100)
    assert "limit" in assert_one_line_read_error(path)

    entity = tmp_path / "xml.ora"
    with zipfile.ZipFile(entity, "w") as zf:
        zf.writestr("mimetype", "image/openraster", zipfile.ZIP_STORED)
        zf.writestr("stack.xml", '<!DOCTYPE x [<!ENTITY a "aaaa">]><image w="4" h="4"><stack/></image>')
    assert "entities" in assert_one_line_read_error(entity)


def test_failed_write_leaves_the_old_file(tmp_path, layers, monkeypatch):
    path = tmp_path / "keep.ora"
    ora.save_ora(path, layers, {ora.DOCUMENT_ENTRY: b"old"}, (40, 30))
    before = path.read_bytes()
    calls = []
    real = ora._png_bytes

    def fail_on_second(array, level):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(array, level)

    monkeypatch.setattr(ora, "_png_bytes", fail_on_second)
    with pytest.raises(ImageWriteError) as info:
        ora.save_ora(path, layers, {ora.DOCUMENT_ENTRY: b"new"}, (40, 30))
    assert "No space left" in str(info.value) and "\n" not in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.ora"]  # no temp file left behind
    assert ora.load_ora(path).extras[ora.DOCUMENT_ENTRY] == b"old"


def test_invalid_arguments_are_programming_errors(tmp_path):
    with pytest.raises(ValueError):
        ora.save_ora(tmp_path / "x.ora", [OraLayer("rgb", np.zeros((4, 4, 3), np.uint8))], {}, (4, 4))
    with pytest.raises(ValueError):
        ora.save_ora(tmp_path / "x.ora", [OraLayer("a", rgba(1, 4, 4))], {"stack.xml": b""}, (4, 4))
    assert not (tmp_path / "x.ora").exists()


def test_sixteen_bit_grey_layer_is_scaled(tmp_path):
    grey = np.full((4, 4), 65535, np.uint16)
    grey[0, 0] = 0
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, format="PNG")
    path = tmp_path / "deep.ora"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster", zipfile.ZIP_STORED)
        zf.writestr("stack.xml", '<image w="4" h="4"><stack><layer name="g" src="data/g.png"/></stack></image>')
        zf.writestr("data/g.png", buf.getvalue())
    layer = ora.load_ora(path).layers[0]
    assert tuple(layer.rgba[1, 1]) == (255, 255, 255, 255) and tuple(layer.rgba[0, 0]) == (0, 0, 0, 255)
