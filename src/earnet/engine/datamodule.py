"""Training data: random augmented crops from images held in memory.

Retinal datasets are small (20 images), so every training image is decoded once
and kept as tensors; an epoch is ``samples_per_epoch`` random crops centred on
FOV pixels. Each crop's randomness is derived from (seed, epoch, index), so runs
are reproducible and DDP ranks (which see different indices) draw different crops.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from earnet.data.transforms import (
    normalise,
    to_tensor_image,
    training_augmentation,
    window_size,
    wrap_sample,
)
from earnet.types import Sample


@dataclass
class ImageTensors:
    """One training/validation image with its maps, as tensors (maps are ``(H, W)`` float)."""

    id: str
    image: torch.Tensor
    maps: dict[str, torch.Tensor]


def to_image_tensors(sample: Sample, extra: dict[str, np.ndarray] | None = None) -> ImageTensors:
    """Convert a :class:`Sample` (plus error map / stage-1 probability) to tensors."""
    maps = {"label": torch.from_numpy(sample.label.astype(np.float32)),
            "fov": torch.from_numpy(sample.fov.astype(np.float32))}
    for key, value in (extra or {}).items():
        maps[key] = torch.from_numpy(np.asarray(value, dtype=np.float32))
    return ImageTensors(sample.id, to_tensor_image(sample.image), maps)


class CropDataset(Dataset):
    """``length`` random crops of size ``crop`` from ``images``.

    With ``error_crops`` > 0 (stage 2, error-guided), that fraction of the crops is
    centred on a pixel of the image's error map (where stage 1 was wrong) instead of
    anywhere in the FOV.
    """

    def __init__(self, images: list[ImageTensors], crop: int, length: int, augment: bool = True, seed: int = 0,
                 camera: bool = False, error_crops: float = 0.0) -> None:
        if not images:
            raise ValueError("no training images")
        self.images = images
        self.crop = crop
        self.length = length
        self.seed = seed
        self.epoch = 0
        self.window = window_size(crop, augment, camera)
        self.transform = training_augmentation(crop, augment, camera)
        self.centres = [torch.nonzero(item.maps["fov"] > 0) for item in images]
        if error_crops > 0 and any("error" not in item.maps for item in images):
            raise ValueError("error-guided crops need the error maps")
        self.error_crops = error_crops
        self.error_centres = [torch.nonzero((item.maps["error"] > 0) & (item.maps["fov"] > 0))
                              if error_crops > 0 else None for item in images]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        which = int(rng.integers(len(self.images)))
        item = self.images[which]
        centres = self.centres[which]
        errors = self.error_centres[which]
        if self.error_crops > 0 and len(errors) and rng.random() < self.error_crops:
            centres = errors
        cy, cx = (centres[int(rng.integers(len(centres)))].tolist() if len(centres)
                  else (item.image.shape[1] // 2, item.image.shape[2] // 2))
        image, maps = _cut(item, cy, cx, self.window)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**31)))
            out = self.transform(wrap_sample(image, maps))
        batch = {"image": normalise(out["image"].as_subclass(torch.Tensor))}
        for key in maps:
            batch[key] = out[key].as_subclass(torch.Tensor).float()
        return batch


def _cut(item: ImageTensors, cy: int, cx: int, size: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A ``size`` square centred at (cy, cx), zero-padded where it leaves the image."""
    _, height, width = item.image.shape
    top, left = cy - size // 2, cx - size // 2
    pad = (max(0, -left), max(0, left + size - width), max(0, -top), max(0, top + size - height))
    rows = slice(max(0, top), min(height, top + size))
    cols = slice(max(0, left), min(width, left + size))
    image = F.pad(item.image[:, rows, cols], pad)
    maps = {key: F.pad(value[rows, cols], pad) for key, value in item.maps.items()}
    return image, maps


class FullImageDataset(Dataset):
    """Whole images for validation (batch size 1: sizes may differ)."""

    def __init__(self, images: list[ImageTensors]) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.images[index]
        return {"image": item.image, **{key: value[None] for key, value in item.maps.items()}}


class VesselDataModule(L.LightningDataModule):
    """Training crops and full validation images."""

    def __init__(self, train: list[ImageTensors], val: list[ImageTensors], crop: int, samples_per_epoch: int,
                 batch_size: int, augment: bool = True, seed: int = 0, num_workers: int = 0,
                 camera_augment: bool = False, error_crops: float = 0.0) -> None:
        super().__init__()
        self.train_set = CropDataset(train, crop, samples_per_epoch, augment, seed, camera_augment, error_crops)
        self.val_set = FullImageDataset(val)
        self.batch_size = batch_size
        self.num_workers = num_workers

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=False, drop_last=True,
                          num_workers=self.num_workers, persistent_workers=False)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=1, num_workers=0)
