"""Models: the shared tester for W-Net, the error-attention refinements, the registry."""

from __future__ import annotations

import pytest
import torch

from earnet.exceptions import EarnetError
from earnet.models.registry import (
    count_parameters,
    create_model,
    list_models,
    load_matching,
)
from earnet.models.segmenter import VesselSegmenter
from earnet.models.wnet import WNet


def check_backbone(model: torch.nn.Module, in_channels: int = 3) -> None:
    """Shape contract of every backbone on 64x64 and odd sizes."""
    model.eval()
    for height, width in ((64, 64), (45, 71)):
        out = model(torch.randn(2, in_channels, height, width))
        assert out.logits.shape == (2, 1, height, width)
        assert out.features.shape[:2] == (2, model.feature_channels)
        assert len(out.aux_logits) == len(out.aux_weights)
        for aux in out.aux_logits:
            assert aux.shape == (2, 1, height, width)


@pytest.mark.parametrize("in_channels", [3, 4])
def test_wnet_contract(in_channels: int) -> None:
    check_backbone(WNet(in_channels=in_channels), in_channels)


def test_default_wnet_is_small_enough_for_a_cpu() -> None:
    assert count_parameters(create_model("wnet")) <= 150_000


def test_deep_wnet_adds_capacity_below_full_resolution_only() -> None:
    deep, wide, default = create_model("wnet_deep"), create_model("wnet_wide"), create_model("wnet")
    check_backbone(deep.backbone)
    assert count_parameters(deep) > 3.5 * count_parameters(default)
    assert abs(count_parameters(deep) - count_parameters(wide)) < 0.1 * count_parameters(wide)
    # its full-resolution convolutions (the costly ones) are the W-Net's: 8 channels
    assert deep.backbone.feature_channels == default.backbone.feature_channels == 8
    assert deep.backbone.multiple == 8 and "wnet_deep" in list_models()


def test_mid_wnet_sits_between_the_default_and_the_wide_one() -> None:
    mid = create_model("wnet_mid")
    check_backbone(mid.backbone)
    assert count_parameters(create_model("wnet")) < count_parameters(mid) < count_parameters(create_model("wnet_wide"))
    assert mid.backbone.feature_channels == 12 and mid.backbone.multiple == 4 and "wnet_mid" in list_models()


def test_wide_first_wnet_has_the_wide_first_unet_and_the_default_second() -> None:
    model = create_model("wnet_wide_first")
    check_backbone(model.backbone)
    wide, default = create_model("wnet_wide").backbone, create_model("wnet").backbone
    assert {k: v.shape for k, v in model.backbone.first.state_dict().items()} == \
        {k: v.shape for k, v in wide.first.state_dict().items()}
    assert {k: v.shape for k, v in model.backbone.second.state_dict().items()} == \
        {k: v.shape for k, v in default.second.state_dict().items()}
    assert model.backbone.feature_channels == 8 and "wnet_wide_first" in list_models()
    # a refinement stage (EAR-Net stage 2) builds on it too
    check_backbone(create_model("wnet_wide_first", refinement="correct").backbone, in_channels=4)


def test_wnet_refuses_u_nets_of_different_depths() -> None:
    from earnet.models.wnet import WNet

    with pytest.raises(ValueError, match="levels"):
        WNet(widths=(16, 32, 64), second_widths=(8, 16))


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(EarnetError, match="wnet"):
        create_model("resnet9000")
    assert "hrnet_ocr_mscale" in list_models() and "unet_densenet161" in list_models()


def _attention_model(refinement: str) -> VesselSegmenter:
    torch.manual_seed(0)
    return create_model("wnet", refinement=refinement).eval()


def test_paper_refinement_never_flips_a_logit_sign() -> None:
    model = _attention_model("paper")
    image = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        out = model(image)
        base = model.backbone(image).logits
    assert out.error_attention is not None and out.error_attention.shape == (1, 1, 32, 32)
    assert ((out.error_attention >= 0) & (out.error_attention <= 1)).all()
    assert torch.equal(torch.sign(out.logits), torch.sign(base))
    factor = 1 - 0.5 + 0.5 * out.error_attention
    torch.testing.assert_close(out.logits, base * factor)


def test_correct_refinement_gates_between_stage1_and_new_prediction() -> None:
    model = _attention_model("correct")
    image, stage1 = torch.randn(1, 3, 32, 32), torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        out = model(image, stage1)
        z = model.backbone(torch.cat([image, stage1], 1)).logits
    e = out.error_attention
    expected = (1 - e) * torch.logit(stage1, eps=1e-6).clamp(-8, 8) + e * z
    torch.testing.assert_close(out.logits, expected)
    with pytest.raises(ValueError, match="stage-1"):
        model(image)


def test_correct_refinement_can_flip_a_confident_stage1_pixel() -> None:
    model = _attention_model("correct")
    with torch.no_grad():
        model.error_head.layers[-1].bias.fill_(20.0)  # attention ~ 1: an error is expected everywhere
        model.backbone.second.head.bias.fill_(-20.0)  # the new prediction says background
        stage1 = torch.full((1, 1, 16, 16), 0.999)  # stage 1 was sure: vessel
        out = model(torch.randn(1, 3, 16, 16), stage1)
    assert out.error_attention.min() > 0.99
    assert (out.logits < 0).all()


def test_load_matching_grows_input_channels_with_zeros() -> None:
    stage1 = create_model("wnet")
    stage2 = create_model("wnet", refinement="correct")
    fresh = load_matching(stage2, stage1.state_dict())
    assert all(name.startswith("error_head") for name in fresh)
    old = stage1.state_dict()["backbone.first.down.0.0.0.weight"]
    new = stage2.state_dict()["backbone.first.down.0.0.0.weight"]
    assert new.shape[1] == old.shape[1] + 1
    torch.testing.assert_close(new[:, :3], old)
    assert new[:, 3:].abs().sum() == 0


def test_large_wnet_has_four_levels_and_about_two_million_parameters() -> None:
    large = create_model("wnet_large")
    check_backbone(large.backbone)
    assert 2_000_000 < count_parameters(large) < 2_400_000
    assert large.backbone.multiple == 8 and large.backbone.feature_channels == 24
    assert "wnet_large" in list_models()
