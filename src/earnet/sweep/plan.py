"""From a run of an experiment to the ``earnet`` commands that make it, and what is left to do.

A run is one run folder made by a few commands in order (``fit``, then for each extra
stage-2 variant ``errors`` and ``train --stage 2 --test``). A command is done when the
files it ends with exist (the test ``metrics.json`` of the stages it trains); a run
folder that already holds ``config.yaml`` is continued with earnet's own ``--resume``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from earnet.engine.run import stage2_name
from earnet.sweep.experiment import Experiment, RunSpec

# Must match earnet.engine.run.Run's layout (kept in sync by tests/sweep/test_sweep.py).
CONFIG_FILE = "config.yaml"


def metrics_file(run: Path, stage: str) -> Path:
    """The test metrics a finished stage leaves behind."""
    return run / "test" / stage / "metrics.json"


@dataclass(frozen=True)
class Step:
    """One ``earnet`` command of a run and the files that show it finished."""

    args: tuple[str, ...]
    done_when: tuple[Path, ...]

    def done(self) -> bool:
        """All its output files exist."""
        return all(path.is_file() for path in self.done_when)


@dataclass(frozen=True)
class RunPlan:
    """A run and its steps."""

    spec: RunSpec
    steps: tuple[Step, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def out(self) -> Path:
        return self.spec.out

    def status(self) -> str:
        """``done``, ``partial`` (started: resumed with --resume) or ``new``."""
        if all(step.done() for step in self.steps):
            return "done"
        return "partial" if (self.out / CONFIG_FILE).is_file() else "new"

    def pending(self) -> list[tuple[str, ...]]:
        """The commands still to run (arguments after ``earnet``), ``--resume`` added where started."""
        started = (self.out / CONFIG_FILE).is_file()
        commands = []
        for step in self.steps:
            if step.done():
                continue
            # Later steps work on the run folder the first one creates; --resume reuses their partial work.
            resume = started or step is not self.steps[0]
            commands.append(step.args + (("--resume",) if resume else ()))
        return commands


def _flag(key: str, value: Any) -> list[str]:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return ["--" + key.replace("_", "-"), text]


def parse_variant(variant: str) -> tuple[str, bool, str]:
    """``<refinement>-<oof|in_sample>[+<crops|loss>]`` → (refinement, in_sample, error guidance)."""
    name, _, guidance = variant.partition("+")
    refinement, _, kind = name.partition("-")
    return refinement, kind == "in_sample", guidance or "none"


def plan_run(experiment: Experiment, spec: RunSpec) -> RunPlan:
    """The commands that make ``spec``'s run folder."""
    out = str(spec.out)
    common = ["--no-progress"]
    if experiment.config_file is not None:
        common += ["--config", str(experiment.config_file)]
    for key, value in spec.overrides.items():
        common += _flag(key, value)
    root = ["--root", experiment.root] if experiment.root else []
    config = spec.config
    if experiment.command == "fit":
        first = Step(("fit", experiment.dataset, *root, "--out", out, *common),
                     (metrics_file(spec.out, "stage1"),
                      metrics_file(spec.out, stage2_name(config.refinement, config.in_sample,
                                                         config.error_guidance))))
    else:
        first = Step(("train", "--stage", "1", "--dataset", experiment.dataset, *root, "--out", out, *common,
                      "--test"), (metrics_file(spec.out, "stage1"),))
    steps = [first]
    made_errors = {config.in_sample} if experiment.command == "fit" else set()
    for variant in experiment.variants:
        refinement, in_sample, guidance = parse_variant(variant)
        if in_sample not in made_errors:
            errors_dir = spec.out / ("errors-in_sample" if in_sample else "errors-oof")
            steps.append(Step(("errors", out, "--no-progress", *(["--in-sample"] if in_sample else [])),
                              (errors_dir / "errors.json",)))
            made_errors.add(in_sample)
        stage = stage2_name(refinement, in_sample, guidance)
        if stage == stage2_name(config.refinement, config.in_sample, config.error_guidance):
            continue
        steps.append(Step(("train", "--stage", "2", "--out", out, "--refinement", refinement,
                           "--in-sample", "true" if in_sample else "false", "--error-guidance", guidance,
                           "--no-progress", "--test"),
                          (metrics_file(spec.out, stage),)))
    return RunPlan(spec, tuple(steps))


def plan_experiment(experiment: Experiment) -> list[RunPlan]:
    """Every run of the experiment with its steps."""
    return [plan_run(experiment, spec) for spec in experiment.expand()]


def resubmittable_line(plan: RunPlan, threads: int, program: str = "earnet") -> str:
    """One shell line for a scheduler that can run again after a time-out: each step is skipped
    when its files exist, else run with ``--resume`` (which also starts a run that has no folder yet)."""
    env = f"OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
    parts = []
    for step in plan.steps:
        done = " && ".join(f"[ -f {shlex.quote(str(path))} ]" for path in step.done_when)
        parts.append(f"{{ {{ {done}; }} || {env} {program} {shlex.join(step.args + ('--resume',))}; }}")
    return " && ".join(parts)


def shell_line(commands: list[tuple[str, ...]], threads: int, program: str = "earnet") -> str:
    """One shell line running ``commands`` in order with ``threads`` threads (for --dry-run and --emit)."""
    env = f"OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"
    return " && ".join(f"{env} {program} {shlex.join(command)}" for command in commands)
