"""benchmarks/results_file.py: the results writer and the record helpers the scoring scripts share."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("results_file", REPO / "benchmarks" / "results_file.py")
results_file = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results_file)


def test_write_results_adds_command_date_and_machine(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "r.json"
    document = results_file.write_results(path, records=[{"a": 1}], date="2026-01-01")
    assert json.loads(path.read_text()) == document
    assert document["date"] == "2026-01-01" and document["records"] == [{"a": 1}]
    assert document["command"].startswith("python ") and "cores" in document["machine"]


def test_read_records_of_missing_and_existing_files(tmp_path: Path) -> None:
    assert results_file.read_records(tmp_path / "none.json") == []
    results_file.write_results(tmp_path / "r.json", records=[{"model": "m"}])
    assert results_file.read_records(tmp_path / "r.json") == [{"model": "m"}]


def test_upsert_replaces_only_the_record_with_the_same_key() -> None:
    records = [{"model": "a", "dataset": "drive", "f1": 0.1}, {"model": "a", "dataset": "stare", "f1": 0.2}]
    updated = results_file.upsert(records, {"model": "a", "dataset": "drive", "f1": 0.9}, "model", "dataset")
    assert updated == [{"model": "a", "dataset": "stare", "f1": 0.2}, {"model": "a", "dataset": "drive", "f1": 0.9}]
    added = results_file.upsert(records, {"model": "b", "dataset": "drive", "f1": 0.5}, "model", "dataset")
    assert len(added) == 3 and records[0]["f1"] == 0.1


def test_labelled_model() -> None:
    assert results_file.labelled_model("camera=runs/x/stage1.safetensors") == ("camera", "runs/x/stage1.safetensors")
    assert results_file.labelled_model("general") == ("general", "general")
