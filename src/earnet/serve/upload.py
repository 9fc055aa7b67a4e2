"""Turning an uploaded file into a photograph, within the server's limits.

The upload is decoded from memory (never written to disk); its type is decided by its
content, not by the name or ``Content-Type`` the client sent.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from earnet.io import pil_to_rgb, upright

FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "TIFF": "TIFF", "PPM": "PPM/PGM", "BMP": "BMP", "WEBP": "WebP",
           "HEIF": "HEIC"}
"""Pillow formats accepted, and how to name them to a user."""

NAME_LENGTH = 80


class UploadError(Exception):
    """A photograph the server refuses, with the HTTP status that fits."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def decode_photograph(data: bytes, max_pixels: int) -> np.ndarray:
    """RGB ``uint8`` ``(H, W, 3)`` from an uploaded file's bytes.

    Raises:
        UploadError: 415 for anything but the accepted formats, 413 above ``max_pixels``
            (checked from the header, before decoding), 400 for a damaged file.
    """
    if not data:
        raise UploadError(400, "the uploaded file is empty")
    accepted = ", ".join(FORMATS.values())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(413, f"image has too many pixels (limit {max_pixels / 1e6:g} megapixels)") from None
    except UnidentifiedImageError:
        raise UploadError(415, f"not a photograph in a supported format ({accepted})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise UploadError(400, f"cannot read the image ({error})") from None
    if image.format not in FORMATS:
        raise UploadError(415, f"{image.format} images are not supported; send {accepted}")
    width, height = image.size
    if width * height > max_pixels:
        raise UploadError(413, f"image is {width}x{height} ({width * height / 1e6:.1f} megapixels); "
                               f"the limit is {max_pixels / 1e6:g} megapixels")
    try:
        image.load()
        return pil_to_rgb(upright(image))
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise UploadError(400, f"cannot decode the image ({error})") from None


def safe_name(filename: str | None) -> str:
    """A display name for a client's file name: base name, printable, bounded (never a path)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    clean = re.sub(r"[^\w.\- ]", "_", base).strip(" .")[:NAME_LENGTH]
    return clean or "upload"
