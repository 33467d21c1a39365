"""Generator and discriminator losses.

Reconstruction: L1 between output and real photo. By default it is averaged over the foreground only
(`region="foreground"`): outside the mask the output is the composite, which already equals the real
photo, so a full-image mean would only dilute the signal by the object's area and let small objects
(which fMSE weighs as much as big ones) contribute almost nothing. `region="full"` is the RainNet paper's
full-image L1 and is kept for comparison.

Adversarial: hinge (SPADE, RainNet) by default, least squares (LSGAN) selectable.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

GAN_MODES = ("hinge", "lsgan")
L1_REGIONS = ("foreground", "full")


def l1_loss(output: torch.Tensor, real: torch.Tensor, mask: torch.Tensor, region: str = "foreground") -> torch.Tensor:
    diff = (output - real).abs()
    if region == "full":
        return diff.mean()
    weight = mask.to(diff.dtype).expand_as(diff)
    return (diff * weight).sum() / weight.sum().clamp_min(1.0)


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, mode: str = "hinge") -> torch.Tensor:
    if mode == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    if mode == "lsgan":
        return 0.5 * ((real_logits - 1.0).pow(2).mean() + fake_logits.pow(2).mean())
    raise ValueError(f"unknown GAN loss {mode!r}")


def g_adv_loss(fake_logits: torch.Tensor, mode: str = "hinge") -> torch.Tensor:
    if mode == "hinge":
        return -fake_logits.mean()
    if mode == "lsgan":
        return 0.5 * (fake_logits - 1.0).pow(2).mean()
    raise ValueError(f"unknown GAN loss {mode!r}")
