"""Segment geometry from skeleton paths: smoothed arc length, chord, curvature.

Pixel paths overstate the length of oblique vessels (a 22.5° line is a staircase of
1- and √2-steps: +8 %), which would swamp the few per cent that tortuosity measures.
Paths are therefore smoothed with a cubic Savitzky-Golay filter before lengths and
curvature are taken (references: Hart et al. 1999, Grisan et al. 2008).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SMOOTHING_WINDOW = 13
"""Savitzky-Golay window in skeleton pixels (odd); cubic fit. Shorter paths use what they have."""


@dataclass
class PathGeometry:
    """Smoothed geometry of one skeleton path (pixels)."""

    points: np.ndarray  # (n, 2) smoothed row/column
    tangent: np.ndarray  # (n, 2) unit tangents
    arc: float  # arc length
    chord: float  # straight distance between the ends
    curvature: np.ndarray  # (n,) signed curvature, 1/px

    @property
    def distance_factor(self) -> float:
        """Arc over chord (1 for a straight segment); NaN when the ends coincide (a loop)."""
        return self.arc / self.chord if self.chord > 1e-9 else float("nan")

    @property
    def mean_curvature(self) -> float:
        """Total absolute curvature over arc length (rad/px), i.e. the mean of |κ| along the arc."""
        if self.arc <= 0 or len(self.points) < 3:
            return float("nan")
        steps = np.hypot(*np.diff(self.points, axis=0).T)
        mid = 0.5 * (np.abs(self.curvature[1:]) + np.abs(self.curvature[:-1]))
        return float(np.sum(mid * steps) / self.arc)


def path_geometry(path: np.ndarray) -> PathGeometry:
    """Smooth ``path`` (ordered skeleton pixels) and measure it."""
    coords = path.astype(np.float64)
    n = len(coords)
    window = min(SMOOTHING_WINDOW, n if n % 2 else n - 1)
    if window >= 5:
        points, d1, d2 = _savgol(coords, window)
    else:  # too short to fit a cubic: straight pieces
        points = coords
        d1 = np.gradient(coords, axis=0) if n > 1 else np.zeros_like(coords)
        d2 = np.zeros_like(coords)
    speed = np.hypot(d1[:, 0], d1[:, 1])
    safe = np.where(speed > 1e-9, speed, 1.0)
    tangent = d1 / safe[:, None]
    curvature = (d1[:, 1] * d2[:, 0] - d1[:, 0] * d2[:, 1]) / safe**3
    arc = float(np.sum(np.hypot(*np.diff(points, axis=0).T))) if n > 1 else 0.0
    chord = float(np.hypot(*(coords[-1] - coords[0])))
    return PathGeometry(points, tangent, arc, chord, curvature)


@lru_cache(maxsize=16)
def _fit_matrices(window: int, order: int = 3) -> np.ndarray:
    """``(3, window, window)``: value, 1st and 2nd derivative of the least-squares cubic at each window position."""
    x = np.arange(window, dtype=np.float64) - window // 2
    vander = np.vander(x, order + 1, increasing=True)
    fit = np.linalg.pinv(vander)  # window samples -> polynomial coefficients
    powers = np.arange(order + 1)
    first = vander[:, np.maximum(powers - 1, 0)] * powers  # d/dx x^k = k x^(k-1)
    second = vander[:, np.maximum(powers - 2, 0)] * powers * (powers - 1)
    return np.stack([vander @ fit, first @ fit, second @ fit])


def _savgol(coords: np.ndarray, window: int) -> np.ndarray:
    """Value, 1st and 2nd derivative ``(3, n, 2)`` of the cubic Savitzky-Golay fit.

    Ends come from the first/last window's fit (scipy's ``mode="interp"``). Same result as ``scipy.signal.savgol_filter`` (tested), without its ~3 ms overhead per
    call, which dominated the measuring of an image's hundreds of segments.
    """
    matrices = _fit_matrices(window)
    half, n = window // 2, len(coords)
    out = np.empty((3, n, 2))
    out[:, half:n - half] = np.moveaxis(sliding_window_view(coords, window, axis=0) @ matrices[:, half].T, -1, 0)
    out[:, :half] = matrices[:, :half] @ coords[:window]
    out[:, n - half:] = matrices[:, half + 1:] @ coords[-window:]
    return out
