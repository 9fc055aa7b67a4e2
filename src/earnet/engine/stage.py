"""Run one training stage with Lightning and export its best model.

The loop itself (checkpoints, resume from the folder's own files, history, clock) is
:mod:`earnet.engine.loop`, shared with the artery/vein trainer; this module adds what
a vessel stage is: its task and data, its export (``model.safetensors`` +
``stage.json``) and that a finished stage is not re-entered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch

from earnet.config import TrainConfig
from earnet.engine.datamodule import ImageTensors, VesselDataModule
from earnet.engine.loop import Fitted, fit_and_export
from earnet.engine.run import STAGE_INFO, WEIGHTS
from earnet.engine.task import SegmentationTask
from earnet.io import write_text
from earnet.model_file import model_metadata, save_models
from earnet.models.registry import count_parameters, load_matching

MONITOR = "val/f1_best"
ERROR_CROP_FRACTION = 0.5
"""Error-guided crops: the share of stage-2 crops centred on a stage-1 error pixel."""


@dataclass
class StageResult:
    """Where a stage's outputs are and how long it took."""

    weights: Path
    best_score: float
    seconds: float
    parameters: int


def train_stage(config: TrainConfig, out: Path, stage: int, train: list[ImageTensors], val: list[ImageTensors],
                epochs: int, init: dict[str, torch.Tensor] | None = None, resume: bool = False,
                progress: bool = True, extra_callbacks: list[L.Callback] | None = None) -> StageResult:
    """Train a stage into ``out`` (checkpoints, logs, ``model.safetensors``).

    Args:
        config: the run's configuration.
        out: the stage's folder.
        stage: 1 or 2 (2 adds the error-attention head with ``config.refinement``).
        train, val: training crops come from ``train``; ``val`` selects the best epoch.
        epochs: number of epochs.
        init: weights to start from (stage 1's, for stage 2).
        resume: continue from ``out/checkpoints/last.ckpt`` if it exists; a finished stage is kept.
        extra_callbacks: more Lightning callbacks (tests, monitoring).
    """
    if resume and (out / WEIGHTS).is_file() and (out / STAGE_INFO).is_file():
        return _finished(out)
    L.seed_everything(config.seed, workers=True, verbose=False)
    task = SegmentationTask(config.to_dict(), stage)
    if init is not None:
        load_matching(task.model, init)
    task.model.to(memory_format=torch.channels_last)
    data = VesselDataModule(train, val, config.crop, config.samples_per_epoch, config.batch_size,
                            config.augment, config.seed, config.num_workers, config.camera_augment,
                            error_crops=ERROR_CROP_FRACTION if stage == 2 and config.error_guidance == "crops" else 0.0)
    fit_and_export(task, data, config, out, epochs=epochs, monitor=MONITOR, resume=resume, progress=progress,
                   patience=config.patience, deterministic=False, extra_callbacks=extra_callbacks,
                   export=lambda fitted: _export(config, out, stage, fitted))
    return _finished(out)


def _export(config: TrainConfig, out: Path, stage: int, fitted: Fitted) -> None:
    """Write the best weights as model.safetensors + stage.json."""
    model, best = fitted.model, fitted.score
    meta = {"backbone": config.backbone, **model_metadata(model), "stage": stage, "dataset": config.dataset,
            "val_f1_best": best, "train_seconds": fitted.seconds}
    save_models(out / WEIGHTS, {"": model}, meta)
    write_text(out / STAGE_INFO, json.dumps({"best_val_f1": best, "train_seconds": fitted.seconds,
                                             "parameters": count_parameters(model),
                                             "checkpoint": fitted.checkpoint.name}, indent=2, allow_nan=False))


def _finished(out: Path) -> StageResult:
    info = json.loads((out / STAGE_INFO).read_text())
    best = info["best_val_f1"]
    return StageResult(out / WEIGHTS, float("nan") if best is None else best, info["train_seconds"],
                       info["parameters"])
