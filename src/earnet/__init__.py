"""earnet: retinal vessel segmentation with EAR-Net, evaluated honestly.

>>> import earnet
>>> segmenter = earnet.load_segmenter("drive")    # a bundled pretrained model
>>> probability = segmenter(image)                # RGB uint8 (H, W, 3) -> float32 (H, W)
>>> av = earnet.load_av_segmenter("drive_av").segment(image)   # + artery/vein maps
>>> av.classes, av.artery, av.vein, av.vessels.mask
"""

from __future__ import annotations

from typing import Any

from earnet.exceptions import EarnetError, InputError
from earnet.types import Sample, SampleFiles

__version__ = "0.1.0"

__all__ = [
    "EarnetError",
    "InputError",
    "Sample",
    "SampleFiles",
    "__version__",
    "create_model",
    "get_dataset",
    "list_datasets",
    "load_av_segmenter",
    "load_model",
    "load_segmenter",
]


def __getattr__(name: str) -> Any:
    # torch-heavy parts (and the datasets, which need scipy) are imported on first use, so
    # `import earnet` stays light and the ONNX runtime (earnet.runtime) needs only numpy/Pillow
    if name in ("get_dataset", "list_datasets"):
        from earnet.data import registry

        return getattr(registry, name)
    if name in ("load_segmenter", "load_model"):  # load_model: deprecated alias
        from earnet import segment

        return getattr(segment, name)
    if name == "load_av_segmenter":
        from earnet.av import load_av_segmenter

        return load_av_segmenter
    if name == "create_model":
        from earnet.models.registry import create_model

        return create_model
    raise AttributeError(f"module 'earnet' has no attribute {name!r}")
