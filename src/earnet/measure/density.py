"""Vessel density inside the field of view, and the pixel size of a photograph.

Density is the fraction of FOV pixels that are vessel (e.g. Cheung et al. 2012 use the
same area fraction on OCT-A). The FOV diameter in pixels is the widest row of the FOV
mask (camera masks are often clipped at top and bottom, never at the sides).
"""

from __future__ import annotations

import numpy as np

MICRONS_PER_DEGREE = 288.0
"""Retinal distance per degree of visual angle in a standard (Gullstrand) eye, µm."""


def vessel_density(mask: np.ndarray, fov: np.ndarray) -> float:
    """Fraction of FOV pixels that are vessel pixels."""
    area = int(fov.sum())
    return float((mask & fov).sum() / area) if area else float("nan")


def fov_diameter(fov: np.ndarray) -> int:
    """Diameter of the field of view in pixels: its widest row."""
    return int(fov.sum(axis=1).max(initial=0))


def pixel_size_from_fov(fov: np.ndarray, fov_degrees: float) -> float:
    """µm per pixel for a camera of ``fov_degrees`` whose FOV spans ``fov_diameter(fov)`` pixels."""
    diameter = fov_diameter(fov)
    if diameter == 0:
        return float("nan")
    return fov_degrees * MICRONS_PER_DEGREE / diameter
