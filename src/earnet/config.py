"""Typed training configuration: YAML in and out, every field a CLI flag.

A run's resolved configuration is saved as ``RUN/config.yaml``; resuming checks it
against the new one. Unknown keys and wrong types are errors naming the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from earnet.exceptions import EarnetError, InputError
from earnet.io import write_text


@dataclass
class TrainConfig:
    """Everything that decides what a training run does."""

    # data
    dataset: str = "synthetic"
    root: str | None = None
    val_count: int = 4
    crop: int = 128
    samples_per_epoch: int = 640
    augment: bool = True
    num_workers: int = 0
    # model
    backbone: str = "wnet"
    # optimisation
    epochs: int = 30
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 8
    loss: str = "bce_dice"
    aux_weight_scale: float = 1.0
    patience: int = 0
    seed: int = 0
    # engine
    precision: str = "bf16-mixed"
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    accumulate_grad_batches: int = 1
    val_every: int = 1
    # EAR-Net stage 2
    refinement: str = "correct"
    attention_weight: float = 0.5
    error_weight: float = 0.5
    stage2_epochs: int = 15
    stage2_lr: float = 1e-3
    folds: int = 4
    fold_epochs: int | None = None
    in_sample: bool = False
    # evaluation
    threshold: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for YAML and checkpoints."""
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any, annotation: Any, source: str) -> Any:
    hint = typing.get_type_hints(TrainConfig)[name]
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:
        if kind is type(None):
            continue
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
        elif kind is int and isinstance(value, (int, str)) and not isinstance(value, bool):
            try:
                return int(value)
            except ValueError:
                pass
        elif kind is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return float(value)
            except ValueError:
                pass
        elif kind is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    expected = " or ".join(getattr(k, "__name__", str(k)) for k in allowed)
    raise InputError(source, f"{name} must be {expected}, got {value!r}")


def config_from_dict(values: dict[str, Any], source: str = "config") -> TrainConfig:
    """Build a config, rejecting unknown keys and wrong types (errors name ``source``)."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(source, f"unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(known))}")
    return TrainConfig(**{k: _coerce(k, v, None, source) for k, v in values.items()})


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML config file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "config file not found")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise InputError(path, f"not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise InputError(path, "expected a mapping of config keys to values")
    return config_from_dict(values, str(path))


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write ``config`` as YAML, atomically."""
    write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def add_config_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One ``--flag`` per config field (``batch_size`` → ``--batch-size``), default unset."""
    group = parser.add_argument_group("configuration (override --config FILE.yaml; defaults in brackets)")
    for field in fields(TrainConfig):
        if field.name in skip:
            continue
        flag = "--" + field.name.replace("_", "-")
        group.add_argument(flag, dest=f"cfg_{field.name}", default=None, metavar=field.name.upper(),
                           help=f"[{field.default}]")


def config_from_args(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """Apply ``--config`` then the given flags on top of ``base`` (or the defaults)."""
    config = base or TrainConfig()
    if getattr(args, "config", None):
        config = load_config(args.config)
    values = config.to_dict()
    for key, value in vars(args).items():
        if key.startswith("cfg_") and value is not None:
            values[key[4:]] = value
    return config_from_dict(values, "command line")
