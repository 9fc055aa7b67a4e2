"""benchmarks/bench_segment.py --merge: re-measured rows replace their own, the others stay."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_segment.py"


def _module():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("bench_segment", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(model: str, tta: str, seconds: float) -> dict:
    return {"model": model, "tta": tta, "input": "565x584", "seconds_per_image": seconds}


def test_merge_replaces_only_the_rows_measured_again() -> None:
    old = {"command": "first", "rows": [_row("general", "none", 0.09), _row("drive", "none", 0.2)],
           "breakdown": {"model": "drive"}}
    merged = _module().merge_rows(old, [_row("general", "none", 0.11), _row("general", "flip", 0.4)], None,
                                  "second", "2026-11-30")
    rows = {(r["model"], r["tta"]): r["seconds_per_image"] for r in merged["rows"]}
    assert rows == {("general", "none"): 0.11, ("drive", "none"): 0.2, ("general", "flip"): 0.4}
    assert merged["command"] == "first" and merged["breakdown"] == {"model": "drive"}
    assert merged["updated"] == [{"date": "2026-11-30", "command": "second",
                                  "rows": "re-measured: general flip 565x584, general none 565x584"}]
