"""Tests for earnet.evaluate (and the evaluate command's protocol) on the fake DRIVE."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeDataset, save
from PIL import Image

from earnet import get_dataset
from earnet.cli.main import main
from earnet.evaluate import (
    EvaluationResult,
    evaluate,
    folder_predictor,
    index_predictions,
    observer2_predictor,
    write_report,
)
from earnet.exceptions import EarnetError, InputError
from earnet.thresholds import best_f1_over

METRICS = ["acc", "se", "sp", "precision", "f1", "iou", "mcc", "auc_roc", "auc_pr", "cldice"]
TEST_IDS = ["01_test", "02_test", "03_test"]
TRAIN_IDS = ["21_training", "22_training", "23_training"]


def noisy(fake: FakeDataset, sample_id: str, seed: int = 0) -> np.ndarray:
    """Probabilities on the 8-bit grid (k/255): vessels mostly high, background mostly low."""
    rng = np.random.default_rng(seed + int(sample_id[:2]))
    label = fake.labels[sample_id]
    probability = np.where(label, rng.uniform(0.3, 1, label.shape), rng.uniform(0, 0.65, label.shape))
    return np.round(probability * 255) / 255


def write(folder: Path, sample_id: str, probability: np.ndarray, fmt: str) -> Path:
    """Save a prediction as ``png8``, ``png16``, ``prob`` (8-bit ``<id>_prob.png``) or ``npy``."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "npy":
        path = folder / f"{sample_id}.npy"
        np.save(path, probability.astype(np.float32))
        return path
    if fmt == "png16":
        path = folder / f"{sample_id}.png"
        Image.fromarray(np.round(probability * 65535).astype(np.uint16)).save(path)
        return path
    name = f"{sample_id}_prob.png" if fmt == "prob" else f"{sample_id}.png"
    return save(np.round(probability * 255).astype(np.uint8), folder / name)


def expected_pooled(fake: FakeDataset, predictions: dict[str, np.ndarray], threshold: float,
                    use_fov: bool = True) -> dict[str, float]:
    """acc/se/sp/precision/f1 computed directly from the arrays the fixture wrote."""
    tp = fp = fn = tn = 0
    for sample_id, probability in predictions.items():
        mask = fake.fovs[sample_id] if use_fov else np.ones_like(fake.fovs[sample_id])
        predicted, label = (probability >= threshold)[mask], fake.labels[sample_id][mask]
        tp += int((predicted & label).sum())
        fp += int((predicted & ~label).sum())
        fn += int((~predicted & label).sum())
        tn += int((~predicted & ~label).sum())
    return {"acc": (tp + tn) / (tp + fp + fn + tn), "se": tp / (tp + fn), "sp": tn / (tn + fp),
            "precision": tp / (tp + fp), "f1": 2 * tp / (2 * tp + fp + fn)}


def run_evaluate(*args: str) -> int:
    return main(["evaluate", *args])


# --------------------------------------------------------------------------- scores


def test_perfect_predictions(drive: FakeDataset, tmp_path: Path) -> None:
    for sample_id in TEST_IDS:
        save(drive.labels[sample_id], tmp_path / "pred" / f"{sample_id}.png")
    dataset = get_dataset("drive", drive.root, "test")
    result = evaluate(dataset, folder_predictor(dataset, tmp_path / "pred"), 0.5)
    assert result.pooled == {name: 1.0 for name in METRICS}
    assert list(result.per_image) == TEST_IDS
    for scores in result.per_image.values():
        assert scores == {name: 1.0 for name in METRICS}
    assert result.std["acc"] == 0.0


@pytest.mark.parametrize("fmt", ["png8", "png16", "prob"])
def test_prediction_formats_agree_with_npy(drive: FakeDataset, tmp_path: Path, fmt: str) -> None:
    dataset = get_dataset("drive", drive.root, "test")
    predictions = {i: noisy(drive, i) for i in TEST_IDS}
    for sample_id, probability in predictions.items():
        write(tmp_path / "npy", sample_id, probability, "npy")
        write(tmp_path / fmt, sample_id, probability, fmt)
    reference = evaluate(dataset, folder_predictor(dataset, tmp_path / "npy"), 0.5)
    result = evaluate(dataset, folder_predictor(dataset, tmp_path / fmt), 0.5)
    expected = expected_pooled(drive, predictions, 0.5)
    for name, value in expected.items():
        assert reference.pooled[name] == pytest.approx(value, abs=1e-12), name
    assert 0.6 < expected["se"] < 0.95 and 0.6 < expected["sp"] < 0.95  # a non-trivial case
    for name in METRICS:
        assert result.pooled[name] == pytest.approx(reference.pooled[name], abs=1e-6), name
        assert result.mean[name] == pytest.approx(reference.mean[name], abs=1e-6), name
    assert 0.8 < reference.pooled["auc_roc"] < 1


def test_missing_predictions_list_ids_and_write_nothing(drive: FakeDataset, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "pred", "02_test", noisy(drive, "02_test"), "png8")
    dataset = get_dataset("drive", drive.root, "test")
    with pytest.raises(InputError, match="no prediction for 01_test, 03_test") as error:
        folder_predictor(dataset, tmp_path / "pred")
    assert error.value.path == tmp_path / "pred"
    out = tmp_path / "report"
    assert run_evaluate("drive", "--root", str(drive.root), "--predictions", str(tmp_path / "pred"),
                        "--out", str(out)) == 2
    assert "01_test, 03_test" in capsys.readouterr().err
    assert not out.exists()


def test_many_missing_predictions_are_summarised(tmp_path: Path, stare: FakeDataset) -> None:
    (tmp_path / "pred").mkdir()
    dataset = get_dataset("stare", stare.root, "all")
    with pytest.raises(InputError, match="no prediction for im0001, im0002, im0003, im0004, im0005 and 15 more"):
        folder_predictor(dataset, tmp_path / "pred")


def test_prediction_size_mismatch_names_file(drive: FakeDataset, tmp_path: Path) -> None:
    for sample_id in TEST_IDS:
        write(tmp_path / "pred", sample_id, noisy(drive, sample_id), "png8")
    wrong = write(tmp_path / "pred", "02_test", np.zeros((40, 50)), "png8")
    dataset = get_dataset("drive", drive.root, "test")
    with pytest.raises(InputError, match="prediction is 50x40 but image 02_test is 48x40") as error:
        evaluate(dataset, folder_predictor(dataset, tmp_path / "pred"), 0.5)
    assert error.value.path == wrong
    out = tmp_path / "report"
    assert run_evaluate("drive", "--root", str(drive.root), "--predictions", str(tmp_path / "pred"),
                        "--out", str(out)) == 2
    assert not out.exists()


def test_two_predictions_for_one_id(drive: FakeDataset, tmp_path: Path) -> None:
    write(tmp_path / "pred", "01_test", noisy(drive, "01_test"), "png8")
    write(tmp_path / "pred", "01_test", noisy(drive, "01_test"), "npy")
    with pytest.raises(InputError, match="second prediction for 01_test") as error:
        index_predictions(tmp_path / "pred")
    assert {error.value.path.name, str(error.value).rsplit("also ", 1)[1]} == {"01_test.png", "01_test.npy)"}


def test_missing_predictions_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="predictions folder not found") as error:
        index_predictions(tmp_path / "nope")
    assert error.value.path == tmp_path / "nope"


def test_observer2_only_where_present(drive: FakeDataset) -> None:
    with pytest.raises(EarnetError, match="drive train split has no second observer"):
        observer2_predictor(get_dataset("drive", drive.root, "train"))
    test = get_dataset("drive", drive.root, "test")
    result = evaluate(test, observer2_predictor(test), 0.5)
    labels = {i: drive.observer2[i].astype(float) for i in TEST_IDS}
    for name, value in expected_pooled(drive, labels, 0.5).items():
        assert result.pooled[name] == pytest.approx(value, abs=1e-12), name
    assert result.pooled["se"] == pytest.approx(0.8, abs=0.02)  # the fixture drops 1/5 of the vessels


# --------------------------------------------------------------------------- threshold train-f1 ('auto')


def write_threshold_case(drive: FakeDataset, folder: Path) -> None:
    """Train: vessels in [0.3, 0.9], background in [0, 0.2] -> the best train threshold is 0.3.
    Test: vessels 0.4, background 0.1 -> perfect at 0.3, no vessel found at 0.5."""
    rng = np.random.default_rng(5)
    for sample_id in TRAIN_IDS:
        label = drive.labels[sample_id]
        probability = np.where(label, rng.uniform(0.31, 0.9, label.shape), rng.uniform(0, 0.2, label.shape))
        probability[np.argwhere(label)[0][0], np.argwhere(label)[0][1]] = 0.3
        write(folder, sample_id, probability, "npy")
    for sample_id in TEST_IDS:
        write(folder, sample_id, np.where(drive.labels[sample_id], 0.4, 0.1), "npy")


def test_choose_threshold_on_train(drive: FakeDataset, tmp_path: Path) -> None:
    write_threshold_case(drive, tmp_path / "pred")
    train = get_dataset("drive", drive.root, "train")
    threshold = best_f1_over(train, folder_predictor(train, tmp_path / "pred"))
    assert threshold == pytest.approx(0.3, abs=1e-6)


def test_threshold_auto_uses_train_predictions(drive: FakeDataset, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    write_threshold_case(drive, tmp_path / "pred")
    out = tmp_path / "report"
    assert run_evaluate("drive", "--root", str(drive.root), "--predictions", str(tmp_path / "pred"),
                        "--threshold", "train-f1", "--out", str(out)) == 0
    document = json.loads((out / "metrics.json").read_text())
    assert document["split"] == "test"
    assert document["protocol"]["threshold"] == pytest.approx(0.3, abs=1e-6)
    assert document["protocol"]["threshold_source"] == "train-f1: max pooled F1 on train predictions"
    assert document["pooled"]["se"] == 1.0 and document["pooled"]["sp"] == 1.0
    assert "threshold 0.3 (train-f1" in capsys.readouterr().out
    fixed = tmp_path / "fixed"
    assert run_evaluate("drive", "--root", str(drive.root), "--predictions", str(tmp_path / "pred"),
                        "--out", str(fixed)) == 0
    assert json.loads((fixed / "metrics.json").read_text())["pooled"]["se"] == 0.0


def test_threshold_comes_from_the_predictions_manifest(drive: FakeDataset, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from earnet.manifest import write_manifest

    predictions = tmp_path / "pred"
    for sample_id in TEST_IDS:
        write(predictions, sample_id, noisy(drive, sample_id), "npy")
    write_manifest(predictions, 0.7, {"model": "drive"}, TEST_IDS)
    out = tmp_path / "report"
    assert run_evaluate("drive", "--root", str(drive.root), "--predictions", str(predictions), "--out", str(out)) == 0
    protocol = json.loads((out / "metrics.json").read_text())["protocol"]
    assert protocol["threshold"] == 0.7 and "predictions.json" in protocol["threshold_source"]
    assert "threshold 0.7 (the model's" in capsys.readouterr().out
    assert run_evaluate("drive", "--root", str(drive.root), "--predictions", str(predictions), "--out", str(out),
                        "--threshold", "0.4") == 0
    assert json.loads((out / "metrics.json").read_text())["protocol"]["threshold"] == 0.4
    (predictions / "predictions.json").write_text('{"format": "earnet-predictions/1", "threshold": 7}')
    assert run_evaluate("drive", "--root", str(drive.root), "--predictions", str(predictions), "--out", str(out)) == 2
    assert "predictions.json" in capsys.readouterr().err


def test_manifest_keeps_images_of_the_same_model_only(tmp_path: Path) -> None:
    from earnet.manifest import read_manifest, write_manifest

    assert read_manifest(tmp_path) is None
    write_manifest(tmp_path, 0.4, {"model": "drive"}, ["b", "a"])
    write_manifest(tmp_path, 0.4, {"model": "drive"}, ["c"])
    assert read_manifest(tmp_path)["images"] == ["a", "b", "c"]
    write_manifest(tmp_path, 0.5, {"model": "stare"}, ["d"])
    document = read_manifest(tmp_path)
    assert document["images"] == ["d"] and document["threshold"] == 0.5


@pytest.mark.parametrize("split", ["train", "all"])
def test_threshold_auto_refuses_train_split(drive: FakeDataset, tmp_path: Path, split: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    write_threshold_case(drive, tmp_path / "pred")
    out = tmp_path / "report"
    assert run_evaluate("drive", "--root", str(drive.root), "--predictions", str(tmp_path / "pred"),
                        "--split", split, "--threshold", "auto", "--out", str(out)) == 2
    assert f"cannot be used to evaluate the {split} split" in capsys.readouterr().err
    assert not out.exists()


def test_threshold_auto_leave_one_out(stare: FakeDataset, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """loo<k>/test takes its threshold from loo<k>/train; loo<k>/train itself is refused."""
    for sample_id, label in stare.labels.items():
        write(tmp_path / "pred", sample_id, np.where(label, 0.35, 0.05), "npy")
    out = tmp_path / "report"
    assert run_evaluate("stare", "--root", str(stare.root), "--predictions", str(tmp_path / "pred"),
                        "--split", "loo3/test", "--threshold", "auto", "--out", str(out)) == 0
    protocol = json.loads((out / "metrics.json").read_text())["protocol"]
    assert protocol["threshold"] == pytest.approx(0.35, abs=1e-6)
    assert protocol["threshold_source"] == "train-f1: max pooled F1 on loo3/train predictions"
    capsys.readouterr()
    assert run_evaluate("stare", "--root", str(stare.root), "--predictions", str(tmp_path / "pred"),
                        "--split", "loo3/train", "--threshold", "auto", "--out", str(tmp_path / "r2")) == 2
    assert "cannot be used to evaluate the loo3/train split" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()


def test_threshold_auto_refused_for_observer(drive: FakeDataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_evaluate("drive", "--root", str(drive.root), "--observer", "2", "--threshold", "auto") == 2
    assert "needs probabilities" in capsys.readouterr().err


# --------------------------------------------------------------------------- report


def test_report_files_and_schema(drive: FakeDataset, tmp_path: Path) -> None:
    for sample_id in TEST_IDS:
        write(tmp_path / "pred", sample_id, noisy(drive, sample_id), "png8")
    out = tmp_path / "report"
    assert run_evaluate("drive", "--root", str(drive.root), "--predictions", str(tmp_path / "pred"),
                        "--threshold", "0.6", "--out", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "per_image.csv", "pr.png", "roc.png"]
    document = json.loads((out / "metrics.json").read_text())
    assert list(document) == ["dataset", "split", "protocol", "pooled", "mean", "std", "per_image"]
    assert document["dataset"] == "drive" and document["split"] == "test"
    assert document["protocol"] == {"fov": True, "threshold": 0.6, "threshold_source": "fixed",
                                    "reference": "first observer"}
    for key in ("pooled", "mean", "std"):
        assert list(document[key]) == METRICS
        assert all(isinstance(v, float) and 0 <= v <= 1 for v in document[key].values())
    assert list(document["per_image"]) == TEST_IDS
    assert all(list(scores) == METRICS for scores in document["per_image"].values())
    predictions = {i: noisy(drive, i) for i in TEST_IDS}
    for name, value in expected_pooled(drive, predictions, 0.6).items():
        assert document["pooled"][name] == pytest.approx(value, abs=1e-12), name
    with (out / "per_image.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", *METRICS]
    assert [row[0] for row in rows[1:]] == TEST_IDS
    assert float(rows[1][1]) == pytest.approx(document["per_image"]["01_test"]["acc"], abs=1e-6)
    for name in ("roc.png", "pr.png"):
        image = Image.open(out / name)
        assert image.format == "PNG" and image.size[0] > 100


def test_whole_image_differs_from_fov(drive: FakeDataset, tmp_path: Path) -> None:
    predictions = {}
    for sample_id in TEST_IDS:
        probability = noisy(drive, sample_id)
        probability[~drive.fovs[sample_id]] = 0.9  # false positives outside the FOV
        predictions[sample_id] = probability
        write(tmp_path / "pred", sample_id, probability, "npy")
    documents = {}
    for flag in ([], ["--whole-image"]):
        out = tmp_path / ("whole" if flag else "fov")
        assert run_evaluate("drive", "--root", str(drive.root), "--predictions", str(tmp_path / "pred"),
                            "--out", str(out), *flag) == 0
        documents["whole" if flag else "fov"] = json.loads((out / "metrics.json").read_text())
    assert documents["fov"]["protocol"]["fov"] is True and documents["whole"]["protocol"]["fov"] is False
    for key, use_fov in (("fov", True), ("whole", False)):
        for name, value in expected_pooled(drive, predictions, 0.5, use_fov).items():
            assert documents[key]["pooled"][name] == pytest.approx(value, abs=1e-12), (key, name)
    assert documents["whole"]["pooled"]["sp"] < documents["fov"]["pooled"]["sp"] - 0.1


def test_nan_is_written_as_null(tmp_path: Path) -> None:
    scores = {name: 0.5 for name in METRICS} | {"auc_roc": float("nan")}
    result = EvaluationResult("d", "test", {"fov": True, "threshold": 0.5}, scores, scores, scores, {"a": scores})
    paths = write_report(result, tmp_path / "r")
    assert [p.name for p in paths] == ["metrics.json", "per_image.csv"]  # no curves to plot
    document = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert document["pooled"]["auc_roc"] is None and document["pooled"]["acc"] == 0.5
    assert document["per_image"]["a"]["auc_roc"] is None
    assert (tmp_path / "r" / "per_image.csv").read_text().splitlines()[1].startswith("a,0.500000,")


def test_report_into_a_file_names_it(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    result = EvaluationResult("d", "test", {"fov": True}, {}, {}, {}, {})
    with pytest.raises(InputError, match="not a folder") as error:
        write_report(result, target)
    assert error.value.path == target
    assert target.read_text() == "x"
