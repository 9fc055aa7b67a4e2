"""End-to-end tests of the ``earnet`` command line (through ``earnet.cli.main.main``)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeDataset, save, shared_dataset, truncate

from earnet import __version__
from earnet.cli.main import build_parser, main
from earnet.data.synthetic import SyntheticDataset


def one_error_line(capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    """The single stderr line of a user error; it must contain every fragment."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("earnet: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def all_commands() -> list[list[str]]:
    """Every command path of the parser: [], ["data"], ["data", "check"], ["evaluate"], ..."""
    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        found.append(path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])

    walk(build_parser(), [])
    return found


# --------------------------------------------------------------------------- help


def test_installed_console_script_help() -> None:
    script = Path(sys.executable).parent / "earnet"
    executable = str(script) if script.exists() else shutil.which("earnet")
    if executable is None:
        pytest.skip("the earnet console script is not installed")
    result = subprocess.run([executable, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: earnet")
    assert "evaluate" in result.stdout and "data" in result.stdout


def test_command_list_is_complete() -> None:
    names = [" ".join(path) for path in all_commands()]
    assert {"", "data", "data check", "data download", "data synth", "evaluate"} <= set(names)


@pytest.mark.parametrize("command", all_commands(), ids=lambda path: " ".join(path) or "earnet")
def test_every_help_exits_0(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: earnet{' ' if command else ''}{' '.join(command)}")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"earnet {__version__}"


# --------------------------------------------------------------------------- data


def test_synth_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "synth"
    assert main(["data", "synth", str(out), "--n", "6", "--size", "96"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 6 synthetic images to {out}"
    assert len(list((out / "train" / "images").iterdir())) == 4
    assert len(list((out / "test" / "labels").iterdir())) == 2
    assert main(["data", "check", "folder", "--root", str(out)]) == 0
    report = capsys.readouterr().out
    assert f"folder at {out}: 6 images (train 4, test 2)" in report
    assert "96x96 (6)" in report and "problems: none" in report


def test_check_broken_dataset_exits_1_and_lists_problems(drive: FakeDataset,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    drive.files["22_training"]["label"].unlink()
    truncate(drive.files["01_test"]["image"])
    save(np.zeros((30, 48), dtype=bool), drive.files["02_test"]["fov"], mode="L")
    assert main(["data", "check", "drive", "--root", str(drive.root)]) == 1
    out = capsys.readouterr().out
    assert "problems: 3" in out
    assert f"{drive.files['22_training']['image']}: missing label training/1st_manual/22_manual1.gif" in out
    assert f"{drive.files['01_test']['image']}: cannot read image" in out
    assert f"{drive.files['02_test']['fov']}: FOV mask is 48x30 but image 02_test.tif is 48x40" in out


def test_check_clean_fake_stare(stare: FakeDataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", "stare", "--root", str(stare.root)]) == 0
    assert "20 images (train 10, test 10)" in capsys.readouterr().out


# --------------------------------------------------------------------------- user errors


def test_missing_root_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["data", "check", "drive", "--root", str(missing)]) == 2
    one_error_line(capsys, str(missing), "folder not found")
    assert main(["evaluate", "chase_db1", "--root", str(missing), "--observer", "2"]) == 2
    one_error_line(capsys, str(missing))


def test_unknown_dataset_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", "messidor", "--root", str(tmp_path)]) == 2
    one_error_line(capsys, "unknown dataset 'messidor'", "drive, chase_db1, stare, hrf, folder, rite, synthetic")


def test_empty_predictions_folder_one_line(drive: FakeDataset, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", "drive", "--root", str(drive.root), "--predictions", str(empty),
                 "--out", str(tmp_path / "r")]) == 2
    one_error_line(capsys, str(empty), "no prediction for 01_test, 02_test, 03_test")
    assert not (tmp_path / "r").exists()


def test_output_path_is_a_file_one_line(drive: FakeDataset, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me")
    assert main(["evaluate", "drive", "--root", str(drive.root), "--observer", "2", "--out", str(taken)]) == 2
    one_error_line(capsys, str(taken), "not a folder")
    assert main(["data", "synth", str(taken), "--n", "2"]) == 2
    one_error_line(capsys, str(taken), "not a folder")
    assert main(["evaluate", "drive", "--root", str(drive.root), "--observer", "2",
                 "--out", str(taken / "sub")]) == 2  # a folder that cannot be created
    one_error_line(capsys, str(taken / "sub" / "metrics.json"), "cannot write")
    assert main(["data", "synth", str(taken / "sub"), "--n", "1", "--size", "64"]) == 2
    one_error_line(capsys, str(taken / "sub"), "cannot write")
    assert taken.read_text() == "keep me"


@pytest.mark.parametrize("value", ["1.5", "0", "-0.2", "abc", "nan"])
def test_bad_threshold_one_line(drive: FakeDataset, tmp_path: Path, value: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "drive", "--root", str(drive.root), "--observer", "2", "--threshold", value,
                 "--out", str(tmp_path / "r")]) == 2
    one_error_line(capsys, "--threshold", value)
    assert not (tmp_path / "r").exists()


def test_synth_too_small_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "synth", str(tmp_path / "s"), "--size", "32"]) == 2
    one_error_line(capsys, str(tmp_path / "s"), "--size 32")


def test_argparse_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "drive"])  # neither --predictions nor --observer
    assert exit_info.value.code == 2
    assert "one of the arguments --predictions --observer is required" in capsys.readouterr().err


# --------------------------------------------------------------------------- evaluate


def test_evaluate_synthetic_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    predictions = tmp_path / "pred"
    test = SyntheticDataset("test")
    for sample in test:
        save(sample.label, predictions / f"{sample.id}_prob.png")
    out = tmp_path / "report"
    assert main(["evaluate", "synthetic", "--predictions", str(predictions), "--out", str(out)]) == 0
    document = json.loads((out / "metrics.json").read_text())
    assert document["dataset"] == "synthetic" and document["split"] == "test"
    assert list(document["per_image"]) == [f"synth_{i:03d}" for i in range(20, 30)]
    assert document["pooled"]["f1"] == 1.0 and document["pooled"]["auc_roc"] == 1.0
    assert "synthetic / test: 10 images, inside FOV, threshold 0.5 (fixed)" in capsys.readouterr().out


def test_evaluate_observer2_on_fake_drive(drive: FakeDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "drive", "--root", str(drive.root), "--observer", "2"]) == 0
    out = tmp_path / "evaluation" / "drive-test-observer2"  # the default report folder
    document = json.loads((out / "metrics.json").read_text())
    tp = fp = fn = 0
    for sample_id, other in drive.observer2.items():
        fov, label = drive.fovs[sample_id], drive.labels[sample_id]
        tp += int((other & label & fov).sum())
        fp += int((other & ~label & fov).sum())
        fn += int((~other & label & fov).sum())
    assert document["pooled"]["se"] == pytest.approx(tp / (tp + fn), abs=1e-12)
    assert document["pooled"]["precision"] == pytest.approx(tp / (tp + fp), abs=1e-12)
    assert list(document["per_image"]) == ["01_test", "02_test", "03_test"]
    table = capsys.readouterr().out
    assert table.startswith("drive / test: 3 images, inside FOV, threshold 0.5 (fixed)")
    assert f"{document['pooled']['se']:.4f}" in table


def test_evaluate_observer2_on_train_split_one_line(drive: FakeDataset,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "drive", "--root", str(drive.root), "--observer", "2", "--split", "train"]) == 2
    one_error_line(capsys, "has no second observer")


@pytest.mark.data
def test_real_drive_second_observer(tmp_path: Path) -> None:
    root = shared_dataset("DRIVE")
    out = tmp_path / "report"
    assert main(["evaluate", "drive", "--root", str(root), "--observer", "2", "--out", str(out)]) == 0
    pooled = json.loads((out / "metrics.json").read_text())["pooled"]
    assert pooled["acc"] == pytest.approx(0.947, abs=0.002)
    assert pooled["se"] == pytest.approx(0.776, abs=0.002)
    assert pooled["sp"] == pytest.approx(0.972, abs=0.002)


def test_cli_starts_without_importing_torch() -> None:
    """``earnet --help`` and the commands that need no model start without torch (~1 s, not ~4 s)."""
    code = "import sys, earnet.cli.main; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
