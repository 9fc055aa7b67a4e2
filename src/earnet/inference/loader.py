"""Loading a :class:`~earnet.types.TrainedModel`: from a bundle or from a run's stage, validated.

Both sources end in the same checks, so a model that loads is one that can segment:
a known backbone, finite weights, a threshold in (0, 1] and a plausible FOV diameter.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from earnet.bundle import read_bundle_metadata, resolve
from earnet.engine.run import Run
from earnet.exceptions import EarnetError, InputError
from earnet.model_file import build_model, load_tensors
from earnet.models.error_attention import REFINEMENTS
from earnet.types import TrainedModel

BUNDLE_TTA_MODES = ("none", "flip")
"""Test-time augmentations a bundle may name as its default (metadata ``tta``; absent: none),
its threshold then chosen with it."""
FOV_DIAMETER_RANGE = (32.0, 20000.0)
"""Plausible FOV diameters (px) of training images."""


def load_trained_model(source: str | Path | TrainedModel, stage: str | None = None) -> TrainedModel:
    """A bundled model's name, a bundle file, or a run folder (``stage``: default its last finished one)."""
    if isinstance(source, TrainedModel):
        return source
    path = Path(source)
    if path.is_dir():
        return from_run(Run(path), stage)
    if stage is not None:
        raise EarnetError(f"--stage applies to a run folder, not to the model {source}")
    return from_bundle(source)


def from_bundle(name_or_path: str | Path) -> TrainedModel:
    """Rebuild a bundle's stage 1 (and stage 2)."""
    path = resolve(name_or_path)
    read_bundle_metadata(path)
    file = load_tensors(path, "model bundle")
    meta = file.metadata
    refinement = meta.get("refinement", "none")
    _check_refinement(path, refinement)
    stage1 = build_model(file, "stage1.", "none")
    stage2 = build_model(file, "stage2.", refinement, meta.get("attention_weight", 0.5)) \
        if refinement != "none" else None
    _default_tta(path, meta.get("tta", "none"))
    return TrainedModel(stage1, stage2, _threshold(path, meta.get("threshold")),
                        _fov_diameter(path, meta.get("fov_diameter")), meta)


def from_run(run: Run, stage: str | None = None) -> TrainedModel:
    """A run's stage: ``stage1`` alone, or stage 1 + a ``stage2-*`` refiner."""
    config = run.config()
    stages = run.trained_stages()
    if not stages:
        raise InputError(run.path, "run has no finished stage")
    stage = stage or stages[-1]
    if stage not in stages:
        raise EarnetError(f"run {run.path} has no finished stage {stage!r}; finished: {', '.join(stages)}")
    stage1_file = load_tensors(run.weights("stage1"))
    stage1 = build_model(stage1_file, "", "none")
    stage2 = None
    meta = {"backbone": config.backbone, "dataset": config.dataset, "stage": stage, "refinement": "none",
            "run": str(run.path)}
    if stage != "stage1":
        file = load_tensors(run.weights(stage))
        refinement = file.metadata.get("refinement", "none")
        _check_refinement(file.path, refinement)
        stage2 = build_model(file, "", refinement, file.metadata.get("attention_weight", 0.5))
        meta.update(refinement=refinement, attention_weight=stage2.attention_weight)
    threshold = _threshold(run.stage(stage) / "threshold.json", run.threshold(stage))
    diameter = _fov_diameter(run.path, run.fov_diameter())
    metrics_file = run.test(stage) / "metrics.json"
    if metrics_file.is_file():
        try:
            pooled = json.loads(metrics_file.read_text())["pooled"]
            meta["test_metrics"] = {k: pooled[k] for k in ("f1", "auc_roc", "acc", "se", "sp", "mcc") if k in pooled}
        except (OSError, ValueError, KeyError, TypeError):
            pass  # an unreadable report is not needed to segment
    return TrainedModel(stage1, stage2, threshold, diameter, {**meta, "threshold": threshold, "fov_diameter": diameter})


def _check_refinement(path: Path, refinement: Any) -> None:
    if refinement not in REFINEMENTS:
        raise InputError(path, f"unknown refinement {refinement!r}; known: {', '.join(REFINEMENTS)}")


def _default_tta(path: Path, value: Any) -> None:
    if value not in BUNDLE_TTA_MODES:
        raise InputError(path, f"default tta {value!r} is not one of {', '.join(BUNDLE_TTA_MODES)}")


def _threshold(path: Path, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise InputError(path, f"threshold {value!r} is not a number in (0, 1]")
    return float(value)


def _fov_diameter(path: Path, value: Any) -> float:
    low, high = FOV_DIAMETER_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise InputError(path, f"fov_diameter {value!r} is not a number of pixels in [{low:g}, {high:g}]")
    return float(value)
