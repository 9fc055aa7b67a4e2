"""A run folder: its configuration, data split, and where each stage's outputs go.

Layout::

    RUN/config.yaml            resolved configuration (checked on --resume)
    RUN/revision.txt           git revision of the code that made the run
    RUN/split.json             training / validation ids (validation carved from train)
    RUN/stage1/                checkpoints/, logs/ (CSV, TensorBoard), model.safetensors, threshold.json
    RUN/errors-oof/            out-of-fold error maps (folds/ holds the k fold models)
    RUN/errors-in_sample/      error maps of the stage-1 model on its own training images (paper)
    RUN/stage2-<mode>[-in_sample]/   the error-attention refiner
    RUN/test/<stage>/          metrics.json, per_image.csv, roc.png, pr.png, images/
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from earnet.config import TrainConfig, load_config, save_config
from earnet.data.base import VesselDataset
from earnet.data.registry import get_dataset
from earnet.exceptions import EarnetError, InputError
from earnet.io import write_text

# Fields that may change between a run and its resumption: where and how it runs.
RESUMABLE_CHANGES = {"devices", "num_nodes", "strategy", "accelerator", "num_workers"}


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

    def stage2(self, refinement: str, in_sample: bool) -> Path:
        """Folder of a stage-2 refiner."""
        return self.path / f"stage2-{refinement}{'-in_sample' if in_sample else ''}"

    def test(self, stage_name: str) -> Path:
        """Folder of a stage's test-split evaluation."""
        return self.path / "test" / stage_name

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
        saved = run.config().to_dict()
        changed = [k for k, v in config.to_dict().items() if saved.get(k) != v and k not in RESUMABLE_CHANGES]
        if changed:
            details = ", ".join(f"{k}: {saved.get(k)!r} -> {config.to_dict()[k]!r}" for k in changed)
            raise InputError(run.config_file, f"--resume with a different configuration ({details})")
    path.mkdir(parents=True, exist_ok=True)
    save_config(config, run.config_file)
    write_text(path / "revision.txt", git_revision() + "\n")
    return run


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
