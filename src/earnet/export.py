"""Exporting models: run stages → a bundle (for shipping); a bundle → ONNX.

The ONNX graph takes an RGB image in [0, 1], shape ``(1, 3, H, W)`` with H and W
multiples of 32 (pad first; :func:`pad_to_multiple`), at the bundle's training
resolution, and returns the vessel probability ``(1, 1, H, W)``; normalisation and
both EAR-Net stages are inside the graph.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from earnet.bundle import load_bundle, save_bundle
from earnet.data.fov import fov_diameter
from earnet.data.transforms import normalise
from earnet.engine.pipeline import stage_models
from earnet.engine.run import Run, dataset_split, train_val_ids
from earnet.exceptions import EarnetError, InputError
from earnet.io import atomic_write
from earnet.models.error_attention import VesselSegmenter

ONNX_MULTIPLE = 32


class ProbabilityGraph(nn.Module):
    """Normalise → stage 1 → (stage 2) → sigmoid, as one module for export."""

    def __init__(self, stage1: VesselSegmenter, stage2: VesselSegmenter | None) -> None:
        super().__init__()
        self.stage1, self.stage2 = stage1, stage2

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = normalise(image)
        probability = torch.sigmoid(self.stage1(x).logits)
        if self.stage2 is not None:
            probability = torch.sigmoid(self.stage2(x, probability if self.stage2.needs_stage1 else None).logits)
        return probability


def pad_to_multiple(image: torch.Tensor, multiple: int = ONNX_MULTIPLE) -> torch.Tensor:
    """Replicate-pad a ``(N, C, H, W)`` tensor on the bottom/right to multiples of ``multiple``."""
    height, width = image.shape[-2:]
    return F.pad(image, (0, (-width) % multiple, 0, (-height) % multiple), mode="replicate")


def export_onnx(model: str | Path, out: str | Path, opset: int = 17) -> Path:
    """Write ``model`` (bundled name or bundle path) as an ONNX file with dynamic H, W."""
    stage1, stage2, meta = load_bundle(model)
    graph = ProbabilityGraph(stage1, stage2).eval()
    example = torch.rand(1, 3, 4 * ONNX_MULTIPLE, 4 * ONNX_MULTIPLE)
    out = Path(out)
    if out.exists() and out.is_dir():
        raise InputError(out, "is a folder; give a file name such as model.onnx")
    buffer = out.parent / f".{out.name}.export"
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (example,), str(buffer), dynamo=False, opset_version=opset,
                          input_names=["image"], output_names=["probability"],
                          dynamic_axes={"image": {2: "height", 3: "width"},
                                        "probability": {2: "height", 3: "width"}})
    with atomic_write(out) as handle:
        handle.write(buffer.read_bytes())
    buffer.unlink()
    (out.parent / f"{out.stem}.json").write_text(json.dumps({**meta, "input": "RGB in [0,1], (1,3,H,W), "
                                                             "H and W multiples of 32"}, indent=2) + "\n")
    return out


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
