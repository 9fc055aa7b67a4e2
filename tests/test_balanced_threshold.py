"""Thresholds chosen on validation images from several datasets: each dataset counts once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from earnet.config import TrainConfig
from earnet.engine.pipeline import _finish_stage
from earnet.inference.predictor import Prediction
from earnet.metrics import best_f1_threshold, best_mean_f1_threshold
from earnet.thresholds import best_f1_over, source_dataset
from earnet.types import Sample


def _f1(scores: np.ndarray, labels: np.ndarray, t: float) -> float:
    predicted = scores >= t
    return 2 * (predicted & labels).sum() / (predicted.sum() + labels.sum())


def _group(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.random(n) < 0.2
    scores = np.clip(rng.normal(0.3 + 0.35 * labels + shift, 0.15), 0, 1).astype(np.float32)
    return scores, labels


def test_mean_f1_threshold_is_the_brute_force_optimum() -> None:
    rng = np.random.default_rng(3)
    groups = [_group(rng, 3000, 0.0), _group(rng, 400, 0.2)]  # a big camera and a small, brighter one
    chosen = best_mean_f1_threshold(groups)
    candidates = np.unique(np.concatenate([s[l] for s, l in groups]))
    mean = np.array([np.mean([_f1(s, l, t) for s, l in groups]) for t in candidates])
    assert chosen == pytest.approx(candidates[np.flatnonzero(mean == mean.max())[-1]])
    pooled = best_f1_threshold(np.concatenate([s for s, _ in groups]), np.concatenate([l for _, l in groups]))
    assert chosen > pooled  # pooled, the big group pulls the threshold its way


def test_one_group_is_the_pooled_rule() -> None:
    scores, labels = _group(np.random.default_rng(4), 500, 0.0)
    assert best_mean_f1_threshold([(scores, labels)]) == best_f1_threshold(scores, labels)


def test_source_dataset_reads_the_id_prefix_of_combined_datasets_only() -> None:
    assert source_dataset("drive") is None
    source = source_dataset("drive+chase_db1+stare")
    assert source is not None
    sample = Sample("chase_db1_Image_05L", np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), bool), np.ones((2, 2), bool))
    assert source(sample) == "chase_db1"


class _Stub:
    def __init__(self, maps: dict[str, np.ndarray]) -> None:
        self.maps = maps

    def __call__(self, image: np.ndarray) -> Prediction:
        return Prediction(self.maps[str(int(image[0, 0, 0]))])


def test_a_multi_dataset_run_records_the_balanced_choice(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    samples, maps = [], {}
    for i, (name, size, shift) in enumerate([("drive", 120, 0.0), ("stare", 40, 0.2)]):
        labels = rng.random((size, size)) < 0.2
        maps[str(i)] = np.clip(rng.normal(0.3 + 0.35 * labels + shift, 0.15), 0, 1).astype(np.float32)
        samples.append(Sample(f"{name}_{i}", np.full((size, size, 3), i, np.uint8), labels, np.ones((size, size), bool)))
    threshold = _finish_stage(TrainConfig(dataset="drive+stare"), tmp_path, _Stub(maps), samples)
    by_source = best_f1_over(samples, lambda s: maps[str(int(s.image[0, 0, 0]))], group=source_dataset("drive+stare"))
    pooled = best_f1_over(samples, lambda s: maps[str(int(s.image[0, 0, 0]))])
    assert threshold == pytest.approx(by_source) and by_source != pooled
    assert json.loads((tmp_path / "threshold.json").read_text())["chosen_on"] == \
        "validation split, mean of per-dataset F1"
