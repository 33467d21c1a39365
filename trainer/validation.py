"""Validation: engine metrics on the held-out composites, for the model and for the untouched composite."""
from __future__ import annotations

import numpy as np
import torch

from engine.metrics import MetricAverager, image_metrics

KEYS = ("mse", "fmse", "psnr")


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """B x 3 x H x W in [-1, 1] -> B x H x W x 3 uint8."""
    return ((t.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def evaluate(model, dataset, device, batch: int = 8, amp: bool = False, channels_last: bool = False,
             samples: int = 0, with_composite: bool = True, stop=lambda: False, reference: bool = False):
    """-> (model metrics, composite metrics or None, [(composite, output, target) uint8] for the first few).

    Validation composites are fixed per image, so every call scores exactly the same inputs. With
    `reference` the model is given each sample's reference area (else the whole background).
    """
    was_training = model.training
    model.eval()
    stopped = False
    ours, base = MetricAverager(), MetricAverager()
    strips = []
    try:
        for start in range(0, len(dataset), batch):
            if stop():
                stopped = True  # partial numbers would be mistaken for the whole set's
                break
            items = [dataset[i] for i in range(start, min(start + batch, len(dataset)))]
            comp, mask, real, ref = (torch.stack(x) for x in zip(*items))
            comp_d, mask_d = comp.to(device), mask.to(device)
            if channels_last:
                comp_d = comp_d.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, enabled=amp):
                out = model(comp_d, mask_d, ref.to(device)) if reference else model(comp_d, mask_d)
            out8, comp8, real8 = to_uint8(out), to_uint8(comp), to_uint8(real)
            masks = mask[:, 0].numpy()
            for k in range(len(items)):
                ours.add(image_metrics(out8[k], real8[k], masks[k], with_ssim=False))
                if with_composite:
                    base.add(image_metrics(comp8[k], real8[k], masks[k], with_ssim=False))
                if len(strips) < samples:
                    strips.append((comp8[k], out8[k], real8[k]))
    finally:
        model.train(was_training)
    if stopped:
        return None, None, []
    return _pick(ours.mean()), (_pick(base.mean()) if with_composite else None), strips


def _pick(values: dict) -> dict | None:
    if not values:
        return None  # no validation images (or stopped before the first)
    return {k: float(values[k]) for k in KEYS}
