"""Segmenting photographs with an exported ONNX model: numpy, Pillow and onnxruntime only.

The same steps as ``earnet segment`` (:class:`earnet.segment.Segmenter`), in the
same order and with the same numbers: derive the FOV, rescale the photograph so its FOV
has the training diameter (unless within the tolerance), run the graph (in tiles when
large), resize the maps back, zero them outside the FOV and threshold. A graph with
artery/vein outputs also gives ``earnet segment --av``'s maps (:meth:`OnnxSegmenter.segment_av`):
the same graph run yields them, then the segment vote (:mod:`earnet.runtime.av_vote`)
and the labelling of :func:`earnet.av_metrics.av_label_map`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from earnet.av_graph import CLEANUPS, DEFAULT_CLEANUP
from earnet.av_metrics import av_label_map
from earnet.data.fov import derive_fov, fov_diameter
from earnet.exceptions import EarnetError, InputError
from earnet.runtime.contract import (
    ARTERY,
    ERROR_ATTENTION,
    INPUT_NAME,
    PROBABILITY,
    VEIN,
    Contract,
    read_contract,
)
from earnet.runtime.resample import resize
from earnet.runtime.tiling import sliding_window
from earnet.types import AVSegmentation, Segmentation

AV_CLEANUPS = CLEANUPS
"""As ``earnet segment --av-cleanup`` (:data:`earnet.av_graph.CLEANUPS`)."""


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise EarnetError("onnxruntime is not installed: pip install onnxruntime (or earnet[onnx])") from None
    return onnxruntime


def check_image(image: object) -> np.ndarray:
    """``image`` if it is an RGB ``uint8`` ``(H, W, 3)`` array; otherwise a clear error."""
    if not isinstance(image, np.ndarray):
        raise EarnetError(f"image must be a numpy array (H, W, 3) of uint8, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[0] == 3 and image.shape[2] != 3:
        raise EarnetError(f"image has shape {image.shape}, channels first; "
                          "give (H, W, 3): image.transpose(1, 2, 0)")
    if image.ndim != 3 or image.shape[2] != 3:
        hint = {2: " (grey: np.stack([image] * 3, axis=-1))"}.get(image.ndim, "")
        if image.ndim == 3 and image.shape[2] == 4:
            hint = " (drop alpha: image[..., :3])"
        raise EarnetError(f"image must be RGB with shape (H, W, 3), got shape {image.shape}{hint}")
    if image.dtype != np.uint8:
        raise EarnetError(f"image must be uint8 (0..255), got {image.dtype}"
                          + (" (from [0, 1] floats: (image * 255).round().astype(np.uint8))"
                             if np.issubdtype(image.dtype, np.floating) else ""))
    return image


class OnnxSegmenter:
    """An exported earnet model ready to segment photographs, without PyTorch.

    Args:
        path: the ``.onnx`` file written by ``earnet export MODEL --format onnx``.
        tile: tile side for sliding-window inference (images up to this size run whole).
        threads: onnxruntime intra-op threads (``None``: onnxruntime's default, all cores).
        threshold: decision threshold; ``None`` uses the model's.
        providers: onnxruntime execution providers (default: CPU).
    """

    def __init__(self, path: str | Path, tile: int = 1024, threads: int | None = None,
                 threshold: float | None = None, providers: list[str] | None = None) -> None:
        path = Path(path)
        if threads is not None and threads < 1:
            raise EarnetError(f"threads must be at least 1, got {threads}")
        if not path.is_file():
            raise InputError(path, "model file not found" if not path.exists() else "is not a file")
        ort = _onnxruntime()
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors reach the user as exceptions, not log lines
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise InputError(path, f"not a readable ONNX model ({first[:200]})") from None
        self.path = path
        self.contract: Contract = read_contract(self.session.get_modelmeta().custom_metadata_map, path)
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        if INPUT_NAME not in inputs or PROBABILITY not in outputs:
            raise InputError(path, f"graph has inputs {sorted(inputs)} and outputs {outputs}; "
                                   f"expected input '{INPUT_NAME}' and output '{PROBABILITY}'")
        self.outputs = [name for name in (PROBABILITY, ERROR_ATTENTION) if name in outputs]
        self.av_outputs = [ARTERY, VEIN] if self.contract.has_av and {ARTERY, VEIN} <= set(outputs) else []
        if tile < self.contract.min_side:
            raise EarnetError(f"tile must be at least {self.contract.min_side} px, got {tile}")
        self.tile = tile
        self.threshold = self.contract.threshold if threshold is None else float(threshold)
        self.metadata: dict[str, Any] = dict(self.contract.model)

    @property
    def has_av(self) -> bool:
        """Whether the graph also gives artery and vein probabilities (:meth:`segment_av`)."""
        return bool(self.av_outputs)

    @property
    def training_fov_diameter(self) -> float:
        """FOV diameter (px) of the training images; photographs are rescaled to it."""
        return self.contract.fov_diameter

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The vessel probability map of an RGB ``uint8`` photograph."""
        return self.segment(image).probability

    def predict(self, image: np.ndarray, outputs: list[str] | None = None) -> np.ndarray:
        """Run the graph on a float32 ``(3, H, W)`` image in [0, 1], in tiles when large;
        returns ``(K, H, W)``: the named ``outputs`` (default: the probability, then the
        error attention if the model has one)."""
        names = self.outputs if outputs is None else outputs

        def run(window: np.ndarray) -> np.ndarray:
            maps = self.session.run(names, {INPUT_NAME: np.ascontiguousarray(window[None])})
            return np.concatenate([o[0] for o in maps], axis=0)

        return sliding_window(run, image, self.tile)

    def segment(self, image: np.ndarray, fov: np.ndarray | None = None) -> Segmentation:
        """Segment an RGB ``uint8`` ``(H, W, 3)`` photograph (FOV derived unless given)."""
        return self._segment(image, fov, self.outputs)[0]

    def segment_av(self, image: np.ndarray, fov: np.ndarray | None = None, cleanup: str = DEFAULT_CLEANUP) -> AVSegmentation:
        """Vessels and their artery/vein labels, as ``earnet segment --av`` gives them.

        Args:
            image: RGB ``uint8`` ``(H, W, 3)``.
            fov: field-of-view mask (derived unless given).
            cleanup: ``graph`` (one decision per vessel tree joined at bifurcations and
                crossings), ``vote`` (one per vessel segment between junctions) or ``none``.

        Raises:
            EarnetError: the graph has no artery/vein outputs, or a bad argument.
        """
        if not self.has_av:
            raise EarnetError(f"{self.path} has no artery/vein outputs; export a model with an A/V head "
                              "(earnet export drive_av --format onnx)")
        if cleanup not in AV_CLEANUPS:
            raise EarnetError(f"unknown A/V clean-up {cleanup!r}; valid: {', '.join(AV_CLEANUPS)}")
        vessels, maps = self._segment(image, fov, self.outputs + self.av_outputs)
        start = time.perf_counter()
        artery, vein = maps[len(self.outputs)], maps[len(self.outputs) + 1]
        artery[~vessels.fov] = 0
        vein[~vessels.fov] = 0
        from earnet.runtime.av_vote import clean_up

        artery, vein = clean_up(artery, vein, vessels.mask, cleanup)
        classes = av_label_map(artery, vein, vessels.mask, self.contract.av_crossing_threshold)
        return AVSegmentation(vessels, artery, vein, classes, time.perf_counter() - start)

    def _segment(self, image: np.ndarray, fov: np.ndarray | None, outputs: list[str],
                 ) -> tuple[Segmentation, np.ndarray]:
        """The vessel result and the graph's ``outputs`` at the photograph's size."""
        start = time.perf_counter()
        image = check_image(image)
        height, width = image.shape[:2]
        side = self.contract.min_side
        if min(height, width) < side:
            raise EarnetError(f"image is {width}x{height}; at least {side}x{side} is needed")
        fov = derive_fov(image) if fov is None else np.asarray(fov).astype(bool)
        if fov.shape != (height, width):
            raise EarnetError(f"mask is {fov.shape[1]}x{fov.shape[0]} but the image is {width}x{height}")
        diameter = fov_diameter(fov)
        if diameter < self.contract.min_fov_diameter:
            raise EarnetError("no field of view detected (is this a fundus photograph? pass a FOV mask)")
        scale = self.contract.fov_diameter / diameter
        if abs(scale - 1) <= self.contract.rescale_tolerance:
            scale = 1.0
        pixels = image.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
        if abs(scale - 1) > 1e-3:
            size = (max(side, round(height * scale)), max(side, round(width * scale)))
            pixels = np.clip(resize(pixels, size, "bicubic", antialias=scale < 1), 0, 1)
        maps = self.predict(pixels, outputs)
        if maps.shape[-2:] != (height, width):
            maps = resize(maps, (height, width), "bilinear")
        probability = maps[0].astype(np.float32)
        probability[~fov] = 0
        attention = np.clip(maps[1], 0, 1) if len(self.outputs) > 1 else None
        return Segmentation(probability, probability >= self.threshold, fov, attention, scale,
                            time.perf_counter() - start), maps


def load_onnx(path: str | Path, tile: int = 1024, threads: int | None = None) -> OnnxSegmenter:
    """A ready segmenter: ``load_onnx("drive.onnx")(image)`` returns the probability map."""
    return OnnxSegmenter(path, tile=tile, threads=threads)
