"""Writing a segmentation's maps: the one place that names and encodes output files.

Per photograph (``stem`` is the output path without suffix): ``<stem>_prob.png``
(16-bit probability), ``<stem>_mask.png``, ``<stem>_overlay.png`` (vessels over the
photograph), ``<stem>_attention.png`` (stage-2 error attention, 8-bit) and, where the
reference is known, ``<stem>_errors.png`` (TP white, FP red, FN blue). Used by
``earnet segment``, ``earnet predict`` and the test step of a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from earnet.io import probability_to_uint16, write_png
from earnet.viz import error_colours, overlay

if TYPE_CHECKING:
    from earnet.segment import Segmentation

SUFFIXES = ("prob", "mask", "overlay", "attention", "errors")


def write_maps(stem: Path, image: np.ndarray, result: Segmentation, attention: bool = True,
               label: np.ndarray | None = None) -> list[Path]:
    """Write ``result``'s maps next to ``stem``; ``attention`` only for a two-stage model."""
    def path(suffix: str) -> Path:
        return stem.parent / f"{stem.name}_{suffix}.png"

    written = [path("prob"), path("mask"), path("overlay")]
    write_png(written[0], probability_to_uint16(result.probability))
    write_png(written[1], result.mask)
    write_png(written[2], overlay(image, result.mask))
    if attention and result.error_attention is not None:
        written.append(path("attention"))
        write_png(written[-1], np.round(result.error_attention * 255).astype(np.uint8))
    if label is not None:
        written.append(path("errors"))
        write_png(written[-1], error_colours(result.mask, label, result.fov))
    return written
