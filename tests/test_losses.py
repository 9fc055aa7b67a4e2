"""earnet.losses: the soft skeleton and the clDice term (thin-vessel loss of issue 8)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.morphology import skeletonize

from earnet.config import CHOICES
from earnet.losses import bce_dice, bce_dice_cldice, get_segmentation_loss, masked_cldice, masked_dice, soft_skeleton


def vessels() -> torch.Tensor:
    """A 9-px-wide horizontal vessel and a 1-px-wide vertical one, (1, 1, 64, 64)."""
    label = torch.zeros(1, 1, 64, 64)
    label[..., 20:29, 4:60] = 1
    label[..., 34:60, 40] = 1
    return label


def logits_of(mask: torch.Tensor) -> torch.Tensor:
    return (mask * 2 - 1) * 20.0


def test_soft_skeleton_of_binary_vessels_is_their_centreline() -> None:
    label = vessels()
    skeleton = soft_skeleton(label)[0, 0].numpy() > 0.5
    centre = skeletonize(label[0, 0].numpy() > 0)
    assert skeleton[24, 10:54].all()             # the wide vessel's middle row
    assert not skeleton[20:23, 10:54].any() and not skeleton[26:29, 10:54].any()  # not its edges
    assert skeleton[36:58, 40].all()              # the thin vessel is its own skeleton
    assert (skeleton & ~label[0, 0].numpy().astype(bool)).sum() == 0
    assert (skeleton & centre).sum() >= 0.8 * centre.sum()


def test_cldice_is_zero_for_a_perfect_prediction_and_punishes_a_missed_thin_vessel() -> None:
    label, fov = vessels(), torch.ones(1, 1, 64, 64)
    assert masked_cldice(logits_of(label), label, fov).item() == pytest.approx(0.0, abs=0.02)
    without_thin = label.clone()
    without_thin[..., 34:60, 40] = 0              # 26 pixels of the thin vessel missed
    thinner_wide = label.clone()
    thinner_wide[..., 20, 4:30] = 0               # as many pixels off the wide vessel's edge
    dice = [masked_dice(logits_of(p), label, fov).item() for p in (without_thin, thinner_wide)]
    cldice = [masked_cldice(logits_of(p), label, fov).item() for p in (without_thin, thinner_wide)]
    assert dice[0] == pytest.approx(dice[1], abs=1e-3)   # Dice cannot tell them apart
    assert cldice[0] > 0.1 and cldice[1] < 0.02          # clDice can


def test_cldice_ignores_what_lies_outside_the_fov() -> None:
    label = vessels()
    fov = torch.ones(1, 1, 64, 64)
    fov[..., 32:, :] = 0                          # the thin vessel is outside
    without_thin = label.clone()
    without_thin[..., 34:60, 40] = 0
    assert masked_cldice(logits_of(without_thin), label, fov).item() == pytest.approx(0.0, abs=0.02)


def test_bce_dice_cldice_is_differentiable_and_selectable() -> None:
    label, fov = vessels(), torch.ones(1, 1, 64, 64)
    logits = torch.zeros(1, 1, 64, 64, requires_grad=True)
    loss = bce_dice_cldice(logits, label, fov)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert loss.item() > bce_dice(logits, label, fov).item()
    assert get_segmentation_loss("bce_dice_cldice") is bce_dice_cldice and "bce_dice_cldice" in CHOICES["loss"]
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as training runs it
        assert np.isfinite(bce_dice_cldice(logits, label, fov).item())
