"""The predictor: photographs in, vessel probabilities (and error attention) out.

It owns normalisation, device placement, bf16 autocast, tiling and test-time
augmentation. The chain itself (stage 1 → sigmoid → stage 2, which the ``correct``
mode also feeds the stage-1 probability) is :class:`earnet.models.chain.Stages`'s;
the predictor tells it how to run each step (tiled, flipped, autocast).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from earnet.data.transforms import normalise, to_tensor_image
from earnet.inference.fusion import fold_batch_norm
from earnet.inference.tiling import tiled_runner
from earnet.models.chain import Stages, Step, flip_averaged
from earnet.models.segmenter import VesselSegmenter

TTA_MODES = ("none", "flip")
MIN_SIDE = 32


@dataclass
class Prediction:
    """Outputs for one image, at its original size, as ``float32`` numpy arrays."""

    probability: np.ndarray
    error_attention: np.ndarray | None = None
    stage1_probability: np.ndarray | None = None
    working_probability: np.ndarray | None = None
    """The probability at the size the network worked at, when asked for (``keep_working``)."""


@dataclass
class TensorPrediction:
    """Outputs for a ``(1, 3, H, W)`` input, each ``(1, 1, H, W)`` on the predictor's device."""

    probability: torch.Tensor
    error_attention: torch.Tensor | None = None
    stage1_probability: torch.Tensor | None = None


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast is fast on ``device`` (CUDA with bf16, or AVX-512-BF16/AMX CPUs)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        return False
    return capability in ("AVX512", "AVX512_BF16", "AMX") or "AMX" in capability


class Predictor:
    """Run one model, or EAR-Net's two stages, over images of any size.

    Args:
        stage1: the segmenter (stage 1), or the only model.
        stage2: the error-attention refiner, or ``None``.
        device: ``"cpu"``, ``"cuda"``, ...
        tile: tile side for sliding-window inference (images up to this size run whole).
        tta: ``none`` or ``flip`` (average over horizontal/vertical flips).
        bf16: use bf16 autocast; ``None`` decides by hardware.

    The predictor runs its own copies of the models with batch norm folded into the
    convolutions (faster; the models passed in are not changed).
    """

    def __init__(self, stage1: VesselSegmenter, stage2: VesselSegmenter | None = None, device: str = "cpu",
                 tile: int = 1024, tta: str = "none", bf16: bool | None = None) -> None:
        if tta not in TTA_MODES:
            raise ValueError(f"unknown TTA mode {tta!r}; valid: {', '.join(TTA_MODES)}")
        self.device = torch.device(device)
        self.stages = Stages(fold_batch_norm(stage1).to(self.device, memory_format=torch.channels_last),
                             fold_batch_norm(stage2).to(self.device, memory_format=torch.channels_last)
                             if stage2 else None)
        self.tile = tile
        self.tta = tta
        self.bf16 = bf16_supported(self.device) if bf16 is None else bf16
        self._run = tiled_runner(tile, self._tta)

    @property
    def stage1(self) -> VesselSegmenter:
        """The stage-1 model as run (batch norm folded)."""
        return self.stages.stage1

    @property
    def stage2(self) -> VesselSegmenter | None:
        """The stage-2 model as run, or ``None``."""
        return self.stages.stage2

    @torch.inference_mode()
    def predict_tensor(self, image: torch.Tensor, stage1_probability: torch.Tensor | None = None,
                       ) -> TensorPrediction:
        """``(1, 3, H, W)`` image in [0, 1] → probability, attention and stage-1 probability.

        ``stage1_probability`` may be given to skip running stage 1.
        """
        image = normalise(image.to(self.device)).contiguous(memory_format=torch.channels_last)
        if stage1_probability is not None:
            stage1_probability = stage1_probability.to(self.device)
        out = self.stages(image, self._run, stage1_probability)
        return TensorPrediction(out.probability, out.error_attention, out.stage1_probability)

    def _tta(self, step: Step, image: torch.Tensor, stage1: torch.Tensor | None, channels: int) -> torch.Tensor:
        """``step`` under autocast, averaged over the flips of test-time augmentation where asked."""
        def autocast_step(x: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                return step(x, s)
        return (autocast_step if self.tta == "none" else flip_averaged(autocast_step))(image, stage1)

    def predict_scaled(self, image: np.ndarray, factor: float, attention: bool = True,
                       keep_working: bool = False) -> Prediction:
        """Predict ``image`` resized by ``factor``; maps come back at the original size.

        Peak memory follows the working (resized) size, not the photograph's: the
        photograph is converted and resized one channel at a time (bit-identical to all
        three at once), and only the probability and attention maps are brought back
        (``stage1_probability`` is left ``None``). ``keep_working`` also returns the
        probability at the working size (what an A/V model with a vessel input sees).
        """
        height, width = image.shape[:2]
        if abs(factor - 1) > 1e-3:
            size = (max(MIN_SIDE, round(height * factor)), max(MIN_SIDE, round(width * factor)))
            channels = []
            for channel in range(3):
                # straight from the strided channel view: no uint8 copy of the plane first
                plane = torch.from_numpy(image[..., channel])[None, None].float().div_(255)
                channels.append(F.interpolate(plane, size=size, mode="bicubic", align_corners=False,
                                              antialias=factor < 1))
                del plane
            tensor = torch.cat(channels, dim=1).clamp(0, 1)
            del channels
        else:
            tensor = to_tensor_image(image)[None]
        result = self.predict_tensor(tensor)
        del tensor

        def back(t: torch.Tensor | None) -> np.ndarray | None:
            if t is None:
                return None
            if tuple(t.shape[-2:]) != (height, width):
                t = F.interpolate(t.float().cpu(), size=(height, width), mode="bilinear", align_corners=False)
            return t[0, 0].float().cpu().numpy()

        # a copy: at scale 1 ``back`` returns a view of the same memory, which the caller cuts to the FOV
        working = result.probability[0, 0].float().cpu().numpy().copy() if keep_working else None
        return Prediction(back(result.probability), back(result.error_attention) if attention else None,
                          working_probability=working)

    def __call__(self, image: np.ndarray) -> Prediction:
        """Predict an RGB ``uint8`` ``(H, W, 3)`` image; returns numpy maps."""
        result = self.predict_tensor(to_tensor_image(image)[None])
        as_numpy = lambda t: None if t is None else t[0, 0].float().cpu().numpy()  # noqa: E731
        return Prediction(as_numpy(result.probability), as_numpy(result.error_attention),
                          as_numpy(result.stage1_probability))
