"""Reading and writing images with Pillow; every failure is one line that names the file."""
from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from engine import color_profile
from engine.atomic import atomic_write_bytes
from engine.errors import ImageReadError, ImageWriteError, MaskError

log = logging.getLogger(__name__)

# Far above any camera (a 100 MP medium format is 11648 x 8736) yet below what would exhaust memory
# once converted to float32 for processing.
MAX_PIXELS = 200_000_000
READ_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
HIGH_DEPTH_FORMATS = {"PNG", "TIFF"}  # written at 16 bits per channel when the source had them
LOSSY_FORMATS = {"JPEG", "WEBP"}  # the ones a quality setting applies to


def write_format(path) -> str | None:
    """The format a file of this name is written in ("PNG", "JPEG", ...), None when we cannot write it."""
    return WRITE_FORMATS.get(Path(path).suffix.lower())
# Pillow warns above ~89 MP and refuses above twice that; our own cap (checked from the header, before
# decoding) replaces its warning, so raise Pillow's limit to the cap rather than toggling warning
# filters per call (warning filters are process-wide and not thread-safe for batch workers).
if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _high_depth(img: Image.Image) -> bool:
    """Whether the file holds 16 bits per channel. Pillow decodes 16-bit RGB(A) to 8 bits, so this is read
    from the undecoded tile's raw mode ("RGB;16B", "I;16N"...)."""
    if img.format not in ("PNG", "TIFF"):
        return False
    raw = [t.args[0] if isinstance(t.args, tuple) else t.args for t in getattr(img, "tile", [])]
    return any(isinstance(r, str) and ";16" in r for r in raw)


def _open(path) -> Image.Image:
    """Open and fully decode an image (not yet oriented, see `read_picture`); raises ImageReadError
    with the reason. `img.info["high_depth"]` says whether the file holds 16 bits per channel."""
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise ImageReadError(f"cannot read {name}: no such file")
    if path.is_dir():
        raise ImageReadError(f"cannot read {name}: it is a folder, not an image")
    try:
        # Pillow decodes JPEG with libjpeg-turbo, as OpenCV does, to the same pixels; it was the faster of
        # the two on a 12 MP photo (170 against 210 ms) and reads the profile and EXIF on the way.
        with Image.open(path) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageReadError(
                    f"cannot read {name}: {w}x{h} is {w * h / 1e6:.0f} megapixels, above the "
                    f"{MAX_PIXELS / 1e6:.0f} MP limit"
                )
            high = _high_depth(img)
            img.load()
            # Copy so the result outlives the closed file.
            out = img.copy()
            out.info["high_depth"] = high
            return out
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"cannot read {name}: too large, possibly a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"cannot read {name}: not an image file Pillow recognises") from None
    except PermissionError:
        raise ImageReadError(f"cannot read {name}: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Truncated or corrupt data surfaces as OSError ("image file is truncated") or SyntaxError.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageReadError(f"cannot read {name}: damaged or truncated ({reason})") from None


def nonfinite(arr: np.ndarray) -> bool:
    """True when a float array holds NaN or infinity. Clipping would turn those into arbitrary levels (NaN
    became 0, a black foreground), so readers refuse such data instead."""
    return arr.dtype.kind == "f" and not np.isfinite(arr).all()


class _NonFinite(ValueError):
    pass


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale a single-channel integer/float array (8, 16 or 32 bit) to uint8."""
    if nonfinite(arr):
        raise _NonFinite("its float pixels include NaN or infinite values")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        # Pillow's "F" mode is unbounded; treat 0..1 data as normalised, anything else as 0..255.
        scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
        return np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
    # 16-bit data stored in "I;16" or "I" (32-bit) mode: 65535 is white.
    top = 65535.0 if arr.max(initial=0) > 255 or arr.dtype in (np.uint16, np.int32) else 255.0
    return np.clip(arr.astype(np.float64) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)


def _gray_levels(img: Image.Image) -> np.ndarray:
    """A single-channel image as uint8, 16-bit ranges scaled rather than clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img).astype(np.uint16)
        return np.clip(arr.astype(np.float32) * (255.0 / 65535.0) + 0.5, 0, 255).astype(np.uint8)
    if img.mode == "I":
        arr = np.asarray(img)
        # PNG/TIFF 16-bit greyscale opens as "I" holding 0..65535.
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        return np.clip(arr.astype(np.float32) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    if img.mode == "F":
        return _to_uint8(np.asarray(img, np.float32))
    if img.mode == "1":
        return np.asarray(img.convert("L"))
    return np.asarray(img.convert("L") if img.mode != "L" else img)


def to_rgb(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Any Pillow image -> (RGB uint8 H x W x 3, alpha uint8 H x W or None)."""
    alpha = None
    mode = img.mode
    if mode == "P":
        # Palette images may carry transparency in the palette or in info["transparency"].
        img = img.convert("RGBA" if "transparency" in img.info or img.palette.mode == "RGBA" else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.array(img.getchannel("A"))
        img = img.convert("RGB") if mode != "LA" else img.getchannel("L")
        mode = img.mode
    if mode in ("L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "1"):
        gray = _gray_levels(img)
        rgb = np.repeat(gray[..., None], 3, axis=2)
    elif mode == "RGB":
        rgb = np.asarray(img)
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        rgb = np.asarray(img.convert("RGB"))
    elif mode.startswith("RGB") or mode.startswith("BGR"):
        rgb = np.asarray(img.convert("RGB"))
    else:
        # Multi-channel 16-bit modes Pillow cannot convert directly: go through numpy.
        arr = np.asarray(img)
        if arr.ndim == 3 and arr.shape[2] >= 3:
            rgb = np.stack([_to_uint8(arr[..., c]) for c in range(3)], axis=2)
            if arr.shape[2] == 4:
                alpha = _to_uint8(arr[..., 3])
        else:
            rgb = np.asarray(img.convert("RGB"))
    if alpha is not None and alpha.min() == 255:
        alpha = None  # an opaque alpha channel carries no information
    return np.ascontiguousarray(rgb, dtype=np.uint8), alpha


@dataclass
class Picture:
    """A picture as read: upright, in sRGB, with what exports need to carry over."""
    rgb: np.ndarray  # uint8 H x W x 3
    alpha: np.ndarray | None = None  # uint8 H x W, None when opaque
    rgb16: np.ndarray | None = None  # uint16 H x W x 3 when the file held 16 bits per channel
    exif: bytes | None = None  # for JPEG exports, orientation already reset to 1
    notes: list[str] = field(default_factory=list)  # what was converted or ignored, for the user


def _decode_16(path, img: Image.Image) -> np.ndarray | None:
    """The file's 16-bit channels as uint16 H x W x C (RGB order), or None when OpenCV disagrees with
    Pillow about the picture (then the 8-bit pixels stand). The size was checked from the header."""
    try:
        data = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED)
    except (cv2.error, OSError, ValueError):
        return None
    if data is None or data.dtype != np.uint16 or data.shape[:2] != (img.height, img.width):
        return None
    if data.ndim == 2:
        return np.repeat(data[..., None], 3, axis=2)
    return data[..., [2, 1, 0, 3][: data.shape[2]]] if data.shape[2] in (3, 4) else None


def _to_8(arr16: np.ndarray) -> np.ndarray:
    # Rounding (not Pillow's truncation) keeps the 8-bit working copy within half a level of the original.
    return ((arr16.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def read_picture(path) -> Picture:
    """Read any common image upright and in sRGB, keeping 16-bit channels and EXIF for exports."""
    img = _open(path)
    name = Path(path).name
    converted, note = color_profile.to_srgb(img, name)
    notes = [note] if note else []
    exif, orientation, note = color_profile.read_exif(img, name, converted=converted is not img)
    notes += [note] if note else []
    wide = _decode_16(path, img) if img.info.get("high_depth") else None
    if converted is not img and wide is not None:
        # LittleCMS through Pillow converts 8-bit pixels only: the converted 8-bit copy wins over
        # unconverted 16-bit data, whose colours would be wrong.
        wide = None
        notes.append("colour-converted at 8 bits, so exports are 8-bit")
    try:
        rgb, alpha = to_rgb(converted)
    except _NonFinite as exc:
        raise ImageReadError(f"cannot read {path}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"cannot read {path}: unsupported pixel format {img.mode} ({exc})") from None
    rgb16 = None
    if wide is not None:
        rgb16 = np.ascontiguousarray(wide[..., :3])
        rgb = _to_8(rgb16)
        if wide.shape[2] == 4:
            alpha = _to_8(wide[..., 3])
            alpha = None if alpha.min() == 255 else alpha
    return Picture(color_profile.orient(rgb, orientation), color_profile.orient(alpha, orientation),
                   color_profile.orient(rgb16, orientation), exif, notes)


def read_image(path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read any common image as (RGB uint8 H x W x 3, alpha uint8 H x W or None), upright and in sRGB."""
    picture = read_picture(path)
    return picture.rgb, picture.alpha


def mask_from_image(img: Image.Image) -> np.ndarray:
    """Mask levels (float32 0..1) from an opened image: its alpha if that is the only information."""
    bands = img.getbands()
    if "A" in bands or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA") if img.mode == "P" else img
        alpha = np.asarray(rgba.getchannel("A"))
        color = np.asarray(rgba.convert("L")) if rgba.mode != "LA" else np.asarray(rgba.getchannel("L"))
        # A cut-out saved as a mask (uniform colour, shape in alpha) means the alpha is the mask;
        # a painted mask that happens to have an opaque alpha means the levels are the mask.
        if alpha.min() != alpha.max() and color.min() == color.max():
            return alpha.astype(np.float32) * np.float32(1 / 255)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img).astype(np.float32) * np.float32(1 / 65535)
    if img.mode == "I":
        arr = np.asarray(img).astype(np.float32)
        return np.clip(arr / (65535.0 if arr.max(initial=0) > 255 else 255.0), 0, 1).astype(np.float32)
    if img.mode == "F":
        arr = np.asarray(img, np.float32)
        if nonfinite(arr):
            raise _NonFinite("its float pixels include NaN or infinite values")
        # Out-of-range but finite levels are clipped to 0..1 (documented in docs/reliability.md).
        return np.clip(arr if arr.max(initial=0) <= 1.0 else arr / 255.0, 0, 1).astype(np.float32)
    if img.mode in ("RGB", "RGBA", "CMYK", "P", "YCbCr", "LA", "1", "L"):
        return np.asarray(img.convert("L"), np.float32) * np.float32(1 / 255)
    rgb, _ = to_rgb(img)
    return rgb[..., 0].astype(np.float32) * np.float32(1 / 255)


def read_mask(path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask as float32 H x W in 0..1; `size=(w, h)` resizes it (with a warning) if it differs."""
    img = _open(path)
    try:
        # A mask holds levels, not colours: no colour conversion, only the orientation.
        _, orientation, _ = color_profile.read_exif(img, Path(path).name, converted=False)
        mask = color_profile.orient(mask_from_image(img), orientation)
    except _NonFinite as exc:
        raise MaskError(f"cannot use {path} as a mask: {exc}") from None
    if size is not None and (mask.shape[1], mask.shape[0]) != tuple(size):
        w, h = size
        message = f"mask {Path(path).name} is {mask.shape[1]}x{mask.shape[0]}, resized to the composite's {w}x{h}"
        log.warning(message)
        warnings.warn(message, stacklevel=2)
        mask = resize_mask(mask, size)
    return np.ascontiguousarray(np.clip(mask, 0, 1), dtype=np.float32)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float mask to `size=(w, h)`: area averaging when shrinking keeps soft edges honest."""
    w, h = size
    shrinking = w * h < mask.shape[0] * mask.shape[1]
    out = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.clip(out, 0, 1).astype(np.float32)


# zlib level 1: photographs barely deflate (level 6 files were 10-15 % smaller) while level 6 took about
# twice as long to encode (3.5 s against 1.4 s for 12 MP), the largest cost of a batch written as PNG.
PNG_LEVEL = 1


def _save_kwargs(fmt: str, quality: int) -> dict:
    if fmt == "JPEG":
        # Chroma subsampling smears colour edges, exactly where harmonization changes things; keep
        # full chroma at the qualities people pick for finished work. No optimised Huffman tables: that
        # second pass over the picture made encoding 2.7x slower for files 10 % smaller. Pillow's
        # libjpeg-turbo encoder is the fastest at hand (OpenCV's, the same library, writes the very
        # same scan a little slower).
        return {"quality": quality, "subsampling": 0 if quality >= 90 else 2}
    if fmt == "WEBP":
        return {"quality": quality, "method": 4}
    if fmt == "TIFF":
        return {"compression": "tiff_deflate"}
    return {"compress_level": PNG_LEVEL}




def _encode_16(fmt: str, rgb16: np.ndarray) -> bytes:
    """16-bit RGB as PNG or TIFF bytes. Pillow cannot write 16 bits per colour channel, OpenCV can but
    embeds no profile: an iCCP chunk is added to the PNG; the TIFF stays untagged, which readers take
    as sRGB."""
    ok, data = cv2.imencode(".png" if fmt == "PNG" else ".tif", np.ascontiguousarray(rgb16[..., ::-1]))
    if not ok:
        raise ValueError("OpenCV could not encode it")
    return color_profile.png_with_srgb(data.tobytes()) if fmt == "PNG" else data.tobytes()


def write_image(path, rgb: np.ndarray, quality: int = 95, alpha: np.ndarray | None = None,
                exclusive: bool = False, *, rgb16: np.ndarray | None = None, exif: bytes | None = None) -> Path:
    """Write RGB uint8 (optionally with alpha for PNG/TIFF/WebP) atomically; format from the extension.
    Every file says it is sRGB (an embedded profile).

    `exclusive`: never replace an existing file (engine.atomic.NameTakenError instead), even one that
    another process creates while this one encodes. `rgb16`: the same picture at 16 bits (uint16), written
    instead of `rgb` to PNG and TIFF without alpha. `exif`: a source's EXIF block, kept in JPEG files."""
    path = Path(path)
    fmt = write_format(path)
    if fmt is None:
        raise ImageWriteError(
            f"cannot write {path}: unknown format {path.suffix or '(no extension)'!r}; use .png, .jpg, .webp or .tif"
        )
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageWriteError(f"cannot write {path}: expected H x W x 3 uint8, got {rgb.shape} {rgb.dtype}")
    if not 1 <= int(quality) <= 100:
        raise ImageWriteError(f"cannot write {path}: quality must be 1..100, got {quality}")
    img = Image.fromarray(rgb, "RGB")
    if alpha is not None:
        if fmt not in ALPHA_FORMATS:
            raise ImageWriteError(f"cannot write {path}: {fmt} has no alpha channel; use .png, .webp or .tif")
        alpha = np.asarray(alpha)
        if alpha.shape != rgb.shape[:2]:
            raise ImageWriteError(f"cannot write {path}: alpha is {alpha.shape}, image is {rgb.shape[:2]}")
        if alpha.dtype != np.uint8:
            alpha = np.clip(alpha.astype(np.float32) * (255.0 if alpha.max(initial=0) <= 1 else 1.0) + 0.5, 0, 255)
        img.putalpha(Image.fromarray(alpha.astype(np.uint8), "L"))
    # Encode in memory, then write the bytes: a full disk then fails as a plain write with its real reason
    # ("No space left on device") instead of an encoder's "encoder error -2", and leaves no temp file.
    if rgb16 is not None and fmt in HIGH_DEPTH_FORMATS and alpha is None:
        rgb16 = np.asarray(rgb16)
        if rgb16.shape != rgb.shape or rgb16.dtype != np.uint16:
            raise ImageWriteError(f"cannot write {path}: 16-bit pixels are {rgb16.shape} {rgb16.dtype}, expected {rgb.shape} uint16")
        try:
            data = _encode_16(fmt, rgb16)
        except (cv2.error, ValueError) as exc:
            raise ImageWriteError(f"cannot write {path}: the 16-bit {fmt} encoder failed ({exc})") from None
        atomic_write_bytes(path, data, exclusive=exclusive)
        return path
    kwargs = _save_kwargs(fmt, int(quality))
    kwargs["icc_profile"] = color_profile.srgb_icc()
    if exif and fmt == "JPEG":
        kwargs["exif"] = exif
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt, **kwargs)
    except (OSError, ValueError) as exc:
        raise ImageWriteError(f"cannot write {path}: the {fmt} encoder failed ({exc})") from None
    atomic_write_bytes(path, buf.getvalue(), exclusive=exclusive)
    return path


def is_image_path(path) -> bool:
    return Path(path).suffix.lower() in READ_EXTS and not os.path.basename(str(path)).startswith(".")
