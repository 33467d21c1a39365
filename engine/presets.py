"""The generator's named architectures: what `build_rainnet(preset)` and `harmonizer train --preset` build.

Free of torch, so that command-line help and forms can list them without loading it.
"""
from __future__ import annotations

# ngf is the only knob the presets turn: 64 is the published network; the smaller ones are what a
# laptop CPU can run (and we can train) comfortably.
PRESETS: dict[str, dict] = {
    "tiny": {"ngf": 16, "depth": 8},
    "small": {"ngf": 32, "depth": 8},
    "base": {"ngf": 64, "depth": 8},  # the published RainNet's width
}
DEFAULT_PRESET = "small"  # what a run from scratch trains unless told otherwise
