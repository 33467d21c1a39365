"""engine/, trainer/ and the command's root run headless (servers, the trainer subprocess): they must
never import Qt, and the engine depends on neither the editor nor the trainer, not even by a module name
in a string (the command line hands it `train` and `gui` from harmonizer_cli)."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "trainer", "harmonizer_cli")
# The editor's models and file formats, which docs/architecture.md lists as Qt-free: state and rules that
# tests (and scripts) use without a display.
QT_FREE_GUI = ("batch_settings", "document", "document_io", "document_mask", "document_render", "finetune_settings", "history",
               "mask_ops", "platform_check", "project_io", "settings", "shadow_handles", "tool_settings", "training_run",
               "transform", "transform_tool")
QT_ROOTS = {"PySide6", "PySide2", "PyQt5", "PyQt6", "shiboken6", "qtpy"}


def modules() -> list[tuple[str, Path]]:
    found = [(f"harmonizer_gui.{name}", ROOT / "harmonizer_gui" / f"{name}.py") for name in QT_FREE_GUI]
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append((".".join(parts), path))
    return found


def qt_imports(source: str) -> list[str]:
    return imports_of(source, QT_ROOTS)


def imports_of(source: str, roots) -> list[str]:
    """The modules under `roots` that `source` imports, by statement or by importlib with a literal name."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (  # importlib.import_module("PySide6...") / __import__("PySide6")
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
        ):
            names = [node.args[0].value]
        else:
            continue
        hits += [n for n in names if n.split(".")[0] in roots]
    return hits


def module_names(source: str, roots) -> list[str]:
    """String literals that are a module path under `roots` ("trainer.cli"), as an import by name takes."""
    pattern = re.compile(rf"({'|'.join(map(re.escape, roots))})(\.\w+)*")
    return [node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.fullmatch(node.value)]


def test_the_scanner_notices_module_names_in_strings():
    roots = {"trainer", "harmonizer_gui"}
    assert module_names('X = {"train": "trainer.cli", "gui": "harmonizer_gui.app"}', roots) == [
        "trainer.cli", "harmonizer_gui.app"]
    prose = 'def f():\n    """The trainer\'s own numbers."""\n    return "training is not available"\n'
    assert module_names(prose, roots) == []


def test_the_scanner_notices_qt_imports():
    assert qt_imports("from PySide6.QtCore import QObject") == ["PySide6.QtCore"]
    assert qt_imports("def f():\n    import PyQt5.QtGui as g") == ["PyQt5.QtGui"]
    assert qt_imports("import importlib\nimportlib.import_module('PySide6.QtWidgets')") == ["PySide6.QtWidgets"]
    assert qt_imports("import numpy\nfrom . import PySide6_helpers") == []


def test_sources_do_not_import_qt():
    assert modules(), "no modules found under engine/ or trainer/"
    offenders = {name: hits for name, path in modules() if (hits := qt_imports(path.read_text("utf-8")))}
    assert not offenders, f"Qt imported in headless packages: {offenders}"


def test_the_architecture_doc_names_the_qt_free_gui_modules():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    line = next(ln for ln in doc.splitlines() if ln.startswith("Qt-free modules of the editor:"))
    assert sorted(m.strip(" `.") for m in line.split(":", 1)[1].split(",")) == sorted(f"{m}.py" for m in QT_FREE_GUI)


def test_the_engine_imports_neither_the_editor_nor_the_trainer():
    """Imports go one way (docs/architecture.md): what the editor and the command line share, such as the
    OpenRaster reader the batch uses, lives in engine/."""
    engine = [(name, path) for name, path in modules() if name.split(".")[0] == "engine"]
    roots = {"harmonizer_gui", "trainer", "harmonizer_cli"}
    offenders = {name: hits for name, path in engine
                 if (hits := imports_of(source := path.read_text("utf-8"), roots) + module_names(source, roots))}
    assert not offenders, f"engine modules importing the GUI or the trainer: {offenders}"


def test_importing_every_module_loads_no_qt():
    names = [name for name, _ in modules() if not name.endswith("__main__")]
    probe = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(QT_ROOTS)!r})\n"
        "print('QT:' + ','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"importing engine/trainer modules failed:\n{done.stderr[-2000:]}")
    assert done.stdout.strip().splitlines()[-1] == "QT:", done.stdout
