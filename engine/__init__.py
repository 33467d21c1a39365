"""Harmonization engine: pure Python (torch, numpy, opencv, pillow). Never imports Qt.

The one entry point most callers need::

    from engine import Harmonizer
    out = Harmonizer(model="default").harmonize(composite_rgb_uint8, mask_float01)
"""
from engine.errors import (
    CancelledError,
    HarmonizerError,
    ImageReadError,
    ImageWriteError,
    MaskError,
    ModelNotFoundError,
)

__all__ = [
    "CancelledError",
    "Harmonizer",
    "HarmonizerError",
    "ImageReadError",
    "ImageWriteError",
    "MaskError",
    "ModelNotFoundError",
]


def __getattr__(name):
    # Lazy so `import engine` (e.g. for errors) does not pay torch's import time.
    if name == "Harmonizer":
        from engine.harmonizer import Harmonizer

        return Harmonizer
    raise AttributeError(name)
