"""CHASE_DB1 (Fraz et al., IEEE TBME 2012): 28 images of 14 children, 999x960.

Official layout: one flat folder::

    ROOT/Image_01L.jpg   ROOT/Image_01L_1stHO.png (reference)   ROOT/Image_01L_2ndHO.png

No FOV masks are distributed (they are derived, :mod:`earnet.data.fov`) and no
official split: the usual one, used here, is the first 20 images (01L..10R) for
training and the last 8 (11L..14R) for testing.
"""

from __future__ import annotations

from pathlib import Path

from earnet.data.base import Listing
from earnet.data.layout import image_files, require_folder
from earnet.io import image_stem
from earnet.types import SampleFiles

N_TRAIN = 20


def list_chase_db1(root: Path) -> Listing:
    """List all CHASE_DB1 samples; an annotation without a photograph is a problem."""
    everything = image_files(require_folder(root))
    by_stem = {image_stem(p): p for p in everything}
    photos = [p for p in everything if p.suffix.lower() == ".jpg" and not image_stem(p).endswith(("HO",))]
    files: list[SampleFiles] = []
    problems: list[str] = []
    for photo in photos:
        stem = image_stem(photo)
        label = by_stem.get(f"{stem}_1stHO")
        if label is None:
            problems.append(f"{photo}: missing label {stem}_1stHO.png")
        files.append(SampleFiles(stem, photo, label, None, by_stem.get(f"{stem}_2ndHO")))
    photo_stems = {f.id for f in files}
    for stem, path in by_stem.items():
        if stem.endswith(("_1stHO", "_2ndHO")) and stem.rsplit("_", 1)[0] not in photo_stems:
            problems.append(f"{path}: annotation without a photograph")
    return Listing(files, problems)


def chase_train_ids(files: list[SampleFiles]) -> list[str]:
    """The first 20 images in name order."""
    return sorted(f.id for f in files)[:N_TRAIN]
