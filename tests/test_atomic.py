"""Interrupted and concurrent writes (docs/reliability.md): kill -9 and SIGTERM leave nothing behind for
long, files are fsync'd before they take their name, and two batches into one folder lose no file."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine
from engine import atomic
from engine.atomic import atomic_path, atomic_write_bytes
from engine.batch import BatchOptions, run_batch
from engine.harmonizer import Harmonizer
from engine.image_io import write_image

CODE_ROOT = Path(engine.__file__).resolve().parent.parent
posix = pytest.mark.skipif(os.name != "posix", reason="signals and /proc are POSIX")


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def python(code: str, *args, timeout=120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(CODE_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def pairs(folder: Path, n: int, size=(24, 32)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    for i in range(n):
        img = np.full((h, w, 3), (40 + i) % 256, np.uint8)
        img[4:h - 4, 6:w - 6] = 200
        mask = np.zeros((h, w), np.uint8)
        mask[4:h - 4, 6:w - 6] = 255
        Image.fromarray(img).save(folder / f"img{i:02d}.png")
        Image.fromarray(mask).save(folder / f"img{i:02d}_mask.png")
    return folder


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@posix
def test_a_killed_writers_temp_file_is_removed_by_the_next_write_into_the_folder(tmp_path):
    killed = python("""
        import os, signal, sys
        from engine.atomic import atomic_path
        with atomic_path(sys.argv[1]) as tmp:
            tmp.write_bytes(b"half a picture")
            os.kill(os.getpid(), signal.SIGKILL)
    """, tmp_path / "a.png")
    assert killed.returncode == -signal.SIGKILL
    [left] = hidden(tmp_path)
    assert left.startswith(".a.") and left.endswith(".tmp.png")
    # Not ours to remove: a live writer's temp (this process), a dotfile of another pattern.
    live = tmp_path / f".b.hz{os.getpid()}-abcd1234.tmp.png"
    other = tmp_path / ".c.tmp.png"
    live.write_bytes(b"")
    other.write_bytes(b"")
    atomic_write_bytes(tmp_path / "next.txt", b"ok")
    assert hidden(tmp_path) == sorted([live.name, other.name])

    # A batch sweeps its output folder at the start, even when it has nothing to write.
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f".x.hz{dead_pid()}-abcd_123.tmp.png"
    stale.write_bytes(b"")
    run_batch([], out, BatchOptions(), Harmonizer(method="classical"))
    assert hidden(out) == []


@posix
def test_sigterm_during_a_write_cleans_up_like_ctrl_c(tmp_path):
    pairs(tmp_path, 1)
    done = python("""
        import os, signal, sys, time
        real = os.replace
        def slow(a, b):  # SIGTERM arrives while the temp file exists
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            real(a, b)
        os.replace = slow
        from harmonizer_cli import main
        sys.exit(main(sys.argv[1:]))
    """, "harmonize", tmp_path / "img00.png", tmp_path / "img00_mask.png", "-o", tmp_path / "out.png",
        "--method", "classical")
    assert done.returncode == 143, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "terminated"
    assert not (tmp_path / "out.png").exists() and hidden(tmp_path) == []


@posix
def test_sigterm_during_a_parallel_batch_stops_it_and_leaves_no_temp_files(tmp_path):
    src = pairs(tmp_path / "in", 12)
    out = tmp_path / "out"
    done = python("""
        import os, signal, sys, threading, time
        real, first = os.replace, threading.Event()
        def slow(a, b):
            if not first.is_set():
                first.set()
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)
            real(a, b)
        os.replace = slow
        from harmonizer_cli import main
        sys.exit(main(sys.argv[1:]))
    """, "batch", src, "-o", out, "--workers", "2", "--method", "classical")
    assert done.returncode == 143, done.stderr
    written = sorted(out.iterdir())
    assert hidden(out) == [] and 1 <= len(written) < 12  # queued items never started
    for path in written:
        assert Image.open(path).size == (32, 24)  # whatever was published is whole


@posix
def test_files_are_fsynced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    import torch

    from engine.model_file import save_model
    from engine.rainnet import RainNet
    from trainer.checkpoint import save_checkpoint

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(a), str(b))), real_replace(a, b)))
    writes = {
        "a.png": lambda p: write_image(p, np.zeros((4, 4, 3), np.uint8)),
        "m.safetensors": lambda p: save_model(p, RainNet(ngf=4, depth=3), {}, {}),
        "last.pt": lambda p: save_checkpoint(p, {"w": torch.zeros(3)}),
    }
    for name, write in writes.items():
        events.clear()
        write(tmp_path / name)
        [replace] = [e for e in events if e[0] == "replace"]
        at = events.index(replace)
        assert ("fsync", replace[1]) in events[:at], (name, events)
        assert ("fsync", str(tmp_path)) in events[at:], (name, events)


def test_an_exclusive_write_never_replaces_a_file(tmp_path, monkeypatch):
    path = tmp_path / "taken.txt"
    path.write_bytes(b"theirs")
    with pytest.raises(atomic.NameTakenError, match="taken.txt: the name is already taken"):
        atomic_write_bytes(path, b"ours", exclusive=True)
    # Where hard links are not supported the name is claimed by an exclusive create instead.
    monkeypatch.setattr(os, "link", lambda a, b: (_ for _ in ()).throw(OSError(1, "Operation not permitted")))
    with pytest.raises(atomic.NameTakenError):
        with atomic_path(path, exclusive=True) as tmp:
            tmp.write_bytes(b"ours")
    atomic_write_bytes(tmp_path / "free.txt", b"ours", exclusive=True)
    assert path.read_bytes() == b"theirs" and (tmp_path / "free.txt").read_bytes() == b"ours"
    assert hidden(tmp_path) == []


@pytest.mark.parametrize("policy", ["rename", "skip"])
def test_a_name_taken_by_another_batch_meanwhile_is_never_overwritten(tmp_path, policy):
    """Another batch writes x.png after this one planned x.png as free: rename moves on to x_2, skip
    keeps theirs; before, both wrote "x.png" and one file was lost."""
    out = tmp_path / "out"
    out.mkdir()
    rgb = np.full((24, 32, 3), 90, np.uint8)
    mask = np.zeros((24, 32), np.float32)
    mask[4:20, 6:26] = 1

    def loader(name):
        def load():
            write_image(out / f"{name}.png", np.zeros((24, 32, 3), np.uint8))  # the other batch's output
            return rgb, mask
        return load

    items = [(f"x{i}", loader(f"x{i}")) for i in range(3)]
    report = run_batch(items, out, BatchOptions(overwrite=policy), Harmonizer(method="classical"))
    assert not report.failed
    for i in range(3):
        assert not np.asarray(Image.open(out / f"x{i}.png")).any()  # theirs, intact
    if policy == "rename":
        assert [p.name for _, p in report.written] == ["x0_2.png", "x1_2.png", "x2_2.png"]
        assert len(list(out.iterdir())) == 6
    else:
        assert len(report.skipped) == 3 and len(list(out.iterdir())) == 3


@posix
def test_two_rename_batches_into_one_folder_keep_every_file(tmp_path):
    src = pairs(tmp_path / "in", 40, size=(16, 24))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(CODE_ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "harmonizer_cli", "batch", str(src), "-o", str(out), "--overwrite", "rename",
           "--method", "classical", "--workers", "2"]
    runs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0 and "40 written" in err, err
    assert len(list(out.iterdir())) == 80
