"""Pretrained model bundles: EAR-Net's one or two stages in one safetensors file.

A bundle holds the stage-1 weights under ``stage1.`` and, for EAR-Net, the stage-2
weights under ``stage2.``, with JSON metadata: backbones, refinement, the decision
threshold, the FOV diameter (px) of the training images (inputs are rescaled to it),
the dataset, its test metrics and the earnet version. Loading never executes code.
Bundles shipped with earnet live in ``earnet/weights/<name>.safetensors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from earnet import __version__
from earnet.engine.weights import read_json_metadata
from earnet.exceptions import EarnetError, InputError
from earnet.io import atomic_write
from earnet.models.error_attention import VesselSegmenter
from earnet.models.registry import create_model

WEIGHTS_DIR = Path(__file__).parent / "weights"
SUFFIX = ".safetensors"


def bundled_models() -> dict[str, Path]:
    """Names and paths of the bundles shipped with earnet."""
    return {p.name.removesuffix(SUFFIX): p for p in sorted(WEIGHTS_DIR.glob(f"*{SUFFIX}"))}


def resolve(name_or_path: str | Path) -> Path:
    """A bundled model's name, or a path to a bundle file."""
    path = Path(name_or_path)
    if path.suffix == SUFFIX or path.exists():
        if not path.is_file():
            raise InputError(path, "model file not found")
        return path
    models = bundled_models()
    if str(name_or_path) not in models:
        raise EarnetError(f"unknown model {name_or_path!r}; bundled: {', '.join(models) or 'none'} "
                          f"(or give a path to a .safetensors bundle)")
    return models[str(name_or_path)]


def save_bundle(path: str | Path, stage1: VesselSegmenter, stage2: VesselSegmenter | None,
                metadata: dict[str, Any]) -> None:
    """Write a bundle atomically. ``metadata`` needs ``backbone``, ``threshold``, ``fov_diameter``."""
    for key in ("backbone", "threshold", "fov_diameter"):
        if key not in metadata:
            raise ValueError(f"bundle metadata needs {key!r}")
    tensors = {f"stage1.{k}": v.detach().float().contiguous() if v.is_floating_point() else v.contiguous()
               for k, v in stage1.state_dict().items()}
    if stage2 is not None:
        tensors.update({f"stage2.{k}": v.detach().float().contiguous() if v.is_floating_point() else v.contiguous()
                        for k, v in stage2.state_dict().items()})
    meta = {"format": "earnet-bundle/1", "earnet_version": __version__,
            "refinement": stage2.refinement if stage2 is not None else "none",
            "attention_weight": stage2.attention_weight if stage2 is not None else 0.5, **metadata}
    from safetensors.torch import save as save_bytes

    data = save_bytes(tensors, metadata={k: json.dumps(v) for k, v in meta.items()})
    with atomic_write(path) as handle:
        handle.write(data)


def read_bundle_metadata(path: str | Path) -> dict[str, Any]:
    """A bundle's metadata; a foreign or corrupt file is an error naming it."""
    meta = read_json_metadata(path, "model bundle")
    if meta.get("format") != "earnet-bundle/1":
        raise InputError(path, "not an earnet model bundle (no 'earnet-bundle/1' format tag)")
    return meta


def load_bundle(name_or_path: str | Path) -> tuple[VesselSegmenter, VesselSegmenter | None, dict[str, Any]]:
    """Rebuild the stage-1 (and stage-2) models of a bundle."""
    path = resolve(name_or_path)
    meta = read_bundle_metadata(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise InputError(path, f"cannot read model weights ({error})") from None
    stage1 = create_model(meta["backbone"])
    stage2 = None
    try:
        stage1.load_state_dict(_strip(tensors, "stage1."))
        if meta["refinement"] != "none":
            stage2 = create_model(meta["backbone"], refinement=meta["refinement"],
                                  attention_weight=meta["attention_weight"])
            stage2.load_state_dict(_strip(tensors, "stage2."))
    except RuntimeError as error:
        raise InputError(path, f"weights do not fit a {meta['backbone']} model "
                               f"({str(error).splitlines()[0]})") from None
    return stage1.eval(), (stage2.eval() if stage2 is not None else None), meta


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
