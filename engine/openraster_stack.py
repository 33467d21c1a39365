"""An OpenRaster layer stack (layers and groups) and its rendering as the specification asks: each layer's `composite-op` (the blend
modes and Porter-Duff operators of W3C Compositing and Blending Level 1, named `svg:*`) and group isolation.

Qt-free. Works in premultiplied float32, one band of rows at a time, so a large canvas never needs a full
float copy; an isolated group needs one band-size buffer per nesting level (at most ora.MAX_NESTING).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SRC_OVER = "svg:src-over"
# The spec's non-separable modes and its Porter-Duff operators; every other known name is a separable
# blend mode in _SEPARABLE.
_NON_SEPARABLE = ("svg:hue", "svg:saturation", "svg:color", "svg:luminosity")
_PORTER_DUFF = ("svg:src-over", "svg:plus", "svg:dst-in", "svg:dst-out", "svg:src-atop", "svg:dst-atop")
# Operators under which a layer also changes the backdrop outside its own pixels (nothing there keeps nothing).
_CLEARS_OUTSIDE = ("svg:dst-in", "svg:dst-atop")
BAND_PIXELS = 1 << 18


def _hard_light(b, s):
    return np.where(s <= 0.5, b * 2 * s, b + (2 * s - 1) - b * (2 * s - 1))


def _soft_light(b, s):
    d = np.where(b <= 0.25, ((16 * b - 12) * b + 4) * b, np.sqrt(b))
    return np.where(s <= 0.5, b - (1 - 2 * s) * b * (1 - b), b + (2 * s - 1) * (d - b))


def _dodge(b, s):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b <= 0, 0.0, np.where(s >= 1, 1.0, np.minimum(1.0, b / (1 - s))))


def _burn(b, s):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b >= 1, 1.0, np.where(s <= 0, 0.0, 1 - np.minimum(1.0, (1 - b) / s)))


_SEPARABLE = {
    "svg:multiply": lambda b, s: b * s,
    "svg:screen": lambda b, s: b + s - b * s,
    "svg:overlay": lambda b, s: _hard_light(s, b),
    "svg:darken": np.minimum,
    "svg:lighten": np.maximum,
    "svg:color-dodge": _dodge,
    "svg:color-burn": _burn,
    "svg:hard-light": _hard_light,
    "svg:soft-light": _soft_light,
    "svg:difference": lambda b, s: np.abs(b - s),
    "svg:exclusion": lambda b, s: b + s - 2 * b * s,
}
KNOWN_OPS = frozenset(_SEPARABLE) | frozenset(_NON_SEPARABLE) | frozenset(_PORTER_DUFF)


# -- the stack -----------------------------------------------------------------------------------------------
@dataclass
class OraLayer:
    name: str
    rgba: np.ndarray  # uint8 H x W x 4, straight (not premultiplied) alpha
    x: int = 0  # canvas position (a group's offset already added)
    y: int = 0
    opacity: float = 1.0
    visible: bool = True
    composite_op: str = SRC_OVER


@dataclass
class OraGroup:
    """A nested <stack>: its children (bottom first) carry canvas positions, so the group itself has none."""
    name: str
    children: list
    opacity: float = 1.0
    visible: bool = True
    composite_op: str = SRC_OVER
    isolation: str = "isolate"  # or "auto": pass-through unless opacity or operator need isolation


def leaves(nodes, opacity=1.0, visible=True):
    for node in nodes:
        op, vis = opacity * node.opacity, visible and node.visible
        if isinstance(node, OraGroup):
            yield from leaves(node.children, op, vis)
        else:
            yield OraLayer(node.name, node.rgba, node.x, node.y, op, vis, node.composite_op)


def count(nodes) -> tuple[int, int, int]:
    """(pixel layers, groups, hidden elements) in a stack."""
    layers = groups = hidden = 0
    for node in nodes:
        hidden += not node.visible
        if isinstance(node, OraGroup):
            sub = count(node.children)
            layers, groups, hidden = layers + sub[0], groups + 1 + sub[1], hidden + sub[2]
        else:
            layers += 1
    return layers, groups, hidden


def top_first_leaves(nodes):
    for node in reversed(nodes):
        if isinstance(node, OraGroup):
            yield from top_first_leaves(node.children)
        else:
            yield node


# -- the non-separable modes (hue, saturation, color, luminosity) -----------------------------------------------
def _lum(c):
    return c[..., 0:1] * 0.3 + c[..., 1:2] * 0.59 + c[..., 2:3] * 0.11


def _clip_color(c):
    lum = _lum(c)
    lo, hi = c.min(axis=-1, keepdims=True), c.max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(lo < 0, lum + (c - lum) * lum / np.maximum(lum - lo, 1e-12), c)
        c = np.where(hi > 1, lum + (c - lum) * (1 - lum) / np.maximum(hi - lum, 1e-12), c)
    return c


def _set_lum(c, lum):
    return _clip_color(c + (lum - _lum(c)))


def _set_sat(c, sat):
    lo, hi = c.min(axis=-1, keepdims=True), c.max(axis=-1, keepdims=True)
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 0, (c - lo) * sat / np.maximum(span, 1e-12), 0.0)


def _sat(c):
    return c.max(axis=-1, keepdims=True) - c.min(axis=-1, keepdims=True)


def _non_separable(op, b, s):
    if op == "svg:hue":
        return _set_lum(_set_sat(s, _sat(b)), _lum(b))
    if op == "svg:saturation":
        return _set_lum(_set_sat(b, _sat(s)), _lum(b))
    if op == "svg:color":
        return _set_lum(s, _lum(b))
    return _set_lum(b, _lum(s))  # luminosity


# -- one source onto the backdrop ----------------------------------------------------------------------------
def _apply(op, cb, ab, src, a_s):
    """Composite straight colour `src` with coverage `a_s` onto premultiplied backdrop (cb, ab), in place."""
    if op in _SEPARABLE or op in _NON_SEPARABLE:
        # The blend is defined on straight colours; where the backdrop is empty the source shows as is.
        with np.errstate(divide="ignore", invalid="ignore"):
            back = np.where(ab > 0, cb / np.maximum(ab, 1e-12), 0.0)
        mixed = _SEPARABLE[op](back, src) if op in _SEPARABLE else _non_separable(op, back, src)
        src = (1 - ab) * src + ab * np.clip(mixed, 0, 1)
        op = SRC_OVER
    if op == "svg:plus":
        cb += src * a_s
        ab += a_s
        np.minimum(ab, 1, out=ab)
        np.minimum(cb, ab, out=cb)
    elif op == "svg:dst-in":
        cb *= a_s
        ab *= a_s
    elif op == "svg:dst-out":
        cb *= 1 - a_s
        ab *= 1 - a_s
    elif op == "svg:src-atop":
        cb[...] = src * a_s * ab + cb * (1 - a_s)
    elif op == "svg:dst-atop":
        cb[...] = cb * a_s + src * a_s * (1 - ab)
        ab[...] = a_s
    else:  # src-over, and what callers mapped to it
        cb[...] = src * a_s + cb * (1 - a_s)
        ab[...] = a_s + ab * (1 - a_s)


def _op(node) -> str:
    op = getattr(node, "composite_op", SRC_OVER) or SRC_OVER
    return op if op in KNOWN_OPS else SRC_OVER


def isolated(group) -> bool:
    """Whether a (non-root) group renders on its own before joining the backdrop, as the spec says:
    when asked to, or when its opacity or operator would otherwise act on each child separately."""
    return group.isolation != "auto" or group.opacity < 1 or _op(group) != SRC_OVER


def _draw(nodes, color, alpha, top, width) -> None:
    """Composite `nodes` (bottom first) onto the band starting at row `top`."""
    rows = color.shape[0]
    for node in nodes:
        if not node.visible or node.opacity <= 0:
            continue
        op = _op(node)
        opacity = float(min(1.0, node.opacity))
        children = getattr(node, "children", None)
        if children is not None:
            if not isolated(node):
                _draw(children, color, alpha, top, width)
                continue
            c, a = np.zeros_like(color), np.zeros_like(alpha)
            _draw(children, c, a, top, width)
            with np.errstate(divide="ignore", invalid="ignore"):
                straight = np.where(a > 0, c / np.maximum(a, 1e-12), 0.0)
            _apply(op, color, alpha, straight, a * opacity)
            continue
        lh, lw = node.rgba.shape[:2]
        y0, y1 = max(top, node.y), min(top + rows, node.y + lh)
        x0, x1 = max(0, node.x), min(width, node.x + lw)
        if op in _CLEARS_OUTSIDE:
            keep = np.zeros((rows, width, 1), bool)
            if y0 < y1 and x0 < x1:
                keep[y0 - top:y1 - top, x0:x1] = True
            color *= keep
            alpha *= keep
        if y0 >= y1 or x0 >= x1:
            continue
        src = node.rgba[y0 - node.y:y1 - node.y, x0 - node.x:x1 - node.x].astype(np.float32) * np.float32(1 / 255)
        region = (slice(y0 - top, y1 - top), slice(x0, x1))
        cb, ab = color[region], alpha[region]  # views: _apply writes through
        _apply(op, cb, ab, src[..., :3], src[..., 3:] * np.float32(opacity))


def render(nodes, size) -> np.ndarray:
    """The stack (bottom first; layers and groups) on a transparent canvas: uint8 H x W x 4, straight alpha."""
    w, h = size
    out = np.zeros((h, w, 4), np.uint8)
    step = max(1, BAND_PIXELS // max(1, w))
    for top in range(0, h, step):
        bottom = min(h, top + step)
        color = np.zeros((bottom - top, w, 3), np.float32)
        alpha = np.zeros((bottom - top, w, 1), np.float32)
        _draw(nodes, color, alpha, top, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            rgb = np.where(alpha > 0, color / np.maximum(alpha, 1e-12), 0.0)
        out[top:bottom, :, :3] = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
        out[top:bottom, :, 3] = np.clip(alpha[..., 0] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


def unknown_ops(nodes) -> set[str]:
    """Operators in the stack this renderer does not know (Krita's own `krita:*` modes...), drawn as normal."""
    found = set()
    for node in nodes:
        op = getattr(node, "composite_op", SRC_OVER) or SRC_OVER
        if op not in KNOWN_OPS:
            found.add(op)
        found |= unknown_ops(getattr(node, "children", None) or [])
    return found
