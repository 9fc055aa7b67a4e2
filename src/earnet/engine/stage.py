"""Run one training stage with Lightning and export its best model."""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from earnet.config import TrainConfig
from earnet.engine.datamodule import ImageTensors, VesselDataModule
from earnet.engine.task import SegmentationTask
from earnet.engine.weights import load_lightning_state, save_weights
from earnet.exceptions import EarnetError
from earnet.io import write_text
from earnet.models.error_attention import VesselSegmenter
from earnet.models.registry import count_parameters, load_matching

MONITOR = "val/f1_best"

# Lightning's banners (GPU available..., tips) and known-harmless warnings are noise for our users.
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*LeafSpec.*")
warnings.filterwarnings("ignore", message=".*does not have many workers.*")


@dataclass
class StageResult:
    """Where a stage's outputs are and how long it took."""

    weights: Path
    best_score: float
    seconds: float
    parameters: int


def _devices(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def train_stage(config: TrainConfig, out: Path, stage: int, train: list[ImageTensors], val: list[ImageTensors],
                epochs: int, init: dict[str, torch.Tensor] | None = None, resume: bool = False,
                progress: bool = True, metadata: dict | None = None,
                extra_callbacks: list[L.Callback] | None = None) -> StageResult:
    """Train a stage into ``out`` (checkpoints, logs, ``model.safetensors``).

    Args:
        config: the run's configuration.
        out: the stage's folder.
        stage: 1 or 2 (2 adds the error-attention head with ``config.refinement``).
        train, val: training crops come from ``train``; ``val`` selects the best epoch.
        epochs: number of epochs.
        init: weights to start from (stage 1's, for stage 2).
        resume: continue from ``out/checkpoints/last.ckpt`` if it exists.
        metadata: extra metadata stored in the weights file.
        extra_callbacks: more Lightning callbacks (tests, monitoring).
    """
    L.seed_everything(config.seed, workers=True, verbose=False)
    task = SegmentationTask(config.to_dict(), stage)
    if init is not None:
        load_matching(task.model, init)
    task.model.to(memory_format=torch.channels_last)
    data = VesselDataModule(train, val, config.crop, config.samples_per_epoch, config.batch_size,
                            config.augment, config.seed, config.num_workers, config.camera_augment)
    checkpoints = out / "checkpoints"
    callbacks: list[L.Callback] = [ModelCheckpoint(dirpath=checkpoints, filename="best", monitor=MONITOR,
                                                   mode="max", save_last=True)]
    callbacks += extra_callbacks or []
    if config.patience > 0:
        callbacks.append(EarlyStopping(monitor=MONITOR, mode="max", patience=config.patience))
    trainer = L.Trainer(
        max_epochs=epochs, accelerator=config.accelerator, devices=_devices(config.devices),
        num_nodes=config.num_nodes, strategy=config.strategy, precision=config.precision,
        accumulate_grad_batches=config.accumulate_grad_batches, check_val_every_n_epoch=config.val_every,
        callbacks=callbacks, logger=[CSVLogger(out, name="logs", version=""),
                                     TensorBoardLogger(out, name="logs", version="")],
        enable_progress_bar=progress, enable_model_summary=False, log_every_n_steps=10,
        num_sanity_val_steps=0, deterministic=False,
    )
    last = checkpoints / "last.ckpt"
    ckpt_path = str(last) if resume and last.exists() else None
    if resume and ckpt_path is None and (out / "model.safetensors").exists():
        return _finished(out)
    if ckpt_path is not None and trainer.is_global_zero:
        epoch = torch.load(ckpt_path, map_location="cpu", weights_only=True).get("epoch", 0)
        print(f"resuming {out.name} from {ckpt_path} (after epoch {epoch + 1} of {epochs})", flush=True)
    start = time.time()
    trainer.fit(task, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    seconds = time.time() - start
    if trainer.is_global_zero:
        _export_best(config, out, stage, task.model.cpu(), callbacks[0], last, seconds, metadata)
    # Other ranks (DDP) continue the pipeline too; they must see the exported model first.
    trainer.strategy.barrier("earnet-stage-exported")
    return _finished(out)


def _export_best(config: TrainConfig, out: Path, stage: int, model: VesselSegmenter, checkpoint: ModelCheckpoint,
                 last: Path, seconds: float, metadata: dict | None) -> None:
    """Load the best checkpoint's weights into ``model`` and write model.safetensors + stage.json."""
    best_path = checkpoint.best_model_path or str(last)
    if not Path(best_path).exists():
        raise EarnetError(f"{out}: training produced no checkpoint")
    model.load_state_dict(load_lightning_state(best_path))
    score = checkpoint.best_model_score
    best = float(score) if score is not None else float("nan")
    meta = {"backbone": config.backbone, "stage": stage, "dataset": config.dataset, "val_f1_best": best,
            "train_seconds": seconds, **(metadata or {})}
    save_weights(model, out / "model.safetensors", meta)
    write_text(out / "stage.json", json.dumps({"best_val_f1": best, "train_seconds": seconds,
                                               "parameters": count_parameters(model)}, indent=2))


def _finished(out: Path) -> StageResult:
    info = json.loads((out / "stage.json").read_text())
    return StageResult(out / "model.safetensors", info["best_val_f1"], info["train_seconds"], info["parameters"])
