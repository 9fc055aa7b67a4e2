"""DRIVE (Staal et al., IEEE TMI 2004): 20 training and 20 test images, 565x584.

Official layout (as downloaded)::

    ROOT/training/images/21_training.tif      1st_manual/21_manual1.gif   mask/21_training_mask.gif
    ROOT/test/images/01_test.tif              1st_manual/01_manual1.gif   2nd_manual/01_manual2.gif
                                              mask/01_test_mask.gif

Labels come as L-mode (0/255) or palette (0/1) GIFs; both are read as binary.
The second observer exists for the test images only. Split: ``training/`` = train.
"""

from __future__ import annotations

from pathlib import Path

from earnet.data.base import Listing
from earnet.data.layout import image_files, index_by_stem, require_folder
from earnet.types import SampleFiles


def list_drive(root: Path) -> Listing:
    """List all 40 DRIVE samples with their files and any missing ones."""
    require_folder(root)
    files: list[SampleFiles] = []
    problems: list[str] = []
    for folder in ("training", "test"):
        images = image_files(require_folder(root / folder / "images"))
        labels = index_by_stem(root / folder / "1st_manual")
        masks = index_by_stem(root / folder / "mask")
        observer2 = index_by_stem(root / folder / "2nd_manual")
        for image in images:
            number = image.stem.split("_")[0]
            label = labels.get(f"{number}_manual1")
            fov = masks.get(f"{image.stem}_mask")
            if label is None:
                problems.append(f"{image}: missing label {folder}/1st_manual/{number}_manual1.gif")
            if fov is None:
                problems.append(f"{image}: missing FOV mask {folder}/mask/{image.stem}_mask.gif")
            files.append(SampleFiles(image.stem, image, label, fov, observer2.get(f"{number}_manual2")))
    return Listing(files, problems)


def drive_train_ids(files: list[SampleFiles]) -> list[str]:
    """DRIVE's official training images are those in ``training/``."""
    return [f.id for f in files if f.image.parent.parent.name == "training"]
