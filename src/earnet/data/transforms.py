"""Joint augmentation of image, label, FOV, error map and stage-1 probability.

Built on torchvision's transforms v2: geometric transforms are applied jointly to
every map of a sample (``tv_tensors.Mask`` maps use nearest-neighbour
interpolation, so they stay binary), photometric ones only to the image.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
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


class RandomIllumination(v2.Transform):
    """Uneven illumination: the image times a random linear ramp (other maps untouched).

    Fundus cameras light the retina unevenly; the ramp's strength is drawn from
    ``[-strength, strength]`` per unit of crop side, in a random direction.
    """

    def __init__(self, strength: float = 0.3) -> None:
        super().__init__()
        self.strength = strength

    def make_params(self, flat_inputs: list) -> dict:
        values = torch.empty(3).uniform_(-1, 1)
        return {"slope": float(values[0]) * self.strength, "angle": float(values[1]) * math.pi,
                "offset": float(values[2]) * self.strength / 2}

    def transform(self, inpt, params: dict):  # noqa: ANN001, ANN201 - torchvision's signature
        if not isinstance(inpt, tv_tensors.Image):
            return inpt
        height, width = inpt.shape[-2:]
        ys = torch.linspace(-0.5, 0.5, height, dtype=inpt.dtype).view(height, 1)
        xs = torch.linspace(-0.5, 0.5, width, dtype=inpt.dtype).view(1, width)
        ramp = 1 + params["offset"] + params["slope"] * (xs * math.cos(params["angle"]) + ys * math.sin(params["angle"]))
        return tv_tensors.wrap((inpt * ramp).clamp_(0, 1), like=inpt)


class RandomJPEG(v2.Transform):
    """JPEG compression artefacts at a random quality, on a float image in [0, 1]."""

    def __init__(self, quality: tuple[int, int] = (30, 95), p: float = 0.5) -> None:
        super().__init__()
        self.jpeg = v2.JPEG(quality=quality)
        self.p = p

    def make_params(self, flat_inputs: list) -> dict:
        return {"apply": bool(torch.rand(1) < self.p)}

    def transform(self, inpt, params: dict):  # noqa: ANN001, ANN201 - torchvision's signature
        if not params["apply"] or not isinstance(inpt, tv_tensors.Image):
            return inpt
        encoded = self.jpeg(tv_tensors.Image((inpt * 255).round_().to(torch.uint8)))
        return tv_tensors.wrap(encoded.to(inpt.dtype) / 255, like=inpt)


def rotate_scale_crop(inpt: torch.Tensor, angle: float, scale: float, crop: int) -> torch.Tensor:
    """The central ``crop`` x ``crop`` of ``inpt`` (``(..., H, W)``) rotated by ``angle`` degrees
    (counter-clockwise) and zoomed by ``scale`` about its centre, nearest-neighbour, zeros
    outside: what ``v2.functional.affine`` then ``center_crop`` give, computed for the crop's
    pixels only (a 128-px crop of a 244-px window: 3.6x fewer pixels to resample)."""
    height, width = inpt.shape[-2:]
    radians = math.radians(angle)
    cos, sin = math.cos(radians) / scale, math.sin(radians) / scale
    # output pixel (normalised to the crop) -> input pixel (normalised to the window)
    theta = torch.tensor([[cos * crop / width, sin * crop / width, 0.0],
                          [-sin * crop / height, cos * crop / height, 0.0]]).unsqueeze(0)
    grid = F.affine_grid(theta, [1, 1, crop, crop], align_corners=False)
    flat = inpt.reshape(1, -1, height, width)
    out = F.grid_sample(flat.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out.to(inpt.dtype).reshape(*inpt.shape[:-2], crop, crop)


class RandomRotateScaleCrop(v2.Transform):
    """Any rotation and a zoom from ``scale``, about the centre, then the central crop: the
    distribution of ``RandomAffine(degrees=180, scale=scale)`` + ``CenterCrop(crop)``
    (nearest-neighbour for every map, as there), at a fraction of the cost."""

    def __init__(self, crop: int, scale: tuple[float, float]) -> None:
        super().__init__()
        self.crop = crop
        self.scale = scale

    def make_params(self, flat_inputs: list) -> dict:
        return {"angle": float(torch.empty(1).uniform_(-180, 180)),
                "scale": float(torch.empty(1).uniform_(*self.scale))}

    def transform(self, inpt, params: dict):  # noqa: ANN001, ANN201 - torchvision's signature
        if not isinstance(inpt, torch.Tensor):
            return inpt
        return tv_tensors.wrap(rotate_scale_crop(inpt, params["angle"], params["scale"], self.crop), like=inpt)


SCALE_RANGE = (0.75, 1.33)
CAMERA_SCALE_RANGE = (0.6, 1.6)
"""Zoom range of the camera-shift augmentation: vessel calibres of other cameras/resolutions."""


def training_augmentation(crop: int, augment: bool = True, camera: bool = False) -> v2.Compose:
    """Random rotation, scale, flips, crop, colour and gamma jitter; or a plain crop.

    ``camera`` adds what changes between fundus cameras: a wider zoom range (vessel
    calibre), stronger colour shifts, blur, sensor noise, uneven illumination and JPEG
    compression.
    """
    if not augment:
        return v2.Compose([v2.CenterCrop(crop)])
    # flips after the rotation: the same distribution (the angle is uniform), on fewer pixels
    geometric = [RandomRotateScaleCrop(crop, CAMERA_SCALE_RANGE if camera else SCALE_RANGE),
                 v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()]
    if not camera:
        return v2.Compose([*geometric, v2.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.2, hue=0.02),
                           RandomGamma()])
    return v2.Compose([
        *geometric,
        v2.ColorJitter(brightness=0.35, contrast=0.35, saturation=0.3, hue=0.04),
        RandomGamma((0.6, 1.6)),
        RandomIllumination(0.4),
        v2.RandomApply([v2.GaussianBlur(kernel_size=5, sigma=(0.3, 1.2))], p=0.3),
        v2.RandomApply([v2.GaussianNoise(sigma=0.02)], p=0.3),
        RandomJPEG((30, 95), p=0.3),
    ])


def window_size(crop: int, augment: bool, camera: bool = False) -> int:
    """Side of the window cut before augmenting: room for rotation and zoom-out."""
    if not augment:
        return crop
    zoom_out = 1 / (CAMERA_SCALE_RANGE if camera else SCALE_RANGE)[0]
    return int(math.ceil(crop * zoom_out * math.sqrt(2))) + 2


def wrap_sample(image: torch.Tensor, maps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tag tensors for v2: the image as ``Image``, every ``(H, W)`` map as ``Mask``."""
    wrapped: dict[str, torch.Tensor] = {"image": tv_tensors.Image(image)}
    for key, value in maps.items():
        wrapped[key] = tv_tensors.Mask(value.unsqueeze(0))
    return wrapped
