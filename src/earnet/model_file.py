"""The one owner of earnet's weights files: safetensors with JSON metadata.

A file holds one or more models' state dicts, each under a prefix (``""`` for a run
stage's single model, ``"stage1."``/``"stage2."`` in a bundle), plus metadata whose
values are JSON-encoded strings. Files are written through :func:`earnet.io.atomic_write`
(never half-written, the permissions ``open()`` would give); loading never executes
code, and every problem is an :class:`~earnet.exceptions.InputError` naming the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as encode

from earnet import __version__
from earnet.exceptions import InputError
from earnet.io import atomic_write
from earnet.models.registry import BACKBONES, create_model
from earnet.models.segmenter import VesselSegmenter


@dataclass
class ModelFile:
    """A weights file's tensors and decoded metadata."""

    path: Path
    tensors: dict[str, torch.Tensor]
    metadata: dict[str, Any]

    def state(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """The tensors under ``prefix``, with the prefix removed."""
        return {k.removeprefix(prefix): v for k, v in self.tensors.items() if k.startswith(prefix)}


def model_metadata(model: VesselSegmenter) -> dict[str, Any]:
    """What is needed to rebuild ``model`` besides its backbone name."""
    return {"refinement": model.refinement, "attention_weight": model.attention_weight}


def save_models(path: str | Path, models: Mapping[str, VesselSegmenter], metadata: dict[str, Any]) -> Path:
    """Write the state dicts of ``models`` (prefix → model) and ``metadata`` to ``path`` atomically."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, model in models.items():
        for name, value in model.state_dict().items():
            value = value.detach()
            tensors[prefix + name] = (value.float() if value.is_floating_point() else value).contiguous()
    meta = {"earnet_version": __version__, **metadata}
    data = encode(tensors, metadata={k: json.dumps(v) for k, v in meta.items()})
    with atomic_write(path) as handle:
        handle.write(data)
    return Path(path)


def read_metadata(path: str | Path, what: str = "weights file") -> dict[str, Any]:
    """The decoded metadata of a weights file; errors name the file and ``what`` it should be."""
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


def load_tensors(path: str | Path, what: str = "weights file") -> ModelFile:
    """Read a weights file; non-finite weights are refused (they would segment garbage)."""
    path = Path(path)
    metadata = read_metadata(path, what)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise InputError(path, f"cannot read model weights ({error})") from None
    bad = next((k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise InputError(path, f"{what} has non-finite weights ({bad})")
    return ModelFile(path, tensors, metadata)


def build_model(file: ModelFile, prefix: str, refinement: str, attention_weight: float = 0.5) -> VesselSegmenter:
    """The model stored under ``prefix`` of ``file`` (backbone from its metadata), in eval mode."""
    backbone = file.metadata.get("backbone")
    if not isinstance(backbone, str) or backbone not in BACKBONES:
        raise InputError(file.path, f"unknown backbone {backbone!r}; known: {', '.join(BACKBONES)}")
    if not isinstance(attention_weight, (int, float)) or not math.isfinite(attention_weight):
        raise InputError(file.path, f"attention_weight {attention_weight!r} is not a number")
    try:
        model = create_model(backbone, refinement=refinement, attention_weight=float(attention_weight),
                             **file.metadata.get("backbone_kwargs", {}))
        model.load_state_dict(file.state(prefix))
    except (RuntimeError, TypeError, ValueError) as error:
        raise InputError(file.path, f"weights do not fit a {backbone} model ({str(error).splitlines()[0]})") from None
    return model.eval()


def load_model(path: str | Path, what: str = "weights file") -> VesselSegmenter:
    """The single model of a weights file (a run's stage or fold model), in eval mode."""
    file = load_tensors(path, what)
    refinement = file.metadata.get("refinement", "none")
    return build_model(file, "", refinement, file.metadata.get("attention_weight", 0.5))
