"""End-to-end: fit / train / errors / predict / evaluate on tiny synthetic runs; DDP; resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from earnet.cli.main import main

TINY = ["--epochs", "1", "--samples-per-epoch", "16", "--batch-size", "4", "--crop", "64", "--val-count", "2",
        "--folds", "2", "--fold-epochs", "1", "--stage2-epochs", "1", "--no-progress"]
REPO = Path(__file__).resolve().parents[2]


def test_fit_synthetic_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    # trained at a common scale (FOV 180 px wide), evaluated at the images' own size
    assert main(["fit", "synthetic", "--out", str(run), *TINY, "--fov-diameter", "180"]) == 0
    printed = capsys.readouterr().out
    assert "[stage1]" in printed and "[stage2-correct]" in printed
    for stage in ("stage1", "stage2-correct"):
        metrics = json.loads((run / "test" / stage / "metrics.json").read_text())
        assert metrics["dataset"] == "synthetic" and metrics["split"] == "test"
        assert len(metrics["per_image"]) == 10 and 0 <= metrics["pooled"]["f1"] <= 1
        assert (run / stage / "model.safetensors").is_file() and (run / stage / "threshold.json").is_file()
        assert (run / stage / "logs" / "metrics.csv").is_file()
    images = run / "test" / "stage2-correct" / "images"
    for suffix in ("prob", "mask", "overlay", "errors", "attention"):
        assert (images / f"synth_020_{suffix}.png").is_file()
    # chosen on the full-size validation maps, where it is applied; the working-scale one is kept for error maps
    recorded = json.loads((run / "stage1" / "threshold.json").read_text())
    assert recorded["chosen_on"] == "validation split, full size" and 0 <= recorded["working_threshold"] <= 1
    errors = json.loads((run / "errors-oof" / "errors.json").read_text())
    assert errors["mode"] == "out_of_fold" and len(errors["error_fraction_in_fov"]) == 18
    assert (run / "config.yaml").is_file() and (run / "revision.txt").is_file()

    # The same run, one step at a time: the paper's refinement on in-sample error maps.
    assert main(["errors", str(run), "--in-sample", "--no-progress"]) == 0
    assert main(["train", "--stage", "2", "--out", str(run), "--refinement", "paper", "--in-sample",
                 "--no-progress"]) == 0
    assert (run / "stage2-paper-in_sample" / "model.safetensors").is_file()
    # earnet's error-guided variant trains into its own folder next to the plain one
    assert main(["train", "--stage", "2", "--out", str(run), "--in-sample", "true", "--error-guidance", "crops",
                 "--no-progress"]) == 0
    assert (run / "stage2-correct-in_sample-guided_crops" / "model.safetensors").is_file()
    preds = tmp_path / "preds"
    assert main(["predict", str(run), "synthetic", "--out", str(preds), "--stage", "stage2-paper-in_sample"]) == 0
    assert len(list(preds.glob("*_prob.png"))) == 10
    assert main(["evaluate", "synthetic", "--predictions", str(preds), "--out", str(tmp_path / "ev")]) == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["split"] == "test"


def test_bad_training_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(run), *TINY]) == 0
    capsys.readouterr()
    # stage 2 without error maps
    assert main(["train", "--stage", "2", "--out", str(run), "--no-progress"]) == 2
    assert "earnet errors" in capsys.readouterr().err
    assert not (run / "stage2-correct" / "model.safetensors").exists()
    # a stage-2 flag the run's saved configuration would silently override
    for flag in (["--stage2-epochs", "10"], ["--lr", "0.1"], ["--config", str(run / "config.yaml")]):
        assert main(["train", "--stage", "2", "--out", str(run), "--no-progress", *flag]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(run / "config.yaml") in err[0] and f"{flag[0]} is not applied" in err[0]
        assert not (run / "stage2-correct").exists()
    # an existing run without --resume, and --resume with a different config
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(run), *TINY]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(run), *TINY, "--resume",
                 "--lr", "0.5"]) == 2
    assert "lr" in capsys.readouterr().err.splitlines()[0]
    # a config file with an unknown key; a dataset root that fails
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 1\nlearning_rate: 3\n")
    assert main(["fit", "synthetic", "--out", str(tmp_path / "r2"), "--config", str(config)]) == 2
    assert "c.yaml" in capsys.readouterr().err
    assert main(["fit", "drive", "--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r3"), *TINY]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()


def test_fit_refuses_a_dataset_that_fails_the_check(drive, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    label = next(drive.root.glob("training/1st_manual/*"))
    label.unlink()
    assert main(["fit", "drive", "--root", str(drive.root), "--out", str(tmp_path / "run"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "dataset check failed" in err and "missing label" in err
    assert not (tmp_path / "run").exists()


def _earnet(*args: str) -> list[str]:
    return [sys.executable, "-m", "earnet.cli.main", *args]


def test_killed_training_resumes_from_last_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["train", "--stage", "1", "--dataset", "synthetic", "--out", str(run), "--epochs", "6",
            "--samples-per-epoch", "64", "--batch-size", "4", "--crop", "64", "--val-count", "2", "--no-progress"]
    process = subprocess.Popen(_earnet(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path,
                               start_new_session=True)
    last = run / "stage1" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert last.exists(), "no checkpoint was written before the kill"
    assert not (run / "stage1" / "model.safetensors").exists(), "training finished before it could be killed"
    saved_epoch = torch.load(last, map_location="cpu", weights_only=True)["epoch"]
    resumed = subprocess.run(_earnet(*args, "--resume"), capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"after epoch {saved_epoch + 1} of 6" in resumed.stdout
    # last.ckpt is the latest epoch, whether or not validation improved (session 6: Lightning's
    # save_last only followed improvements, so a run could end with last.ckpt behind)
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 5
    assert (run / "stage1" / "model.safetensors").is_file()


def test_ddp_two_processes_end_with_identical_weights(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, str(REPO / "tests" / "scripts" / "ddp_two_steps.py"), str(tmp_path)],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0["steps"] == rank1["steps"] == 2
    assert not torch.equal(rank0["first_batch"], rank1["first_batch"]), "both ranks trained on the same crops"
    for name, value in rank0["state"].items():
        torch.testing.assert_close(value, rank1["state"][name], msg=f"{name} differs between ranks")


def _parameters(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(path)).items() if "running_" not in k and "num_batches" not in k}


def test_stage1_starts_from_init_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--init: a run folder's stage 1, a bundle or a stage file; with a vanishing learning rate the
    trained weights are the initial ones (batch-norm statistics aside)."""
    first = tmp_path / "first"
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(first), *TINY]) == 0
    start = _parameters(first / "stage1" / "model.safetensors")
    for source in (first, first / "stage1" / "model.safetensors"):
        tuned = tmp_path / f"tuned-{source.name}"
        assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(tuned), *TINY,
                     "--init", str(source), "--lr", "1e-12"]) == 0
        end = _parameters(tuned / "stage1" / "model.safetensors")
        assert end.keys() == start.keys()
        for name in start:
            torch.testing.assert_close(end[name], start[name], atol=1e-6, rtol=0)
    from earnet.inference.loader import load_trained_model

    bundled = {k: v for k, v in load_trained_model("general").stage1.state_dict().items() if "running_" not in k
               and "num_batches" not in k}
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(tmp_path / "from-general"), *TINY,
                 "--init", "general", "--lr", "1e-12"]) == 0
    end = _parameters(tmp_path / "from-general" / "stage1" / "model.safetensors")
    assert all(torch.allclose(end[name], bundled[name].float(), atol=1e-6) for name in bundled)
    # no --backbone: the run takes the bundle's (general is not the default wnet)
    from earnet.bundle import read_bundle_metadata, resolve
    from earnet.engine.run import Run

    assert Run(tmp_path / "from-general").config().backbone == read_bundle_metadata(resolve("general"))["backbone"]
    # an explicit --backbone that does not fit is refused in one line, before the run exists
    capsys.readouterr()
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(tmp_path / "misfit"), *TINY,
                 "--init", "general", "--backbone", "hrnet_w18_small_ocr_mscale"]) == 2
    assert "does not have the layers of backbone" in capsys.readouterr().err
    assert not (tmp_path / "misfit").exists()


def test_bad_init_is_one_line_and_creates_no_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wide = tmp_path / "wide"
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(wide), *TINY,
                 "--backbone", "wnet_wide"]) == 0
    assert main(["errors", str(wide), "--in-sample", "--no-progress"]) == 0
    assert main(["train", "--stage", "2", "--out", str(wide), "--in-sample", "true", "--no-progress"]) == 0
    capsys.readouterr()
    cases = [(wide, "does not have the layers of backbone 'wnet'", ["--backbone", "wnet"]),
             (tmp_path / "missing.safetensors", "missing.safetensors", []),
             (wide / "stage2-correct-in_sample" / "model.safetensors", "is a stage-2 model", [])]
    for source, problem, extra in cases:
        out = tmp_path / "never"
        assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(out), *TINY,
                     "--init", str(source), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and problem in err[0] and str(source) in err[0], err
        assert not out.exists()

