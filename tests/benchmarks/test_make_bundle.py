"""benchmarks/make_bundle.py --bundle: a shipped bundle's default TTA changed without its run's checkpoints."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from earnet.bundle import read_bundle_metadata
from earnet.cli.main import main

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "make_bundle.py"
TINY = ["--epochs", "1", "--samples-per-epoch", "8", "--batch-size", "4", "--crop", "64", "--val-count", "2",
        "--no-progress", "--fov-diameter", "180"]


def test_bundle_keeps_its_weights_and_gets_a_flip_threshold_and_test_metrics(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(run), *TINY]) == 0
    source = tmp_path / "source.safetensors"
    assert main(["export", str(run), "--format", "bundle", "--out", str(source)]) == 0
    shutil.rmtree(run / "stage1")  # the run's weights are not needed, only its config and split
    out = tmp_path / "flipped.safetensors"
    done = subprocess.run([sys.executable, str(SCRIPT), str(run), "mine", "--bundle", str(source), "--tta", "flip",
                           "--out", str(out)], capture_output=True, text=True, check=False, cwd=SCRIPT.parent)
    assert done.returncode == 0, done.stderr
    before, after = load_file(source), load_file(out)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    meta = read_bundle_metadata(out)
    assert meta["tta"] == "flip" and 0 < meta["threshold"] <= 1 and 0 <= meta["tta_val_f1"] <= 1
    assert set(meta["test_metrics"]) >= {"f1", "auc_roc"} and "with --tta flip: threshold" in done.stdout
    assert json.loads((run / "split.json").read_text())["val"]  # chosen on these, not on test


def test_bundle_needs_the_run_folder(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "mine", "--bundle", "general", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, check=False, cwd=SCRIPT.parent)
    assert done.returncode != 0 and "--bundle needs the run folder" in done.stderr
    assert not (tmp_path / "x").exists()
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "mine", "--bundle", "general",
                           "--out", str(tmp_path / "x")], capture_output=True, text=True, check=False, cwd=SCRIPT.parent)
    assert done.returncode != 0 and "no config.yaml" in done.stderr and not (tmp_path / "x").exists()
