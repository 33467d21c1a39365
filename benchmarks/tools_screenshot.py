"""The README's screenshot of the compositing tools in the editor: the table sample with the rocket placed,
harmonized with the default model, its shadow with the handles to drag it, and a reference area painted.

    QT_QPA_PLATFORM=offscreen python benchmarks/tools_screenshot.py docs/screenshots/compositing_tools.png

The steps run from the event loop (timers), never from a loop of processEvents() calls: those, while the
worker thread imports torch, crash PySide6's import hook.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from engine.shadow import ShadowSettings
    from harmonizer_gui import app as app_mod, settings
    from harmonizer_gui.main_window import MainWindow
    from harmonizer_gui.transform import Transform

    out = (argv or sys.argv[1:] or ["compositing_tools.png"])[0]
    qa = QApplication.instance() or QApplication(sys.argv)
    app_mod.apply_look(qa)
    w = MainWindow(settings.Preferences(model="default", autosave_seconds=0), device="cpu")
    w.prompt_on_close, w.ephemeral = False, True
    w.resize(1440, 900)
    w.show()
    w.set_overlay_visible(False)
    w.open_path(ROOT / "resources/samples/table.jpg")
    w.open_path(ROOT / "resources/samples/rocket.png")
    doc = w.doc
    doc.set_transform(Transform(cx=545, cy=190, sx=1.3, sy=1.3))

    def decorate() -> None:
        doc.set_shadow(ShadowSettings(angle=160, length=1.0))
        w.tools.set_target("reference")
        w.tools.set_brush(size=50, hardness=0.8)
        doc.begin_stroke(w.tools.stroke_brush(), "reference")
        for x in range(420, 590, 8):
            doc.stroke_to(x, 345)
        doc.end_stroke()
        w.shadow_handles_action.trigger()
        w.canvas.flush()
        QTimer.singleShot(300, shoot)

    def shoot() -> None:
        w.grab().save(out)
        print(f"wrote {out}")
        qa.quit()

    w.controller.finished.connect(lambda ok: QTimer.singleShot(100, decorate))
    QTimer.singleShot(500, w.controller.harmonize)
    QTimer.singleShot(60000, qa.quit)
    qa.exec()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
