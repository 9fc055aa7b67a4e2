"""``earnet sweep``: experiment files -> runs (names, overrides), bad files, dry run, skipping, resuming, failures.

The runner tests start a stand-in for ``earnet`` (a small Python script that writes what a
finished run leaves behind), so they check the scheduling in seconds; the end-to-end test
with real training runs is in ``test_sweep_e2e.py``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from earnet.cli.main import main
from earnet.engine.run import Run, stage2_name
from earnet.exceptions import InputError
from earnet.sweep.experiment import load_experiment
from earnet.sweep.plan import (
    metrics_file,
    parse_variant,
    plan_experiment,
    resubmittable_line,
)
from earnet.sweep.runner import Sweep, default_jobs, progress_bar

REPO = Path(__file__).resolve().parents[2]

BASIC = """
dataset: synthetic
set: {epochs: 1, crop: 64}
grid:
  backbone: [wnet, wnet_wide]
  lr: [0.001, 0.01]
  seed: [0, 1, 2]
"""


def experiment_file(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_grid_expands_into_named_runs_with_their_overrides(tmp_path: Path) -> None:
    experiment = load_experiment(experiment_file(tmp_path, BASIC), tmp_path / "runs")
    specs = experiment.expand()
    assert len(specs) == 2 * 2 * 3
    assert [s.name for s in specs[:4]] == ["wnet-lr0.001-s0", "wnet-lr0.001-s1", "wnet-lr0.001-s2", "wnet-lr0.01-s0"]
    assert specs[-1].name == "wnet_wide-lr0.01-s2" and specs[-1].out == tmp_path / "runs" / "wnet_wide-lr0.01-s2"
    last = specs[-1].config
    assert (last.backbone, last.lr, last.seed, last.epochs, last.crop) == ("wnet_wide", 0.01, 2, 1, 64)
    # untouched keys keep the dataset's shipped defaults (earnet/configs/synthetic.yaml)
    assert last.samples_per_epoch == 256 and last.dataset == "synthetic"
    # stable: the same file gives the same runs
    assert [s.name for s in load_experiment(experiment.path, tmp_path / "runs").expand()] == [s.name for s in specs]


def test_runs_list_is_crossed_with_the_grid_and_names_flags(tmp_path: Path) -> None:
    path = experiment_file(tmp_path, """
        name: ablation
        dataset: synthetic
        runs:
          - {refinement: correct}
          - {refinement: paper, in_sample: true}
        grid: {seed: [3, 4]}
    """)
    experiment = load_experiment(path)
    assert experiment.out == Path("runs") / "ablation"
    names = [s.name for s in experiment.expand()]
    assert names == ["correct-no_in_sample-s3", "correct-no_in_sample-s4", "paper-in_sample-s3", "paper-in_sample-s4"]
    templated = experiment_file(tmp_path, """
        dataset: synthetic
        run_name: "{experiment}-{refinement}-seed{seed}"
        grid: {refinement: [correct, paper]}
    """, "t.yaml")
    assert [s.name for s in load_experiment(templated).expand()] == ["t-correct-seed0", "t-paper-seed0"]
    numbers = experiment_file(tmp_path, "dataset: synthetic\ngrid: {threshold: [auto, 0.5], stage2_lr: [1.0e-4]}\n",
                              "n.yaml")
    assert [s.name for s in load_experiment(numbers).expand()] == ["auto-stage2_lr0.0001-s0",
                                                                   "threshold0.5-stage2_lr0.0001-s0"]


@pytest.mark.parametrize(("body", "key", "problem"), [
    ("dataset: synthetic\ngrid: {seed: [0]}\nepochs: 3\n", "epochs", "unknown key"),
    ("dataset: synthetic\ngrid: {learning_rate: [0.1]}\n", "grid.learning_rate", "unknown config key"),
    ("dataset: synthetic\ngrid: {lr: [0.1, fast]}\n", "grid.lr", "lr must be float"),
    ("dataset: synthetic\nset: {epochs: many}\n", "set.epochs", "epochs must be int"),
    ("dataset: synthetic\ngrid: {seed: []}\n", "grid.seed", "empty list"),
    ("dataset: synthetic\ngrid: {}\n", "grid", "empty grid"),
    ("dataset: synthetic\ngrid: {seed: 3}\n", "grid.seed", "expected a list"),
    ("dataset: synthetic\ngrid: {refinement: [correct, best]}\n", "grid.refinement", "must be one of"),
    ("dataset: synthetic\ncommand: train\n", "command", "must be one of fit, stage1"),
    ("dataset: mars\n", "dataset", "must be one of"),
    ("grid: {seed: [0]}\n", "dataset", "missing"),
    ("dataset: synthetic\nvariants: [best]\n", "variants", "must be among"),
    ("dataset: synthetic\nvariants: [correct+best]\n", "variants", "must be among"),
    ("dataset: synthetic\nrun_name: fixed\ngrid: {seed: [0, 1]}\n", "run_name", "both named 'fixed'"),
    ("dataset: synthetic\nruns: [{epochs: 0}]\n", "runs[0].epochs", "at least 1"),
    ("dataset: synthetic\nset: {lr: 0.1}\ngrid: {lr: [0.2]}\n", "grid.lr", "also given in 'set'"),
])
def test_bad_experiment_file_one_line_naming_the_key_nothing_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, key: str, problem: str) -> None:
    path = experiment_file(tmp_path, body)
    with pytest.raises(InputError) as raised:
        load_experiment(path)
    assert f"{path}: {key}:" in str(raised.value) and problem in str(raised.value)
    out = tmp_path / "runs"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("earnet: error: ") and len(err.splitlines()) == 1 and f"{key}:" in err
    assert not out.exists()


def test_a_missing_dataset_root_stops_the_sweep_before_any_run(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = experiment_file(tmp_path, f"dataset: drive\nroot: {tmp_path / 'nowhere'}\ngrid: {{seed: [0, 1]}}\n")
    assert main(["sweep", str(path), "-n", "--out", str(tmp_path / "runs")]) == 0  # e.g. for a cluster
    capsys.readouterr()
    assert main(["sweep", str(path), "--out", str(tmp_path / "runs")]) == 2
    assert f"root: {tmp_path / 'nowhere'} not found" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_dry_run_prints_each_command_and_folder_and_runs_nothing(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs"
    assert main(["sweep", str(REPO / "experiments" / "synthetic-tiny.yaml"), "-n", "--out", str(out),
                 "--threads-per-job", "2"]) == 0
    printed = capsys.readouterr().out.splitlines()
    commands = [line for line in printed if not line.startswith("#")]
    assert len(commands) == 4 and all(c.startswith("OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 earnet fit synthetic ")
                                      for c in commands)
    assert f"--out {out / 'paper-s1'}" in commands[3] and "--refinement paper --seed 1" in commands[3]
    assert f"# correct-s0 [new] -> {out / 'correct-s0'}" in printed
    assert "nothing was run" in printed[-1] and not out.exists()


def test_drive_experiment_trains_stage1_once_and_every_variant(tmp_path: Path) -> None:
    experiment = load_experiment(REPO / "experiments" / "drive.yaml", tmp_path)
    (plan,) = plan_experiment(experiment)
    commands = [" ".join(step.args[:3]) for step in plan.steps]
    assert commands == ["fit drive --root", "train --stage 2", "errors " + str(tmp_path / "s0") + " --no-progress",
                        "train --stage 2", "train --stage 2"]
    assert [p.parent.name for step in plan.steps for p in step.done_when] == [
        "stage1", "stage2-correct", "stage2-paper", "errors-in_sample", "stage2-paper-in_sample",
        "stage2-correct-in_sample"]


def test_plan_layout_matches_the_run_folder() -> None:
    run = Run(Path("r"))
    assert metrics_file(run.path, "stage1") == run.test("stage1") / "metrics.json"
    assert parse_variant("paper-in_sample") == ("paper", True, "none")
    assert parse_variant("correct") == ("correct", False, "none")
    assert parse_variant("correct-in_sample+crops") == ("correct", True, "crops")
    assert stage2_name(*parse_variant("correct+loss")) == run.stage2("correct", False, "loss").name \
        == "stage2-correct-guided_loss"


def finish(run: Path, stages: tuple[str, ...]) -> None:
    """What a finished run leaves behind."""
    (run / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text("seed: 0\n")
    for stage in stages:
        (run / "test" / stage).mkdir(parents=True, exist_ok=True)
        (run / "test" / stage / "metrics.json").write_text("{}")


def test_status_skips_finished_runs_and_resumes_started_ones(tmp_path: Path) -> None:
    path = experiment_file(tmp_path, "dataset: synthetic\ngrid: {seed: [0, 1, 2]}\nvariants: [paper]\n")
    plans = plan_experiment(load_experiment(path, tmp_path / "runs"))
    finish(plans[0].out, ("stage1", "stage2-correct", "stage2-paper"))
    finish(plans[1].out, ("stage1", "stage2-correct"))  # fit finished, the extra variant not
    assert [p.status() for p in plans] == ["done", "partial", "new"]
    assert plans[0].pending() == []
    (only,) = plans[1].pending()
    assert only[:3] == ("train", "--stage", "2") and "paper" in only and only[-1] == "--resume"
    first, second = plans[2].pending()
    assert first[0] == "fit" and "--resume" not in first and second[-1] == "--resume"
    (plans[2].out / "config.yaml").parent.mkdir(parents=True)
    (plans[2].out / "config.yaml").write_text("seed: 2\n")  # killed during fit
    assert plans[2].status() == "partial" and plans[2].pending()[0][-1] == "--resume"


FAKE_EARNET = """
import json, sys, time
from pathlib import Path
args = sys.argv[1:]
out = Path(args[args.index("--out") + 1])
with open(out.parent / "calls.jsonl", "a") as calls:
    calls.write(json.dumps(args) + "\\n")
if "--seed" in args and args[args.index("--seed") + 1] == "{fail_seed}":
    print("earnet: error: boom in seed {fail_seed}", file=sys.stderr)
    sys.exit(2)
time.sleep({sleep})
out.mkdir(parents=True, exist_ok=True)
(out / "config.yaml").write_text("seed: 0\\n")
for stage in ("stage1", "stage2-correct"):
    (out / "test" / stage).mkdir(parents=True, exist_ok=True)
    (out / "test" / stage / "metrics.json").write_text("{{}}")
print("finished", out.name)
"""


def fake_program(tmp_path: Path, fail_seed: int = -1, sleep: float = 0.0) -> list[str]:
    script = tmp_path / "fake_earnet.py"
    script.write_text(FAKE_EARNET.format(fail_seed=fail_seed, sleep=sleep))
    return [sys.executable, str(script)]


def test_runner_runs_what_is_missing_reports_failures_and_goes_on(tmp_path: Path) -> None:
    path = experiment_file(tmp_path, "dataset: synthetic\ngrid: {seed: [0, 1, 2, 3]}\n")
    runs = tmp_path / "runs"
    plans = plan_experiment(load_experiment(path, runs))
    finish(plans[0].out, ("stage1", "stage2-correct"))
    (plans[2].out).mkdir(parents=True)
    (plans[2].out / "config.yaml").write_text("seed: 2\n")  # interrupted earlier
    stream = io.StringIO()
    outcomes = Sweep(plans, runs / "logs", jobs=2, threads=1, stream=stream,
                     program=fake_program(tmp_path, fail_seed=1)).run()
    assert [o.status for o in outcomes] == ["skipped", "failed", "done", "done"]
    calls = [json.loads(line) for line in (runs / "calls.jsonl").read_text().splitlines()]
    started = sorted(c[c.index("--seed") + 1] for c in calls)
    assert started == ["1", "2", "3"]  # the finished run was not started again
    resumed = {c[c.index("--seed") + 1]: "--resume" in c for c in calls}
    assert resumed == {"1": False, "2": True, "3": False}
    failed = outcomes[1]
    assert failed.returncode == 2 and failed.message == "earnet: error: boom in seed 1"
    assert failed.log == runs / "logs" / "s1.log" and "boom" in failed.log.read_text()
    printed = stream.getvalue()
    assert "FAILED s1" in printed and str(failed.log) in printed
    assert "[########################] 3/3 runs finished (1 failed)" in printed
    # a second sweep starts only the failed run
    outcomes = Sweep(plans, runs / "logs", jobs=2, threads=1, stream=io.StringIO(),
                     program=fake_program(tmp_path)).run()
    assert [o.status for o in outcomes] == ["skipped", "done", "skipped", "skipped"]


def test_interrupting_the_runner_stops_its_subprocesses(tmp_path: Path) -> None:
    path = experiment_file(tmp_path, "dataset: synthetic\ngrid: {seed: [0, 1]}\n")
    plans = plan_experiment(load_experiment(path, tmp_path / "runs"))
    sweep = Sweep(plans, tmp_path / "runs" / "logs", jobs=2, threads=1, stream=io.StringIO(),
                  program=fake_program(tmp_path, sleep=60))
    result: list = []
    thread = threading.Thread(target=lambda: result.append(sweep.run()))
    thread.start()
    deadline = time.monotonic() + 20
    while len(sweep._processes) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    processes = list(sweep._processes.values())
    assert len(processes) == 2
    start = time.monotonic()
    sweep._stop_all()
    thread.join(timeout=20)
    assert all(p.poll() is not None for p in processes) and time.monotonic() - start < 15
    assert [o.status for o in result[0]] == ["interrupted", "interrupted"]
    assert all(p.status() == "new" for p in plans)


def test_jobs_default_and_progress_bar() -> None:
    assert default_jobs(1) >= 1 and default_jobs(10_000) == 1
    assert progress_bar(0, 4) == "[------------------------] 0/4 runs finished"
    assert progress_bar(2, 4, 1) == "[############------------] 2/4 runs finished (1 failed)"


def test_emit_writes_a_slurm_job_array_of_the_unfinished_runs(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs"
    finish(out / "correct-s0", ("stage1", "stage2-correct"))
    assert main(["sweep", str(REPO / "experiments" / "synthetic-tiny.yaml"), "--out", str(out),
                 "--emit", "slurm"]) == 0
    script = capsys.readouterr().out
    assert "#SBATCH --array=0-2" in script and "#SBATCH --cpus-per-task=1" in script
    assert "correct-s0" not in script and script.count("earnet fit synthetic") == 3
    assert main(["sweep", str(REPO / "experiments" / "synthetic-tiny.yaml"), "--out", str(out),
                 "--emit", "commands", "--only", "paper"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_shipped_experiments_are_valid() -> None:
    for path in sorted((REPO / "experiments").glob("*.yaml")):
        assert plan_experiment(load_experiment(path)), path


def test_a_run_locked_by_another_process_is_left_alone(tmp_path: Path) -> None:
    import fcntl

    path = experiment_file(tmp_path, "dataset: synthetic\ngrid: {seed: [0, 1]}\n")
    runs = tmp_path / "runs"
    plans = plan_experiment(load_experiment(path, runs))
    (runs / "logs").mkdir(parents=True)
    with open(runs / "logs" / "s0.lock", "a") as held:  # e.g. an earnet left running by a killed sweep
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        stream = io.StringIO()
        outcomes = Sweep(plans, runs / "logs", jobs=2, threads=1, stream=stream, program=fake_program(tmp_path)).run()
    assert [o.status for o in outcomes] == ["busy", "done"] and "busy s0" in stream.getvalue()
    assert not (runs / "s0").exists()
    # the lock is held by the run's own subprocess while it runs
    sweep = Sweep(plans, runs / "logs", jobs=1, threads=1, stream=io.StringIO(),
                  program=fake_program(tmp_path, sleep=30))
    thread = threading.Thread(target=sweep.run)
    thread.start()
    deadline = time.monotonic() + 20
    while not sweep._processes and time.monotonic() < deadline:
        time.sleep(0.05)
    (process,) = sweep._processes.values()
    fds = Path(f"/proc/{process.pid}/fd")
    if fds.is_dir():  # Linux: the child holds the lock file open, so the lock outlives the sweep
        assert any(os.readlink(fd) == str(runs / "logs" / "s0.lock") for fd in fds.iterdir())
    sweep._stop_all()
    thread.join(timeout=20)


def test_emitted_lines_skip_finished_steps_and_can_be_submitted_again(tmp_path: Path) -> None:
    path = experiment_file(tmp_path, "dataset: synthetic\ngrid: {seed: [0, 1]}\n")
    runs = tmp_path / "runs"
    runs.mkdir()
    plans = plan_experiment(load_experiment(path, runs))
    program = " ".join(fake_program(tmp_path, fail_seed=1))
    lines = [resubmittable_line(plan, 1, program=program) for plan in plans]
    assert subprocess.run(["bash", "-c", lines[0]]).returncode == 0
    assert subprocess.run(["bash", "-c", lines[1]], capture_output=True).returncode == 2  # a failure is an exit code
    assert subprocess.run(["bash", "-c", lines[0]]).returncode == 0  # again: finished, nothing started
    calls = [json.loads(line) for line in (runs / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == 2 and all(call[-1] == "--resume" for call in calls)
    assert plans[0].status() == "done" and plans[1].status() == "new"


def test_error_guided_variant_trains_its_own_stage2_folder(tmp_path: Path) -> None:
    path = experiment_file(tmp_path, "dataset: synthetic\nset: {in_sample: true}\n"
                                     "variants: [correct-in_sample+crops, correct-in_sample+loss]\n")
    (plan,) = plan_experiment(load_experiment(path, tmp_path / "runs"))
    guided = [step for step in plan.steps if "--error-guidance" in step.args]
    assert [step.args[step.args.index("--error-guidance") + 1] for step in guided] == ["none", "crops", "loss"][1:]
    assert [step.done_when[0].parent.name for step in guided] == ["stage2-correct-in_sample-guided_crops",
                                                                   "stage2-correct-in_sample-guided_loss"]
    assert sum(step.args[0] == "errors" for step in plan.steps) == 0  # fit already made the in-sample maps
