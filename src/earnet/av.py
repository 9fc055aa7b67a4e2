"""Artery/vein maps of anyone's fundus photographs: the vessel segmenter plus an A/V model.

The vessel map comes from the bundle's EAR-Net segmenter (``earnet.load_segmenter``'s
public ``segment``); the A/V model of the same bundle gives artery and vein
probabilities; every vessel pixel of the segmenter's mask is labelled artery or vein
(whichever is likelier), or crossing where both reach 0.5. Like the segmenter, the A/V
model sees the photograph rescaled to its training FOV diameter (unless within 5 %).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from earnet.av_bundle import has_av, load_bundle_av
from earnet.av_graph import CLEANUPS, DEFAULT_CLEANUP
from earnet.av_metrics import av_label_map
from earnet.bundle import resolve
from earnet.defaults import DEFAULT_AV_MODEL
from earnet.exceptions import InputError
from earnet.inference.av import AVPredictor
from earnet.model_file import read_metadata
from earnet.types import AVSegmentation

__all__ = ["CLEANUPS", "DEFAULT_AV_MODEL", "ArteryVeinSegmenter", "load_av_segmenter", "supports_av"]


def _vessel_input(result: Any) -> np.ndarray:
    """The vessel probability an A/V cascade sees: the working-scale map if kept, else the map."""
    return result.working_probability if result.working_probability is not None else result.probability


def supports_av(model: str | Path) -> bool:
    """Whether a bundled model name or bundle path has an A/V model."""
    return has_av(read_metadata(resolve(model), "model bundle"))


class ArteryVeinSegmenter:
    """A bundle with an A/V model, ready to label photographs.

    Args:
        model: bundled model name or bundle path (must hold an A/V model).
        device, tta, tile: as for the vessel segmenter; ``flip`` (the model's default or
            asked for) averages the A/V model's maps over the flips too.
        vessels: an already loaded vessel segmenter of the same bundle (the CLI passes
            one built with its threshold); ``None`` loads it with ``earnet.load_segmenter``.
        cleanup: ``graph`` (one decision per vessel tree joined at bifurcations and
            crossings), ``vote`` (one per vessel segment between junctions) or ``none``;
            where a pixel's own decision disagrees, its two probabilities are swapped.

    Raises:
        InputError: the model has no A/V head (raised before anything is computed).
    """

    def __init__(self, model: str | Path = DEFAULT_AV_MODEL, device: str = "cpu", tta: str | None = None,
                 tile: int = 1024, vessels: Any = None, cleanup: str = DEFAULT_CLEANUP) -> None:
        if cleanup not in CLEANUPS:
            raise InputError(str(model), f"unknown A/V clean-up {cleanup!r}; valid: {', '.join(CLEANUPS)}")
        self.cleanup = cleanup
        path = resolve(model)
        if not supports_av(path):
            raise InputError(path, "this model has no artery/vein head; use a bundled A/V model "
                                   f"(e.g. --model {DEFAULT_AV_MODEL}, see 'earnet models')")
        av_model, self.av_metadata = load_bundle_av(path)
        if vessels is None:
            from earnet.segment import load_segmenter

            vessels = load_segmenter(model, device=device, tta=tta, tile=tile)
        self.vessels = vessels
        # flips also average the A/V model's maps; multi-scale TTA stays with the vessel model
        av_tta = "flip" if getattr(vessels, "tta", "none") == "flip" else "none"
        self.predictor = AVPredictor(av_model, device=device, tile=tile, tta=av_tta)
        self.training_fov_diameter = float(self.av_metadata["fov_diameter"])

    @property
    def threshold(self) -> float:
        """The vessel decision threshold."""
        return float(self.vessels.threshold)

    @property
    def metadata(self) -> dict[str, Any]:
        """The bundle's metadata (the A/V part under ``"av"``)."""
        return {**self.vessels.metadata, "av": self.av_metadata}

    def segment(self, image: np.ndarray, fov: np.ndarray | None = None, attention: bool = True,
                threshold: float | None = None) -> AVSegmentation:
        """Vessels and their A/V labels of an RGB ``uint8`` ``(H, W, 3)`` photograph.

        ``threshold``: label the vessel mask at this probability instead of the model's
        threshold (the clean-up follows that mask; ``vessels.mask`` stays the model's).
        """
        needs_vessel = self.predictor.needs_vessel
        vessels = self.vessels.segment(image, fov, attention=attention, keep_working=needs_vessel)
        start = time.perf_counter()
        artery, vein = self.av_maps(image, vessels.fov, _vessel_input(vessels) if needs_vessel else None)
        vessels.working_probability = None
        from earnet.av_topology import clean_up

        mask = vessels.mask if threshold is None else vessels.probability >= threshold
        artery, vein = clean_up(artery, vein, mask, self.cleanup)
        classes = av_label_map(artery, vein, mask)
        return AVSegmentation(vessels, artery, vein, classes, time.perf_counter() - start)

    def av_maps(self, image: np.ndarray, fov: np.ndarray,
                vessel: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Artery and vein probabilities (0 outside ``fov``) at the photograph's size.

        ``vessel``: the bundle's vessel probability, which an A/V model with a vessel input
        (``av_cascade``) sees, at the photograph's size or (as the ONNX graph has it) at the
        working size, not cut to the FOV; computed here when not given.
        """
        from earnet.data.resolution import scale_factor

        if self.predictor.needs_vessel and vessel is None:
            vessel = _vessel_input(self.vessels.segment(image, fov, keep_working=True))
        scale = scale_factor(fov, self.training_fov_diameter)
        maps = self.predictor.predict_scaled(image, scale, vessel)
        maps.artery[~fov] = 0
        maps.vein[~fov] = 0
        return maps.artery, maps.vein


def load_av_segmenter(model: str | Path = DEFAULT_AV_MODEL, device: str = "cpu", tta: str | None = None,
                      cleanup: str = DEFAULT_CLEANUP) -> ArteryVeinSegmenter:
    """A ready A/V segmenter: ``load_av_segmenter().segment(image).classes``."""
    return ArteryVeinSegmenter(model, device=device, tta=tta, cleanup=cleanup)
