"""Training speed: images per second of the trainer's own optimisation step (generator + discriminator).

Each configuration sets up a real one-process trainer (trainer.train.prepared_trainer) on a few generated
photos, draws a batch from its training set once and times `train_step` on it, so the figure is the
network's speed without data loading. On CUDA every configuration is also run with and without mixed
precision (AMP) and channels-last.

    python benchmarks/train_speed.py                       # CPU, and CUDA when available
    python benchmarks/train_speed.py --sizes 256 --ngf 16 --steps 3 --json
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import engine  # noqa: E402,F401  (first: it sets passive OpenMP waiting before torch loads, as the trainer gets)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from engine.rainnet import count_parameters  # noqa: E402
from trainer.progress import SilentReporter  # noqa: E402
from trainer.train import TrainConfig, prepared_trainer  # noqa: E402


def write_photos(folder: Path, size: int, count: int, seed: int = 0) -> Path:
    """`count` blurred-noise photos with an elliptical mask each (the step's speed ignores content)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        noise = rng.uniform(0, 255, (size // 8, size // 8, 3)).astype(np.float32)
        img = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
        mask = np.zeros((size, size), np.uint8)
        cv2.ellipse(mask, (size // 2, size // 2), (size // 4, size // 3), 0, 0, 360, 255, -1)
        Image.fromarray(img).save(folder / f"p{i}.png")
        Image.fromarray(mask).save(folder / f"p{i}_mask.png")
    return folder


def measure(device: str, size: int, ngf: int, batch: int, amp: bool, channels_last: bool, steps: int,
            warmup: int, threads: int | None, work: Path) -> dict:
    data = write_photos(work / f"photos{size}", size, batch)
    cfg = TrainConfig(data=[str(data)], size=size, ngf=ngf, batch=batch, device=device, steps=1, workers=0,
                      threads=threads, val_fraction=0.0, amp=amp, channels_last=channels_last,
                      run_dir=str(work / "run"))
    trainer = prepared_trainer(cfg, SilentReporter())
    comp, mask, real, _ = (torch.stack(x) for x in zip(*(trainer.train_ds[(0, i)] for i in range(batch))))
    cuda = trainer.device.type == "cuda"
    if cuda:
        comp, mask, real = comp.pin_memory(), mask.pin_memory(), real.pin_memory()
    for _ in range(warmup):
        trainer.train_step(comp, mask, real)
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(comp, mask, real)
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / steps
    return {"device": trainer.device.type, "size": size, "ngf": ngf, "depth": cfg.depth, "batch": batch,
            "amp": trainer.amp, "channels_last": trainer.fmt == torch.channels_last,
            "threads": torch.get_num_threads() if not cuda else None,
            "params_g": count_parameters(trainer.generator), "s_per_step": round(seconds, 4),
            "img_per_s": round(batch / seconds, 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="256,128", help="working sizes (comma-separated)")
    p.add_argument("--ngf", default="16,32", help="generator widths (comma-separated)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=5, help="timed steps per configuration")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--devices", default="auto", help="cpu, cuda or both (auto: cpu, plus cuda when available)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    devices = args.devices.split(",") if args.devices != "auto" else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    with tempfile.TemporaryDirectory(prefix="train_speed_") as tmp:
        for device, size, ngf in itertools.product(devices, map(int, args.sizes.split(",")), map(int, args.ngf.split(","))):
            variants = [(True, True), (False, True), (True, False), (False, False)] if device == "cuda" else [(False, False)]
            for amp, cl in variants:
                row = measure(device, size, ngf, args.batch, amp, cl, args.steps, args.warmup, args.threads, Path(tmp))
                rows.append(row)
                if not args.json:
                    print(f"  {device} {size}px ngf {ngf} amp {amp} channels-last {cl}: {row['img_per_s']} img/s",
                          file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    from engine.devices import describe_device

    names = {d: describe_device(torch.device(d)) for d in devices}
    print("| device | size | ngf | batch | AMP | channels-last | s/step | img/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        dev = names[r["device"]] if r["device"] == "cuda" else f"CPU ({r['threads']} threads)"
        print(f"| {dev} | {r['size']} | {r['ngf']} | {r['batch']} | {'on' if r['amp'] else 'off'} | "
              f"{'on' if r['channels_last'] else 'off'} | {r['s_per_step']:.3f} | {r['img_per_s']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
