"""Pretrained model bundles: EAR-Net's one or two stages in one safetensors file.

A bundle holds the stage-1 weights under ``stage1.`` and, for EAR-Net, the stage-2
weights under ``stage2.``, with JSON metadata: backbone, refinement, the decision
threshold, the FOV diameter (px) of the training images (inputs are rescaled to it),
the dataset, its test metrics and the earnet version. It is a thin layer over
:mod:`earnet.model_file`; :func:`earnet.inference.loader.load_trained_model` reads it.
Bundles shipped with earnet live in ``earnet/weights/<name>.safetensors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from earnet.exceptions import EarnetError, InputError
from earnet.model_file import model_metadata, read_metadata, save_models
from earnet.models.segmenter import VesselSegmenter

WEIGHTS_DIR = Path(__file__).parent / "weights"
SUFFIX = ".safetensors"
FORMAT = "earnet-bundle/1"


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
                          f"(or give a path to a .safetensors bundle or a run folder)")
    return models[str(name_or_path)]


def save_bundle(path: str | Path, stage1: VesselSegmenter, stage2: VesselSegmenter | None,
                metadata: dict[str, Any]) -> Path:
    """Write a bundle atomically. ``metadata`` needs ``backbone``, ``threshold``, ``fov_diameter``."""
    for key in ("backbone", "threshold", "fov_diameter"):
        if key not in metadata:
            raise ValueError(f"bundle metadata needs {key!r}")
    models = {"stage1.": stage1, **({"stage2.": stage2} if stage2 is not None else {})}
    refiner = model_metadata(stage2) if stage2 is not None else {"refinement": "none", "attention_weight": 0.5}
    return save_models(path, models, {"format": FORMAT, **refiner, **metadata})


def read_bundle_metadata(path: str | Path) -> dict[str, Any]:
    """A bundle's metadata; a foreign or corrupt file is an error naming it."""
    meta = read_metadata(path, "model bundle")
    if meta.get("format") != FORMAT:
        raise InputError(path, f"not an earnet model bundle (no {FORMAT!r} format tag)")
    return meta
