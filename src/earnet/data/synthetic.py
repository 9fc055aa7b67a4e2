"""The built-in synthetic dataset: generated fundus photographs with exact labels.

Needs no download: samples are generated on the fly (deterministically) by
:func:`earnet.data.synthetic_fundus.generate_fundus`. It exercises every part of
the pipeline and is the embedded default of the demo; it is no substitute for real
data. ``earnet data synth OUT`` writes the same images in the folder-dataset layout.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from earnet.data.base import Listing, VesselDataset
from earnet.data.synthetic_fundus import generate_fundus
from earnet.exceptions import EarnetError
from earnet.io import write_png
from earnet.types import Sample, SampleFiles

N_TRAIN = 20
N_TEST = 10
SIZE = 256
SEED = 0


def synthetic_id(index: int) -> str:
    """Id of the ``index``-th synthetic sample."""
    return f"synth_{index:03d}"


@lru_cache(maxsize=256)
def _generate(seed: int, size: int) -> Sample:
    fundus = generate_fundus(seed, size)
    return Sample(id="", image=fundus.image, label=fundus.label, fov=fundus.fov)


class SyntheticDataset(VesselDataset):
    """``N_TRAIN`` training and ``N_TEST`` test images, generated from fixed seeds."""

    name = "synthetic"

    def __init__(self, split: str = "test", n_train: int = N_TRAIN, n_test: int = N_TEST,
                 size: int = SIZE, seed: int = SEED) -> None:
        ranges = {"train": range(n_train), "test": range(n_train, n_train + n_test),
                  "all": range(n_train + n_test)}
        if split not in ranges:
            raise EarnetError(f"unknown split {split!r} for synthetic; valid: {', '.join(ranges)}")
        self.indices = list(ranges[split])
        self.size = size
        self.seed = seed
        files = [SampleFiles(synthetic_id(i), Path(f"<synthetic {i}>"), None) for i in self.indices]
        super().__init__(None, split, Listing(files))

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        i = self.indices[index]
        sample = _generate(self.seed * 100_003 + i, self.size)
        return Sample(id=synthetic_id(i), image=sample.image, label=sample.label, fov=sample.fov)


def write_synthetic(out: Path, n: int, seed: int = SEED, size: int = SIZE, test_fraction: float = 1 / 3) -> list[Path]:
    """Write ``n`` synthetic samples to ``out`` in the folder-dataset layout.

    The last ``round(n * test_fraction)`` samples go to ``test/``, the rest to
    ``train/``; each has ``images/``, ``labels/`` and ``masks/`` PNGs.
    """
    if n < 1:
        raise EarnetError("--n must be at least 1")
    n_test = round(n * test_fraction) if n > 1 else 0
    written: list[Path] = []
    for i in range(n):
        sample = _generate(seed * 100_003 + i, size)
        split = "test" if i >= n - n_test else "train"
        stem = synthetic_id(i)
        for folder, array in (("images", sample.image), ("labels", sample.label), ("masks", sample.fov)):
            path = out / split / folder / f"{stem}.png"
            write_png(path, array)
            written.append(path)
    return written
