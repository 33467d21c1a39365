"""Preferences, recent files and the autosave location: defaults, tolerance of damaged files, atomic saves."""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest

from engine.errors import HarmonizerError
from harmonizer_gui import settings
from harmonizer_gui.settings import Preferences, RecentFiles


@pytest.fixture
def dirs(user_folders):
    return user_folders


def test_locations_follow_the_environment(dirs, monkeypatch):
    assert settings.config_dir() == dirs / "config"
    assert settings.autosave_path() == dirs / "data" / "autosave" / "autosave.ora"
    from harmonizer_gui import finetune_settings  # the dialogs' memories live in the same folder

    assert finetune_settings._memory_path().parent == dirs / "config"
    monkeypatch.delenv("HARMONIZER_CONFIG_DIR")
    assert settings.config_dir().name == "harmonizer"


def test_defaults_when_there_is_no_file(dirs):
    prefs = Preferences.load()
    assert prefs == Preferences()
    assert (prefs.overlay_color, prefs.overlay_opacity, prefs.brush_size, prefs.autosave_seconds) == ("#ff3b30", 0.45, 40, 60)


def test_save_and_load_round_trip(dirs):
    prefs = Preferences(overlay_color="#00ff88", overlay_opacity=0.2, overlay_visible=False, brush_size=7,
                        brush_hardness=0.1, model="my model", live_mode=True, window_geometry="01d9d0cb",
                        window_state="00ff", last_folder="/tmp/ünï", autosave_seconds=0,
                        export_format="webp", export_quality=80)
    prefs.save()
    assert Preferences.load() == prefs
    stored = json.loads((dirs / "config" / "preferences.json").read_text(encoding="utf-8"))
    assert stored == asdict(prefs)
    assert [p.name for p in (dirs / "config").iterdir()] == ["preferences.json"]  # no temp file left


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", "null", "\xff\xfe"])
def test_corrupt_file_gives_defaults(dirs, content):
    path = dirs / "config" / "preferences.json"
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="latin-1")
    assert Preferences.load() == Preferences()


def test_wrong_types_fall_back_per_field_and_unknown_keys_are_ignored(dirs):
    path = dirs / "config" / "preferences.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "brush_size": True,  # a bool is not a size
        "overlay_opacity": "0.3",
        "overlay_visible": 0,
        "overlay_color": "red",
        "brush_hardness": 3.5,  # out of range
        "export_quality": 70,
        "live_mode": True,
        "autosave_seconds": 30.5,
        "from_a_newer_version": [1, 2, 3],
        "overlay_color_2": "#000000",
    }))
    prefs = Preferences.load()
    default = Preferences()
    assert prefs.brush_size == default.brush_size
    assert prefs.overlay_opacity == default.overlay_opacity
    assert prefs.overlay_visible is True and prefs.overlay_color == default.overlay_color
    assert prefs.brush_hardness == default.brush_hardness
    assert prefs.autosave_seconds == default.autosave_seconds
    assert (prefs.export_quality, prefs.live_mode) == (70, True)  # the good fields survive


def test_integer_opacity_is_accepted_as_float(dirs):
    path = dirs / "config" / "preferences.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"overlay_opacity": 1}')
    prefs = Preferences.load()
    assert prefs.overlay_opacity == 1.0 and isinstance(prefs.overlay_opacity, float)


def test_save_failure_is_a_harmonizer_error_and_keeps_the_old_file(dirs, monkeypatch):
    Preferences(brush_size=12).save()
    before = Preferences.path().read_bytes()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)  # fails after the new bytes were written to the temp file
    with pytest.raises(HarmonizerError) as info:
        Preferences(brush_size=99).save()
    assert "No space left" in str(info.value) and "\n" not in str(info.value)
    assert Preferences.path().read_bytes() == before
    assert [p.name for p in Preferences.path().parent.iterdir()] == ["preferences.json"]


def make_files(folder: Path, *names):
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        (folder / name).write_bytes(b"x")
        out.append(folder / name)
    return out


def test_recent_files_order_dedupe_and_limit(dirs):
    a, b, c, d = make_files(dirs / "work", "a.ora", "b.png", "c.jpg", "d.ora")
    recent = RecentFiles(max_items=3)
    assert recent.paths() == []
    recent.add(a)
    recent.add(b)
    recent.add(dirs / "work" / "sub" / ".." / "a.ora")  # the same file by another spelling
    assert recent.paths() == [a.resolve(), b.resolve()]
    recent.add(c)
    recent.add(d)
    assert recent.paths() == [d.resolve(), c.resolve(), a.resolve()]
    assert RecentFiles(max_items=3).paths() == recent.paths()  # persisted
    assert json.loads((dirs / "config" / "recent.json").read_text())[0] == str(d.resolve())


def test_recent_files_hide_missing_and_clear(dirs):
    a, b = make_files(dirs / "work", "a.ora", "b.ora")
    recent = RecentFiles()
    recent.add(a)
    recent.add(b)
    b.unlink()
    assert recent.paths() == [a.resolve()]
    recent.clear()
    assert recent.paths() == []
    a.unlink()
    assert RecentFiles().paths() == []


def test_recent_files_survive_a_damaged_file(dirs):
    (a,) = make_files(dirs / "work", "a.ora")
    path = dirs / "config" / "recent.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"oops": 1}')
    assert RecentFiles().paths() == []
    path.write_text(json.dumps([str(a), 5, None, ""]))
    assert RecentFiles().paths() == [a]
    RecentFiles().add(a)
    assert json.loads(path.read_text()) == [str(a.resolve())]


def test_recent_files_on_a_read_only_folder_do_not_raise(dirs, monkeypatch):
    (a,) = make_files(dirs / "work", "a.ora")

    def refuse(path, data):
        raise HarmonizerError(f"cannot write {path}: read-only file system")

    monkeypatch.setattr(settings, "atomic_write_bytes", refuse)
    RecentFiles().add(a)
    assert RecentFiles().paths() == []


def test_the_batch_form_round_trips_and_survives_a_damaged_file(dirs):
    from harmonizer_gui.batch_settings import SETTINGS_FILE, BatchForm

    assert BatchForm.load() == BatchForm()  # nothing remembered yet
    form = BatchForm(input="/in", out="/out", format="jpg", quality=80, strength=60, limit=True, max_side=1024)
    form.save()
    assert BatchForm.load() == form
    (dirs / "config" / SETTINGS_FILE).write_text('{"quality": "80", "strength": true, "template": "", "limit": 1}')
    loaded = BatchForm.load()
    assert (loaded.quality, loaded.strength, loaded.template, loaded.limit) == (None, None, "{name}_harmonized", True)
    (dirs / "config" / SETTINGS_FILE).write_text("[1, 2]")
    assert BatchForm.load() == BatchForm()
