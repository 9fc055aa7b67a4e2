"""Shared fixtures: tiny fake datasets built in ``tmp_path`` in each dataset's official layout.

Every builder writes small (40x48) synthetic fundus photographs with PIL and returns a
:class:`FakeDataset` holding the root and the exact arrays written, so tests can compare
what a loader reads against ground truth.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

H, W = 40, 48
"""Size of every fake image (rows, columns)."""

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
"""The read-only real datasets (``../shared/data`` from the repository root)."""

DRIVE_PALETTE = [4, 2, 4, 252, 254, 252]
"""The (non-gray) palette of DRIVE's ``2nd_manual`` GIFs: index 0 background, 1 vessel."""

STARE_IDS = ["im0001", "im0002", "im0003", "im0004", "im0005", "im0044", "im0077", "im0081", "im0082",
             "im0139", "im0162", "im0163", "im0235", "im0236", "im0239", "im0240", "im0255", "im0291",
             "im0319", "im0324"]
"""The 20 STARE vessel images, in name order."""

CHASE_IDS = [f"Image_{n:02d}{eye}" for n in range(1, 15) for eye in "LR"]
"""The 28 CHASE_DB1 images, in name order."""


def shared_dataset(name: str) -> Path:
    """Path of a real dataset under ``../shared/data``; skips the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name} not available at {path} (../shared/data is absent on this machine)")
    return path


@pytest.fixture
def shared_data() -> Path:
    """The real datasets' folder; skips the test when ``../shared/data`` is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not available: {SHARED_DATA} is absent on this machine")
    return SHARED_DATA


# --------------------------------------------------------------------------- arrays


def fake_fundus(seed: int, h: int = H, w: int = W) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A tiny fundus-like photograph: bright disc on black, darker vessel lines.

    Returns ``(image uint8 (h, w, 3), label bool, fov bool)``; the label lies inside the FOV
    and covers roughly 10-20 % of it.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    cy, cx, radius = (h - 1) / 2, (w - 1) / 2, min(h, w) / 2 - 2
    fov = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    label = np.zeros((h, w), dtype=bool)
    label[int(cy) + rng.integers(-6, 7), :] = True  # one horizontal vessel
    label[:, int(cx) + rng.integers(-8, 9)] = True  # one vertical vessel
    diagonal = np.abs((yy - cy) - (xx - cx) * rng.uniform(-1, 1)) < 0.8
    label |= diagonal
    label &= fov
    image = np.zeros((h, w, 3), dtype=np.float64)
    image[fov] = (190, 90, 40)
    image[label] = (140, 45, 25)
    image[fov] += rng.normal(0, 3, (int(fov.sum()), 3))
    return np.clip(image, 0, 255).round().astype(np.uint8), label, fov


def save(array: np.ndarray, path: Path, fmt: str | None = None, mode: str | None = None) -> Path:
    """Save ``array`` (bool -> 0/255 L) with PIL; ``.gz`` names are gzip-compressed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.dtype == bool and mode != "1":
        array = array.astype(np.uint8) * 255
    image = Image.fromarray(array)
    if mode is not None and image.mode != mode:
        image = image.convert(mode)
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    fmt = fmt or {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF", "ppm": "PPM", "gif": "GIF",
                  "png": "PNG"}[name.rsplit(".", 1)[1].lower()]
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    data = buffer.getvalue()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def save_palette_label(label: np.ndarray, path: Path) -> Path:
    """Save a label as DRIVE's 2nd_manual: palette GIF, indices 0/1, palette [4,2,4],[252,254,252]."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(label.astype(np.uint8), mode="P")
    image.putpalette(DRIVE_PALETTE + [0] * (768 - len(DRIVE_PALETTE)))
    image.save(path, format="GIF")
    return path


def second_observer(label: np.ndarray, fov: np.ndarray, seed: int) -> np.ndarray:
    """A plausible second observer: the label with a few vessel pixels dropped and some added."""
    rng = np.random.default_rng(1000 + seed)
    other = label.copy()
    vessel = np.flatnonzero(label)
    other.flat[rng.choice(vessel, size=len(vessel) // 5, replace=False)] = False
    background = np.flatnonzero(fov & ~label)
    other.flat[rng.choice(background, size=len(background) // 30, replace=False)] = True
    return other


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to ``keep`` of its length (a broken download)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# --------------------------------------------------------------------------- datasets


@dataclass
class FakeDataset:
    """A fake dataset on disk and the exact arrays written into it, by sample id."""

    root: Path
    images: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    fovs: dict[str, np.ndarray] = field(default_factory=dict)
    observer2: dict[str, np.ndarray] = field(default_factory=dict)
    files: dict[str, dict[str, Path]] = field(default_factory=dict)

    def add(self, sample_id: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        image, label, fov = fake_fundus(seed)
        self.images[sample_id], self.labels[sample_id], self.fovs[sample_id] = image, label, fov
        self.files[sample_id] = {}
        return image, label, fov


def make_drive(root: Path, train: tuple[int, ...] = (21, 22, 23), test: tuple[int, ...] = (1, 2, 3)) -> FakeDataset:
    """DRIVE: ``training/`` and ``test/`` with images/*.tif, 1st_manual/*.gif (L, 0/255),
    mask/*_mask.gif and, for test only, 2nd_manual/*.gif (palette, 0/1, non-gray palette)."""
    fake = FakeDataset(root)
    for folder, numbers, kind in (("training", train, "training"), ("test", test, "test")):
        for n in numbers:
            sample_id = f"{n:02d}_{kind}"
            image, label, fov = fake.add(sample_id, n)
            files = fake.files[sample_id]
            files["image"] = save(image, root / folder / "images" / f"{sample_id}.tif")
            files["label"] = save(label, root / folder / "1st_manual" / f"{n:02d}_manual1.gif", mode="L")
            files["fov"] = save(fov, root / folder / "mask" / f"{sample_id}_mask.gif", mode="L")
            if folder == "test":
                other = second_observer(label, fov, n)
                fake.observer2[sample_id] = other
                files["observer2"] = save_palette_label(other, root / folder / "2nd_manual" / f"{n:02d}_manual2.gif")
    return fake


def make_chase(root: Path, ids: list[str] = CHASE_IDS) -> FakeDataset:
    """CHASE_DB1: flat folder, Image_01L.jpg, Image_01L_1stHO.png (1-bit), Image_01L_2ndHO.png."""
    fake = FakeDataset(root)
    for seed, sample_id in enumerate(ids):
        image, label, fov = fake.add(sample_id, seed)
        other = second_observer(label, fov, seed)
        fake.observer2[sample_id] = other
        fake.files[sample_id] = {
            "image": save(image, root / f"{sample_id}.jpg"),
            "label": save(label, root / f"{sample_id}_1stHO.png", mode="1"),
            "observer2": save(other, root / f"{sample_id}_2ndHO.png", mode="1"),
        }
    return fake


def make_stare(root: Path, ids: list[str] = STARE_IDS, unlabelled: tuple[str, ...] = ("im0400",)) -> FakeDataset:
    """STARE: stare-images/*.ppm.gz, labels-ah/*.ah.ppm.gz and labels-vk/*.vk.ppm.gz holding PGM
    (P5) data; ``unlabelled`` photographs (the rest of STARE's 400) have no vessel label."""
    fake = FakeDataset(root)
    for seed, sample_id in enumerate(ids):
        image, label, fov = fake.add(sample_id, seed)
        other = second_observer(label, fov, seed)
        fake.observer2[sample_id] = other
        fake.files[sample_id] = {
            "image": save(image, root / "stare-images" / f"{sample_id}.ppm.gz"),
            "label": save(label, root / "labels-ah" / f"{sample_id}.ah.ppm.gz", fmt="PPM"),
            "observer2": save(other, root / "labels-vk" / f"{sample_id}.vk.ppm.gz", fmt="PPM"),
        }
    for extra in unlabelled:
        save(fake_fundus(99)[0], root / "stare-images" / f"{extra}.ppm.gz")
    return fake


HRF_IDS = ["01_dr", "01_g", "01_h", "06_dr", "06_g", "06_h"]


def make_hrf(root: Path, ids: list[str] = HRF_IDS) -> FakeDataset:
    """HRF: images/ (mixed .jpg/.JPG), manual1/*.tif, mask/*_mask.tif (one saved as RGB)."""
    fake = FakeDataset(root)
    for seed, sample_id in enumerate(ids):
        image, label, fov = fake.add(sample_id, seed)
        suffix = ".JPG" if seed % 2 else ".jpg"
        fake.files[sample_id] = {
            "image": save(image, root / "images" / f"{sample_id}{suffix}", fmt="JPEG"),
            "label": save(label, root / "manual1" / f"{sample_id}.tif"),
            "fov": save(fov, root / "mask" / f"{sample_id}_mask.tif", mode="RGB" if seed == 0 else None),
        }
    return fake


def make_folder(root: Path, train: int = 3, test: int = 2, flat: bool = False, masks: bool = True) -> FakeDataset:
    """Folder dataset: ``train/`` and ``test/`` (or ``flat``) with images/, labels/, masks/.

    Images are PNG in train and JPEG in test; labels 0/255 PNG; masks 0/255 PNG.
    """
    fake = FakeDataset(root)
    groups = [(root, train + test)] if flat else [(root / "train", train), (root / "test", test)]
    seed = 0
    for base, count in groups:
        for _ in range(count):
            sample_id = f"leaf{seed}"
            image, label, fov = fake.add(sample_id, 50 + seed)
            suffix = ".jpg" if base.name == "test" else ".png"
            fake.files[sample_id] = {"image": save(image, base / "images" / f"{sample_id}{suffix}"),
                                     "label": save(label, base / "labels" / f"{sample_id}.png")}
            if masks:
                fake.files[sample_id]["fov"] = save(fov, base / "masks" / f"{sample_id}.png")
            seed += 1
    return fake


@pytest.fixture
def drive(tmp_path: Path) -> FakeDataset:
    """A fake DRIVE with 3 training and 3 test images."""
    return make_drive(tmp_path / "DRIVE")


@pytest.fixture
def chase(tmp_path: Path) -> FakeDataset:
    """A fake CHASE_DB1 with all 28 images."""
    return make_chase(tmp_path / "CHASEDB1")


@pytest.fixture
def stare(tmp_path: Path) -> FakeDataset:
    """A fake STARE with the 20 labelled images and one unlabelled photograph."""
    return make_stare(tmp_path / "STARE")


@pytest.fixture
def hrf(tmp_path: Path) -> FakeDataset:
    """A fake HRF with 3 training (01_*) and 3 test (06_*) images."""
    return make_hrf(tmp_path / "HRF")


@pytest.fixture
def folder(tmp_path: Path) -> FakeDataset:
    """A fake folder dataset with 3 train and 2 test images."""
    return make_folder(tmp_path / "leaves")
