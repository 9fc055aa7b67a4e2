"""Vessel calibre (width) along skeleton paths.

The plain estimate ``2 · EDT − 1`` at a skeleton pixel is off by up to a pixel: it
depends on whether the width is odd or even and on the vessel's angle (measured on
straight test bands). Instead, at each skeleton pixel the mask, linearly interpolated,
is integrated along the normal to the smoothed path: the length of the vessel cross
section. The distance transform bounds how far the profile is followed, and the
profile stops at the first background on each side so a neighbouring vessel never
counts. A segment's calibre is the median of these local widths, leaving out the
ends that lie inside a branch point (within its radius).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

PROFILE_SAMPLES = 41
"""Samples across each cross section (odd, so the middle one is the skeleton pixel)."""


def local_widths(mask: np.ndarray, radius: np.ndarray, points: np.ndarray, tangent: np.ndarray,
                 pixels: np.ndarray) -> np.ndarray:
    """Width of the vessel cross section at each path point (pixels).

    Args:
        mask: the vessel mask, as ``float32`` 0/1.
        radius: the mask's Euclidean distance transform (needed at ``pixels`` only).
        points: smoothed path points ``(n, 2)``; ``tangent``: unit tangents there.
        pixels: the skeleton pixels ``(n, 2)`` the points come from (for the radius).
    """
    if len(points) == 0:
        return np.zeros(0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    reach = radius[pixels[:, 0], pixels[:, 1]] + 2.0
    offsets = np.linspace(-1.0, 1.0, PROFILE_SAMPLES)[None, :] * reach[:, None]
    where = np.empty((2, len(points), PROFILE_SAMPLES))  # rows, columns: the layout map_coordinates reads
    for axis in (0, 1):
        np.add(points[:, axis, None], offsets * normal[:, axis, None], out=where[axis])
    profile = ndimage.map_coordinates(mask, where.reshape(2, -1), order=1, mode="constant", cval=0.0)
    profile = profile.reshape(len(points), PROFILE_SAMPLES)
    mid = PROFILE_SAMPLES // 2
    inside = profile > 1e-6
    right = np.cumprod(inside[:, mid:], axis=1)
    left = np.cumprod(inside[:, mid::-1], axis=1)[:, :0:-1]
    connected = np.concatenate([left, right], axis=1).astype(bool)
    step = 2.0 * reach / (PROFILE_SAMPLES - 1)
    return np.trapezoid(np.where(connected, profile, 0.0), axis=1) * step


def segment_calibres(widths: np.ndarray, bounds: np.ndarray, arc_positions: np.ndarray, radius_at_ends: np.ndarray,
                     junction_ends: np.ndarray) -> np.ndarray:
    """Per segment, the median local width without the parts inside the branch points at
    its ends: points closer to a junction end than its radius + 1 px (arc length) are left
    out, unless fewer than 3 points would remain. All segments in one go (a median call
    per segment cost more than the widths themselves).

    Args:
        widths, arc_positions: local widths and arc length from the segment's start, all
            segments concatenated.
        bounds: segment ``i`` is ``[bounds[i], bounds[i + 1])``; no segment is empty.
        radius_at_ends: ``(n, 2)`` vessel radius (EDT) at each segment's first and last pixel.
        junction_ends: ``(n, 2)`` whether the first / last pixel is a branch point.
    """
    count = np.diff(bounds)
    owner = np.repeat(np.arange(len(count)), count)
    total = arc_positions[bounds[1:] - 1]
    keep = np.ones(len(widths), dtype=bool)
    first, last = junction_ends[:, 0][owner], junction_ends[:, 1][owner]
    keep[first] &= arc_positions[first] > (radius_at_ends[:, 0] + 1.0)[owner][first]
    keep[last] &= arc_positions[last] < (total - radius_at_ends[:, 1] - 1.0)[owner][last]
    kept = np.add.reduceat(keep, bounds[:-1]) if len(widths) else np.zeros(0, dtype=np.int64)
    keep |= (kept < 3)[owner]  # too little left: the whole segment
    chosen, who = widths[keep], owner[keep]
    order = np.lexsort((chosen, who))
    chosen, n = chosen[order], np.bincount(who, minlength=len(count))
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    low, high = chosen[start + (n - 1) // 2], chosen[start + n // 2]
    return np.where(n % 2 == 1, low, (low + high) / 2)  # np.median: the mean of the two middle values
