"""Resuming depends only on the run folder: copies, moves, finished stages, history, damage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from earnet.cli.main import main
from earnet.model_file import load_model

TINY = ["--epochs", "2", "--samples-per-epoch", "4", "--batch-size", "4", "--crop", "64", "--val-count", "2",
        "--no-progress"]


def _train(out: Path, *extra: str) -> int:
    return main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(out), *TINY, *extra])


def _strict_json(path: Path) -> dict:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def _unexport(stage: Path) -> None:
    """The state of a stage killed after its last epoch, before the export."""
    for name in ("model.safetensors", "stage.json", "threshold.json"):
        (stage / name).unlink()


def _rows(csv: Path) -> int:
    return len(csv.read_text().splitlines()) - 1


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("resume") / "original"
    assert _train(run) == 0
    return run


def test_a_copied_or_moved_run_resumes_from_its_own_checkpoints(finished: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    _unexport(copy / "stage1")
    before = _strict_json(finished / "stage1" / "stage.json")
    rows = _rows(copy / "stage1" / "logs" / "metrics.csv")
    last = torch.load(copy / "stage1" / "checkpoints" / "last.ckpt", weights_only=True)
    checkpointed = next(state["seconds"] for key, state in last["callbacks"].items() if "TrainClock" in key)
    # the original's best checkpoint now holds other weights: the copy must not read it
    original_best = finished / "stage1" / "checkpoints" / "best.ckpt"
    saved = original_best.read_bytes()
    data = torch.load(original_best, weights_only=True)
    data["state_dict"] = {k: torch.zeros_like(v) for k, v in data["state_dict"].items()}
    torch.save(data, original_best)
    try:
        assert _train(copy, "--resume") == 0
    finally:
        original_best.write_bytes(saved)
    info = _strict_json(copy / "stage1" / "stage.json")
    assert info["best_val_f1"] == pytest.approx(before["best_val_f1"])
    # the clock resumes from the seconds stored in the checkpoint (the original's export came
    # after it, so the original's own total may be a little larger)
    assert info["train_seconds"] >= checkpointed > 0, "training time must add up, not restart"
    best = torch.load(copy / "stage1" / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    exported = load_model(copy / "stage1" / "model.safetensors").state_dict()
    for name, value in exported.items():
        assert torch.equal(value, best[f"model.{name}"].float()), name
    assert _rows(copy / "stage1" / "logs" / "metrics.csv") >= rows, "resume must keep the CSV history"

    moved = tmp_path / "moved"
    copy.rename(moved)
    _unexport(moved / "stage1")
    assert _train(moved, "--resume") == 0
    assert _strict_json(moved / "stage1" / "stage.json")["best_val_f1"] == pytest.approx(before["best_val_f1"])


def test_a_finished_stage_is_not_reentered(finished: Path) -> None:
    stage = finished / "stage1"
    files = {name: (stage / name).read_bytes() for name in ("stage.json", "model.safetensors", "logs/metrics.csv")}
    assert _train(finished, "--resume") == 0
    for name, content in files.items():
        assert (stage / name).read_bytes() == content, f"{name} was rewritten"


def test_a_corrupt_checkpoint_is_one_line(finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    _unexport(copy / "stage1")
    (copy / "stage1" / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    capsys.readouterr()
    assert _train(copy, "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "last.ckpt" in err[0] and err[0].startswith("earnet: error:")
