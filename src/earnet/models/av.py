"""Artery/vein W-Net: three sigmoid maps (artery, vein, vessel) from a fundus photograph.

After the A/V W-Net of Galdran et al. ("State-of-the-art retinal vessel segmentation
with minimalistic models", Sci. Rep. 2022): a first U-Net predicts the three maps, a
second U-Net sees the image with the first one's probabilities and refines them.
The maps are independent sigmoids, not a softmax, because RITE's crossings are both
artery and vein. Four levels (three poolings) give the receptive field that telling
arteries from veins needs (calibre, colour and central reflex over ~100 px), at a cost
that keeps ``earnet segment --av`` under 0.1 s per DRIVE image on two CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from earnet.models.wnet import MiniUNet

AV_CHANNELS = ("artery", "vein", "vessel")
"""Order of the output maps."""


@dataclass
class AVOutput:
    """Logits ``(N, 3, H, W)`` in :data:`AV_CHANNELS` order, plus the first U-Net's (auxiliary)."""

    logits: torch.Tensor
    aux_logits: list[torch.Tensor] = field(default_factory=list)
    aux_weights: list[float] = field(default_factory=list)


class AVWNet(nn.Module):
    """Two :class:`MiniUNet` s with three output maps each.

    Args:
        widths: channel widths of each U-Net level.
        aux_weight: loss weight of the first U-Net's output.
    """

    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64), aux_weight: float = 0.5) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.multiple = 2 ** (len(widths) - 1)
        self.aux_weight = aux_weight
        channels = len(AV_CHANNELS)
        self.first = MiniUNet(3, self.widths, out_channels=channels)
        self.second = MiniUNet(3 + channels, self.widths, out_channels=channels)

    def forward(self, x: torch.Tensor) -> AVOutput:
        """``(N, 3, H, W)`` normalised RGB → :class:`AVOutput` at the input's size."""
        height, width = x.shape[-2:]
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        first, _ = self.first(x)
        logits, _ = self.second(torch.cat([x, torch.sigmoid(first)], dim=1))
        crop = (..., slice(0, height), slice(0, width))
        return AVOutput(logits[crop], [first[crop]], [self.aux_weight])


AV_MODELS = {
    "av_wnet": (8, 16, 32, 64),
    "av_wnet_wide": (16, 32, 64, 128),
}


def create_av_model(name: str = "av_wnet") -> AVWNet:
    """An A/V model by name (:data:`AV_MODELS`)."""
    from earnet.exceptions import EarnetError

    if name not in AV_MODELS:
        raise EarnetError(f"unknown A/V model {name!r}; valid: {', '.join(AV_MODELS)}")
    return AVWNet(AV_MODELS[name])
