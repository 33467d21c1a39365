"""Fixtures every test file shares.

Every test runs with its own user data and settings folders (tmp_path/data, tmp_path/config): nothing a
test saves, registers or remembers reaches the real user's folders or the next test. Tests that need
other folders set the variables again; what they set wins.
"""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def user_folders(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HARMONIZER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HARMONIZER_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path


@pytest.fixture
def no_bundled_models(tmp_path, monkeypatch) -> Path:
    """An empty bundled-models folder, whatever resources/models holds today; returned so a test can
    put models there."""
    empty = tmp_path / "bundled"
    empty.mkdir()
    monkeypatch.setattr("engine.registry.bundled_models_dir", lambda: empty)
    return empty
