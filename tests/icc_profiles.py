"""Small ICC v2 RGB display profiles built at test time (matrix and gamma curves), so colour management
is tested without downloading or shipping profiles."""
from __future__ import annotations

import struct

D50 = (0.9642, 1.0, 0.8249)
# Colorants of well-known spaces adapted to D50, as profiles store them, and their tone curves' gamma.
ADOBE_RGB = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))
DISPLAY_P3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
SRGB = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(values) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in values)


def _curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + struct.pack(">II", 0, 0) + b"\0\0\0" + bytes(67)


def rgb_profile(description: str, colorants=ADOBE_RGB, gamma: float = 563 / 256) -> bytes:
    """An RGB display profile whose red, green and blue have the given D50 XYZ colorants."""
    tags = [(b"desc", _desc(description)), (b"wtpt", _xyz(D50)), (b"cprt", b"text\0\0\0\0no copyright\0")]
    tags += [(sig, _xyz(xyz)) for sig, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants)]
    tags += [(sig, _curve(gamma)) for sig in (b"rTRC", b"gTRC", b"bTRC")]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += bytes(-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + bytes(4) + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ " + bytes(12)
              + b"acsp" + bytes(4) + bytes(4) + bytes(8) + bytes(8) + bytes(4)
              + b"".join(_s15(v) for v in D50) + bytes(4) + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body
