"""Topology-aware A/V clean-up: one decision per vessel segment between junctions.

A vessel keeps its type between two branch points, so pixel-wise A/V decisions that
flip along a segment are errors. The vessel mask is skeletonised, junction pixels
(three or more skeleton neighbours) and their 8-neighbours are cut out, and each
remaining skeleton segment takes the mean of ``p_artery - p_vein`` along it (a soft
majority vote). Every pixel then takes the vote of its nearest skeleton segment.

It runs once per photograph in ``earnet segment --av`` (budget: the whole A/V step
≤ 0.1 s per DRIVE image), so the 3x3 neighbourhood operations are shifted array sums
rather than generic filters, and the vote is a sum (its sign is the mean's).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_CONNECTED = np.ones((3, 3), bool)
_OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def _shifted(mask: np.ndarray) -> list[np.ndarray]:
    """The eight 3x3-neighbour views of ``mask`` (zero beyond the border)."""
    padded = np.pad(mask, 1)
    height, width = mask.shape
    return [padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width] for dy, dx in _OFFSETS]


def neighbour_count(mask: np.ndarray) -> np.ndarray:
    """Number of 8-neighbours of each pixel that are set in ``mask`` (``uint8``)."""
    count = np.zeros(mask.shape, np.uint8)
    for view in _shifted(mask.view(np.uint8)):
        count += view
    return count


def dilate3(mask: np.ndarray) -> np.ndarray:
    """``mask`` dilated by a 3x3 square."""
    out = mask.copy()
    for view in _shifted(mask):
        out |= view
    return out


def _segments(vessel: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """The skeleton of ``vessel`` cut at its junctions: segment labels, their count, and the
    junction zones (junction pixels and their 8-neighbours, on the skeleton)."""
    from skimage.morphology import skeletonize

    skeleton = skeletonize(vessel)
    junctions = skeleton & (neighbour_count(skeleton) >= 3)
    zones = dilate3(junctions)
    labels, count = ndimage.label(skeleton & ~zones, structure=_CONNECTED)
    return labels, count, skeleton & zones


def _apply(artery: np.ndarray, vein: np.ndarray, labels: np.ndarray, segment_is_artery: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel takes its nearest segment's decision: where it disagrees with the pixel's own
    ``artery >= vein`` the two probabilities are swapped."""
    rows, cols = ndimage.distance_transform_edt(labels == 0, return_distances=False, return_indices=True)
    swap = segment_is_artery[labels[rows, cols]] != (artery >= vein)
    return np.where(swap, vein, artery), np.where(swap, artery, vein)


def segment_vote(artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Artery and vein maps whose artery-vs-vein decision is the vote of the nearest segment.

    Where the vote disagrees with a pixel's own ``artery >= vein`` the two probabilities
    are swapped, so every consumer of the maps (``av_label_map``, the metrics) sees the
    voted decision and crossings (both high) are kept.
    """
    if not vessel.any():
        return artery, vein
    labels, count, _ = _segments(vessel)
    if count == 0:
        return artery, vein
    votes = np.bincount(labels.ravel(), weights=(artery - vein).ravel().astype(np.float64), minlength=count + 1)
    segment_is_artery = votes >= 0
    segment_is_artery[0] = False
    return _apply(artery, vein, labels, segment_is_artery)


def graph_vote(artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray, **params: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`segment_vote`, with the decisions of whole vessel trees joined at bifurcations
    and crossings (:func:`earnet.av_graph.graph_decisions`, which takes ``params``) instead of
    single segments."""
    from earnet.av_graph import graph_decisions

    if not vessel.any():
        return artery, vein
    labels, count, zones = _segments(vessel)
    if count == 0:
        return artery, vein
    nodes, node_count = ndimage.label(zones, structure=_CONNECTED)
    decisions = graph_decisions(artery - vein, labels, count, nodes, node_count, **params)
    return _apply(artery, vein, labels, decisions)


def clean_up(artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray, cleanup: str) -> tuple[np.ndarray, np.ndarray]:
    """The A/V clean-up named ``cleanup`` (:data:`earnet.av_graph.CLEANUPS`); ``none`` returns the maps."""
    if cleanup == "none":
        return artery, vein
    return (graph_vote if cleanup == "graph" else segment_vote)(artery, vein, vessel)
