"""Model weights as safetensors with metadata: saving and loading never run code."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from earnet import __version__
from earnet.exceptions import InputError
from earnet.models.error_attention import VesselSegmenter
from earnet.models.registry import create_model

REQUIRED_METADATA = ("backbone", "refinement")


def save_weights(model: VesselSegmenter, path: str | Path, metadata: dict[str, Any]) -> None:
    """Save ``model``'s weights and ``metadata`` (JSON-encoded values) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"earnet_version": __version__, "backbone": metadata["backbone"], "refinement": model.refinement,
            "attention_weight": model.attention_weight, **metadata}
    state = {k: v.detach().float().contiguous() if v.is_floating_point() else v.detach().contiguous()
             for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(state, tmp, metadata={k: json.dumps(v) for k, v in meta.items()})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json_metadata(path: str | Path, what: str) -> dict[str, Any]:
    """The JSON-encoded metadata of a safetensors file; errors name the file and ``what`` it should be."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, f"{what} not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(path, f"not a safetensors {what} ({error})") from None
    try:
        return {k: json.loads(v) for k, v in raw.items()}
    except json.JSONDecodeError:
        raise InputError(path, f"not an earnet {what} (metadata is not JSON)") from None


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a weights file."""
    meta = read_json_metadata(path, "weights file")
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise InputError(path, f"not an earnet weights file (metadata lacks {', '.join(missing)})")
    return meta


def load_model(path: str | Path) -> tuple[VesselSegmenter, dict[str, Any]]:
    """Rebuild the model described by a weights file and load its weights."""
    path = Path(path)
    meta = read_metadata(path)
    model = create_model(meta["backbone"], refinement=meta["refinement"],
                         attention_weight=meta.get("attention_weight", 0.5), **meta.get("backbone_kwargs", {}))
    try:
        state = load_file(str(path))
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as error:
        raise InputError(path, f"weights do not fit a {meta['backbone']} model ({str(error).splitlines()[0]})") from None
    return model.eval(), meta


def load_lightning_state(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    """The model weights in a Lightning checkpoint (``model.`` prefix removed), loaded safely."""
    try:
        data = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable checkpoint is reported the same way
        raise InputError(checkpoint, f"cannot read checkpoint ({str(error).splitlines()[0]})") from None
    return {k.removeprefix("model."): v for k, v in data["state_dict"].items()}
