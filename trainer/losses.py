"""Generator and discriminator losses.

Reconstruction: L1 between output and real photo. By default it is averaged over the foreground only
(`region="foreground"`): outside the mask the output is the composite, which already equals the real
photo, so a full-image mean would only dilute the signal by the object's area and let small objects
(which fMSE weighs as much as big ones) contribute almost nothing. `region="full"` is the RainNet paper's
full-image L1 and is kept for comparison.

`fn_mse` is the foreground-normalised MSE of the iHarmony4 baselines that optimise fMSE directly (Sofiiuk
et al., 2021): each image's squared error summed over its foreground and divided by that foreground's area
(at least MIN_AREA of the image, so a speck of a mask does not dominate its batch). It weighs every
image as fMSE does, whatever the object's size, and punishes large misses more than L1, which is what
the metric (and an eye looking at a wrong colour cast) does.

Adversarial: hinge (SPADE, RainNet) by default, least squares (LSGAN) selectable.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

GAN_MODES = ("hinge", "lsgan")
L1_REGIONS = ("foreground", "full")
RECONSTRUCTION = ("l1", "fnmse")
MIN_AREA = 0.01  # of the image: fn_mse's smallest divisor


def l1_loss(output: torch.Tensor, real: torch.Tensor, mask: torch.Tensor, region: str = "foreground") -> torch.Tensor:
    diff = (output - real).abs()
    if region == "full":
        return diff.mean()
    weight = mask.to(diff.dtype).expand_as(diff)
    return (diff * weight).sum() / weight.sum().clamp_min(1.0)


def fn_mse(output: torch.Tensor, real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image foreground squared error / foreground area, averaged over the batch ([-1, 1] units)."""
    weight = mask.to(output.dtype)
    err = ((output - real) ** 2 * weight).sum((1, 2, 3))
    area = weight.sum((1, 2, 3)) * output.shape[1]
    floor = MIN_AREA * output.shape[1] * output.shape[2] * output.shape[3]
    return (err / area.clamp_min(floor)).mean()


def reconstruction_loss(output, real, mask, kind: str = "l1", region: str = "foreground") -> torch.Tensor:
    if kind == "fnmse":
        return fn_mse(output, real, mask)
    if kind == "l1":
        return l1_loss(output, real, mask, region)
    raise ValueError(f"unknown reconstruction loss {kind!r}")


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
