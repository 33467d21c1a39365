"""A run's budget (steps, epochs or minutes, and an optional --max-steps cap) and what follows from it:
whether it is spent, how far along the run is, the time left and the learning-rate schedule.

One computation for all of them, so the progress bar, the ETA and the schedule never disagree.
"""
from __future__ import annotations

from trainer.config import RunState, TrainConfig


class Budget:
    def __init__(self, cfg: TrainConfig, state: RunState, steps_per_epoch: int):
        self.cfg, self.state, self.steps_per_epoch = cfg, state, steps_per_epoch

    def budget_steps(self) -> int | None:
        """The budget in steps (None for a time budget), before any --max-steps cap."""
        cfg = self.cfg
        return cfg.steps or (cfg.epochs * self.steps_per_epoch if cfg.epochs else None)

    def total_steps(self) -> int | None:
        total, cap = self.budget_steps(), self.cfg.max_steps
        return min(total, cap) if total and cap else total

    def _share_done(self, total: int | None) -> float:
        """How far the run is through `total` steps, or through its time budget when that is None."""
        return self.state.step / total if total else self.state.elapsed_s / (self.cfg.minutes * 60)

    def spent(self) -> bool:
        cfg, s = self.cfg, self.state
        if cfg.max_steps and s.step >= cfg.max_steps:
            return True
        if cfg.steps is not None:
            return s.step >= cfg.steps
        if cfg.epochs is not None:
            return s.epoch > cfg.epochs
        # Keep room for the final validation, so "10 minutes" means about 10 minutes in all.
        return s.elapsed_s + s.val_seconds >= cfg.minutes * 60

    def fraction(self) -> float:
        return min(1.0, self._share_done(self.total_steps()))

    def learning_rate(self) -> float:
        """Constant, then (with --lr-decay) linearly down to zero over the budget's last share: the GAN's
        step-to-step wobble shrinks with the step size, so the weights a run ends on are its settled best."""
        cfg = self.cfg
        if not cfg.lr_decay:
            return cfg.lr
        # The schedule follows the budget, not a --max-steps cap: a capped trial takes the very steps
        # the full run would.
        left = max(0.0, 1.0 - self._share_done(self.budget_steps()))
        return cfg.lr * min(1.0, left / cfg.lr_decay)

    def eta(self, step_s: float | None) -> float | None:
        total = self.total_steps()
        if total:
            return None if step_s is None else max(0.0, (total - self.state.step) * step_s)
        return max(0.0, self.cfg.minutes * 60 - self.state.elapsed_s)
