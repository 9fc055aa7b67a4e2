"""Datasets by name: ``get_dataset("drive", root, "test")``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from earnet.data.base import Listing, VesselDataset, select_split
from earnet.data.chase_db1 import chase_train_ids, list_chase_db1
from earnet.data.drive import drive_train_ids, list_drive
from earnet.data.folder import SPLIT_FOLDERS, folder_train_ids, list_folder
from earnet.data.hrf import hrf_train_ids, list_hrf
from earnet.data.rite import RiteDataset, list_rite, rite_train_ids
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
    dataset_class: type[VesselDataset] = VesselDataset


DATASETS: dict[str, DatasetSpec] = {
    "drive": DatasetSpec("drive", "DRIVE (20 train / 20 test)", list_drive, drive_train_ids, "DRIVE"),
    "chase_db1": DatasetSpec("chase_db1", "CHASE_DB1 (first 20 / last 8)", list_chase_db1, chase_train_ids, "CHASEDB1"),
    "stare": DatasetSpec("stare", "STARE (10 / 10, or loo<k> folds)", list_stare, stare_train_ids, "STARE"),
    "hrf": DatasetSpec("hrf", "HRF (15 / 30)", list_hrf, hrf_train_ids, "HRF"),
    "folder": DatasetSpec("folder", "your own data: ROOT/{train,test}/{images,labels,masks}", list_folder,
                          folder_train_ids, ""),
    "rite": DatasetSpec("rite", "RITE artery/vein labels of DRIVE (20 / 20); ROOT holds RITE/ and DRIVE/",
                        list_rite, rite_train_ids, "", RiteDataset),
}
SYNTHETIC = "synthetic"


def list_datasets() -> list[str]:
    """Names accepted by :func:`get_dataset`."""
    return [*DATASETS, SYNTHETIC]


def get_dataset(name: str, root: str | Path | None = None, split: str = "test") -> VesselDataset:
    """Create a dataset split by name.

    Args:
        name: one of :func:`list_datasets`, or several joined by ``+``
            (``drive+chase_db1+stare``), whose ``root`` then holds each dataset in its
            usual folder (``DRIVE/``, ``CHASEDB1/``, ``STARE/``, ``HRF/``).
        root: the dataset's top folder as downloaded (not needed for ``synthetic``).
        split: ``train``, ``test``, ``all`` or a leave-one-out fold ``loo<k>/train|test``.

    Raises:
        EarnetError: unknown name, missing root, or an empty split.
    """
    key = name.lower().replace("-", "_")
    if "+" in key:
        return combined_dataset(key.split("+"), root, split)
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
    dataset = spec.dataset_class(root, split, Listing(selected, listing.problems))
    dataset.name = key
    return dataset


def combined_dataset(names: list[str], root: str | Path | None, split: str) -> VesselDataset:
    """The union of several datasets' ``split``; ids are prefixed with the dataset name."""
    if root is None:
        raise EarnetError(f"combined dataset {'+'.join(names)} needs --root (the folder holding "
                          f"{', '.join(DATASETS[n].folder_name for n in names if n in DATASETS)})")
    files: list[SampleFiles] = []
    problems: list[str] = []
    for name in names:
        if name not in DATASETS or not DATASETS[name].folder_name:
            valid = ", ".join(k for k, v in DATASETS.items() if v.folder_name)
            raise EarnetError(f"cannot combine {name!r}; datasets that combine: {valid}")
        part = get_dataset(name, Path(root) / DATASETS[name].folder_name, split)
        files += [replace(f, id=f"{name}_{f.id}") for f in part.files]
        problems += part.problems
    dataset = VesselDataset(Path(root), split, Listing(files, problems))
    dataset.name = "+".join(names)
    return dataset
