"""benchmarks/finetune_split.py: a fine-tuning run validates on the images its start never saw."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("finetune_split", REPO / "benchmarks" / "finetune_split.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
finetune_split = module.finetune_split

IDS = ["Image_01L", "Image_01R", "Image_02L", "Image_03L"]


def test_validation_is_the_pretraining_runs_held_out_images_of_that_dataset() -> None:
    pretrained_val = ["drive_23_training", "chase_db1_Image_03L", "chase_db1_Image_01R"]
    assert finetune_split(pretrained_val, "chase_db1", IDS) == {"train": ["Image_01L", "Image_02L"],
                                                               "val": ["Image_01R", "Image_03L"]}
    # a single-dataset pretraining run names its images without the prefix
    assert finetune_split(["Image_02L"], "chase_db1", IDS)["val"] == ["Image_02L"]


def test_no_held_out_image_or_an_unknown_one_is_refused() -> None:
    with pytest.raises(ValueError, match="held out no stare image"):
        finetune_split(["drive_23_training"], "stare", ["im0001", "im0002"])
    with pytest.raises(ValueError, match="not in chase_db1's training split: Image_09L"):
        finetune_split(["chase_db1_Image_09L"], "chase_db1", IDS)
