"""Segmenting anyone's fundus photographs with a pretrained bundle.

Vessel calibre in pixels depends on the camera and resolution, so every photograph
is first rescaled so that its field of view has the diameter (in pixels) of the
training images' FOV (stored in the bundle, e.g. ~540 px for DRIVE); the probability
map is computed there (in tiles if large) and resized back to the photograph's size.
Photographs whose FOV is already within 5 % of that diameter are not resampled: the
vessel calibre differs by well under a pixel, and photographs from the training
camera then get exactly the predictions the bundle's test metrics were measured on.
Pixels outside the FOV get probability 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from earnet.bundle import load_bundle
from earnet.data.fov import derive_fov, fov_diameter
from earnet.exceptions import EarnetError
from earnet.inference.predictor import MIN_SIDE, Predictor

TTA_CHOICES = ("none", "flip", "ms")
MS_SCALES = (0.5, 1.0, 2.0)

MIN_FOV_DIAMETER = 32
RESCALE_TOLERANCE = 0.05
"""FOV diameters within this fraction of the bundle's are used as they are."""


@dataclass
class Segmentation:
    """One photograph's result at its original size."""

    probability: np.ndarray
    mask: np.ndarray
    fov: np.ndarray
    error_attention: np.ndarray | None
    scale: float
    seconds: float

    @property
    def vessel_fraction(self) -> float:
        """Share of FOV pixels segmented as vessel."""
        return float(self.mask[self.fov].mean()) if self.fov.any() else 0.0


class FundusSegmenter:
    """A bundled (or saved) model ready to segment photographs.

    Args:
        model: a bundled model's name (``earnet models``) or a path to a bundle.
        device: ``cpu`` or ``cuda``.
        tta: ``none``, ``flip`` (flip averaging) or ``ms`` (scales 0.5/1/2 averaged).
        tile: tile side for sliding-window inference.
        threshold: decision threshold; ``None`` uses the bundle's.
    """

    def __init__(self, model: str | Path = "drive", device: str = "cpu", tta: str = "none", tile: int = 1024,
                 threshold: float | None = None) -> None:
        if tta not in TTA_CHOICES:
            raise EarnetError(f"unknown --tta {tta!r}; valid: {', '.join(TTA_CHOICES)}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EarnetError("--device cuda asked for, but no CUDA device is available")
        stage1, stage2, self.metadata = load_bundle(model)
        self.predictor = Predictor(stage1, stage2, device=device, tile=tile, tta="flip" if tta == "flip" else "none")
        self.scales = MS_SCALES if tta == "ms" else (1.0,)
        self.threshold = float(self.metadata["threshold"]) if threshold is None else threshold
        self.training_fov_diameter = float(self.metadata["fov_diameter"])

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The vessel probability map of an RGB ``uint8`` photograph."""
        return self.segment(image).probability

    def segment(self, image: np.ndarray, fov: np.ndarray | None = None) -> Segmentation:
        """Segment an RGB ``uint8`` ``(H, W, 3)`` photograph (FOV derived unless given)."""
        start = time.perf_counter()
        height, width = image.shape[:2]
        if min(height, width) < MIN_SIDE:
            raise EarnetError(f"image is {width}x{height}; at least {MIN_SIDE}x{MIN_SIDE} is needed")
        fov = derive_fov(image) if fov is None else fov.astype(bool)
        if fov.shape != (height, width):
            raise EarnetError(f"mask is {fov.shape[1]}x{fov.shape[0]} but the image is {width}x{height}")
        diameter = fov_diameter(fov)
        if diameter < MIN_FOV_DIAMETER:
            raise EarnetError("no field of view detected (is this a fundus photograph? pass --mask)")
        scale = self.training_fov_diameter / diameter
        if abs(scale - 1) <= RESCALE_TOLERANCE:
            scale = 1.0
        predictions = [self.predictor.predict_scaled(image, scale * extra) for extra in self.scales]
        probability = np.mean([p.probability for p in predictions], axis=0).astype(np.float32)
        probability[~fov] = 0
        error_attention = None
        if self.predictor.stage2 is not None:
            error_attention = np.clip(np.mean([p.error_attention for p in predictions], axis=0), 0, 1)
        return Segmentation(probability, probability >= self.threshold, fov, error_attention, scale,
                            time.perf_counter() - start)


def load_model(model: str | Path = "drive", device: str = "cpu", tta: str = "none") -> FundusSegmenter:
    """A ready segmenter: ``load_model("drive")(image)`` returns the probability map."""
    return FundusSegmenter(model, device=device, tta=tta)
