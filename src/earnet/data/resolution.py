"""Bringing photographs to a common scale: the FOV's diameter in pixels.

Vessel calibre in pixels is what a network learns, and it follows the FOV's size
(DRIVE's FOV is ~540 px wide, CHASE_DB1's ~930, HRF's ~3300). Rescaling every
image so its FOV has one diameter lets one model train on several datasets and
segment any camera's photographs.

:func:`resolution_scale` is the one resolution rule, used for training images, the
test step of a run, ``earnet predict`` and ``earnet segment`` alike: FOV diameters
within :data:`RESCALE_TOLERANCE` of the target are used as they are (the vessel
calibre differs by well under a pixel, and photographs from the training camera get
exactly the predictions the model's test metrics were measured on).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from earnet.data.fov import fov_diameter
from earnet.types import Sample

RESCALE_TOLERANCE = 0.05
"""FOV diameters within this fraction of the target are not resampled."""


def resolution_scale(diameter: float, target_diameter: float | None) -> float:
    """The factor that brings a FOV ``diameter`` px wide to ``target_diameter`` (1 within the tolerance).

    ``target_diameter`` ``None`` means "as the images are" (a run trained at native size).
    """
    if not target_diameter or diameter <= 0:
        return 1.0
    scale = target_diameter / diameter
    return 1.0 if abs(scale - 1) <= RESCALE_TOLERANCE else scale


def scale_factor(fov: np.ndarray, target_diameter: float | None) -> float:
    """:func:`resolution_scale` of a FOV mask."""
    return resolution_scale(fov_diameter(fov), target_diameter)


def scaled_size(shape: tuple[int, ...], factor: float) -> tuple[int, int]:
    """The ``(height, width)`` of an image of ``shape`` (``(H, W, ...)``) resized by ``factor``."""
    return max(1, round(shape[0] * factor)), max(1, round(shape[1] * factor))


def resize_tensor(tensor: torch.Tensor, factor: float, mode: str) -> torch.Tensor:
    """A float ``(H, W)`` or ``(C, H, W)`` tensor resized by ``factor`` (size by :func:`scaled_size`).

    ``mode`` is ``bicubic`` for photographs and ``bilinear`` for maps; shrinking is
    antialiased, so thin vessels survive as fractions rather than vanishing between samples.
    """
    batch = tensor[None, None] if tensor.ndim == 2 else tensor[None]
    size = scaled_size(tuple(tensor.shape[-2:]), factor)
    out = F.interpolate(batch, size=size, mode=mode, align_corners=False, antialias=factor < 1)
    return out[0, 0] if tensor.ndim == 2 else out[0]


def _resize(array: np.ndarray, factor: float, mode: str) -> np.ndarray:
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if array.ndim == 3:
        return resize_tensor(tensor.permute(2, 0, 1), factor, mode).permute(1, 2, 0).numpy()
    return resize_tensor(tensor, factor, mode).numpy()


def rescale_sample(sample: Sample, target_diameter: float) -> Sample:
    """``sample`` resized so its FOV is ``target_diameter`` px wide.

    The image is resampled bicubically; binary maps are resampled as fractions and
    thresholded at 0.5, so thin vessels survive downscaling as well as they can.
    """
    factor = scale_factor(sample.fov, target_diameter)
    if factor == 1.0:
        return sample
    image = np.clip(np.round(_resize(sample.image, factor, "bicubic")), 0, 255).astype(np.uint8)

    def binary(mask: np.ndarray | None) -> np.ndarray | None:
        return None if mask is None else _resize(mask.astype(np.float32), factor, "bilinear") >= 0.5

    return Sample(sample.id, image, binary(sample.label), binary(sample.fov), binary(sample.observer2))
