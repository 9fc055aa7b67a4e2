"""Tests for earnet.inference.fusion.fold_batch_norm."""

from __future__ import annotations

import torch
from torch import nn

from earnet.inference.fusion import fold_batch_norm
from earnet.models.registry import create_model


def _trained_like(model: nn.Module) -> nn.Module:
    """Give every batch norm non-trivial statistics and affine parameters."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator))
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.randn(n, generator=generator))
            module.bias.data.copy_(torch.randn(n, generator=generator))
    return model.eval()


def test_folded_model_matches_and_has_no_batch_norm() -> None:
    model = _trained_like(create_model("wnet", refinement="correct"))
    folded = fold_batch_norm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 3, 40, 48)
    stage1 = torch.rand(2, 1, 40, 48)
    with torch.no_grad():
        expected, got = model(x, stage1), folded(x, stage1)
    torch.testing.assert_close(got.logits, expected.logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got.error_attention, expected.error_attention, atol=1e-4, rtol=1e-4)


def test_original_model_is_unchanged() -> None:
    model = _trained_like(create_model("wnet"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fold_batch_norm(model)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
