"""Joint augmentation of image, label, FOV, error map and stage-1 probability.

Built on torchvision's transforms v2: geometric transforms are applied jointly to
every map of a sample (``tv_tensors.Mask`` maps use nearest-neighbour
interpolation, so they stay binary), photometric ones only to the image.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def to_tensor_image(image: np.ndarray) -> torch.Tensor:
    """RGB ``uint8`` ``(H, W, 3)`` → float ``(3, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).float().div_(255)


def normalise(image: torch.Tensor) -> torch.Tensor:
    """ImageNet mean/std normalisation of a ``(..., 3, H, W)`` image in [0, 1]."""
    mean = torch.tensor(IMAGE_MEAN, dtype=image.dtype, device=image.device).view(3, 1, 1)
    std = torch.tensor(IMAGE_STD, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return (image - mean) / std


class RandomGamma(v2.Transform):
    """Gamma correction of the image with a random exponent (other maps untouched)."""

    def __init__(self, gamma: tuple[float, float] = (0.7, 1.4)) -> None:
        super().__init__()
        self.gamma = gamma

    def make_params(self, flat_inputs: list) -> dict:
        low, high = math.log(self.gamma[0]), math.log(self.gamma[1])
        return {"gamma": math.exp(float(torch.empty(1).uniform_(low, high)))}

    def transform(self, inpt, params: dict):  # noqa: ANN001, ANN201 - torchvision's signature
        if isinstance(inpt, tv_tensors.Image):
            return v2.functional.adjust_gamma(inpt, params["gamma"])
        return inpt


def training_augmentation(crop: int, augment: bool = True) -> v2.Compose:
    """Random rotation, scale, flips, crop, colour and gamma jitter; or a plain crop."""
    if not augment:
        return v2.Compose([v2.CenterCrop(crop)])
    return v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomVerticalFlip(),
        v2.RandomAffine(degrees=180, scale=(0.75, 1.33)),
        v2.CenterCrop(crop),
        v2.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.2, hue=0.02),
        RandomGamma(),
    ])


def window_size(crop: int, augment: bool) -> int:
    """Side of the window cut before augmenting: room for rotation and zoom-out."""
    return int(math.ceil(crop * 1.33 * math.sqrt(2))) + 2 if augment else crop


def wrap_sample(image: torch.Tensor, maps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tag tensors for v2: the image as ``Image``, every ``(H, W)`` map as ``Mask``."""
    wrapped: dict[str, torch.Tensor] = {"image": tv_tensors.Image(image)}
    for key, value in maps.items():
        wrapped[key] = tv_tensors.Mask(value.unsqueeze(0))
    return wrapped
