"""Whole-process times, as a user waits for them: each figure is a fresh `harmonizer` process (or, for
the editor, a fresh interpreter building its window), from launch to exit, interpreter start included.

    python benchmarks/startup.py                  # every row, 5 runs each
    python benchmarks/startup.py --repeats 1 --batch 8 --quick   # check that it runs (no 12 MP rows)
    python benchmarks/startup.py --json startup.json

Rows: `harmonizer --help`; `harmonize` with the classical method and with the default model, on a 256 px
PNG composite and on a 12 MP JPEG one (JPEG out); the editor's time to its first window (offscreen);
`harmonizer batch` in images per second at 256 px and at 12 MP. Inputs are the bundled sample photo,
resized, with a little grain so that JPEG coding costs what it costs on a camera's picture. Figures
depend heavily on what else the machine is doing: compare runs made side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.bundled import bundled_dir  # noqa: E402
from engine.registry import DEFAULT_NAME, SUFFIX, bundled_models_dir  # noqa: E402

SIZES = {"256 px": (256, 256), "12 MP": (4000, 3000)}  # (width, height)
# The child prints how long after its launch the window was up, then leaves without tearing down (the
# model may still be loading in the background; waiting for it is not part of this figure).
FIRST_WINDOW = """
import os, sys, time
from harmonizer_gui.app import application, startup
app = application()
from harmonizer_gui import settings
from harmonizer_gui.main_window import MainWindow
window = MainWindow(settings.Preferences.load())
window.show()
startup(window, [], None)  # as `harmonizer gui` does: the first start opens the sample
app.processEvents()
print(time.time() - float(sys.argv[1]))
sys.stdout.flush()
os._exit(0)
"""


def harmonizer_command() -> list[str]:
    """The installed console script beside this interpreter, else the same entry point through -m."""
    script = Path(sys.executable).with_name("harmonizer")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "harmonizer_cli"]


def write_inputs(folder: Path, stem: str, size: tuple[int, int], ext: str) -> tuple[Path, Path]:
    """The sample's foreground pasted on its background at `size`: composite `stem.ext`, mask
    `stem_mask.png` (the pairing `harmonizer batch` looks for)."""
    samples = bundled_dir("samples")
    bg = cv2.cvtColor(cv2.imread(str(samples / "background.jpg")), cv2.COLOR_BGR2RGB)
    fg = cv2.imread(str(samples / "foreground.png"), cv2.IMREAD_UNCHANGED)
    bg = cv2.resize(bg, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    fg = cv2.resize(fg, size, interpolation=cv2.INTER_CUBIC)
    alpha = fg[..., 3:].astype(np.float32) / 255
    rgb = cv2.cvtColor(fg[..., :3], cv2.COLOR_BGR2RGB).astype(np.float32)
    grain = np.random.default_rng(0).normal(0, 3, bg.shape).astype(np.float32)
    composite = np.clip(bg * (1 - alpha) + rgb * alpha + grain, 0, 255).astype(np.uint8)
    comp_path, mask_path = folder / f"{stem}.{ext}", folder / f"{stem}_mask.png"
    quality = [cv2.IMWRITE_JPEG_QUALITY, 92] if ext == "jpg" else []
    cv2.imwrite(str(comp_path), cv2.cvtColor(composite, cv2.COLOR_RGB2BGR), quality)
    cv2.imwrite(str(mask_path), fg[..., 3])
    return comp_path, mask_path


def timed(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return seconds


def first_window(env: dict) -> float:
    done = subprocess.run([sys.executable, "-c", FIRST_WINDOW, repr(time.time())], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"the editor did not start:\n{done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def summary(name: str, seconds: list[float], per_run: int = 0) -> dict:
    row = {"what": name, "median_s": statistics.median(seconds), "min_s": min(seconds), "runs": len(seconds)}
    if per_run:
        row["images_per_s"] = per_run / row["median_s"]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per row (median and minimum reported)")
    parser.add_argument("--batch", type=int, default=40, help="composites per batch at 256 px (a tenth at 12 MP)")
    parser.add_argument("--quick", action="store_true", help="skip the 12 MP rows")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()

    has_model = (bundled_models_dir() / f"{DEFAULT_NAME}{SUFFIX}").is_file()
    sizes = {k: v for k, v in SIZES.items() if not (args.quick and k == "12 MP")}
    work = Path(tempfile.mkdtemp(prefix="harmonizer-startup-"))
    # Private settings and models: the user's own neither change the figures nor get changed.
    env = dict(os.environ, HARMONIZER_DATA_DIR=str(work / "data"), HARMONIZER_CONFIG_DIR=str(work / "config"))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    cli = harmonizer_command()
    rows = []
    try:
        def add(name, make_args, per_run=0):
            rows.append(summary(name, [timed(make_args(i), env) for i in range(args.repeats)], per_run))
            print(f"{rows[-1]['what']:<46} median {rows[-1]['median_s']:6.2f} s   min {rows[-1]['min_s']:6.2f} s"
                  + (f"   {rows[-1]['images_per_s']:6.1f} images/s" if per_run else ""), flush=True)

        add("harmonizer --help", lambda i: [*cli, "--help"])
        methods = ["classical"] + (["default model"] if has_model else [])
        for label, (w, h) in sizes.items():
            ext = "png" if w * h < 1_000_000 else "jpg"
            comp, mask = write_inputs(work, f"single_{w}", (w, h), ext)
            for method in methods:
                flag = ["--method", "classical"] if method == "classical" else ["--model", DEFAULT_NAME]
                add(f"harmonize, {method}, {label} {ext.upper()}",
                    lambda i: [*cli, "harmonize", str(comp), str(mask), "-o", str(work / f"out.{ext}"), *flag])
        rows.append(summary("editor: first window (offscreen)", [first_window(env) for _ in range(args.repeats)]))
        print(f"{rows[-1]['what']:<46} median {rows[-1]['median_s']:6.2f} s   min {rows[-1]['min_s']:6.2f} s")
        for label, (w, h) in sizes.items():
            count = args.batch if w * h < 1_000_000 else max(1, args.batch // 10)
            ext = "png" if w * h < 1_000_000 else "jpg"
            folder = work / f"batch_{w}"
            folder.mkdir()
            write_inputs(folder, "img000", (w, h), ext)
            for n in range(1, count):
                for suffix in (f".{ext}", "_mask.png"):
                    shutil.copyfile(folder / f"img000{suffix}", folder / f"img{n:03d}{suffix}")
            model = ["--method", "classical"] if not has_model else ["--model", DEFAULT_NAME]
            add(f"batch, {'default model' if has_model else 'classical'}, {count} x {label}",
                lambda i: [*cli, "batch", str(folder), "-o", str(work / f"batch_out_{w}_{i}"), "--format", ext,
                           *model], per_run=count)
            if has_model:  # the default is a blend: its lead alone, for throughput
                add(f"batch, default model --fast, {count} x {label}",
                    lambda i: [*cli, "batch", str(folder), "-o", str(work / f"batch_fast_{w}_{i}"), "--format", ext,
                               *model, "--fast"], per_run=count)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
