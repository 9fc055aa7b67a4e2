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
from earnet.types import ModelOutput

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


class VesselSegmenter(nn.Module):
    """A backbone, optionally with the error-attention head (EAR-Net stage 2).

    Args:
        backbone: returns :class:`~earnet.models.base.BackboneOutput`; for
            ``correct`` it must take 4 input channels (image + stage-1 probability).
        refinement: ``none`` (stage 1), ``paper`` or ``correct``.
        attention_weight: ``w`` of the ``paper`` mode.
    """

    def __init__(self, backbone: nn.Module, refinement: Refinement = "none", attention_weight: float = 0.5) -> None:
        super().__init__()
        if refinement not in REFINEMENTS:
            raise ValueError(f"unknown refinement {refinement!r}; valid: {', '.join(REFINEMENTS)}")
        self.backbone = backbone
        self.refinement = refinement
        self.attention_weight = attention_weight
        self.error_head = ErrorAttentionHead(backbone.feature_channels) if refinement != "none" else None

    @property
    def needs_stage1(self) -> bool:
        """Whether :meth:`forward` needs the stage-1 probability."""
        return self.refinement == "correct"

    def forward(self, image: torch.Tensor, stage1_probability: torch.Tensor | None = None) -> ModelOutput:
        """Segment ``image`` ``(N, 3, H, W)`` (normalised); returns logits."""
        if self.needs_stage1:
            if stage1_probability is None:
                raise ValueError("the 'correct' refinement needs the stage-1 probability")
            image = torch.cat([image, stage1_probability.to(image.dtype)], dim=1)
        out = self.backbone(image)
        if self.error_head is None:
            return ModelOutput(out.logits, None, out.aux_logits, out.aux_weights)
        attention = self.error_head(out.features, tuple(image.shape[-2:])).to(out.logits.dtype)
        if self.refinement == "paper":
            w = self.attention_weight
            logits = out.logits * (1 - w + w * attention)
        else:
            assert stage1_probability is not None
            stage1_logits = torch.logit(stage1_probability.float(), eps=1e-6).clamp(-STAGE1_LOGIT_CLAMP, STAGE1_LOGIT_CLAMP)
            logits = (1 - attention) * stage1_logits.to(out.logits.dtype) + attention * out.logits
        return ModelOutput(logits, attention, out.aux_logits, out.aux_weights)
