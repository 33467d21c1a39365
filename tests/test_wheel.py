"""The package as a user gets it: build the sdist and, from it, the wheel; install the wheel into a fresh
virtual environment outside the checkout; run the bundled model, the editor and the command line there.

The fresh environment borrows this one's dependencies (torch, PySide6, ...) through a .pth file rather
than installing them again: the point is the package's own files, and a bare `pip install torch`
would download a multi-gigabyte CUDA build.
"""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import __version__

ROOT = Path(__file__).resolve().parent.parent
DIST = "photo_harmonizer"
# Not part of a build: environments, caches, outputs of runs and earlier builds.
NOT_SOURCES = {".git", ".venv", "work_local", "runs", "build", "dist", ".whl", "shared", ".pytest_cache",
               "__pycache__"}
RESOURCES = ("models/default.safetensors", "models/default.md", "icons/eye.svg", "icons/harmonize.svg",
             "samples/background.jpg", "samples/foreground.png")

pytestmark = pytest.mark.slow


def copy_sources(dest: Path) -> Path:
    # A copy, so that building leaves no egg-info or build folder in the checkout.
    def ignore(folder, names):
        return [n for n in names if n in NOT_SOURCES or n.endswith(".egg-info")]

    return Path(shutil.copytree(ROOT, dest, ignore=ignore))


def run(args, cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def fresh_venv(folder: Path) -> Path:
    run([sys.executable, "-m", "venv", "--without-pip", folder], cwd=folder.parent)
    python = folder / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], folder).stdout.strip()
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()}
    if site.ENABLE_USER_SITE:
        ours.add(site.getusersitepackages())
    # Appended after the fresh site-packages, so the installed wheel wins over anything found here.
    (Path(purelib) / "borrowed_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    source = copy_sources(work / "source")
    run([sys.executable, "-m", "build", "--outdir", work / "dist", source], cwd=work)
    (sdist,) = (work / "dist").glob(f"{DIST}-*.tar.gz")
    (wheel,) = (work / "dist").glob(f"{DIST}-*.whl")  # built from the sdist, so it proves both
    return work, sdist, wheel


@pytest.fixture(scope="module")
def installed(built):
    work, _, wheel = built
    python = fresh_venv(work / "venv")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], cwd=work)
    home = work / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(QT_QPA_PLATFORM="offscreen", HARMONIZER_DATA_DIR=str(home / "data"),
               HARMONIZER_CONFIG_DIR=str(home / "config"))
    return work, python.parent / "harmonizer", env


def test_the_archives_carry_the_resources_and_the_licence(built):
    _, sdist, wheel = built
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"LICENSE", "docs/package.md"} <= names
    assert {f"resources/{r}" for r in RESOURCES} <= names
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(f"{DIST}-{__version__}.dist-info/METADATA").decode()
    assert {f"harmonizer_resources/{r}" for r in RESOURCES} <= names
    assert "harmonizer_gui/dark.qss" in names
    assert f"{DIST}-{__version__}.dist-info/licenses/LICENSE" in names
    assert "Name: photo-harmonizer" in metadata and "License-Expression: MIT" in metadata
    # The index page shows the long description: no repository-relative images there.
    assert "![" not in metadata and "](docs/" not in metadata


def test_the_installed_command_line_uses_the_bundled_model(installed):
    work, harmonizer, env = installed
    version = run([harmonizer, "--version"], work, env).stdout
    assert __version__ in version and "photo-harmonizer" in version
    models = run([harmonizer, "models"], work, env).stdout
    default = next(line for line in models.splitlines() if line.startswith("default "))
    assert str(work / "venv") in default, models  # the wheel's copy, not the checkout's

    rng = np.random.default_rng(0)
    composite = np.clip(rng.normal((170, 120, 80), 20, (96, 128, 3)), 0, 255).astype(np.uint8)
    composite[24:72, 40:88] = (60, 90, 170)
    mask = np.zeros((96, 128), np.uint8)
    mask[24:72, 40:88] = 255
    Image.fromarray(composite).save(work / "comp.png")
    Image.fromarray(mask).save(work / "mask.png")
    done = run([harmonizer, "harmonize", "comp.png", "mask.png", "-o", "out.png"], work, env)
    assert "wrote out.png (default on" in done.stderr, done.stderr
    out = np.asarray(Image.open(work / "out.png").convert("RGB"))
    assert out.shape == composite.shape and not np.array_equal(out[24:72, 40:88], composite[24:72, 40:88])


def test_the_installed_editor_finds_its_icons_sample_and_model(installed):
    work, harmonizer, env = installed
    probe = ("import engine; from harmonizer_gui.app import ICONS, sample_paths; "
             "from harmonizer_gui.harmonize_controller import model_choices; print(engine.__file__); "
             "print((ICONS / 'eye.svg').is_file(), len(sample_paths()), model_choices()[0][1])")
    lines = run([harmonizer.parent / "python", "-c", probe], work, env).stdout.split("\n")
    assert lines[0].startswith(str(work / "venv")) and lines[1] == "True 2 default", lines
    done = run([harmonizer, "gui", "--screenshot", "shot.png"], work, env)
    assert "warning" not in done.stderr.lower(), done.stderr  # no harmonized result would warn
    assert Image.open(work / "shot.png").size == (1440, 900)
