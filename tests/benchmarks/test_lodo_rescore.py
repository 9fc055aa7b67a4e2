"""lodo_rescore.py: both thresholds of a multi-dataset run, and the unseen test split at each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA as DATA

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "lodo_rescore.py"


@pytest.mark.skipif(not all((DATA / d).is_dir() for d in ("DRIVE", "STARE", "CHASEDB1")),
                    reason="needs ../shared/data with DRIVE, STARE and CHASEDB1")
def test_a_tiny_drive_plus_stare_run_is_rescored_on_chase_db1(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train = [sys.executable, "-m", "earnet", "train", "--stage", "1", "--dataset", "drive+stare", "--root", str(DATA),
             "--out", str(run), "--epochs", "1", "--samples-per-epoch", "4", "--batch-size", "2", "--crop", "64", "--val-count", "2",
             "--fov-diameter", "200", "--no-progress"]
    subprocess.run(train, check=True, capture_output=True, timeout=900)
    results = tmp_path / "r.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--root", str(DATA), "--run", f"{run}:chase_db1",
                           "--results", str(results)], capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(results.read_text())["records"][0]
    assert record["unseen"] == "chase_db1" and 0 < record["balanced_threshold"] <= 1
    assert 0 <= record["balanced"]["f1"] <= 1 and 0 <= record["own"]["f1"] <= 1
