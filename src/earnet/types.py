"""The records that flow between earnet's modules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SampleFiles:
    """Where one sample of a dataset lives on disk.

    ``fov`` is ``None`` for datasets without official field-of-view masks (the FOV is
    then derived from the image); ``observer2`` is ``None`` where the dataset has no
    second observer for this image.
    """

    id: str
    image: Path
    label: Path | None
    fov: Path | None = None
    observer2: Path | None = None


@dataclass
class Sample:
    """One fundus image with its annotations, as numpy arrays at original size.

    Attributes:
        id: the image file's stem, e.g. ``"01_test"``; predictions are matched by it.
        image: RGB, ``uint8``, shape ``(H, W, 3)``.
        label: vessel label of the first observer, ``bool``, ``(H, W)``.
        fov: field-of-view mask, ``bool``, ``(H, W)``.
        observer2: second observer's label, ``bool``, or ``None``.
    """

    id: str
    image: np.ndarray
    label: np.ndarray
    fov: np.ndarray
    observer2: np.ndarray | None = None
