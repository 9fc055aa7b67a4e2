"""Common scale (FOV diameter) and combined datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from earnet.data.fov import fov_diameter
from earnet.data.registry import get_dataset
from earnet.data.resolution import (
    rescale_sample,
    resize_tensor,
    scale_factor,
    scaled_size,
)
from earnet.data.synthetic import SyntheticDataset
from earnet.exceptions import EarnetError


def test_rescale_gives_the_target_fov_diameter_and_keeps_maps_binary() -> None:
    sample = SyntheticDataset("train")[0]
    before = fov_diameter(sample.fov)
    for target in (before / 2, before * 1.5):
        scaled = rescale_sample(sample, target)
        assert abs(fov_diameter(scaled.fov) - target) <= 3
        assert scaled.image.dtype == np.uint8 and scaled.label.dtype == bool and scaled.fov.dtype == bool
        assert scaled.image.shape[:2] == scaled.label.shape == scaled.fov.shape
        ratio = scaled.label[scaled.fov].mean() / sample.label[sample.fov].mean()
        assert 0.7 < ratio < 1.3, "vessel fraction should survive rescaling"
    assert rescale_sample(sample, before) is sample
    assert scale_factor(sample.fov, 2 * before) == pytest.approx(2)


def test_one_tensor_resize_serves_samples_and_training_tensors() -> None:
    sample = SyntheticDataset("train")[0]
    factor = scale_factor(sample.fov, fov_diameter(sample.fov) / 2)
    size = scaled_size(sample.image.shape, factor)
    image = resize_tensor(torch.from_numpy(sample.image.astype(np.float32)).permute(2, 0, 1), factor, "bicubic")
    label = resize_tensor(torch.from_numpy(sample.label.astype(np.float32)), factor, "bilinear")
    assert tuple(image.shape) == (3, *size) and tuple(label.shape) == size
    scaled = rescale_sample(sample, fov_diameter(sample.fov) / 2)
    assert np.array_equal(scaled.image, np.clip(np.round(image.permute(1, 2, 0).numpy()), 0, 255).astype(np.uint8))
    assert np.array_equal(scaled.label, label.numpy() >= 0.5)
    assert ((label > 0) & (label < 1)).any(), "maps are resampled as fractions"
    assert scaled_size((1, 1), 0.1) == (1, 1)


def test_combined_dataset_prefixes_ids_and_keeps_splits(drive, chase, stare) -> None:
    root = drive.root.parent
    train = get_dataset("drive+chase_db1+stare", root, "train")
    test = get_dataset("drive+chase_db1+stare", root, "test")
    assert len(train) == 3 + 20 + 10 and len(test) == 3 + 8 + 10
    assert train.ids[0].startswith("drive_") and "chase_db1_Image_01L" in train.ids
    assert not set(train.ids) & set(test.ids)
    assert train[len(train) - 1].id == train.ids[-1]
    with pytest.raises(EarnetError, match="cannot combine"):
        get_dataset("drive+synthetic", root, "train")
    with pytest.raises(EarnetError, match="needs --root"):
        get_dataset("drive+stare", None, "train")


def test_dataset_folder_names_match_the_shared_layout() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    if not shared.is_dir():
        pytest.skip(f"real datasets not found at {shared}")
    assert len(get_dataset("drive+chase_db1+stare", shared, "train")) == 50
