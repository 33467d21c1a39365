"""The transform head: RainNet predicts a colour transform and applies it, instead of painting pixels.

Harmonization is almost entirely a colour mapping: one global affine colour transform fitted from the
ground truth leaves under 1 % of a composite's error. So the head predicts the few numbers of such a
mapping and applies them to the composite inside the forward pass, which makes training optimise exactly
what the full-resolution path ships (the same curves and coefficients, upsampled):

- per-channel tone curves: monotone piecewise-linear with CURVE_KNOTS segments (exposure, gamma, a
  camera's curve: what an affine map cannot bend);
- a global 3x4 affine colour transform (white balance, colour casts, saturation, hue rotation);
- a smooth local 3x4 correction on a coarse grid (PCT-Net's idea), for light that varies over the
  object; bilinearly upsampled, so it stays smooth at any resolution.

All of it in RGB 0..1: with c = curves(composite) and mu the foreground's mean of c,
out = (A + dA(x, y)) (c - mu) + mu + d + dd(x, y). Every output layer starts at zero, so an untrained head
is the identity and training starts from "change nothing". The grid it hands on holds the same map as a
plain matrix and offset per cell (A' c + b'), which is all the full-resolution path needs.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CURVE_KNOTS = 8
CURVE_LIMIT = 2.5  # a segment's slope stays within e^-2.5 .. e^2.5 (about 0.08 .. 12)
AFFINE = 12  # 3x3 matrix row-major, then the 3 offsets
HIDDEN = 256
IDENTITY = torch.tensor([1.0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])


def masked_mean(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """B x C x H x W features averaged under a B x 1 x H x W weight -> B x C."""
    return (x * weight).sum((2, 3)) / weight.sum((2, 3)).clamp_min(1e-3)


def region_stats(image: torch.Tensor, mask: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
    """Colour mean and spread of the foreground and of the background (or the `style` weights' area): B x 12."""
    out = []
    for w in (mask, 1 - mask if style is None else style):
        mean = masked_mean(image, w)
        var = masked_mean((image - mean[..., None, None]) ** 2, w)
        out += [mean, var.clamp_min(1e-6).sqrt()]
    return torch.cat(out, 1)


def curve_slopes(raw: torch.Tensor) -> torch.Tensor:
    """Raw curve outputs (B x 3 x K) -> segment rises; all 1/K is the identity."""
    return torch.exp(raw.clamp(-CURVE_LIMIT, CURVE_LIMIT)) / raw.shape[-1]


def apply_curves(x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """Monotone piecewise-linear curves (B x 3 x K raw) on B x 3 x H x W values in 0..1."""
    rises = curve_slopes(raw)
    k = raw.shape[-1]
    t = x.clamp(0, 1) * k
    out = torch.zeros_like(x)
    for i in range(k):
        out = out + rises[:, :, i, None, None] * (t - i).clamp(0, 1)
    return out


def curve_lut(raw: torch.Tensor) -> np.ndarray:
    """One image's curves (3 x K raw) as a 256 x 3 float32 table of outputs in 0..1 units for 8-bit inputs."""
    x = torch.arange(256, dtype=torch.float32).div(255).view(1, 1, 256, 1).expand(1, 3, 256, 1)
    return apply_curves(x, raw[None].float())[0, :, :, 0].T.contiguous().numpy()


def apply_affine(x: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Per-pixel affine colour maps: x B x 3 x H x W, coeffs B x 12 x H x W -> B x 3 x H x W."""
    a = coeffs[:, :9].unflatten(1, (3, 3))
    return (a * x[:, None]).sum(2) + coeffs[:, 9:]


class TransformHead(nn.Module):
    """Global curves + affine from pooled features, a local affine correction from decoder features."""

    def __init__(self, global_channels: int, local_channels: int, local: bool = True):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(global_channels + 12, HIDDEN), nn.ReLU(inplace=True),
            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(inplace=True),
            nn.Linear(HIDDEN, AFFINE + 3 * CURVE_KNOTS),
        )
        # Without the local correction the map is one global transform (an ablation; also a safer choice
        # for tiny fine-tuning sets).
        self.local = nn.Conv2d(local_channels, AFFINE, 3, padding=1) if local else None
        for layer in (self.mlp[-1], self.local) if local else (self.mlp[-1],):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, pooled: torch.Tensor, image01: torch.Tensor, mask: torch.Tensor, local_features: torch.Tensor,
                style: torch.Tensor | None = None):
        """-> (curves raw B x 3 x K, coefficient grid B x 12 x h x w in 0..1 RGB units). `style`: the weights
        of the area whose colour statistics the head reads as the scene's (default: the background)."""
        g = self.mlp(torch.cat([pooled, region_stats(image01, mask, style)], 1))
        curves = g[:, AFFINE:].unflatten(1, (3, CURVE_KNOTS))
        # The matrix acts around the (curved) foreground's mean colour and the offset moves that mean:
        # y = A (x - mu) + mu + d. Predicted as a plain A x + b, every change of A would also move the
        # mean by A's change times mu and the offset would have to cancel it; centred, the two are
        # independent, and the network learns both several times faster.
        mu = masked_mean(apply_curves(image01, curves), mask)
        delta = g[:, :AFFINE].view(-1, AFFINE, 1, 1).expand(-1, -1, *local_features.shape[-2:])
        if self.local is not None:
            delta = delta + self.local(local_features)
        a = delta[:, :9] + IDENTITY[:9].to(g).view(1, 9, 1, 1)
        a_mu = (a.unflatten(1, (3, 3)) * mu.view(-1, 1, 3, 1, 1)).sum(2)
        grid = torch.cat([a, mu.view(-1, 3, 1, 1) + delta[:, 9:] - a_mu], 1)
        return curves, grid


def render(image01: torch.Tensor, curves: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """The predicted transform applied to an image (0..1) at its own size: the coarse grid upsampled
    bilinearly with pixel centres aligned, as the full-resolution path (engine.color_lift) does."""
    if grid.shape[-2:] != image01.shape[-2:]:
        grid = F.interpolate(grid, size=image01.shape[-2:], mode="bilinear", align_corners=False)
    return apply_affine(apply_curves(image01, curves), grid)
