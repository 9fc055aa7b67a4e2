"""Tests for earnet.data.check.check_dataset: every problem is listed, none is raised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FakeDataset, make_folder, save, truncate

from earnet.data.check import check_dataset
from earnet.exceptions import InputError


@pytest.mark.parametrize(("name", "fixture", "sizes", "observer2"),
                         [("drive", "drive", {"all": 6, "train": 3, "test": 3}, 3),
                          ("chase_db1", "chase", {"all": 28, "train": 20, "test": 8}, 28),
                          ("stare", "stare", {"all": 20, "train": 10, "test": 10}, 20),
                          ("hrf", "hrf", {"all": 6, "train": 3, "test": 3}, 0),
                          ("folder", "folder", {"all": 5, "train": 3, "test": 2}, 0)])
def test_clean_dataset_has_no_problems(name: str, fixture: str, sizes: dict[str, int], observer2: int,
                                       request: pytest.FixtureRequest) -> None:
    fake: FakeDataset = request.getfixturevalue(fixture)
    report = check_dataset(name, fake.root)
    assert report.problems == []
    assert report.dataset == name and report.root == fake.root
    assert report.split_sizes == sizes and report.count == sizes["all"]
    assert dict(report.image_sizes) == {"48x40": sizes["all"]}
    assert report.with_observer2 == observer2
    text = report.format()
    assert f"{sizes['all']} images (train {sizes['train']}, test {sizes['test']})" in text
    assert "problems: none" in text


def test_broken_drive_lists_every_problem(drive: FakeDataset) -> None:
    files = drive.files
    files["22_training"]["label"].unlink()  # missing pair
    truncate(files["23_training"]["image"])  # broken download
    save(np.zeros((40, 50), dtype=bool), files["01_test"]["label"], mode="L")  # size mismatch
    soft = drive.labels["02_test"].astype(np.uint8) * 200
    soft[0, 0] = 90
    save(soft, files["02_test"]["label"], mode="L")  # non-binary label
    report = check_dataset("drive", drive.root)
    assert len(report.problems) == 4, report.problems
    truncated = [p for p in report.problems if "cannot read image" in p]
    assert len(truncated) == 1 and truncated[0].startswith(f"{files['23_training']['image']}: cannot read image")
    assert set(report.problems) - set(truncated) == {
        f"{files['22_training']['image']}: missing label training/1st_manual/22_manual1.gif",
        f"{files['01_test']['label']}: label is 50x40 but image 01_test.tif is 48x40",
        f"{files['02_test']['label']}: label is not binary (3 distinct values)",
    }
    assert report.count == 6
    assert dict(report.image_sizes) == {"48x40": 2}  # only 21_training and 03_test are readable
    assert report.with_observer2 == 1
    text = report.format()
    assert "problems: 4" in text
    for problem in report.problems:
        assert f"    {problem}" in text


def test_hrf_missing_annotation_is_a_problem(hrf: FakeDataset) -> None:
    hrf.files["01_g"]["label"].unlink()
    hrf.files["06_h"]["fov"].unlink()
    report = check_dataset("hrf", hrf.root)
    assert sorted(report.problems) == sorted([
        f"{hrf.files['01_g']['image']}: missing label manual1/01_g.tif",
        f"{hrf.files['06_h']['image']}: missing FOV mask mask/06_h_mask.tif",
    ])
    assert report.count == 6 and sum(report.image_sizes.values()) == 5


def test_empty_derived_fov_is_a_problem(tmp_path: Path) -> None:
    fake = make_folder(tmp_path / "f", train=2, test=1, masks=False)
    black = fake.files["leaf1"]["image"]
    save(np.zeros((40, 48, 3), np.uint8), black)
    report = check_dataset("folder", fake.root)
    assert report.problems == [f"{black}: no field of view found (derived FOV is empty)"]


def test_flat_folder_has_only_all(tmp_path: Path) -> None:
    fake = make_folder(tmp_path / "flat", train=3, test=0, flat=True)
    report = check_dataset("folder", fake.root)
    assert report.problems == []
    assert report.split_sizes["all"] == 3 and "train" not in report.split_sizes


def test_unusable_root_raises(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        check_dataset("drive", tmp_path / "nope")
    assert error.value.path == tmp_path / "nope"
