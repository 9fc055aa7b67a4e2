"""``earnet summarize``: reading run folders, grouping over seeds (mean ± sample std), sorting, formats."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
import yaml

from earnet.cli.main import main
from earnet.sweep.summary import find_runs, read_run, render, summarize, swept_keys

# (refinement, seed) -> (stage-1 test F1, stage-2 test F1, stage-2 validation F1)
RESULTS = {("correct", 0): (0.80, 0.82, 0.70), ("correct", 1): (0.81, 0.83, 0.72), ("correct", 2): (0.79, 0.87, 0.77),
           ("paper", 0): (0.80, 0.78, 0.60), ("paper", 1): (0.81, 0.79, 0.61)}


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def fake_run(root: Path, refinement: str, seed: int) -> Path:
    """A run folder as ``earnet fit`` leaves it (only the files summarize reads)."""
    run = root / f"{refinement}-s{seed}"
    run.mkdir(parents=True)
    config = {"dataset": "synthetic", "root": str(root / f"data{seed}"), "epochs": 3, "refinement": refinement,
              "seed": seed, "in_sample": False}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    stage1_f1, stage2_f1, stage2_val = RESULTS[(refinement, seed)]
    write_json(run / "stage1" / "stage.json", {"best_val_f1": 0.5, "train_seconds": 60.0, "parameters": 1000})
    write_json(run / "errors-oof" / "folds" / "fold0" / "stage.json", {"best_val_f1": 0.4, "train_seconds": 30.0,
                                                                       "parameters": 1000})
    write_json(run / f"stage2-{refinement}" / "stage.json",
               {"best_val_f1": stage2_val, "train_seconds": 90.0, "parameters": 2000})
    for stage, f1 in (("stage1", stage1_f1), (f"stage2-{refinement}", stage2_f1)):
        write_json(run / "test" / stage / "metrics.json",
                   {"pooled": {"f1": f1, "auc_roc": 0.9, "se": 0.8, "sp": 0.95},
                    "mean": {"f1": f1 - 0.01, "auc_roc": 0.9}})
    return run


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    for refinement, seed in RESULTS:
        fake_run(tmp_path / "runs", refinement, seed)
    (tmp_path / "runs" / "logs").mkdir()
    return tmp_path / "runs"


def test_grouping_is_mean_and_sample_std_over_seeds(runs: Path) -> None:
    records = [r for path in find_runs([runs]) for r in read_run(path)]
    assert len(records) == 10
    assert swept_keys(records) == ["refinement"]  # seed and root differ too but are never settings
    table = summarize(records, ["val_f1", "test_f1", "test_f1_mean", "train_min", "params"])
    assert table.columns == ["refinement", "stage", "runs", "val_f1", "test_f1", "test_f1_mean", "train_min", "params"]
    rows = {(row["refinement"], row["stage"]): row for row in table.rows}
    correct = rows[("correct", "stage2-correct")]
    assert correct["runs"] == 3 and correct["test_f1"].n == 3
    assert correct["test_f1"].mean == pytest.approx((0.82 + 0.83 + 0.87) / 3)
    mean = (0.82 + 0.83 + 0.87) / 3
    sample_std = math.sqrt(sum((x - mean) ** 2 for x in (0.82, 0.83, 0.87)) / 2)
    assert correct["test_f1"].std == pytest.approx(sample_std)  # n - 1, not n
    assert correct["val_f1"].mean == pytest.approx(0.73)
    assert correct["test_f1_mean"].mean == pytest.approx(mean - 0.01)
    # a refiner's training time includes stage 1 and the out-of-fold models; its size, stage 1's
    assert correct["train_min"].mean == pytest.approx((90 + 60 + 30) / 60) and correct["params"].mean == 3000
    paper = rows[("paper", "stage2-paper")]
    assert paper["runs"] == 2 and paper["test_f1"].std == pytest.approx(math.sqrt(0.01**2 / 2))
    assert rows[("paper", "stage1")]["train_min"].mean == pytest.approx(1.0)


def test_gain_is_paired_with_the_same_runs_stage1(runs: Path) -> None:
    records = [r for path in find_runs([runs]) for r in read_run(path)]
    table = summarize(records, ["test_f1", "test_f1_gain", "val_f1_gain"])
    rows = {(row["refinement"], row["stage"]): row for row in table.rows}
    gains = [RESULTS[("correct", seed)][1] - RESULTS[("correct", seed)][0] for seed in (0, 1, 2)]  # .02 .02 .08
    gain = rows[("correct", "stage2-correct")]["test_f1_gain"]
    assert gain.n == 3 and gain.mean == pytest.approx(sum(gains) / 3)
    assert gain.std == pytest.approx(math.sqrt(sum((g - 0.04) ** 2 for g in gains) / 2))
    assert rows[("paper", "stage2-paper")]["test_f1_gain"].mean == pytest.approx(-0.02)
    assert rows[("correct", "stage2-correct")]["val_f1_gain"].mean == pytest.approx(0.73 - 0.5)
    assert rows[("correct", "stage1")]["test_f1_gain"] is None  # stage 1 has nothing to be paired with


def test_single_runs_have_no_std_and_ungrouped_rows_show_the_seed(runs: Path) -> None:
    records = read_run(runs / "paper-s0")
    table = summarize(records, ["test_f1"])
    assert all(row["test_f1"].n == 1 and math.isnan(row["test_f1"].std) for row in table.rows)
    assert "±" not in render(table).splitlines()[2]
    ungrouped = summarize([r for p in find_runs([runs]) for r in read_run(p)], ["test_f1"], group=False)
    assert ungrouped.columns == ["run", "refinement", "stage", "seed", "runs", "test_f1"]
    assert len(ungrouped.rows) == 10 and {row["runs"] for row in ungrouped.rows} == {1}


def test_sorting_by_a_metric_or_a_setting(runs: Path) -> None:
    records = [r for path in find_runs([runs]) for r in read_run(path)]
    by_f1 = summarize(records, ["test_f1"], sort="test_f1", descending=True)
    assert [row["stage"] for row in by_f1.rows][:2] == ["stage2-correct", "stage1"]
    assert [round(row["test_f1"].mean, 4) for row in by_f1.rows] == sorted(
        (round(row["test_f1"].mean, 4) for row in by_f1.rows), reverse=True)
    by_stage = summarize(records, ["test_f1"], sort="stage")
    assert [row["stage"] for row in by_stage.rows] == ["stage1", "stage1", "stage2-correct", "stage2-paper"]
    with pytest.raises(ValueError, match="cannot sort by 'nope'"):
        summarize(records, sort="nope")
    with pytest.raises(ValueError, match="cannot group by 'colour'"):
        summarize(records, by=["colour"])
    by_epochs = summarize(records, ["test_f1"], by=["epochs"])  # every run and seed of a stage together
    assert [(row["stage"], row["runs"]) for row in by_epochs.rows] == [
        ("stage1", 5), ("stage2-correct", 3), ("stage2-paper", 2)]
    with pytest.raises(ValueError, match="unknown metric 'test_wow'"):
        summarize(records, ["test_wow"])


def test_formats(runs: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["summarize", str(runs), "--metrics", "test_f1,val_f1", "--sort", "test_f1", "--descending"]) == 0
    text = capsys.readouterr().out
    assert "0.8400 ± 0.0265" in text and "sample std (n − 1)" in text  # stage2-correct over 3 seeds
    assert main(["summarize", str(runs), "--metrics", "params,train_min"]) == 0
    assert "3,000  " in capsys.readouterr().out  # equal counts: no "± 0"
    assert main(["summarize", str(runs), "--metrics", "test_f1", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0].keys() == {"refinement", "stage", "runs", "test_f1", "test_f1_std"}
    correct = next(r for r in rows if r["stage"] == "stage2-correct")
    assert float(correct["test_f1"]) == pytest.approx(0.84) and float(correct["test_f1_std"]) == pytest.approx(
        0.026457513, abs=1e-6)
    assert main(["summarize", str(runs / "correct-s0"), str(runs / "paper-s0"), "--format", "markdown",
                 "--metrics", "test_f1", "--stage", "stage1"]) == 0
    markdown = capsys.readouterr().out.splitlines()
    assert markdown[0] == "| refinement | stage | runs | test_f1 |" and markdown[1] == "|---|---|---|---|"
    assert markdown[2] == "| correct | stage1 | 1 | 0.8000 |"
    out = tmp_path / "table.json"
    assert main(["summarize", str(runs), "--format", "json", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["std"] == "sample (n - 1)" and len(document["rows"]) == 4
    assert document["rows"][0]["test_f1"]["n"] in (2, 3)


def test_bad_inputs_exit_2(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summarize", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such run folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["summarize", str(tmp_path / "empty")]) == 2
    assert "holds no earnet run" in capsys.readouterr().err
    assert main(["summarize", str(runs), "--sort", "f2"]) == 2
    assert "cannot sort by 'f2'" in capsys.readouterr().err
    (runs / "paper-s1" / "test" / "stage1" / "metrics.json").write_text("{broken")
    assert main(["summarize", str(runs)]) == 2
    assert "metrics.json: not valid JSON" in capsys.readouterr().err
