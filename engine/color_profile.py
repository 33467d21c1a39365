"""Colour management and metadata for pictures read and written by `image_io`.

Everything the program computes (compositing, the network, exports) assumes sRGB, so a picture tagged with
another ICC profile (Adobe RGB, Display P3, ProPhoto, a CMYK print profile) is converted to sRGB when it is
read, and every export says it is sRGB. EXIF travels from the source to JPEG exports with its orientation
reset, since the pixels are already upright. Metadata never costs the picture: a damaged or oversized
profile or EXIF block is ignored with a note, and the pixels load as they are.
"""
from __future__ import annotations

import functools
import hashlib
import io
import logging
import struct
import zlib

import cv2
import numpy as np
from PIL import Image, ImageCms

log = logging.getLogger(__name__)

# Real display and camera profiles are a few kB, print profiles with big lookup tables up to ~3 MB; a
# larger block is not worth handing to LittleCMS, whose work grows with the tables.
MAX_ICC_BYTES = 8 * 1024**2
# One JPEG APP1 segment holds at most 65533 bytes, so larger EXIF could not be written back anyway.
MAX_EXIF_BYTES = 65_000
ORIENTATION = 0x0112
EXIF_IFD = 0x8769
COLOR_SPACE = 0xA001  # 1 is sRGB; Adobe RGB cameras write 0xFFFF ("uncalibrated")
_CMS_MODES = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB", "L": "RGB"}


@functools.cache
def srgb_icc() -> bytes:
    """The sRGB profile embedded in every export (LittleCMS's built-in one, under 1 kB).

    LittleCMS stamps the creation time into the header, which would make two runs' exports of the same
    picture differ (the batch dialog and `harmonizer batch` must write identical files): the date is
    fixed and the profile ID, an MD5 over the profile with its flags, intent and ID zeroed, recomputed."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[24:36] = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    if any(data[84:100]):
        blank = bytearray(data)
        blank[44:48] = blank[64:68] = bytes(4)
        blank[84:100] = bytes(16)
        data[84:100] = hashlib.md5(bytes(blank)).digest()
    return bytes(data)


def _describe(profile) -> str:
    try:
        return (ImageCms.getProfileDescription(profile) or "").strip() or "an unnamed profile"
    except (ImageCms.PyCMSError, OSError, ValueError):
        return "an unnamed profile"


def to_srgb(img: Image.Image, name: str) -> tuple[Image.Image, str | None]:
    """(the image in sRGB, a note for the user or None). Untagged and sRGB-tagged images pass unchanged."""
    icc = img.info.get("icc_profile")
    if not icc:
        return img, None
    if len(icc) > MAX_ICC_BYTES:
        return img, _ignored(name, f"its colour profile is {len(icc)} bytes, above the {MAX_ICC_BYTES} byte limit")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        return img, _ignored(name, f"its colour profile is damaged ({_first_line(exc)})")
    label = _describe(source)
    if "srgb" in label.lower():
        return img, None
    mode = "RGB" if img.mode == "P" else img.mode
    out_mode = _CMS_MODES.get(mode)
    if out_mode is None:
        return img, _ignored(name, f"colour profiles on {img.mode} pictures are not converted")
    try:
        src = img.convert(mode) if mode != img.mode else img
        converted = ImageCms.profileToProfile(src, source, ImageCms.createProfile("sRGB"), outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        return img, _ignored(name, f"its colour profile cannot be applied ({_first_line(exc)})")
    converted.info = {k: v for k, v in img.info.items() if k != "icc_profile"}
    return converted, f"converted from {label} to sRGB"


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:120]


def _ignored(name: str, reason: str) -> str:
    note = f"{reason}; its colours are used as they are"
    log.warning("%s: %s", name, note)
    return note


def read_exif(img: Image.Image, name: str, converted: bool) -> tuple[bytes | None, int, str | None]:
    """(EXIF to write into JPEG exports or None, the orientation to apply 1..8, a note or None).

    Only an EXIF block proper is kept (JPEG, PNG, WebP): a TIFF's tags describe its own strips."""
    try:
        exif = img.getexif()  # also finds an XMP orientation in PNGs
        orientation = exif.get(ORIENTATION, 1)
        orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
        if not img.info.get("exif"):
            return None, orientation, None
        if ORIENTATION in exif:
            exif[ORIENTATION] = 1
        if converted and COLOR_SPACE in exif.get_ifd(EXIF_IFD):
            exif.get_ifd(EXIF_IFD)[COLOR_SPACE] = 1
        data = exif.tobytes()
    except Exception as exc:  # noqa: BLE001 - Pillow's EXIF parser fails in many ways on crafted blocks
        log.warning("%s: ignored its damaged EXIF (%s)", name, _first_line(exc))
        return None, 1, f"ignored its damaged EXIF ({_first_line(exc)})"
    if len(data) > MAX_EXIF_BYTES:
        log.warning("%s: EXIF of %d bytes not kept", name, len(data))
        return None, orientation, f"its EXIF ({len(data)} bytes) is too large to keep in exports"
    return data, orientation, None


def orient(array: np.ndarray | None, orientation: int) -> np.ndarray | None:
    """Turn pixels (H x W or H x W x C, C <= 4) upright for an EXIF orientation, as a camera meant them.

    OpenCV's flips and turns move the same pixels as numpy's views made contiguous, about 4x faster on
    a 12 MP photo taken upright (numpy's copy of a turned view walks memory across the rows)."""
    if array is None or orientation == 1:
        return array
    turned = {
        2: lambda a: cv2.flip(a, 1), 3: lambda a: cv2.flip(a, -1), 4: lambda a: cv2.flip(a, 0),
        5: cv2.transpose, 6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
        7: lambda a: cv2.transpose(cv2.flip(a, -1)), 8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
    }[orientation](np.ascontiguousarray(array))
    return turned.reshape(turned.shape[:2] + array.shape[2:])


def png_with_srgb(data: bytes) -> bytes:
    """Insert an iCCP chunk with the sRGB profile right after IHDR (where PNG requires it) into PNG
    bytes that an encoder without profile support (OpenCV's, for 16 bits) wrote."""
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length and type, its 13 bytes, its CRC
    body = b"sRGB\x00\x00" + zlib.compress(srgb_icc())  # name, NUL, compression method 0
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    return data[:ihdr_end] + chunk + data[ihdr_end:]
