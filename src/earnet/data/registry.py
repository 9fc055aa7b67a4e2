"""Datasets by name: ``get_dataset("drive", root, "test")``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from earnet.data.base import Listing, VesselDataset, select_split
from earnet.data.chase_db1 import chase_train_ids, list_chase_db1
from earnet.data.drive import drive_train_ids, list_drive
from earnet.data.folder import SPLIT_FOLDERS, folder_train_ids, list_folder
from earnet.data.hrf import hrf_train_ids, list_hrf
from earnet.data.stare import list_stare, stare_train_ids
from earnet.data.synthetic import SyntheticDataset
from earnet.exceptions import EarnetError
from earnet.types import SampleFiles


@dataclass(frozen=True)
class DatasetSpec:
    """How to list a dataset's files and which of them form the training split."""

    name: str
    title: str
    list_all: Callable[[Path], Listing]
    train_ids: Callable[[list[SampleFiles]], list[str]]
    folder_name: str


DATASETS: dict[str, DatasetSpec] = {
    "drive": DatasetSpec("drive", "DRIVE (20 train / 20 test)", list_drive, drive_train_ids, "DRIVE"),
    "chase_db1": DatasetSpec("chase_db1", "CHASE_DB1 (first 20 / last 8)", list_chase_db1, chase_train_ids, "CHASEDB1"),
    "stare": DatasetSpec("stare", "STARE (10 / 10, or loo<k> folds)", list_stare, stare_train_ids, "STARE"),
    "hrf": DatasetSpec("hrf", "HRF (15 / 30)", list_hrf, hrf_train_ids, "HRF"),
    "folder": DatasetSpec("folder", "your own data: ROOT/{train,test}/{images,labels,masks}", list_folder,
                          folder_train_ids, ""),
}
SYNTHETIC = "synthetic"


def list_datasets() -> list[str]:
    """Names accepted by :func:`get_dataset`."""
    return [*DATASETS, SYNTHETIC]


def get_dataset(name: str, root: str | Path | None = None, split: str = "test") -> VesselDataset:
    """Create a dataset split by name.

    Args:
        name: one of :func:`list_datasets`.
        root: the dataset's top folder as downloaded (not needed for ``synthetic``).
        split: ``train``, ``test``, ``all`` or a leave-one-out fold ``loo<k>/train|test``.

    Raises:
        EarnetError: unknown name, missing root, or an empty split.
    """
    key = name.lower().replace("-", "_")
    if key == SYNTHETIC:
        return SyntheticDataset(split)
    if key not in DATASETS:
        raise EarnetError(f"unknown dataset {name!r}; valid: {', '.join(list_datasets())}")
    if root is None:
        raise EarnetError(f"dataset {key} needs --root (the folder you downloaded it to)")
    spec = DATASETS[key]
    root = Path(root)
    if key == "folder" and split in ("train", "test") and not any((root / s).is_dir() for s in SPLIT_FOLDERS):
        raise EarnetError(f"{root}: a flat folder dataset has no {split} split (make train/ and test/ "
                          "subfolders, or use --split all or loo<k>/train|test)")
    listing = spec.list_all(root)
    selected = select_split(listing.files, split, spec.train_ids(listing.files))
    if not selected:
        raise EarnetError(f"{root}: split {split!r} of {key} has no images")
    dataset = VesselDataset(root, split, Listing(selected, listing.problems))
    dataset.name = key
    return dataset
