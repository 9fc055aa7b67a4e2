"""The A/V loss: its artery-vs-vein decision term, and the deeper A/V network."""

from __future__ import annotations

import pytest
import torch

from earnet.config import TrainConfig
from earnet.engine.av_fit import vessel_probabilities
from earnet.engine.av_task import av_loss
from earnet.exceptions import InputError
from earnet.models.av import create_av_model


def _batch(artery: torch.Tensor, vein: torch.Tensor) -> dict[str, torch.Tensor]:
    vessel = ((artery + vein) > 0).float()
    ones = torch.ones_like(artery)
    return {"artery": artery, "vein": vein, "label": vessel, "fov": ones, "known": ones}


def _logits(artery: float, vein: float, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.stack([torch.full(shape, artery), torch.full(shape, vein), torch.full(shape, 2.0)], dim=1)[:, :, 0]


def test_decision_term_scores_the_artery_vs_vein_call_on_one_type_vessel_pixels() -> None:
    shape = (1, 1, 4, 4)
    artery = torch.zeros(shape)
    artery[..., 0, :] = 1
    batch = _batch(artery, torch.zeros(shape))
    right, wrong = _logits(1.0, -1.0, shape), _logits(-1.0, 1.0, shape)
    assert av_loss(right, batch) == av_loss(right, batch, 0.0)
    # the term adds BCE(logit_a - logit_v, 1) on the artery row: softplus(-2) when right, softplus(2) when wrong
    gain_right = av_loss(right, batch, 1.0) - av_loss(right, batch)
    gain_wrong = av_loss(wrong, batch, 1.0) - av_loss(wrong, batch)
    assert torch.isclose(gain_right, torch.nn.functional.softplus(torch.tensor(-2.0)), atol=1e-5)
    assert torch.isclose(gain_wrong, torch.nn.functional.softplus(torch.tensor(2.0)), atol=1e-5)


def test_decision_term_leaves_out_crossings_and_takes_soft_targets_as_their_type() -> None:
    shape = (1, 1, 2, 2)
    crossing = _batch(torch.ones(shape), torch.ones(shape))
    logits = _logits(3.0, -3.0, shape)
    assert torch.isclose(av_loss(logits, crossing, 5.0), av_loss(logits, crossing))
    # a pixel 30 % thin artery (half scale) is still all artery for the decision
    soft = _batch(torch.full(shape, 0.3), torch.zeros(shape))
    assert av_loss(_logits(1.0, -1.0, shape), soft, 1.0) - av_loss(_logits(1.0, -1.0, shape), soft) < \
        av_loss(_logits(-1.0, 1.0, shape), soft, 1.0) - av_loss(_logits(-1.0, 1.0, shape), soft)


def test_thin_weight_makes_thin_vessel_pixels_weigh_more_in_the_vessel_terms() -> None:
    shape = (1, 1, 2, 4)
    artery = torch.ones(shape)
    batch = _batch(artery, torch.zeros(shape))
    batch["thin"] = torch.zeros(shape)
    batch["thin"][..., :, :2] = 1
    logits = _logits(1.0, -1.0, shape)
    logits[:, 0, :, :2] = -1.0  # wrong (vein) on the thin half, right on the thick half
    logits[:, 1, :, :2] = 1.0
    plain, weighted = av_loss(logits, batch, 1.0), av_loss(logits, batch, 1.0, 2.0)
    assert weighted > plain  # the wrong pixels are the thin ones
    batch["thin"] = 1 - batch["thin"]
    assert av_loss(logits, batch, 1.0, 2.0) < plain
    with pytest.raises(KeyError):  # a weight without the map is a bug, not a silent no-op
        av_loss(logits, _batch(artery, torch.zeros(shape)), 1.0, 2.0)


def test_negative_thin_weight_is_refused() -> None:
    from earnet.config import validate

    with pytest.raises(InputError, match="av_thin_weight must be at least 0"):
        validate(TrainConfig(dataset="rite", backbone="av_cascade", av_thin_weight=-1.0), "test.yaml")


def test_deep_av_network_keeps_any_size() -> None:
    torch.manual_seed(0)
    deep = create_av_model("av_wnet_deep").eval()
    assert deep.multiple == 16 and len(deep.first.down) == 5
    with torch.no_grad():
        out = deep(torch.randn(1, 3, 37, 50))
    assert out.logits.shape == (1, 3, 37, 50) and out.aux_logits == []
    assert deep.train()(torch.randn(2, 3, 37, 50)).aux_logits[0].shape == (2, 3, 37, 50)


def test_a_vessel_input_model_needs_its_vessel_model_named() -> None:
    assert vessel_probabilities(TrainConfig(dataset="rite", backbone="av_wnet"), []) == {}
    with pytest.raises(InputError, match="av_vessel_model"):
        vessel_probabilities(TrainConfig(dataset="rite", backbone="av_cascade"), [])
