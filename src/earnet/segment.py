"""The one inference front: a trained model turned into vessel maps of any photograph.

``earnet segment``, ``earnet predict``, the test step of ``earnet fit``, bundle
making and every later feature (serve, artery/vein, measurements) go through
:class:`Segmenter`. It owns the FOV (derived unless given), the resolution rule
(:func:`earnet.data.resolution.resolution_scale`: the photograph is rescaled so its
FOV has the training images' diameter, unless already within 5 %), tiling, test-time
augmentation (flips in the predictor, multi-scale here) and EAR-Net's two stages.
Maps come back at the photograph's size; pixels outside the FOV get probability 0.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import torch

from earnet.data.fov import derive_fov, fov_diameter
from earnet.data.resolution import resolution_scale
from earnet.defaults import DEFAULT_MODEL
from earnet.exceptions import EarnetError
from earnet.inference.loader import load_trained_model
from earnet.inference.predictor import MIN_SIDE, Predictor
from earnet.png import ROWS
from earnet.types import Segmentation, TrainedModel

TTA_CHOICES = ("none", "flip", "ms")
MS_SCALES = (0.5, 1.0, 2.0)

MIN_FOV_DIAMETER = 32
MAX_UPSCALE = 8.0
"""A FOV needing more than this enlargement is not a fundus photograph at a usable resolution."""
MAX_WORKING_PIXELS = 64_000_000
"""Largest image (after rescaling) the networks are run on: bounds time and memory."""
TILE_RANGE = (64, 8192)


def check_device(device: str) -> torch.device:
    """``device`` as a torch device; an unknown or unavailable one is a one-line error."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise EarnetError(f"unknown --device {device!r}; use cpu or cuda[:N]") from None
    if parsed.type not in ("cpu", "cuda"):
        raise EarnetError(f"unsupported --device {device!r}; use cpu or cuda[:N]")
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise EarnetError("--device cuda asked for, but no CUDA device is available")
    return parsed


def check_tile(tile: int) -> int:
    """A tile side within :data:`TILE_RANGE`."""
    low, high = TILE_RANGE
    if isinstance(tile, bool) or not isinstance(tile, int) or not low <= tile <= high:
        raise EarnetError(f"--tile must be a whole number of pixels in [{low}, {high}], got {tile!r}")
    return tile


def check_threshold(threshold: float) -> float:
    """A decision threshold in (0, 1]."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise EarnetError(f"threshold must be a number in (0, 1], got {threshold!r}")
    return float(threshold)


class Segmenter:
    """A trained model ready to segment photographs.

    Args:
        model: a bundled model's name (``earnet models``), a bundle path, a run folder,
            or a loaded :class:`~earnet.types.TrainedModel`.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        tta: ``none``, ``flip`` (flip averaging) or ``ms`` (scales 0.5/1/2 averaged);
            ``None``: the model's default (``flip`` for bundles validated with it, see
            ``earnet models``; else ``none``).
        tile: tile side for sliding-window inference.
        threshold: decision threshold; ``None`` uses the model's own.
        stage: for a run folder, which stage (default: its last finished one).
    """

    def __init__(self, model: str | Path | TrainedModel = DEFAULT_MODEL, device: str = "cpu",
                 tta: str | None = None, tile: int = 1024, threshold: float | None = None,
                 stage: str | None = None) -> None:
        if tta is not None and tta not in TTA_CHOICES:
            raise EarnetError(f"unknown --tta {tta!r}; valid: {', '.join(TTA_CHOICES)}")
        check_device(device)
        check_tile(tile)
        self.model = load_trained_model(model, stage)
        tta = self.model.default_tta if tta is None else tta
        self.metadata = self.model.metadata
        self.threshold = self.model.threshold if threshold is None else check_threshold(threshold)
        self.training_fov_diameter = self.model.fov_diameter
        self.tta = tta
        self.tile = tile
        self.predictor = Predictor(self.model.stage1, self.model.stage2, device=device, tile=tile,
                                   tta="flip" if tta == "flip" else "none")
        self.scales = MS_SCALES if tta == "ms" else (1.0,)

    @property
    def two_stage(self) -> bool:
        """Whether the model has EAR-Net's stage 2 (and so an error-attention map)."""
        return self.model.stage2 is not None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The vessel probability map of an RGB ``uint8`` photograph."""
        return self.segment(image).probability

    def working_scale(self, image_shape: tuple[int, ...], fov: np.ndarray) -> float:
        """The resolution rule for one photograph, refused where it would be unbounded."""
        height, width = image_shape[:2]
        diameter = fov_diameter(fov)
        if diameter < MIN_FOV_DIAMETER:
            raise EarnetError("no field of view detected (is this a fundus photograph? pass --mask)")
        scale = resolution_scale(diameter, self.training_fov_diameter)
        if scale > MAX_UPSCALE:
            raise EarnetError(f"the field of view is only {diameter:.0f} px wide; reaching the model's "
                              f"{self.training_fov_diameter:.0f} px would enlarge it {scale:.1f}x "
                              f"(at most {MAX_UPSCALE:g}x); pass a better --mask or a larger photograph")
        working = height * width * (scale * max(self.scales)) ** 2
        if working > MAX_WORKING_PIXELS:
            raise EarnetError(f"working image would be {working / 1e6:.0f} Mpx (at most "
                              f"{MAX_WORKING_PIXELS / 1e6:.0f}); crop the photograph to its field of view")
        return scale

    def segment(self, image: np.ndarray, fov: np.ndarray | None = None, attention: bool = True,
                keep_working: bool = False) -> Segmentation:
        """Segment an RGB ``uint8`` ``(H, W, 3)`` photograph (FOV derived unless given).

        ``attention=False`` skips the full-size error-attention map (``None``; saves memory).
        ``keep_working`` also keeps the working-scale probability (one-scale TTA only).
        """
        start = time.perf_counter()
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise EarnetError("expected an RGB uint8 image of shape (H, W, 3)")
        height, width = image.shape[:2]
        if min(height, width) < MIN_SIDE:
            raise EarnetError(f"image is {width}x{height}; at least {MIN_SIDE}x{MIN_SIDE} is needed")
        fov = derive_fov(image) if fov is None else fov.astype(bool)
        if fov.shape != (height, width):
            raise EarnetError(f"mask is {fov.shape[1]}x{fov.shape[0]} but the image is {width}x{height}")
        scale = self.working_scale(image.shape, fov)
        # Scales are added up as they come: one full-size map at a time, not one per scale.
        probability, error_attention = None, None
        keep_working = keep_working and len(self.scales) == 1
        working = None
        for extra in self.scales:
            prediction = self.predictor.predict_scaled(image, scale * extra, attention, keep_working)
            working = prediction.working_probability
            if probability is None:
                probability, error_attention = prediction.probability, prediction.error_attention
            else:
                probability += prediction.probability
                if error_attention is not None:
                    error_attention += prediction.error_attention
            del prediction
        assert probability is not None
        if len(self.scales) > 1:  # as np.mean over the scales would give, without stacking them
            probability /= len(self.scales)
            if error_attention is not None:
                error_attention /= len(self.scales)
        for top in range(0, height, ROWS):  # in strips: no full-size temporary for ~fov
            rows = slice(top, top + ROWS)
            probability[rows][~fov[rows]] = 0
        if not (self.two_stage and attention):
            error_attention = None
        elif error_attention is not None:
            error_attention = np.clip(error_attention, 0, 1, out=error_attention)
        return Segmentation(probability, probability >= self.threshold, fov, error_attention, scale,
                            time.perf_counter() - start, working)


FundusSegmenter = Segmenter
"""Former name of :class:`Segmenter`."""


def load_segmenter(model: str | Path | TrainedModel = DEFAULT_MODEL, device: str = "cpu", tta: str | None = None,
                   tile: int = 1024, threshold: float | None = None, stage: str | None = None) -> Segmenter:
    """A ready segmenter: ``load_segmenter("drive")(image)`` returns the probability map.
    ``tta=None`` runs the model's default test-time augmentation (``earnet models``)."""
    return Segmenter(model, device=device, tta=tta, tile=tile, threshold=threshold, stage=stage)


def load_model(model: str | Path = DEFAULT_MODEL, device: str = "cpu", tta: str | None = None, **kwargs) -> Segmenter:  # noqa: ANN003
    """Deprecated alias of :func:`load_segmenter` (the name suggested it returns a network)."""
    warnings.warn("earnet.load_model is deprecated; use earnet.load_segmenter", DeprecationWarning, stacklevel=2)
    return load_segmenter(model, device=device, tta=tta, **kwargs)
