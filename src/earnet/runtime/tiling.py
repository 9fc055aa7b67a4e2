"""Sliding-window inference in numpy, with the tile layout and Gaussian blending
weights of :mod:`earnet.inference.tiling` (tests check they are the same numbers)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def tile_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with ``overlap`` (0..1)."""
    if length <= tile:
        return [0]
    step = max(1, int(tile * (1 - overlap)))
    count = -(-(length - tile) // step) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def gaussian_weight(tile_h: int, tile_w: int, sigma_scale: float = 0.25) -> np.ndarray:
    """``(tile_h, tile_w)`` float32 blending weights, 1 at the centre, >= 1e-3 at the corners."""
    def axis(n: int) -> np.ndarray:
        x = np.arange(n, dtype=np.float32) - np.float32((n - 1) / 2)
        return np.exp(np.float32(-0.5) * (x / np.float32(sigma_scale * n)) ** 2)

    return np.maximum(axis(tile_h)[:, None] * axis(tile_w)[None, :], np.float32(1e-3))


def sliding_window(fn: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, tile: int,
                   overlap: float = 0.25) -> np.ndarray:
    """Apply ``fn`` (``(C, h, w)`` → ``(K, h, w)``) to overlapping tiles of ``inputs`` and blend.

    Images no larger than ``tile`` are processed whole.
    """
    _, height, width = inputs.shape
    if height <= tile and width <= tile:
        return fn(inputs)
    tile_h, tile_w = min(tile, height), min(tile, width)
    weight = gaussian_weight(tile_h, tile_w)
    total: np.ndarray | None = None
    norm = np.zeros((height, width), dtype=np.float32)
    for top in tile_starts(height, tile_h, overlap):
        for left in tile_starts(width, tile_w, overlap):
            window = (slice(top, top + tile_h), slice(left, left + tile_w))
            out = fn(inputs[(slice(None), *window)])
            if total is None:
                total = np.zeros((out.shape[0], height, width), dtype=np.float32)
            total[(slice(None), *window)] += out * weight
            norm[window] += weight
    assert total is not None
    return total / norm
