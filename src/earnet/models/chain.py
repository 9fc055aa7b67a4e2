"""EAR-Net's chain, written once: stage 1 → sigmoid → stage 2 given the stage-1 probability.

:class:`Stages` holds the two stages and runs the chain; *how* each step runs is the
caller's ``run``: directly on the whole image (the ONNX graph), or in tiles with flips
and bf16 autocast (the predictor, :func:`earnet.inference.tiling.tiled_runner`). The
training task scores one stage with the same steps (:func:`stage_probability`), stage 2
given the stage-1 probability of its batch. The sigmoids of the vessel maps are here
and nowhere else.

A step takes the normalised image and the stage-1 probability (``None`` for stage 1)
and returns a float32 map: stage 1's logits (1 channel), or stage 2's logits and
error attention (2 channels; zeros where a refiner has no attention).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from earnet.models.segmenter import VesselSegmenter
from earnet.types import ModelOutput

Step = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
Runner = Callable[[Step, torch.Tensor, "torch.Tensor | None", int], torch.Tensor]
"""``run(step, image, stage1_probability, channels)``: apply ``step``; ``channels`` is its output's."""


def run_directly(step: Step, image: torch.Tensor, stage1_probability: torch.Tensor | None,
                 channels: int) -> torch.Tensor:
    """Run ``step`` once on the whole input."""
    return step(image, stage1_probability)


FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))
"""The views of flip test-time augmentation: as is, mirrored left-right, upside down, both."""


def _flip(tensor: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return tensor.flip(dims) if dims else tensor


def flip_averaged(step: Step) -> Step:
    """``step`` averaged over the :data:`FLIPS` of its inputs, each output flipped back (flip TTA)."""
    def averaged(image: torch.Tensor, stage1: torch.Tensor | None) -> torch.Tensor:
        total = None
        for dims in FLIPS:
            y = _flip(step(_flip(image, dims), None if stage1 is None else _flip(stage1, dims)), dims)
            total = y if total is None else total + y
        assert total is not None
        return total / len(FLIPS)
    return averaged


def run_flip_averaged(step: Step, image: torch.Tensor, stage1_probability: torch.Tensor | None,
                      channels: int) -> torch.Tensor:
    """Run ``step`` once on the whole input, averaged over the flips (the ONNX graph of a flip model)."""
    return flip_averaged(step)(image, stage1_probability)


def stage_output(model: VesselSegmenter, image: torch.Tensor, stage1_probability: torch.Tensor | None) -> ModelOutput:
    """One stage on a normalised image; a stage 2 gets the stage-1 probability where its mode takes it."""
    return model(image, stage1_probability if model.needs_stage1 else None)


def stage_logits(model: VesselSegmenter) -> Step:
    """The step that gives ``model``'s logits (1 channel)."""
    return lambda image, stage1: stage_output(model, image, stage1).logits.float()


def stage_probability(model: VesselSegmenter, image: torch.Tensor, stage1_probability: torch.Tensor | None = None,
                      run: Runner = run_directly) -> torch.Tensor:
    """One stage's vessel probability (a stage 2 given ``stage1_probability``), run by ``run``."""
    return torch.sigmoid(run(stage_logits(model), image, stage1_probability, 1))


def refiner_outputs(model: VesselSegmenter) -> Step:
    """The step that gives a stage 2's logits and error attention (2 channels)."""
    def step(image: torch.Tensor, stage1: torch.Tensor | None) -> torch.Tensor:
        out = stage_output(model, image, stage1)
        attention = out.error_attention if out.error_attention is not None else torch.zeros_like(out.logits)
        return torch.cat([out.logits.float(), attention.float()], dim=1)

    return step


@dataclass
class ChainOutput:
    """The chain's maps, each ``(N, 1, H, W)``."""

    probability: torch.Tensor
    error_attention: torch.Tensor | None = None
    """Stage 2's attention, ``None`` without a stage 2."""
    stage1_probability: torch.Tensor | None = None
    """Stage 1's probability where a stage 2 refined it, else ``None``."""


class Stages(nn.Module):
    """Stage 1 and, optionally, EAR-Net's stage 2, run as one chain.

    Args:
        stage1: the segmenter.
        stage2: the error-attention refiner, or ``None``.
    """

    def __init__(self, stage1: VesselSegmenter, stage2: VesselSegmenter | None = None) -> None:
        super().__init__()
        self.stage1, self.stage2 = stage1, stage2

    def forward(self, image: torch.Tensor, run: Runner = run_directly,
                stage1_probability: torch.Tensor | None = None) -> ChainOutput:
        """The chain on a normalised ``(N, 3, H, W)`` image; ``stage1_probability`` skips stage 1."""
        if stage1_probability is None:
            stage1_probability = stage_probability(self.stage1, image, None, run)
        if self.stage2 is None:
            return ChainOutput(stage1_probability)
        out = run(refiner_outputs(self.stage2), image, stage1_probability, 2)
        return ChainOutput(torch.sigmoid(out[:, :1]), out[:, 1:], stage1_probability)
