"""Camera-shift augmentation: photometric parts touch only the image, maps stay binary."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from earnet.data.registry import get_dataset
from earnet.data.transforms import (
    RandomIllumination,
    RandomJPEG,
    RandomRotateScaleCrop,
    rotate_scale_crop,
    training_augmentation,
    window_size,
    wrap_sample,
)
from earnet.engine.datamodule import CropDataset, to_image_tensors


def _sample(size: int = 96) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(3, size, size, generator=generator)
    label = (torch.rand(size, size, generator=generator) > 0.8).float()
    return wrap_sample(image, {"label": label, "fov": torch.ones(size, size)})


def test_illumination_ramps_the_image_only() -> None:
    sample = _sample()
    torch.manual_seed(1)
    out = RandomIllumination(0.4)(sample)
    assert not torch.equal(out["image"], sample["image"])
    assert torch.equal(out["label"], sample["label"]) and torch.equal(out["fov"], sample["fov"])
    assert 0 <= float(out["image"].min()) and float(out["image"].max()) <= 1
    image = tv_tensors.Image(torch.full((3, 5, 5), 0.5))
    ramped = RandomIllumination().transform(image, {"slope": 0.4, "angle": 0.0, "offset": 0.0})
    # left to right along x: 0.5 * (1 - 0.2) ... 0.5 * (1 + 0.2)
    torch.testing.assert_close(ramped[0, 2], torch.tensor([0.4, 0.45, 0.5, 0.55, 0.6]))


def test_jpeg_degrades_the_image_and_keeps_range() -> None:
    sample = _sample()
    out = RandomJPEG((30, 30), p=1.0)(sample)
    difference = (out["image"] - sample["image"]).abs().mean()
    assert 0.01 < float(difference) < 0.5
    assert out["image"].dtype == torch.float32 and isinstance(out["image"], tv_tensors.Image)
    assert torch.equal(out["label"], sample["label"])


def test_camera_augmentation_keeps_maps_binary_and_crops_reproducible() -> None:
    assert window_size(128, True, camera=True) > window_size(128, True) > 128
    transform = training_augmentation(64, augment=True, camera=True)
    out = transform(_sample(window_size(64, True, camera=True)))
    assert out["image"].shape == (3, 64, 64)
    assert set(torch.unique(out["label"]).tolist()) <= {0.0, 1.0}
    samples = [to_image_tensors(s) for s in get_dataset("synthetic", split="train")][:2]
    data = CropDataset(samples, crop=64, length=4, augment=True, seed=3, camera=True)
    torch.testing.assert_close(data[2]["image"], data[2]["image"])


@pytest.mark.parametrize("angle,scale", [(0.0, 1.0), (30.0, 1.0), (-75.0, 0.8), (120.0, 1.3), (-179.0, 0.6)])
def test_rotate_scale_crop_is_torchvisions_affine_then_centre_crop(angle: float, scale: float) -> None:
    window = torch.rand(3, 244, 244, generator=torch.Generator().manual_seed(1))
    expected = TF.center_crop(TF.affine(window, angle=angle, translate=[0, 0], scale=scale, shear=[0.0, 0.0],
                                        interpolation=v2.InterpolationMode.NEAREST), [128, 128])
    got = rotate_scale_crop(window, angle, scale, 128)
    assert got.shape == (3, 128, 128)
    assert (got == expected).all(0).float().mean() >= 0.999


def test_random_rotate_scale_crop_moves_every_map_alike_and_keeps_them_binary() -> None:
    size = window_size(64, True, camera=True)
    image = torch.zeros(3, size, size)
    image[:, size // 2 - 2:size // 2 + 2, :] = 1  # a horizontal bar through the centre
    label = image[0].clone()
    sample = wrap_sample(image, {"label": label, "fov": torch.ones(size, size)})
    for seed in range(5):
        torch.manual_seed(seed)
        out = RandomRotateScaleCrop(64, (0.6, 1.6))(sample)
        assert out["image"].shape == (3, 64, 64) and out["label"].shape == (1, 64, 64)
        assert torch.equal(out["image"][0], out["label"][0])        # same geometry for image and maps
        assert set(torch.unique(out["label"]).tolist()) <= {0.0, 1.0}
        assert out["label"][0, 30:34, 30:34].any()                  # the bar still crosses the centre
        assert isinstance(out["label"], tv_tensors.Mask) and isinstance(out["image"], tv_tensors.Image)
