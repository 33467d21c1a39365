"""The normalization family the generator's decoder can use.

Every layer takes `forward(x, mask, reference=None)` so the generator can swap them freely, and every
statistic comes from `masked_mean_std`, so instance, AdaIN, RAIN and batch statistics are computed the same
way (eps 1e-5, biased variance, soft masks as weights). `reference` (B x 1 x h x w weights) is the area
whose statistics re-style the foreground, where the user chose one (a sunlit patch of a scene that also
has shade); None means the whole background, the published layers' behaviour. Layers that re-style
nothing ignore it.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-5
# Below this many (soft) pixels a region counts as empty and falls back to the whole map's statistics:
# dividing by sqrt(eps) would otherwise blow activations up by ~300x.
MIN_AREA = 1e-3


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Mask B x 1 x h x w -> B x 1 x size. Area when shrinking (no aliasing at 1/128), bilinear when growing."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    if mask.shape[-2] >= size[0] and mask.shape[-1] >= size[1]:
        return F.interpolate(mask, size=size, mode="area")
    return F.interpolate(mask, size=size, mode="bilinear", align_corners=False)


def masked_mean_std(
    x: torch.Tensor, mask: torch.Tensor | None = None, dims: tuple[int, ...] = (2, 3), eps: float = EPS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean and std of `x` over `dims`, weights from `mask` (None = all pixels), keepdim.

    Where a region is empty the whole map's statistics stand in, so the result is always finite.
    """
    if mask is None:
        mean = x.mean(dim=dims, keepdim=True)
        var = (x - mean).pow(2).mean(dim=dims, keepdim=True)
        return mean, torch.sqrt(var + eps)
    mask = resize_mask(mask.to(x.dtype), x.shape[-2:]).expand_as(x)
    area = mask.sum(dim=dims, keepdim=True)
    safe_area = area.clamp_min(MIN_AREA)
    mean = (x * mask).sum(dim=dims, keepdim=True) / safe_area
    var = ((x - mean).pow(2) * mask).sum(dim=dims, keepdim=True) / safe_area
    full_mean, full_std = masked_mean_std(x, None, dims, eps)
    empty = area < MIN_AREA
    mean = torch.where(empty, full_mean, mean)
    std = torch.where(empty, full_std, torch.sqrt(var + eps))
    return mean, std


class _Affine(nn.Module):
    """Per-channel (1 + gamma), beta, zero-initialised so a fresh layer is a pure normalization."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        return x * (1 + self.gamma) + self.beta


class InstanceNorm(nn.Module):
    """Plain instance normalization (the mask is ignored): the baseline of the normalization study."""

    def __init__(self, channels: int):
        super().__init__()
        self.affine = _Affine(channels)

    def forward(self, x, mask=None, reference=None):
        mean, std = masked_mean_std(x)
        return self.affine((x - mean) / std)


def style_weights(mask: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
    """The weights a layer takes its re-styling statistics from: the reference area, else the background."""
    return 1 - mask if reference is None else reference


class AdaIN(nn.Module):
    """Region-blind AdaIN: the whole map normalized with its own statistics, re-styled with the background's."""

    def __init__(self, channels: int):
        super().__init__()
        self.affine = _Affine(channels)

    def forward(self, x, mask, reference=None):
        mean, std = masked_mean_std(x)
        bg_mean, bg_std = masked_mean_std(x, style_weights(mask, reference))
        return self.affine((x - mean) / std * bg_std + bg_mean)


class RAIN(nn.Module):
    """Region-aware adaptive instance normalization (Ling et al., CVPR 2021).

    The foreground is normalized with its own statistics and re-styled with the background's; the
    background is instance-normalized with its own. Each region has its own per-channel affine.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.fg_affine = _Affine(channels)
        self.bg_affine = _Affine(channels)

    def forward(self, x, mask, reference=None):
        m = resize_mask(mask.to(x.dtype), x.shape[-2:])
        fg_mean, fg_std = masked_mean_std(x, m)
        bg_mean, bg_std = masked_mean_std(x, 1 - m)
        if reference is None:
            style_mean, style_std = bg_mean, bg_std
        else:
            # The foreground takes the reference area's statistics; the background keeps its own
            # normalization, so everything outside the object is processed exactly as without one.
            style_mean, style_std = masked_mean_std(x, reference)
        fg = self.fg_affine((x - fg_mean) / fg_std * style_std + style_mean)
        bg = self.bg_affine((x - bg_mean) / bg_std)
        return fg * m + bg * (1 - m)


class SPADE(nn.Module):
    """Spatially-adaptive normalization (Park et al., CVPR 2019) conditioned on the mask.

    Parameter-free instance normalization, then per-pixel gamma/beta predicted from the mask.
    """

    def __init__(self, channels: int, hidden: int = 64):
        super().__init__()
        hidden = min(hidden, max(16, channels))
        self.shared = nn.Sequential(nn.Conv2d(1, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.to_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.to_beta = nn.Conv2d(hidden, channels, 3, padding=1)
        # Zero-init so, like the other layers, a fresh SPADE is a plain normalization.
        for conv in (self.to_gamma, self.to_beta):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, x, mask, reference=None):
        mean, std = masked_mean_std(x)
        m = resize_mask(mask.to(x.dtype), x.shape[-2:])
        h = self.shared(m)
        return (x - mean) / std * (1 + self.to_gamma(h)) + self.to_beta(h)


class BatchNorm(nn.Module):
    """Batch normalization with running statistics (for completeness; the mask is ignored)."""

    def __init__(self, channels: int, momentum: float = 0.1):
        super().__init__()
        self.momentum = momentum
        self.affine = _Affine(channels)
        self.register_buffer("running_mean", torch.zeros(1, channels, 1, 1))
        self.register_buffer("running_var", torch.ones(1, channels, 1, 1))

    def forward(self, x, mask=None, reference=None):
        if self.training:
            mean, std = masked_mean_std(x, dims=(0, 2, 3))
            with torch.no_grad():
                var = std.pow(2) - EPS
                self.running_mean.lerp_(mean.detach().float(), self.momentum)
                self.running_var.lerp_(var.detach().float(), self.momentum)
        else:
            mean = self.running_mean.to(x.dtype)
            std = torch.sqrt(self.running_var.to(x.dtype) + EPS)
        return self.affine((x - mean) / std)


NORMS: dict[str, type[nn.Module]] = {
    "instance": InstanceNorm,
    "adain": AdaIN,
    "rain": RAIN,
    "spade": SPADE,
    "batch": BatchNorm,
}


def build_norm(name: str, channels: int) -> nn.Module:
    try:
        return NORMS[name](channels)
    except KeyError:
        raise ValueError(f"unknown normalization {name!r}; choose one of {', '.join(NORMS)}") from None
