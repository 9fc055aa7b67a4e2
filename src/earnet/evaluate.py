"""Evaluating saved predictions of any method against a dataset's reference.

Predictions are matched to images by id (the image file's stem), optionally
followed by ``_prob``: ``01_test.png``, ``01_test_prob.png`` or ``01_test.npy``.
Thresholds follow a policy (:mod:`earnet.thresholds`): the model's own (from the
folder's ``predictions.json``), a number, or ``train-f1``: the value that maximises
pooled F1 on the **training** split's predictions (never on the split being evaluated).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from earnet.data.base import VesselDataset
from earnet.exceptions import EarnetError, InputError
from earnet.io import image_stem, is_image_file, read_probability, write_text
from earnet.manifest import MANIFEST, read_manifest
from earnet.metrics import METRIC_NAMES, MetricAccumulator
from earnet.thresholds import (
    FIXED,
    MODEL,
    TRAIN_F1,
    ThresholdPolicy,
    best_f1_over,
    training_split,
)
from earnet.types import Sample
from earnet.viz import plot_curve

EVALUATION_POLICIES = (MODEL, TRAIN_F1)


@dataclass
class EvaluationResult:
    """Metrics of one method on one split, in the shape of ``metrics.json``."""

    dataset: str
    split: str
    protocol: dict[str, object]
    pooled: dict[str, float]
    mean: dict[str, float]
    std: dict[str, float]
    per_image: dict[str, dict[str, float]]
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, object]:
        """The ``metrics.json`` document (NaN written as ``null``)."""
        return _nan_to_none({"dataset": self.dataset, "split": self.split, "protocol": self.protocol,
                             "pooled": self.pooled, "mean": self.mean, "std": self.std,
                             "per_image": self.per_image})


def index_predictions(folder: Path) -> dict[str, Path]:
    """Map image ids to prediction files in ``folder`` (``<id>``/``<id>_prob``, image or ``.npy``)."""
    if not folder.is_dir():
        raise InputError(folder, "predictions folder not found")
    index: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not (is_image_file(path) or path.suffix.lower() == ".npy"):
            continue
        stem = path.stem if path.suffix.lower() == ".npy" else image_stem(path)
        key = stem.removesuffix("_prob")
        if key in index and index[key] != path:
            raise InputError(path, f"second prediction for {key} (also {index[key].name})")
        index[key] = path
    return index


def folder_predictor(dataset: VesselDataset, folder: Path) -> Callable[[Sample], np.ndarray]:
    """Read each sample's prediction from ``folder``; fail up front if any is missing."""
    index = index_predictions(folder)
    missing = [i for i in dataset.ids if i not in index]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(folder, f"no prediction for {shown} (expected <id>.png, <id>_prob.png or <id>.npy)")

    def predict(sample: Sample) -> np.ndarray:
        path = index[sample.id]
        probability = read_probability(path)
        if probability.shape != sample.label.shape:
            h, w = sample.label.shape
            raise InputError(path, f"prediction is {probability.shape[1]}x{probability.shape[0]} "
                                   f"but image {sample.id} is {w}x{h}")
        return probability

    return predict


def observer2_predictor(dataset: VesselDataset) -> Callable[[Sample], np.ndarray]:
    """Use the second observer's label as the prediction (the human baseline)."""
    if not dataset.has_observer2:
        raise EarnetError(f"{dataset.name} {dataset.split} split has no second observer "
                          "(DRIVE has one for the test images only)")

    def predict(sample: Sample) -> np.ndarray:
        assert sample.observer2 is not None
        return sample.observer2.astype(np.float32)

    return predict


@dataclass
class ResolvedThreshold:
    """A threshold value and where it came from (recorded in ``metrics.json``)."""

    value: float
    source: str


def resolve_threshold(policy: ThresholdPolicy, dataset: VesselDataset, predictions: Path | None,
                      use_fov: bool = True, root: str | Path | None = None) -> ResolvedThreshold:
    """The threshold to evaluate ``predictions`` (a folder, or ``None`` for the observer) with.

    ``model``: the threshold in the folder's ``predictions.json``, else 0.5; ``train-f1``:
    best pooled F1 on the training split's predictions in the same folder (``root``: the
    dataset's, as given to :func:`~earnet.data.registry.get_dataset`).
    """
    if policy.name == FIXED:
        assert policy.value is not None
        return ResolvedThreshold(policy.value, "fixed")
    if policy.name == MODEL:
        manifest = read_manifest(predictions) if predictions is not None else None
        if manifest is None:
            return ResolvedThreshold(0.5, "fixed")
        return ResolvedThreshold(float(manifest["threshold"]), f"the model's, from {predictions / MANIFEST}")
    if policy.name != TRAIN_F1:
        raise EarnetError(f"threshold policy {policy} does not apply to evaluation; use model, train-f1 or a number")
    if predictions is None:
        raise EarnetError("--threshold train-f1 needs probabilities; the second observer is a binary map")
    from earnet.data.registry import get_dataset

    train = get_dataset(dataset.name, root, training_split(dataset.split))
    value = best_f1_over(train, folder_predictor(train, predictions), use_fov)
    return ResolvedThreshold(value, f"train-f1: max pooled F1 on {train.split} predictions")


def evaluate(dataset: VesselDataset, predict: Callable[[Sample], np.ndarray], threshold: float,
             use_fov: bool = True, threshold_source: str = "fixed") -> EvaluationResult:
    """Score ``predict``'s probabilities on every sample of ``dataset``."""
    accumulator = MetricAccumulator(threshold, use_fov=use_fov)
    for sample in dataset:
        accumulator.add(sample.id, predict(sample), sample.label, sample.fov)
    protocol = {"fov": use_fov, "threshold": threshold, "threshold_source": threshold_source,
                "reference": "first observer"}
    return EvaluationResult(dataset.name, dataset.split, protocol, accumulator.pooled(), accumulator.mean(),
                            accumulator.std(), accumulator.per_image(), accumulator.pooled_curves())


def write_report(result: EvaluationResult, out: Path) -> list[Path]:
    """Write ``metrics.json``, ``per_image.csv``, ``roc.png`` and ``pr.png`` into ``out``."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "output path exists and is not a folder")
    title = f"{result.dataset} {result.split} ({'FOV' if result.protocol['fov'] else 'whole image'})"
    paths = [out / "metrics.json", out / "per_image.csv", out / "roc.png", out / "pr.png"]
    write_text(paths[0], json.dumps(result.to_json(), indent=2) + "\n")
    write_text(paths[1], _per_image_csv(result))
    if result.curves.get("roc") is not None and len(result.curves["roc"][0]):
        plot_curve(*result.curves["roc"], paths[2], kind="roc", title=title, area=result.pooled["auc_roc"])
        plot_curve(*result.curves["pr"], paths[3], kind="pr", title=title, area=result.pooled["auc_pr"])
    else:
        paths = paths[:2]
    return paths


def format_table(result: EvaluationResult) -> str:
    """A plain-text table: pooled and mean ± std of every metric."""
    where = "inside FOV" if result.protocol["fov"] else "whole image"
    lines = [f"{result.dataset} / {result.split}: {len(result.per_image)} images, {where}, "
             f"threshold {result.protocol['threshold']:.4g} ({result.protocol['threshold_source']})",
             f"{'metric':<10}{'pooled':>10}{'mean':>10}{'std':>10}"]
    for name in METRIC_NAMES:
        lines.append(f"{name:<10}{result.pooled[name]:>10.4f}{result.mean[name]:>10.4f}{result.std[name]:>10.4f}")
    return "\n".join(lines)


def _per_image_csv(result: EvaluationResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", *METRIC_NAMES])
    for image_id, scores in result.per_image.items():
        writer.writerow([image_id, *(f"{scores[name]:.6f}" for name in METRIC_NAMES)])
    return buffer.getvalue()


def _nan_to_none(value: object) -> object:
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
