"""Artery/vein colour maps (RITE colour code) and segment types.

Red (255, 0, 0) artery, blue (0, 0, 255) vein, green (0, 255, 0) crossing, white
uncertain, black background; ``earnet segment --av`` writes the same code. A channel
counts as on above 127, so anti-aliased or JPEG-saved maps still read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from earnet.exceptions import InputError
from earnet.io import read_rgb

UNKNOWN, ARTERY, VEIN = 0, 1, 2
TYPE_NAMES = {UNKNOWN: "unknown", ARTERY: "artery", VEIN: "vein"}
MIN_TYPED_FRACTION = 0.5
"""A segment gets a type when at least this fraction of its pixels is artery or vein."""


def av_classes(rgb: np.ndarray) -> np.ndarray:
    """Per pixel: ARTERY, VEIN or UNKNOWN (crossing, uncertain, background)."""
    on = rgb[..., :3] > 127
    red, green, blue = on[..., 0], on[..., 1], on[..., 2]
    classes = np.full(rgb.shape[:2], UNKNOWN, dtype=np.uint8)
    classes[red & ~green & ~blue] = ARTERY
    classes[blue & ~red & ~green] = VEIN
    return classes


def read_av_map(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Read an A/V colour map and check it matches ``shape``."""
    rgb = read_rgb(path)
    if rgb.shape[:2] != shape:
        raise InputError(path, f"A/V map is {rgb.shape[1]}x{rgb.shape[0]}, the vessel mask {shape[1]}x{shape[0]}")
    return av_classes(rgb)


def segment_type(classes: np.ndarray, pixels: np.ndarray) -> int:
    """Majority type of a segment's skeleton pixels (UNKNOWN when too few are typed or tied)."""
    values = classes[pixels[:, 0], pixels[:, 1]]
    arteries, veins = int((values == ARTERY).sum()), int((values == VEIN).sum())
    if arteries + veins < MIN_TYPED_FRACTION * len(values) or arteries == veins:
        return UNKNOWN
    return ARTERY if arteries > veins else VEIN
