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
    camera_augment: bool = False
    num_workers: int = 0
    fov_diameter: float | None = None
    # model
    backbone: str = "wnet"
    init: str | None = None
    av_vessel_model: str | None = None
    teacher: str | None = None
    teacher_weight: float = 0.5
    # optimisation
    epochs: int = 30
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 8
    loss: str = "bce_dice"
    aux_weight_scale: float = 1.0
    av_decision_weight: float = 0.0
    av_thin_weight: float = 0.0
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
    error_guidance: str = "none"
    # evaluation
    threshold: str = "validation"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for YAML and checkpoints."""
        return dataclasses.asdict(self)


FIELD_HELP = {
    "dataset": "dataset name", "root": "dataset folder", "val_count": "training images held out for validation",
    "crop": "training crop side (px)", "samples_per_epoch": "random crops per epoch",
    "augment": "rotation/scale/flip/colour/gamma augmentation",
    "camera_augment": "also camera shift: wider zoom, blur, noise, uneven light, JPEG", "num_workers": "data loader processes",
    "fov_diameter": "rescale images so the FOV is this many px wide (e.g. 540, DRIVE's); default: as they are",
    "backbone": "model: wnet, wnet_mid, wnet_wide, wnet_wide_first, wnet_deep, hrnet_ocr_mscale, unet_densenet161, ...; for rite: av_wnet, av_wnet_deep, av_wnet_wide",
    "av_vessel_model": "rite: vessel bundle whose probability an A/V model with a vessel input sees (e.g. general)",
    "teacher": "distil stage 1 from this model (a bundle, run folder or file): its probability on each "
               "training image is blended into the label",
    "teacher_weight": "share of the teacher's probability in the stage-1 training target, in (0, 1]",
    "init": "start stage 1 from these weights: a bundle, a run folder or a stage's model.safetensors "
            "(rite: an A/V model.safetensors trained on the same split)",
    "epochs": "stage-1 epochs", "lr": "stage-1 learning rate (AdamW, one-cycle)", "weight_decay": "AdamW weight decay",
    "batch_size": "crops per batch (per device)", "loss": "bce_dice, bce, dice or bce_dice_cldice (+ clDice for thin vessels; inside the FOV)",
    "aux_weight_scale": "scale of the auxiliary-output losses",
    "av_decision_weight": "rite: weight of the artery-vs-vein term (BCE of the logit difference on "
                          "vessel pixels of one known type)",
    "av_thin_weight": "rite: thin reference vessels (half-width < 1.5 px) weigh 1 + this in the A/V terms "
                      "on vessel pixels (0: off)", "patience": "early-stopping epochs (0: off)",
    "seed": "random seed (also picks the validation images and folds)",
    "precision": "bf16-mixed, 32-true, 16-mixed", "accelerator": "cpu, gpu, auto",
    "devices": "number of devices or auto", "num_nodes": "machines", "strategy": "auto, ddp, ddp_spawn, ...",
    "accumulate_grad_batches": "gradient accumulation", "val_every": "validate every N epochs",
    "refinement": "stage-2 mode: paper or correct", "attention_weight": "w of the paper mode",
    "error_weight": "weight of the error-attention MSE", "stage2_epochs": "stage-2 epochs",
    "stage2_lr": "stage-2 learning rate", "folds": "folds for out-of-fold error maps",
    "fold_epochs": "epochs of each fold model (default: epochs)",
    "in_sample": "error maps from stage 1 on its own training images (the paper)",
    "error_guidance": "stage 2 also guided by the error maps (earnet's variants): none; crops (half the "
                      "crops centred on stage-1 errors); loss (error pixels weigh 3x in the segmentation loss)",
    "threshold": "validation (best F1 on the validation images; 'auto' is the same) or a value in (0, 1]",
}
CHOICES = {"refinement": ("paper", "correct"), "loss": ("bce_dice", "bce", "dice", "bce_dice_cldice"),
           "error_guidance": ("none", "crops", "loss")}
POSITIVE = ("val_count", "crop", "samples_per_epoch", "epochs", "batch_size", "num_nodes", "accumulate_grad_batches",
            "val_every", "stage2_epochs", "folds")


def validate(config: TrainConfig, source: str) -> TrainConfig:
    """Check value ranges and choices; errors name ``source``."""
    for name, choices in CHOICES.items():
        if getattr(config, name) not in choices:
            raise InputError(source, f"{name} must be one of {', '.join(choices)}, got {getattr(config, name)!r}")
    for name in POSITIVE:
        if getattr(config, name) < 1:
            raise InputError(source, f"{name} must be at least 1, got {getattr(config, name)}")
    if not 0 < config.teacher_weight <= 1:
        raise InputError(source, f"teacher_weight must be in (0, 1], got {config.teacher_weight}")
    if config.av_thin_weight < 0:
        raise InputError(source, f"av_thin_weight must be at least 0, got {config.av_thin_weight}")
    if config.teacher and config.dataset.lower() == "rite":
        raise InputError(source, "teacher is for vessel stage 1, not for rite (artery/vein) models")
    from earnet.thresholds import VALIDATION, parse_threshold

    try:
        parse_threshold(config.threshold, (VALIDATION,), auto=VALIDATION, what="threshold")
    except EarnetError as error:
        raise InputError(source, str(error)) from None
    from earnet.models.registry import list_models

    if config.dataset.lower() == "rite":  # artery/vein models
        from earnet.models.av import AV_MODELS

        if config.backbone not in AV_MODELS:
            raise InputError(source, f"backbone for rite (artery/vein) must be one of {', '.join(AV_MODELS)}, "
                                     f"got {config.backbone!r}")
    elif config.backbone not in list_models():
        raise InputError(source, f"backbone must be one of {', '.join(list_models())}, got {config.backbone!r}")
    return config


def _coerce(name: str, value: Any, source: str) -> Any:
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
    return validate(TrainConfig(**{k: _coerce(k, v, source) for k, v in values.items()}), source)


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
        text = f"{FIELD_HELP.get(field.name, '')} [{field.default}]".strip()
        if field.type in ("bool", bool):
            group.add_argument(flag, dest=f"cfg_{field.name}", default=None, nargs="?", const="true",
                               metavar="BOOL", help=text)
        else:
            group.add_argument(flag, dest=f"cfg_{field.name}", default=None, metavar=field.name.upper(), help=text)


def config_from_args(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """Apply ``--config`` then the given flags on top of ``base`` (or the defaults)."""
    config = base or TrainConfig()
    values = config.to_dict()
    if getattr(args, "config", None):
        values.update({k: v for k, v in load_config(args.config).to_dict().items()
                       if k in _explicit_keys(args.config)})
    for key, value in vars(args).items():
        if key.startswith("cfg_") and value is not None:
            values[key[4:]] = value
    return config_from_dict(values, "command line")


def dataset_defaults(dataset: str) -> TrainConfig:
    """The shipped defaults for ``dataset`` (``earnet/configs/<dataset>.yaml``), else the generic ones."""
    path = Path(__file__).parent / "configs" / f"{dataset.lower()}.yaml"
    config = load_config(path) if path.is_file() else TrainConfig()
    config.dataset = dataset.lower()
    return config


def set_explicitly(args: argparse.Namespace, key: str) -> bool:
    """Whether the command line gave ``key``, as a flag or in its ``--config`` file."""
    if getattr(args, f"cfg_{key}", None) is not None:
        return True
    return bool(getattr(args, "config", None)) and key in _explicit_keys(args.config)


def _explicit_keys(path: str | Path) -> set[str]:
    """Keys actually written in a YAML config (others keep the base's values)."""
    return set((yaml.safe_load(Path(path).read_text()) or {}).keys())
