"""Experiment files: a base configuration and a grid (or list) of overrides, expanded into runs.

An experiment file (YAML)::

    name: drive-ablation          # default: the file's name
    command: fit                  # fit (all stages + test) or stage1 (stage 1 + test)
    dataset: drive
    root: ../shared/data/DRIVE    # as on the command line (relative to the current folder)
    config: base.yaml             # optional config file, relative to this file
    set: {epochs: 40}             # overrides for every run
    grid:                         # every combination; seeds are one more axis
      backbone: [wnet, wnet_wide]
      seed: [0, 1, 2]
    runs:                         # and/or a list of overrides (each crossed with the grid)
      - {refinement: paper, in_sample: true}
    variants: [paper-in_sample]   # more stage-2 refiners trained in each run folder after `fit`
    out: runs/drive-ablation      # default: runs/<name>
    run_name: "{backbone}-s{seed}"   # default: swept values in order, then s<seed>

Every problem is reported as ``FILE: KEY: problem`` before anything runs.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from earnet.config import TrainConfig, config_from_dict, dataset_defaults, load_config
from earnet.exceptions import EarnetError, InputError

TOP_KEYS = ("name", "command", "dataset", "root", "config", "set", "grid", "runs", "variants", "out", "run_name")
COMMANDS = ("fit", "stage1")
VARIANTS = ("correct", "paper", "correct-in_sample", "paper-in_sample")
GUIDED = ("crops", "loss")  # error guidance of a stage-2 variant, e.g. correct-in_sample+crops
CONFIG_KEYS = tuple(f.name for f in fields(TrainConfig))
# Chosen by the experiment's own keys (dataset, root) or by how a run folder is named.
NOT_SWEPT = ("dataset", "root")


@dataclass(frozen=True)
class RunSpec:
    """One run of an experiment: its name, folder, overrides and resolved configuration."""

    name: str
    out: Path
    overrides: dict[str, Any]
    config: TrainConfig


@dataclass
class Experiment:
    """A parsed, validated experiment file."""

    path: Path
    name: str
    command: str
    dataset: str
    root: str | None
    config_file: Path | None
    fixed: dict[str, Any]
    grid: dict[str, list[Any]]
    runs: list[dict[str, Any]]
    variants: list[str]
    out: Path
    run_name: str | None
    axes: list[str] = field(default_factory=list)

    def expand(self) -> list[RunSpec]:
        """Every run: the ``runs`` list (or one empty entry) crossed with the grid, in file order."""
        entries = self.runs or [{}]
        combos = [dict(zip(self.grid, values)) for values in itertools.product(*self.grid.values())]
        specs = []
        for entry in entries:
            for combo in combos:
                overrides = {**self.fixed, **entry, **combo}
                config = self._resolve(overrides)
                name = self._name(config, overrides)
                specs.append(RunSpec(name, self.out / name, overrides, config))
        seen: dict[str, dict[str, Any]] = {}
        for spec in specs:
            if spec.name in seen:
                raise InputError(self.path, f"run_name: two runs are both named {spec.name!r} "
                                            f"({seen[spec.name]} and {spec.overrides}); add the differing key "
                                            "to run_name")
            seen[spec.name] = spec.overrides
        return specs

    def _resolve(self, overrides: dict[str, Any]) -> TrainConfig:
        values = dataset_defaults(self.dataset).to_dict()
        if self.config_file is not None:
            explicit = yaml.safe_load(self.config_file.read_text()) or {}
            values.update({k: v for k, v in load_config(self.config_file).to_dict().items() if k in explicit})
        values.update({**overrides, "dataset": self.dataset, "root": self.root})
        return config_from_dict(values, str(self.path))

    def _name(self, config: TrainConfig, overrides: dict[str, Any]) -> str:
        if self.run_name:
            try:
                name = self.run_name.format(**config.to_dict(), experiment=self.name)
            except (KeyError, IndexError, ValueError) as error:
                raise InputError(self.path, f"run_name: cannot fill {self.run_name!r} ({error})") from None
        else:
            parts = [_name_part(key, getattr(config, key)) for key in self.axes if key != "seed"]
            name = "-".join(parts + [f"s{config.seed}"])
        return re.sub(r"[^A-Za-z0-9._+=-]", "_", name)


def _name_part(key: str, value: Any) -> str:
    """``wnet`` for strings, ``in_sample``/``no_in_sample`` for flags, ``lr0.001`` for numbers."""
    if isinstance(value, bool):
        return key if value else f"no_{key}"
    if isinstance(value, float):
        return f"{key}{value:g}"
    if isinstance(value, int) or _is_number(str(value)):
        return f"{key}{value}"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fail(path: Path, key: str, problem: str) -> InputError:
    return InputError(path, f"{key}: {problem}")


def _check_overrides(path: Path, where: str, values: Any, listed: bool = False) -> dict[str, Any]:
    """A mapping of config keys (to lists of values when ``listed``), checked key by key."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise _fail(path, where, f"expected a mapping of config keys, got {type(values).__name__}")
    for key, value in values.items():
        if key not in CONFIG_KEYS:
            raise _fail(path, f"{where}.{key}", f"unknown config key; valid keys: {', '.join(CONFIG_KEYS)}")
        if key in NOT_SWEPT:
            raise _fail(path, f"{where}.{key}", "set it with the top-level 'dataset'/'root' keys "
                                                "(one dataset per experiment file)")
        candidates = value if listed else [value]
        if listed and not isinstance(value, list):
            raise _fail(path, f"{where}.{key}", f"expected a list of values, got {value!r}")
        if listed and not value:
            raise _fail(path, f"{where}.{key}", "empty list (a grid axis needs at least one value)")
        if listed and len({repr(v) for v in value}) != len(value):
            raise _fail(path, f"{where}.{key}", f"repeated value in {value!r}")
        for candidate in candidates:
            if candidate is None or isinstance(candidate, (list, dict)):
                raise _fail(path, f"{where}.{key}", f"expected a single number, string or true/false, "
                                                    f"got {candidate!r}")
            try:
                config_from_dict({key: candidate}, "")
            except InputError as error:
                raise _fail(path, f"{where}.{key}", error.problem) from None
    return dict(values)


def load_experiment(path: str | Path, out: str | Path | None = None) -> Experiment:
    """Read and validate an experiment file; ``out`` replaces its output folder."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "experiment file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise InputError(path, f"not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise InputError(path, "expected a mapping with at least 'dataset' and 'grid' or 'runs'")
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise _fail(path, str(unknown[0]), f"unknown key; valid keys: {', '.join(TOP_KEYS)}")
    for key in ("name", "command", "dataset", "root", "config", "out", "run_name"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise _fail(path, key, f"expected a string, got {raw[key]!r}")
    name = raw.get("name") or path.stem
    command = raw.get("command", "fit")
    if command not in COMMANDS:
        raise _fail(path, "command", f"must be one of {', '.join(COMMANDS)}, got {command!r}")
    dataset = raw.get("dataset")
    if not dataset:
        raise _fail(path, "dataset", "missing (the dataset every run trains on)")
    from earnet.data.registry import list_datasets

    if any(part not in list_datasets() for part in dataset.lower().split("+")):
        raise _fail(path, "dataset", f"must be one of {', '.join(list_datasets())} (or several joined by '+'), "
                                     f"got {dataset!r}")
    config_file = None
    if raw.get("config"):
        config_file = (path.parent / raw["config"])
        if not config_file.is_file():
            raise _fail(path, "config", f"{config_file} not found")
    fixed = _check_overrides(path, "set", raw.get("set"))
    if "grid" in raw and not raw["grid"]:
        raise _fail(path, "grid", "empty grid (give at least one key with a list of values)")
    grid = _check_overrides(path, "grid", raw.get("grid"), listed=True)
    runs_raw = raw.get("runs")
    if runs_raw is not None and (not isinstance(runs_raw, list) or not runs_raw):
        raise _fail(path, "runs", "expected a non-empty list of mappings of config keys")
    runs = [_check_overrides(path, f"runs[{i}]", entry) for i, entry in enumerate(runs_raw or [])]
    for key in grid:
        if key in fixed:
            raise _fail(path, f"grid.{key}", "also given in 'set'; keep one")
    variants = raw.get("variants") or []
    if not isinstance(variants, list):
        raise _fail(path, "variants", f"expected a list, got {variants!r}")
    for variant in variants:
        base, plus, guidance = str(variant).partition("+")
        if base not in VARIANTS or (plus and guidance not in GUIDED):
            raise _fail(path, "variants", f"must be among {', '.join(VARIANTS)}, optionally with "
                                          f"{' or '.join('+' + g for g in GUIDED)}, got {variant!r}")
    if variants and command != "fit":
        raise _fail(path, "variants", "stage-2 variants need command: fit")
    axes = list(grid) + [k for entry in runs for k in entry if k not in grid]
    experiment = Experiment(path, name, command, dataset.lower(), raw.get("root"), config_file, fixed, grid, runs,
                            list(dict.fromkeys(variants)), Path(out or raw.get("out") or Path("runs") / name),
                            raw.get("run_name"), list(dict.fromkeys(axes)))
    try:
        experiment.expand()
    except InputError:
        raise
    except EarnetError as error:
        raise InputError(path, str(error)) from None
    return experiment
