"""The generic model: a backbone, optionally with EAR-Net's error-attention head.

Stage 1 is ``VesselSegmenter(backbone)``; stage 2 adds the head and a refinement mode
(:mod:`earnet.models.error_attention`).
"""

from __future__ import annotations

import torch
from torch import nn

from earnet.models.error_attention import (
    REFINEMENTS,
    ErrorAttentionHead,
    Refinement,
    refine,
)
from earnet.types import ModelOutput


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
        logits = refine(out.logits, attention, self.refinement, self.attention_weight, stage1_probability)
        return ModelOutput(logits, attention, out.aux_logits, out.aux_weights)
