"""The files the editor loads from resources/: icons Qt can render, and the first-start sample."""
from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from PIL import Image

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
ICONS = ("harmonizer", "brush", "eraser", "harmonize", "split", "transform", "eye", "eye-off")


@pytest.mark.parametrize("name", ICONS)
def test_icon_is_a_24px_svg(name):
    root = ET.parse(RESOURCES / "icons" / f"{name}.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 24 24"


@pytest.mark.parametrize("name", ICONS)
def test_icon_renders_in_qt(name, qapp):
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QIcon

    image = QIcon(str(RESOURCES / "icons" / f"{name}.svg")).pixmap(QSize(48, 48)).toImage()
    assert not image.isNull()
    alpha = [image.pixelColor(x, y).alpha() for x in range(0, 48, 2) for y in range(0, 48, 2)]
    assert max(alpha) == 255 and min(alpha) == 0  # drawn strokes on a transparent ground


def test_the_style_sheet_points_at_icons_that_exist():
    import re

    pytest.importorskip("PySide6")
    from harmonizer_gui.app import style_sheet

    urls = re.findall(r"url\(([^)]+)\)", style_sheet())
    assert urls and all(Path(u).is_file() for u in urls), urls


def test_sample_composite():
    background = Image.open(RESOURCES / "samples" / "background.jpg")
    foreground = Image.open(RESOURCES / "samples" / "foreground.png")
    assert foreground.mode == "RGBA" and foreground.size == background.size
    alpha = np.asarray(foreground)[..., 3]
    assert 0.05 < (alpha > 127).mean() < 0.5  # an object, not an empty or full layer
    assert ((alpha > 0) & (alpha < 255)).any()  # feathered edge
    for name in ("background.jpg", "foreground.png"):
        assert (RESOURCES / "samples" / name).stat().st_size < 400_000
    assert "public domain" in (RESOURCES / "samples" / "README.md").read_text(encoding="utf-8")


def test_the_code_finds_these_files_through_the_installed_package():
    """engine.bundled looks through `harmonizer_resources` (what a wheel installs), which in a checkout is
    this very folder; tests/test_wheel.py checks the installed wheel."""
    import harmonizer_resources

    from engine.bundled import bundled_dir

    assert Path(harmonizer_resources.__file__).parent.resolve() == RESOURCES.resolve()
    for kind in ("models", "icons", "samples"):
        assert bundled_dir(kind).resolve() == (RESOURCES / kind).resolve()
