"""The GPU session script runs end to end on a CPU in its smoke mode (tiny, synthetic)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_large.sh"


@pytest.mark.slow
def test_smoke_mode_trains_tests_and_packs_what_comes_back(tmp_path: Path) -> None:
    env = {**os.environ, "SMOKE": "1", "PYTHON": sys.executable, "RUNS": str(tmp_path / "runs"),
           "OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1", "THEN": "1:0.001"}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["records.tar.gz", "synthetic-s0.safetensors"]
    assert (tmp_path / "runs" / "synthetic-s0" / "test" / "stage1" / "metrics.json").is_file()
    # THEN continued the run from its weights; the continuation's weights are the ones sent back
    assert (tmp_path / "runs" / "synthetic-s0-then1" / "test" / "stage1" / "metrics.json").is_file()
    continued = (tmp_path / "runs" / "synthetic-s0-then1" / "stage1" / "model.safetensors").read_bytes()
    assert (tmp_path / "out" / "synthetic-s0.safetensors").read_bytes() == continued
