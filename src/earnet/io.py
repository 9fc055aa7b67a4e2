"""Reading every image format the datasets use, and writing outputs atomically.

Readers return numpy arrays and raise :class:`~earnet.exceptions.InputError` naming
the file on any problem. Writers never leave a half-written file: they write to a
temporary file in the destination folder and rename it into place.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from earnet.exceptions import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".bmp")
"""Suffixes recognised as images (case-insensitive); each may also end in ``.gz``."""


def is_image_file(path: Path) -> bool:
    """Whether ``path`` has an image suffix, optionally gzip-compressed."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(IMAGE_SUFFIXES)


def image_stem(path: Path) -> str:
    """The id of an image file: its name without image and ``.gz`` suffixes.

    ``im0001.ppm.gz`` -> ``im0001``; ``01_test.tif`` -> ``01_test``.
    """
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return Path(name).stem


def _open_pil(path: Path) -> Image.Image:
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a folder, expected an image file")
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                data = handle.read()
            image = Image.open(io.BytesIO(data))
        else:
            image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, EOFError, ValueError, SyntaxError) as exc:
        raise InputError(path, f"cannot read image ({exc})") from None
    return image


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        top = 65535 if array.max(initial=0) > 255 else 255
        return np.round(array.astype(np.float64) * (255 / top)).astype(np.uint8)
    return np.clip(np.round(array.astype(np.float64) * 255), 0, 255).astype(np.uint8)


def read_rgb(path: str | Path) -> np.ndarray:
    """Read a colour photograph as RGB ``uint8`` ``(H, W, 3)``.

    Grayscale images are replicated to three channels, alpha is dropped and 16-bit
    data is scaled to 8 bits.
    """
    return pil_to_rgb(_open_pil(Path(path)))


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """A decoded PIL image as RGB ``uint8`` ``(H, W, 3)``, converted as :func:`read_rgb` does."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = _to_uint8(np.asarray(image))
        return np.repeat(array[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def read_gray(path: str | Path) -> np.ndarray:
    """Read a single-channel image as a 2-D array, keeping its bit depth.

    Palette images are resolved to their palette's gray level; RGB images whose
    channels are equal (masks saved as colour) are reduced to one channel.
    """
    path = Path(path)
    image = _open_pil(path)
    if image.mode == "1":
        return np.asarray(image, dtype=bool).astype(np.uint8)
    if image.mode == "P":
        # Palette masks (DRIVE's 2nd_manual) map indices to near-gray colours.
        return np.asarray(image.convert("L"))
    if image.mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LA"):
        rgb = np.asarray(image.convert("RGB"))
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise InputError(path, "expected a single-channel image, got colour data")
        return rgb[..., 0]
    return np.asarray(image)


def read_binary(path: str | Path, what: str = "mask") -> np.ndarray:
    """Read a label or mask as ``bool``; anything but two levels is an error.

    Args:
        path: the file.
        what: how to call it in the error message (``"label"``, ``"FOV mask"``).
    """
    path = Path(path)
    array = read_gray(path)
    values = np.unique(array)
    if values.size > 2:
        raise InputError(path, f"{what} is not binary ({values.size} distinct values)")
    if values.size == 2:  # the brighter level is foreground (palette GIFs map 0/1 to 4/252)
        return array == values[1]
    # One level: foreground if it is 1 (0/1 data) or bright; a dark palette colour such
    # as DRIVE's [4, 2, 4] (gray 3) is background, not "the brighter level".
    return np.full(array.shape, bool(values.size and (values[0] == 1 or values[0] >= 128)))


def read_probability(path: str | Path) -> np.ndarray:
    """Read a method's saved prediction as ``float32`` probabilities in [0, 1].

    Accepts 8- and 16-bit PNG/TIFF/GIF maps (scaled by 255 or 65535; an 8-bit map
    holding only 0 and 1 is taken as a binary map) and ``.npy`` arrays already in
    [0, 1].
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if not path.exists():
            raise InputError(path, "file not found")
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(path, f"cannot read .npy ({exc})") from None
        array = np.squeeze(array)
        if array.ndim != 2:
            raise InputError(path, f"expected a 2-D probability map, got shape {array.shape}")
        array = array.astype(np.float32)
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise InputError(path, "values outside [0, 1]; save probabilities, not logits")
        return array
    image = _open_pil(path)
    if image.mode == "1":
        return np.asarray(image, dtype=np.float32)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image)
        if array.min() < 0 or array.max() > 65535:
            raise InputError(path, "integer prediction outside 0..65535")
        return (array.astype(np.float64) / 65535).astype(np.float32)
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float32)
        if array.min() < 0 or array.max() > 1:
            raise InputError(path, "values outside [0, 1]; save probabilities, not logits")
        return array
    array = read_gray(path)
    if array.max(initial=0) <= 1:
        return array.astype(np.float32)
    return (array.astype(np.float32) / 255).astype(np.float32)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched. The file
    gets the permissions ``open()`` would give it (``0o666`` less the umask); a
    destination that cannot be created raises :class:`InputError` naming it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(path, f"cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, mode) as handle:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give open()'s permissions
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


PNG_COMPRESS_LEVEL = 1
"""zlib level for written PNGs: ~4x faster than Pillow's default (6) for ~15 % larger files."""


def write_png(path: str | Path, array: np.ndarray) -> None:
    """Write ``uint8``/``uint16`` gray or RGB data as PNG, atomically."""
    data = png_bytes(array)
    with atomic_write(path) as handle:
        handle.write(data)


def png_bytes(array: np.ndarray, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """Encode ``uint8``/``uint16``/``bool`` gray or RGB data as PNG (the bytes :func:`write_png` writes)."""
    if array.dtype == np.uint16:
        image = Image.fromarray(array.astype(np.uint16))
    elif array.dtype == bool:
        image = Image.fromarray(array.astype(np.uint8) * 255)
    else:
        image = Image.fromarray(np.asarray(array, dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def probability_to_uint16(probability: np.ndarray) -> np.ndarray:
    """Quantise probabilities in [0, 1] to 16-bit for PNG storage."""
    return np.round(np.clip(probability, 0, 1) * 65535).astype(np.uint16)
