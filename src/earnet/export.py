"""Exporting models: run stages → a bundle (for shipping); a bundle → ONNX.

The ONNX graph (:mod:`earnet.onnx_export`) takes an RGB image in [0, 1] of shape
``(N, 3, H, W)``, any H, W >= 32, and returns the vessel probability ``(N, 1, H, W)``
(and stage 2's error attention, and a bundle's artery and vein probabilities); normalisation, padding and both EAR-Net stages are
inside the graph, and its contract is in the file's metadata.
"""

from __future__ import annotations

from pathlib import Path

from earnet.av_bundle import has_av, load_bundle_av
from earnet.bundle import resolve, save_bundle
from earnet.engine.run import Run
from earnet.inference.loader import from_run, load_trained_model
from earnet.onnx_export import OPSET, ProbabilityGraph, write_onnx

__all__ = ["ProbabilityGraph", "bundle_from_run", "export_onnx"]


def export_onnx(model: str | Path, out: str | Path, opset: int = OPSET) -> Path:
    """Write ``model`` (bundled name, bundle path or run folder) as an ONNX file (see :mod:`earnet.onnx_export`).

    A bundle with an artery/vein model (``drive_av``) exports it too: the graph then also
    returns the artery and vein probabilities.
    """
    trained = load_trained_model(model)
    meta = {**trained.metadata, "threshold": trained.threshold, "fov_diameter": trained.fov_diameter}
    av_model = av_meta = None
    if has_av(trained.metadata):
        av_model, av_meta = load_bundle_av(resolve(model))
        meta.pop("av")
    return write_onnx(trained.stage1, trained.stage2, meta, out, opset, av=av_model, av_meta=av_meta)


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
