"""Your own data: any thin-structure segmentation dataset laid out in folders.

Layout (files matched by stem: ``images/leaf7.jpg`` pairs with ``labels/leaf7.png``
and, optionally, ``masks/leaf7.png``)::

    ROOT/train/images/  ROOT/train/labels/  [ROOT/train/masks/]
    ROOT/test/images/   ROOT/test/labels/   [ROOT/test/masks/]

or, without a split, ``ROOT/images/``, ``ROOT/labels/``, ``[ROOT/masks/]`` (use
``--split all``, or leave-one-out folds ``loo<k>/train``/``loo<k>/test``). Labels and
masks are binary images of any format (0/255 or 0/1). Images without a mask get a
FOV derived from the photograph (:mod:`earnet.data.fov`); for non-fundus data
supply masks (an all-white mask evaluates the whole image).
"""

from __future__ import annotations

from pathlib import Path

from earnet.data.base import Listing
from earnet.data.layout import image_files, index_by_stem, require_folder
from earnet.exceptions import InputError
from earnet.io import image_stem
from earnet.types import SampleFiles

SPLIT_FOLDERS = ("train", "test")


def list_folder(root: Path) -> Listing:
    """List samples of a folder dataset (``train/`` + ``test/``, or flat)."""
    require_folder(root)
    bases = [root / s for s in SPLIT_FOLDERS if (root / s).is_dir()] or [root]
    files: list[SampleFiles] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for base in bases:
        images = image_files(require_folder(base / "images"))
        labels = index_by_stem(require_folder(base / "labels"))
        masks = index_by_stem(base / "masks")
        if not images:
            problems.append(f"{base / 'images'}: no images found")
        for image in images:
            stem = image_stem(image)
            if stem in seen:  # ids pick the split and the prediction: a repeat would leak test into train
                raise InputError(image, f"same id {stem!r} as {seen[stem]}; image names must be unique "
                                        "(also across train/ and test/)")
            seen[stem] = image
            if stem not in labels:
                problems.append(f"{image}: missing label {base.name}/labels/{stem}.*")
            files.append(SampleFiles(stem, image, labels.get(stem), masks.get(stem)))
        stems = {image_stem(p) for p in images}
        problems += [f"{path}: label without an image" for stem, path in labels.items() if stem not in stems]
    return Listing(files, problems)


def folder_train_ids(files: list[SampleFiles]) -> list[str]:
    """Samples under ``ROOT/train/``; none for a flat folder."""
    return [f.id for f in files if f.image.parent.parent.name == "train"]
