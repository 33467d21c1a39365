"""One training run through the shipped trainer (`python -m trainer`), for the studies in benchmarks/.

Studies train in subprocesses so they measure what users run, not a copy of the training loop; a run
whose folder already holds a model is kept, so a study can be interrupted and started again.
"""
from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def train_run(runs: Path, name: str, train_args: list[str]) -> None:
    """Train `runs/name` with `train_args` (which must name `--run-dir runs/name`), logging to runs/name.log."""
    if (runs / name / "model.safetensors").is_file():
        print(f"{name}: already trained, kept", flush=True)
        return
    cmd = [sys.executable, "-m", "trainer", *train_args]
    print(f"{name}: {shlex.join(cmd)}", flush=True)
    t0 = time.monotonic()
    log_path = runs / f"{name}.log"
    with open(log_path, "w") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    if rc:
        raise SystemExit(f"{name}: training failed (exit {rc}); see {log_path}")
    print(f"{name}: trained in {time.monotonic() - t0:.0f} s", flush=True)
