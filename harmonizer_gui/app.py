"""`harmonizer gui`: start the editor, or render it offscreen to a PNG (`--screenshot`) for the docs."""
from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from engine.atomic import atomic_path
from engine.bundled import bundled_dir
from engine.errors import HarmonizerError, ImageWriteError

SAMPLE_DIR = bundled_dir("samples")
STYLE = Path(__file__).with_name("dark.qss")
ICONS = bundled_dir("icons")
SCREENSHOT_SIZE = (1440, 900)
HARMONIZE_TIMEOUT_MS = 180_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harmonizer gui", description="The image harmonization editor.")
    parser.add_argument("files", nargs="*", help="a project (.ora), or a background then a foreground image")
    parser.add_argument("--open", action="append", default=[], metavar="PATH",
                        help="open a project or image (repeat: background first, then foreground)")
    parser.add_argument("--mask", metavar="PNG", help="load this mask after opening")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    parser.add_argument("--screenshot", metavar="OUT.png", help="render the window offscreen to a PNG and exit")
    parser.add_argument("--dialog", choices=("finetune", "batch"), help="with --screenshot: picture this dialog")
    parser.add_argument("--model", help="with --screenshot: harmonize with this model (default: the remembered one)")
    return parser


def application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "harmonizer"])
        app.setApplicationName("Harmonizer")
        apply_look(app)
    elif STYLE.is_file() and not app.styleSheet():
        app.setStyleSheet(style_sheet())
    return app


def apply_look(app: QApplication) -> None:
    """The editor's dark Fusion look (also used by the docs' dialog screenshots, so they match the app)."""
    app.setStyle("Fusion")
    palette = QPalette()
    for role, color in ((QPalette.Window, "#2b2b2e"), (QPalette.WindowText, "#e4e4e6"), (QPalette.Base, "#1f1f22"),
                        (QPalette.AlternateBase, "#2f2f33"), (QPalette.Text, "#e4e4e6"), (QPalette.Button, "#3a3a3f"),
                        (QPalette.ButtonText, "#e4e4e6"), (QPalette.Highlight, "#3d6fb6"),
                        (QPalette.HighlightedText, "#ffffff"), (QPalette.ToolTipBase, "#1f1f22"),
                        (QPalette.ToolTipText, "#e4e4e6"), (QPalette.PlaceholderText, "#8a8a90")):
        palette.setColor(role, QColor(color))
    app.setPalette(palette)
    if STYLE.is_file():
        app.setStyleSheet(style_sheet())


def style_sheet() -> str:
    """dark.qss with its icon folder filled in (QSS urls are paths, and the checkout can be anywhere)."""
    return STYLE.read_text(encoding="utf-8").replace("@ICONS@", ICONS.as_posix())


def sample_paths() -> list[Path]:
    """The bundled first-start composite: background then foreground, whatever their extensions."""
    found = []
    for stem in ("background", "foreground"):
        match = sorted(p for p in SAMPLE_DIR.glob(f"{stem}.*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        if not match:
            return []
        found.append(match[0])
    return found


def open_start_files(window, paths: list[str], mask: str | None) -> bool:
    for path in paths:
        if not window.open_path(path):
            return False
    if mask and not window.load_mask(mask):
        return False
    return bool(paths)


def wait_for_result(window, timeout_ms: int = HARMONIZE_TIMEOUT_MS) -> bool:
    """Harmonize and wait (with the event loop running) until it finished; True when a result came."""
    loop = QEventLoop()
    outcome = {"ok": False}

    def done(installed: bool) -> None:
        outcome["ok"] = installed
        loop.quit()

    window.controller.finished.connect(done)
    QTimer.singleShot(timeout_ms, loop.quit)
    if window.controller.harmonize():
        loop.exec()
    window.controller.finished.disconnect(done)
    return outcome["ok"]


def screenshot(window, out: Path, dialog: str | None, model: str | None) -> int:
    window.resize(*SCREENSHOT_SIZE)
    window.set_overlay_visible(False)  # the picture should show the result, not the mask tint
    window.show()
    QApplication.processEvents()
    window.canvas.fit()
    if model:
        window.select_model(model)
    if dialog:
        from harmonizer_gui.dialog_actions import screenshot_dialog

        screenshot_dialog(window, dialog, out)
        return 0
    if window.doc.background is not None and not wait_for_result(window):
        print(f"warning: no harmonized result for the screenshot ({window.last_error or 'timed out'})", file=sys.stderr)
    box = window.doc.foreground_box()
    if window.doc.result is not None and box is not None:
        # Split through the middle of the cut-out: the picture shows what the button does.
        centre = window.canvas.to_widget((box[0] + box[2]) / 2, 0).x()
        window.canvas.split_pos = min(0.9, max(0.1, centre / max(1, window.canvas.width())))
        window.split_action.setChecked(True)
    window.canvas.flush()
    QApplication.processEvents()
    with atomic_path(out) as tmp:
        if not window.grab().save(str(tmp), "PNG"):
            raise ImageWriteError(f"cannot write {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if QApplication.instance() is None:
        from harmonizer_gui import platform_check

        problem = platform_check.problem()
        if problem:  # Qt would abort with a paragraph that often names the wrong package
            print(f"error: {problem}", file=sys.stderr)
            return 1
    app = application()
    from harmonizer_gui import settings
    from harmonizer_gui.main_window import MainWindow

    prefs = settings.Preferences.load()
    if args.screenshot:
        prefs.autosave_seconds = 0
        prefs.window_geometry = prefs.window_state = ""
    window = MainWindow(prefs, device=args.device)
    window.ephemeral = bool(args.screenshot)  # an offscreen run leaves the user's layout and autosave alone
    paths = [*args.open, *args.files]
    try:
        if args.screenshot:
            window.prompt_on_close = False
            if paths or args.mask:
                if not open_start_files(window, paths, args.mask):
                    raise HarmonizerError(window.last_error or "cannot open the files to picture")
            else:
                open_start_files(window, [str(p) for p in sample_paths()], None)
            code = screenshot(window, Path(args.screenshot), args.dialog, args.model)
            window.close()
            return code
    except HarmonizerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        window.close()
        return 1

    def excepthook(kind, value, tb):
        # A bug in a slot must not take the user's picture down with it: report it and carry on.
        traceback.print_exception(kind, value, tb)
        window.show_message(f"Internal error: {kind.__name__}: {value}", True)

    sys.excepthook = excepthook
    window.show()
    startup(window, paths, args.mask)
    return app.exec()


def ask_recover(window) -> bool:
    answer = QMessageBox.question(window, "Harmonizer", "The editor did not close cleanly last time. "
                                  "Recover the autosaved picture?", QMessageBox.Yes | QMessageBox.No)
    return answer == QMessageBox.Yes


def startup(window, paths: list[str], mask: str | None, ask=ask_recover) -> str:
    """What the window opens with: the files asked for, else an offer to recover the last session's
    autosave, else (first start: nothing recent) the bundled sample. Returns which it was."""
    from harmonizer_gui import settings

    if paths or mask:
        open_start_files(window, paths, mask)
        return "files"
    if settings.autosave_path().is_file():
        if ask(window) and window.recover_autosave():
            return "recovered"
        settings.autosave_path().unlink(missing_ok=True)
        return "declined"
    if not window.recent.paths() and sample_paths():
        open_start_files(window, [str(p) for p in sample_paths()], None)
        # Nothing of the user's is in it yet: no "modified" mark, no "save the changes?" on replacing it.
        window.doc.mark_saved()
        return "sample"
    return "empty"


if __name__ == "__main__":
    sys.exit(main())
