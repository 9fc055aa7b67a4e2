"""benchmarks/stage2_gain.py: gains paired with each run's own stage 1, and the longer-training control."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "stage2_gain.py"


def stage(run: Path, name: str, val_f1: float, test_f1: float) -> None:
    (run / name).mkdir(parents=True, exist_ok=True)
    (run / name / "stage.json").write_text(json.dumps({"best_val_f1": val_f1}))
    (run / "test" / name).mkdir(parents=True, exist_ok=True)
    (run / "test" / name / "metrics.json").write_text(json.dumps({"pooled": {"f1": test_f1, "auc_roc": 0.98}}))


def test_gains_are_paired_per_run_and_the_control_is_matched_by_name(tmp_path: Path) -> None:
    runs, control = tmp_path / "runs", tmp_path / "control"
    for seed, (s1, s2, longer) in enumerate([(0.80, 0.81, 0.805), (0.82, 0.83, 0.82), (0.78, 0.785, 0.79)]):
        stage(runs / f"s{seed}", "stage1", s1 - 0.01, s1)
        stage(runs / f"s{seed}", "stage2-correct-in_sample", s2 - 0.01, s2)
        stage(control / f"s{seed}", "stage1", longer - 0.01, longer)
    (runs / "untested").mkdir()  # no stage 1 metrics: skipped
    out = tmp_path / "gain.json"
    done = subprocess.run([sys.executable, str(SCRIPT), *map(str, sorted(runs.iterdir())), "--control-root",
                           str(control), "--results", str(out)], capture_output=True, text=True, check=False,
                          cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stderr
    gains = json.loads(out.read_text())["gains"]
    stage2 = gains["stage2-correct-in_sample"]["test_f1"]
    assert stage2["mean"] == pytest.approx((0.01 + 0.01 + 0.005) / 3) and stage2["n"] == 3 and stage2["positive"] == 3
    assert stage2["std"] == pytest.approx(0.0028868, abs=1e-6)
    longer = gains["control: stage 1 trained longer"]["val_f1"]
    assert longer["mean"] == pytest.approx((0.005 + 0.0 + 0.01) / 3) and longer["positive"] == 2
