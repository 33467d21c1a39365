"""The files that install with the package: bundled models, the editor's icons, the first-start sample.

The repository keeps them in its top-level resources/ folder, which pyproject.toml installs as the
package `harmonizer_resources` (data files only). Looking them up through that package rather than
relative to this file is what lets a wheel, an editable install and a checkout find the same files.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGE = "harmonizer_resources"
# A checkout run without any install (`python main.py` in the repository) cannot import the package.
SOURCE_FOLDER = Path(__file__).resolve().parent.parent / "resources"


def bundled_dir(kind: str) -> Path:
    """The folder of one kind of bundled file: "models", "icons" or "samples"."""
    try:
        root = resources.files(PACKAGE)
    except ModuleNotFoundError:
        root = SOURCE_FOLDER
    # Installs unpack to real folders; safetensors, Qt and the style sheet all need file paths.
    return Path(str(root)) / kind
