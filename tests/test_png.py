"""Tests for earnet.png: PNGs encoded in strips decode (with Pillow) to exactly the data given."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from earnet.io import png_bytes, write_png, write_png_strips
from earnet.png import as_png_strip, strips_of
from earnet.png import write_png_strips as encode_strips

RNG = np.random.default_rng(3)
IMAGES = {
    "gray8": RNG.integers(0, 256, (37, 53), dtype=np.uint8),
    "gray16": RNG.integers(0, 65536, (37, 53), dtype=np.uint16),
    "rgb8": RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8),
    "bool": RNG.random((37, 53)) > 0.7,
}


def decode(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    image.load()
    return np.asarray(image)


def expected(array: np.ndarray) -> np.ndarray:
    return array.astype(np.uint8) * 255 if array.dtype == bool else array


@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize("rows", [1, 5, 37, 256])
@pytest.mark.parametrize("level", [0, 1, 9])
def test_strips_decode_to_the_same_pixels(name: str, rows: int, level: int) -> None:
    array = IMAGES[name]
    buffer = io.BytesIO()
    encode_strips(buffer, *array.shape[:2], map(as_png_strip, strips_of(array, rows)), level)
    np.testing.assert_array_equal(decode(buffer.getvalue()), expected(array))


def test_write_png_and_png_bytes_agree(tmp_path: Path) -> None:
    for name, array in IMAGES.items():
        write_png(tmp_path / f"{name}.png", array)
        assert (tmp_path / f"{name}.png").read_bytes() == png_bytes(array)
        np.testing.assert_array_equal(decode(png_bytes(array)), expected(array))


def test_strips_that_do_not_add_up_or_change_kind_are_refused(tmp_path: Path) -> None:
    gray = IMAGES["gray8"]
    with pytest.raises(ValueError, match="36 rows, expected 37"):
        encode_strips(io.BytesIO(), 37, 53, [gray[:30], gray[30:36]])
    with pytest.raises(ValueError, match="does not match"):
        encode_strips(io.BytesIO(), 37, 53, [gray[:30], IMAGES["gray16"][30:]])
    with pytest.raises(ValueError, match="uint8/uint16"):
        encode_strips(io.BytesIO(), 37, 53, [gray.astype(np.float32)])
    with pytest.raises(ValueError, match="36 rows"):  # the atomic writer leaves nothing behind
        write_png_strips(tmp_path / "bad.png", 37, 53, [gray[:36]])
    assert list(tmp_path.iterdir()) == []
