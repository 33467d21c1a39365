"""Retake docs/screenshots/colour_managed_import.png: the editor just after opening pictures tagged with
wide-gamut profiles, the status line saying what was converted.

    python docs/screenshots/colour_managed_import.py

The bundled sample is re-encoded as a Display P3 JPEG (background) and an Adobe RGB PNG (foreground),
with profiles built by tests/icc_profiles.py; imported, both must look exactly like the sRGB sample.
Runs offscreen under a temporary home in a few seconds; nothing is harmonized.
"""
from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_name("colour_managed_import.png")


def tagged(src: Path, dst: Path, profile: bytes) -> Path:
    """The sRGB sample re-encoded in another space: the numbers change, the colours must not."""
    from PIL import Image, ImageCms

    with Image.open(src) as img:
        img.load()
        wide = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        rgb = ImageCms.profileToProfile(img.convert("RGB"), ImageCms.createProfile("sRGB"), wide)
        if img.mode == "RGBA":
            rgb.putalpha(img.getchannel("A"))
        rgb.save(dst, icc_profile=profile, **({"quality": 95} if dst.suffix == ".jpg" else {}))
    return dst


def main() -> int:
    home = Path(tempfile.mkdtemp())
    os.environ.update(QT_QPA_PLATFORM="offscreen", HARMONIZER_DATA_DIR=str(home / "data"),
                      HARMONIZER_CONFIG_DIR=str(home / "config"))
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from icc_profiles import ADOBE_RGB, DISPLAY_P3, rgb_profile
    from PySide6.QtWidgets import QApplication

    from harmonizer_gui import settings
    from harmonizer_gui.app import apply_look
    from harmonizer_gui.main_window import MainWindow

    samples = ROOT / "resources" / "samples"
    bg = tagged(samples / "background.jpg", home / "street_p3.jpg", rgb_profile("Display P3", DISPLAY_P3))
    fg = tagged(samples / "foreground.png", home / "cutout_adobe.png", rgb_profile("Adobe RGB (1998)", ADOBE_RGB))
    app = QApplication([])
    apply_look(app)
    window = MainWindow(settings.Preferences(), device="cpu")
    window.prompt_on_close = False
    window.ephemeral = True
    window.resize(1366, 768)
    window.show()
    if not (window.open_background(str(bg)) and window.open_foreground(str(fg))):
        print(f"error: {window.last_error}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + 60
    while not window.controller.loaded_model and time.monotonic() < deadline:
        app.processEvents()  # the picture should show a ready editor, not "Loading model..."
        time.sleep(0.05)
    window.set_overlay_visible(False)  # show the colours, not the mask tint
    window.overlay_action.setChecked(False)
    window.canvas.fit()
    window.canvas.flush()
    app.processEvents()
    ok = window.grab().save(str(OUT), "PNG")
    window.close()
    print(window.statusBar().currentMessage())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
