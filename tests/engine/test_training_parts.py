"""Config, losses, error maps, crops, weights files."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from earnet.config import (
    add_config_arguments,
    config_from_args,
    config_from_dict,
    dataset_defaults,
    load_config,
    save_config,
)
from earnet.data.registry import get_dataset
from earnet.engine.datamodule import CropDataset, to_image_tensors
from earnet.engine.run import assign_folds
from earnet.error_maps import error_maps
from earnet.exceptions import EarnetError, InputError
from earnet.losses import (
    ERROR_LOSS_GAIN,
    bce_dice,
    error_pixel_weights,
    masked_bce,
    masked_mse,
    total_loss,
)
from earnet.model_file import load_model, read_metadata, save_models
from earnet.models.registry import create_model
from earnet.types import ModelOutput


def test_config_rejects_unknown_keys_and_wrong_types(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown key"):
        config_from_dict({"epochz": 3})
    with pytest.raises(InputError, match="epochs must be int"):
        config_from_dict({"epochs": "many"})
    with pytest.raises(InputError, match="refinement"):
        config_from_dict({"refinement": "magic"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1\n")
    with pytest.raises(InputError, match="bad.yaml"):
        load_config(bad)


def test_config_layers_defaults_file_then_flags(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("epochs: 7\nlr: 0.01\n")
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    add_config_arguments(parser)
    args = parser.parse_args(["--config", str(file), "--lr", "0.02", "--in-sample"])
    config = config_from_args(args, dataset_defaults("drive"))
    assert (config.dataset, config.epochs, config.lr, config.in_sample) == ("drive", 7, 0.02, True)
    assert config.samples_per_epoch == dataset_defaults("drive").samples_per_epoch
    save_config(config, tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml") == config


def test_error_guided_crops_are_centred_on_stage1_errors() -> None:
    sample = get_dataset("synthetic", split="train")[0]
    error = np.zeros_like(sample.label)
    error[200:203, 150:153] = True  # one small patch stage 1 "got wrong"
    images = [to_image_tensors(sample, {"error": error})]
    guided = CropDataset(images, crop=32, length=40, augment=False, seed=1, error_crops=1.0)
    assert all(guided[i]["error"].sum() > 0 for i in range(40))  # every crop sees the errors
    plain = CropDataset(images, crop=32, length=40, augment=False, seed=1)
    assert sum(plain[i]["error"].sum() > 0 for i in range(40)) < 10
    half = CropDataset(images, crop=32, length=200, augment=False, seed=1, error_crops=0.5)
    assert 70 < sum(half[i]["error"].sum() > 0 for i in range(200)) < 130
    with pytest.raises(ValueError, match="error maps"):
        CropDataset([to_image_tensors(sample)], crop=32, length=4, error_crops=0.5)


def test_error_guided_loss_weighs_error_pixels_three_times() -> None:
    fov = torch.ones(1, 1, 4, 4)
    error = torch.zeros(1, 1, 4, 4)
    error[..., 0, 0] = 1
    weights = error_pixel_weights({"fov": fov, "error": error})
    assert weights[..., 0, 0].item() == 1 + ERROR_LOSS_GAIN == 3 and weights.sum().item() == 15 + 3
    logits, label = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    logits[..., 0, 0] = 5.0  # a confident false positive, on the error pixel
    output = ModelOutput(logits=logits)
    plain = total_loss(output, {"label": label, "fov": fov}, masked_bce)["seg"]
    guided = total_loss(output, {"label": label, "fov": fov}, masked_bce, pixel_weights=weights)["seg"]
    assert guided > plain  # the error pixel's loss counts more
    with pytest.raises(EarnetError, match="error maps"):
        error_pixel_weights({"fov": fov})


def test_losses_ignore_pixels_outside_the_fov() -> None:
    logits, label = torch.randn(1, 1, 8, 8), (torch.rand(1, 1, 8, 8) > 0.5).float()
    fov = torch.zeros(1, 1, 8, 8)
    fov[..., 2:6, 2:6] = 1
    changed = logits.clone()
    changed[..., 0, :] = 50
    for loss in (bce_dice, masked_bce):
        torch.testing.assert_close(loss(logits, label, fov), loss(changed, label, fov))
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[..., 2:6, 2:6], label[..., 2:6, 2:6])
    torch.testing.assert_close(masked_bce(logits, label, fov), expected)
    assert masked_mse(torch.ones(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), fov) == 1


def test_error_maps_inside_fov() -> None:
    prediction = np.array([[1, 1, 0, 0]], bool)
    label = np.array([[1, 0, 1, 0]], bool)
    fov = np.array([[1, 1, 1, 0]], bool)
    maps = error_maps(prediction, label, fov)
    assert maps["fp"].tolist() == [[False, True, False, False]]
    assert maps["fn"].tolist() == [[False, False, True, False]]
    assert maps["error"].tolist() == [[False, True, True, False]]
    assert not error_maps(~label, label, np.zeros_like(fov))["error"].any()


def test_folds_are_balanced_and_reproducible() -> None:
    ids = [f"im{i}" for i in range(14)]
    folds = assign_folds(ids, 4, seed=1)
    assert folds == assign_folds(ids, 4, seed=1) and folds != assign_folds(ids, 4, seed=2)
    sizes = np.bincount(list(folds.values()))
    assert sizes.max() - sizes.min() <= 1 and len(sizes) == 4
    with pytest.raises(ValueError):
        assign_folds(ids[:3], 4)


def test_crops_are_reproducible_and_masks_stay_binary() -> None:
    samples = [to_image_tensors(s, {"error": s.label & ~s.fov}) for s in get_dataset("synthetic", split="train")][:3]
    data = CropDataset(samples, crop=64, length=8, augment=True, seed=3)
    a, b = data[5], data[5]
    torch.testing.assert_close(a["image"], b["image"])
    assert a["image"].shape == (3, 64, 64) and a["label"].shape == (1, 64, 64)
    for key in ("label", "fov", "error"):
        assert set(torch.unique(a[key]).tolist()) <= {0.0, 1.0}
    data.epoch = 1
    assert not torch.equal(data[5]["image"], a["image"])


def test_weights_roundtrip_and_bad_files(tmp_path: Path) -> None:
    model = create_model("wnet", refinement="paper")
    path = tmp_path / "m.safetensors"
    save_models(path, {"": model}, {"backbone": "wnet", "refinement": "paper", "attention_weight": 0.5,
                                    "note": 0.42})
    loaded, meta = load_model(path), read_metadata(path)
    assert meta["note"] == 0.42 and loaded.refinement == "paper"
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask(), "weights get open()'s permissions, not 0600"
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v.float(), v2.float())
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputError, match="corrupt.safetensors"):
        load_model(corrupt)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(InputError, match="foreign.safetensors: unknown backbone None"):
        load_model(foreign)


def _umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_histogram_scores_match_exact_metrics() -> None:
    from earnet.engine.task import histogram_scores
    from earnet.metrics import auc_roc

    rng = np.random.default_rng(0)
    labels = rng.random(20000) < 0.15
    scores = np.clip(rng.normal(0.3 + 0.4 * labels, 0.2), 0, 1).astype(np.float32)
    bins = np.minimum((scores * 1000).astype(int), 999)
    positive = torch.tensor(np.bincount(bins[labels], minlength=1000), dtype=torch.float64)
    negative = torch.tensor(np.bincount(bins[~labels], minlength=1000), dtype=torch.float64)
    result = histogram_scores(positive, negative)
    assert abs(float(result["auc"]) - auc_roc(scores, labels)) < 2e-3
    prediction = scores >= 0.5
    tp, fp, fn = (prediction & labels).sum(), (prediction & ~labels).sum(), (~prediction & labels).sum()
    assert abs(float(result["f1"]) - 2 * tp / (2 * tp + fp + fn)) < 1e-3
    assert float(result["f1_best"]) >= float(result["f1"])


def test_stage2_task_uses_the_error_guided_loss_only_when_asked() -> None:
    from earnet.config import TrainConfig
    from earnet.engine.task import SegmentationTask

    generator = torch.Generator().manual_seed(0)
    batch = {"image": torch.randn(2, 3, 32, 32, generator=generator),
             "label": (torch.rand(2, 1, 32, 32, generator=generator) > 0.8).float(),
             "fov": torch.ones(2, 1, 32, 32), "error": (torch.rand(2, 1, 32, 32, generator=generator) > 0.9).float(),
             "stage1": torch.rand(2, 1, 32, 32, generator=generator)}
    losses = {}
    for guidance in ("none", "crops", "loss"):
        torch.manual_seed(0)  # the same initial weights for the three tasks
        task = SegmentationTask(TrainConfig(error_guidance=guidance).to_dict(), stage=2)
        task.log_dict = task.log = lambda *args, **kwargs: None  # no trainer attached
        losses[guidance] = task.training_step(batch, 0).item()
    assert losses["none"] == losses["crops"] != losses["loss"]  # crops change the sampling, not the loss
