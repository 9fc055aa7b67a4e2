"""Models by name: ``create_model("wnet", refinement="paper")``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from earnet.exceptions import EarnetError
from earnet.models.error_attention import REFINEMENTS, Refinement
from earnet.models.segmenter import VesselSegmenter
from earnet.models.wnet import (
    wnet,
    wnet_deep,
    wnet_large,
    wnet_mid,
    wnet_wide,
    wnet_wide_first,
)


def _hrnet_w48(**kwargs: Any) -> nn.Module:
    from earnet.models.hrnet_ocr import hrnet_w48_ocr_mscale

    return hrnet_w48_ocr_mscale(**kwargs)


def _hrnet_w18_small(**kwargs: Any) -> nn.Module:
    from earnet.models.hrnet_ocr import hrnet_w18_small_ocr_mscale

    return hrnet_w18_small_ocr_mscale(**kwargs)


def _unet_densenet161(**kwargs: Any) -> nn.Module:
    from earnet.models.densenet_unet import DenseNetUNet

    return DenseNetUNet(**kwargs)


def _unet_densenet121(**kwargs: Any) -> nn.Module:
    from earnet.models.densenet_unet import DenseNetUNet

    return DenseNetUNet(encoder="densenet121", **kwargs)


BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "wnet": wnet,
    "wnet_wide": wnet_wide,
    "wnet_mid": wnet_mid,
    "wnet_wide_first": wnet_wide_first,
    "wnet_deep": wnet_deep,
    "wnet_large": wnet_large,
    "hrnet_ocr_mscale": _hrnet_w48,
    "hrnet_w18_small_ocr_mscale": _hrnet_w18_small,
    "unet_densenet161": _unet_densenet161,
    "unet_densenet121": _unet_densenet121,
}


def list_models() -> list[str]:
    """Backbone names accepted by :func:`create_model`."""
    return list(BACKBONES)


def create_model(name: str, refinement: Refinement = "none", attention_weight: float = 0.5,
                 **backbone_kwargs: Any) -> VesselSegmenter:
    """Build a segmenter; ``refinement`` adds EAR-Net's error-attention head.

    Keyword arguments that are ``None`` are dropped, so unset CLI options never
    override a backbone's own defaults.
    """
    if name not in BACKBONES:
        raise EarnetError(f"unknown model {name!r}; valid: {', '.join(BACKBONES)}")
    if refinement not in REFINEMENTS:
        raise EarnetError(f"unknown refinement {refinement!r}; valid: {', '.join(REFINEMENTS)}")
    kwargs = {key: value for key, value in backbone_kwargs.items() if value is not None}
    kwargs["in_channels"] = 4 if refinement == "correct" else 3
    return VesselSegmenter(BACKBONES[name](**kwargs), refinement, attention_weight)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_matching(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load ``state`` into ``model`` where names match (stage 1 → stage 2).

    Input convolutions that gained channels (the ``correct`` mode's extra
    stage-1 probability) get the old weights for the old channels and zeros for the
    new ones, so stage 2 starts out computing what stage 1 did. Returns the names
    of the model's parameters that were not initialised from ``state``.
    """
    own = model.state_dict()
    fresh = []
    for name, tensor in own.items():
        source = state.get(name)
        if source is None:
            fresh.append(name)
        elif source.shape == tensor.shape:
            own[name] = source.to(tensor.dtype)
        elif source.ndim == 4 and source.shape[0] == tensor.shape[0] and source.shape[2:] == tensor.shape[2:] \
                and source.shape[1] < tensor.shape[1]:
            grown = torch.zeros_like(tensor)
            grown[:, : source.shape[1]] = source
            own[name] = grown
        else:
            fresh.append(name)
    model.load_state_dict(own)
    return fresh
