"""The skeleton graph (:mod:`earnet.measure.graph`) against skan's ``Skeleton``, its oracle:
the same nodes, degrees and paths, in the same order and direction."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fake_fundus, shared_dataset

from earnet.io import read_binary
from earnet.measure.graph import pixels, skeleton_paths
from earnet.measure.skeleton import skeletonize_vessels

skan = pytest.importorskip("skan")


def assert_same_as_skan(skeleton: np.ndarray) -> None:
    ours = skeleton_paths(skeleton)
    try:
        theirs = skan.Skeleton(skeleton)
    except ValueError:  # skan fails on skeletons without edges
        theirs = None
    if ours is None:
        assert theirs is None or theirs.n_paths == 0
        return
    assert theirs is not None
    np.testing.assert_array_equal(ours.coordinates, theirs.coordinates)
    np.testing.assert_array_equal(ours.degrees, theirs.degrees)
    np.testing.assert_array_equal(ours.indptr, theirs.paths.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.paths.indices)
    assert ours.n_paths == theirs.n_paths
    np.testing.assert_array_equal(ours.path(ours.n_paths - 1), theirs.path(theirs.n_paths - 1))


@pytest.mark.parametrize("seed", range(200))
def test_random_pixels_and_their_skeletons(seed: int) -> None:
    """Dense random pixels give junction clusters, rings, touching junctions and lone pixels."""
    rng = np.random.default_rng(seed)
    h, w = rng.integers(2, 40, 2)
    binary = rng.random((h, w)) < rng.uniform(0.05, 0.6)
    assert_same_as_skan(binary if seed % 2 else skeletonize_vessels(binary))


def test_shapes() -> None:
    ring = np.zeros((9, 9), dtype=bool)
    ring[2, 2:7] = ring[6, 2:7] = ring[2:7, 2] = ring[2:7, 6] = True
    loop_on_a_line = ring.copy()
    loop_on_a_line[4, 0:3] = True
    two_rings = np.zeros((9, 20), dtype=bool)
    two_rings[:, :9] = ring
    two_rings[:, 10:19] = ring
    cross = np.zeros((7, 7), dtype=bool)
    cross[3, :] = cross[:, 3] = True
    for skeleton in (ring, loop_on_a_line, two_rings, cross, np.eye(6, dtype=bool)):
        assert_same_as_skan(skeleton)


def test_synthetic_fundus_skeletons() -> None:
    for seed in range(3):
        _, label, fov = fake_fundus(seed, 256, 256)
        assert_same_as_skan(skeletonize_vessels(label.astype(bool) & fov.astype(bool)))


@pytest.mark.data
def test_drive_label_skeletons() -> None:
    drive = shared_dataset("DRIVE") / "test"
    for number in (1, 2, 3):
        label = read_binary(drive / "1st_manual" / f"{number:02d}_manual1.gif")
        assert_same_as_skan(skeletonize_vessels(label))


def test_nothing_to_connect() -> None:
    assert skeleton_paths(np.zeros((5, 5), dtype=bool)) is None
    lone = np.zeros((5, 5), dtype=bool)
    lone[1, 1] = lone[3, 3] = True
    assert skeleton_paths(lone) is None


def test_pixels_is_nonzero() -> None:
    binary = np.random.default_rng(0).random((17, 23)) < 0.3
    for got, expected in zip(pixels(binary), np.nonzero(binary)):
        np.testing.assert_array_equal(got, expected)
