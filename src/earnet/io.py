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
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from earnet.exceptions import InputError
from earnet.png import as_png_strip, strips_of
from earnet.png import write_png_strips as write_png_strips_to

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".bmp", ".webp", ".heic", ".heif")
"""Suffixes recognised as images (case-insensitive); each may also end in ``.gz``."""
HEIF_SUFFIXES = (".heic", ".heif")


def _register_heif() -> bool:
    """Let Pillow open HEIC/HEIF, the format iPhones (and the smartphone fundus adapters on
    them) save by default; False where pillow-heif is not installed (a ``--no-deps`` install)."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()  # it applies the HEIF rotation itself and resets the EXIF tag
    return True


HEIF_READABLE = _register_heif()


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


MAX_PIXELS = 120_000_000
"""Largest image read (12000x10000): bigger files are refused before they are decoded."""
MAX_GZIP_BYTES = 512 * 2**20
"""Largest decompressed ``.gz`` payload (an uncompressed 12000x9000 RGB PPM is 324 MB)."""


@contextlib.contextmanager
def _quiet_pil() -> Iterator[None]:
    # Pillow warns on stderr about things earnet checks itself (size) or that do not
    # matter for reading pixels (palette transparency, odd TIFF tags).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", module=r"PIL(\..*)?")
        yield


def _check_size(path: Path, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise InputError(path, f"image is {width}x{height} ({width * height / 1e6:.0f} Mpx); earnet reads at most "
                               f"{MAX_PIXELS / 1e6:.0f} Mpx (downscale or crop it first)")


def _read_gzip(path: Path) -> bytes:
    with gzip.open(path, "rb") as handle:
        data = handle.read(MAX_GZIP_BYTES + 1)
    if len(data) > MAX_GZIP_BYTES:
        raise InputError(path, f"decompresses to more than {MAX_GZIP_BYTES // 2**20} MiB; not an image earnet reads")
    return data


def _open_pil(path: Path) -> Image.Image:
    try:
        if not path.exists():
            raise InputError(path, "file not found")
        if path.is_dir():
            raise InputError(path, "is a folder, expected an image file")
    except OSError as exc:  # e.g. a name over 255 characters
        raise InputError(path, f"cannot open ({exc.strerror or exc})") from None
    try:
        with _quiet_pil():
            image = Image.open(io.BytesIO(_read_gzip(path)) if path.name.lower().endswith(".gz") else path)
            _check_size(path, *image.size)
            image.load()
            upright(image)
    except Image.DecompressionBombError:
        raise InputError(path, f"image is larger than {MAX_PIXELS / 1e6:.0f} Mpx; earnet reads at most that "
                               "(downscale or crop it first)") from None
    except (UnidentifiedImageError, OSError, EOFError, ValueError, SyntaxError, MemoryError) as exc:
        if not HEIF_READABLE and path.name.lower().removesuffix(".gz").endswith(HEIF_SUFFIXES):
            raise InputError(path, "HEIC/HEIF needs the pillow-heif package (pip install pillow-heif)") from None
        message = re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "the decompressed data", str(exc))
        raise InputError(path, f"cannot read image ({message})") from None
    return image


def upright(image: Image.Image) -> Image.Image:
    """Turn ``image`` in place the way its EXIF orientation tag says, as image viewers show it.

    Phone and camera JPEGs often store the sensor's pixel order plus a rotation tag; without
    this, masks and overlays would come out turned against the photograph a user sees.
    """
    with _quiet_pil():
        ImageOps.exif_transpose(image, in_place=True)
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

    Grayscale images are replicated to three channels, alpha is dropped, 16-bit
    data is scaled to 8 bits and an EXIF orientation tag is applied.
    """
    return pil_to_rgb(_open_pil(Path(path)))


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """A decoded PIL image as RGB ``uint8`` ``(H, W, 3)``, converted as :func:`read_rgb` does
    (turn it :func:`upright` first if it did not come through :func:`read_rgb`)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = _to_uint8(np.asarray(image))
        return np.repeat(array[..., None], 3, axis=2)
    if image.mode != "RGB":  # converting an RGB image would only copy it (memory for a large photograph)
        with _quiet_pil():
            image = image.convert("RGB")
    array = _rgb_array(image)
    image.close()
    return array


def _rgb_array(image: Image.Image, rows: int = 1024) -> np.ndarray:
    """An RGB image's pixels, copied in blocks of rows (``np.asarray`` would hold two full copies at once)."""
    width, height = image.size
    out = np.empty((height, width, 3), dtype=np.uint8)
    for top in range(0, height, rows):
        out[top:top + rows] = np.asarray(image.crop((0, top, width, min(height, top + rows))))
    return out


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
        with _quiet_pil():
            return np.asarray(image.convert("L"))
    if image.mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LA"):
        with _quiet_pil():
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


LOCK_NAME = ".earnet-writer.lock"
STALE_SUFFIX = ".tmp"


@contextlib.contextmanager
def exclusive_folder(folder: Path) -> Iterator[None]:
    """Hold ``folder`` as its only earnet writer; a second writer is refused with one line.

    While held, temporary files left in it by killed writers (``.<name>.*.tmp``) are
    removed: no live writer can own them.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK_NAME, "a+")  # noqa: SIM115 - held until the context ends
    except OSError as exc:
        raise InputError(folder, f"cannot write ({exc.strerror or exc})") from None
    try:
        try:
            import fcntl
        except ImportError:  # not POSIX: no advisory locks; one writer per folder is then up to the user
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise InputError(folder, "another earnet process is writing to this folder; wait for it "
                                         "or choose another --out") from None
        for stale in folder.rglob(f".*{STALE_SUFFIX}"):
            with contextlib.suppress(OSError):
                stale.unlink()
        yield
    finally:
        handle.close()


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


PNG_COMPRESS_LEVEL = 1
"""zlib level for written PNGs: ~4x faster than Pillow's default (6) for ~15 % larger files."""


def write_png(path: str | Path, array: np.ndarray) -> None:
    """Write ``uint8``/``uint16``/``bool`` gray or RGB data as PNG, atomically (encoded in strips)."""
    write_png_strips(path, array.shape[0], array.shape[1], map(as_png_strip, strips_of(array)))


def write_png_strips(path: str | Path, height: int, width: int, strips: Iterable[np.ndarray]) -> None:
    """Write a PNG whose rows come as strips (see :mod:`earnet.png`), atomically.

    A map computed strip by strip is never held whole: memory grows with a strip.
    """
    with atomic_write(path) as handle:
        write_png_strips_to(handle, height, width, strips, PNG_COMPRESS_LEVEL)


def png_bytes(array: np.ndarray, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """Encode ``uint8``/``uint16``/``bool`` gray or RGB data as PNG (the bytes :func:`write_png` writes)."""
    buffer = io.BytesIO()
    write_png_strips_to(buffer, array.shape[0], array.shape[1], map(as_png_strip, strips_of(array)),
                        compress_level)
    return buffer.getvalue()


def probability_to_uint16(probability: np.ndarray, rows: int = 1024) -> np.ndarray:
    """Quantise probabilities in [0, 1] to 16-bit for PNG storage (in blocks of ``rows``, to bound memory)."""
    out = np.empty(probability.shape, dtype=np.uint16)
    for top in range(0, max(1, probability.shape[0]), rows):
        block = probability[top:top + rows]
        out[top:top + rows] = np.round(np.clip(block, 0, 1) * 65535)
    return out
