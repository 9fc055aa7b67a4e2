"""Artery/vein decisions propagated over the vessel graph (``--av-cleanup graph``), numpy only.

The segment vote (:mod:`earnet.av_topology`) gives each vessel-skeleton segment between
two junctions one decision. A thin segment's own evidence is weak, yet the vessel it
branches from is usually clear, and a vessel keeps its type through a bifurcation and
through a crossing. Here segments are joined into vessel trees at the junctions and
each tree takes one decision:

- junction zones (junction pixels and their 8-neighbours) are the graph's nodes; a short
  segment between two nodes (≤ ``short`` skeleton pixels) is the middle of a crossing
  drawn as two junctions, so the two nodes become one;
- a node with three segments is a bifurcation: all three are linked; a node with four
  is a crossing: the two straight-through pairs are linked (the pairing whose arms are
  closest to opposite directions), never across; other nodes link nothing;
- links are taken in order of how much their two segments already agree, and each
  joins two groups unless they disagree and the group that would flip is confident
  (mean ``p_artery - p_vein`` of at least ``weak``) or heavier than the other: weak,
  thin branches join their tree, but an artery tree never swallows a vein tree through
  one wrong link.

Each group then decides by the sum of ``p_artery - p_vein`` along its skeleton. The
function takes the skeleton's labelled segments and nodes, so the PyTorch path (SciPy's
labelling) and the numpy runtime (its own) share it and give the same decisions.
Parameters were chosen on RITE's training images (BENCHMARKS.md, "Artery/vein").
"""

from __future__ import annotations

import numpy as np

CLEANUPS = ("graph", "vote", "none")
"""A/V clean-ups (``earnet segment --av-cleanup``): one decision per vessel tree joined at
bifurcations and crossings, one per segment between junctions, or one per pixel."""
DEFAULT_CLEANUP = "graph"
"""Chosen on RITE's training images (BENCHMARKS.md, "Artery/vein")."""
CLEANUP_HELP = ("A/V clean-up: 'graph' one decision per vessel tree joined at bifurcations and crossings "
                "(default), 'vote' one per segment between junctions, 'none' per pixel")

WEAK = 0.3
"""A group whose mean ``p_artery - p_vein`` is below this may flip to join a linked group."""
SHORT = 15
"""Segments of at most this many skeleton pixels between two nodes are inside one crossing."""
WINDOW = 8.0
"""A segment's direction at a node: its pixels within this distance (px) of the node's centre."""


class _Groups:
    """Union-find over segments with the summed evidence and length of each group."""

    def __init__(self, score: np.ndarray, length: np.ndarray, weak: float) -> None:
        self.parent = list(range(len(score)))
        self.score = score.astype(np.float64).tolist()
        self.length = length.astype(np.float64).tolist()
        self.weak = weak

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if (self.score[ra] >= 0) != (self.score[rb] >= 0):
            flip, other = (ra, rb) if abs(self.score[ra]) < abs(self.score[rb]) else (rb, ra)
            if abs(self.score[flip]) >= self.weak * self.length[flip] or self.length[flip] > self.length[other]:
                return
        self.parent[rb] = ra
        self.score[ra] += self.score[rb]
        self.length[ra] += self.length[rb]


def _touching(labels: np.ndarray, node_rows: np.ndarray, node_cols: np.ndarray, node_ids: np.ndarray) -> np.ndarray:
    """Unique ``(node, segment)`` pairs where a segment pixel is 8-adjacent to a node pixel."""
    padded = np.pad(labels, 1)
    found = [np.stack([node_ids, padded[node_rows + 1 + dy, node_cols + 1 + dx]], axis=1)
             for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    pairs = np.concatenate(found).astype(np.int64)
    pairs = pairs[pairs[:, 1] > 0]
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def _two_ended(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The segments touching exactly two nodes, and those two nodes."""
    by_segment = pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]
    segments, start, counts = np.unique(by_segment[:, 1], return_index=True, return_counts=True)
    two = counts == 2
    return segments[two], by_segment[start[two], 0], by_segment[start[two] + 1, 0]


def _node_roots(two_ended: tuple[np.ndarray, np.ndarray, np.ndarray], length: np.ndarray, node_count: int,
                short: int) -> np.ndarray:
    """Each node's representative after fusing nodes joined by a short segment
    (``two_ended``: :func:`_two_ended`'s segments and their two nodes)."""
    parent = np.arange(node_count + 1)

    def find(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = int(parent[item])
        return item

    segments, first, second = two_ended
    short_ones = length[segments] <= short
    for a, b in zip(first[short_ones].tolist(), second[short_ones].tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(node_count + 1)])


def _directions(rows: np.ndarray, cols: np.ndarray, segment: np.ndarray, ends: np.ndarray, centre: np.ndarray,
                window: float) -> np.ndarray:
    """Unit vector from each ``(node, segment)`` end's node centre into the segment.

    ``rows``, ``cols``, ``segment``: the segment pixels and their labels; ``ends`` holds
    ``(node, segment)`` rows; ``centre`` the ``(row, col)`` of each node.
    """
    order = np.argsort(ends[:, 1], kind="stable")
    sorted_segments = ends[order, 1]
    sums = np.zeros((len(ends), 3))
    fallback = np.zeros((len(ends), 3))
    # a segment has at most a few ends: visit them in rounds (first end of each segment, second, ...)
    first = np.searchsorted(sorted_segments, segment, side="left")
    last = np.searchsorted(sorted_segments, segment, side="right")
    for offset in range(int((last - first).max(initial=0))):
        has = first + offset < last
        end = order[first[has] + offset]
        node_row, node_col = centre[ends[end, 0], 0], centre[ends[end, 0], 1]
        dy, dx = rows[has] - node_row, cols[has] - node_col
        near = np.hypot(dy, dx) <= window
        for target, keep in ((sums, near), (fallback, np.ones_like(near))):
            np.add.at(target, end[keep], np.stack([dy[keep], dx[keep], np.ones(keep.sum())], axis=1))
    use = np.where(sums[:, 2:3] > 0, sums, fallback)
    vectors = use[:, :2] / np.maximum(use[:, 2:3], 1)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def graph_decisions(difference: np.ndarray, labels: np.ndarray, count: int, nodes: np.ndarray, node_count: int,
                    *, weak: float = WEAK, short: int = SHORT, window: float = WINDOW) -> np.ndarray:
    """Artery (``True``) or vein for each segment label ``0..count`` (0 unused).

    Args:
        difference: ``p_artery - p_vein`` per pixel.
        labels: the skeleton's segments (junction zones removed), labelled ``1..count``.
        count: number of segments.
        nodes: the skeleton's junction zones, labelled ``1..node_count``.
        node_count: number of junction zones.
        weak, short, window: see :data:`WEAK`, :data:`SHORT`, :data:`WINDOW`.
    """
    rows, cols = np.nonzero(labels)
    segment_of = labels[rows, cols].astype(np.int64)
    score = np.bincount(segment_of, weights=difference[rows, cols].astype(np.float64), minlength=count + 1)
    length = np.bincount(segment_of, minlength=count + 1).astype(np.float64)
    groups = _Groups(score, length, weak)
    if count and node_count:
        node_rows, node_cols = np.nonzero(nodes)
        pairs = _touching(labels, node_rows, node_cols, nodes[node_rows, node_cols])
        two_ended = _two_ended(pairs)
        roots = _node_roots(two_ended, length, node_count, short)
        fused = roots[pairs[:, 0]]
        segments, first, second = two_ended
        inner = np.zeros(count + 1, bool)
        inner[segments] = (length[segments] <= short) & (roots[first] == roots[second])
        ends = np.unique(np.stack([fused, pairs[:, 1]], axis=1)[~inner[pairs[:, 1]]], axis=0)
        node_of = roots[nodes[node_rows, node_cols]]
        weight = np.maximum(np.bincount(node_of, minlength=node_count + 1), 1)
        centre = np.stack([np.bincount(node_of, weights=node_rows, minlength=node_count + 1) / weight,
                           np.bincount(node_of, weights=node_cols, minlength=node_count + 1) / weight], axis=1)
        direction = _directions(rows, cols, segment_of, ends, centre, window) if len(ends) else np.zeros((0, 2))
        mean = score / np.maximum(length, 1)
        links = []
        boundaries = np.flatnonzero(np.diff(ends[:, 0])) + 1
        for members in np.split(np.arange(len(ends)), boundaries):
            arms = ends[members, 1]
            if len(arms) == 3:
                links += [(arms[0], arms[1]), (arms[0], arms[2]), (arms[1], arms[2])]
            elif len(arms) == 4:
                d = direction[members]
                pairing = min(((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2)),
                              key=lambda p: d[p[0]] @ d[p[1]] + d[p[2]] @ d[p[3]])
                links += [(arms[pairing[0]], arms[pairing[1]]), (arms[pairing[2]], arms[pairing[3]])]
        links.sort(key=lambda link: -(mean[link[0]] * mean[link[1]]))
        for a, b in links:
            groups.join(int(a), int(b))
    decision = np.array([groups.score[groups.find(i)] >= 0 for i in range(count + 1)])
    decision[0] = False
    return decision
