"""The records that flow between earnet's modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from earnet.models.segmenter import VesselSegmenter


@dataclass(frozen=True)
class SampleFiles:
    """Where one sample of a dataset lives on disk.

    ``fov`` is ``None`` for datasets without official field-of-view masks (the FOV is
    then derived from the image); ``observer2`` is ``None`` where the dataset has no
    second observer for this image.
    """

    id: str
    image: Path
    label: Path | None
    fov: Path | None = None
    observer2: Path | None = None


@dataclass
class Sample:
    """One fundus image with its annotations, as numpy arrays at original size.

    Attributes:
        id: the image file's stem, e.g. ``"01_test"``; predictions are matched by it.
        image: RGB, ``uint8``, shape ``(H, W, 3)``.
        label: vessel label of the first observer, ``bool``, ``(H, W)``.
        fov: field-of-view mask, ``bool``, ``(H, W)``.
        observer2: second observer's label, ``bool``, or ``None``.
        av: artery/vein classes (``earnet.data.rite``: 0 background, 1 artery, 2 vein,
            3 crossing, 4 uncertain vessel), ``uint8``, or ``None`` for vessel-only datasets.
    """

    id: str
    image: np.ndarray
    label: np.ndarray
    fov: np.ndarray
    observer2: np.ndarray | None = None
    av: np.ndarray | None = None


@dataclass
class ModelOutput:
    """What a segmentation model returns: logits (the sigmoid is applied in :mod:`earnet.models.chain`).

    Attributes:
        logits: ``(N, 1, H, W)`` vessel logits at the input's size.
        error_attention: ``(N, 1, H, W)`` stage-2 attention in [0, 1] (probability
            that the stage-1 segmentation is wrong), or ``None`` for stage 1.
        aux_logits: auxiliary logits for deep supervision, at the input's size.
        aux_weights: loss weight of each auxiliary output.
    """

    logits: torch.Tensor
    error_attention: torch.Tensor | None = None
    aux_logits: list[torch.Tensor] = field(default_factory=list)
    aux_weights: list[float] = field(default_factory=list)


@dataclass
class TrainedModel:
    """A trained EAR-Net (or a stage 1 alone), ready for inference.

    Built by :func:`earnet.inference.loader.load_trained_model` from a bundle or a
    run's stage, validated on load.

    Attributes:
        stage1: the segmenter.
        stage2: the error-attention refiner, or ``None`` for a one-stage model.
        threshold: decision threshold chosen on the model's validation images.
        fov_diameter: FOV diameter (px) of the training images, which inputs are
            rescaled to; ``None`` for a run trained and used at the images' own size.
        metadata: backbone, dataset, stage, test metrics, ... (JSON-able).
    """

    stage1: VesselSegmenter
    stage2: VesselSegmenter | None
    threshold: float
    fov_diameter: float | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def default_tta(self) -> str:
        """The test-time augmentation the model was validated with and runs with unless told
        otherwise (bundle metadata ``tta``): ``none`` or ``flip``."""
        return str(self.metadata.get("tta", "none"))


@dataclass
class Segmentation:
    """One photograph's result at its original size (from ``earnet segment`` or the ONNX runtime).

    Attributes:
        probability: float32 vessel probability, 0 outside the FOV.
        mask: the probability at the model's threshold.
        fov: the field of view used (given or derived).
        error_attention: stage 2's attention map, or ``None`` for a one-stage model.
        scale: the factor the photograph was rescaled by for the network.
        seconds: wall time of the segmentation.
        working_probability: the probability at the working scale, not cut to the FOV
            (only when asked for, and for one scale): what an A/V model with a vessel
            input sees, as in the ONNX graph.
    """

    probability: np.ndarray
    mask: np.ndarray
    fov: np.ndarray
    error_attention: np.ndarray | None
    scale: float
    seconds: float
    working_probability: np.ndarray | None = None

    @property
    def vessel_fraction(self) -> float:
        """Share of FOV pixels segmented as vessel."""
        return float(self.mask[self.fov].mean()) if self.fov.any() else 0.0


@dataclass
class AVSegmentation:
    """A photograph's vessel segmentation with its artery/vein maps, at original size
    (from ``earnet segment --av`` or the ONNX runtime).

    Attributes:
        vessels: the vessel result (:class:`Segmentation`).
        artery, vein: probabilities ``float32`` ``(H, W)``, 0 outside the FOV.
        classes: ``uint8`` per pixel: 0 background, 1 artery, 2 vein, 3 crossing
            (``earnet.data.rite`` codes), non-zero exactly on the labelled vessel mask
            (``vessels.mask``, or the mask at the threshold the caller gave).
        seconds: time of the A/V step alone (the vessel step is ``vessels.seconds``).
    """

    vessels: Segmentation
    artery: np.ndarray
    vein: np.ndarray
    classes: np.ndarray
    seconds: float

    @property
    def artery_mask(self) -> np.ndarray:
        """Pixels labelled artery or crossing."""
        from earnet.data.rite import ARTERY, CROSSING

        return np.isin(self.classes, (ARTERY, CROSSING))

    @property
    def vein_mask(self) -> np.ndarray:
        """Pixels labelled vein or crossing."""
        from earnet.data.rite import CROSSING, VEIN

        return np.isin(self.classes, (VEIN, CROSSING))
