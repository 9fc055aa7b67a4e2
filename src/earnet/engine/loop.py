"""The Lightning training loop shared by the vessel stages and the artery/vein model.

It owns the trainer's setup, the two checkpoints (``best`` by the monitored score and
``last``), resuming from the folder's own ``last.ckpt``, the CSV history across
resumptions, the training clock, and loading the best checkpoint's weights back into
the model. What is exported from those weights is each trainer's own business
(:mod:`earnet.engine.stage`, :mod:`earnet.engine.av_fit`).

Resuming depends only on what is inside the folder: the best checkpoint is found by
name and score in ``checkpoints/`` (never by the absolute path Lightning stores, which
points into the original folder after a copy or a move), the CSV history of earlier
runs is kept, and the training time adds up across resumptions.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from earnet.config import TrainConfig
from earnet.exceptions import EarnetError, InputError
from earnet.io import write_text

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
class Fitted:
    """What a finished fit hands to the trainer's export (on the main process only)."""

    model: torch.nn.Module
    """The task's model on the CPU, holding the best checkpoint's weights."""
    checkpoint: Path
    score: float | None
    """The monitored score of that checkpoint (``None`` if unknown)."""
    seconds: float
    """Training seconds, summed over every run of this folder."""


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


def fit_and_export(task: L.LightningModule, data: L.LightningDataModule, config: TrainConfig, out: Path, *,
                   epochs: int, monitor: str, export: Callable[[Fitted], None], resume: bool = False,
                   progress: bool = True, patience: int = 0, deterministic: bool | None = None,
                   extra_callbacks: list[L.Callback] | None = None) -> None:
    """Train ``task`` into ``out`` (``checkpoints/``, ``logs/``), then ``export`` its best epoch.

    Args:
        task: the Lightning module; its ``model`` attribute is what gets exported.
        data: the data module.
        config: the run's configuration (devices, precision, validation interval, ...).
        out: the folder.
        epochs: number of epochs.
        monitor: the logged score that picks the best epoch (higher is better).
        export: called on the main process with the best weights; every process
            waits for it before returning (DDP ranks go on to use the export).
        resume: continue from ``out/checkpoints/last.ckpt`` if it exists.
        patience: stop after this many validations without improvement (0: never).
        deterministic: passed to Lightning's ``Trainer``.
        extra_callbacks: more Lightning callbacks (tests, monitoring).
    """
    checkpoints = out / "checkpoints"
    clock = TrainClock()
    # Two checkpoints: the best epoch by ``monitor``, and the latest epoch for resuming. Lightning's
    # own ``save_last`` only rewrites last.ckpt when the best improved, so a resumed run would
    # repeat every epoch since the last improvement (and could end behind the epoch it was at).
    best = ModelCheckpoint(dirpath=checkpoints, filename="best", monitor=monitor, mode="max")
    latest = ModelCheckpoint(dirpath=checkpoints, filename="last", monitor=None, save_top_k=1,
                             save_on_train_epoch_end=True, enable_version_counter=False)
    callbacks: list[L.Callback] = [best, latest, clock]
    callbacks += extra_callbacks or []
    if patience > 0:
        callbacks.append(EarlyStopping(monitor=monitor, mode="max", patience=patience))
    trainer = L.Trainer(
        max_epochs=epochs, accelerator=config.accelerator, devices=_devices(config.devices),
        num_nodes=config.num_nodes, strategy=config.strategy, precision=config.precision,
        accumulate_grad_batches=config.accumulate_grad_batches, check_val_every_n_epoch=config.val_every,
        callbacks=callbacks, logger=[CSVLogger(out, name="logs", version=""),
                                     TensorBoardLogger(out, name="logs", version="")],
        enable_progress_bar=progress, enable_model_summary=False, log_every_n_steps=10,
        num_sanity_val_steps=0, deterministic=deterministic,
    )
    last = checkpoints / "last.ckpt"
    ckpt_path = str(last) if resume and last.exists() else None
    if ckpt_path is not None:
        epoch = read_checkpoint(last).get("epoch", 0)
        if trainer.is_global_zero:
            print(f"resuming {out.name} from {ckpt_path} (after epoch {epoch + 1} of {epochs})", flush=True)
    if trainer.is_global_zero:
        _set_history_aside(out / "logs")
    trainer.fit(task, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    if trainer.is_global_zero:
        _merge_history(out / "logs")
        path, score = best_checkpoint(checkpoints)
        model = task.model.cpu()
        model.load_state_dict({k.removeprefix("model."): v for k, v in read_checkpoint(path)["state_dict"].items()})
        export(Fitted(model, path, score, clock.seconds))
    # Other ranks (DDP) continue the pipeline too; they must see the exported model first.
    trainer.strategy.barrier(f"earnet-exported-{out.name}")


def read_checkpoint(path: Path) -> dict:
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
        scored.append((_checkpoint_score(read_checkpoint(path)), path))
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
