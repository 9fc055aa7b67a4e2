"""The bundles shipped in the package, and ``earnet models`` that lists them."""

from __future__ import annotations

import numpy as np
import pytest

from earnet.bundle import bundled_models, read_bundle_metadata
from earnet.cli.main import main
from earnet.data.synthetic_fundus import generate_fundus
from earnet.defaults import DEFAULT_MODEL
from earnet.inference.loader import load_trained_model
from earnet.segment import load_segmenter

SHIPPED = ("all", "chase_db1", "drive", "general", "stare")


def test_every_promised_model_ships_small_with_complete_metadata() -> None:
    models = bundled_models()
    assert set(SHIPPED) <= set(models)
    for name in SHIPPED:
        path = models[name]
        assert path.stat().st_size < 5e6, f"{name} is {path.stat().st_size / 1e6:.1f} MB"
        meta = read_bundle_metadata(path)
        for key in ("backbone", "threshold", "fov_diameter", "dataset", "normalisation", "earnet_version",
                    "test_metrics", "test_protocol"):
            assert key in meta, f"{name}: no {key}"
        assert 0 < meta["threshold"] < 1 and meta["fov_diameter"] > 100
        assert 0.75 < meta["test_metrics"]["f1"] < 1 and 0.95 < meta["test_metrics"]["auc_roc"] < 1
    for name in ("all", "general"):
        assert set(read_bundle_metadata(models[name])["test_metrics_by_dataset"]) == {"drive", "chase_db1", "stare"}


def test_default_model_is_one_stage_and_trained_on_several_cameras() -> None:
    # the default must be fast (one network) and generalise (several datasets): BENCHMARKS.md, issue 8
    meta = read_bundle_metadata(bundled_models()[DEFAULT_MODEL])
    assert meta["refinement"] == "none" and "+" in meta["dataset"]
    assert load_segmenter().metadata["dataset"] == meta["dataset"]


@pytest.mark.parametrize("name", SHIPPED)
def test_bundled_model_loads_and_segments(name: str) -> None:
    trained = load_trained_model(name)
    assert (trained.stage2 is None) == (trained.metadata["refinement"] == "none")
    photo = generate_fundus(0, 200).image
    result = load_segmenter(trained).segment(photo)
    assert result.probability.shape == (200, 200) and np.isfinite(result.probability).all()
    assert 0.02 < result.vessel_fraction < 0.4


def test_models_command_lists_each_with_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["name", "backbone"]
    for name in SHIPPED:
        row = next(line for line in lines if line.split()[0] == name)
        f1 = read_bundle_metadata(bundled_models()[name])["test_metrics"]["f1"]
        assert f"{f1:.4f}" in row


def test_models_command_shows_per_dataset_f1_of_multi_dataset_models(capsys: pytest.CaptureFixture[str]) -> None:
    """The pooled test F1 of a multi-dataset model is not its DRIVE F1; each dataset's is listed."""
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    per_dataset = read_bundle_metadata(bundled_models()["general"])["test_metrics_by_dataset"]
    line = next(line for line in lines if line.strip().startswith("general:"))
    for dataset, scores in per_dataset.items():
        assert f"{dataset} {scores['f1']:.4f}" in line
