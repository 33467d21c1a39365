"""OpenRaster (.ora) projects: layered documents that Krita, GIMP and MyPaint open too.

Qt-free so the batch path and tests can read projects without a display. An .ora file is a zip: `mimetype`
first and stored (so `file` and desktop tools recognise it by its first bytes), `stack.xml` listing the
layers top first, one PNG per layer under `data/`, plus `mergedimage.png` and a thumbnail for viewers.
Our own state rides along as extra entries (see the *_ENTRY names) that other programs ignore.
"""
from __future__ import annotations

import io
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
from PIL import Image

from engine.atomic import atomic_path
from engine.errors import ImageReadError, ImageWriteError, MaskError
from engine.image_io import MAX_PIXELS

MIMETYPE = "image/openraster"
STACK_ENTRY = "stack.xml"
MERGED_ENTRY = "mergedimage.png"
THUMBNAIL_ENTRY = "Thumbnails/thumbnail.png"
THUMBNAIL_SIZE = 256
# Extras the editor writes; load_composite prefers them over re-flattening the layers.
DOCUMENT_ENTRY = "harmonizer/document.json"
COMPOSITE_ENTRY = "harmonizer/composite.png"
COMPOSITE_MASK_ENTRY = "harmonizer/composite_mask.png"

# Zip bombs: every entry's declared size is checked before reading (zipfile stops at the declared size and
# fails the CRC if the data is longer), and every PNG's pixel count is checked from its header.
MAX_ARCHIVE_BYTES = 4 * 1024**3
MAX_STACK_BYTES = 16 * 1024**2
MAX_TOTAL_LAYER_PIXELS = 4 * MAX_PIXELS
_RESERVED = ("mimetype", STACK_ENTRY, MERGED_ENTRY)
_RESERVED_PREFIXES = ("data/", "Thumbnails/")
_BAND_ROWS = 256  # flattening works in row bands so a large canvas needs no full float32 copy


@dataclass
class OraLayer:
    name: str
    rgba: np.ndarray  # uint8 H x W x 4, straight (not premultiplied) alpha
    x: int = 0
    y: int = 0
    opacity: float = 1.0
    visible: bool = True


@dataclass
class OraProject:
    size: tuple[int, int]  # (w, h) of the canvas
    layers: list[OraLayer]  # bottom first
    extras: dict[str, bytes] = field(default_factory=dict)


# -- compositing -------------------------------------------------------------------------------------------
def flatten(layers, size) -> np.ndarray:
    """Visible layers (bottom first) composited source-over onto a transparent canvas: uint8 H x W x 4."""
    w, h = size
    out = np.zeros((h, w, 4), np.uint8)
    used = [la for la in layers if la.visible and la.opacity > 0]
    for top in range(0, h, _BAND_ROWS):
        bottom = min(h, top + _BAND_ROWS)
        color = np.zeros((bottom - top, w, 3), np.float32)  # premultiplied
        alpha = np.zeros((bottom - top, w, 1), np.float32)
        for layer in used:
            lh, lw = layer.rgba.shape[:2]
            y0, y1 = max(top, layer.y), min(bottom, layer.y + lh)
            x0, x1 = max(0, layer.x), min(w, layer.x + lw)
            if y0 >= y1 or x0 >= x1:
                continue
            src = layer.rgba[y0 - layer.y: y1 - layer.y, x0 - layer.x: x1 - layer.x].astype(np.float32) / 255.0
            a = src[..., 3:] * float(min(1.0, layer.opacity))
            keep = 1.0 - a
            color[y0 - top: y1 - top, x0:x1] = src[..., :3] * a + color[y0 - top: y1 - top, x0:x1] * keep
            alpha[y0 - top: y1 - top, x0:x1] = a + alpha[y0 - top: y1 - top, x0:x1] * keep
        rgb = np.divide(color, alpha, out=np.zeros_like(color), where=alpha > 0)
        out[top:bottom, :, :3] = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
        out[top:bottom, :, 3] = np.clip(alpha[..., 0] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


# -- writing -----------------------------------------------------------------------------------------------
def _png_bytes(array: np.ndarray, compress_level: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def _thumbnail(merged: np.ndarray) -> np.ndarray:
    img = Image.fromarray(merged)
    img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(img)


def _stack_xml(layers, srcs, size) -> bytes:
    image = ET.Element("image", {"version": "0.0.3", "w": str(size[0]), "h": str(size[1])})
    stack = ET.SubElement(image, "stack")
    for layer, src in reversed(list(zip(layers, srcs))):  # stack.xml lists the top layer first
        ET.SubElement(stack, "layer", {
            "name": layer.name, "src": src, "x": str(int(layer.x)), "y": str(int(layer.y)),
            "opacity": repr(float(layer.opacity)), "visibility": "visible" if layer.visible else "hidden",
            "composite-op": "svg:src-over",
        })
    return b"<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(image, encoding="utf-8")


def _check_layers(layers, extras) -> None:
    for layer in layers:
        a = layer.rgba
        if not (isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 4):
            raise ValueError(f"layer {layer.name!r}: rgba must be a uint8 H x W x 4 array")
    for name in extras:
        if name in _RESERVED or name.startswith(_RESERVED_PREFIXES) or name.endswith("/") or not name:
            raise ValueError(f"extra entry name {name!r} is reserved by OpenRaster")


def save_ora(path, layers, extras, size, *, compress_level: int = 6) -> None:
    """Write `layers` (bottom first) and `extras` ({zip entry name: bytes}) as an .ora file, atomically.

    `size` is the canvas (w, h). A lower `compress_level` trades file size for speed (autosave).
    """
    layers = list(layers)
    extras = dict(extras or {})
    _check_layers(layers, extras)
    size = (int(size[0]), int(size[1]))
    srcs = [f"data/layer{i:03d}.png" for i in range(len(layers))]
    try:
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
                # OpenRaster readers sniff the first entry, so it must be stored, not deflated.
                zf.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE.encode("ascii"), zipfile.ZIP_STORED)
                zf.writestr(STACK_ENTRY, _stack_xml(layers, srcs, size), zipfile.ZIP_DEFLATED)
                # PNG data is already deflated; a second pass only costs time.
                for layer, src in zip(layers, srcs):
                    zf.writestr(src, _png_bytes(layer.rgba, compress_level), zipfile.ZIP_STORED)
                merged = flatten(layers, size)
                zf.writestr(MERGED_ENTRY, _png_bytes(merged, compress_level), zipfile.ZIP_STORED)
                zf.writestr(THUMBNAIL_ENTRY, _png_bytes(_thumbnail(merged), 6), zipfile.ZIP_STORED)
                for name, data in extras.items():
                    method = zipfile.ZIP_STORED if name.lower().endswith(".png") else zipfile.ZIP_DEFLATED
                    zf.writestr(name, bytes(data), method)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
    except OSError as exc:
        raise ImageWriteError(f"cannot write {path}: {exc.strerror or exc}") from None


# -- reading -----------------------------------------------------------------------------------------------
class _Archive:
    """A zip opened for reading whose every failure becomes one ImageReadError line naming the file."""

    def __init__(self, path):
        self.name = str(path)
        path = Path(path)
        if not path.exists():
            self.fail("no such file")
        if path.is_dir():
            self.fail("it is a folder, not an OpenRaster file")
        try:
            self.zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            self.fail("not an OpenRaster file (not a zip archive, or a truncated one)")
        except PermissionError:
            self.fail("permission denied")
        except OSError as exc:
            self.fail(exc.strerror or str(exc))
        self.entries = {info.filename: info for info in self.zf.infolist()}
        total = sum(info.file_size for info in self.entries.values())
        if total > MAX_ARCHIVE_BYTES:
            self.close()
            self.fail(f"unpacks to {total / 1024**3:.1f} GiB, above the {MAX_ARCHIVE_BYTES / 1024**3:.0f} GiB limit")
        self.pixels = 0

    def fail(self, reason: str):
        raise ImageReadError(f"cannot read {self.name}: {reason}")

    def close(self) -> None:
        self.zf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read(self, name: str, limit: int | None = None) -> bytes:
        info = self.entries.get(name)
        if info is None:
            self.fail(f"entry {name} is missing")
        if limit is not None and info.file_size > limit:
            self.fail(f"entry {name} is {info.file_size} bytes, above the {limit} byte limit")
        try:
            return self.zf.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.fail(f"damaged or truncated ({name}: {reason})")

    def check_type(self) -> None:
        if "mimetype" in self.entries:
            kind = self.read("mimetype", 256).decode("ascii", "replace").strip()
            if kind != MIMETYPE:
                self.fail(f"not an OpenRaster file (its mimetype is {kind[:60]!r})")
        if STACK_ENTRY not in self.entries:
            self.fail("not an OpenRaster file (no stack.xml)")

    def image(self, name: str, mode: str) -> np.ndarray:
        """Decode a PNG entry to `mode` ("RGBA", "RGB" or "L") after checking its size from the header."""
        data = self.read(name)
        try:
            with Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    self.fail(f"{name} is {w}x{h}, above the {MAX_PIXELS / 1e6:.0f} MP limit")
                self.pixels += w * h
                if self.pixels > MAX_TOTAL_LAYER_PIXELS:
                    self.fail(f"the layers hold more than {MAX_TOTAL_LAYER_PIXELS / 1e6:.0f} MP in all")
                img.load()
                return _to_mode(img, mode)
        except ImageReadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            self.fail(f"{name} is too large, possibly a decompression bomb")
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.fail(f"{name} is not a readable image ({reason})")


def _to_mode(img: Image.Image, mode: str) -> np.ndarray:
    if img.mode.startswith("I") or img.mode == "F":
        # 16/32-bit grey (Krita and GIMP can export high bit depth): Pillow's convert would clip, not scale.
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 or img.mode.startswith("I;16") else 255.0
        img = Image.fromarray(np.clip(arr * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")  # keeps palette transparency
    return np.asarray(img.convert(mode)).copy()


def _parse_stack(archive: _Archive):
    data = archive.read(STACK_ENTRY, MAX_STACK_BYTES)
    # Entity declarations are how XML bombs expand; OpenRaster never needs them.
    if b"<!ENTITY" in data or b"<!DOCTYPE" in data:
        archive.fail("stack.xml declares entities, which OpenRaster files never need")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        archive.fail(f"stack.xml is not valid XML ({exc})")
    if root.tag != "image":
        archive.fail("stack.xml has no <image> root")
    try:
        w, h = int(root.get("w", "")), int(root.get("h", ""))
    except ValueError:
        archive.fail("stack.xml gives no valid canvas size")
    if w <= 0 or h <= 0:
        archive.fail(f"stack.xml gives an empty canvas ({w}x{h})")
    if w * h > MAX_PIXELS:
        archive.fail(f"the canvas is {w}x{h}, above the {MAX_PIXELS / 1e6:.0f} MP limit")
    stack = root.find("stack")
    if stack is None:
        archive.fail("stack.xml has no <stack>")
    return (w, h), stack


def _number(element, key, default, kind=float):
    try:
        return kind(float(element.get(key, default)))
    except (TypeError, ValueError):
        return default


def _walk(stack, dx=0, dy=0, opacity=1.0, visible=True):
    """(element, x, y, opacity, visible) for every layer, top first; nested stacks pass their offsets,
    opacity and visibility down (their blending isolation is not reproduced)."""
    for child in stack:
        x = dx + _number(child, "x", 0, int)
        y = dy + _number(child, "y", 0, int)
        op = opacity * min(1.0, max(0.0, _number(child, "opacity", 1.0)))
        vis = visible and child.get("visibility", "visible") != "hidden"
        if child.tag == "stack":
            yield from _walk(child, x, y, op, vis)
        elif child.tag == "layer":
            yield child, x, y, op, vis


def load_ora(path) -> OraProject:
    """Read an .ora project (ours, Krita's, GIMP's...); raises ImageReadError with one line on failure."""
    with _Archive(path) as archive:
        archive.check_type()
        size, stack = _parse_stack(archive)
        layers, used = [], set()
        for element, x, y, opacity, visible in _walk(stack):
            src = element.get("src", "")
            if not src.lower().endswith(".png"):
                continue  # other layer kinds (SVG, text) are not ours to render
            used.add(src)
            rgba = archive.image(src, "RGBA")
            layers.append(OraLayer(element.get("name", Path(src).stem), rgba, x, y, opacity, visible))
        layers.reverse()
        extras = {}
        for name, info in archive.entries.items():
            if name in _RESERVED or name in used or name.startswith(_RESERVED_PREFIXES) or info.is_dir():
                continue
            extras[name] = archive.read(name)
    return OraProject(size, layers, extras)


def load_composite(path) -> tuple[np.ndarray, np.ndarray]:
    """(composite rgb uint8 H x W x 3, mask float32 H x W) of a project, for batch harmonization.

    The editor's own files carry both as extras; for other programs' files the bottom layer is the
    background and everything visible above it is the foreground.
    """
    with _Archive(path) as archive:
        archive.check_type()
        if COMPOSITE_ENTRY in archive.entries and COMPOSITE_MASK_ENTRY in archive.entries:
            rgb = archive.image(COMPOSITE_ENTRY, "RGB")
            mask = archive.image(COMPOSITE_MASK_ENTRY, "L")
            if rgb.shape[:2] != mask.shape:
                archive.fail(f"{COMPOSITE_ENTRY} and {COMPOSITE_MASK_ENTRY} differ in size")
            return rgb, mask.astype(np.float32) / 255.0
    project = load_ora(path)
    visible = [la for la in project.layers if la.visible and la.opacity > 0]
    if len(visible) < 2:
        raise MaskError(f"cannot harmonize {path}: it needs a background layer and a foreground layer above it")
    rgb = flatten(visible, project.size)[..., :3]
    mask = flatten(visible[1:], project.size)[..., 3].astype(np.float32) / 255.0
    return np.ascontiguousarray(rgb), mask
