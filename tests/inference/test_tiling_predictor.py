"""Sliding-window tiling and the predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from earnet.inference.predictor import Predictor
from earnet.inference.tiling import gaussian_weight, sliding_window, tile_starts
from earnet.models.registry import create_model


@pytest.mark.parametrize("length,tile,overlap", [(100, 32, 0.25), (64, 64, 0.5), (1000, 256, 0.5), (33, 32, 0.1)])
def test_tiles_cover_the_axis_and_end_at_its_end(length: int, tile: int, overlap: float) -> None:
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + tile == max(length, tile)
    covered = np.zeros(length, bool)
    for s in starts:
        covered[s:s + tile] = True
    assert covered.all()
    assert all(b - a <= tile * (1 - overlap) + 1 for a, b in zip(starts, starts[1:]))


def test_gaussian_weight_peaks_in_the_centre() -> None:
    w = gaussian_weight(33, 17)
    assert w.shape == (33, 17) and w.min() >= 1e-3
    assert w[16, 8] == w.max()


def test_tiled_local_operation_equals_whole_image() -> None:
    image = torch.rand(1, 2, 90, 70)

    def blur(x: torch.Tensor) -> torch.Tensor:  # a local op: tiles agree away from tile borders
        return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)[:, :1]

    whole = blur(image)
    tiled = sliding_window(blur, image, tile=40, overlap=0.5)
    inner = (..., slice(2, -2), slice(2, -2))
    assert torch.allclose(tiled[inner], whole[inner], atol=0.05)
    identity = sliding_window(lambda x: x[:, :1], image, tile=32, overlap=0.25)
    torch.testing.assert_close(identity, image[:, :1])


def test_predictor_probabilities_and_tiles() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (70, 90, 3), dtype=np.uint8)
    whole = Predictor(create_model("wnet"), bf16=False)(image)
    assert whole.probability.shape == (70, 90) and whole.probability.dtype == np.float32
    assert 0 <= whole.probability.min() and whole.probability.max() <= 1
    assert whole.error_attention is None
    tiled = Predictor(create_model("wnet"), bf16=False, tile=48)
    torch.manual_seed(0)
    flipped = Predictor(create_model("wnet"), bf16=False, tta="flip")(image)
    assert flipped.probability.shape == (70, 90)
    assert tiled(image).probability.shape == (70, 90)


def test_two_stage_predictor_returns_attention() -> None:
    torch.manual_seed(0)
    image = np.random.default_rng(1).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    for mode in ("paper", "correct"):
        prediction = Predictor(create_model("wnet"), create_model("wnet", refinement=mode), bf16=False)(image)
        assert prediction.error_attention is not None and prediction.error_attention.shape == (40, 50)
        assert prediction.stage1_probability is not None
