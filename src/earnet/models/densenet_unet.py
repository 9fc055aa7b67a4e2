"""U-Net decoder on a torchvision DenseNet encoder.

References:
    Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image
    Segmentation", MICCAI 2015 (arXiv 1505.04597).
    Huang et al., "Densely Connected Convolutional Networks", CVPR 2017
    (arXiv 1608.06993).

The encoder is torchvision's DenseNet (161 by default; 121/169/201 too), tapped at
strides 2 (stem), 4, 8, 16 (after dense blocks 1-3) and 32 (after the last block and
its norm). The decoder upsamples, concatenates the tap of the same stride and applies
two conv-BN-ReLU, back to full resolution, as in segmentation_models_pytorch's U-Net.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from earnet.exceptions import EarnetError
from earnet.models.base import BackboneOutput, adapt_input_conv, conv_bn_relu

_MULTIPLE = 32  # the encoder's coarsest stride

ENCODERS: dict[str, tuple[Callable[..., models.DenseNet], models.WeightsEnum]] = {
    "densenet121": (models.densenet121, models.DenseNet121_Weights.IMAGENET1K_V1),
    "densenet161": (models.densenet161, models.DenseNet161_Weights.IMAGENET1K_V1),
    "densenet169": (models.densenet169, models.DenseNet169_Weights.IMAGENET1K_V1),
    "densenet201": (models.densenet201, models.DenseNet201_Weights.IMAGENET1K_V1),
}


def _padding(size: int) -> int:
    """Pad to a multiple of 32, and to at least 64 so the coarsest map is 2x2: a 1x1 map
    cannot be batch-normalised in training with a batch of one."""
    return max(-size % _MULTIPLE, 2 * _MULTIPLE - size)


class DecoderBlock(nn.Module):
    """Upsample to the skip's size (or x2), concatenate it, two conv-BN-ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(in_channels + skip_channels, out_channels)
        self.conv2 = conv_bn_relu(out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is None:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        else:
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class DenseNetUNet(nn.Module):
    """U-Net with a DenseNet encoder; ``features`` is the last decoder map (full resolution).

    Args:
        in_channels: 3 for an RGB image (4 when stage 2 also gets a probability map);
            other than 3 replaces the stem convolution.
        encoder: one of :data:`ENCODERS`.
        decoder_channels: widths of the five decoder blocks, coarse to fine.
        pretrained: start the encoder from torchvision's ImageNet weights (downloads
            them unless cached); only when asked.
        memory_efficient: torchvision's checkpointed dense layers (less memory, slower).
    """

    def __init__(self, in_channels: int = 3, encoder: str = "densenet161",
                 decoder_channels: Sequence[int] = (256, 128, 64, 32, 16), pretrained: bool = False,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise EarnetError(f"unknown DenseNet encoder {encoder!r}; valid: {', '.join(ENCODERS)}")
        if len(decoder_channels) != 5:
            raise EarnetError(f"decoder_channels needs 5 widths (one per stride), got {len(decoder_channels)}")
        self.in_channels = in_channels
        self.feature_channels = decoder_channels[-1]
        builder, weights = ENCODERS[encoder]
        self.encoder = builder(weights=weights if pretrained else None, memory_efficient=memory_efficient).features
        stem = self.encoder.conv0
        if in_channels != stem.in_channels:
            conv0 = nn.Conv2d(in_channels, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False)
            if pretrained:
                conv0.weight.data.copy_(adapt_input_conv(stem.weight.data, in_channels))
            self.encoder.conv0 = conv0
        skips = [stem.out_channels] + [getattr(self.encoder, f"transition{i}").norm.num_features for i in (1, 2, 3)]
        channels = self.encoder.norm5.num_features
        blocks = []
        for skip, out in zip(list(reversed(skips)) + [0], decoder_channels):
            blocks.append(DecoderBlock(channels, skip, out))
            channels = out
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(channels, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> BackboneOutput:
        height, width = x.shape[-2:]
        pad_h, pad_w = _padding(height), _padding(width)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        skips = []
        for name, module in self.encoder.named_children():
            x = module(x)
            if name in ("relu0", "denseblock1", "denseblock2", "denseblock3"):
                skips.append(x)
        x = F.relu(x)  # torchvision applies it after norm5
        for block in self.decoder:
            x = block(x, skips.pop() if skips else None)
        crop = (..., slice(0, height), slice(0, width))
        return BackboneOutput(self.head(x)[crop], x[crop])


def unet_densenet161(**kwargs: object) -> DenseNetUNet:
    """U-Net on DenseNet-161, decoder (256, 128, 64, 32, 16); ~38M parameters."""
    return DenseNetUNet(**kwargs)  # type: ignore[arg-type]


def unet_densenet121(**kwargs: object) -> DenseNetUNet:
    """U-Net on DenseNet-121: a lighter variant."""
    kwargs.setdefault("encoder", "densenet121")
    return DenseNetUNet(**kwargs)  # type: ignore[arg-type]
