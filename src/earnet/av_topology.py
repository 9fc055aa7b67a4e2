"""Topology-aware A/V clean-up: one decision per vessel segment between junctions.

A vessel keeps its type between two branch points, so pixel-wise A/V decisions that
flip along a segment are errors. The vessel mask is skeletonised, junction pixels
(three or more skeleton neighbours) and their 8-neighbours are cut out, and each
remaining skeleton segment takes the mean of ``p_artery - p_vein`` along it (a soft
majority vote). Every pixel then takes the vote of its nearest skeleton segment.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]])
_CONNECTED = np.ones((3, 3), bool)


def segment_vote(artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Artery and vein maps whose artery-vs-vein decision is the vote of the nearest segment.

    Where the vote disagrees with a pixel's own ``artery >= vein`` the two probabilities
    are swapped, so every consumer of the maps (``av_label_map``, the metrics) sees the
    voted decision and crossings (both high) are kept.
    """
    from skimage.morphology import skeletonize

    if not vessel.any():
        return artery, vein
    skeleton = skeletonize(vessel)
    neighbours = ndimage.convolve(skeleton.astype(np.uint8), _NEIGHBOURS, mode="constant")
    junctions = skeleton & (neighbours >= 3)
    segments = skeleton & ~ndimage.binary_dilation(junctions, structure=_CONNECTED)
    labels, count = ndimage.label(segments, structure=_CONNECTED)
    if count == 0:
        return artery, vein
    votes = ndimage.mean((artery - vein).astype(np.float64), labels, index=np.arange(1, count + 1))
    segment_is_artery = np.concatenate([[False], np.asarray(votes) >= 0])
    _, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    voted_artery = segment_is_artery[labels[rows, cols]]
    swap = voted_artery != (artery >= vein)
    return np.where(swap, vein, artery), np.where(swap, artery, vein)
