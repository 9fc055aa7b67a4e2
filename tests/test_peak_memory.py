"""Peak memory of the full-size passes grows with a strip, not with the photograph.

numpy reports its buffers to ``tracemalloc``, so the peak of new numpy memory while
deriving a FOV or writing the maps can be compared with the photograph's own size.
(``benchmarks/bench_memory.py`` measures the whole ``earnet segment`` process.)
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from earnet.data.fov import derive_fov
from earnet.output_maps import write_maps
from earnet.types import Segmentation

HEIGHT, WIDTH = 3000, 4000
PIXELS = HEIGHT * WIDTH


def photograph() -> np.ndarray:
    """A bright disc with a darker texture on black: a fundus photograph's shape."""
    y, x = np.ogrid[:HEIGHT, :WIDTH]
    inside = (y - HEIGHT / 2) ** 2 + (x - WIDTH / 2) ** 2 < (0.45 * HEIGHT) ** 2
    image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    texture = np.random.default_rng(0).integers(120, 200, (HEIGHT, WIDTH), dtype=np.uint8)
    for channel, scale in enumerate((1.0, 0.6, 0.3)):
        image[..., channel] = np.where(inside, (texture * scale).astype(np.uint8), 3)
    return image


def peak_bytes(call: Callable[[], object]) -> int:
    """Peak of numpy/Python memory allocated during ``call`` (what it returns included)."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_fov_derivation_needs_about_the_mask_not_integer_copies_of_the_photograph() -> None:
    image = photograph()
    fov = derive_fov(image)
    assert 0.45 < fov.mean() < 0.5  # the disc (47.7 % of the image) was found
    # the bool mask it returns is 1 byte a pixel; full-size int64 temporaries would be 8+
    assert peak_bytes(lambda: derive_fov(image)) < 1.6 * PIXELS


def test_writing_the_maps_adds_a_strip_not_a_photograph(tmp_path: Path) -> None:
    def writing_peak(height: int) -> int:
        image = photograph()[:height]
        fov = derive_fov(image)
        probability = np.where(fov, np.linspace(0, 1, WIDTH, dtype=np.float32), 0).astype(np.float32)
        result = Segmentation(probability, probability >= 0.5, fov, probability.copy(), 1.0, 0.0)
        return peak_bytes(lambda: write_maps(tmp_path / f"photo{height}", image, result, attention=True, label=fov))

    half, whole = writing_peak(HEIGHT // 2), writing_peak(HEIGHT)
    # twice the rows, (nearly) the same peak: a full-size overlay alone would add 3 bytes a pixel
    assert whole < 1.2 * half
    assert sorted(p.name for p in tmp_path.glob(f"photo{HEIGHT}_*.png")) == [
        f"photo{HEIGHT}_{kind}.png" for kind in ("attention", "errors", "mask", "overlay", "prob")]
