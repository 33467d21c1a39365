"""PatchGAN discriminator (pix2pix's 70x70 design) with spectral norm, conditioned on the mask.

It scores overlapping patches as real or composited; seeing the mask tells it where to look, which is
what makes its gradient about the foreground's appearance rather than about image content.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import spectral_norm


class PatchDiscriminator(nn.Module):
    def __init__(self, ndf: int = 64, layers: int = 3, in_channels: int = 4):
        super().__init__()
        blocks: list[nn.Module] = [spectral_norm(nn.Conv2d(in_channels, ndf, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for i in range(1, layers + 1):
            nxt = ndf * min(2**i, 8)
            stride = 2 if i < layers else 1
            # Spectral norm keeps D 1-Lipschitz-ish, so no normalization layer is needed (or wanted:
            # instance norm would hide exactly the colour statistics D has to judge).
            blocks += [spectral_norm(nn.Conv2d(ch, nxt, 4, stride, 1)), nn.LeakyReLU(0.2, True)]
            ch = nxt
        blocks.append(spectral_norm(nn.Conv2d(ch, 1, 4, 1, 1)))
        self.net = nn.Sequential(*blocks)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([image, mask.to(image.dtype)], 1))
