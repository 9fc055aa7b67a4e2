"""Artery/vein W-Net: three sigmoid maps (artery, vein, vessel) from a fundus photograph.

After the A/V W-Net of Galdran et al. ("State-of-the-art retinal vessel segmentation
with minimalistic models", Sci. Rep. 2022): a first U-Net predicts the three maps, a
second U-Net sees the image with the first one's probabilities and refines them.
The maps are independent sigmoids, not a softmax, because RITE's crossings are both
artery and vein. Four levels (three poolings) give the receptive field that telling
arteries from veins needs (calibre, colour and central reflex over ~100 px), at a cost
that keeps ``earnet segment --av`` under 0.1 s per DRIVE image on two CPU cores.
``av_wnet_deep`` adds a fifth level (four poolings): twice the receptive field, so a
thin vessel is seen with the thicker one it branches from, for little extra compute
(the new level works on 1/256 of the pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
        vessel_input: the network also sees a vessel probability map (a fourth input
            channel, EAR-Net's cascade): it need not find the vessels, only type them.
        stride: 2 works at half the input's resolution (2x2 average pooling in, bilinear
            upsampling of the logits out): 4x less compute and twice the context per
            layer, while inputs, outputs and the training FOV diameter stay the vessel
            model's, so one ONNX graph can run both.
        refine: with ``stride`` 2, a small full-resolution head of this many channels (0: none):
            it sees the photograph (and vessel map) at full resolution with the upsampled
            logits and adds a correction to them, for vessels too thin to survive the
            pooling. Its last layer starts at zero, so a model grown from a trained one
            (``--init``) starts with that model's maps.
        iterations: passes of the second U-Net, each fed the previous pass's probabilities
            (recursive refinement, after RRWNet, Morano et al. 2024). The weights are shared,
            so a model with more passes loads a one-pass model's weights (``--init``); every
            pass but the last is supervised as an auxiliary output.
        map_passes: passes of a third U-Net that sees only the maps (artery, vein and vessel
            probabilities at the working resolution, not the photograph) and adds a correction
            to the logits: RRWNet's refinement from the maps alone, which must reason about the
            vessels' shapes and connections rather than their colour. Its last layer starts at
            zero, so a model grown from a trained one (``--init``) starts with that model's maps.
    """

    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64), aux_weight: float = 0.5,
                 vessel_input: bool = False, stride: int = 1, refine: int = 0,
                 iterations: int = 1, map_passes: int = 0) -> None:
        super().__init__()
        if iterations < 1:
            raise ValueError("iterations must be at least 1")
        self.iterations = iterations
        self.widths = tuple(widths)
        self.vessel_input = vessel_input
        self.stride = stride
        self.multiple = stride * 2 ** (len(widths) - 1)
        self.aux_weight = aux_weight
        channels = len(AV_CHANNELS)
        inputs = 4 if vessel_input else 3
        self.first = MiniUNet(inputs, self.widths, out_channels=channels)
        self.second = MiniUNet(inputs + channels, self.widths, out_channels=channels)
        self.map_passes = map_passes
        self.topology: MiniUNet | None = None
        if map_passes:
            self.topology = MiniUNet(channels, self.widths, out_channels=channels)
            nn.init.zeros_(self.topology.head.weight)
            nn.init.zeros_(self.topology.head.bias)
        self.refine: nn.Sequential | None = None
        if refine:
            if stride == 1:
                raise ValueError("a full-resolution head only makes sense for a model working at stride > 1")
            self.refine = nn.Sequential(
                nn.Conv2d(inputs + channels, refine, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(refine, refine, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(refine, channels, 1))
            nn.init.zeros_(self.refine[-1].weight)
            nn.init.zeros_(self.refine[-1].bias)

    def forward(self, x: torch.Tensor, vessel: torch.Tensor | None = None) -> AVOutput:
        """``(N, 3, H, W)`` normalised RGB (and, for a ``vessel_input`` model, the ``(N, 1, H, W)``
        vessel probability) → :class:`AVOutput` at the input's size."""
        if self.vessel_input:
            if vessel is None:
                raise ValueError("this A/V model needs the vessel probability as input")
            x = torch.cat([x, vessel.to(x.dtype)], dim=1)
        height, width = x.shape[-2:]
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        full = x
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride)
        first, _ = self.first(x)
        passes = [first]
        for _ in range(self.iterations):
            logits, _ = self.second(torch.cat([x, torch.sigmoid(passes[-1])], dim=1))
            passes.append(logits)
        if self.topology is not None:
            for _ in range(self.map_passes):
                passes.append(passes[-1] + self.topology(torch.sigmoid(passes[-1]))[0])
        if not self.training:
            passes = passes[-1:]  # the auxiliary outputs only feed the training loss
        if self.stride > 1:
            passes = [F.interpolate(t, scale_factor=self.stride, mode="bilinear", align_corners=False)
                      for t in passes]
        aux, logits = passes[:-1], passes[-1]
        if self.refine is not None:
            logits = logits + self.refine(torch.cat([full, logits], dim=1))
        crop = (..., slice(0, height), slice(0, width))
        return AVOutput(logits[crop], [t[crop] for t in aux], [self.aux_weight] * len(aux))


AV_MODELS: dict[str, dict[str, Any]] = {
    "av_wnet": {"widths": (8, 16, 32, 64)},
    "av_wnet_deep": {"widths": (8, 16, 32, 64, 128)},
    "av_wnet_wide": {"widths": (16, 32, 64, 128)},
    "av_cascade": {"widths": (8, 16, 32, 64, 128), "vessel_input": True, "stride": 2},
    "av_cascade_wide": {"widths": (16, 32, 64, 128, 256), "vessel_input": True, "stride": 2},
    "av_cascade_fullres": {"widths": (8, 16, 32, 64, 128), "vessel_input": True, "stride": 2, "refine": 8},
    "av_cascade_rr": {"widths": (8, 16, 32, 64, 128), "vessel_input": True, "stride": 2, "iterations": 2},
    "av_cascade_rr3": {"widths": (8, 16, 32, 64, 128), "vessel_input": True, "stride": 2, "iterations": 3},
    "av_cascade_rr_maps": {"widths": (8, 16, 32, 64, 128), "vessel_input": True, "stride": 2, "iterations": 2,
                           "map_passes": 1},
}
"""A/V models by name: :class:`AVWNet` arguments. ``av_cascade``: five levels at half
resolution, fed the vessel model's probability (the bundled A/V model); ``av_cascade_wide``:
the same at twice the widths (~3.9M parameters, ~4x the compute), a GPU's model for the
question whether the A/V model is short of capacity; ``av_cascade_fullres``: ``av_cascade``
plus an 8-channel full-resolution head for thin vessels (grown from a trained
``av_cascade`` with ``--init``); ``av_cascade_rr``: ``av_cascade`` whose second U-Net runs
twice, the second time on its own output (recursive refinement; same weights, so it can
start from a trained ``av_cascade``); ``av_cascade_rr3``: the same with three passes;
``av_cascade_rr_maps``: ``av_cascade_rr`` plus one pass of a U-Net that refines the maps alone
(grown from a trained ``av_cascade_rr`` with ``--init``)."""

GROWN_MODULES = ("refine.", "topology.")
"""Parameter prefixes of modules that start at zero, so a model may grow them from a trained
model without them (``--init``)."""


def create_av_model(name: str = "av_wnet") -> AVWNet:
    """An A/V model by name (:data:`AV_MODELS`)."""
    from earnet.exceptions import EarnetError

    if name not in AV_MODELS:
        raise EarnetError(f"unknown A/V model {name!r}; valid: {', '.join(AV_MODELS)}")
    return AVWNet(**AV_MODELS[name])
