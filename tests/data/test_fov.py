"""Tests for earnet.data.fov.derive_fov on synthetic discs and on every real DRIVE image."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_dataset
from scipy import ndimage
from skimage.morphology import convex_hull_image

from earnet.data.fov import (
    _erode_rows,
    _hull_equations,
    _hull_rows,
    _median3,
    _median_above,
    _percentile_uint8,
    _rows_to_mask,
    derive_fov,
    fov_diameter,
    largest_component,
)

H, W = 180, 200


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def disc(h: int = H, w: int = W, radius: float = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The true disc and each pixel's normalised distance from the centre and angle."""
    yy, xx = np.mgrid[:h, :w]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    distance = np.hypot(yy - cy, xx - cx) / radius
    return distance <= 1, distance, np.arctan2(yy - cy, xx - cx)


def photograph(red: np.ndarray, inside: np.ndarray, seed: int = 0, surround: int = 0) -> np.ndarray:
    """RGB photograph: ``red`` inside the disc (green/blue darker), ``surround`` outside, plus noise."""
    rng = np.random.default_rng(seed)
    image = np.zeros((*inside.shape, 3))
    image[..., 0] = np.where(inside, red, surround)
    image[..., 1] = np.where(inside, red * 0.45, surround)
    image[..., 2] = np.where(inside, red * 0.2, surround)
    image += rng.normal(0, 2, image.shape)
    return np.clip(image, 0, 255).round().astype(np.uint8)


def test_disc_on_black() -> None:
    truth, distance, _ = disc()
    fov = derive_fov(photograph(np.full(truth.shape, 170.0), truth))
    assert fov.dtype == bool and fov.shape == truth.shape
    assert iou(fov, truth) > 0.98
    assert not fov[0, 0] and fov[H // 2, W // 2]


def test_disc_with_vessels_and_dark_lesion() -> None:
    """Dark structures inside the disc (a vessel across it, a black lesion) stay inside the FOV."""
    truth, distance, angle = disc()
    red = np.full(truth.shape, 170.0)
    red[H // 2 - 1: H // 2 + 2, :] = 60  # a dark vessel across the disc
    red[(distance > 0.5) & (distance < 0.85) & (np.abs(angle) < 0.4)] = 5  # a black lesion
    fov = derive_fov(photograph(red, truth))
    assert iou(fov, truth) > 0.98
    assert fov[H // 2, W // 2 + int(0.7 * 80)]  # inside the lesion


def test_disc_with_darker_rim() -> None:
    """Vignetting darkens the rim, and one stretch of it (upper right) is as dark as the surround;
    the convex hull restores that stretch (seen on CHASE_DB1)."""
    truth, distance, angle = disc()
    red = 200 * (1 - 0.75 * distance**4)  # 50 at the rim
    stretch = truth & (distance > 0.9) & (np.abs(angle + np.pi / 4) < 0.2)
    red[stretch] = 15
    image = photograph(red, truth)
    assert image[stretch, 0].max() < 30  # below any sensible threshold
    fov = derive_fov(image)
    assert iou(fov, truth) > 0.98
    assert fov[stretch & (distance < 0.97)].all()
    assert fov[stretch].mean() > 0.7


def test_grey_surround() -> None:
    """STARE-like surround: dark grey-green, not black."""
    truth, _, _ = disc()
    fov = derive_fov(photograph(np.full(truth.shape, 150.0), truth, surround=25))
    assert iou(fov, truth) > 0.98


def test_text_overlay_outside_disc_is_dropped() -> None:
    truth, _, _ = disc()
    image = photograph(np.full(truth.shape, 170.0), truth)
    image[2:8, 2:30] = 255  # a bright caption in the corner
    fov = derive_fov(image)
    assert not fov[2:8, 2:30].any()
    assert iou(fov, truth) > 0.98


def test_black_image_gives_empty_mask() -> None:
    fov = derive_fov(np.zeros((H, W, 3), np.uint8))
    assert fov.dtype == bool and fov.shape == (H, W)
    assert not fov.any()


def test_nearly_black_noise_gives_empty_mask() -> None:
    rng = np.random.default_rng(3)
    fov = derive_fov(rng.integers(0, 4, (H, W, 3), dtype=np.uint8))
    assert not fov.any()


def convex_hull_mask(mask: np.ndarray) -> np.ndarray:
    """The row-wise hull as a mask (what derive_fov erodes)."""
    return _rows_to_mask(*_hull_rows(mask), mask.shape[1])


def test_convex_hull_mask_equals_scikit_image() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        height, width = rng.integers(1, 40, 2)
        mask = rng.random((height, width)) < rng.random() * 0.3
        mask[rng.integers(height), rng.integers(width)] = True
        np.testing.assert_array_equal(convex_hull_mask(mask), convex_hull_image(mask))


def test_row_erosion_equals_binary_erosion_with_inside_border() -> None:
    rng = np.random.default_rng(9)
    for _ in range(200):
        height, width = rng.integers(1, 30, 2)
        mask = rng.random((height, width)) < rng.random() * 0.3
        eroded = _rows_to_mask(*_erode_rows(*_hull_rows(mask), width), width)
        expected = ndimage.binary_erosion(convex_hull_mask(mask), iterations=1, border_value=1)
        np.testing.assert_array_equal(eroded, expected)


def test_histogram_percentile_matches_numpy() -> None:
    channel = np.random.default_rng(10).integers(0, 256, (41, 29)).astype(np.uint8)
    for q in (0, 1, 50, 99, 100):
        assert _percentile_uint8(channel, q) == np.percentile(channel, q, method="lower")


def test_convex_hull_mask_of_empty_mask_is_empty() -> None:
    assert not convex_hull_mask(np.zeros((5, 6), bool)).any()


def test_median_vote_equals_median_filter() -> None:
    channel = np.random.default_rng(8).integers(0, 256, (37, 53)).astype(np.uint8)
    for threshold in (0.5, 99.0, 128.5, 254.0):
        np.testing.assert_array_equal(_median_above(channel, threshold),
                                      ndimage.median_filter(channel, size=3) > threshold)


def test_fov_diameter_of_a_whole_disc_and_one_cut_flat_is_its_extent() -> None:
    inside, _, _ = disc(400, 420, radius=150)
    assert fov_diameter(inside) == 300
    inside[:100] = inside[-100:] = False  # cut flat at top and bottom, as HRF's camera does
    assert fov_diameter(inside) == 300
    assert fov_diameter(np.zeros((5, 6), bool)) == 0


@pytest.mark.parametrize(("top", "left", "height", "width"),
                         [(60, 60, 280, 300), (0, 110, 400, 200), (20, 0, 250, 260), (100, 120, 160, 170)])
def test_fov_diameter_of_a_photograph_cropped_inside_the_aperture_fits_the_rim(top: int, left: int, height: int,
                                                                              width: int) -> None:
    """A crop cutting the disc at the sides too: the extent is the crop's width, the rim circle the diameter."""
    inside, _, _ = disc(400, 420, radius=150)
    crop = inside[top:top + height, left:left + width]
    if crop.all():  # no rim in view: nothing tells the diameter but the extent
        assert fov_diameter(crop) == width
    else:
        assert abs(fov_diameter(crop) - 300) < 2


def test_fov_diameter_ignores_straight_or_ragged_edges_inside_the_aperture() -> None:
    """A crop wholly inside the aperture whose dark corner fell outside the FOV: no rim, so the extent."""
    yy, xx = np.mgrid[:300, :300]
    corner_cut = xx + yy > 60  # the convex hull's straight edge across a dark corner
    assert fov_diameter(corner_cut) == 300
    ragged = corner_cut & ~((xx > 250) & (yy % 7 < 3))  # row ends on no circle
    assert fov_diameter(ragged) == 300


def test_fov_diameter_from_the_rim_is_at_most_one_and_a_half_times_the_extent() -> None:
    inside, _, _ = disc(1000, 1000, radius=480)
    crop = inside[:, 300:700]  # a strip showing the top and bottom of the rim (a true diameter of 960)
    assert fov_diameter(crop) == 600


def test_fov_diameter_of_a_derived_mask_on_a_cropped_photograph() -> None:
    inside, distance, _ = disc(400, 420, radius=150)
    image = photograph(np.where(inside, 180 - 60 * distance, 0).astype(np.uint8), inside)
    whole = fov_diameter(derive_fov(image))
    cropped = fov_diameter(derive_fov(image[90:310, 80:340]))
    assert abs(cropped - whole) < 0.01 * whole


@pytest.mark.data
def test_drive_derived_fov_matches_official_masks() -> None:
    from earnet.data.registry import get_dataset

    dataset = get_dataset("drive", shared_dataset("DRIVE"), "all")
    assert len(dataset) == 40
    scores = {sample.id: iou(derive_fov(sample.image), sample.fov) for sample in dataset}
    worst = min(scores, key=scores.get)
    assert scores[worst] > 0.97, f"min IoU {scores[worst]:.4f} on {worst}"


def scipy_largest_component(mask: np.ndarray) -> np.ndarray:
    components, _ = ndimage.label(mask)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == int(np.argmax(sizes))


def test_largest_component_equals_scipy_label() -> None:
    """Including ties (the first component in raster order wins, as with ndimage.label + argmax)."""
    rng = np.random.default_rng(11)
    for _ in range(300):
        height, width = rng.integers(1, 50, 2)
        mask = rng.random((height, width)) < rng.uniform(0.1, 0.7)
        mask[rng.integers(height), rng.integers(width)] = True
        np.testing.assert_array_equal(largest_component(mask), scipy_largest_component(mask))
    ties = np.zeros((6, 9), bool)
    ties[4, 0:2] = ties[1, 5:7] = True
    np.testing.assert_array_equal(largest_component(ties), scipy_largest_component(ties))


def test_hull_equations_equal_scipy() -> None:
    from scipy.spatial import ConvexHull

    rng = np.random.default_rng(12)
    for _ in range(200):
        points = np.round(rng.normal(size=(rng.integers(4, 60), 2)) * rng.uniform(1, 200) * 2) / 2
        if np.linalg.matrix_rank(points - points[0]) < 2:
            continue  # collinear: scipy refuses, and the FOV never gives such sets
        expected = {tuple(row) for row in np.round(ConvexHull(points).equations, 9)}
        assert {tuple(row) for row in np.round(_hull_equations(points), 9)} == expected


def test_corner_median_equals_median_filter() -> None:
    rng = np.random.default_rng(13)
    for _ in range(50):
        patch = rng.integers(0, 256, rng.integers(3, 25, 2)).astype(np.uint8)
        np.testing.assert_array_equal(_median3(patch), ndimage.median_filter(patch, size=3))


def test_fov_derivation_imports_no_scipy() -> None:
    """The ONNX runtime path (no PyTorch, no SciPy) derives FOVs with this module."""
    import subprocess
    import sys

    code = ("import sys; import earnet.data.fov; "
            "bad = {'scipy', 'skimage', 'torch'} & {m.split('.')[0] for m in sys.modules}; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.data
@pytest.mark.slow  # ~75 s: scikit-image's hull on 88 photographs
def test_real_photographs_fov_equals_the_scipy_pipeline() -> None:
    """On every DRIVE, CHASE_DB1 and STARE photograph the numpy pipeline gives the mask
    scipy's label + ConvexHull + binary_erosion give."""
    from earnet.data.registry import get_dataset

    for name, folder in (("drive", "DRIVE"), ("chase_db1", "CHASEDB1"), ("stare", "STARE")):
        for sample in get_dataset(name, shared_dataset(folder), "all"):
            fov = derive_fov(sample.image)
            red = sample.image[..., 0]
            inside = largest_component(_median_above(red, _threshold_of(red)))
            np.testing.assert_array_equal(largest_component(inside), scipy_largest_component(inside))
            hull = convex_hull_image(inside)
            expected = ndimage.binary_erosion(hull, iterations=1, border_value=1)
            np.testing.assert_array_equal(fov, expected, err_msg=f"{name} {sample.id}")
            assert fov_diameter(fov) > 400


def _threshold_of(red: np.ndarray) -> float:
    from earnet.data.fov import MIN_MARGIN, RED_FRACTION, _background_level

    background = _background_level(red)
    bright = _percentile_uint8(red, 99)
    return background + max(MIN_MARGIN, RED_FRACTION * (bright - background))
