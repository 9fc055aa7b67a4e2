"""Resizing images exactly as ``torch.nn.functional.interpolate`` does, in numpy.

``earnet segment`` rescales a photograph with PyTorch (bicubic, antialiased when
shrinking) and resizes the maps back bilinearly; the runtime path must give the same
numbers without PyTorch. Each axis is resampled by a sparse-in-effect weight matrix
built with PyTorch's index and kernel rules (``align_corners=False``), so the result
is ``W_y @ x @ W_x.T``; tests compare against PyTorch.
"""

from __future__ import annotations

import numpy as np

_CUBIC_A = -0.75
"""PyTorch's bicubic kernel parameter (plain resampling)."""
_CUBIC_A_ANTIALIAS = -0.5
"""The kernel parameter of PyTorch's antialiased bicubic (PIL's)."""


def _cubic(x: np.ndarray, a: float) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def bicubic_matrix(size_in: int, size_out: int, antialias: bool = False) -> np.ndarray:
    """``(size_out, size_in)`` weights of PyTorch's bicubic resampling along one axis.

    Positions are computed in float32, as PyTorch does for float32 images (in float64
    they would differ by up to ~1e-4 on large images).
    """
    scale = np.float32(size_in) / np.float32(size_out)
    out = np.arange(size_out, dtype=np.float32)
    weights = np.zeros((size_out, size_in), dtype=np.float64)
    if antialias:
        # PyTorch's _upsample_bicubic2d_aa (PIL's filter): widened by the scale when shrinking
        support = np.float32(2.0) * scale if scale >= 1 else np.float32(2.0)
        inverse = np.float32(1) / scale if scale >= 1 else np.float32(1)
        center = scale * (out + np.float32(0.5))
        first = np.maximum((center - support + np.float32(0.5)).astype(np.int64), 0)
        last = np.minimum((center + support + np.float32(0.5)).astype(np.int64), size_in)
        for i in range(size_out):
            taps = np.arange(first[i], last[i])
            w = _cubic((taps - center[i] + np.float32(0.5)).astype(np.float32) * inverse,
                       _CUBIC_A_ANTIALIAS)
            total = w.sum()
            weights[i, taps] = w / total if total != 0 else w
        return weights
    real = scale * (out + np.float32(0.5)) - np.float32(0.5)
    base = np.floor(real).astype(np.int64)
    t = (real - base).astype(np.float32)
    for offset in (-1, 0, 1, 2):
        np.add.at(weights, (np.arange(size_out), np.clip(base + offset, 0, size_in - 1)),
                  _cubic(t - np.float32(offset), _CUBIC_A))
    return weights


def bilinear_matrix(size_in: int, size_out: int) -> np.ndarray:
    """``(size_out, size_in)`` weights of PyTorch's bilinear resampling (no antialias)."""
    scale = np.float32(size_in) / np.float32(size_out)
    out = np.arange(size_out, dtype=np.float32)
    real = np.maximum(scale * (out + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    low = np.minimum(np.floor(real).astype(np.int64), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    fraction = (real - low).astype(np.float64)
    weights = np.zeros((size_out, size_in), dtype=np.float64)
    np.add.at(weights, (np.arange(size_out), low), 1 - fraction)
    np.add.at(weights, (np.arange(size_out), high), fraction)
    return weights


def resize(array: np.ndarray, size: tuple[int, int], mode: str, antialias: bool = False) -> np.ndarray:
    """Resize ``(H, W)`` or ``(C, H, W)`` float data to ``size`` = (height, width).

    Args:
        mode: ``bicubic`` or ``bilinear`` (as ``F.interpolate``, ``align_corners=False``).
        antialias: antialiased bicubic when shrinking (as ``F.interpolate(antialias=True)``).
    """
    height, width = array.shape[-2:]
    if mode == "bicubic":
        rows, columns = bicubic_matrix(height, size[0], antialias), bicubic_matrix(width, size[1], antialias)
    elif mode == "bilinear":
        rows, columns = bilinear_matrix(height, size[0]), bilinear_matrix(width, size[1])
    else:
        raise ValueError(f"unknown resize mode {mode!r}")
    data = array.astype(np.float32, copy=False)
    return (rows.astype(np.float32) @ data @ columns.T.astype(np.float32)).astype(np.float32)
