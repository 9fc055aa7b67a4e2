"""W-Net: two small U-Nets in series, the second refining the first.

After "little W-Net" (Galdran et al., "State-of-the-art retinal vessel segmentation
with minimalistic models", Sci. Rep. 2022): a ~30k-parameter U-Net segments, and a
second U-Net sees the image together with the first one's probability and refines
it. Both outputs are supervised (the first as an auxiliary output). The default
``(8, 16, 32)`` widths give about 59k parameters: small enough to train on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from earnet.models.base import BackboneOutput, conv_bn_relu


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)``; as two elementwise maxima when H and W are even, which on CPU
    is ~3x faster (the library kernel also computes argmax indices, which inference discards).
    Traced for ONNX it is one MaxPool node (sizes are even there: the input is padded)."""
    if torch.jit.is_tracing() or x.shape[-1] % 2 or x.shape[-2] % 2:
        return F.max_pool2d(x, 2)
    return torch.maximum(torch.maximum(x[..., ::2, ::2], x[..., 1::2, ::2]),
                         torch.maximum(x[..., ::2, 1::2], x[..., 1::2, 1::2]))


class _DoubleConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(conv_bn_relu(in_channels, out_channels), conv_bn_relu(out_channels, out_channels))


class MiniUNet(nn.Module):
    """A U-Net with ``len(widths) - 1`` poolings; returns (logits, last features)."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], out_channels: int = 1) -> None:
        super().__init__()
        self.down = nn.ModuleList()
        channels = in_channels
        for width in widths:
            self.down.append(_DoubleConv(channels, width))
            channels = width
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], kernel_size=2, stride=2) for i in reversed(range(len(widths) - 1))
        )
        self.merge = nn.ModuleList(_DoubleConv(2 * widths[i], widths[i]) for i in reversed(range(len(widths) - 1)))
        self.head = nn.Conv2d(widths[0], out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else max_pool_2x2(x))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x), x


class WNet(nn.Module):
    """Two :class:`MiniUNet` s; the second sees the input and the first's probability.

    Args:
        in_channels: 3 for an RGB image (4 when stage 2 also gets a probability map).
        widths: channel widths of each U-Net level.
        aux_weight: loss weight of the first U-Net's output.
        second_widths: the second U-Net's widths, if not ``widths``.
    """

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (8, 16, 32), aux_weight: float = 0.5,
                 second_widths: tuple[int, ...] | None = None) -> None:
        super().__init__()
        second_widths = tuple(widths) if second_widths is None else tuple(second_widths)
        if len(second_widths) != len(widths):
            raise ValueError("both U-Nets need the same number of levels (one padding multiple)")
        self.in_channels = in_channels
        self.feature_channels = second_widths[0]
        self.multiple = 2 ** (len(widths) - 1)
        self.aux_weight = aux_weight
        self.first = MiniUNet(in_channels, tuple(widths))
        self.second = MiniUNet(in_channels + 1, second_widths)

    def forward(self, x: torch.Tensor) -> BackboneOutput:
        height, width = x.shape[-2:]
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        if pad_h or pad_w or torch.jit.is_tracing():  # traced (ONNX): pad for every size, not the example's
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        first_logits, _ = self.first(x)
        logits, features = self.second(torch.cat([x, torch.sigmoid(first_logits)], dim=1))
        crop = (..., slice(0, height), slice(0, width))
        return BackboneOutput(logits[crop], features[crop], [first_logits[crop]], [self.aux_weight])


def wnet(**kwargs: object) -> WNet:
    """The default W-Net, widths (8, 16, 32), ~59k parameters."""
    return WNet(**kwargs)  # type: ignore[arg-type]


def wnet_wide(**kwargs: object) -> WNet:
    """A wider W-Net, widths (16, 32, 64), ~235k parameters."""
    kwargs.setdefault("widths", (16, 32, 64))
    return WNet(**kwargs)  # type: ignore[arg-type]


def wnet_wide_first(**kwargs: object) -> WNet:
    """The wide W-Net's first U-Net (16, 32, 64) with the W-Net's second (8, 16, 32), ~147k
    parameters: most of the wide one's full-resolution capacity where it segments, at ~80 % of
    its time (the second U-Net only refines)."""
    kwargs.setdefault("widths", (16, 32, 64))
    kwargs.setdefault("second_widths", (8, 16, 32))
    return WNet(**kwargs)  # type: ignore[arg-type]


def wnet_mid(**kwargs: object) -> WNet:
    """A W-Net between the default and the wide one, widths (12, 24, 48), ~132k parameters."""
    kwargs.setdefault("widths", (12, 24, 48))
    return WNet(**kwargs)  # type: ignore[arg-type]


def wnet_deep(**kwargs: object) -> WNet:
    """A deeper W-Net, widths (8, 16, 32, 64), ~242k parameters: the wide one's capacity added
    at low resolution, where it is cheap (about the W-Net's time per image, not twice it)."""
    kwargs.setdefault("widths", (8, 16, 32, 64))
    return WNet(**kwargs)  # type: ignore[arg-type]


def wnet_large(**kwargs: object) -> WNet:
    """A large W-Net for GPU training, widths (24, 48, 96, 192), ~2.2M parameters: four levels
    (a wider view around the optic disc) and the width a dataset's best model can use."""
    kwargs.setdefault("widths", (24, 48, 96, 192))
    return WNet(**kwargs)  # type: ignore[arg-type]
