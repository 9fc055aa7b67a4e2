"""``av_cascade``: the A/V W-Net that sees the vessel probability and works at half resolution inside."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from earnet.data.synthetic_fundus import generate_fundus
from earnet.inference.av import AVPredictor
from earnet.models.av import create_av_model


def test_cascade_needs_the_vessel_map_and_uses_it() -> None:
    torch.manual_seed(0)
    model = create_av_model("av_cascade").eval()
    assert model.vessel_input and model.stride == 2 and model.multiple == 32
    image = torch.randn(1, 3, 45, 70)
    with pytest.raises(ValueError, match="vessel probability"):
        model(image)
    with torch.no_grad():
        none, some = model(image, torch.zeros(1, 1, 45, 70)), model(image, torch.rand(1, 1, 45, 70))
    assert none.logits.shape == (1, 3, 45, 70) and none.aux_logits == []
    assert model.train()(image.repeat(2, 1, 1, 1), torch.rand(2, 1, 45, 70)).aux_logits[0].shape == (2, 3, 45, 70)
    assert not torch.allclose(none.logits, some.logits)


def test_half_resolution_inside_is_pooling_in_and_bilinear_out() -> None:
    torch.manual_seed(0)
    model = create_av_model("av_cascade").eval()
    image, vessel = torch.randn(1, 3, 64, 96), torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        got = model(image, vessel).logits
        x = torch.nn.functional.avg_pool2d(torch.cat([image, vessel], 1), 2)
        first, _ = model.first(x)
        inner, _ = model.second(torch.cat([x, torch.sigmoid(first)], 1))
    expected = torch.nn.functional.interpolate(inner, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(got, expected)


def test_predictor_feeds_the_vessel_map_at_the_working_scale() -> None:
    torch.manual_seed(0)
    predictor = AVPredictor(create_av_model("av_cascade").eval(), bf16=False)
    fundus = generate_fundus(0, 96)
    vessel = fundus.label.astype(np.float32)
    with pytest.raises(ValueError, match="vessel probability"):
        predictor.predict_scaled(fundus.image, 0.7)
    maps = predictor.predict_scaled(fundus.image, 0.7, vessel)
    assert maps.artery.shape == (96, 96) and 0 <= maps.artery.min() <= maps.artery.max() <= 1
    other = predictor.predict_scaled(fundus.image, 0.7, np.zeros_like(vessel))
    assert not np.allclose(maps.artery, other.artery)


def test_working_probability_is_the_networks_map_before_the_fov_cut() -> None:
    from earnet.segment import load_segmenter

    fundus = generate_fundus(1, 600)
    rows, cols = np.mgrid[:600, :600]
    fov = (rows - 300) ** 2 + (cols - 300) ** 2 <= 270 ** 2  # 540 px wide: the working scale is 1
    result = load_segmenter("general").segment(fundus.image, fov, keep_working=True)
    assert result.scale == 1.0 and result.working_probability is not None
    assert not result.probability[~fov].any()
    assert result.working_probability[~fov].any(), "the working map must not share the FOV-cut memory"
    np.testing.assert_array_equal(result.working_probability[fov], result.probability[fov])


def test_wide_cascade_is_the_cascade_at_twice_the_widths() -> None:
    from earnet.models.registry import count_parameters

    wide, base = create_av_model("av_cascade_wide"), create_av_model("av_cascade")
    assert wide.vessel_input and wide.stride == base.stride and wide.multiple == base.multiple
    assert wide.widths == tuple(2 * w for w in base.widths)
    # small enough that its weights come back from the device tool (16 MiB a file)
    assert 3.5 * count_parameters(base) < count_parameters(wide) < 16 * 2**20 / 4
    with torch.no_grad():
        out = wide.eval()(torch.randn(1, 3, 40, 50), torch.rand(1, 1, 40, 50))
    assert out.logits.shape == (1, 3, 40, 50)


def test_flip_tta_averages_the_av_maps_over_the_flips() -> None:
    """With flips the maps of a mirrored photograph (and vessel map) are the mirrored maps."""
    torch.manual_seed(1)
    model = create_av_model("av_cascade").eval()
    plain, flipped = AVPredictor(model, bf16=False), AVPredictor(model, bf16=False, tta="flip")
    fundus = generate_fundus(2, 96)
    vessel = fundus.label.astype(np.float32)
    maps = flipped.predict_scaled(fundus.image, 1.0, vessel)
    mirrored = flipped.predict_scaled(np.ascontiguousarray(fundus.image[:, ::-1]), 1.0,
                                      np.ascontiguousarray(vessel[:, ::-1]))
    np.testing.assert_allclose(mirrored.artery[:, ::-1], maps.artery, atol=1e-5)
    np.testing.assert_allclose(mirrored.vein[:, ::-1], maps.vein, atol=1e-5)
    assert np.abs(plain.predict_scaled(fundus.image, 1.0, vessel).artery - maps.artery).max() > 1e-4
    with pytest.raises(ValueError, match="TTA"):
        AVPredictor(model, tta="ms")


def test_av_segmenter_runs_the_av_model_with_the_vessel_models_flips() -> None:
    from earnet.av import ArteryVeinSegmenter

    assert ArteryVeinSegmenter("drive_av").predictor.tta == "none"  # drive_av's default: no TTA
    assert ArteryVeinSegmenter("drive_av", tta="flip").predictor.tta == "flip"
    assert ArteryVeinSegmenter("drive_av", tta="ms").predictor.tta == "none"  # scales stay with the vessels
