"""A run's validation images, and a segmenter scored on them the way ``earnet segment`` runs it;
shared by the scripts that choose on validation (tta_gain.py, val_compare.py, make_bundle.py,
lodo_rescore.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from earnet.engine.run import Run, dataset_split
from earnet.metrics import MetricAccumulator
from earnet.segment import Segmenter
from earnet.thresholds import best_f1_over, source_dataset
from earnet.types import Sample


def validation_samples(run: Path, prefix: str | None = None) -> list[Sample]:
    """The run's validation images (``split.json``: training images held out, never test), in
    split order; with ``prefix``, only the ids that start with it (e.g. ``chase_db1_``)."""
    val_ids = [i for i in json.loads((run / "split.json").read_text())["val"] if not prefix or i.startswith(prefix)]
    dataset = dataset_split(Run(run).config(), "train")
    return [dataset[dataset.ids.index(i)] for i in val_ids]


def score(segmenter: Segmenter, samples: list[Sample]) -> tuple[dict[str, float], list[float]]:
    """Pooled metrics inside the derived FOV at the segmenter's threshold (plus ``best_f1`` at the
    ``best_threshold`` for these images), and seconds per image."""
    accumulator = MetricAccumulator(segmenter.threshold)
    seconds = []
    for sample in samples:
        start = time.perf_counter()
        result = segmenter.segment(sample.image, attention=False)
        seconds.append(time.perf_counter() - start)
        accumulator.add(sample.id, result.probability, sample.label, result.fov)
    pooled = accumulator.pooled()
    pooled["best_threshold"], pooled["best_f1"] = accumulator.best_threshold()
    return pooled, seconds


def rule_threshold(segmenter: Segmenter, run: Path) -> tuple[float, list[Sample], dict[str, np.ndarray]]:
    """The threshold the training rule (:func:`earnet.thresholds.best_f1_over`; per-dataset mean
    F1 for a multi-dataset run) picks for ``segmenter`` on ``run``'s validation images, full size
    through the segment path; with the samples (FOV derived as ``earnet segment`` does) and their maps."""
    samples = validation_samples(run)
    results = {s.id: segmenter.segment(s.image, attention=False) for s in samples}
    derived = [Sample(s.id, s.image, s.label, results[s.id].fov) for s in samples]
    maps = {s.id: results[s.id].probability for s in samples}
    threshold = best_f1_over(derived, lambda s: maps[s.id], group=source_dataset(Run(run).config().dataset))
    return threshold, derived, maps
