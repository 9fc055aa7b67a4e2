"""Test-split evaluation of a run's stage, with the pictures people look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from earnet.data.resolution import scale_factor
from earnet.engine.pipeline import stage_predictor
from earnet.engine.run import Run, dataset_split
from earnet.evaluate import EvaluationResult, evaluate, write_report
from earnet.inference.predictor import Prediction
from earnet.io import probability_to_uint16, write_png
from earnet.types import Sample
from earnet.viz import error_colours, overlay


def write_prediction_images(out: Path, sample_id: str, image: np.ndarray, prediction: Prediction, threshold: float,
                            label: np.ndarray | None = None, fov: np.ndarray | None = None) -> None:
    """``<id>_prob.png`` (16-bit), ``_mask.png``, ``_overlay.png``, and where known
    ``_errors.png`` (TP white, FP red, FN blue) and ``_attention.png``."""
    mask = prediction.probability >= threshold
    write_png(out / f"{sample_id}_prob.png", probability_to_uint16(prediction.probability))
    write_png(out / f"{sample_id}_mask.png", mask)
    write_png(out / f"{sample_id}_overlay.png", overlay(image, mask))
    if label is not None and fov is not None:
        write_png(out / f"{sample_id}_errors.png", error_colours(mask, label, fov))
    if prediction.error_attention is not None:
        write_png(out / f"{sample_id}_attention.png", np.round(prediction.error_attention * 255).astype(np.uint8))


def evaluate_stage(run: Run, stage_name: str, split: str = "test", dump_images: bool = True,
                   device: str = "cpu") -> EvaluationResult:
    """Evaluate a stage on ``split`` into ``RUN/test/<stage>`` (metrics + pictures)."""
    config = run.config()
    predictor, threshold = stage_predictor(run, stage_name, device=device)
    dataset = dataset_split(config, split)
    out = run.path / split / stage_name

    def predict(sample: Sample) -> np.ndarray:
        # predicted at the run's resolution, evaluated at the dataset's own
        factor = scale_factor(sample.fov, config.fov_diameter) if config.fov_diameter else 1.0
        prediction = predictor.predict_scaled(sample.image, factor)
        prediction.probability[~sample.fov] = 0  # as `earnet segment`: nothing is vessel outside the FOV
        if dump_images:
            write_prediction_images(out / "images", sample.id, sample.image, prediction, threshold,
                                    sample.label, sample.fov)
        return prediction.probability

    result = evaluate(dataset, predict, threshold, True, f"chosen on validation ({stage_name})")
    result.protocol["stage"] = stage_name
    write_report(result, out)
    return result
