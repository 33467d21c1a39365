"""Installed as the package `harmonizer_resources`: data files only (see engine/bundled.py)."""
