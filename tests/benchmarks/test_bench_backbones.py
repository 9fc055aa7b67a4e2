"""benchmarks/bench_backbones.py: each backbone timed in two passes, with its parameter count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_backbones.py"


def test_each_backbone_gets_two_timings_and_its_parameter_count(tmp_path: Path) -> None:
    out = tmp_path / "backbones.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--backbones", "wnet", "wnet_deep", "--repeat", "1",
                           "--threads", "1", "--results", str(out)], capture_output=True, text=True, check=False,
                          cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stderr
    records = {r["backbone"]: r for r in json.loads(out.read_text())["records"]}
    assert set(records) == {"wnet", "wnet_deep"}
    assert records["wnet_deep"]["parameters"] > 4 * records["wnet"]["parameters"] - 10_000
    for record in records.values():
        assert len(record["seconds"]) == 2 and all(0 < s < 60 for s in record["seconds"])


def test_modes_time_each_backbone_in_each_precision_and_layout(tmp_path: Path) -> None:
    out = tmp_path / "modes.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--backbones", "wnet", "--modes", "fp32", "fp32-cl",
                           "--repeat", "1", "--threads", "1", "--results", str(out)], capture_output=True, text=True,
                          check=False, cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stderr
    records = json.loads(out.read_text())["records"]
    assert [(r["backbone"], r["mode"]) for r in records] == [("wnet", "fp32"), ("wnet", "fp32-cl")]
