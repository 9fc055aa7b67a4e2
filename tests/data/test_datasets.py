"""Tests for the dataset loaders (earnet.data.*) on fake official layouts and on the real data."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    CHASE_IDS,
    STARE_IDS,
    FakeDataset,
    W,
    make_folder,
    save,
    shared_dataset,
)

from earnet import get_dataset, list_datasets
from earnet.exceptions import EarnetError, InputError
from earnet.types import Sample


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def assert_sample(sample: Sample, fake: FakeDataset, fov_read: bool, observer2: bool) -> None:
    """The sample's arrays have the right types and equal what the fixture wrote."""
    h, w = fake.labels[sample.id].shape
    assert sample.image.dtype == np.uint8 and sample.image.shape == (h, w, 3)
    assert sample.label.dtype == bool and sample.label.shape == (h, w)
    assert sample.fov.dtype == bool and sample.fov.shape == (h, w)
    np.testing.assert_array_equal(sample.label, fake.labels[sample.id])
    if fov_read:
        np.testing.assert_array_equal(sample.fov, fake.fovs[sample.id])
    else:  # derived from the photograph; on 40x48 images the 1-pixel erosion costs ~8 %
        assert iou(sample.fov, fake.fovs[sample.id]) > 0.88
        assert not sample.fov[0, 0] and sample.fov[h // 2, w // 2]
    if observer2:
        assert sample.observer2 is not None and sample.observer2.dtype == bool
        np.testing.assert_array_equal(sample.observer2, fake.observer2[sample.id])
    else:
        assert sample.observer2 is None


# --------------------------------------------------------------------------- DRIVE


def test_drive_splits(drive: FakeDataset) -> None:
    assert get_dataset("drive", drive.root, "train").ids == ["21_training", "22_training", "23_training"]
    assert get_dataset("drive", drive.root, "test").ids == ["01_test", "02_test", "03_test"]
    everything = get_dataset("drive", drive.root, "all")
    assert len(everything) == 6 and everything.problems == []
    assert everything.name == "drive" and everything.split == "all"


def test_drive_samples(drive: FakeDataset) -> None:
    test = get_dataset("drive", drive.root, "test")
    assert test.has_observer2
    for sample in test:
        assert_sample(sample, drive, fov_read=True, observer2=True)
        np.testing.assert_array_equal(sample.image, drive.images[sample.id])  # TIFF is lossless
    train = get_dataset("drive", drive.root, "train")
    assert not train.has_observer2
    assert_sample(train[1], drive, fov_read=True, observer2=False)
    assert train[1].id == "22_training"


def test_drive_missing_label_is_listed_and_raises_on_load(drive: FakeDataset) -> None:
    drive.files["02_test"]["label"].unlink()
    dataset = get_dataset("drive", drive.root, "test")
    assert dataset.problems == [f"{drive.files['02_test']['image']}: missing label test/1st_manual/02_manual1.gif"]
    assert len(dataset) == 3
    dataset[0]  # the others still load
    with pytest.raises(InputError, match="no vessel label") as error:
        dataset[1]
    assert error.value.path == drive.files["02_test"]["image"]


def test_drive_missing_mask_is_listed_and_fov_derived(drive: FakeDataset) -> None:
    drive.files["21_training"]["fov"].unlink()
    dataset = get_dataset("drive", drive.root, "train")
    assert dataset.problems == [
        f"{drive.files['21_training']['image']}: missing FOV mask training/mask/21_training_mask.gif"]
    assert_sample(dataset[0], drive, fov_read=False, observer2=False)


def test_drive_label_size_mismatch_names_label(drive: FakeDataset) -> None:
    label = drive.files["03_test"]["label"]
    save(np.zeros((40, 50), dtype=bool), label, mode="L")
    with pytest.raises(InputError, match="label is 50x40 but image 03_test.tif is 48x40") as error:
        get_dataset("drive", drive.root, "test")[2]
    assert error.value.path == label
    assert str(error.value).startswith(str(label))


def test_drive_observer2_size_mismatch_names_file(drive: FakeDataset) -> None:
    path = drive.files["01_test"]["observer2"]
    save(np.zeros((41, 48), dtype=bool), path, mode="L")
    with pytest.raises(InputError) as error:
        get_dataset("drive", drive.root, "test")[0]
    assert error.value.path == path


def test_drive_non_binary_label(drive: FakeDataset) -> None:
    label = drive.files["01_test"]["label"]
    data = drive.labels["01_test"].astype(np.uint8) * 255
    data[0, :3] = (60, 120, 180)
    save(data, label, mode="L")
    with pytest.raises(InputError, match="label is not binary") as error:
        get_dataset("drive", drive.root, "test")[0]
    assert error.value.path == label


def test_drive_non_binary_fov_mask(drive: FakeDataset) -> None:
    mask = drive.files["01_test"]["fov"]
    data = drive.fovs["01_test"].astype(np.uint8) * 255
    data[0, 0] = 100
    save(data, mask, mode="L")
    with pytest.raises(InputError, match="FOV mask is not binary") as error:
        get_dataset("drive", drive.root, "test")[0]
    assert error.value.path == mask


def test_drive_missing_images_folder_names_it(drive: FakeDataset) -> None:
    for path in (drive.root / "test" / "images").iterdir():
        path.unlink()
    (drive.root / "test" / "images").rmdir()
    with pytest.raises(InputError, match="folder not found") as error:
        get_dataset("drive", drive.root, "train")
    assert error.value.path == drive.root / "test" / "images"


# --------------------------------------------------------------------------- CHASE_DB1


def test_chase_splits_first_20_last_8(chase: FakeDataset) -> None:
    train = get_dataset("chase_db1", chase.root, "train")
    test = get_dataset("chase_db1", chase.root, "test")
    assert train.ids == CHASE_IDS[:20] and train.ids[-1] == "Image_10R"
    assert test.ids == CHASE_IDS[20:] and test.ids[0] == "Image_11L"
    assert len(get_dataset("chase_db1", chase.root, "all")) == 28
    assert train.problems == [] and train.has_observer2 and test.has_observer2


def test_chase_samples(chase: FakeDataset) -> None:
    dataset = get_dataset("CHASE-DB1", chase.root, "test")
    assert dataset.name == "chase_db1"
    for index in (0, 7):
        sample = dataset[index]
        assert_sample(sample, chase, fov_read=False, observer2=True)
        assert np.abs(sample.image.astype(int) - chase.images[sample.id]).mean() < 8  # JPEG


def test_chase_missing_label_and_orphan_annotation(chase: FakeDataset) -> None:
    chase.files["Image_05R"]["label"].unlink()
    chase.files["Image_14R"]["image"].unlink()
    dataset = get_dataset("chase_db1", chase.root, "all")
    assert len(dataset) == 27
    root = chase.root
    assert sorted(dataset.problems) == sorted([
        f"{root / 'Image_05R.jpg'}: missing label Image_05R_1stHO.png",
        f"{root / 'Image_14R_1stHO.png'}: annotation without a photograph",
        f"{root / 'Image_14R_2ndHO.png'}: annotation without a photograph",
    ])
    with pytest.raises(InputError, match="no vessel label") as error:
        dataset[dataset.ids.index("Image_05R")]
    assert error.value.path == root / "Image_05R.jpg"


def test_chase_missing_second_observer(chase: FakeDataset) -> None:
    chase.files["Image_12L"]["observer2"].unlink()
    test = get_dataset("chase_db1", chase.root, "test")
    assert not test.has_observer2
    assert test[test.ids.index("Image_12L")].observer2 is None
    assert get_dataset("chase_db1", chase.root, "train").has_observer2


# --------------------------------------------------------------------------- STARE


def test_stare_splits_10_10(stare: FakeDataset) -> None:
    assert get_dataset("stare", stare.root, "train").ids == STARE_IDS[:10]
    assert get_dataset("stare", stare.root, "test").ids == STARE_IDS[10:]
    everything = get_dataset("stare", stare.root, "all")
    assert everything.ids == STARE_IDS  # the unlabelled im0400 is not a vessel sample
    assert everything.problems == []


def test_stare_leave_one_out(stare: FakeDataset) -> None:
    for k in (1, 7, 20):
        test = get_dataset("stare", stare.root, f"loo{k}/test")
        train = get_dataset("stare", stare.root, f"loo{k}/train")
        assert test.ids == [STARE_IDS[k - 1]]
        assert train.ids == [i for i in STARE_IDS if i != STARE_IDS[k - 1]]
        assert test.split == f"loo{k}/test"
    for k in (0, 21):
        with pytest.raises(EarnetError, match=r"fold %d out of range 1\.\.20" % k):
            get_dataset("stare", stare.root, f"loo{k}/test")


def test_stare_samples(stare: FakeDataset) -> None:
    dataset = get_dataset("stare", stare.root, "train")
    assert dataset.has_observer2
    sample = dataset[3]
    assert sample.id == "im0004"
    assert_sample(sample, stare, fov_read=False, observer2=True)
    np.testing.assert_array_equal(sample.image, stare.images["im0004"])


def test_stare_unpacked_files(stare: FakeDataset) -> None:
    """Files already gunzipped (im0001.ppm, im0001.ah.ppm) are read the same way."""
    for key in ("image", "label", "observer2"):
        packed = stare.files["im0001"][key]
        packed.with_name(packed.name[:-3]).write_bytes(gzip.decompress(packed.read_bytes()))
        packed.unlink()
    dataset = get_dataset("stare", stare.root, "all")
    assert dataset.ids == STARE_IDS
    assert_sample(dataset[0], stare, fov_read=False, observer2=True)


def test_stare_label_without_photograph(stare: FakeDataset) -> None:
    stare.files["im0324"]["image"].unlink()
    dataset = get_dataset("stare", stare.root, "all")
    assert dataset.ids == STARE_IDS[:-1]
    assert dataset.problems == [
        f"{stare.files['im0324']['label']}: label without a photograph stare-images/im0324.ppm.gz"]


def test_stare_size_mismatch_names_label(stare: FakeDataset) -> None:
    label = stare.files["im0002"]["label"]
    save(np.zeros((30, W), dtype=bool), label, fmt="PPM")
    with pytest.raises(InputError, match="label is 48x30 but image im0002.ppm.gz is 48x40") as error:
        get_dataset("stare", stare.root, "all")[1]
    assert error.value.path == label


# --------------------------------------------------------------------------- HRF


def test_hrf_splits_and_samples(hrf: FakeDataset) -> None:
    train = get_dataset("hrf", hrf.root, "train")
    test = get_dataset("hrf", hrf.root, "test")
    assert train.ids == ["01_dr", "01_g", "01_h"]
    assert test.ids == ["06_dr", "06_g", "06_h"]
    assert {f.image.suffix for f in train.files + test.files} == {".jpg", ".JPG"}
    assert not train.has_observer2
    for sample in train:  # 01_dr's mask is an RGB TIFF
        assert_sample(sample, hrf, fov_read=True, observer2=False)


def test_hrf_missing_annotation_is_listed_not_raised(hrf: FakeDataset) -> None:
    hrf.files["06_g"]["label"].unlink()
    dataset = get_dataset("hrf", hrf.root, "test")
    assert dataset.ids == ["06_dr", "06_g", "06_h"]
    assert dataset.problems == [f"{hrf.files['06_g']['image']}: missing label manual1/06_g.tif"]
    with pytest.raises(InputError, match="no vessel label") as error:
        dataset[1]
    assert error.value.path == hrf.files["06_g"]["image"]
    assert dataset[2].id == "06_h"


# --------------------------------------------------------------------------- folder


def test_folder_splits_and_samples(folder: FakeDataset) -> None:
    train = get_dataset("folder", folder.root, "train")
    test = get_dataset("folder", folder.root, "test")
    assert train.ids == ["leaf0", "leaf1", "leaf2"]
    assert test.ids == ["leaf3", "leaf4"]
    assert train.problems == []
    for sample in [*train, *test]:
        assert_sample(sample, folder, fov_read=True, observer2=False)


def test_folder_without_masks_derives_fov(tmp_path: Path) -> None:
    fake = make_folder(tmp_path / "f", masks=False)
    for sample in get_dataset("folder", fake.root, "all"):
        assert_sample(sample, fake, fov_read=False, observer2=False)


def test_folder_flat_layout(tmp_path: Path) -> None:
    fake = make_folder(tmp_path / "flat", train=4, test=0, flat=True)
    everything = get_dataset("folder", fake.root, "all")
    assert everything.ids == ["leaf0", "leaf1", "leaf2", "leaf3"]
    assert_sample(everything[2], fake, fov_read=True, observer2=False)
    assert get_dataset("folder", fake.root, "loo2/test").ids == ["leaf1"]
    for split in ("train", "test"):
        with pytest.raises(EarnetError, match=f"flat folder dataset has no {split} split"):
            get_dataset("folder", fake.root, split)


def test_folder_missing_label_and_orphan_label(folder: FakeDataset) -> None:
    folder.files["leaf1"]["label"].unlink()
    folder.files["leaf4"]["image"].unlink()
    dataset = get_dataset("folder", folder.root, "all")
    assert dataset.ids == ["leaf0", "leaf1", "leaf2", "leaf3"]
    assert sorted(dataset.problems) == sorted([
        f"{folder.files['leaf1']['image']}: missing label train/labels/leaf1.*",
        f"{folder.files['leaf4']['label']}: label without an image",
    ])


def test_folder_same_name_in_train_and_test_is_refused(folder: FakeDataset) -> None:
    """Numbering restarted in test/ (test/images/leaf0.jpg): ids must stay unique, or test
    images would be selected as training images."""
    for old, new in (("leaf3", "leaf0"), ("leaf4", "leaf1")):
        for path in folder.files[old].values():
            path.rename(path.with_name(path.name.replace(old, new)))
    repeated = folder.root / "test" / "images" / "leaf0.jpg"
    for split in ("train", "test", "all"):
        with pytest.raises(InputError, match="same id 'leaf0' as .*train/images/leaf0.png") as error:
            get_dataset("folder", folder.root, split)
        assert error.value.path == repeated


def test_folder_same_stem_twice_in_one_folder(folder: FakeDataset) -> None:
    save(folder.images["leaf2"], folder.root / "train" / "images" / "leaf2.tif")
    with pytest.raises(InputError, match="same id 'leaf2'"):
        get_dataset("folder", folder.root, "train")


def test_folder_missing_labels_folder_names_it(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(InputError, match="folder not found") as error:
        get_dataset("folder", tmp_path, "all")
    assert error.value.path == tmp_path / "labels"


# --------------------------------------------------------------------------- registry


def test_list_datasets() -> None:
    assert list_datasets() == ["drive", "chase_db1", "stare", "hrf", "folder", "rite", "synthetic"]


def test_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(EarnetError, match="unknown dataset 'messidor'; valid: "
                                          "drive, chase_db1, stare, hrf, folder, rite, synthetic"):
        get_dataset("messidor", "/nowhere", "test")


def test_unknown_split(drive: FakeDataset) -> None:
    with pytest.raises(EarnetError, match=r"unknown split 'val'; valid: train, test, all, loo<k>/train"):
        get_dataset("drive", drive.root, "val")
    with pytest.raises(EarnetError, match="unknown split 'val' for synthetic"):
        get_dataset("synthetic", None, "val")


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(EarnetError, match="needs --root"):
        get_dataset("drive", None, "test")
    with pytest.raises(InputError, match="folder not found") as error:
        get_dataset("stare", tmp_path / "nope", "test")
    assert error.value.path == tmp_path / "nope" / "stare-images"


# --------------------------------------------------------------------------- real data


@pytest.mark.data
@pytest.mark.parametrize(("name", "folder", "total", "train", "test"),
                         [("drive", "DRIVE", 40, 20, 20), ("chase_db1", "CHASEDB1", 28, 20, 8),
                          ("stare", "STARE", 20, 10, 10)])
def test_real_dataset_counts(name: str, folder: str, total: int, train: int, test: int) -> None:
    root = shared_dataset(folder)
    everything = get_dataset(name, root, "all")
    assert len(everything) == total
    assert everything.problems == []
    assert len(get_dataset(name, root, "train")) == train
    assert len(get_dataset(name, root, "test")) == test
    assert get_dataset(name, root, "test").has_observer2


@pytest.mark.data
def test_real_drive_palette_second_observer() -> None:
    test = get_dataset("drive", shared_dataset("DRIVE"), "test")
    fractions = {}
    for sample in test:
        assert sample.observer2 is not None and sample.observer2.shape == (584, 565)
        fractions[sample.id] = float(sample.observer2[sample.fov].mean())
    mean = float(np.mean(list(fractions.values())))
    assert 0.10 < mean < 0.15, f"mean vessel fraction of 2nd_manual inside the FOV is {mean:.3f}"
    assert all(0.05 < f < 0.2 for f in fractions.values()), fractions
