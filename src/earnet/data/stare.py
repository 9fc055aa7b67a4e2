"""STARE (Hoover et al., IEEE TMI 2000), vessel subset: 20 images, 700x605.

Official layout (files gzip-compressed as distributed, or already unpacked)::

    ROOT/stare-images/im0001.ppm.gz
    ROOT/labels-ah/im0001.ah.ppm.gz   (Hoover: reference)
    ROOT/labels-vk/im0001.vk.ppm.gz   (Kouznetsova: second observer)

Only photographs with an ``ah`` label are vessel samples (the full STARE download
has 400 photographs). No FOV masks (derived) and no official split: the 10/10 split
(first ten train) is ``train``/``test``; leave-one-out folds are ``loo<k>/train`` and
``loo<k>/test``.
"""

from __future__ import annotations

from pathlib import Path

from earnet.data.base import Listing
from earnet.data.layout import index_by_stem, require_folder
from earnet.types import SampleFiles

N_TRAIN = 10


def list_stare(root: Path) -> Listing:
    """List the STARE photographs that have a vessel label."""
    photos = index_by_stem(require_folder(root / "stare-images"))
    labels_ah = index_by_stem(require_folder(root / "labels-ah"))
    labels_vk = index_by_stem(root / "labels-vk")
    files: list[SampleFiles] = []
    problems: list[str] = []
    for label_stem, label in sorted(labels_ah.items()):
        stem = label_stem.removesuffix(".ah")
        photo = photos.get(stem)
        if photo is None:
            problems.append(f"{label}: label without a photograph stare-images/{stem}.ppm.gz")
            continue
        files.append(SampleFiles(stem, photo, label, None, labels_vk.get(f"{stem}.vk")))
    return Listing(files, problems)


def stare_train_ids(files: list[SampleFiles]) -> list[str]:
    """The first ten labelled images in name order."""
    return sorted(f.id for f in files)[:N_TRAIN]
