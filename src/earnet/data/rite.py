"""RITE (Hu et al., MICCAI 2013): artery/vein labels of DRIVE's 40 images, split 20/20.

Layout: ``ROOT`` holds ``RITE/`` and ``DRIVE/`` as downloaded (RITE ships only the
labels; the photographs and FOV masks are DRIVE's, with the same stems)::

    ROOT/RITE/training/av/21_training.png   ROOT/DRIVE/training/images/21_training.tif  mask/...
    ROOT/RITE/test/av/01_test.png           ROOT/DRIVE/test/images/01_test.tif           mask/...

Colour code: red artery, blue vein, green crossing (both), white vessel of uncertain
type, black background. The test labels trace DRIVE's *second* observer.
A few pixels of the official release carry other colours (cyan, magenta, an
anti-aliased red); up to 16 of them, or 0.5 % of a label's vessel pixels, are read
as uncertain vessel; more is an error naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from earnet.data.base import Listing, VesselDataset, _read_same_size
from earnet.data.layout import image_files, index_by_stem, require_folder
from earnet.exceptions import InputError
from earnet.io import read_rgb
from earnet.types import Sample, SampleFiles

BACKGROUND, ARTERY, VEIN, CROSSING, UNCERTAIN = 0, 1, 2, 3, 4
CLASS_NAMES = ("background", "artery", "vein", "crossing", "uncertain")
COLOURS = {(0, 0, 0): BACKGROUND, (255, 0, 0): ARTERY, (0, 0, 255): VEIN, (0, 255, 0): CROSSING,
           (255, 255, 255): UNCERTAIN}
MAX_OFF_CODE_FRACTION = 0.005
MIN_OFF_CODE_ALLOWED = 16
"""Pixels of other colours tolerated (read as uncertain): this many, or this fraction of the vessel pixels."""


def rite_folders(root: Path) -> tuple[Path, Path]:
    """The RITE and DRIVE folders under ``root`` (``root`` may also be the RITE folder itself)."""
    root = Path(root)
    if (root / "training" / "av").is_dir() or (root / "test" / "av").is_dir():
        return root, root.parent / "DRIVE"
    return root / "RITE", root / "DRIVE"


def list_rite(root: Path) -> Listing:
    """List RITE's 40 labels with their DRIVE photographs and FOV masks."""
    rite, drive = rite_folders(require_folder(Path(root)))
    require_folder(rite)
    require_folder(drive)
    files: list[SampleFiles] = []
    problems: list[str] = []
    for folder in ("training", "test"):
        labels = image_files(require_folder(rite / folder / "av"))
        images = index_by_stem(drive / folder / "images")
        masks = index_by_stem(drive / folder / "mask")
        for label in labels:
            image = images.get(label.stem)
            fov = masks.get(f"{label.stem}_mask")
            if image is None:
                problems.append(f"{label}: missing DRIVE photograph {drive / folder / 'images'}/{label.stem}.tif")
                continue
            if fov is None:
                problems.append(f"{label}: missing FOV mask {drive / folder / 'mask'}/{label.stem}_mask.gif")
            files.append(SampleFiles(label.stem, image, label, fov))
    return Listing(files, problems)


def rite_train_ids(files: list[SampleFiles]) -> list[str]:
    """RITE's training images are DRIVE's (``training/``)."""
    return [f.id for f in files if f.label is not None and f.label.parent.parent.name == "training"]


def read_av_label(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a RITE-coloured A/V label as ``uint8`` classes (``BACKGROUND`` ... ``UNCERTAIN``).

    Raises:
        InputError: wrong size (when ``shape`` is given) or colours outside the code.
    """
    rgb = read_rgb(path)
    if shape is not None and rgb.shape[:2] != tuple(shape):
        raise InputError(path, f"A/V label is {rgb.shape[1]}x{rgb.shape[0]} but the photograph is "
                               f"{shape[1]}x{shape[0]}")
    code = rgb.astype(np.int32) @ np.array([65536, 256, 1], dtype=np.int32)
    classes = np.full(code.shape, UNCERTAIN, dtype=np.uint8)
    off_code = np.ones(code.shape, dtype=bool)
    for colour, value in COLOURS.items():
        match = code == _pack(colour)
        classes[match] = value
        off_code &= ~match
    vessel = int((classes != BACKGROUND).sum())
    if off_code.sum() > max(MIN_OFF_CODE_ALLOWED, MAX_OFF_CODE_FRACTION * vessel):
        y, x = np.argwhere(off_code)[0]
        raise InputError(path, f"{int(off_code.sum())} of {vessel} vessel pixels have colours outside RITE's code "
                               f"(first {tuple(int(v) for v in rgb[y, x])} at x={x}, y={y}); "
                               "expected black, red, blue, green or white")
    return classes


def _pack(colour: tuple[int, int, int]) -> int:
    return colour[0] * 65536 + colour[1] * 256 + colour[2]


class RiteDataset(VesselDataset):
    """A split of RITE; samples carry ``av`` classes and ``label`` = any vessel."""

    name = "rite"

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        files = self.files[index]
        image = read_rgb(files.image)
        shape = image.shape[:2]
        assert files.label is not None
        av = read_av_label(files.label, shape)
        if files.fov is None:
            raise InputError(files.image, "no FOV mask (RITE uses DRIVE's)")
        fov = _read_same_size(files.fov, "FOV mask", shape, files.image)
        return Sample(id=files.id, image=image, label=av != BACKGROUND, fov=fov, av=av)


def av_targets(av: np.ndarray) -> dict[str, np.ndarray]:
    """Training targets from A/V classes: artery, vein, vessel, and where A/V is known.

    Crossings are both artery and vein; uncertain pixels are vessel with no A/V target.
    """
    return {"artery": np.isin(av, (ARTERY, CROSSING)), "vein": np.isin(av, (VEIN, CROSSING)),
            "vessel": av != BACKGROUND, "known": av != UNCERTAIN}


THIN_HALF_WIDTH = 1.5
"""Reference vessels with a local half-width below this (px) are thin (BENCHMARKS.md: their A/V
accuracy is the lowest, ~.81 at this calibre)."""


def vessel_half_width(av: np.ndarray) -> np.ndarray:
    """Local half-width (px) of the reference vessels of A/V classes ``av``: the largest distance to
    background within 7x7 px (0 off the vessels)."""
    from scipy import ndimage

    vessel = av != BACKGROUND
    return np.where(vessel, ndimage.maximum_filter(ndimage.distance_transform_edt(vessel), 7), 0.0)


def thin_vessels(av: np.ndarray) -> np.ndarray:
    """Vessel pixels of A/V classes ``av`` whose local half-width is below :data:`THIN_HALF_WIDTH`."""
    return (av != BACKGROUND) & (vessel_half_width(av) < THIN_HALF_WIDTH)
