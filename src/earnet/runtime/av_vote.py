"""The A/V segment vote (:func:`earnet.av_topology.segment_vote`) in numpy alone.

``earnet segment --av`` makes one artery-or-vein decision per vessel segment between
junctions with scikit-image's skeleton and SciPy's labelling and distance transform;
the runtime path has neither. Each part is rebuilt here to give the same result,
including the choice among equally near segments: Zhang and Suen's thinning (the
algorithm behind ``skimage.morphology.skeletonize`` in 2D), 8-connected labelling, and
the nearest-feature transform of ``scipy.ndimage.distance_transform_edt`` (the same
two separable passes, so ties go the same way). Tests compare each against the library.
"""

from __future__ import annotations

import numpy as np

_DEPTH = 8
"""Envelope entries tested at once when a new column pops entries off a row's envelope."""
_BLOCK = 256
"""Rows per block of the envelope query (bounds its temporary arrays)."""
_OFFSETS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
"""Zhang and Suen's neighbours P2..P9: N, NE, E, SE, S, SW, W, NW (bit k of a pattern is P(k+2))."""


_SCIKIT_IMAGE_TABLE = {3: 1, 5: 3, 6: 1, 7: 1, 12: 2, 13: 2, 20: 3, 24: 0, 28: 2, 48: 2, 52: 2, 54: 2, 65: 3,
                       67: 1, 80: 3, 88: 2, 96: 2, 97: 1, 99: 1, 112: 2, 129: 1, 133: 1, 192: 0, 193: 1, 208: 1}
"""The 25 neighbour patterns whose removal scikit-image's thinning table sets differently from
Zhang and Suen's rules (1: first sub-iteration, 2: second, 3: both, 0: never). Found by
probing ``skimage.morphology.skeletonize`` (scikit-image, BSD-3-Clause) with every 3x3
neighbourhood and 3,000 small random shapes and solving for the one table consistent with
all of them; the tests compare the whole thinning with scikit-image's."""


def _thinning_tables() -> tuple[np.ndarray, np.ndarray]:
    """For each of the 256 neighbour patterns: may the centre go in the first / second sub-iteration?"""
    first, second = np.zeros(256, bool), np.zeros(256, bool)
    for code in range(256):
        p = [(code >> k) & 1 for k in range(8)]  # p[0] = P2 ... p[7] = P9
        neighbours = sum(p)
        transitions = sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))
        if not (2 <= neighbours <= 6 and transitions == 1):
            continue
        n, e, s, w = p[0], p[2], p[4], p[6]
        first[code] = not (n and e and s) and not (e and s and w)
        second[code] = not (n and e and w) and not (n and s and w)
    for code, passes in _SCIKIT_IMAGE_TABLE.items():
        first[code], second[code] = bool(passes & 1), bool(passes & 2)
    return first, second


_FIRST, _SECOND = _thinning_tables()


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide skeleton of a boolean mask: ``skimage.morphology.skeletonize`` in 2D.

    Zhang and Suen's parallel thinning: sub-iterations alternate, each removing at once
    every pixel its table marks for it, until a whole iteration removes nothing. Only the
    remaining pixels are looked at (flat indices into a zero-bordered copy).
    """
    width = mask.shape[1]
    padded = np.pad(np.asarray(mask, bool), 1).astype(np.uint8)
    flat = padded.reshape(-1)
    offsets = [dy * (width + 2) + dx for dy, dx in _OFFSETS]
    pixels = np.flatnonzero(flat)
    removed = True
    while removed:
        removed = False
        for table in (_FIRST, _SECOND):
            code = np.zeros(len(pixels), np.uint8)
            for bit, offset in enumerate(offsets):
                code |= flat[pixels + offset] << bit
            drop = table[code]
            if drop.any():
                flat[pixels[drop]] = 0
                pixels = pixels[~drop]
                removed = True
    return padded[1:-1, 1:-1].astype(bool)


def _neighbour_count(image: np.ndarray) -> np.ndarray:
    padded = np.pad(image, 1).astype(np.uint8)
    height, width = image.shape
    return sum(padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width] for dy, dx in _OFFSETS)


def _dilate(image: np.ndarray) -> np.ndarray:
    """Dilation by a 3x3 square."""
    return image | (_neighbour_count(image) > 0)


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a boolean mask: ``int32`` labels 1..count in raster order of
    each component's first pixel (as ``scipy.ndimage.label`` numbers them), and the count."""
    rows, cols = np.nonzero(mask)
    count = len(rows)
    labels = np.zeros(mask.shape, np.int32)
    if count == 0:
        return labels, 0
    index = np.full((mask.shape[0] + 2, mask.shape[1] + 2), -1, np.int64)
    index[rows + 1, cols + 1] = np.arange(count)
    pairs = [(np.arange(count), index[rows + 1 + dy, cols + 1 + dx]) for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1))]
    a = np.concatenate([p[0][p[1] >= 0] for p in pairs])
    b = np.concatenate([p[1][p[1] >= 0] for p in pairs])
    root = np.arange(count)
    while True:  # hook roots to the smallest neighbouring root, then jump pointers, until nothing changes
        low = np.minimum(root[a], root[b])
        new = root.copy()
        np.minimum.at(new, root[a], low)
        np.minimum.at(new, root[b], low)
        new = new[new]
        while not np.array_equal(new, new[new]):
            new = new[new]
        if np.array_equal(new, root):
            break
        root = new
    _, component = np.unique(root, return_inverse=True)  # roots are first pixels, so raster order
    labels[rows, cols] = component.reshape(-1) + 1
    return labels, int(component.max()) + 1


def nearest_feature(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the nearest ``True`` pixel for every pixel (Euclidean distance).

    Equal to the indices of ``scipy.ndimage.distance_transform_edt(~features,
    return_indices=True)``, ties included: the same two passes (nearest in each column,
    then the lower envelope along each row), with the same comparisons.
    """
    height, width = features.shape
    if not features.any():
        raise ValueError("no feature pixels")
    rows = np.arange(height)[:, None]
    above = np.maximum.accumulate(np.where(features, rows, -1), axis=0)
    below = np.minimum.accumulate(np.where(features, rows, height)[::-1], axis=0)[::-1]
    # nearest feature in the pixel's column; equally near: the one above
    use_below = (above < 0) | ((below < height) & (below - rows < rows - above))
    column_row = np.where(use_below, below, above)
    column_row = np.where(column_row >= height, -1, column_row).astype(np.int32)
    del above, below, use_below

    # along each row, all rows at once: the lower envelope of the columns' nearest features
    # (every row sees a feature in exactly the columns that hold one); int32 storage, int64 sums
    r = np.arange(height)
    squared = ((column_row - r[:, None].astype(np.int32)) ** 2).astype(np.int32)
    stack = np.zeros((height, width), np.int32)
    top = np.full(height, -1, np.int64)
    # the top two envelope entries of every row and their squared row distances, kept at hand
    last, prev = np.zeros(height, np.int64), np.zeros(height, np.int64)
    s_last, s_prev = np.zeros(height, np.int64), np.zeros(height, np.int64)
    by_column = np.ascontiguousarray(squared.T)
    for column in np.flatnonzero(features.any(axis=0)):
        w = by_column[column].astype(np.int64)
        a, b = last - prev, column - last
        c = a + b
        rows = np.flatnonzero((top >= 1) & (c * s_last - b * s_prev - a * w - a * b * c > 0))
        while len(rows):  # pop the top entry, and as many below it as the same test removes
            below = top[rows, None] - np.arange(1, _DEPTH + 1)
            g1 = stack[rows[:, None], np.maximum(below, 0)].astype(np.int64)
            g2 = stack[rows[:, None], np.maximum(below - 1, 0)].astype(np.int64)
            a, b = g1 - g2, column - g1
            c = a + b
            more = (below >= 1) & (c * squared[rows[:, None], g1] - b * squared[rows[:, None], g2]
                                   - a * w[rows, None] - a * b * c > 0)
            deep = more.all(axis=1)
            top[rows] -= 1 + np.where(deep, _DEPTH, np.argmin(more, axis=1))
            last[rows] = stack[rows, top[rows]]
            s_last[rows] = squared[rows, last[rows]]
            prev[rows] = stack[rows, np.maximum(top[rows] - 1, 0)]
            s_prev[rows] = squared[rows, prev[rows]]
            rows = rows[deep]
            a, b = last[rows] - prev[rows], column - last[rows]
            c = a + b
            rows = rows[(top[rows] >= 1) & (c * s_last[rows] - b * s_prev[rows] - a * w[rows] - a * b * c > 0)]
        top += 1
        stack[r, top] = column
        prev, s_prev = last, s_last
        last, s_last = np.full(height, column, np.int64), w

    # the query: moving along the envelope while the next feature is strictly nearer means
    # moving from element k to k + 1 at the first column past the two parabolas' crossing,
    # (g1² - g0² + s1 - s0) / (2 (g1 - g0)); so each column's element is a count of crossings
    # at or before it (exact integers). In blocks of rows, to bound the temporaries.
    nearest_col = np.empty((height, width), np.int32)
    k = np.arange(width)
    for start in range(0, height, _BLOCK):
        block = r[start:start + _BLOCK, None]
        inside = k[None, :] < top[block]  # pairs (k, k + 1) of the envelope
        g0 = stack[block[:, 0]].astype(np.int64)
        g1 = np.concatenate([g0[:, 1:], g0[:, -1:]], axis=1)
        s0, s1 = squared[block, g0].astype(np.int64), squared[block, g1].astype(np.int64)
        gap = np.where(inside, g1 - g0, 1)
        crossing = np.floor_divide(g1 * g1 - g0 * g0 + s1 - s0, 2 * gap) + 1
        crossing = np.clip(np.where(inside, crossing, width), 0, width)
        crossing = np.maximum.accumulate(crossing, axis=1) + (block - start) * (width + 1)
        counts = np.bincount(crossing.reshape(-1), minlength=len(block) * (width + 1))
        position = np.cumsum(counts.reshape(len(block), width + 1), axis=1)[:, :width]
        nearest_col[start:start + _BLOCK] = g0[np.arange(len(block))[:, None], position]
    return column_row[r[:, None], nearest_col], nearest_col


def _segments(vessel: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """As :func:`earnet.av_topology._segments`: segment labels, their count, junction zones."""
    skeleton = skeletonize(vessel)
    zones = _dilate(skeleton & (_neighbour_count(skeleton) >= 3))
    labels, count = label(skeleton & ~zones)
    return labels, count, skeleton & zones


def _apply(artery: np.ndarray, vein: np.ndarray, labels: np.ndarray, segment_is_artery: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel takes its nearest segment's decision (probabilities swapped where it disagrees)."""
    rows, cols = nearest_feature(labels > 0)
    swap = segment_is_artery[labels[rows, cols]] != (artery >= vein)
    return np.where(swap, vein, artery), np.where(swap, artery, vein)


def segment_vote(artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Artery and vein maps whose artery-vs-vein decision is the vote of the nearest vessel segment.

    The same rule and numbers as :func:`earnet.av_topology.segment_vote`: the vessel
    mask's skeleton without its junctions (pixels with three or more skeleton neighbours,
    and their 8-neighbours) falls into segments; each votes with the mean of
    ``artery - vein`` along it; where a pixel's own ``artery >= vein`` disagrees with its
    nearest segment's vote, its two probabilities are swapped.
    """
    if not vessel.any():
        return artery, vein
    labels, count, _ = _segments(vessel)
    if count == 0:
        return artery, vein
    # per-segment sums in raster order (bincount), as scipy.ndimage.mean adds them
    flat = labels.ravel()
    sums = np.bincount(flat, weights=(artery - vein).astype(np.float64).ravel(), minlength=count + 1)
    votes = sums[1:] / np.bincount(flat, minlength=count + 1)[1:]
    return _apply(artery, vein, labels, np.concatenate([[False], votes >= 0]))


def graph_vote(artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`earnet.av_topology.graph_vote` in numpy alone: the same segments, junction zones
    and decisions (:func:`earnet.av_graph.graph_decisions` is numpy already)."""
    from earnet.av_graph import graph_decisions

    if not vessel.any():
        return artery, vein
    labels, count, zones = _segments(vessel)
    if count == 0:
        return artery, vein
    nodes, node_count = label(zones)
    return _apply(artery, vein, labels, graph_decisions(artery - vein, labels, count, nodes, node_count))


def clean_up(artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray, cleanup: str) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`earnet.av_topology.clean_up`."""
    if cleanup == "none":
        return artery, vein
    return (graph_vote if cleanup == "graph" else segment_vote)(artery, vein, vessel)
