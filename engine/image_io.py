"""Reading and writing images with Pillow; every failure is one line that names the file."""
from __future__ import annotations

import io
import logging
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.atomic import atomic_write_bytes
from engine.errors import ImageReadError, ImageWriteError, MaskError

log = logging.getLogger(__name__)

# Far above any camera (a 100 MP medium format is 11648 x 8736) yet below what would exhaust memory
# once converted to float32 for processing.
MAX_PIXELS = 200_000_000
READ_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
# Pillow warns above ~89 MP and refuses above twice that; our own cap (checked from the header, before
# decoding) replaces its warning, so raise Pillow's limit to the cap rather than toggling warning
# filters per call (warning filters are process-wide and not thread-safe for batch workers).
if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _open(path) -> Image.Image:
    """Open, fully decode and orient an image; raises ImageReadError with the reason."""
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise ImageReadError(f"cannot read {name}: no such file")
    if path.is_dir():
        raise ImageReadError(f"cannot read {name}: it is a folder, not an image")
    try:
        with Image.open(path) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageReadError(
                    f"cannot read {name}: {w}x{h} is {w * h / 1e6:.0f} megapixels, above the "
                    f"{MAX_PIXELS / 1e6:.0f} MP limit"
                )
            img.load()
            oriented = ImageOps.exif_transpose(img)
            # exif_transpose returns the same object when there is nothing to do; copy so the
            # result outlives the closed file.
            return oriented.copy() if oriented is img else oriented
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


def read_image(path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read any common image as (RGB uint8 H x W x 3, alpha uint8 H x W or None), EXIF-oriented."""
    img = _open(path)
    try:
        return to_rgb(img)
    except _NonFinite as exc:
        raise ImageReadError(f"cannot read {path}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"cannot read {path}: unsupported pixel format {img.mode} ({exc})") from None


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
    try:
        mask = mask_from_image(_open(path))
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


def _save_kwargs(fmt: str, quality: int) -> dict:
    if fmt == "JPEG":
        # Chroma subsampling smears colour edges, exactly where harmonization changes things; keep
        # full chroma at the qualities people pick for finished work.
        return {"quality": quality, "subsampling": 0 if quality >= 90 else 2, "optimize": True}
    if fmt == "WEBP":
        return {"quality": quality, "method": 4}
    if fmt == "TIFF":
        return {"compression": "tiff_deflate"}
    return {"compress_level": 6}


def write_image(path, rgb: np.ndarray, quality: int = 95, alpha: np.ndarray | None = None,
                exclusive: bool = False) -> Path:
    """Write RGB uint8 (optionally with alpha for PNG/TIFF/WebP) atomically; format from the extension.

    `exclusive`: never replace an existing file (engine.atomic.NameTakenError instead), even one that
    another process creates while this one encodes."""
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
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
    kwargs = _save_kwargs(fmt, int(quality))
    buf = io.BytesIO()
    try:
        try:
            img.save(buf, format=fmt, **kwargs)
        except OSError:
            if not kwargs.pop("optimize", False):
                raise
            # Pillow's optimized-Huffman JPEG path can overflow its buffer on noisy full-chroma
            # images ("broken data stream"); the plain encoder writes the same pixels.
            buf = io.BytesIO()
            img.save(buf, format=fmt, **kwargs)
    except (OSError, ValueError) as exc:
        raise ImageWriteError(f"cannot write {path}: the {fmt} encoder failed ({exc})") from None
    atomic_write_bytes(path, buf.getvalue(), exclusive=exclusive)
    return path


def is_image_path(path) -> bool:
    return Path(path).suffix.lower() in READ_EXTS and not os.path.basename(str(path)).startswith(".")
