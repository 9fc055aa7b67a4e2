"""A run folder: its configuration, data split, and where each stage's outputs go.

Layout::

    RUN/config.yaml            resolved configuration (checked on --resume)
    RUN/revision.txt           git revision of the code that made the run
    RUN/split.json             training / validation ids (validation carved from train)
    RUN/resolution.json        FOV diameter (px) of the training images: what inputs are rescaled to
    RUN/stage1/                checkpoints/, logs/ (CSV, TensorBoard), model.safetensors, stage.json,
                               threshold.json (the stage's one threshold)
    RUN/errors-oof/            out-of-fold error maps (folds/ holds the k fold models)
    RUN/errors-in_sample/      error maps of the stage-1 model on its own training images (paper)
    RUN/stage2-<mode>[-in_sample][-guided_<kind>]/   the error-attention refiner
    RUN/test/<stage>/          metrics.json, per_image.csv, roc.png, pr.png, images/

Only :class:`Run` spells these names; everything else asks it. The module needs no
Lightning, so ``earnet predict`` and ``earnet export`` start without it.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from earnet.config import TrainConfig, load_config, save_config
from earnet.data.base import VesselDataset
from earnet.data.registry import get_dataset
from earnet.exceptions import EarnetError, InputError
from earnet.io import write_text

WEIGHTS = "model.safetensors"
THRESHOLD = "threshold.json"
STAGE_INFO = "stage.json"

# Fields that may change between a run and its resumption: where and how it runs.
RESUMABLE_CHANGES = {"devices", "num_nodes", "strategy", "accelerator", "num_workers"}


def stage2_name(refinement: str, in_sample: bool, guidance: str = "none") -> str:
    """A stage-2 refiner's folder: ``stage2-<mode>[-in_sample][-guided_<crops|loss>]``."""
    return (f"stage2-{refinement}{'-in_sample' if in_sample else ''}"
            f"{'' if guidance == 'none' else '-guided_' + guidance}")


@dataclass
class Run:
    """Paths of a run folder."""

    path: Path

    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    @property
    def stage1(self) -> Path:
        return self.path / "stage1"

    def errors(self, in_sample: bool) -> Path:
        """Folder of the error maps (out-of-fold or in-sample)."""
        return self.path / ("errors-in_sample" if in_sample else "errors-oof")

    def stage2(self, refinement: str, in_sample: bool, guidance: str = "none") -> Path:
        """Folder of a stage-2 refiner."""
        return self.path / stage2_name(refinement, in_sample, guidance)

    def test(self, stage_name: str) -> Path:
        """Folder of a stage's test-split evaluation."""
        return self.path / "test" / stage_name

    def stage(self, stage_name: str) -> Path:
        """Folder of a stage (``stage1``, ``stage2-correct``, ...)."""
        if not (stage_name == "stage1" or stage_name.startswith("stage2-")) or "/" in stage_name:
            raise EarnetError(f"{stage_name!r} is not a stage name (stage1 or stage2-...)")
        return self.path / stage_name

    def weights(self, stage_name: str) -> Path:
        """A stage's exported model (``model.safetensors``)."""
        return self.stage(stage_name) / WEIGHTS

    def threshold(self, stage_name: str) -> Any:
        """The threshold chosen for a stage (stored only in its ``threshold.json``)."""
        return read_threshold(self.stage(stage_name))

    def working_threshold(self, stage_name: str) -> Any:
        """The stage's threshold for maps at the run's working scale (see :func:`read_working_threshold`)."""
        return read_working_threshold(self.stage(stage_name))

    def fold(self, fold: int) -> Path:
        """Folder of fold model ``fold`` (trained on the other folds; predicts this one's error maps)."""
        return self.errors(False) / "folds" / f"fold{fold}"

    def stage_info(self, stage_name: str) -> dict[str, Any]:
        """A stage's ``stage.json`` (best validation F1, training seconds, parameters)."""
        path = self.stage(stage_name) / STAGE_INFO
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise InputError(path, f"unreadable stage record ({error})") from None

    def trained_stages(self) -> list[str]:
        """Names of the finished stages (weights and threshold written)."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir()
                      if p.is_dir() and (p.name == "stage1" or p.name.startswith("stage2-"))
                      and (p / THRESHOLD).is_file() and (p / WEIGHTS).is_file())

    def fov_diameter(self) -> float:
        """FOV diameter (px) the run's models work at: the configured one, else the median of its
        training images' (recorded in ``resolution.json`` by stage 1; measured if absent)."""
        config = self.config()
        if config.fov_diameter:
            return float(config.fov_diameter)
        path = self.path / "resolution.json"
        if path.is_file():
            try:
                return float(json.loads(path.read_text())["fov_diameter"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise InputError(path, f"unreadable ({error})") from None
        return measure_fov_diameter(self, config)

    def record_fov_diameter(self) -> float:
        """Measure and record the training FOV diameter (stage 1 calls this)."""
        diameter = self.fov_diameter()
        write_text(self.path / "resolution.json", json.dumps({"fov_diameter": diameter}) + "\n")
        return diameter

    def config(self) -> TrainConfig:
        """The run's saved configuration."""
        if not self.config_file.is_file():
            raise InputError(self.path, "not an earnet run folder (no config.yaml)")
        return load_config(self.config_file)


def open_run(path: Path, config: TrainConfig, resume: bool) -> Run:
    """Create ``path`` as a run for ``config``, or reopen it with ``resume``.

    Raises if ``path`` already holds a run and ``resume`` is not set, or if the
    configuration differs from the saved one in fields that change the results.
    """
    run = Run(path)
    if path.exists() and not path.is_dir():
        raise InputError(path, "exists and is not a folder")
    if run.config_file.exists():
        if not resume:
            raise InputError(path, "already holds a run; pass --resume to continue it, or choose another --out")
        saved = _comparable(run.config().to_dict())
        wanted = _comparable(config.to_dict())
        changed = [k for k, v in wanted.items() if saved.get(k) != v and k not in RESUMABLE_CHANGES]
        if changed:
            details = ", ".join(f"{k}: {saved.get(k)!r} -> {wanted[k]!r}" for k in changed)
            raise InputError(run.config_file, f"--resume with a different configuration ({details})")
    path.mkdir(parents=True, exist_ok=True)
    save_config(config, run.config_file)
    write_text(path / "revision.txt", git_revision() + "\n")
    return run


def _comparable(values: dict) -> dict:
    # runs made before the policies had names saved threshold 'auto', which meant 'validation'
    return {**values, "threshold": "validation" if values.get("threshold") == "auto" else values.get("threshold")}


def git_revision() -> str:
    """The git revision of the earnet source tree (``unknown`` outside a checkout)."""
    try:
        result = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], capture_output=True,
                                text=True, timeout=5, cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


def dataset_split(config: TrainConfig, split: str) -> VesselDataset:
    """A split of the run's dataset."""
    return get_dataset(config.dataset, config.root, split)


def _threshold_record(folder: Path) -> dict[str, Any]:
    """``folder/threshold.json`` read once and checked to hold a threshold."""
    path = folder / THRESHOLD
    if not path.is_file():
        raise InputError(folder, "stage has no threshold.json (did it finish?)")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(path, f"unreadable threshold ({error})") from None
    if not isinstance(record, dict) or "threshold" not in record:
        raise InputError(path, "unreadable threshold (no 'threshold' entry)")
    return record


def read_threshold(folder: Path) -> Any:
    """The threshold in ``folder/threshold.json`` (a stage's or a fold model's), as stored.

    :func:`earnet.inference.loader.load_trained_model` validates it for inference.
    """
    return _threshold_record(folder)["threshold"]


def write_threshold(folder: Path, threshold: float, chosen_on: str, working: float | None = None) -> None:
    """Record the threshold of the model in ``folder`` and how it was chosen (``working``: the
    one for maps at the run's working scale, where it differs)."""
    record: dict[str, Any] = {"threshold": threshold, "chosen_on": chosen_on}
    if working is not None:
        record["working_threshold"] = working
    write_text(folder / THRESHOLD, json.dumps(record) + "\n")


def read_working_threshold(folder: Path) -> Any:
    """The threshold for maps at the run's working scale (error maps of its rescaled training
    images); runs from before it was recorded separately have only the one threshold."""
    record = _threshold_record(folder)
    return record.get("working_threshold", record["threshold"])


def measure_fov_diameter(run: Run, config: TrainConfig) -> float:
    """Median FOV diameter of the run's training images (the dataset's FOV masks)."""
    from earnet.data.fov import fov_diameter

    train_ids, _ = train_val_ids(run, config)
    wanted = set(train_ids)
    train = dataset_split(config, "train")
    diameters = [fov_diameter(train[i].fov) for i, sample_id in enumerate(train.ids) if sample_id in wanted]
    if not diameters:
        raise EarnetError(f"{run.path}: no training images to measure the FOV diameter")
    return float(np.median(diameters))


def assign_folds(ids: list[str], folds: int, seed: int = 0) -> dict[str, int]:
    """Assign each id to one of ``folds`` folds, balanced and reproducible (shuffled by ``seed``).

    Fold ``k``'s model is trained on the other folds and predicts fold ``k`` (out-of-fold error maps).
    """
    if not 2 <= folds <= len(ids):
        raise ValueError(f"need 2 <= folds <= {len(ids)} (number of images), got {folds}")
    order = np.random.default_rng(seed).permutation(len(ids))
    return {ids[index]: position % folds for position, index in enumerate(order)}


def train_val_ids(run: Run, config: TrainConfig) -> tuple[list[str], list[str]]:
    """Training and validation ids: ``val_count`` training images, chosen by seed, validate.

    The choice is saved in ``RUN/split.json`` and reused.
    """
    path = run.path / "split.json"
    if path.exists():
        saved = json.loads(path.read_text())
        return saved["train"], saved["val"]
    ids = dataset_split(config, "train").ids
    if not 1 <= config.val_count <= len(ids) - 2:
        raise EarnetError(f"val_count {config.val_count} leaves too few of the {len(ids)} training images")
    chosen = set(np.random.default_rng(config.seed).choice(len(ids), config.val_count, replace=False).tolist())
    val = [i for k, i in enumerate(ids) if k in chosen]
    train = [i for k, i in enumerate(ids) if k not in chosen]
    write_text(path, json.dumps({"train": train, "val": val}, indent=2) + "\n")
    return train, val
