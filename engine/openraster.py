"""OpenRaster (.ora) projects: layered documents that Krita, GIMP and MyPaint open too.

Part of the engine so that `harmonizer batch` and the batch dialog read projects through one reader with
one set of limits; the editor's projects (harmonizer_gui.project_io) build on it. An .ora file is a zip:
`mimetype` first and stored (so `file` and desktop tools recognise it by its first bytes), `stack.xml`
listing the layers top first (groups are nested <stack> elements), one PNG per layer under `data/`, plus
`mergedimage.png` and a thumbnail for viewers. Our own state rides along as extra entries (see the
*_ENTRY names) that other programs ignore. Groups, blend modes and their rendering live in openraster_stack.
"""
from __future__ import annotations

import contextlib
import io
import math
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
from engine.openraster_stack import SRC_OVER, OraGroup, OraLayer, leaves, render, top_first_leaves

MIMETYPE = "image/openraster"
STACK_ENTRY = "stack.xml"
MERGED_ENTRY = "mergedimage.png"
THUMBNAIL_ENTRY = "Thumbnails/thumbnail.png"
THUMBNAIL_SIZE = 256
# Extras the editor writes; load_composite prefers them over re-flattening the layers.
DOCUMENT_ENTRY = "harmonizer/document.json"
COMPOSITE_ENTRY = "harmonizer/composite.png"
COMPOSITE_MASK_ENTRY = "harmonizer/composite_mask.png"
# The light the editor harmonized towards, when not the whole background (load_matching reads them).
REFERENCE_ENTRY = "harmonizer/reference_area.png"
MATCH_PHOTO_ENTRY = "harmonizer/match_photo.png"  # small: only its statistics are read
MATCH_AREA_ENTRY = "harmonizer/match_area.png"  # the part of it to read, when not all

# Zip bombs: every entry's declared size is checked before reading (zipfile stops at the declared size and
# fails the CRC if the data is longer), and every image's pixel count is checked from its header before
# any is decoded (docs/reliability.md).
MAX_ARCHIVE_BYTES = 4 * 1024**3
MAX_STACK_BYTES = 16 * 1024**2
# A project holds a canvas and several images, all counted together from their headers before anything is
# decoded. Three times one image's limit still opens the editor's own project of the largest picture the
# reader accepts (canvas, background layer, a foreground with its mask and result), and refuses a file of
# several near-limit layers that would take tens of GB.
MAX_PROJECT_PIXELS = 3 * MAX_PIXELS
MAX_EXTRA_BYTES = 16 * 1024**2  # other programs' extras (documentinfo.xml...) are small; larger ones stay unread
MAX_NESTING = 64
MAX_LAYERS = 1000
MAX_OFFSET = 1 << 30
_RESERVED = ("mimetype", STACK_ENTRY, MERGED_ENTRY)
_RESERVED_PREFIXES = ("data/", "Thumbnails/")
MAX_OP_CHARS = 64


@dataclass
class OraProject:
    size: tuple[int, int]  # (w, h) of the canvas
    stack: list  # top-level layers and groups, bottom first
    extras: dict[str, bytes] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # layers not rendered (SVG, text), by name

    @property
    def layers(self) -> list[OraLayer]:
        """Every pixel layer, bottom first, with its groups' visibility and opacity folded in."""
        return list(leaves(self.stack))


def flatten(nodes, size) -> np.ndarray:
    """The stack (bottom first) rendered on a transparent canvas: uint8 H x W x 4 (see openraster_stack)."""
    return render(nodes, size)


# -- writing -----------------------------------------------------------------------------------------------
def _png_bytes(array: np.ndarray, compress_level: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def _thumbnail(merged: np.ndarray) -> np.ndarray:
    img = Image.fromarray(merged)
    img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(img)


def _stack_xml(nodes, srcs, size) -> bytes:
    image = ET.Element("image", {"version": "0.0.3", "w": str(size[0]), "h": str(size[1])})
    _write_stack(ET.SubElement(image, "stack"), nodes, iter(srcs))
    return b"<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(image, encoding="utf-8")


def _write_stack(parent, nodes, srcs) -> None:
    common = {}
    for node in reversed(nodes):  # stack.xml lists the top element first
        common = {"name": node.name, "opacity": repr(float(node.opacity)),
                  "visibility": "visible" if node.visible else "hidden", "composite-op": node.composite_op}
        if isinstance(node, OraGroup):
            _write_stack(ET.SubElement(parent, "stack", {**common, "isolation": node.isolation}), node.children, srcs)
        else:
            ET.SubElement(parent, "layer", {**common, "src": next(srcs), "x": str(int(node.x)), "y": str(int(node.y))})


def _check_layers(layers, extras) -> None:
    for layer in leaves(layers):
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
    # _write_stack hands sources out in stack.xml's order, top first; layer000 stays the bottom one.
    pixels = [la.rgba for la in top_first_leaves(layers)]
    srcs = [f"data/layer{len(pixels) - 1 - i:03d}.png" for i in range(len(pixels))]
    try:
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
                # OpenRaster readers sniff the first entry, so it must be stored, not deflated.
                zf.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE.encode("ascii"), zipfile.ZIP_STORED)
                zf.writestr(STACK_ENTRY, _stack_xml(layers, srcs, size), zipfile.ZIP_DEFLATED)
                # PNG data is already deflated; a second pass only costs time.
                for rgba, src in zip(pixels, srcs):
                    zf.writestr(src, _png_bytes(rgba, compress_level), zipfile.ZIP_STORED)
                merged = flatten(layers, size)
                zf.writestr(MERGED_ENTRY, _png_bytes(merged, compress_level), zipfile.ZIP_STORED)
                zf.writestr(THUMBNAIL_ENTRY, _png_bytes(_thumbnail(merged), 6), zipfile.ZIP_STORED)
                for name, data in extras.items():
                    method = zipfile.ZIP_STORED if name.lower().endswith(".png") else zipfile.ZIP_DEFLATED
                    zf.writestr(name, bytes(data), method)
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

    def fail(self, reason: str):
        raise ImageReadError(f"cannot read {self.name}: {reason}")

    def close(self) -> None:
        self.zf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = self.entries.get(name)
        if info is None:
            self.fail(f"entry {name} is missing")
        if info.flag_bits & 0x1:
            self.fail(f"entry {name} is encrypted; OpenRaster files are never password-protected")
        return info

    def _damaged(self, name: str, exc: BaseException):
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.fail(f"damaged or truncated ({name}: {reason})")

    def read(self, name: str, limit: int | None = None) -> bytes:
        info = self._info(name)
        if limit is not None and info.file_size > limit:
            self.fail(f"entry {name} is {info.file_size} bytes, above the {limit} byte limit")
        try:
            return self.zf.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            self._damaged(name, exc)

    def check_type(self) -> None:
        if "mimetype" in self.entries:
            kind = self.read("mimetype", 256).decode("ascii", "replace").strip()
            if kind != MIMETYPE:
                self.fail(f"not an OpenRaster file (its mimetype is {kind[:60]!r})")
        if STACK_ENTRY not in self.entries:
            self.fail("not an OpenRaster file (no stack.xml)")

    @contextlib.contextmanager
    def _image(self, name: str):
        """The entry as a lazily decoded Pillow image streamed from the zip (never read whole); every
        failure, at open or while decoding inside the block, is one line naming the entry."""
        try:
            with self.zf.open(self._info(name)) as stream, Image.open(stream) as img:
                yield img
        except ImageReadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            self.fail(f"{name} is too large, possibly a decompression bomb")
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
            self._damaged(name, exc)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.fail(f"{name} is not a readable image ({reason})")

    def check_sizes(self, names, canvas: tuple[int, int] = (0, 0)) -> dict[str, int]:
        """Every image's size from its header, each against the reader's pixel limit and all of them with
        the canvas against the project's, before a single pixel is decoded. Returns {name: pixels}."""
        total = canvas[0] * canvas[1]
        pixels = {}
        for name in names:
            with self._image(name) as img:
                w, h = img.size
            if w * h > MAX_PIXELS:
                self.fail(f"{name} is {w}x{h}, above the {MAX_PIXELS / 1e6:.0f} MP limit")
            pixels[name] = w * h
            total += w * h
        if total > MAX_PROJECT_PIXELS:
            self.fail(f"the canvas and its images hold {total / 1e6:.0f} MP, above the "
                      f"{MAX_PROJECT_PIXELS / 1e6:.0f} MP limit for a project")
        return pixels

    def image(self, name: str, mode: str) -> np.ndarray:
        """Decode an image entry to `mode` ("RGBA", "RGB" or "L"); its size is checked from the header."""
        self.check_sizes([name])
        with self._image(name) as img:
            img.load()
            return _to_mode(img, mode)


def _to_mode(img: Image.Image, mode: str) -> np.ndarray:
    if img.mode.startswith("I") or img.mode == "F":
        # 16/32-bit grey (Krita and GIMP can export high bit depth): Pillow's convert would clip, not scale.
        arr = np.asarray(img).astype(np.float64)
        if not np.isfinite(arr).all():
            raise ValueError("its float pixels include NaN or infinite values")
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


def _number(archive: _Archive, element, key: str, default: float, bound: float) -> float:
    """An attribute as a finite number; NaN, infinity or a magnitude above `bound` is refused by name."""
    text = element.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        return default  # unparsable attributes have always meant the default (other programs' quirks)
    if not math.isfinite(value) or abs(value) > bound:
        name = element.get("name") or element.get("src") or element.tag
        archive.fail(f"{element.tag} {name!r} has an invalid {key} {text[:40]!r}")
    return value


def _build(archive: _Archive, stack, found: list, skipped: list, dx=0, dy=0, depth=0) -> list:
    """The stack's elements as OraLayer/OraGroup nodes, bottom first, pixels not yet decoded (each pixel
    layer is appended to `found` with its src). Offsets must be finite and within MAX_OFFSET; opacity must
    be finite and is clamped to 0..1 as the OpenRaster spec says; operators are kept as written (unknown
    ones render as normal)."""
    if depth > MAX_NESTING:
        archive.fail(f"stack.xml nests groups more than {MAX_NESTING} deep")
    nodes = []
    for child in stack:
        if child.tag not in ("stack", "layer"):
            continue
        x = dx + int(_number(archive, child, "x", 0, MAX_OFFSET))
        y = dy + int(_number(archive, child, "y", 0, MAX_OFFSET))
        opacity = min(1.0, max(0.0, _number(archive, child, "opacity", 1.0, math.inf)))
        visible = child.get("visibility", "visible") != "hidden"
        op = (child.get("composite-op") or SRC_OVER)[:MAX_OP_CHARS]
        name = child.get("name") or ""
        if child.tag == "stack":
            children = _build(archive, child, found, skipped, x, y, depth + 1)
            isolation = "auto" if child.get("isolation") == "auto" else "isolate"
            nodes.append(OraGroup(name or "Group", children, opacity, visible, op, isolation))
            continue
        src = child.get("src", "")
        if not src.lower().endswith(".png"):
            skipped.append(name or src)  # other layer kinds (SVG, text) are not ours to render
            continue
        layer = OraLayer(name or Path(src).stem, None, x, y, opacity, visible, op)
        found.append((layer, src))
        if len(found) > MAX_LAYERS:
            archive.fail(f"stack.xml lists more than {MAX_LAYERS} layers")
        nodes.append(layer)
    nodes.reverse()
    return nodes


def load_ora(path, extras=None) -> OraProject:
    """Read an .ora project (ours, Krita's, GIMP's...); raises ImageReadError with one line on failure.

    `extras`: the names of the extra entries the caller uses; only those are read. Without it every
    extra up to MAX_EXTRA_BYTES is kept and larger ones are left unread.
    """
    with _Archive(path) as archive:
        archive.check_type()
        size, stack = _parse_stack(archive)
        found, skipped = [], []
        tree = _build(archive, stack, found, skipped)
        used = {src for _, src in found}
        names = [
            name for name, info in archive.entries.items()
            if name not in _RESERVED and name not in used and not name.startswith(_RESERVED_PREFIXES)
            and not info.is_dir() and (name in extras if extras is not None else info.file_size <= MAX_EXTRA_BYTES)
        ]
        # Images this project will decode (its layers, and extras that are PNGs) are sized up front.
        pngs = [n for n in names if n.lower().endswith(".png")]
        pixels = archive.check_sizes([src for _, src in found] + pngs, size)
        for layer, src in found:
            layer.rgba = archive.image(src, "RGBA")
        # Extras are read as bytes: a PNG's are bounded by what its declared size could need (16-bit RGBA,
        # uncompressed), anything else by MAX_EXTRA_BYTES, so a small header cannot hide gigabytes.
        project_extras = {name: archive.read(name, MAX_EXTRA_BYTES + 8 * pixels.get(name, 0)) for name in names}
    return OraProject(size, tree, project_extras, skipped)


def load_matching(path):
    """(reference area float32 H x W or None, engine.photo_match.PhotoStyle or None): what the editor's
    project harmonizes towards besides its background, so that batch gives what the editor shows."""
    import json

    from engine.photo_match import MAX_SIDE, PhotoStyle

    with _Archive(path) as archive:
        if DOCUMENT_ENTRY not in archive.entries:
            return None, None  # another program's file
        try:
            state = json.loads(archive.read(DOCUMENT_ENTRY, MAX_STACK_BYTES))
        except ValueError:
            archive.fail(f"{DOCUMENT_ENTRY} is not valid JSON")
        if not isinstance(state, dict):
            archive.fail(f"{DOCUMENT_ENTRY} is not a table")
        reference = style = None
        if state.get("match_reference") is True and REFERENCE_ENTRY in archive.entries:
            reference = _unit_mask(archive, REFERENCE_ENTRY)
        alpha = state.get("match_photo_alpha")
        if alpha is not None and MATCH_PHOTO_ENTRY in archive.entries:
            if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
                archive.fail(f"its match_photo_alpha {str(alpha)[:40]} is not a number from 0 to 1")
            sizes = archive.check_sizes([MATCH_PHOTO_ENTRY])
            if sizes[MATCH_PHOTO_ENTRY] > (4 * MAX_SIDE) ** 2:
                archive.fail(f"{MATCH_PHOTO_ENTRY} is larger than the editor writes")
            photo = archive.image(MATCH_PHOTO_ENTRY, "RGB")
            area = _unit_mask(archive, MATCH_AREA_ENTRY) if MATCH_AREA_ENTRY in archive.entries else None
            if area is not None and area.shape != photo.shape[:2]:
                archive.fail(f"{MATCH_AREA_ENTRY} and {MATCH_PHOTO_ENTRY} differ in size")
            style = PhotoStyle(photo, area, float(alpha))
        return reference, style


def _unit_mask(archive, name: str) -> np.ndarray:
    return archive.image(name, "L").astype(np.float32) / np.float32(255)


def load_composite(path) -> tuple[np.ndarray, np.ndarray]:
    """(composite rgb uint8 H x W x 3, mask float32 H x W) of a project, for batch harmonization.

    The editor's own files carry both as extras; for other programs' files the bottom layer is the
    background and everything visible above it is the foreground.
    """
    with _Archive(path) as archive:
        archive.check_type()
        if COMPOSITE_ENTRY in archive.entries and COMPOSITE_MASK_ENTRY in archive.entries:
            archive.check_sizes([COMPOSITE_ENTRY, COMPOSITE_MASK_ENTRY])
            rgb = archive.image(COMPOSITE_ENTRY, "RGB")
            mask = archive.image(COMPOSITE_MASK_ENTRY, "L")
            if rgb.shape[:2] != mask.shape:
                archive.fail(f"{COMPOSITE_ENTRY} and {COMPOSITE_MASK_ENTRY} differ in size")
            return rgb, mask.astype(np.float32) / 255.0
    project = load_ora(path, extras=())
    visible = [la for la in project.layers if la.visible and la.opacity > 0]
    if len(visible) < 2:
        raise MaskError(f"cannot harmonize {path}: it needs a background layer and a foreground layer above it")
    rgb = flatten(project.stack, project.size)[..., :3]  # with its groups and blend modes
    mask = flatten(visible[1:], project.size)[..., 3].astype(np.float32) / 255.0
    return np.ascontiguousarray(rgb), mask
