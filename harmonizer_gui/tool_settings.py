"""The painting tools' settings: which tool, the brush, the mask overlay. A model, free of Qt.

The canvas paints and tints with them, the side panel and the menus change them, the preferences save
them: each observes this one object's events instead of keeping its own copy to keep in step. Setters
clamp their values here and fire an event only when something changed, so a view that writes back
what it was just told ends the exchange.
"""
from __future__ import annotations

from dataclasses import replace

from harmonizer_gui.document import PRESSURE_MODES, Brush, Event

TOOLS = ("brush", "eraser")
# What the brush paints: the object's mask, or the reference area (the part of the scene whose light
# the object should take; the document's `reference`).
TARGETS = ("mask", "reference")
REFERENCE_COLOR = (40, 200, 255)  # the reference area's tint: apart from the mask's, on any picture
BRUSH_MIN, BRUSH_MAX = 1.0, 2000.0  # diameter in canvas pixels


class ToolEvents:
    def __init__(self):
        self.tool = Event()     # (tool)
        self.target = Event()   # (target)
        self.brush = Event()    # (): size, hardness or pen pressure mode
        self.overlay = Event()  # (): visibility, colour or opacity


class ToolSettings:
    def __init__(self):
        self.events = ToolEvents()
        self.tool = "brush"
        self.target = "mask"
        self.brush = Brush()
        self.overlay_visible = False
        self.overlay_color = (255, 48, 96)
        self.overlay_opacity = 0.45

    # -- tool ------------------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        if tool != self.tool:
            self.tool = tool
            self.events.tool(tool)

    def swap_tool(self) -> None:
        self.set_tool("eraser" if self.tool == "brush" else "brush")

    def set_target(self, target: str) -> None:
        if target not in TARGETS:
            raise ValueError(f"unknown brush target {target!r}")
        if target != self.target:
            self.target = target
            self.events.target(target)

    # -- brush -----------------------------------------------------------------------------------------
    def set_brush(self, size: float | None = None, hardness: float | None = None, pressure: str | None = None) -> None:
        new = self.brush
        if size is not None:
            new = replace(new, size=float(min(BRUSH_MAX, max(BRUSH_MIN, size))))
        if hardness is not None:
            new = replace(new, hardness=float(min(1.0, max(0.0, hardness))))
        if pressure in PRESSURE_MODES:
            new = replace(new, pressure=pressure)
        if new != self.brush:
            self.brush = new
            self.events.brush()

    def grow_brush(self, bigger: bool) -> None:
        # Steps proportional to the size feel the same at 5 px and at 500 px.
        step = max(1.0, self.brush.size * 0.15)
        self.set_brush(self.brush.size + (step if bigger else -step))

    def harden_brush(self, harder: bool) -> None:
        self.set_brush(hardness=self.brush.hardness + (0.1 if harder else -0.1))

    def stroke_brush(self) -> Brush:
        """The brush a stroke starting now paints with (a copy: settings may change mid-stroke)."""
        return replace(self.brush, erase=self.tool == "eraser")

    # -- mask overlay ----------------------------------------------------------------------------------
    def set_overlay(self, visible: bool | None = None, color=None, opacity: float | None = None) -> None:
        before = (self.overlay_visible, self.overlay_color, self.overlay_opacity)
        if visible is not None:
            self.overlay_visible = bool(visible)
        if color is not None:
            self.overlay_color = tuple(int(c) for c in color)[:3]
        if opacity is not None:
            self.overlay_opacity = float(min(1.0, max(0.0, opacity)))
        if (self.overlay_visible, self.overlay_color, self.overlay_opacity) != before:
            self.events.overlay()
