"""Exporting models: run stages → a bundle (for shipping); a bundle → ONNX.

The ONNX graph (:mod:`earnet.onnx_export`) takes an RGB image in [0, 1] of shape
``(N, 3, H, W)``, any H, W >= 32, and returns the vessel probability ``(N, 1, H, W)``
(and stage 2's error attention); normalisation, padding and both EAR-Net stages are
inside the graph, and its contract is in the file's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from earnet.bundle import load_bundle, save_bundle
from earnet.data.fov import fov_diameter
from earnet.engine.pipeline import stage_models
from earnet.engine.run import Run, dataset_split, train_val_ids
from earnet.exceptions import EarnetError
from earnet.onnx_export import OPSET, ProbabilityGraph, write_onnx

__all__ = ["ProbabilityGraph", "bundle_from_run", "export_onnx"]


def export_onnx(model: str | Path, out: str | Path, opset: int = OPSET) -> Path:
    """Write ``model`` (bundled name or bundle path) as an ONNX file (see :mod:`earnet.onnx_export`)."""
    stage1, stage2, meta = load_bundle(model)
    return write_onnx(stage1, stage2, meta, out, opset)


def bundle_from_run(run_path: Path, stage_name: str, out: Path, extra: dict | None = None) -> Path:
    """Bundle a run's stage (stage 1 alone, or stage 1 + a stage 2) for shipping."""
    run = Run(run_path)
    config = run.config()
    stage1, stage2, threshold = stage_models(run, stage_name)
    train_ids, _ = train_val_ids(run, config)
    train = dataset_split(config, "train")
    diameters = [fov_diameter(train[i].fov) for i, sample_id in enumerate(train.ids) if sample_id in set(train_ids)]
    metrics_file = run.test(stage_name) / "metrics.json"
    metrics = json.loads(metrics_file.read_text())["pooled"] if metrics_file.is_file() else {}
    if not diameters:
        raise EarnetError(f"{run_path}: no training images to measure the FOV diameter")
    diameter = config.fov_diameter or float(np.median(diameters))
    meta = {"backbone": config.backbone, "threshold": threshold, "fov_diameter": diameter,
            "dataset": config.dataset, "stage": stage_name, "normalisation": "ImageNet mean/std on RGB in [0, 1]",
            "test_metrics": {k: metrics[k] for k in ("f1", "auc_roc", "acc", "se", "sp", "mcc") if k in metrics},
            **(extra or {})}
    save_bundle(out, stage1, stage2, meta)
    return out
