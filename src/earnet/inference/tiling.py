"""Sliding-window inference as pure functions: tile positions, blending weights.

Large images are processed in overlapping square tiles; each tile's output is
weighted by a separable Gaussian that falls off toward the tile's border (where a
convolutional network sees the least context), and the weighted sums are normalised,
so seams do not show and peak memory is bounded by the tile size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from earnet.models.chain import Runner, Step, run_directly
from earnet.runtime.tiling import tile_starts


def gaussian_weight(tile_h: int, tile_w: int, sigma_scale: float = 0.25) -> torch.Tensor:
    """``(tile_h, tile_w)`` blending weights, 1 at the centre, >= 1e-3 at the corners."""
    def axis(n: int) -> torch.Tensor:
        x = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
        return torch.exp(-0.5 * (x / (sigma_scale * n)) ** 2)

    return (axis(tile_h)[:, None] * axis(tile_w)[None, :]).clamp_min(1e-3)


def sliding_window(fn: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, tile: int,
                   overlap: float = 0.25, out_channels: int = 1) -> torch.Tensor:
    """Apply ``fn`` to overlapping tiles of ``inputs`` ``(1, C, H, W)`` and blend.

    ``fn`` maps a ``(1, C, h, w)`` tile to ``(1, out_channels, h, w)``. Images no
    larger than ``tile`` are processed whole.
    """
    _, _, height, width = inputs.shape
    if height <= tile and width <= tile:
        return fn(inputs).float()
    tile_h, tile_w = min(tile, height), min(tile, width)
    weight = gaussian_weight(tile_h, tile_w).to(inputs.device)
    total = torch.zeros((1, out_channels, height, width), device=inputs.device)
    norm = torch.zeros((height, width), device=inputs.device)
    for top in tile_starts(height, tile_h, overlap):
        for left in tile_starts(width, tile_w, overlap):
            window = (..., slice(top, top + tile_h), slice(left, left + tile_w))
            total[window] += fn(inputs[window]).float() * weight
            norm[window[1:]] += weight
    return total / norm


def tiled_runner(tile: int, wrap: Runner = run_directly) -> Runner:
    """A :data:`~earnet.models.chain.Runner` that runs each step of the chain in tiles.

    The image and the stage-1 probability are tiled together (stacked as channels);
    ``wrap`` runs the step on each tile (e.g. with flips and autocast).
    """
    def run(step: Step, image: torch.Tensor, stage1_probability: torch.Tensor | None, channels: int) -> torch.Tensor:
        inputs = image if stage1_probability is None else torch.cat([image, stage1_probability.to(image.device)],
                                                                    dim=1)

        def on_tile(x: torch.Tensor) -> torch.Tensor:
            return wrap(step, x[:, :3], x[:, 3:4] if x.shape[1] > 3 else None, channels)

        return sliding_window(on_tile, inputs, tile, out_channels=channels)

    return run
