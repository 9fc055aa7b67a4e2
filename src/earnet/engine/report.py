"""Test-split evaluation of a run's stage, with the pictures people look at."""

from __future__ import annotations

import numpy as np

from earnet.engine.pipeline import inference_device
from earnet.engine.run import Run, dataset_split
from earnet.evaluate import EvaluationResult, evaluate, write_report
from earnet.output_maps import write_maps
from earnet.segment import load_segmenter
from earnet.types import Sample


def evaluate_stage(run: Run, stage_name: str, split: str = "test", dump_images: bool = True,
                   device: str | None = None) -> EvaluationResult:
    """Evaluate a stage on ``split`` into ``RUN/test/<stage>`` (metrics + pictures).

    The images go through the same :class:`~earnet.segment.Segmenter` as ``earnet
    segment`` and ``earnet predict`` (with the dataset's FOV masks), and are scored at
    the dataset's own resolution. ``device``: default, the run's own (its training GPU, if any).
    """
    segmenter = load_segmenter(run.path, device=device or inference_device(run.config()), stage=stage_name)
    dataset = dataset_split(run.config(), split)
    out = run.test(stage_name)

    def predict(sample: Sample) -> np.ndarray:
        result = segmenter.segment(sample.image, fov=sample.fov)
        if dump_images:
            write_maps(out / "images" / sample.id, sample.image, result, label=sample.label)
        return result.probability

    result = evaluate(dataset, predict, segmenter.threshold, True, f"chosen on validation ({stage_name})")
    result.protocol["stage"] = stage_name
    write_report(result, out)
    return result
