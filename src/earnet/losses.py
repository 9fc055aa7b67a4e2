"""Losses restricted to the field of view.

Pixels outside the FOV carry no information about vessels; counting them would
reward the trivial background prediction, so every loss here is averaged over FOV
pixels only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from earnet.exceptions import EarnetError
from earnet.types import ModelOutput


def masked_bce(logits: torch.Tensor, label: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy averaged over FOV pixels."""
    loss = F.binary_cross_entropy_with_logits(logits.float(), label.float(), reduction="none")
    return (loss * fov).sum() / fov.sum().clamp_min(1)


def masked_dice(logits: torch.Tensor, label: torch.Tensor, fov: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice over FOV pixels, pooled over the batch."""
    probability = torch.sigmoid(logits.float()) * fov
    label = label.float() * fov
    intersection = (probability * label).sum()
    return 1 - (2 * intersection + smooth) / (probability.sum() + label.sum() + smooth)


def bce_dice(logits: torch.Tensor, label: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """BCE + Dice, the default segmentation loss."""
    return masked_bce(logits, label, fov) + masked_dice(logits, label, fov)


CLDICE_ITERATIONS = 5
"""Soft-skeleton erosions: half the widest vessel (~10 px across at DRIVE's scale)."""
CLDICE_WEIGHT = 0.5
"""Weight of the clDice term in ``bce_dice_cldice``."""


def _soft_erode(x: torch.Tensor) -> torch.Tensor:
    # min over a plus-shaped neighbourhood, as two 1-D min-pools
    return torch.minimum(-F.max_pool2d(-x, (3, 1), 1, (1, 0)), -F.max_pool2d(-x, (1, 3), 1, (0, 1)))


def _soft_open(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(_soft_erode(x), 3, 1, 1)


def soft_skeleton(x: torch.Tensor, iterations: int = CLDICE_ITERATIONS) -> torch.Tensor:
    """Differentiable skeleton of ``(N, 1, H, W)`` maps in [0, 1] (Shit et al., CVPR 2021):
    what each of ``iterations`` erosions removes that an opening would not restore."""
    skeleton = F.relu(x - _soft_open(x))
    for _ in range(iterations):
        x = _soft_erode(x)
        delta = F.relu(x - _soft_open(x))
        skeleton = skeleton + F.relu(delta - skeleton * delta)
    return skeleton


def masked_cldice(logits: torch.Tensor, label: torch.Tensor, fov: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft clDice inside the FOV: the harmonic mean of the predicted skeleton's share
    inside the label and the label skeleton's share covered by the prediction. A broken
    thin vessel costs as much as a missed stretch of a wide one."""
    probability = torch.sigmoid(logits.float())
    label = label.float()
    predicted_skeleton = soft_skeleton(probability) * fov
    label_skeleton = soft_skeleton(label) * fov
    precision = ((predicted_skeleton * label).sum() + smooth) / (predicted_skeleton.sum() + smooth)
    sensitivity = ((label_skeleton * probability).sum() + smooth) / (label_skeleton.sum() + smooth)
    return 1 - 2 * precision * sensitivity / (precision + sensitivity)


def bce_dice_cldice(logits: torch.Tensor, label: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """BCE + Dice + ``CLDICE_WEIGHT`` x clDice: the default loss plus a term for thin vessels."""
    return bce_dice(logits, label, fov) + CLDICE_WEIGHT * masked_cldice(logits, label, fov)


SEGMENTATION_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "bce_dice": bce_dice,
    "bce": masked_bce,
    "dice": masked_dice,
    "bce_dice_cldice": bce_dice_cldice,
}


def get_segmentation_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """A segmentation loss by name."""
    if name not in SEGMENTATION_LOSSES:
        raise EarnetError(f"unknown loss {name!r}; valid: {', '.join(SEGMENTATION_LOSSES)}")
    return SEGMENTATION_LOSSES[name]


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """Mean squared error over FOV pixels (the error-attention loss)."""
    return (((prediction.float() - target.float()) ** 2) * fov).sum() / fov.sum().clamp_min(1)


ERROR_LOSS_GAIN = 2.0
"""Error-guided loss: a pixel stage 1 got wrong weighs ``1 + ERROR_LOSS_GAIN`` times (3x)."""


def error_pixel_weights(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """FOV mask turned into per-pixel weights that stress stage 1's errors (the ``loss`` guidance)."""
    if "error" not in batch:
        raise EarnetError("error-guided loss needs error maps (run 'earnet errors RUN' first)")
    return batch["fov"] * (1 + ERROR_LOSS_GAIN * batch["error"])


def total_loss(output: ModelOutput, batch: dict[str, torch.Tensor], segmentation_loss: Callable,
               error_weight: float = 0.5, aux_scale: float = 1.0,
               pixel_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Segmentation loss + weighted auxiliary losses (+ error-attention MSE in stage 2).

    ``pixel_weights`` (default: the FOV mask) weigh the segmentation and auxiliary
    losses per pixel; the error-attention MSE always averages over the FOV.
    Returns the parts and their sum under ``"loss"``.
    """
    label, fov = batch["label"], batch["fov"]
    weights = fov if pixel_weights is None else pixel_weights
    parts = {"seg": segmentation_loss(output.logits, label, weights)}
    aux = [w * segmentation_loss(a, label, weights) for a, w in zip(output.aux_logits, output.aux_weights)]
    if aux:
        parts["aux"] = aux_scale * torch.stack(aux).sum()
    if output.error_attention is not None:
        if "error" not in batch:
            raise EarnetError("stage 2 needs error maps (run 'earnet errors RUN' first)")
        parts["error"] = error_weight * masked_mse(output.error_attention, batch["error"], fov)
    parts["loss"] = torch.stack(list(parts.values())).sum()
    return parts
