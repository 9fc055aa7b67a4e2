"""Writing a segmentation's maps: the one place that names and encodes output files.

Per photograph (``stem`` is the output path without suffix): ``<stem>_prob.png``
(16-bit probability), ``<stem>_mask.png``, ``<stem>_overlay.png`` (vessels over the
photograph), ``<stem>_attention.png`` (stage-2 error attention, 8-bit) and, where the
reference is known, ``<stem>_errors.png`` (TP white, FP red, FN blue). Used by
``earnet segment``, ``earnet predict`` and the test step of a run.

Each map is computed and encoded in strips of rows (:mod:`earnet.png`), so writing
adds a strip's memory, not a photograph's: the 16-bit map, the overlay and the
colour maps never exist at full size.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from earnet.io import probability_to_uint16, write_png_strips
from earnet.png import ROWS, as_png_strip
from earnet.viz import error_colours, overlay

if TYPE_CHECKING:
    from earnet.segment import Segmentation

SUFFIXES = ("prob", "mask", "overlay", "attention", "errors")


def write_maps(stem: Path, image: np.ndarray, result: Segmentation, attention: bool = True,
               label: np.ndarray | None = None) -> list[Path]:
    """Write ``result``'s maps next to ``stem``; ``attention`` only for a two-stage model."""
    def path(suffix: str) -> Path:
        return stem.parent / f"{stem.name}_{suffix}.png"

    height, width = result.mask.shape

    def write(suffix: str, strip: Callable[[slice], np.ndarray]) -> Path:
        write_png_strips(path(suffix), height, width,
                         (strip(slice(top, top + ROWS)) for top in range(0, height, ROWS)))
        return path(suffix)

    written = [write("prob", lambda rows: probability_to_uint16(result.probability[rows])),
               write("mask", lambda rows: as_png_strip(result.mask[rows])),
               write("overlay", lambda rows: overlay(image[rows], result.mask[rows]))]
    if attention and result.error_attention is not None:
        error_attention = result.error_attention
        written.append(write("attention", lambda rows: np.round(error_attention[rows] * 255).astype(np.uint8)))
    if label is not None:
        written.append(write("errors", lambda rows: error_colours(result.mask[rows], label[rows], result.fov[rows])))
    return written
