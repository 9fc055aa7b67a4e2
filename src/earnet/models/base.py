"""What every segmentation backbone returns, and the blocks they share."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class BackboneOutput:
    """A backbone's raw outputs; logits, never probabilities.

    Attributes:
        logits: ``(N, 1, H, W)`` vessel logits at the input's size.
        features: ``(N, C, h, w)`` the last feature map (``C = feature_channels``),
            at any resolution; the stage-2 error-attention head reads it.
        aux_logits: ``(N, 1, H, W)`` logits of auxiliary heads (deep supervision,
            OCR's soft regions, per-scale outputs), each at the input's size.
        aux_weights: loss weight of each entry of ``aux_logits``.
    """

    logits: torch.Tensor
    features: torch.Tensor
    aux_logits: list[torch.Tensor] = field(default_factory=list)
    aux_weights: list[float] = field(default_factory=list)


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """Convolution (same padding, no bias), batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def adapt_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """RGB filters for ``in_channels`` inputs: grey sums them, extra channels get zeros."""
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    adapted = weight.new_zeros(weight.shape[0], in_channels, *weight.shape[2:])
    keep = min(in_channels, weight.shape[1])
    adapted[:, :keep] = weight[:, :keep]
    return adapted
