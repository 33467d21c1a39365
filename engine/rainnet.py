"""The RainNet generator: a U-Net in the shape of the official RainNet (Ling et al., CVPR 2021).

Encoder: `depth` stride-2 4x4 convolutions (256 -> 1 for depth 8) with instance norm. Decoder: transposed
convolutions normalized by the chosen mask-aware layer (RAIN by default), dropout in the three blocks
above the bottleneck, attention gates on the three outermost skip connections.

Two heads. "pixel" (the published network): the outermost block paints the image, tanh output. "transform"
(engine.transform_head): the decoder stops at a quarter of the input size and the network predicts a colour
transform (tone curves, a global affine map, a smooth local affine correction) that it applies to the
composite. Either way the prediction replaces the composite only inside the mask.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from engine.normalization import build_norm, style_weights
from engine.presets import PRESETS
from engine.transform_head import TransformHead, masked_mean, render

ATTENTION_LEVELS = 3
DROPOUT_BLOCKS = 3
HEADS = ("pixel", "transform")
LOCAL_LEVEL = 2  # the transform head's local grid is the input size / 2**LOCAL_LEVEL


def _channels(ngf: int, level: int) -> int:
    return ngf * min(2**level, 8)


class AttentionGate(nn.Module):
    """Re-weights a skip connection per pixel from the decoder's view of it (1x1 conv + sigmoid)."""

    def __init__(self, up_channels: int, skip_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(up_channels + skip_channels, skip_channels, 1)

    def forward(self, up, skip):
        return skip * torch.sigmoid(self.conv(torch.cat([up, skip], 1)))


class DecoderBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, norm: str | None, dropout: float):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=norm is None)
        self.norm = build_norm(norm, out_ch) if norm else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x, mask, reference=None):
        x = self.up(torch.relu(x))
        if self.norm is not None:
            x = self.norm(x, mask, reference)
        if self.dropout is not None:
            x = self.dropout(x)
        return x


class RainNet(nn.Module):
    def __init__(
        self, ngf: int = 64, depth: int = 8, norm: str = "rain", dropout: float = 0.5, attention: bool = True,
        head: str = "pixel", local: bool = True, reference_input: bool = False,
    ):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
        if depth < (LOCAL_LEVEL + 1 if head == "transform" else 2):
            raise ValueError(f"depth must be at least {LOCAL_LEVEL + 1 if head == 'transform' else 2}")
        self.config = {"ngf": ngf, "depth": depth, "norm": norm, "dropout": dropout, "attention": attention,
                       "head": head, "local": local, "reference_input": reference_input}
        self.depth = depth
        self.head = head
        # The transform head needs the decoder only down to its local grid's level.
        self.last_block = LOCAL_LEVEL if head == "transform" else 0
        ch = [_channels(ngf, i) for i in range(depth)]

        # With `reference_input` the encoder also sees where the scene's light is to be read (the reference
        # area, else the background) as a fifth input channel. The normalization layers and the transform
        # head's pooling read the area anyway, but the encoder's deepest features see the whole frame and
        # carry a second light into the prediction; with the channel the encoder can leave it out.
        self.reference_input = reference_input
        self.encoder = nn.ModuleList([nn.Conv2d(5 if reference_input else 4, ch[0], 4, 2, 1)])
        self.enc_norms = nn.ModuleList([nn.Identity()])
        for i in range(1, depth):
            innermost = i == depth - 1
            self.encoder.append(nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1, bias=innermost))
            # The innermost map is 1x1 at 256: instance statistics there are meaningless.
            self.enc_norms.append(nn.Identity() if innermost else nn.InstanceNorm2d(ch[i], affine=True))

        # decoder[j] turns level j's features into level j-1's resolution (j = 0 gives the image).
        self.decoder = nn.ModuleList()
        for j in range(depth):
            if j < self.last_block:
                self.decoder.append(nn.Identity())  # keeps decoder[j] meaning level j; holds nothing
                continue
            in_ch = ch[j] if j == depth - 1 else 2 * ch[j]
            if j == 0:
                self.decoder.append(DecoderBlock(in_ch, 3, None, 0.0))
            else:
                drop = dropout if depth - 1 - DROPOUT_BLOCKS <= j < depth - 1 else 0.0
                self.decoder.append(DecoderBlock(in_ch, ch[j - 1], norm, drop))
        levels = range(max(0, self.last_block - 1), min(ATTENTION_LEVELS, depth - 1)) if attention else range(0)
        self.gates = nn.ModuleDict({str(j): AttentionGate(ch[j], ch[j]) for j in levels})
        if head == "transform":
            self.pool_level = min(3, depth - 2)  # masked pooling where features still see the layout
            self.transform = TransformHead(ch[depth - 1] + 2 * ch[self.pool_level], 2 * ch[LOCAL_LEVEL - 1], local)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2**self.depth

    def _check(self, composite: torch.Tensor) -> None:
        h, w = composite.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"input {w}x{h} is not a multiple of {self.multiple}")

    def _features(self, composite, mask, reference=None):
        """(encoder features per level, decoder features at the last block's level)."""
        skips = []
        x = torch.cat([composite, mask] + ([style_weights(mask, reference)] if self.reference_input else []), 1)
        for i, (conv, norm) in enumerate(zip(self.encoder, self.enc_norms)):
            x = conv(x if i == 0 else nn.functional.leaky_relu(x, 0.2))
            x = norm(x)
            skips.append(x)
        x = skips[-1]
        for j in range(self.depth - 1, self.last_block - 1, -1):
            x = self.decoder[j](x, mask, reference)
            if j > 0:
                skip = skips[j - 1]
                gate = self.gates[str(j - 1)] if str(j - 1) in self.gates else None
                if gate is not None:
                    skip = gate(x, skip)
                x = torch.cat([x, skip], 1)
        return skips, x

    def predict_transform(self, composite: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor | None = None):
        """Transform head only: (curves B x 3 x K raw, affine grid B x 12 x H/4 x W/4) in RGB 0..1 units."""
        if self.head != "transform":
            raise ValueError("this network paints pixels; it predicts no transform")
        self._check(composite)
        mask = mask.to(composite.dtype)
        reference = None if reference is None else reference.to(composite.dtype)
        style = style_weights(mask, reference)
        skips, local = self._features(composite, mask, reference)
        feats = skips[self.pool_level]
        small = nn.functional.interpolate(mask, size=feats.shape[-2:], mode="area")
        style_small = nn.functional.interpolate(style, size=feats.shape[-2:], mode="area")
        pooled = torch.cat([skips[-1].mean((2, 3)), masked_mean(feats, small), masked_mean(feats, style_small)], 1)
        return self.transform(pooled, composite.add(1).mul(0.5), mask, local, style)

    def forward(self, composite: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """composite B x 3 x H x W in [-1, 1], mask B x 1 x H x W in [0, 1] -> harmonized, same range.
        `reference` (B x 1 x H x W, optional): the area whose light the foreground should take instead of
        the whole background's (engine.normalization).

        The transform head's output is not clamped (a clamp would stop the gradient where the target is
        at the range's end); callers that need pixels clamp."""
        self._check(composite)
        mask = mask.to(composite.dtype)
        if self.head == "transform":
            curves, grid = self.predict_transform(composite, mask, reference)
            pred = render(composite.add(1).mul(0.5), curves, grid).mul(2).sub(1)
        else:
            reference = None if reference is None else reference.to(composite.dtype)
            pred = torch.tanh(self._features(composite, mask, reference)[1])
        return pred * mask + composite * (1 - mask)


class Blend(nn.Module):
    """Several networks whose colour transforms engine.harmonizer averages (engine.blend): each with its
    working size, weight and whether it was trained to follow a reference area. The first is the lead."""

    def __init__(self, nets: list[RainNet], sizes: list[int], weights: list[float], references: list[bool]):
        super().__init__()
        self.members = nn.ModuleList(nets)
        self.sizes, self.weights, self.references = list(sizes), list(weights), list(references)

    @property
    def lead(self) -> RainNet:
        return self.members[0]

    @property
    def head(self) -> str:
        return self.lead.head

    @property
    def multiple(self) -> int:
        return self.lead.multiple

    def forward(self, composite, mask, reference=None):
        """The lead network alone (the blend itself is formed on transforms, by engine.harmonizer)."""
        return self.lead(composite, mask, reference)


def build_rainnet(preset: str | None = None, **overrides) -> RainNet:
    kwargs = dict(PRESETS[preset]) if preset else {}
    kwargs.update(overrides)
    return RainNet(**kwargs)


def with_reference_input(net: RainNet) -> RainNet:
    """`net` with the reference area as a fifth input channel whose weights start at zero: the same
    function as before, which training with reference areas then teaches to use the channel."""
    if net.reference_input:
        return net
    wider = RainNet(**{**net.config, "reference_input": True})
    state = net.state_dict()
    first = state["encoder.0.weight"]
    state["encoder.0.weight"] = torch.cat([first, first.new_zeros(first.shape[0], 1, *first.shape[2:])], 1)
    wider.load_state_dict(state)
    return wider.to(first.device, first.dtype).train(net.training)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
