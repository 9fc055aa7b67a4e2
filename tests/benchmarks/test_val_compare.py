"""benchmarks/val_compare.py: models scored on one run's validation images, never its test ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from earnet.cli.main import main

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "val_compare.py"
TINY = ["--epochs", "1", "--samples-per-epoch", "8", "--batch-size", "4", "--crop", "64", "--val-count", "2",
        "--no-progress", "--fov-diameter", "180"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("val_compare") / "run"
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(folder), *TINY]) == 0
    return folder


def compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False,
                          cwd=SCRIPT.parent)


def test_each_model_is_scored_on_the_runs_validation_images(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    done = compare("--run", str(run), "--model", f"mine={run}", "--model", "general", "--results", str(out))
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert document["images"] == json.loads((run / "split.json").read_text())["val"]
    mine, general = document["records"]
    assert (mine["model"], general["model"]) == ("mine", "general")
    assert 0 <= mine["f1"] <= 1 and 0.5 <= general["auc_roc"] <= 1 and mine["f1"] != general["f1"]
    assert "mine" in done.stdout and "general" in done.stdout


def test_a_source_without_validation_images_is_refused(run: Path, tmp_path: Path) -> None:
    done = compare("--run", str(run), "--model", "general", "--source", "stare_", "--results", str(tmp_path / "x.json"))
    assert done.returncode != 0 and "no validation images from stare_" in done.stderr
    assert not (tmp_path / "x.json").exists()
