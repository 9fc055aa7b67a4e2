"""A/V model weights: the trained model file, and the A/V part of a shipped bundle.

A trained A/V model is saved as ``model.safetensors`` with JSON metadata (format
``earnet-av/1``, backbone, FOV diameter of the training images, validation scores).
A shipped A/V bundle is an ordinary vessel bundle (``earnet-bundle/1``: EAR-Net's
stages under ``stage1.``/``stage2.``) that also holds the A/V model under ``av.`` and
its metadata under the key ``av``; vessel-only loaders ignore both. Loading never
executes code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes

from earnet import __version__
from earnet.exceptions import InputError
from earnet.io import atomic_write
from earnet.model_file import read_metadata
from earnet.models.av import AV_MODELS, AVWNet, create_av_model

AV_FORMAT = "earnet-av/1"
AV_PREFIX = "av."


def _state(model: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v.detach().float().contiguous() if v.is_floating_point() else v.detach().contiguous()
            for k, v in model.state_dict().items()}


def save_av_model(model: AVWNet, path: str | Path, metadata: dict[str, Any]) -> None:
    """Save a trained A/V model with ``metadata`` (needs ``backbone``), atomically."""
    meta = {"format": AV_FORMAT, "earnet_version": __version__, **metadata}
    data = save_bytes(_state(model), metadata={k: json.dumps(v) for k, v in meta.items()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        handle.write(data)


def _build(path: Path, backbone: str, tensors: dict[str, torch.Tensor]) -> AVWNet:
    if backbone not in AV_MODELS:
        raise InputError(path, f"unknown A/V backbone {backbone!r}")
    model = create_av_model(backbone)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as error:
        raise InputError(path, f"weights do not fit an {backbone} model ({str(error).splitlines()[0]})") from None
    return model.eval()


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise InputError(path, f"cannot read model weights ({error})") from None


def load_av_model(path: str | Path) -> tuple[AVWNet, dict[str, Any]]:
    """A trained A/V model file (``earnet-av/1``) and its metadata."""
    path = Path(path)
    meta = read_metadata(path, "A/V model")
    if meta.get("format") != AV_FORMAT:
        raise InputError(path, f"not an earnet A/V model (no {AV_FORMAT!r} format tag)")
    return _build(path, meta["backbone"], _tensors(path)), meta


def has_av(metadata: dict[str, Any]) -> bool:
    """Whether a bundle's metadata describes an A/V model."""
    return isinstance(metadata.get("av"), dict)


def load_bundle_av(path: str | Path) -> tuple[AVWNet, dict[str, Any]]:
    """The A/V model of a bundle and its A/V metadata.

    Raises:
        InputError: the bundle has no A/V model.
    """
    path = Path(path)
    meta = read_metadata(path, "model bundle")
    if not has_av(meta):
        raise InputError(path, "this model has no artery/vein head (bundled A/V models: see 'earnet models')")
    tensors = {k.removeprefix(AV_PREFIX): v for k, v in _tensors(path).items() if k.startswith(AV_PREFIX)}
    return _build(path, meta["av"]["backbone"], tensors), meta["av"]


def add_av_to_bundle(bundle: str | Path, av_model: AVWNet, av_metadata: dict[str, Any], out: str | Path) -> None:
    """Write ``out``: the vessel bundle ``bundle`` plus ``av_model`` (atomically)."""
    bundle = Path(bundle)
    meta = read_metadata(bundle, "model bundle")
    tensors = {k: v for k, v in _tensors(bundle).items() if not k.startswith(AV_PREFIX)}
    tensors.update(_state(av_model, AV_PREFIX))
    meta["av"] = av_metadata
    data = save_bytes(tensors, metadata={k: json.dumps(v) for k, v in meta.items()})
    with atomic_write(out) as handle:
        handle.write(data)
