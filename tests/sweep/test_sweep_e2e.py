"""End to end: ``earnet sweep`` of real (tiny) training runs, stopped half-way and run again; ``earnet summarize``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def earnet(*args: str) -> list[str]:
    return [sys.executable, "-m", "earnet", *args]


@pytest.mark.slow
def test_sweep_killed_half_way_finishes_only_what_is_missing(tmp_path: Path) -> None:
    experiment = REPO / "experiments" / "synthetic-tiny.yaml"
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    sweep = subprocess.Popen(earnet("sweep", str(experiment), "--out", str(out), "--jobs", "2"), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finished = out / "correct-s0" / "test" / "stage2-correct" / "metrics.json"
    deadline = time.monotonic() + 300
    while not finished.is_file() and time.monotonic() < deadline and sweep.poll() is None:
        time.sleep(0.5)
    assert finished.is_file()
    sweep.send_signal(signal.SIGTERM)
    first, _ = sweep.communicate(timeout=60)
    assert sweep.returncode == 130 and "interrupted" in first
    dry = subprocess.run(earnet("sweep", str(experiment), "--out", str(out), "-n"), env=env, capture_output=True,
                         text=True, check=True).stdout
    statuses = {line.split()[1]: line.split()[2] for line in dry.splitlines() if line.startswith("# ") and "->" in line}
    assert statuses["correct-s0"] == "[done]" and statuses["paper-s1"] in ("[new]", "[partial]")
    done_before = [name for name, status in statuses.items() if status == "[done]"]

    second = subprocess.run(earnet("sweep", str(experiment), "--out", str(out), "--jobs", "2"), env=env,
                            capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    started = [line.split()[1] for line in second.stdout.splitlines() if line.split()[0] in ("start", "resume")]
    assert sorted(started + done_before) == ["correct-s0", "correct-s1", "paper-s0", "paper-s1"]
    for name in ("correct-s0", "correct-s1", "paper-s0", "paper-s1"):
        refinement = name.split("-")[0]
        assert (out / name / "test" / f"stage2-{refinement}" / "metrics.json").is_file()

    table = subprocess.run(earnet("summarize", str(out), "--metrics", "test_f1"), env=env, capture_output=True,
                           text=True, check=True).stdout
    rows = [line.split() for line in table.splitlines()[2:-1]]
    assert [row[:3] for row in rows] == [["correct", "stage1", "2"], ["correct", "stage2-correct", "2"],
                                         ["paper", "stage1", "2"], ["paper", "stage2-paper", "2"]]
    assert all(row[4] == "±" for row in rows)


TINY = ("{epochs: 1, samples_per_epoch: 16, batch_size: 4, crop: 64, val_count: 2, folds: 2, fold_epochs: 1, "
        "stage2_epochs: 1}")


@pytest.mark.slow
def test_variants_and_stage1_experiments_leave_test_metrics_of_every_stage(tmp_path: Path) -> None:
    from earnet.cli.main import main

    fit = tmp_path / "variants.yaml"
    fit.write_text(f"dataset: synthetic\nset: {TINY}\nvariants: [paper-in_sample]\n")
    stage1 = tmp_path / "stage1.yaml"
    stage1.write_text(f"dataset: synthetic\ncommand: stage1\nset: {TINY}\ngrid: {{lr: [0.003, 0.01]}}\n")
    assert main(["sweep", str(fit), "--out", str(tmp_path / "a"), "--jobs", "1"]) == 0
    assert main(["sweep", str(stage1), "--out", str(tmp_path / "b"), "--jobs", "2"]) == 0
    for stage in ("stage1", "stage2-correct", "stage2-paper-in_sample"):
        assert (tmp_path / "a" / "s0" / "test" / stage / "metrics.json").is_file()
    assert (tmp_path / "a" / "s0" / "errors-in_sample" / "errors.json").is_file()
    for name in ("lr0.003-s0", "lr0.01-s0"):
        assert (tmp_path / "b" / name / "test" / "stage1" / "metrics.json").is_file()
        assert not (tmp_path / "b" / name / "errors-oof").exists()
