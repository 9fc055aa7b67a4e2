"""``fit``: every EAR-Net stage of a run, in order, then the test evaluation."""

from __future__ import annotations

from pathlib import Path

from earnet.config import TrainConfig
from earnet.engine.pipeline import run_errors, run_stage1, run_stage2
from earnet.engine.report import evaluate_stage
from earnet.engine.run import open_run
from earnet.evaluate import EvaluationResult


def fit(config: TrainConfig, out: Path, resume: bool = False, progress: bool = True) -> dict[str, EvaluationResult]:
    """Stage 1 → error maps → stage 2 (``config.refinement``) → test metrics of both stages."""
    run = open_run(out, config, resume)
    run_stage1(run, resume=resume, progress=progress)
    run_errors(run, resume=resume, progress=progress)
    stage2 = run_stage2(run, resume=resume, progress=progress)
    results = {}
    for stage_name in ("stage1", stage2.weights.parent.name):
        results[stage_name] = evaluate_stage(run, stage_name)
    return results
