"""Latency and peak memory of `Harmonizer.harmonize`, and of the bare network step, per size and device.

    python benchmarks/speed.py                 # CPU, and CUDA when a GPU is present
    python benchmarks/speed.py --quick         # fewer repeats, to check it runs
    python benchmarks/speed.py --device cpu --repeats 9 --json speed.json

Inputs are synthetic but photo-like: smooth lighting gradients, soft blobs, fine grain, and an object
(a differently lit ellipse with a feathered edge) covering about a quarter of the frame.

Without an installed default model the RAIN rows use a network of the expected default configuration
with RANDOM weights, built in memory for timing only (labelled "timing-only"): latency does not depend on
what the weights are, and such a network is never written anywhere.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.harmonizer import Harmonizer  # noqa: E402
from engine.rainnet import PRESETS, RainNet, count_parameters  # noqa: E402
from engine.registry import bundled_models_dir  # noqa: E402

SIZES = {"256x256": (256, 256), "1024x1024": (1024, 1024), "4000x3000 (12 MP)": (3000, 4000)}
# The configuration the default model is expected to have when no trained one is installed.
DEFAULT_GUESS = {"ngf": 16, "depth": 7, "size": 128}
NETWORK_PRESETS = {
    "tiny (ngf 16, depth 8 @256)": {**PRESETS["tiny"], "size": 256},
    "small (ngf 32, depth 8 @256)": {**PRESETS["small"], "size": 256},
}
TARGET_NET_MS = 60.0
TARGET_12MP_S = 1.5
TARGET_12MP_MB = 1500.0
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def photo_like(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A composite (uint8 H x W x 3) and its soft object mask (float32, about 25 % of the frame)."""
    rng = np.random.default_rng(seed)
    small_h, small_w = max(8, h // 32), max(8, w // 32)
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    base = np.stack([
        150 + 60 * xx / small_w - 30 * yy / small_h,
        120 + 40 * yy / small_h,
        90 + 50 * (1 - xx / small_w),
    ], -1)
    base += rng.normal(0, 18, (small_h, small_w, 3)).astype(np.float32)  # soft blobs once upsampled
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    grain = rng.standard_normal((h, w), dtype=np.float32) * 6  # luminance grain, shared by channels
    img += grain[..., None]
    cy, cx, ry, rx = h * 0.55, w * 0.45, h * 0.33, w * 0.3  # pi * 0.33 * 0.3 ~ 31 % of the frame
    yy, xx = np.ogrid[0:h, 0:w]
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    mask = inside.astype(np.float32)
    feather = max(1.0, min(h, w) / 300)
    mask = cv2.GaussianBlur(mask, (0, 0), feather)
    mask[mask < 1e-3] = 0
    obj = img * np.float32(0.7) + np.array([-10, 5, 40], np.float32)  # a colder, darker paste
    img = img + (obj - img) * mask[..., None]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), mask


class PeakRSS:
    """Peak resident memory above the level at start, sampled every millisecond from /proc/self/statm."""

    def __init__(self, interval: float = 0.001):
        self.interval = interval
        self.available = Path("/proc/self/statm").exists()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * PAGE

    def __enter__(self):
        self.peak = self.start = self._rss() if self.available else 0
        self._stop = threading.Event()
        if self.available:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        if self.available:
            self._thread.join()
            self.peak = max(self.peak, self._rss())

    @property
    def delta_mb(self) -> float | None:
        return (self.peak - self.start) / 2**20 if self.available else None


def _release_free_memory() -> None:
    """Give freed heap pages back to the OS first, so the RSS delta counts what a run really allocates."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure(fn, repeats: int, warmup: int, device: torch.device | None) -> dict:
    """`device` None: the classical method, which runs no network."""
    cuda = device is not None and device.type == "cuda"
    for _ in range(warmup):
        fn()
    times, peaks, gpu_peaks = [], [], []
    for _ in range(repeats):
        _release_free_memory()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        with PeakRSS() as rss:
            start = time.perf_counter()
            fn()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        peaks.append(rss.delta_mb)
        if cuda:
            gpu_peaks.append(torch.cuda.max_memory_allocated() / 2**20)
    row = {"median_ms": statistics.median(times) * 1000, "min_ms": min(times) * 1000, "repeats": repeats}
    if peaks[0] is not None:
        row["peak_rss_mb"] = max(peaks)
    if gpu_peaks:
        row["peak_gpu_mb"] = max(gpu_peaks)
    return row


def rain_harmonizers(device: str) -> list[tuple[str, Harmonizer]]:
    """The default model if installed, else its expected configuration with timing-only random weights."""
    if (bundled_models_dir() / "default.safetensors").is_file():
        h = Harmonizer(model="default", device=device)
        c = h.info.config
        return [(f"default model (ngf {c.get('ngf')}, depth {c.get('depth')} @{h.working_size})", h)]
    torch.manual_seed(0)
    cfg = DEFAULT_GUESS
    net = RainNet(ngf=cfg["ngf"], depth=cfg["depth"])
    label = f"ngf {cfg['ngf']}, depth {cfg['depth']} @{cfg['size']} (timing-only random weights)"
    return [(label, Harmonizer.from_network(net, {"size": cfg["size"]}, name="timing-only", device=device))]


def network_rows(device: str, repeats: int, warmup: int) -> list[dict]:
    """The bare network step (`Harmonizer.predict`) at the working size and at 256, per preset."""
    rows = []
    candidates = [(label, h) for label, h in rain_harmonizers(device)]
    for label, cfg in NETWORK_PRESETS.items():
        torch.manual_seed(0)
        net = RainNet(ngf=cfg["ngf"], depth=cfg["depth"])
        candidates.append((label + " (timing-only random weights)",
                           Harmonizer.from_network(net, {"size": cfg["size"]}, name="timing-only", device=device)))
    for label, h in candidates:
        sizes = sorted({h.working_size, 256})
        for size in sizes:
            if size % h.net.multiple:
                continue
            comp, mask = photo_like(size, size, seed=1)
            row = measure(lambda: h.predict(comp, mask), repeats, warmup, h.device)
            rows.append({"what": "network", "model": label, "params": count_parameters(h.net), "size": size,
                         "device": h.device_name, **row})
    return rows


def harmonize_rows(device: str, repeats: int, warmup: int, sizes: dict) -> list[dict]:
    rows = []
    methods = [(f"rain: {label}", h) for label, h in rain_harmonizers(device)]
    if methods[0][1].device.type == "cpu":  # the classical method always runs on the CPU
        methods.insert(0, ("classical", Harmonizer(method="classical")))
    for size_label, (h_px, w_px) in sizes.items():
        comp, mask = photo_like(h_px, w_px)
        coverage = float((mask > 0.5).mean())
        for label, h in methods:
            big = h_px * w_px > 4_000_000
            row = measure(lambda: h.harmonize(comp, mask), max(1, repeats - 2) if big else repeats,
                          1 if big else warmup, h.device)
            rows.append({"what": "harmonize", "method": label, "size": size_label, "mask_coverage": coverage,
                         "device": h.device_name, **row})
        del comp, mask
        gc.collect()
    return rows


def fmt_row(row: dict) -> str:
    mem = f"{row['peak_rss_mb']:7.0f} MB RSS" if "peak_rss_mb" in row else ""
    if "peak_gpu_mb" in row:
        mem += f"  {row['peak_gpu_mb']:6.0f} MB GPU"
    return f"{row['median_ms']:9.1f} ms (min {row['min_ms']:.1f})  {mem}"


def target_note(row: dict, is_default_net: bool) -> str:
    cpu = row["device"].startswith("CPU")
    if row["what"] == "network" and is_default_net and row["size"] == 256 and cpu:
        return f"  target < {TARGET_NET_MS:.0f} ms: {'met' if row['median_ms'] < TARGET_NET_MS else 'MISSED'}"
    if row["what"] == "harmonize" and row["size"].startswith("4000") and cpu:
        ok_t = row["median_ms"] < TARGET_12MP_S * 1000
        ok_m = row.get("peak_rss_mb", 0) < TARGET_12MP_MB
        return (f"  target < {TARGET_12MP_S} s: {'met' if ok_t else 'MISSED'}, "
                f"< {TARGET_12MP_MB / 1000:.1f} GB: {'met' if ok_m else 'MISSED'}")
    return ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "both"), default="both",
                        help="both (default): the CPU, plus CUDA when available")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per row (median reported)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 warm-up: checks that it runs")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats, warmup = (3, 1) if args.quick else (max(1, args.repeats), 2)
    if args.device == "both":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "repeats": repeats, "warmup": warmup}
    print(f"torch {info['torch']}, {info['threads']} threads on {info['cpus']} CPUs; median of {repeats} "
          f"after {warmup} warm-up (12 MP: {max(1, repeats - 2)} after 1)")
    rows = []
    for device in devices:
        print(f"\n== network step ({device}) ==")
        net_rows = network_rows(device, repeats, warmup)
        for i, row in enumerate(net_rows):
            is_default = not row["model"].startswith(("tiny", "small"))
            print(f"{row['model']:<58} {row['params'] / 1e6:5.2f}M @{row['size']:<4} {fmt_row(row)}"
                  f"{target_note(row, is_default)}")
        rows += net_rows
        print(f"\n== harmonize, end to end ({device}) ==")
        for row in harmonize_rows(device, repeats, warmup, SIZES):
            print(f"{row['method']:<70} {row['size']:<18} {fmt_row(row)}{target_note(row, False)}")
            rows.append(row)
    if args.json:
        from engine.atomic import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps({"info": info, "rows": rows}, indent=2).encode())
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
