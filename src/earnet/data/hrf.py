"""HRF, High-Resolution Fundus (Budai et al., IJBI 2013): 45 images, 3504x2336.

Official layout::

    ROOT/images/01_dr.JPG    ROOT/manual1/01_dr.tif    ROOT/mask/01_dr_mask.tif

15 healthy (``_h``), 15 diabetic retinopathy (``_dr``) and 15 glaucoma (``_g``)
images; suffixes mix ``.jpg`` and ``.JPG``. Split (15/30, as in e.g. Orlando et
al. 2017 and FR-UNet): images 01-05 of each group train, 06-15 test. Missing
annotations are reported as problems by ``earnet data check``, not a crash.
"""

from __future__ import annotations

from pathlib import Path

from earnet.data.base import Listing
from earnet.data.layout import image_files, index_by_stem, require_folder
from earnet.types import SampleFiles

TRAIN_NUMBERS = range(1, 6)


def list_hrf(root: Path) -> Listing:
    """List all HRF samples with their labels and official FOV masks."""
    photos = image_files(require_folder(root / "images"))
    labels = index_by_stem(root / "manual1")
    masks = index_by_stem(root / "mask")
    files: list[SampleFiles] = []
    problems: list[str] = []
    for photo in photos:
        stem = photo.stem
        label, fov = labels.get(stem), masks.get(f"{stem}_mask")
        if label is None:
            problems.append(f"{photo}: missing label manual1/{stem}.tif")
        if fov is None:
            problems.append(f"{photo}: missing FOV mask mask/{stem}_mask.tif")
        files.append(SampleFiles(stem, photo, label, fov))
    return Listing(files, problems)


def hrf_train_ids(files: list[SampleFiles]) -> list[str]:
    """Images numbered 01-05 in each of the three groups."""
    return [f.id for f in files if f.id.split("_")[0].isdigit() and int(f.id.split("_")[0]) in TRAIN_NUMBERS]
