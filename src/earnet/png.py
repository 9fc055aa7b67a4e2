"""PNG encoding in strips of rows: memory grows with a strip, not with the image.

Pillow needs the whole image (and copies RGB data into 4 bytes a pixel) before it
encodes; a 12000x9000 photograph's overlay would cost ~0.75 GB on top of the maps.
This writer takes the image as a sequence of row strips and streams them through
zlib into ``IDAT`` chunks, so a map can be produced and written strip by strip.

Every row uses PNG's "Sub" filter (each byte minus the same byte of the pixel to its
left). Against Pillow's per-row adaptive choice at the same zlib level 1
(``benchmarks/bench_png.py``): on a DRIVE photograph's maps about the same size
(probability 344 vs 342 kB, overlay 459 vs 459 kB) in about half the time; on a
12000x9000 photograph the probability map is smaller (30 vs 39 MB) and the overlay
larger (72 vs 59 MB). Rows are independent, so strips need no context.
Only numpy and the standard library are needed (the ONNX runtime writes with it too).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import IO

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROWS = 256
"""Rows per strip when encoding a whole array."""
_COLOUR_TYPES = {1: 0, 3: 2}  # channels -> PNG colour type (gray, RGB)
_SUB, _NONE = 1, 0


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def as_png_strip(array: np.ndarray) -> np.ndarray:
    """``bool`` as 0/255 ``uint8``, ``uint16`` kept, anything else as ``uint8``."""
    if array.dtype == np.uint16:
        return array
    if array.dtype == bool:
        return array.view(np.uint8) * np.uint8(255)
    return np.asarray(array, dtype=np.uint8)


def strips_of(array: np.ndarray, rows: int = ROWS) -> Iterable[np.ndarray]:
    """``array`` as consecutive strips of ``rows`` rows (views, no copies)."""
    return (array[top:top + rows] for top in range(0, max(1, array.shape[0]), rows))


def write_png_strips(handle: IO[bytes], height: int, width: int, strips: Iterable[np.ndarray],
                     compress_level: int = 1) -> None:
    """Write a PNG of ``height`` x ``width`` pixels to ``handle``, its rows given as strips.

    Each strip is ``(rows, width)`` gray or ``(rows, width, 3)`` RGB, ``uint8`` or
    ``uint16`` (the first strip fixes which); the strips' rows must add up to ``height``.
    """
    done = 0
    compressor = zlib.compressobj(compress_level)
    kind: tuple[np.dtype, int] | None = None
    for strip in strips:
        channels = 1 if strip.ndim == 2 else strip.shape[2]
        if kind is None:
            if strip.dtype not in (np.uint8, np.uint16) or channels not in _COLOUR_TYPES:
                raise ValueError(f"PNG strips must be uint8/uint16 gray or RGB, got {strip.dtype} {strip.shape}")
            kind = (strip.dtype, channels)
            depth = 16 if strip.dtype == np.uint16 else 8
            handle.write(SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth,
                                                                  _COLOUR_TYPES[channels], 0, 0, 0)))
        if (strip.dtype, channels) != kind or strip.shape[1] != width:
            raise ValueError(f"strip {strip.dtype} {strip.shape} does not match the image's {kind}, width {width}")
        rows = strip.shape[0]
        data = np.ascontiguousarray(strip, dtype=">u2" if strip.dtype == np.uint16 else np.uint8)
        data = data.reshape(rows, -1).view(np.uint8)
        lines = np.empty((rows, data.shape[1] + 1), dtype=np.uint8)
        if compress_level > 0:
            step = channels * strip.dtype.itemsize  # bytes per pixel
            lines[:, 0] = _SUB
            lines[:, 1:1 + step] = data[:, :step]
            np.subtract(data[:, step:], data[:, :-step], out=lines[:, 1 + step:])
        else:  # stored, not compressed: filtering would only cost time
            lines[:, 0] = _NONE
            lines[:, 1:] = data
        compressed = compressor.compress(lines.data)
        if compressed:
            handle.write(_chunk(b"IDAT", compressed))
        done += rows
    if kind is None or done != height:
        raise ValueError(f"PNG strips hold {done} rows, expected {height}")
    handle.write(_chunk(b"IDAT", compressor.flush()) + _chunk(b"IEND", b""))
