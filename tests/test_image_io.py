"""Image reading and writing: every input kind becomes RGB uint8, failures are one clear line."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from engine import image_io
from engine.errors import ImageReadError, ImageWriteError
from engine.image_io import read_image, read_mask, write_image


def gradient(h=24, w=32):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], -1).astype(np.uint8)


def test_rgb_png_roundtrip_and_non_ascii_path(tmp_path):
    rgb = gradient()
    path = tmp_path / "ça_va_日本.png"
    write_image(path, rgb)
    got, alpha = read_image(path)
    assert got.dtype == np.uint8 and got.shape == (24, 32, 3) and alpha is None
    np.testing.assert_array_equal(got, rgb)


def test_grayscale_8_and_16_bit(tmp_path):
    gray = np.arange(24 * 32, dtype=np.uint16).reshape(24, 32) % 256
    Image.fromarray(gray.astype(np.uint8), "L").save(tmp_path / "g8.png")
    got, _ = read_image(tmp_path / "g8.png")
    assert got.shape == (24, 32, 3)
    np.testing.assert_array_equal(got[..., 0], gray)
    np.testing.assert_array_equal(got[..., 2], gray)

    g16 = (gray.astype(np.uint32) * 257).astype(np.uint16)  # 255 -> 65535
    Image.fromarray(g16).save(tmp_path / "g16.png")
    got16, _ = read_image(tmp_path / "g16.png")
    assert got16.dtype == np.uint8
    np.testing.assert_array_equal(got16[..., 1], gray)  # scaled, not clipped to 255


def test_16_bit_tiff_gray(tmp_path):
    g16 = np.full((8, 8), 32768, np.uint16)
    Image.fromarray(g16).save(tmp_path / "g.tif")  # uint16 -> mode I;16
    got, _ = read_image(tmp_path / "g.tif")
    assert got.shape == (8, 8, 3) and abs(int(got[0, 0, 0]) - 128) <= 1


def test_palette_with_and_without_transparency(tmp_path):
    rgb = gradient()
    pal = Image.fromarray(rgb).quantize(16)
    pal.save(tmp_path / "p.png")
    got, alpha = read_image(tmp_path / "p.png")
    assert got.shape == (24, 32, 3) and alpha is None
    np.testing.assert_array_equal(got, np.asarray(pal.convert("RGB")))
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pt.png", transparency=0)
    got, alpha = read_image(tmp_path / "pt.png")
    assert alpha is not None and alpha.shape == (24, 32) and alpha.min() == 0


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 12), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)  # pure red
    got, alpha = read_image(tmp_path / "c.jpg")
    assert got.shape == (12, 16, 3) and alpha is None
    r, g, b = got[6, 8].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_rgba_and_la_give_alpha(tmp_path):
    rgba = np.dstack([gradient(), np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1))])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    got, alpha = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(got, rgba[..., :3])
    np.testing.assert_array_equal(alpha, rgba[..., 3])
    la = Image.merge("LA", [Image.new("L", (10, 10), 90), Image.new("L", (10, 10), 7)])
    la.save(tmp_path / "la.png")
    got, alpha = read_image(tmp_path / "la.png")
    assert got.shape == (10, 10, 3) and (got == 90).all() and (alpha == 7).all()
    # an opaque alpha channel is no information and is dropped
    Image.new("RGBA", (4, 4), (1, 2, 3, 255)).save(tmp_path / "opaque.png")
    assert read_image(tmp_path / "opaque.png")[1] is None


def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:, :10] = 255  # left half white
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    got, _ = read_image(tmp_path / "rot.jpg")
    assert got.shape == (20, 10, 3)
    assert got[2, 5].mean() > 200 and got[17, 5].mean() < 50  # white ends up on top


def test_missing_truncated_and_non_image_files(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageReadError, match="text.png: not an image"):
        read_image(tmp_path / "text.png")
    write_image(tmp_path / "full.jpg", gradient(64, 64))
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cut.jpg") as info:
        read_image(tmp_path / "cut.jpg")
    assert "\n" not in str(info.value)
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_decompression_bomb_is_an_error(tmp_path, monkeypatch):
    write_image(tmp_path / "big.png", gradient(64, 64))
    monkeypatch.setattr(image_io, "MAX_PIXELS", 1000)
    with pytest.raises(ImageReadError, match="megapixels|too large"):
        read_image(tmp_path / "big.png")
    monkeypatch.setattr(image_io, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's own check fires first
    with pytest.raises(ImageReadError, match="decompression bomb"):
        read_image(tmp_path / "big.png")


def test_read_mask_levels_alpha_16_bit_and_resize(tmp_path):
    m = np.zeros((12, 16), np.uint8)
    m[3:9, 4:12] = 255
    m[0, 0] = 128
    Image.fromarray(m).save(tmp_path / "m.png")
    got = read_mask(tmp_path / "m.png")
    assert got.dtype == np.float32 and got.shape == (12, 16)
    assert got[5, 5] == 1.0 and got[10, 1] == 0.0 and abs(got[0, 0] - 128 / 255) < 1e-6

    # A cut-out: uniform colour, the shape in the alpha channel.
    Image.fromarray(np.dstack([np.full((12, 16, 3), 200, np.uint8), m]), "RGBA").save(tmp_path / "cut.png")
    np.testing.assert_allclose(read_mask(tmp_path / "cut.png"), m / 255.0, atol=1e-6)
    # A painted mask with an opaque alpha channel: the levels are the mask.
    Image.fromarray(np.dstack([m, m, m, np.full_like(m, 255)]), "RGBA").save(tmp_path / "paint.png")
    np.testing.assert_allclose(read_mask(tmp_path / "paint.png"), m / 255.0, atol=1e-6)

    Image.fromarray((m.astype(np.uint16) * 257)).save(tmp_path / "m16.png")
    m16 = read_mask(tmp_path / "m16.png")
    assert m16.max() == 1.0 and m16.min() == 0.0

    with pytest.warns(UserWarning, match="resized"):
        big = read_mask(tmp_path / "m.png", size=(32, 24))
    assert big.shape == (24, 32) and 0 <= big.min() and big.max() <= 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_mask(tmp_path / "m.png", size=(16, 12))  # same size: no warning


@pytest.mark.parametrize("ext", ["png", "jpg", "jpeg", "webp", "tif", "tiff"])
def test_write_formats(tmp_path, ext):
    rgb = gradient()
    path = write_image(tmp_path / f"out.{ext}", rgb, quality=95)
    got, _ = read_image(path)
    assert got.shape == rgb.shape
    if ext in ("png", "tif", "tiff"):
        np.testing.assert_array_equal(got, rgb)
    else:
        assert np.abs(got.astype(int) - rgb).mean() < 4
    assert [p.name for p in tmp_path.iterdir()] == [f"out.{ext}"]  # no temp file left behind


def test_jpeg_quality_and_subsampling(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    write_image(tmp_path / "hi.jpg", rgb, quality=95)
    write_image(tmp_path / "lo.jpg", rgb, quality=30)
    assert (tmp_path / "lo.jpg").stat().st_size < (tmp_path / "hi.jpg").stat().st_size
    from PIL import JpegImagePlugin

    with Image.open(tmp_path / "hi.jpg") as im:
        assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4


def test_write_alpha_and_errors(tmp_path):
    rgb = gradient()
    alpha = np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1))
    for ext in ("png", "webp", "tif"):
        write_image(tmp_path / f"a.{ext}", rgb, alpha=alpha)
        _, got = read_image(tmp_path / f"a.{ext}")
        np.testing.assert_array_equal(got, alpha)
    with pytest.raises(ImageWriteError, match="alpha"):
        write_image(tmp_path / "a.jpg", rgb, alpha=alpha)
    with pytest.raises(ImageWriteError, match="unknown format"):
        write_image(tmp_path / "a.xyz", rgb)
    with pytest.raises(ImageWriteError, match="uint8"):
        write_image(tmp_path / "a.png", rgb.astype(np.float32))


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    write_image(path, gradient())
    before = path.read_bytes()

    def boom(fd):  # the disk fills while the encoded bytes reach it
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", boom)
    with pytest.raises(ImageWriteError, match="No space left"):
        write_image(path, np.zeros((24, 32, 3), np.uint8))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_high_quality_jpeg_of_noisy_content_writes(tmp_path):
    # Pillow's optimized encoder fails on noise at full chroma; the writer must still produce the file.
    rgb = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    out = write_image(tmp_path / "noise.jpg", rgb, quality=95)
    back, _ = read_image(out)
    assert back.shape == rgb.shape


def test_written_files_get_umask_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        out = write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


# -- colour management, EXIF and 16 bits (issue 9, item 11) ----------------------------------------------
def _tagged(path, rgb, profile, **kwargs):
    Image.fromarray(rgb).save(path, icc_profile=profile, **kwargs)
    return path


def test_embedded_profile_is_converted_to_srgb(tmp_path):
    from icc_profiles import SRGB, rgb_profile

    # A profile whose "red" is sRGB's green: only a real conversion turns the red pixels green.
    swapped = rgb_profile("Swapped primaries", (SRGB[1], SRGB[0], SRGB[2]), 2.2)
    red = np.zeros((6, 8, 3), np.uint8)
    red[..., 0] = 255
    for ext in ("png", "jpg", "tif", "webp"):
        picture = image_io.read_picture(_tagged(tmp_path / f"s.{ext}", red, swapped))
        assert np.abs(picture.rgb[2, 3].astype(int) - (0, 255, 0)).max() <= 3, ext
        assert picture.notes == ["converted from Swapped primaries to sRGB"]


def test_adobe_rgb_and_display_p3_become_more_saturated_srgb(tmp_path):
    from icc_profiles import ADOBE_RGB, DISPLAY_P3, rgb_profile

    green = np.full((4, 4, 3), (60, 180, 60), np.uint8)
    for name, colorants in (("Adobe RGB (1998)", ADOBE_RGB), ("Display P3", DISPLAY_P3)):
        rgb, _ = read_image(_tagged(tmp_path / "w.png", green, rgb_profile(name, colorants)))
        r, g, b = rgb[0, 0].astype(int)
        # A wider gamut: the same numbers mean a purer green, so sRGB needs less red and blue for it.
        assert r < 50 and b < 55 and 175 <= g <= 190, (name, rgb[0, 0])


def test_srgb_tagged_and_untagged_pictures_are_untouched(tmp_path):
    from engine.color_profile import srgb_icc

    rgb = gradient()
    for path in (tmp_path / "plain.png", _tagged(tmp_path / "srgb.png", rgb, srgb_icc())):
        if not path.exists():
            Image.fromarray(rgb).save(path)
        picture = image_io.read_picture(path)
        assert np.array_equal(picture.rgb, rgb) and picture.notes == []


def test_damaged_or_oversized_profile_is_ignored_with_a_note(tmp_path, monkeypatch, caplog):
    from icc_profiles import rgb_profile

    rgb = gradient()
    broken = rgb_profile("Broken")[:100] + b"\xff" * 40
    picture = image_io.read_picture(_tagged(tmp_path / "b.png", rgb, broken))
    assert np.array_equal(picture.rgb, rgb)
    assert len(picture.notes) == 1 and "colour profile is damaged" in picture.notes[0]
    monkeypatch.setattr("engine.color_profile.MAX_ICC_BYTES", 100)
    picture = image_io.read_picture(_tagged(tmp_path / "big.png", rgb, rgb_profile("Big")))
    assert np.array_equal(picture.rgb, rgb) and "above the 100 byte limit" in picture.notes[0]
    assert "colours are used as they are" in caplog.text


def test_exports_embed_srgb_and_jpeg_keeps_the_exif_upright(tmp_path):
    from engine.color_profile import srgb_icc

    img = Image.fromarray(gradient(24, 32))
    exif = img.getexif()
    exif[0x0112] = 6
    exif[0x010F] = "Harmonizer Camera"
    img.save(tmp_path / "cam.jpg", exif=exif, quality=95)
    picture = image_io.read_picture(tmp_path / "cam.jpg")
    assert picture.rgb.shape == (32, 24, 3)  # turned upright on reading
    for ext in ("jpg", "png", "webp", "tif"):
        out = write_image(tmp_path / f"out.{ext}", picture.rgb, exif=picture.exif)
        with Image.open(out) as got:
            assert got.info.get("icc_profile") == srgb_icc(), ext
            if ext == "jpg":
                kept = got.getexif()
                assert kept[0x010F] == "Harmonizer Camera" and kept[0x0112] == 1
                assert got.size == (24, 32)  # a viewer applying the orientation would not turn it again


def test_exif_orientations_match_pillows(tmp_path):
    from PIL import ImageOps

    rgb = gradient(6, 10)
    for orientation in range(1, 9):
        img = Image.fromarray(rgb)
        exif = img.getexif()
        exif[0x0112] = orientation
        img.save(tmp_path / "o.png", exif=exif)
        got, _ = read_image(tmp_path / "o.png")
        with Image.open(tmp_path / "o.png") as src:
            want = np.asarray(ImageOps.exif_transpose(src).convert("RGB"))
        assert np.array_equal(got, want), orientation


def test_damaged_exif_is_ignored(tmp_path, monkeypatch):
    rgb = gradient()
    Image.fromarray(rgb).save(tmp_path / "e.jpg", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x01" * 30,
                              quality=95)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's own "Corrupt EXIF data"
        picture = image_io.read_picture(tmp_path / "e.jpg")
        assert picture.rgb.shape == rgb.shape
        # Whatever Pillow's parser raises on a crafted block costs the EXIF, never the picture.
        monkeypatch.setattr(Image.Exif, "tobytes", lambda self, offset=8: (_ for _ in ()).throw(IndexError("crafted")))
        picture = image_io.read_picture(tmp_path / "e.jpg")
    assert picture.rgb.shape == rgb.shape and picture.exif is None
    assert picture.notes == ["ignored its damaged EXIF (crafted)"]


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_sixteen_bit_rgb_is_kept_and_written_back(tmp_path, ext):
    import cv2

    rng = np.random.default_rng(3)
    rgb16 = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / f"in.{ext}"), rgb16[..., ::-1])
    picture = image_io.read_picture(tmp_path / f"in.{ext}")
    assert np.array_equal(picture.rgb16, rgb16)
    assert np.abs(picture.rgb.astype(int) - rgb16 / 257.0).max() <= 0.5 + 1e-6  # rounded, not truncated
    out = write_image(tmp_path / f"out.{ext}", picture.rgb, rgb16=picture.rgb16)
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and np.array_equal(back[..., ::-1], rgb16)
    if ext == "png":
        with Image.open(out) as img:
            assert img.info.get("icc_profile")  # says sRGB like every other export
    jpg = write_image(tmp_path / "out.jpg", picture.rgb, rgb16=picture.rgb16)  # JPEG has 8 bits: rgb16 unused
    assert read_image(jpg)[0].shape == (20, 30, 3)


def test_sixteen_bit_with_a_wide_profile_is_converted_at_8_bits(tmp_path):
    import struct
    import zlib

    import cv2
    from icc_profiles import rgb_profile

    ok, data = cv2.imencode(".png", np.full((4, 4, 3), 30000, np.uint16))
    body = b"wide\x00\x00" + zlib.compress(rgb_profile("Adobe RGB (1998)"))
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    raw = data.tobytes()
    (tmp_path / "w.png").write_bytes(raw[:33] + chunk + raw[33:])
    picture = image_io.read_picture(tmp_path / "w.png")
    # Pillow's LittleCMS binding converts 8-bit pixels only: converted colours beat unconverted 16 bits.
    assert picture.rgb16 is None
    assert picture.notes == ["converted from Adobe RGB (1998) to sRGB", "colour-converted at 8 bits, so exports are 8-bit"]


# -- throughput (issue 11, item 4): faster coding, the same pixels ----------------------------------------
def test_jpeg_read_path_keeps_its_pixels_with_an_exif_orientation_and_an_icc_profile(tmp_path):
    """The faster read path gives exactly the pixels of the plain recipe: Pillow decodes, LittleCMS
    converts the embedded profile to sRGB, numpy turns the picture upright."""
    from PIL import ImageCms

    from icc_profiles import ADOBE_RGB, rgb_profile

    profile = rgb_profile("Adobe RGB (1998)", ADOBE_RGB)
    rng = np.random.default_rng(3)
    rgb = np.clip(gradient(56, 40).astype(int) + rng.integers(-9, 9, (56, 40, 3)), 0, 255).astype(np.uint8)
    upright = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
               5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
               7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: np.rot90(a, 1)}
    for orientation, turn in upright.items():
        img = Image.fromarray(rgb)
        exif = img.getexif()
        exif[0x0112] = orientation
        path = tmp_path / f"o{orientation}.jpg"
        img.save(path, quality=90, exif=exif, icc_profile=profile)
        with Image.open(path) as src:
            srgb = ImageCms.profileToProfile(src, ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                             ImageCms.createProfile("sRGB"), outputMode="RGB")
        picture = image_io.read_picture(path)
        assert picture.notes == ["converted from Adobe RGB (1998) to sRGB"]
        assert np.array_equal(picture.rgb, turn(np.asarray(srgb))), orientation


def _scan(data: bytes) -> bytes:
    """A JPEG's Huffman tables and entropy-coded data, from its first DHT marker on."""
    return data[data.index(b"\xff\xc4"):]


def test_jpeg_is_written_by_libjpeg_turbo_in_one_pass(tmp_path):
    """No optimised-Huffman second pass: the scan is exactly libjpeg-turbo's plain encoding (OpenCV's
    encoder, the same library with the same settings, writes the same bytes)."""
    import cv2

    rgb = np.clip(gradient(48, 64).astype(int) + np.random.default_rng(1).integers(-20, 20, (48, 64, 3)),
                  0, 255).astype(np.uint8)
    for quality, sampling in ((95, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444), (80, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420)):
        ours = write_image(tmp_path / "q.jpg", rgb, quality=quality).read_bytes()
        ok, plain = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality,
                                                          cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling])
        assert ok and _scan(ours) == _scan(plain.tobytes()), quality


def test_png_is_written_at_the_fastest_zlib_level(tmp_path):
    import struct

    data = write_image(tmp_path / "p.png", gradient()).read_bytes()
    at = 8
    while data[at + 4:at + 8] != b"IDAT":
        at += 12 + struct.unpack(">I", data[at:at + 4])[0]
    flevel = data[at + 9] >> 6  # the zlib header's second byte: 0 = the fastest level
    assert flevel == 0 and image_io.PNG_LEVEL == 1
