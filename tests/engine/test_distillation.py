"""Distillation (``--teacher``): the teacher's probability rides along the training crops and is
blended into the stage-1 target; a bad teacher fails before anything is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from earnet.cli.main import main
from earnet.config import TrainConfig, validate
from earnet.data.registry import get_dataset
from earnet.engine.datamodule import CropDataset
from earnet.engine.pipeline import stage1_training_tensors
from earnet.engine.task import SegmentationTask
from earnet.exceptions import InputError
from earnet.segment import load_segmenter

TINY = ["--epochs", "1", "--samples-per-epoch", "16", "--batch-size", "4", "--crop", "64", "--val-count", "2",
        "--no-progress"]


def test_teacher_probability_is_carried_with_each_training_image(tmp_path: Path) -> None:
    samples = list(get_dataset("synthetic", None, "train"))[:2]
    config = TrainConfig(teacher="general")
    tensors = stage1_training_tensors(config, samples, tmp_path / "stage1")
    teacher = load_segmenter("general")
    for sample, item in zip(samples, tensors, strict=True):
        expected = teacher.segment(sample.image, fov=sample.fov, attention=False).probability
        np.testing.assert_array_equal(item.maps["teacher"].numpy(), expected)
    assert all("teacher" not in item.maps for item in stage1_training_tensors(TrainConfig(), samples, tmp_path))
    # crops keep the teacher map aligned with the label: same rotation, same pixels
    crop = CropDataset(tensors, crop=48, length=4, seed=3)[0]
    assert crop["teacher"].shape == crop["label"].shape


def test_training_target_is_the_label_blended_with_the_teacher() -> None:
    generator = torch.Generator().manual_seed(0)
    label = (torch.rand(2, 1, 32, 32, generator=generator) > 0.8).float()
    teacher = torch.rand(2, 1, 32, 32, generator=generator)
    batch = {"image": torch.randn(2, 3, 32, 32, generator=generator), "label": label,
             "fov": torch.ones(2, 1, 32, 32)}
    losses = {}
    for name, extra, weight in (("blend", {"label": 0.7 * label + 0.3 * teacher}, 0.3),
                                ("teacher", {"teacher": teacher}, 0.3), ("plain", {}, 0.3)):
        torch.manual_seed(0)  # the same initial weights for every task
        task = SegmentationTask(TrainConfig(teacher_weight=weight).to_dict(), stage=1)
        task.log_dict = task.log = lambda *args, **kwargs: None  # no trainer attached
        losses[name] = task.training_step({**batch, **extra}, 0).item()
    assert losses["teacher"] == pytest.approx(losses["blend"], rel=1e-6)
    assert losses["teacher"] != pytest.approx(losses["plain"], rel=1e-4)


@pytest.mark.parametrize(("changes", "problem"), [({"teacher_weight": 0.0}, "teacher_weight must be in (0, 1]"),
                                                  ({"teacher_weight": 1.5}, "teacher_weight must be in (0, 1]"),
                                                  ({"teacher": "general", "dataset": "rite", "backbone": "av_cascade"},
                                                   "not for rite")])
def test_bad_teacher_settings_are_refused(changes: dict, problem: str) -> None:
    with pytest.raises(InputError, match=problem.replace("(", r"\(").replace("]", r"\]")):
        validate(TrainConfig(**changes), "test")


def test_train_with_a_teacher_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "student"
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(run), *TINY,
                 "--teacher", "general", "--teacher-weight", "0.5"]) == 0
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["teacher"] == "general" and config["teacher_weight"] == 0.5
    assert (run / "stage1" / "model.safetensors").is_file()
    capsys.readouterr()
    never = tmp_path / "never"
    assert main(["train", "--stage", "1", "--dataset", "synthetic", "--out", str(never), *TINY,
                 "--teacher", str(tmp_path / "missing.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.safetensors" in err[0], err
    assert not never.exists()
