"""The main window's menus and keyboard shortcuts, and the Help ▸ Shortcuts table built from them.

Every shortcut is a QAction here, so the menus show them and the help table cannot drift from what the
keys do; only the keys that act while held (Space, Y) and Enter/Esc in transform mode live in the canvas.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, QToolBar, QVBoxLayout,
)

from harmonizer_gui.panels import icon

# Keys handled by the canvas itself (they act while held, or only in a mode).
CANVAS_KEYS = [
    ("Canvas", "Pan", "Space + drag with the pointer over the canvas, or middle button drag"),
    ("Canvas", "Zoom at the pointer", "Ctrl + wheel"),
    ("Canvas", "Scroll", "Wheel (Shift + wheel: sideways)"),
    ("Canvas", "Show the original while held", "Y"),
    ("Transform", "Apply / cancel the transform", "Enter / Esc"),
    ("Transform", "Keep proportions / snap rotation to 15°", "Shift while dragging"),
]


def _action(window, menu, text, slot, shortcuts=(), tip="", checkable=False, name=None):
    action = QAction(text, window)
    if shortcuts:
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
    if tip:
        action.setStatusTip(tip)
    action.setCheckable(checkable)
    if checkable:
        action.toggled.connect(slot)
    else:
        action.triggered.connect(lambda checked=False: slot())
    menu.addAction(action)
    window.actions_by_name[name or text] = action
    return action


def build_menus(w) -> None:
    """Create the menu bar of MainWindow `w` (which provides the slots)."""
    w.actions_by_name = {}
    canvas = w.canvas
    bar = w.menuBar()

    m = bar.addMenu("&File")
    _action(w, m, "Open background…", w.open_background, ["Ctrl+O"], "Open an image as the background (canvas)")
    _action(w, m, "Open foreground…", w.open_foreground, ["Ctrl+Shift+O"], "Place an image or cut-out on the background")
    _action(w, m, "Open project…", w.open_project, ["Ctrl+Alt+O"], "Open an OpenRaster (.ora) project")
    w.recent_menu = m.addMenu("Recent files")
    w.recent_menu.aboutToShow.connect(w.fill_recent_menu)
    m.addSeparator()
    _action(w, m, "Save", w.save, ["Ctrl+S"], "Save the project (.ora)")
    _action(w, m, "Save as…", w.save_as, ["Ctrl+Shift+S"], "Save the project under a new name")
    w.export_again_action = _action(w, m, "Export", w.export_again, ["Ctrl+E"], "Export the picture (asks where)",
                                    name="Export again")
    m.aboutToShow.connect(w._update_export_action)  # names this picture's last export target, if any
    _action(w, m, "Export as…", w.export, ["Ctrl+Shift+E"],
            "Write the picture at full resolution (PNG, JPEG, WebP, TIFF)")
    m.addSeparator()
    _action(w, m, "Load mask…", w.load_mask, ["Ctrl+Shift+L"], "Use a greyscale image as the mask")
    _action(w, m, "Save mask…", w.save_mask, [], "Save the composite's mask as a PNG")
    m.addSeparator()
    _action(w, m, "Quit", w.close, ["Ctrl+Q"])

    m = bar.addMenu("&Edit")
    w.undo_action = _action(w, m, "Undo", w.undo, ["Ctrl+Z"])
    w.redo_action = _action(w, m, "Redo", w.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
    m.addSeparator()
    _action(w, m, "Copy picture", w.copy_picture, ["Ctrl+C"], "Copy the picture as exported (the harmonized result)")
    _action(w, m, "Paste as foreground", lambda: w.paste(foreground=True), ["Ctrl+V"])
    _action(w, m, "Paste as background", lambda: w.paste(foreground=False), ["Ctrl+Shift+V"])

    m = bar.addMenu("&Mask")
    tools = w.tools
    w.brush_action = _action(w, m, "Brush", lambda: tools.set_tool("brush"), ["B"], "Paint the mask")
    w.eraser_action = _action(w, m, "Eraser", lambda: tools.set_tool("eraser"), ["E"], "Erase from the mask")
    _action(w, m, "Swap brush and eraser", tools.swap_tool, ["X"])
    _action(w, m, "Bigger brush", lambda: tools.grow_brush(True), ["]"])
    _action(w, m, "Smaller brush", lambda: tools.grow_brush(False), ["["])
    _action(w, m, "Harder brush", lambda: tools.harden_brush(True), ["}", "Shift+]"])
    _action(w, m, "Softer brush", lambda: tools.harden_brush(False), ["{", "Shift+["])
    m.addSeparator()
    w.reference_target_action = _action(
        w, m, "Paint reference area", lambda on: tools.set_target("reference" if on else "mask"), ["R"],
        "The brush paints the part of the scene whose light the object should take", checkable=True)
    tools.events.target.connect(lambda target: w.reference_target_action.setChecked(target == "reference"))
    def match_reference(on: bool) -> None:
        w.attempt(w.doc.set_match_reference, on)
        w.match_reference_action.setChecked(w.doc.match_reference)  # unchanged if it could not switch

    w.match_reference_action = _action(
        w, m, "Match reference area", match_reference, ["Shift+R"],
        "Harmonize towards the reference area's light instead of the whole background's", checkable=True)
    w.doc.events.reference.connect(lambda: w.match_reference_action.setChecked(w.doc.match_reference))
    _action(w, m, "Clear reference area", w.doc.clear_reference)
    m.addSeparator()
    _action(w, m, "Feather…", w.feather_mask, ["Shift+F6"], "Soften the mask's edge")
    _action(w, m, "Refine edge…", lambda: w.edge_dialog("refine"), ["Ctrl+Alt+R"],
            "Snap the mask's edge to the picture's edges, with a live preview")
    _action(w, m, "Grow…", lambda: w.grow_mask(True), [], "Expand the mask")
    _action(w, m, "Shrink…", lambda: w.grow_mask(False), [], "Contract the mask")
    _action(w, m, "Invert", lambda: w.mask_op("invert_mask"), ["Ctrl+I"])
    _action(w, m, "Fill", lambda: w.mask_op("fill_mask"), ["Alt+Backspace"], "Mask the whole foreground")
    _action(w, m, "Clear", lambda: w.mask_op("clear_mask"), ["Delete"], "Empty the mask")

    m = bar.addMenu("&View")
    _action(w, m, "Zoom in", canvas.zoom_in, ["Ctrl+=", "Ctrl++"])
    _action(w, m, "Zoom out", canvas.zoom_out, ["Ctrl+-"])
    _action(w, m, "Fit to window", canvas.fit, ["Ctrl+0"])
    _action(w, m, "Actual pixels (100 %)", canvas.actual_size, ["Ctrl+1"])
    m.addSeparator()
    w.overlay_action = _action(w, m, "Show mask overlay", w.set_overlay_visible, ["M", "\\"], checkable=True)
    w.split_action = _action(w, m, "Split before / after", canvas.set_split, ["S"], checkable=True,
                             tip="Original on the left, result on the right; drag the line")

    m = bar.addMenu("&Layer")
    w.transform_action = _action(w, m, "Free transform", w.toggle_transform, ["Ctrl+T"],
                                 "Move, scale and rotate the foreground")
    _action(w, m, "Replace background…", w.replace_background, [],
            "Put another image under the cut-out, keeping its mask and place")
    _action(w, m, "Flip horizontal", lambda: w.attempt(w.doc.flip, True))
    _action(w, m, "Flip vertical", lambda: w.attempt(w.doc.flip, False))
    _action(w, m, "Opacity…", w.ask_opacity)
    _action(w, m, "Defringe…", lambda: w.edge_dialog("defringe"), [],
            "Give the cut-out's rim the object's own colour, with a live preview")
    _action(w, m, "Shadow…", lambda: w.edge_dialog("shadow"), [],
            "Cast the object's shadow on the ground: direction, length, softness, opacity")
    w.shadow_handles_action = _action(w, m, "Shadow handles", w.toggle_shadow_handles, [],
                                      "Drag the shadow's direction, length and ground line on the canvas",
                                      checkable=True)
    _action(w, m, "Remove shadow", w.remove_shadow)
    _action(w, m, "Match photo…", w.match_photo_dialog, [],
            "Give the object another photo's light, mixed with its own scene's")
    _action(w, m, "Stop matching photo", w.stop_matching_photo)
    m.addSeparator()
    w.harmonize_action = _action(w, m, "Harmonize", w.controller.harmonize, ["Ctrl+H", "H"], "Harmonize the foreground")
    _action(w, m, "Cancel", w.escape, ["Esc"], "Stop harmonizing (or cancel a transform)")
    _action(w, m, "Discard result", w.doc.clear_result)

    m = bar.addMenu("&Tools")
    w.finetune_action = _action(w, m, "Fine-tune on your photos…", w.dialogs.show_finetune, [],
                                "Train a model on your own photos in the background")
    w.batch_action = _action(w, m, "Batch export…", w.dialogs.show_batch, [],
                             "Harmonize a folder of composites or .ora projects")

    m = bar.addMenu("&Help")
    _action(w, m, "Keyboard shortcuts", lambda: shortcuts_dialog(w).exec(), ["F1"])
    _action(w, m, "About Harmonizer", w.about)


def build_toolbar(w) -> QToolBar:
    """A slim tool strip on the left, as in Krita and Photoshop, reusing the menu actions."""
    bar = QToolBar("Tools", w)
    bar.setObjectName("toolStrip")
    bar.setMovable(False)
    bar.setIconSize(QSize(22, 22))
    group = QActionGroup(w)
    for action, icon_name in ((w.brush_action, "brush"), (w.eraser_action, "eraser")):
        action.setCheckable(True)
        action.setIcon(icon(icon_name))
        group.addAction(action)
        bar.addAction(action)
    w.brush_action.setChecked(w.tools.tool == "brush")
    w.eraser_action.setChecked(w.tools.tool == "eraser")
    w.tools.events.tool.connect(lambda tool: (w.brush_action if tool == "brush" else w.eraser_action).setChecked(True))
    bar.addSeparator()
    w.transform_action.setIcon(icon("transform"))
    bar.addAction(w.transform_action)
    w.split_action.setIcon(icon("split"))
    bar.addAction(w.split_action)
    bar.addSeparator()
    w.harmonize_action.setIcon(icon("harmonize"))
    bar.addAction(w.harmonize_action)
    for action in bar.actions():
        keys = action.shortcut().toString(QKeySequence.NativeText)
        if keys:
            action.setToolTip(f"{action.text()}  ({keys})")
    w.addToolBar(Qt.LeftToolBarArea, bar)
    return bar


def shortcut_rows(w) -> list[tuple[str, str, str]]:
    rows = []
    for menu_action in w.menuBar().actions():
        menu = menu_action.menu()
        title = menu_action.text().replace("&", "")
        for action in menu.actions() if menu else []:
            keys = [s.toString(QKeySequence.NativeText) for s in action.shortcuts()]
            if keys:
                rows.append((title, action.text().rstrip("…"), " or ".join(keys)))
    return rows + CANVAS_KEYS


def shortcuts_dialog(w) -> QDialog:
    dialog = QDialog(w)
    dialog.setWindowTitle("Keyboard shortcuts")
    rows = shortcut_rows(w)
    table = QTableWidget(len(rows), 3)
    table.setHorizontalHeaderLabels(["Where", "Action", "Keys"])
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
    table.resizeColumnsToContents()
    layout = QVBoxLayout(dialog)
    layout.addWidget(table)
    buttons = QDialogButtonBox(QDialogButtonBox.Close)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    dialog.resize(560, 620)
    return dialog
