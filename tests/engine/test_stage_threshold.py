"""A stage's threshold is chosen where it is applied: on full-size maps of full-size validation images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from earnet.config import TrainConfig
from earnet.engine.pipeline import _finish_stage
from earnet.engine.run import read_threshold, read_working_threshold
from earnet.inference.predictor import Prediction
from earnet.metrics import best_f1_threshold
from earnet.types import Sample


def _disc(size: int, diameter: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 <= (diameter / 2) ** 2


class StubPredictor:
    """Working-scale maps (``__call__``) that favour one threshold, full-size maps another."""

    def __init__(self, working: np.ndarray, full: np.ndarray) -> None:
        self.working, self.full, self.factors = working, full, []

    def __call__(self, image: np.ndarray) -> Prediction:
        return Prediction(self.working)

    def predict_scaled(self, image: np.ndarray, factor: float, attention: bool = True) -> Prediction:
        self.factors.append(factor)
        return Prediction(self.full)


def _sample(size: int, diameter: int, label: np.ndarray) -> Sample:
    return Sample("a", np.zeros((size, size, 3), np.uint8), label, _disc(size, diameter))


@pytest.fixture
def maps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    label = rng.random((64, 64)) < 0.2
    noise = rng.random((64, 64)) * 0.5
    return label, np.where(label, 0.45 + noise, noise), np.where(label, 0.1 + noise, noise * 0.2)


def test_full_size_threshold_is_chosen_on_full_size_maps(tmp_path: Path, maps) -> None:  # noqa: ANN001
    label, working, full = maps
    predictor = StubPredictor(working, full)
    val_full = [_sample(64, 60, label)]  # FOV 60 px, trained at 30: the rule halves it
    threshold = _finish_stage(TrainConfig(fov_diameter=30), tmp_path, predictor, [_sample(64, 60, label)], val_full)
    fov = val_full[0].fov
    assert threshold == pytest.approx(best_f1_threshold(full[fov], label[fov]))
    assert read_working_threshold(tmp_path) == pytest.approx(best_f1_threshold(working[fov], label[fov]))
    assert read_threshold(tmp_path) == threshold != read_working_threshold(tmp_path)
    assert predictor.factors == [pytest.approx(0.5)]
    assert json.loads((tmp_path / "threshold.json").read_text())["chosen_on"] == "validation split, full size"


def test_runs_at_native_size_keep_one_threshold(tmp_path: Path, maps) -> None:  # noqa: ANN001
    label, working, full = maps
    samples = [_sample(64, 60, label)]
    # within the 5 % tolerance: nothing is resampled, so the working maps are the full-size maps
    threshold = _finish_stage(TrainConfig(fov_diameter=61), tmp_path, StubPredictor(working, full), samples, samples)
    assert threshold == read_working_threshold(tmp_path) == pytest.approx(best_f1_threshold(working[samples[0].fov],
                                                                                             label[samples[0].fov]))
    assert "working_threshold" not in json.loads((tmp_path / "threshold.json").read_text())


def test_old_runs_without_a_working_threshold_use_their_one_threshold(tmp_path: Path) -> None:
    (tmp_path / "threshold.json").write_text(json.dumps({"threshold": 0.6, "chosen_on": "validation split"}))
    assert read_working_threshold(tmp_path) == read_threshold(tmp_path) == 0.6
