"""Tests for earnet.io: every image format the datasets use, errors naming the file, atomic writes."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from conftest import DRIVE_PALETTE, save, save_palette_label, truncate
from PIL import Image

from earnet.exceptions import InputError
import earnet.io as earnet_io
from earnet.io import (
    atomic_write,
    image_stem,
    is_image_file,
    read_binary,
    read_probability,
    read_rgb,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)
GRAY = RNG.integers(0, 256, (6, 7), dtype=np.uint8)
MASK = np.zeros((6, 7), dtype=bool)
MASK[1:4, 2:6] = True


def assert_names(error: pytest.ExceptionInfo[InputError], path: Path) -> None:
    assert error.value.path == path
    assert str(error.value).startswith(str(path))


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(("name", "stem"), [("im0001.ppm.gz", "im0001"), ("01_test.tif", "01_test"),
                                            ("im0001.ah.ppm.gz", "im0001.ah"), ("01_dr.JPG", "01_dr")])
def test_image_stem(name: str, stem: str) -> None:
    assert image_stem(Path(name)) == stem


@pytest.mark.parametrize(("name", "expected"), [("a.PNG", True), ("a.ppm.gz", True), ("a.JPG", True),
                                                ("a.webp", True), ("a.HEIC", True), ("a.heif", True), ("a.npy", False), ("a.txt.gz", False),
                                                ("a.json", False)])
def test_is_image_file(name: str, expected: bool) -> None:
    assert is_image_file(Path(name)) is expected


# --------------------------------------------------------------------------- read_rgb


def test_read_rgb_rgb_png(tmp_path: Path) -> None:
    out = read_rgb(save(RGB, tmp_path / "a.png"))
    assert out.dtype == np.uint8 and out.shape == (6, 7, 3)
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize(("orientation", "turn"), [(1, lambda a: a), (3, lambda a: np.rot90(a, 2)),
                                                  (6, lambda a: np.rot90(a, -1)), (8, lambda a: np.rot90(a, 1))])
def test_read_rgb_applies_exif_orientation(tmp_path: Path, orientation: int, turn) -> None:
    """A phone photograph stored sideways with a rotation tag is read the way viewers show it."""
    image = Image.fromarray(RGB)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "a.png", exif=exif)
    np.testing.assert_array_equal(read_rgb(tmp_path / "a.png"), turn(RGB))


def test_read_binary_applies_exif_orientation_like_the_photograph(tmp_path: Path) -> None:
    image = Image.fromarray(MASK.astype(np.uint8) * 255)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "m.png", exif=exif)
    np.testing.assert_array_equal(read_binary(tmp_path / "m.png"), np.rot90(MASK, -1))


def test_read_rgb_webp(tmp_path: Path) -> None:
    Image.fromarray(RGB).save(tmp_path / "a.webp", lossless=True)
    np.testing.assert_array_equal(read_rgb(tmp_path / "a.webp"), RGB)


def test_read_rgb_heic(tmp_path: Path) -> None:
    """iPhones (and smartphone fundus adapters) save HEIC; lossless HEVC keeps pixels within 1."""
    blocks = np.kron(RGB, np.ones((8, 8, 1), np.uint8))  # HEVC needs more than 6x7 pixels
    Image.fromarray(blocks).save(tmp_path / "a.heic", quality=-1, chroma=444)
    np.testing.assert_allclose(read_rgb(tmp_path / "a.heic"), blocks, atol=2)


def test_read_rgb_heic_applies_its_orientation(tmp_path: Path) -> None:
    blocks = np.kron(RGB, np.ones((8, 8, 1), np.uint8))
    image = Image.fromarray(np.rot90(blocks, 1).copy())
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display: undoes the rot90 above
    image.save(tmp_path / "a.heic", quality=-1, chroma=444, exif=exif.tobytes())
    np.testing.assert_allclose(read_rgb(tmp_path / "a.heic"), blocks, atol=2)


def test_heic_without_pillow_heif_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(earnet_io, "HEIF_READABLE", False)
    (tmp_path / "a.heic").write_bytes(b"\x00\x00\x00\x18ftypheic not really")
    with pytest.raises(InputError, match=r"a\.heic.*pillow-heif"):
        read_rgb(tmp_path / "a.heic")


def test_read_rgb_tif_and_ppm(tmp_path: Path) -> None:
    np.testing.assert_array_equal(read_rgb(save(RGB, tmp_path / "a.tif")), RGB)
    np.testing.assert_array_equal(read_rgb(save(RGB, tmp_path / "a.ppm")), RGB)


def test_read_rgb_gray_is_replicated(tmp_path: Path) -> None:
    out = read_rgb(save(GRAY, tmp_path / "g.png"))
    assert out.shape == (6, 7, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], GRAY)


def test_read_rgb_16bit_is_scaled(tmp_path: Path) -> None:
    data = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    path = tmp_path / "w.png"
    Image.fromarray(data).save(path)
    assert Image.open(path).mode.startswith("I")
    out = read_rgb(path)
    assert out.dtype == np.uint8 and out.shape == (1, 4, 3)
    np.testing.assert_array_equal(out[..., 0], [[0, 1, 128, 255]])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_read_rgb_drops_alpha(tmp_path: Path) -> None:
    rgba = np.dstack([RGB, np.full((6, 7), 17, np.uint8)])
    out = read_rgb(save(rgba, tmp_path / "a.png"))
    np.testing.assert_array_equal(out, RGB)


def test_read_rgb_palette_resolves_colours(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2]], dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([10, 20, 30, 200, 100, 0, 1, 2, 3] + [0] * (768 - 9))
    path = tmp_path / "p.png"
    image.save(path)
    np.testing.assert_array_equal(read_rgb(path), [[[10, 20, 30], [200, 100, 0], [1, 2, 3]]])


def test_read_rgb_gzip(tmp_path: Path) -> None:
    path = save(RGB, tmp_path / "im0001.ppm.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_rgb(path), RGB)


def test_read_rgb_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.png"
    with pytest.raises(InputError, match="not found") as error:
        read_rgb(path)
    assert_names(error, path)


@pytest.mark.parametrize("name", ["a.png", "a.tif", "a.jpg", "a.ppm.gz"])
def test_read_rgb_truncated_file_names_it(tmp_path: Path, name: str) -> None:
    path = truncate(save(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8), tmp_path / name))
    with pytest.raises(InputError, match="cannot read") as error:
        read_rgb(path)
    assert_names(error, path)


def test_read_rgb_not_an_image_names_it(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_text("hello")
    with pytest.raises(InputError) as error:
        read_rgb(path)
    assert_names(error, path)


def test_read_rgb_folder_names_it(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.mkdir()
    with pytest.raises(InputError, match="folder") as error:
        read_rgb(path)
    assert_names(error, path)


# --------------------------------------------------------------------------- read_binary


def test_read_binary_0_255(tmp_path: Path) -> None:
    out = read_binary(save(MASK, tmp_path / "m.png"))
    assert out.dtype == bool
    np.testing.assert_array_equal(out, MASK)


def test_read_binary_0_1(tmp_path: Path) -> None:
    out = read_binary(save(MASK.astype(np.uint8), tmp_path / "m.png"))
    np.testing.assert_array_equal(out, MASK)


def test_read_binary_l_gif(tmp_path: Path) -> None:
    np.testing.assert_array_equal(read_binary(save(MASK, tmp_path / "m.gif", mode="L")), MASK)


def test_read_binary_palette_with_non_gray_colours(tmp_path: Path) -> None:
    path = save_palette_label(MASK, tmp_path / "01_manual2.gif")
    image = Image.open(path)
    assert image.mode == "P" and image.getpalette()[:6] == DRIVE_PALETTE
    out = read_binary(path, "label")
    assert out.dtype == bool
    np.testing.assert_array_equal(out, MASK)


def test_read_binary_palette_background_only_is_empty(tmp_path: Path) -> None:
    """A DRIVE-style palette label holding only index 0 ([4, 2, 4]) has no vessels."""
    path = save_palette_label(np.zeros((6, 7), dtype=bool), tmp_path / "empty.gif")
    out = read_binary(path, "label")
    assert out.shape == (6, 7)
    assert not out.any()


@pytest.mark.parametrize("value", [255, 1])
def test_read_binary_single_bright_level_is_all_foreground(tmp_path: Path, value: int) -> None:
    out = read_binary(save(np.full((6, 7), value, np.uint8), tmp_path / "m.png"))
    assert out.all()


def test_read_binary_all_black_is_empty(tmp_path: Path) -> None:
    assert not read_binary(save(np.zeros((6, 7), np.uint8), tmp_path / "m.png")).any()


def test_read_binary_1bit(tmp_path: Path) -> None:
    path = save(MASK, tmp_path / "Image_01L_1stHO.png", mode="1")
    assert Image.open(path).mode == "1"
    np.testing.assert_array_equal(read_binary(path), MASK)


def test_read_binary_rgb_with_equal_channels(tmp_path: Path) -> None:
    np.testing.assert_array_equal(read_binary(save(MASK, tmp_path / "m.tif", mode="RGB")), MASK)


def test_read_binary_pgm_in_gzipped_ppm_name(tmp_path: Path) -> None:
    path = save(MASK, tmp_path / "im0001.ah.ppm.gz", fmt="PPM")
    assert gzip.decompress(path.read_bytes())[:2] == b"P5"
    np.testing.assert_array_equal(read_binary(path), MASK)


def test_read_binary_non_binary_names_file(tmp_path: Path) -> None:
    data = MASK.astype(np.uint8) * 255
    data[0, 0] = 128
    path = save(data, tmp_path / "soft.png")
    with pytest.raises(InputError, match=r"label is not binary \(3 distinct values\)") as error:
        read_binary(path, "label")
    assert_names(error, path)


def test_read_binary_colour_names_file(tmp_path: Path) -> None:
    path = save(RGB, tmp_path / "colour.png")
    with pytest.raises(InputError, match="colour") as error:
        read_binary(path)
    assert_names(error, path)


def test_read_binary_truncated_names_file(tmp_path: Path) -> None:
    big = np.zeros((64, 64), dtype=bool)
    big[::3] = True
    path = truncate(save(big, tmp_path / "m.gif", mode="L"), 0.3)
    with pytest.raises(InputError, match="cannot read") as error:
        read_binary(path)
    assert_names(error, path)


def test_read_binary_missing_names_file(tmp_path: Path) -> None:
    path = tmp_path / "missing_mask.gif"
    with pytest.raises(InputError, match="not found") as error:
        read_binary(path)
    assert_names(error, path)


# --------------------------------------------------------------------------- read_probability


def test_read_probability_8bit(tmp_path: Path) -> None:
    path = save(np.array([[0, 51, 128, 255]], np.uint8), tmp_path / "p.png")
    out = read_probability(path)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 0.2, 128 / 255, 1]], atol=1e-7)


def test_read_probability_16bit(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    Image.fromarray(np.array([[0, 13107, 32768, 65535]], np.uint16)).save(path)
    out = read_probability(path)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 0.2, 32768 / 65535, 1]], atol=1e-7)


def test_read_probability_binary_0_1_png(tmp_path: Path) -> None:
    out = read_probability(save(MASK.astype(np.uint8), tmp_path / "p.png"))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, MASK.astype(np.float32))


def test_read_probability_binary_1bit_png(tmp_path: Path) -> None:
    out = read_probability(save(MASK, tmp_path / "p.png", mode="1"))
    np.testing.assert_array_equal(out, MASK.astype(np.float32))


def test_read_probability_npy(tmp_path: Path) -> None:
    data = RNG.random((6, 7))
    np.save(tmp_path / "p.npy", data[None])  # (1, H, W) is squeezed
    out = read_probability(tmp_path / "p.npy")
    assert out.dtype == np.float32 and out.shape == (6, 7)
    np.testing.assert_allclose(out, data, atol=1e-7)


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
def test_read_probability_npy_out_of_range_names_file(tmp_path: Path, bad: float) -> None:
    data = RNG.random((6, 7))
    data[2, 3] = bad
    path = tmp_path / "logits.npy"
    np.save(path, data)
    with pytest.raises(InputError, match=r"outside \[0, 1\]") as error:
        read_probability(path)
    assert_names(error, path)


def test_read_probability_npy_wrong_shape_names_file(tmp_path: Path) -> None:
    path = tmp_path / "p.npy"
    np.save(path, RNG.random((2, 6, 7)))
    with pytest.raises(InputError, match="2-D") as error:
        read_probability(path)
    assert_names(error, path)


def test_read_probability_missing_npy_names_file(tmp_path: Path) -> None:
    path = tmp_path / "p.npy"
    with pytest.raises(InputError, match="not found") as error:
        read_probability(path)
    assert_names(error, path)


def test_read_probability_truncated_png_names_file(tmp_path: Path) -> None:
    path = truncate(save(RNG.integers(0, 256, (64, 64), dtype=np.uint8), tmp_path / "p.png"))
    with pytest.raises(InputError) as error:
        read_probability(path)
    assert_names(error, path)


# --------------------------------------------------------------------------- atomic_write


def test_atomic_write_writes_on_success(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    with atomic_write(target, "w") as handle:
        handle.write("done")
    assert target.read_text() == "done"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_atomic_write_leaves_nothing_on_exception(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target) as handle:
        handle.write(b"half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_old_file_on_exception(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_write(target, "w") as handle:
        handle.write("new")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_gives_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "a.txt", "w") as handle:
            handle.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640


def test_atomic_write_under_a_file_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "sub" / "out.png"
    with pytest.raises(InputError, match="cannot write") as error, atomic_write(target):
        pass
    assert error.value.path == target
