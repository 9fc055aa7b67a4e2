"""A skeleton's pixel graph, cut into paths between branch points and end points.

This is the graph skan's ``Skeleton`` builds, path for path and in the same order
(a test compares the two on DRIVE's labels and on random skeletons):

- every skeleton pixel is a node, joined to its 8 neighbours (steps of 1 and √2);
- where junction pixels (degree ≥ 3) touch each other, only a minimum spanning tree of
  the edges between them is kept, so a cluster of junction pixels is not a tangle of
  tiny loops;
- a path runs from a node of degree ≠ 2 through degree-2 nodes to the next node of
  degree ≠ 2; rings with no such node are paths that start and end at their first pixel.

Why not skan itself: its path walk is a numba jitclass that numba cannot cache, so
every process paid ~5 s compiling it, and its junction step loops over every pixel in
Python (~0.1 s per DRIVE skeleton, rebuilt after each pruning pass). Here each step is
a few array operations, and only scipy is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

STEPS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


@dataclass
class SkeletonPaths:
    """Nodes (skeleton pixels in raster order) and the paths through them.

    Attributes:
        coordinates: ``(N, 2)`` row/column of every node.
        degrees: ``(N,)`` neighbours of every node once junction clusters are reduced to trees.
        indptr, indices: path ``i`` is ``indices[indptr[i]:indptr[i + 1]]`` (node ids, in order).
    """

    coordinates: np.ndarray
    degrees: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return len(self.indptr) - 1

    def path(self, i: int) -> np.ndarray:
        """Node ids of path ``i``, from one end to the other."""
        return self.indices[self.indptr[i]:self.indptr[i + 1]]


def skeleton_paths(skeleton: np.ndarray) -> SkeletonPaths | None:
    """The paths of a one-pixel-wide ``skeleton``; ``None`` when no two pixels touch."""
    rows, cols = pixels(skeleton)
    n = rows.size
    if n < 2:
        return None
    source, target, length = _pixel_edges(skeleton, rows, cols)
    if source.size == 0:
        return None
    source, target, length = _junction_trees(source, target, length, n)
    degrees = np.bincount(source, minlength=n)
    indptr = np.concatenate([[0], np.cumsum(degrees)])
    indptr, indices = _walk(source, target, indptr, degrees, n)
    return SkeletonPaths(np.stack([rows, cols], axis=1).astype(np.intp), degrees, indptr, indices)


def pixels(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the set pixels in raster order, like ``np.nonzero`` (which is ~15x
    slower on a 2-D array: 50 ms on a 3504x2336 image)."""
    return np.divmod(np.flatnonzero(binary), binary.shape[1])


def _pixel_edges(skeleton: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed edges between 8-neighbouring pixels, sorted by (source, target)."""
    padded = np.pad(skeleton, 1).ravel()  # one pixel wider, so that neighbours never wrap
    w = skeleton.shape[1] + 2
    flat = (rows + 1) * w + cols + 1  # ascending: nonzero() is in raster order
    steps = np.array([dr * w + dc for dr, dc in STEPS])  # ascending, so each node's targets come out sorted
    wanted = flat[:, None] + steps
    hit = padded[wanted]
    source, step = np.divmod(np.flatnonzero(hit), len(STEPS))
    target = np.searchsorted(flat, wanted[hit])
    length = np.where(np.array([dr != 0 and dc != 0 for dr, dc in STEPS])[step], np.sqrt(2.0), 1.0)
    return source, target, length


def _junction_trees(source: np.ndarray, target: np.ndarray, length: np.ndarray,
                    n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop the edges between junction pixels that are not in their minimum spanning tree."""
    junction = np.bincount(source, minlength=n) >= 3
    between = junction[source] & junction[target]
    if not between.any():
        return source, target, length
    # the same sorted CSR matrix skan hands to scipy, so ties break the same way
    inner = np.flatnonzero(between)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(source[inner], minlength=n))])
    matrix = sparse.csr_matrix((length[inner], target[inner].astype(np.int32), indptr.astype(np.int32)), shape=(n, n))
    tree = csgraph.minimum_spanning_tree(matrix).tocoo()
    keys = np.concatenate([tree.row.astype(np.int64) * n + tree.col, tree.col.astype(np.int64) * n + tree.row])
    drop = inner[~np.isin(source[inner].astype(np.int64) * n + target[inner], keys)]
    keep = np.ones(source.size, dtype=bool)
    keep[drop] = False
    return source[keep], target[keep], length[keep]


def _walk(source: np.ndarray, target: np.ndarray, indptr: np.ndarray, degrees: np.ndarray,
          n: int) -> tuple[np.ndarray, np.ndarray]:
    """Paths, in skan's order: from each node of degree ≠ 2 (ascending), one per untaken
    edge (in neighbour order), then the rings of degree-2 nodes by their lowest node."""
    chain = degrees == 2
    terminal = ~chain & (degrees > 0)
    inner = chain[source] & chain[target]
    graph = sparse.csr_matrix((np.ones(int(inner.sum()), dtype=np.int8), (source[inner], target[inner])), shape=(n, n))
    _, label = csgraph.connected_components(graph, directed=False)

    # a path between two terminals: walked from the lower one (a loop: its first edge)
    direct = terminal[source] & terminal[target] & (source < target)
    attach = np.flatnonzero(terminal[source] & chain[target])  # terminal -> chain, sorted by (terminal, node)
    chains = label[target[attach]]
    order = np.argsort(chains, kind="stable")
    # each open chain has two attachments; the first in (terminal, node) order starts its path
    firsts, seconds = attach[order[0::2]], attach[order[1::2]]
    open_labels = chains[order[0::2]]

    rings = np.flatnonzero(chain)
    ring_nodes = rings[~np.isin(label[rings], open_labels)]
    ring_starts = ring_nodes[np.unique(label[ring_nodes], return_index=True)[1]]  # lowest node of each ring

    # order the chain nodes: a depth-first walk from a virtual root through each chain's start
    root = n
    cut_source = source[indptr[ring_starts] + 1]  # a ring is walked towards its start's first neighbour
    cut_target = target[indptr[ring_starts] + 1]
    edges_source = np.concatenate([source[inner], np.full(firsts.size, root), np.full(ring_starts.size, root)])
    edges_target = np.concatenate([target[inner], target[firsts], ring_starts])
    walk_graph = sparse.csr_matrix((np.ones(edges_source.size, dtype=np.int8), (edges_source, edges_target)),
                                   shape=(n + 1, n + 1))
    if ring_starts.size:
        cut = sparse.csr_matrix((np.ones(2 * ring_starts.size, dtype=np.int8),
                                 (np.concatenate([cut_source, cut_target]), np.concatenate([cut_target, cut_source]))),
                                shape=(n + 1, n + 1))
        walk_graph = walk_graph - walk_graph.multiply(cut)
    visit = csgraph.depth_first_order(walk_graph, root, directed=True, return_predecessors=False)[1:]

    # cut the walk into chains: where each one starts in ``visit`` and how long it is
    first_of = np.flatnonzero(np.diff(label[visit], prepend=-1)) if visit.size else np.zeros(0, dtype=np.intp)
    offset = np.zeros(n, dtype=np.int64)
    offset[label[visit[first_of]]] = first_of
    size = np.zeros(n, dtype=np.int64)
    size[label[visit[first_of]]] = np.diff(np.append(first_of, visit.size))

    # every path as (first node, a run of ``visit``, last node), in skan's order
    pairs = np.flatnonzero(direct)
    chain_label = label[target[firsts]]
    keys = np.concatenate([source[firsts] * (n + 1) + target[firsts], source[pairs] * (n + 1) + target[pairs]])
    order = np.argsort(keys, kind="stable")
    ring_label = label[ring_starts]
    heads = np.concatenate([np.concatenate([source[firsts], source[pairs]])[order], ring_starts])
    tails = np.concatenate([np.concatenate([source[seconds], target[pairs]])[order], ring_starts])
    run_start = np.concatenate([np.concatenate([offset[chain_label], np.zeros(pairs.size, np.int64)])[order],
                                offset[ring_label] + 1])  # a ring's run starts after its first node
    run_size = np.concatenate([np.concatenate([size[chain_label], np.zeros(pairs.size, np.int64)])[order],
                               size[ring_label] - 1])
    path_indptr = np.concatenate([[0], np.cumsum(run_size + 2)])
    indices = np.empty(int(path_indptr[-1]), dtype=np.int64)
    indices[path_indptr[:-1]] = heads
    indices[path_indptr[1:] - 1] = tails
    middle = np.ones(indices.size, dtype=bool)
    middle[path_indptr[:-1]] = False
    middle[path_indptr[1:] - 1] = False
    within = np.arange(int(run_size.sum())) - np.repeat(np.cumsum(run_size) - run_size, run_size)
    indices[middle] = visit[np.repeat(run_start, run_size) + within]
    return path_indptr, indices
