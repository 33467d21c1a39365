"""How a run reports: a tqdm bar for people, JSON lines for the application (docs/architecture.md).

In JSON mode stdout carries nothing but the protocol's objects, one per line, flushed at once; every
other message (warnings, notes) goes to stderr in both modes. Ranks other than 0 of a distributed run
report nothing.
"""
from __future__ import annotations

import json
import math
import sys
import time


def _clean(value):
    """JSON has no NaN/inf: a diverged loss is reported as null rather than breaking the reader."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class Reporter:
    def note(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def start(self, **info) -> None: ...
    def step(self, **info) -> None: ...
    def val(self, **info) -> None: ...
    def checkpoint(self, step: int, path: str) -> None: ...
    def done(self, **info) -> None: ...
    def error(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr, flush=True)

    def close(self) -> None: ...


class SilentReporter(Reporter):
    """Non-zero ranks: warnings still reach stderr, nothing else."""


class JsonReporter(Reporter):
    STEP_INTERVAL_S = 0.5  # at most ~2 step lines a second: a fast GPU must not flood the reader

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self._last_step = 0.0

    def _emit(self, event: str, **info) -> None:
        self.stream.write(json.dumps(_clean({"event": event, **info})) + "\n")
        self.stream.flush()

    def start(self, **info):
        self._emit("start", **info)

    def step(self, force: bool = False, **info):
        now = time.monotonic()
        if force or now - self._last_step >= self.STEP_INTERVAL_S:
            self._last_step = now
            self._emit("step", **info)

    def val(self, **info):
        self._emit("val", **info)

    def checkpoint(self, step, path):
        self._emit("checkpoint", step=step, path=str(path))

    def done(self, **info):
        self._emit("done", **info)

    def error(self, message):
        self._emit("error", message=message)


class TqdmReporter(Reporter):
    def __init__(self):
        self.bar = None

    def note(self, message):
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            super().note(message)

    def start(self, total_steps=None, minutes=None, train_images=0, val_images=0, device="", run_dir="", **_):
        from tqdm import tqdm

        self.note(f"training on {device}: {train_images} training / {val_images} validation images; run folder {run_dir}")
        if total_steps:
            self.bar = tqdm(total=total_steps, unit="step", dynamic_ncols=True, file=sys.stderr)
        else:  # a time budget: the bar counts seconds of it
            self.bar = tqdm(total=round((minutes or 0) * 60), unit="s", dynamic_ncols=True, file=sys.stderr,
                            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}s [{postfix}]")
        self._minutes = minutes

    def step(self, force=False, step=0, epoch=0, loss_g=0.0, loss_d=0.0, loss_l1=0.0, img_per_s=0.0, fraction=0.0, **_):
        if self.bar is None:
            return
        target = step if not self._minutes else fraction * self.bar.total
        self.bar.update(max(0.0, target - self.bar.n))
        self.bar.set_postfix_str(f"ep {epoch} L1 {loss_l1:.4f} G {loss_g:.3f} D {loss_d:.3f} {img_per_s:.1f} img/s",
                                 refresh=False)

    def val(self, epoch=0, mse=0.0, fmse=0.0, psnr=0.0, **_):
        label = "before training" if epoch == 0 else f"epoch {epoch}"
        self.note(f"validation {label}: MSE {mse:.2f}  fMSE {fmse:.2f}  PSNR {psnr:.2f} dB")

    def checkpoint(self, step, path):
        self.note(f"checkpoint at step {step}: {path}")

    def done(self, model_path=None, checkpoint=None, stopped=False, before=None, after=None, **_):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if stopped:
            self.note(f"stopped; resume with --resume {checkpoint}")
        if before and after:
            self.note(f"fMSE {before['fmse']:.2f} -> {after['fmse']:.2f}, PSNR {before['psnr']:.2f} -> {after['psnr']:.2f} dB")
        if model_path:
            self.note(f"model saved: {model_path}")

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def make_reporter(kind: str, rank: int = 0) -> Reporter:
    if rank != 0:
        return SilentReporter()
    return JsonReporter() if kind == "json" else TqdmReporter()
