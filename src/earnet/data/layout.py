"""Helpers for finding files in the datasets' folder layouts."""

from __future__ import annotations

from pathlib import Path

from earnet.exceptions import InputError
from earnet.io import image_stem, is_image_file


def require_folder(path: Path) -> Path:
    """Return ``path`` if it is a folder, else raise an error naming it."""
    if not path.is_dir():
        raise InputError(path, "folder not found (is --root the dataset's top folder?)")
    return path


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (hidden files skipped)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and is_image_file(p))


def index_by_stem(folder: Path) -> dict[str, Path]:
    """Map each image file's stem in ``folder`` to its path."""
    return {image_stem(p): p for p in image_files(folder)} if folder.is_dir() else {}
