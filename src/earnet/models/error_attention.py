"""EAR-Net's stage 2: the error-attention head and the two refinement modes.

Wang et al., "EAR-NET: Error Attention Refining Network for Retinal Vessel
Segmentation", DICTA 2021 (arXiv 2107.01351). A head on the backbone's last
feature map predicts ``e`` in [0, 1], the probability that the stage-1 segmentation
is wrong at each pixel; it is supervised with MSE against the error map. ``e`` then
refines the segmentation logits:

``paper``
    ``logits * (1 - w + w * e)``, ``w = 0.5``, as in the authors' code. A positive
    factor never changes a logit's sign, so at threshold 0.5 this flips no pixel by
    itself; it acts through training and through the ranking (AUC).
``correct``
    earnet's design: the backbone also receives the stage-1 probability ``p1`` and
    ``logits = (1 - e) * logit(p1) + e * z``: where no error is expected the
    stage-1 answer is kept, where one is expected the new prediction ``z`` takes
    over, so likely-wrong pixels can flip.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from earnet.models.base import conv_bn_relu

Refinement = Literal["none", "paper", "correct"]
REFINEMENTS: tuple[str, ...] = ("none", "paper", "correct")
STAGE1_LOGIT_CLAMP = 8.0
"""|logit(p1)| is clamped so that saturated stage-1 probabilities stay correctable."""


class ErrorAttentionHead(nn.Module):
    """conv-BN-ReLU x2, 1x1 conv, sigmoid; output upsampled to the input size."""

    def __init__(self, in_channels: int, channels: int | None = None) -> None:
        super().__init__()
        channels = channels or max(16, min(in_channels, 64))
        self.layers = nn.Sequential(conv_bn_relu(in_channels, channels), conv_bn_relu(channels, channels),
                                    nn.Conv2d(channels, 1, kernel_size=1))

    def forward(self, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        logits = self.layers(features)
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return torch.sigmoid(logits)


def refine(logits: torch.Tensor, attention: torch.Tensor, refinement: Refinement, attention_weight: float,
           stage1_probability: torch.Tensor | None) -> torch.Tensor:
    """Stage 2's logits from its own ``logits`` and the error ``attention`` (see the module docstring)."""
    if refinement == "paper":
        w = attention_weight
        return logits * (1 - w + w * attention)
    if stage1_probability is None:
        raise ValueError("the 'correct' refinement needs the stage-1 probability")
    stage1_logits = torch.logit(stage1_probability.float(), eps=1e-6).clamp(-STAGE1_LOGIT_CLAMP, STAGE1_LOGIT_CLAMP)
    return (1 - attention) * stage1_logits.to(logits.dtype) + attention * logits
