"""Layer ▸ Shadow handles: the shadow's direction and length, and its ground line, dragged on the canvas.

Qt-free geometry; the canvas draws the handles and feeds it canvas coordinates. The tip handle is where the
top of the object lands on the ground (engine.shadow's own rule, `lay_direction`), so dragging it points
the shadow there; the ground line is the row the object stands on, which a drag moves up or down (for an
object whose lowest pixels are not where it touches the ground: legs, a cut-off base).
"""
from __future__ import annotations

import math

from engine.shadow import ShadowSettings, aim, lay_direction

HANDLE_PX = 7  # radius of the tip handle, in screen pixels
GROUND_PX = 6  # how close to the ground line (in screen pixels) a press grabs it


class ShadowHandles:
    def __init__(self, settings: ShadowSettings, box: tuple[int, int, int, int]):
        self.settings = settings
        self.box = box  # the object's box on the canvas (engine.shadow.object_box)

    @property
    def ground(self) -> float:
        return float(self.box[3] - 1 if self.settings.ground is None else self.settings.ground)

    @property
    def height(self) -> float:
        return max(1.0, self.ground - self.box[1])

    def anchor(self) -> tuple[float, float]:
        """Where the object stands: its middle, on the ground line."""
        return (self.box[0] + self.box[2] - 1) / 2.0, self.ground

    def tip(self) -> tuple[float, float]:
        """Where the object's top lands."""
        dx, dy = lay_direction(self.settings)
        ax, ground = self.anchor()
        return ax + self.height * dx, ground - self.height * dy

    def hit(self, x: float, y: float, zoom: float) -> str:
        """'tip', 'ground' or '' for a press at canvas (x, y)."""
        tx, ty = self.tip()
        if math.hypot(x - tx, y - ty) <= (HANDLE_PX + 3) / zoom:
            return "tip"
        if abs(y - self.ground) <= GROUND_PX / zoom:
            return "ground"
        return ""

    def drag(self, kind: str, x: float, y: float) -> ShadowSettings:
        """The settings a drag of `kind` to canvas (x, y) gives (also kept as the handles' own)."""
        s = self.settings
        if kind == "tip":
            ax, ground = self.anchor()
            s = aim(s, (x - ax) / self.height, (ground - y) / self.height)
        elif kind == "ground":
            # Not above the object's top: a ground over its head would lay the shadow upside down.
            s = ShadowSettings(s.angle, s.length, s.softness, s.opacity, s.perspective, max(float(self.box[1] + 1), y))
        self.settings = s
        return s
