"""Before the first window: will Qt find a display it can talk to? Qt-free, so it runs before Qt aborts.

On Linux, Qt's X11 plugin needs a dozen small xcb libraries that a minimal desktop install may lack.
Without them Qt prints a paragraph about "xcb" and aborts the process, and the package it suggests is
often not the missing one. Loading the libraries ourselves first tells the user exactly which packages
to install, in one line. The README lists the same packages.
"""
from __future__ import annotations

import ctypes
import os
import sys

# What Qt 6's xcb platform plugin links against (ldd libqxcb.so), with the Debian/Ubuntu package of each.
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1", "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1", "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_packages(loads=_loads) -> list[str]:
    return [package for soname, package in XCB_LIBRARIES.items() if not loads(soname)]


def problem(env=None, platform: str | None = None, loads=_loads) -> str | None:
    """One line saying why Qt's platform plugin cannot load here, or None when it should (or when
    another platform than X11 was asked for, whose own message is then the best one)."""
    env = os.environ if env is None else env
    if not (platform or sys.platform).startswith("linux"):
        return None
    wanted = env.get("QT_QPA_PLATFORM", "")
    if (wanted and not wanted.startswith("xcb")) or (not wanted and env.get("WAYLAND_DISPLAY")):
        return None
    if not env.get("DISPLAY"):
        return ("no display to open the editor on (DISPLAY is not set); on a machine without one, "
                "QT_QPA_PLATFORM=offscreen harmonizer gui --screenshot OUT.png still works")
    missing = missing_packages(loads)
    if missing:
        return (f"Qt's X11 platform plugin (xcb) cannot load: install {' '.join(missing)} "
                f"(e.g. sudo apt install {' '.join(missing)}); the README lists what a Linux desktop needs")
    return None
