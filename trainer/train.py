"""The training loop: RainNet generator, PatchGAN discriminator, budgets, checkpoints, resume, DDP, export.

Settings and their checks live in trainer.config, the stop request in trainer.stopper.
"""
from __future__ import annotations

import dataclasses
import math
import os
import platform
import random
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from engine.devices import describe_device, pick_device
from engine.errors import HarmonizerError
from engine.model_file import REFERENCE_AREAS, save_model
from engine.registry import register_model, user_data_root
from trainer import distributed as ddp
from trainer.budget import Budget
from trainer.checkpoint import load_checkpoint, rng_state, run_folder, save_checkpoint, set_rng_state
from trainer.config import RUN_KEYS, RunState, TrainConfig, build_generator, check_config, resolve_recipe
from trainer.datasets import EpochSampler, build_datasets
from trainer.discriminator import PatchDiscriminator
from trainer.losses import d_loss, g_adv_loss, reconstruction_loss
from trainer.progress import Reporter, make_reporter
from trainer.runlog import write_logs, write_samples
from trainer.stopper import Stopper, ignore_stop_signals
from trainer.validation import evaluate
from trainer.weight_average import WeightAverage

__all__ = ["TrainConfig", "train", "prepared_trainer"]

CHECKPOINT_EVERY_S = 600  # besides every N steps: a long CPU run never loses more than this


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _worker_init(_):
    # Each loader worker synthesizes one sample at a time: its own thread pool would only fight the
    # training process for the same cores. (OpenCV's pool is sized in the parent, see _setup.)
    torch.set_num_threads(1)
    ignore_stop_signals()


def _run_dir(cfg: TrainConfig) -> Path:
    if cfg.run_dir:
        return Path(cfg.run_dir).expanduser()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return user_data_root() / "runs" / f"{stamp}-{cfg.out or 'run'}"


def train(cfg: TrainConfig, reporter: Reporter | None = None) -> dict:
    """Run (or resume) a training run; returns the `done` event's fields. Raises HarmonizerError."""
    info = ddp.from_env()
    reporter = reporter or make_reporter(cfg.progress, info.rank)
    stopper = Stopper().install()
    try:
        return _Trainer(cfg, info, reporter, stopper).run()
    finally:
        stopper.restore()
        ddp.shutdown(info)


def prepared_trainer(cfg: TrainConfig, reporter: Reporter | None = None) -> "_Trainer":
    """A one-process trainer with its data, models and optimizers set up and no step taken: benchmarks
    call its `train_step(comp, mask, real, reference)`, the very step a run takes."""
    trainer = _Trainer(cfg, ddp.DistInfo(), reporter or Reporter(), Stopper())
    trainer._setup()
    return trainer


class _Trainer:
    def __init__(self, cfg: TrainConfig, info: ddp.DistInfo, reporter: Reporter, stopper: Stopper):
        self.cfg, self.info, self.rep, self.stopper = cfg, info, reporter, stopper
        self.state = RunState()
        self.ckpt: dict | None = None
        if cfg.resume:
            self.ckpt = load_checkpoint(cfg.resume)
            saved = self.ckpt["config"]
            if cfg.data and [str(Path(d).expanduser().resolve()) for d in cfg.data] != saved["data"]:
                reporter.note("note: resuming with the checkpoint's data folders: " + ", ".join(saved["data"]))
            for key in RUN_KEYS:
                setattr(cfg, key, saved.get(key))
            # The run keeps its folder (the one its checkpoint lies in) and budget unless the command line
            # gives new ones.
            cfg.run_dir = cfg.run_dir or str(run_folder(cfg.resume))
            if cfg.epochs is None and cfg.minutes is None and cfg.steps is None:
                cfg.epochs, cfg.minutes, cfg.steps = saved.get("epochs"), saved.get("minutes"), saved.get("steps")
            if cfg.lr_decay is None:
                cfg.lr_decay = saved.get("lr_decay")
        else:
            cfg.data = [str(Path(d).expanduser().resolve()) for d in cfg.data]
        if cfg.epochs is None and cfg.minutes is None and cfg.steps is None:
            cfg.epochs = 10
        cfg.lr_decay = cfg.lr_decay or 0.0
        resolve_recipe(cfg, self.ckpt["config"] if self.ckpt else None)
        check_config(cfg)

    # -- setup -----------------------------------------------------------------------------------------
    def _setup(self):
        cfg, info = self.cfg, self.info
        device = pick_device(cfg.device)
        if device.type == "cuda" and info.enabled:
            device = torch.device("cuda", info.local_rank)
            torch.cuda.set_device(device)
        if device.type not in ("cpu", "cuda"):
            raise HarmonizerError(f"training on {device.type} is not supported; use --device cpu or cuda")
        self.device = device
        ddp.init(info, device)
        cpus = _cpu_count()
        if device.type == "cpu":
            torch.set_num_threads(cfg.threads or max(1, cpus // info.local_world))
        self.workers = cfg.workers if cfg.workers is not None else min(2, max(1, cpus // info.local_world))
        if self.workers:
            # A forked loader worker inherits OpenCV's thread pool without its threads: resizing that
            # pool in the child (or running a parallel op there) can wait forever on a condition
            # variable nobody will signal. With one thread set here, before the first fork, OpenCV
            # runs everything inline and the children inherit no pool at all.
            cv2.setNumThreads(1)
        self.cuda = device.type == "cuda"
        self.amp = self.cuda and cfg.amp
        self.fmt = torch.channels_last if self.cuda and cfg.channels_last else torch.contiguous_format
        self.seed_everything(cfg.seed + info.rank)

        self.generator = build_generator(cfg, self.rep, self.ckpt)
        if cfg.size % self.generator.multiple:
            raise HarmonizerError(f"--size {cfg.size} must be a multiple of {self.generator.multiple}")
        self.train_ds, self.val_ds, self.data_report = build_datasets(
            cfg.data, cfg.size, cfg.val_fraction, cfg.seed, cfg.max_images, log=self.rep.note,
            synthesis=cfg.synthesis, reference_share=cfg.reference_share, scene_share=cfg.scene_share,
            distractor_share=cfg.distractor_share)
        if self.data_report.skipped:
            self.rep.note(f"warning: {self.data_report.skipped} unreadable image(s) skipped")
        per_rank = len(self.train_ds) // info.world
        if per_rank < cfg.batch:
            if per_rank < 1:
                raise HarmonizerError(f"{len(self.train_ds)} training images cannot feed {info.world} processes")
            self.rep.note(f"note: batch size lowered from {cfg.batch} to {per_rank} (only {len(self.train_ds)} training images)")
            cfg.batch = per_rank

        self.gan = cfg.gan != "none" and cfg.gan_weight > 0
        ndf = cfg.ndf or min(64, 2 * cfg.ngf)
        self.discriminator = PatchDiscriminator(ndf) if self.gan else None
        fmt = self.fmt
        self.generator.to(device, memory_format=fmt).train()
        # beta1 0.5 is the GAN convention (momentum lags a moving adversary); a plain regression wants
        # the usual 0.9.
        betas = (0.5, 0.999) if self.gan else (0.9, 0.999)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = None
        if self.gan:
            self.discriminator.to(device, memory_format=fmt).train()
            self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        if self.ckpt is not None:
            self._restore(self.ckpt)
        self.average = WeightAverage(self.generator, cfg.ema) if cfg.ema else None
        if self.average and self.ckpt is not None:
            if self.ckpt.get("ema") is None:
                raise HarmonizerError("the checkpoint lacks the weight average its run keeps (--ema); it is damaged")
            self.average.load_state_dict(self.ckpt["ema"])
        self.g_train, self.d_train = self.generator, self.discriminator
        if info.enabled:
            ids = [device.index] if self.cuda else None
            self.g_train = DDP(self.generator, device_ids=ids)
            if self.gan:
                self.d_train = DDP(self.discriminator, device_ids=ids)

        self.sampler = EpochSampler(len(self.train_ds), cfg.seed, info.rank, info.world, cfg.batch)
        self.steps_per_epoch = max(1, self.sampler.batches_per_epoch())
        self.budget = Budget(cfg, self.state, self.steps_per_epoch)
        # A private generator: the loader must not draw from the global RNG, which dropout uses, or a
        # resumed run would see different dropout masks than the uninterrupted one.
        self.loader = DataLoader(
            self.train_ds, batch_size=cfg.batch, sampler=self.sampler, drop_last=True,
            num_workers=self.workers, pin_memory=self.cuda, worker_init_fn=_worker_init,
            generator=torch.Generator().manual_seed(cfg.seed),
            persistent_workers=False, prefetch_factor=2 if self.workers else None,
        )
        self.run_dir = _run_dir(cfg)
        if info.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)

    def seed_everything(self, seed: int):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def _restore(self, ck: dict):
        self.generator.load_state_dict(ck["generator"])
        self.opt_g.load_state_dict(ck["opt_g"])
        if self.gan:
            if ck.get("discriminator") is None:
                raise HarmonizerError("the checkpoint was trained without a discriminator; resume with --gan none")
            self.discriminator.load_state_dict(ck["discriminator"])
            self.opt_d.load_state_dict(ck["opt_d"])
        if ck.get("scaler") and self.amp:
            self.scaler.load_state_dict(ck["scaler"])
        s = ck["state"]
        self.state = RunState(**{k: s[k] for k in (f.name for f in dataclasses.fields(RunState)) if k in s})
        ranks = ck.get("rng_ranks") or []
        if len(ranks) == self.info.world:  # every rank continues its own random streams
            set_rng_state(ranks[self.info.rank])
        else:
            set_rng_state(ck["rng"])
            if self.info.rank:  # another world size: identical dropout on every rank would waste them
                torch.manual_seed(self.cfg.seed * 1000 + self.info.rank * 7919 + self.state.step)

    # -- run -------------------------------------------------------------------------------------------
    def run(self) -> dict:
        self._setup()
        cfg, s, info = self.cfg, self.state, self.info
        self.rep.start(total_steps=self.budget.total_steps(), epochs=cfg.epochs, minutes=cfg.minutes,
                       train_images=len(self.train_ds), val_images=len(self.val_ds),
                       device=describe_device(self.device), run_dir=str(self.run_dir))
        if s.before is None:
            self.validate(epoch=0)
        elif s.pending_val is not None:
            self.validate(epoch=s.pending_val)
        stopped = self._loop()
        if not stopped and s.last_val_step != s.step:
            self.validate(epoch=s.epoch if s.batch_in_epoch else s.epoch - 1)
            stopped = ddp.broadcast_flag(s.pending_val is not None, info, self.device)
        if stopped:
            path = self.save_checkpoint("last.pt")
            result = {"model_path": None, "checkpoint": str(path), "before": s.before,
                      "after": self._last_metrics(), "stopped": True}
        else:
            path = self.save_checkpoint("last.pt")
            model_path = self.export()
            result = {"model_path": model_path, "checkpoint": str(path), "before": s.before,
                      "after": self._last_metrics(), "stopped": False}
        ddp.barrier(info)
        self.rep.done(**result)
        return result

    def _last_metrics(self) -> dict | None:
        trained = [r for r in self.state.history if r["epoch_f"] > 0]
        return {k: trained[-1][k] for k in ("mse", "fmse", "psnr")} if trained else None

    def _loop(self) -> bool:
        """Train until the budget is spent (False) or a stop was requested (True)."""
        cfg, s, info, dev = self.cfg, self.state, self.info, self.device
        it = None
        step_s = None  # smoothed seconds per step
        sums = {"loss_g": 0.0, "loss_l1": 0.0, "loss_adv": 0.0, "loss_d": 0.0, "n": 0}
        self.epoch_sums = sums
        last_ckpt_t = time.monotonic()
        t_prev = time.monotonic()
        while True:
            if ddp.any_true(self.stopper.requested, info, dev):
                return True
            if ddp.broadcast_flag(self.budget.spent(), info, dev):
                return False
            if it is None:
                self.sampler.set_epoch(s.epoch, s.batch_in_epoch)
                it = iter(self.loader)
            try:
                comp, mask, real, reference = next(it)
            except StopIteration:  # fewer batches than planned (cannot happen with drop_last; be safe)
                it = None
                self._end_epoch()
                continue
            lr = self.budget.learning_rate()
            for opt in (self.opt_g, self.opt_d):
                for group in (opt.param_groups if opt is not None else ()):
                    group["lr"] = lr
            losses = self.train_step(comp, mask, real, reference)
            for k, v in losses.items():
                sums[k] += v
            sums["n"] += 1
            s.step += 1
            s.batch_in_epoch += 1
            now = time.monotonic()
            dt = now - t_prev
            t_prev = now
            s.elapsed_s += dt
            step_s = dt if step_s is None else 0.9 * step_s + 0.1 * dt
            end_of_epoch = s.batch_in_epoch >= self.steps_per_epoch
            self.rep.step(force=end_of_epoch or s.step == 1 or self.budget.spent(), step=s.step, epoch=s.epoch,
                          loss_g=losses["loss_g"], loss_d=losses["loss_d"], loss_l1=losses["loss_l1"],
                          img_per_s=cfg.batch * info.world / step_s, eta_s=self.budget.eta(step_s), lr=lr,
                          fraction=self.budget.fraction())
            if end_of_epoch:
                del it
                it = None
                self._end_epoch()
                t_prev = time.monotonic()  # validation time is accounted inside validate()
            # Rank 0's clock decides the timed checkpoint: saving is collective, so all ranks must agree.
            if (cfg.checkpoint_every and s.step % cfg.checkpoint_every == 0) or ddp.broadcast_flag(
                    now - last_ckpt_t > CHECKPOINT_EVERY_S, info, dev):
                self.save_checkpoint("last.pt")
                last_ckpt_t = time.monotonic()

    def _end_epoch(self):
        s = self.state
        self.validate(epoch=s.epoch)
        s.epoch += 1
        s.batch_in_epoch = 0

    def train_step(self, comp, mask, real, reference=None) -> dict:
        cfg, dev = self.cfg, self.device
        fmt = self.fmt
        comp = comp.to(dev, non_blocking=True).contiguous(memory_format=fmt)
        real = real.to(dev, non_blocking=True).contiguous(memory_format=fmt)
        mask = mask.to(dev, non_blocking=True).contiguous(memory_format=fmt)
        # Without reference training every sample's reference is the whole background, which the
        # layers take by default (and a little faster).
        if reference is not None and cfg.reference_share:
            reference = reference.to(dev, non_blocking=True).contiguous(memory_format=fmt)
        else:
            reference = None
        with torch.autocast(dev.type, enabled=self.amp):
            out = self.g_train(comp, mask, reference)
        loss_d = torch.zeros((), device=dev)
        adv = torch.zeros((), device=dev)
        if self.gan:
            # One discriminator pass over real and fake together: half the kernel launches, and DDP
            # sees exactly one forward per backward.
            self.discriminator.requires_grad_(True)
            with torch.autocast(dev.type, enabled=self.amp):
                logits = self.d_train(torch.cat([real, out.detach()]), torch.cat([mask, mask]))
                real_logits, fake_logits = logits.float().chunk(2)
                loss_d = d_loss(real_logits, fake_logits, cfg.gan)
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler.scale(loss_d).backward()
            self.scaler.step(self.opt_d)
            # The generator's adversarial term goes through the bare module: D's weights are frozen
            # for it, so there is nothing for DDP to synchronise.
            self.discriminator.requires_grad_(False)
            with torch.autocast(dev.type, enabled=self.amp):
                adv = g_adv_loss(self.discriminator(out, mask).float(), cfg.gan)
        l1 = reconstruction_loss(out.float(), real.float(), mask, cfg.loss, cfg.l1_region)
        loss_g = cfg.l1_weight * l1 + (cfg.gan_weight * adv if self.gan else 0.0)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        if self.average is not None:
            self.average.update(self.generator)
        l1_value = float(l1.detach())
        if not math.isfinite(l1_value):
            raise HarmonizerError(f"training diverged at step {self.state.step + 1} (the loss is not a number); "
                                  "try a lower --lr")
        return {"loss_g": float(loss_g.detach()), "loss_l1": l1_value, "loss_adv": float(adv.detach()),
                "loss_d": float(loss_d.detach())}

    # -- validation, checkpoints, export ----------------------------------------------------------------
    def validate(self, epoch: int) -> None:
        cfg, s = self.cfg, self.state
        t0 = time.monotonic()
        interrupted = False
        if self.info.main and len(self.val_ds):
            metrics, comp_metrics, strips = evaluate(
                self.shipped_network(), self.val_ds, self.device, batch=max(cfg.batch, 4), amp=self.amp,
                channels_last=self.fmt == torch.channels_last, samples=cfg.val_samples, with_composite=s.composite is None,
                stop=lambda: self.stopper.requested)
            if metrics is not None:
                s.composite = s.composite or comp_metrics
                if epoch == 0:
                    s.before = metrics
                sums = getattr(self, "epoch_sums", None)
                n = (sums or {}).get("n", 0)
                row = {"epoch": epoch, "epoch_f": round(s.step / self.steps_per_epoch, 4), "step": s.step,
                       "elapsed_s": round(s.elapsed_s, 2),
                       **{k: (sums[k] / n if n else None) for k in ("loss_g", "loss_l1", "loss_adv", "loss_d")},
                       **metrics, **{f"comp_{k}": v for k, v in (s.composite or {}).items()}}
                if sums:
                    sums.update({k: 0.0 for k in sums})
                    sums["n"] = 0
                s.history.append(row)
                tag = f"epoch{epoch:04d}_s{s.step:07d}"
                samples = write_samples(self.run_dir, tag, strips)
                write_logs(self.run_dir, s.history, title=f"{cfg.norm} ngf {cfg.ngf} @ {cfg.size}")
                self.rep.val(step=s.step, epoch=epoch, **metrics, samples=samples)
            interrupted = metrics is None
        if interrupted:  # a stop request cut it short: it is the first thing a resumed run does
            s.pending_val = epoch
        else:
            s.pending_val = None
            s.last_val_step = s.step
        dt = time.monotonic() - t0
        s.val_seconds = dt if epoch == 0 or not s.val_seconds else max(s.val_seconds, dt)
        s.elapsed_s += dt
        ddp.barrier(self.info)

    def shipped_network(self):
        """What validation scores and export writes: the weight average when the run keeps one."""
        return self.average.model if self.average is not None else self.generator

    def save_checkpoint(self, name: str) -> Path | None:
        path = self.run_dir / "checkpoints" / name
        rngs = ddp.gather_to_main(rng_state(), self.info)  # each rank's, so every rank resumes exactly
        if self.info.main:
            cfg = self.cfg
            saved_cfg = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("resume",)}
            save_checkpoint(path, {
                "config": saved_cfg,
                "run_dir": str(self.run_dir),  # a record for people; resume never follows it (run_folder)
                "generator": self.generator.state_dict(),
                "discriminator": self.discriminator.state_dict() if self.gan else None,
                "ema": self.average.state_dict() if self.average else None,
                "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict() if self.gan else None,
                "scaler": self.scaler.state_dict() if self.amp else None,
                "state": dataclasses.asdict(self.state),
                "rng": rngs[0],
                "rng_ranks": rngs if self.info.enabled else None,
            })
            self.rep.checkpoint(self.state.step, str(path))
        ddp.barrier(self.info)
        return path

    def export(self) -> str | None:
        if not self.info.main:
            return None
        cfg, s = self.cfg, self.state
        card = {
            "name": cfg.out or self.run_dir.name,
            "trained": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": cfg.command,
            "data": cfg.data,
            "data_kinds": self.data_report.kinds,
            "train_images": len(self.train_ds),
            "val_images": len(self.val_ds),
            "skipped_images": self.data_report.skipped,
            "init": cfg.init,
            "steps": s.step,
            "epochs": round(s.step / self.steps_per_epoch, 3),
            "batch": cfg.batch,
            "processes": self.info.world,
            "wall_time_s": round(s.elapsed_s, 1),
            "hardware": f"{describe_device(self.device)} x{self.info.world}" if self.info.enabled else describe_device(self.device),
            "host": f"{platform.system()} {platform.machine()} ({socket.gethostname()})",
            "head": cfg.head,
            "synthesis": cfg.synthesis,
            "losses": {"reconstruction": cfg.loss, "l1_weight": cfg.l1_weight, "l1_region": cfg.l1_region,
                       "gan": cfg.gan if self.gan else "none",
                       "gan_weight": cfg.gan_weight if self.gan else 0.0},
            "seed": cfg.seed,
            "lr": cfg.lr,
            "lr_decay": cfg.lr_decay,
            "ema": cfg.ema,
            "reference_share": cfg.reference_share,
            "scene_share": cfg.scene_share,
            "distractor_share": cfg.distractor_share,
            "validation": {"split": f"{cfg.val_fraction:g} of source photos (name hash)",
                           "before": s.before, "after": self._last_metrics(), "composite": s.composite},
        }
        config = {"size": cfg.run_size or cfg.size, "train_size": cfg.size}
        if cfg.reference_share:
            config[REFERENCE_AREAS] = True
        path = save_model(self.run_dir / "model.safetensors", self.shipped_network(), config, card)
        if cfg.out:
            return str(register_model(path, cfg.out))
        return str(path)
