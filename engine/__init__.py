"""Harmonization engine: pure Python (torch, numpy, opencv, pillow). Never imports Qt.

The one entry point most callers need::

    from engine import Harmonizer
    out = Harmonizer(model="default").harmonize(composite_rgb_uint8, mask_float01)
"""
import os

__version__ = "0.1.0"  # the package's version (pyproject.toml reads it from here)

# OpenMP threads that spin while they wait make torch many times slower whenever something else shares
# the cores (a training run beside the editor, the UI thread itself); sleeping costs microseconds per op.
# Only effective before torch is first imported, which is why it sits here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from engine.errors import (  # noqa: E402
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
