"""The A/V predictor: photographs in, artery/vein/vessel probabilities out.

Like :class:`earnet.inference.predictor.Predictor` it owns normalisation, batch-norm
folding, bf16 autocast and tiling, and applies the sigmoid (the A/V model's logits
become probabilities here and nowhere else).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from earnet.data.transforms import normalise, to_tensor_image
from earnet.inference.fusion import fold_batch_norm
from earnet.inference.predictor import MIN_SIDE, TTA_MODES, bf16_supported
from earnet.inference.tiling import sliding_window
from earnet.models.av import AV_CHANNELS, AVWNet
from earnet.models.chain import flip_averaged


@dataclass
class AVPrediction:
    """Probability maps of one photograph at its original size, ``float32`` ``(H, W)``."""

    artery: np.ndarray
    vein: np.ndarray
    vessel: np.ndarray


class AVPredictor:
    """Run an :class:`AVWNet` over photographs of any size.

    Args:
        model: the A/V model (a folded copy is used; ``model`` is not changed).
        device: ``cpu``, ``cuda``, ...
        tile: tile side for sliding-window inference.
        bf16: bf16 autocast; ``None`` decides by hardware.
        tta: ``none`` or ``flip`` (logits averaged over horizontal/vertical flips of the
            photograph and its vessel probability, as the vessel predictor does).
    """

    def __init__(self, model: AVWNet, device: str = "cpu", tile: int = 1024, bf16: bool | None = None,
                 tta: str = "none") -> None:
        if tta not in TTA_MODES:
            raise ValueError(f"unknown TTA mode {tta!r}; valid: {', '.join(TTA_MODES)}")
        self.tta = tta
        self.device = torch.device(device)
        self.model = fold_batch_norm(model).to(self.device, memory_format=torch.channels_last)
        self.tile = tile
        self.bf16 = bf16_supported(self.device) if bf16 is None else bf16

    @property
    def needs_vessel(self) -> bool:
        """Whether the model also takes a vessel probability (:attr:`AVWNet.vessel_input`)."""
        return bool(self.model.vessel_input)

    @torch.inference_mode()
    def predict_tensor(self, image: torch.Tensor, vessel: torch.Tensor | None = None) -> torch.Tensor:
        """``(1, 3, H, W)`` image in [0, 1] (and ``(1, 1, H, W)`` vessel probability for a model
        that needs one) → ``(1, 3, H, W)`` probabilities (artery, vein, vessel)."""
        if self.needs_vessel and vessel is None:
            raise ValueError("this A/V model needs the vessel probability")
        inputs = normalise(image.to(self.device))
        if self.needs_vessel:
            inputs = torch.cat([inputs, vessel.to(self.device, inputs.dtype)], dim=1)  # type: ignore[union-attr]
        inputs = inputs.contiguous(memory_format=torch.channels_last)

        def step(x: torch.Tensor, _: torch.Tensor | None) -> torch.Tensor:  # the vessel map is channel 3 of x
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                vessel_tile = x[:, 3:] if self.needs_vessel else None
                return self.model(x[:, :3], vessel_tile).logits.float()

        run = flip_averaged(step) if self.tta == "flip" else step
        return torch.sigmoid(sliding_window(lambda x: run(x, None), inputs, self.tile, out_channels=len(AV_CHANNELS)))

    def predict_scaled(self, image: np.ndarray, factor: float = 1.0, vessel: np.ndarray | None = None) -> AVPrediction:
        """Predict an RGB ``uint8`` photograph resized by ``factor``; maps at the original size.

        ``vessel``: the vessel probability (models with a vessel input), at the photograph's
        size or already at the working size.
        """
        height, width = image.shape[:2]
        tensor = to_tensor_image(image)[None]
        vessel_tensor = None if vessel is None else torch.from_numpy(np.asarray(vessel, np.float32))[None, None]
        if abs(factor - 1) > 1e-3:
            size = (max(MIN_SIDE, round(height * factor)), max(MIN_SIDE, round(width * factor)))
            tensor = F.interpolate(tensor, size=size, mode="bicubic", align_corners=False,
                                   antialias=factor < 1).clamp(0, 1)
            if vessel_tensor is not None and tuple(vessel_tensor.shape[-2:]) != size:
                vessel_tensor = F.interpolate(vessel_tensor, size=size, mode="bilinear", align_corners=False,
                                              antialias=factor < 1)
        maps = self.predict_tensor(tensor, vessel_tensor if self.needs_vessel else None)
        if tuple(maps.shape[-2:]) != (height, width):
            maps = F.interpolate(maps.float().cpu(), size=(height, width), mode="bilinear", align_corners=False)
        maps = maps[0].float().cpu().numpy()
        return AVPrediction(maps[0], maps[1], maps[2])
