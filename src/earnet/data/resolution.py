"""Bringing photographs to a common scale: the FOV's diameter in pixels.

Vessel calibre in pixels is what a network learns, and it follows the FOV's size
(DRIVE's FOV is ~540 px wide, CHASE_DB1's ~930, HRF's ~3300). Rescaling every
image so its FOV has one diameter lets one model train on several datasets and
segment any camera's photographs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from earnet.data.fov import fov_diameter
from earnet.types import Sample


def scale_factor(fov: np.ndarray, target_diameter: float) -> float:
    """The factor that gives ``fov`` a diameter of ``target_diameter`` pixels."""
    diameter = fov_diameter(fov)
    return target_diameter / diameter if diameter > 0 else 1.0


def _resize(array: np.ndarray, size: tuple[int, int], mode: str, antialias: bool) -> np.ndarray:
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    tensor = tensor.permute(2, 0, 1)[None] if tensor.ndim == 3 else tensor[None, None]
    out = F.interpolate(tensor, size=size, mode=mode, align_corners=False, antialias=antialias)[0]
    return out.permute(1, 2, 0).numpy() if array.ndim == 3 else out[0].numpy()


def rescale_sample(sample: Sample, target_diameter: float) -> Sample:
    """``sample`` resized so its FOV is ``target_diameter`` px wide.

    The image is resampled bicubically; binary maps are resampled as fractions and
    thresholded at 0.5, so thin vessels survive downscaling as well as they can.
    """
    factor = scale_factor(sample.fov, target_diameter)
    if abs(factor - 1) < 1e-3:
        return sample
    height, width = sample.label.shape
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    shrink = factor < 1
    image = np.clip(np.round(_resize(sample.image, size, "bicubic", shrink)), 0, 255).astype(np.uint8)

    def binary(mask: np.ndarray | None) -> np.ndarray | None:
        return None if mask is None else _resize(mask.astype(np.float32), size, "bilinear", shrink) >= 0.5

    return Sample(sample.id, image, binary(sample.label), binary(sample.fov), binary(sample.observer2))
