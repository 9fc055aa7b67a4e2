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

import torch
import torch.nn.functional as F
from torch import nn

from earnet.bundle import save_bundle
from earnet.data.transforms import normalise
from earnet.engine.run import Run
from earnet.exceptions import InputError
from earnet.inference.loader import from_run, load_trained_model
from earnet.io import atomic_write
from earnet.models.segmenter import VesselSegmenter

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
    """Write ``model`` (bundled name, bundle path or run folder) as an ONNX file with dynamic H, W."""
    trained = load_trained_model(model)
    meta = trained.metadata
    graph = ProbabilityGraph(trained.stage1, trained.stage2).eval()
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
    """Bundle a run's stage (stage 1 alone, or stage 1 + a stage 2) for shipping.

    The bundle holds what :func:`~earnet.inference.loader.from_run` loads (weights, the
    stage's threshold, the run's FOV diameter), so it segments exactly as the run does.
    """
    trained = from_run(Run(run_path), stage_name)
    meta = {"backbone": trained.metadata["backbone"], "threshold": trained.threshold,
            "fov_diameter": trained.fov_diameter, "dataset": trained.metadata["dataset"], "stage": stage_name,
            "normalisation": "ImageNet mean/std on RGB in [0, 1]", **(extra or {})}
    if "test_metrics" in trained.metadata:
        meta.setdefault("test_metrics", trained.metadata["test_metrics"])
    save_bundle(out, trained.stage1, trained.stage2, meta)
    return out
