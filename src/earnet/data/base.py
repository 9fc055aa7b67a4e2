"""Datasets as ordered collections of :class:`~earnet.types.Sample`.

A dataset is created for one split; samples are read lazily, at original size,
and validated as they are read (sizes agree, labels are binary). The FOV mask is
read from the dataset's official file or, where the dataset has none, derived
from the image (:func:`earnet.data.fov.derive_fov`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from earnet.data.fov import derive_fov
from earnet.exceptions import EarnetError, InputError
from earnet.io import read_binary, read_rgb
from earnet.types import Sample, SampleFiles

_LOO_SPLIT = re.compile(r"^loo(\d+)/(train|test)$")


@dataclass
class Listing:
    """What a dataset's folder holds for one split, and what is wrong with it."""

    files: list[SampleFiles]
    problems: list[str] = field(default_factory=list)


def select_split(files: list[SampleFiles], split: str, train_ids: Sequence[str]) -> list[SampleFiles]:
    """Pick the samples of ``split`` from ``files`` sorted by id.

    ``train``: ids in ``train_ids``; ``test``: the others; ``all``: every file;
    ``loo<k>/test`` / ``loo<k>/train``: leave-one-out fold ``k`` (1-based) over ``all``.
    """
    files = sorted(files, key=lambda f: f.id)
    if split == "all":
        return files
    if split == "train":
        return [f for f in files if f.id in set(train_ids)]
    if split == "test":
        return [f for f in files if f.id not in set(train_ids)]
    match = _LOO_SPLIT.match(split)
    if match:
        k = int(match.group(1))
        if not 1 <= k <= len(files):
            raise EarnetError(f"leave-one-out fold {k} out of range 1..{len(files)}")
        held_out = files[k - 1].id
        return [f for f in files if (f.id == held_out) == (match.group(2) == "test")]
    raise EarnetError(f"unknown split {split!r}; valid: train, test, all, loo<k>/train, loo<k>/test")


class VesselDataset(Sequence[Sample]):
    """A split of a retinal vessel dataset; indexing reads and validates a sample."""

    name: str = "dataset"

    def __init__(self, root: Path | None, split: str, listing: Listing) -> None:
        self.root = root
        self.split = split
        self.files = listing.files
        self.problems = listing.problems

    @property
    def ids(self) -> list[str]:
        """Sample ids (image file stems) in order."""
        return [f.id for f in self.files]

    @property
    def has_observer2(self) -> bool:
        """Whether every sample of the split has a second observer's label."""
        return bool(self.files) and all(f.observer2 is not None for f in self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        return load_sample(self.files[index])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, n={len(self)})"


def load_sample(files: SampleFiles) -> Sample:
    """Read one sample from disk, checking that its files agree."""
    image = read_rgb(files.image)
    shape = image.shape[:2]
    if files.label is None:
        raise InputError(files.image, "no vessel label found for this image")
    label = _read_same_size(files.label, "label", shape, files.image)
    fov = _read_same_size(files.fov, "FOV mask", shape, files.image) if files.fov else derive_fov(image)
    observer2 = _read_same_size(files.observer2, "label", shape, files.image) if files.observer2 else None
    return Sample(id=files.id, image=image, label=label, fov=fov, observer2=observer2)


def _read_same_size(path: Path, what: str, shape: tuple[int, ...], image_path: Path) -> np.ndarray:
    mask = read_binary(path, what)
    if mask.shape != shape:
        raise InputError(path, f"{what} is {_size(mask.shape)} but image {image_path.name} is {_size(shape)}")
    return mask


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}"
