"""Run one training stage with Lightning and export its best model.

Resuming depends only on what is inside the stage folder: the best checkpoint is
found by name and score in ``checkpoints/`` (never by the absolute path Lightning
stores, which points into the original folder after a copy or a move), a finished
stage is not re-entered, the CSV history of earlier runs is kept, and the training
time adds up across resumptions.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
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

ERROR_CROP_FRACTION = 0.5
"""Error-guided crops: the share of stage-2 crops centred on a stage-1 error pixel."""
from earnet.engine.run import STAGE_INFO, WEIGHTS
from earnet.engine.task import SegmentationTask
from earnet.exceptions import EarnetError, InputError
from earnet.io import write_text
from earnet.model_file import model_metadata, save_models
from earnet.models.registry import count_parameters, load_matching
from earnet.models.segmenter import VesselSegmenter

MONITOR = "val/f1_best"

# Lightning's banners (GPU available..., tips) and known-harmless warnings are noise for our users.
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*LeafSpec.*")
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
# On resume these are expected and handled here (history kept, best checkpoint found by score).
warnings.filterwarnings("ignore", message="Experiment logs directory .* exists and is not empty")
warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
warnings.filterwarnings("ignore", message="The dirpath has changed from")


@dataclass
class StageResult:
    """Where a stage's outputs are and how long it took."""

    weights: Path
    best_score: float
    seconds: float
    parameters: int


def _devices(value: str) -> int | str:
    return int(value) if value.isdigit() else value


class TrainClock(L.Callback):
    """Training seconds, carried in the checkpoints so that they add up across resumptions."""

    def __init__(self) -> None:
        self.before = 0.0
        self.started = time.time()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.time()

    @property
    def seconds(self) -> float:
        return self.before + time.time() - self.started

    def state_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.before = float(state_dict.get("seconds", 0.0))


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
    checkpoints = out / "checkpoints"
    clock = TrainClock()
    callbacks: list[L.Callback] = [ModelCheckpoint(dirpath=checkpoints, filename="best", monitor=MONITOR,
                                                   mode="max", save_last=True), clock]
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
    if ckpt_path is not None:
        epoch = _read_checkpoint(last).get("epoch", 0)
        if trainer.is_global_zero:
            print(f"resuming {out.name} from {ckpt_path} (after epoch {epoch + 1} of {epochs})", flush=True)
    if trainer.is_global_zero:
        _set_history_aside(out / "logs")
    trainer.fit(task, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    if trainer.is_global_zero:
        _merge_history(out / "logs")
        _export_best(config, out, stage, task.model.cpu(), checkpoints, clock.seconds)
    # Other ranks (DDP) continue the pipeline too; they must see the exported model first.
    trainer.strategy.barrier("earnet-stage-exported")
    return _finished(out)


def _read_checkpoint(path: Path) -> dict:
    """A Lightning checkpoint, loaded without executing code; a damaged one is a one-line error."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable checkpoint is reported the same way
        raise InputError(path, f"cannot read checkpoint ({str(error).splitlines()[0]}); delete it to "
                               "restart this stage") from None
    if not isinstance(data, dict) or not isinstance(data.get("state_dict"), dict):
        raise InputError(path, "not a Lightning checkpoint (no state_dict); delete it to restart this stage")
    return data


def _checkpoint_score(data: dict) -> float | None:
    """The monitored score of the epoch that wrote ``data`` (ModelCheckpoint's own record)."""
    for key, state in (data.get("callbacks") or {}).items():
        if str(key).startswith("ModelCheckpoint") and isinstance(state, dict):
            score = state.get("current_score", state.get("best_model_score"))
            if score is not None:
                value = float(score)
                return value if math.isfinite(value) else None
    return None


def best_checkpoint(checkpoints: Path) -> tuple[Path, float | None]:
    """The best-scoring ``best*.ckpt`` in ``checkpoints`` (else ``last.ckpt``) and its score.

    Lightning names a new best ``best-v1.ckpt`` when it no longer knows an older
    ``best.ckpt`` (after the folder moved), so every candidate is read and compared.
    """
    scored = []
    for path in sorted(checkpoints.glob("best*.ckpt")):
        scored.append((_checkpoint_score(_read_checkpoint(path)), path))
    known = [(score, path) for score, path in scored if score is not None]
    if known:
        score, path = max(known, key=lambda item: item[0])
        return path, score
    if scored:
        return scored[0][1], None
    last = checkpoints / "last.ckpt"
    if last.is_file():
        return last, None
    raise EarnetError(f"{checkpoints.parent}: training produced no checkpoint")


def _export_best(config: TrainConfig, out: Path, stage: int, model: VesselSegmenter, checkpoints: Path,
                 seconds: float) -> None:
    """Load the best checkpoint's weights into ``model`` and write model.safetensors + stage.json."""
    path, best = best_checkpoint(checkpoints)
    state = _read_checkpoint(path)["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    meta = {"backbone": config.backbone, **model_metadata(model), "stage": stage, "dataset": config.dataset,
            "val_f1_best": best, "train_seconds": seconds}
    save_models(out / WEIGHTS, {"": model}, meta)
    write_text(out / STAGE_INFO, json.dumps({"best_val_f1": best, "train_seconds": seconds,
                                             "parameters": count_parameters(model),
                                             "checkpoint": path.name}, indent=2, allow_nan=False))


def _set_history_aside(logs: Path) -> None:
    """Lightning's CSV logger deletes ``metrics.csv`` when it starts: keep the earlier rows."""
    current = logs / "metrics.csv"
    if current.is_file():
        current.rename(logs / f"metrics.part{len(list(logs.glob('metrics.part*.csv')))}.csv")


def _merge_history(logs: Path) -> None:
    """Earlier runs' rows, then this run's, in one ``metrics.csv``."""
    parts = sorted(logs.glob("metrics.part*.csv"), key=lambda p: int(p.name.split(".part")[1].split(".")[0]))
    if not parts:
        return
    files = parts + ([logs / "metrics.csv"] if (logs / "metrics.csv").is_file() else [])
    rows: list[dict[str, str]] = []
    keys: list[str] = []
    for file in files:
        with open(file, newline="") as handle:
            reader = csv.DictReader(handle)
            keys += [k for k in reader.fieldnames or [] if k not in keys]
            rows += list(reader)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=sorted(keys), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(logs / "metrics.csv", buffer.getvalue())
    for part in parts:
        part.unlink()


def _finished(out: Path) -> StageResult:
    info = json.loads((out / STAGE_INFO).read_text())
    best = info["best_val_f1"]
    return StageResult(out / WEIGHTS, float("nan") if best is None else best, info["train_seconds"],
                       info["parameters"])
