"""An exponential moving average of the generator's weights: what validation scores and what a run exports.

Why: with a fixed learning rate the weights a run stops on wander around the optimum from one step to the
next (the validation fMSE moved by about ±40 between epochs of the default model's run); their running
average sits nearer its centre. The average warms up with the step count (decay (1 + n) / (10 + n), capped
at the asked-for decay), so a short fine-tune is not dominated by the weights it started from.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, live in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(live.detach(), 1.0 - d)
        for avg, live in zip(self.model.buffers(), model.buffers()):  # running statistics, counters
            avg.copy_(live)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "weights": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.updates = int(state["updates"])
        self.model.load_state_dict(state["weights"])
