"""Tests of the synthetic fundus generator (earnet.data.synthetic_fundus)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage

from earnet.data.synthetic_fundus import (
    SyntheticFundus,
    _render_vessels,
    generate_fundus,
)

SEEDS = range(6)


@pytest.fixture(scope="module")
def samples() -> list[SyntheticFundus]:
    return [generate_fundus(seed) for seed in SEEDS]


def test_same_seed_gives_identical_arrays() -> None:
    a, b = generate_fundus(7, 128), generate_fundus(7, 128)
    for name in ("image", "label", "fov", "lesions"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_different_seeds_differ(samples: list[SyntheticFundus]) -> None:
    assert not np.array_equal(samples[0].image, samples[1].image)
    assert not np.array_equal(samples[0].label, samples[1].label)


@pytest.mark.parametrize("size", [96, 256])
def test_shapes_and_dtypes(size: int) -> None:
    f = generate_fundus(3, size)
    assert f.image.shape == (size, size, 3) and f.image.dtype == np.uint8
    for mask in (f.label, f.fov, f.lesions):
        assert mask.shape == (size, size) and mask.dtype == bool


def test_label_and_lesions_lie_inside_fov(samples: list[SyntheticFundus]) -> None:
    for f in samples:
        assert not (f.label & ~f.fov).any()
        assert not (f.lesions & ~f.fov).any()


def test_fov_is_a_centred_disc(samples: list[SyntheticFundus]) -> None:
    for f in samples:
        frac = f.fov.mean()
        assert 0.6 < frac < 0.75  # pi * 0.47**2 ~ 0.69
        ys, xs = np.nonzero(f.fov)
        assert abs(xs.mean() - 128) < 6 and abs(ys.mean() - 128) < 6


def test_vessel_fraction_in_range(samples: list[SyntheticFundus]) -> None:
    fractions = [f.label[f.fov].mean() for f in samples]
    assert all(0.08 <= x <= 0.15 for x in fractions), fractions


def test_vessels_are_connected_trees(samples: list[SyntheticFundus]) -> None:
    for f in samples:
        components, n = ndimage.label(f.label, structure=np.ones((3, 3)))
        sizes = np.bincount(components.ravel())[1:]
        assert sizes.max() > 0.6 * f.label.sum()  # most vessel pixels hang off the disc


def test_lesions_are_not_vessels(samples: list[SyntheticFundus]) -> None:
    lesion_px = sum(int(f.lesions.sum()) for f in samples)
    overlap = sum(int((f.lesions & f.label).sum()) for f in samples)
    assert lesion_px > 0
    assert overlap <= 0.05 * lesion_px


def test_lesion_count_varies() -> None:
    counts = [ndimage.label(generate_fundus(seed, 128).lesions)[1] for seed in range(20)]
    assert min(counts) == 0 and max(counts) >= 3


def test_outside_fov_is_dark(samples: list[SyntheticFundus]) -> None:
    for f in samples:
        outside = ~ndimage.binary_dilation(f.fov, iterations=2)
        assert f.image[outside].max() <= 20
        assert f.image[outside].mean() <= 10


def test_colour_balance_red_green_blue(samples: list[SyntheticFundus]) -> None:
    for f in samples:
        r, g, b = f.image[f.fov].reshape(-1, 3).mean(0)
        assert r > g > b
        assert r > 120 and b < 70


def test_vignetting_darkens_the_rim(samples: list[SyntheticFundus]) -> None:
    for f in samples:
        yy, xx = np.mgrid[0:256, 0:256]
        ys, xs = np.nonzero(f.fov)
        rho = np.hypot(xx - xs.mean(), yy - ys.mean()) / np.sqrt(f.fov.sum() / np.pi)
        red = f.image[..., 0].astype(float)
        tissue = f.fov & ~f.label
        assert red[tissue & (rho > 0.9)].mean() < red[tissue & (rho < 0.5)].mean()


def test_vessels_darker_than_surroundings_in_green(samples: list[SyntheticFundus]) -> None:
    for f in samples:
        green = f.image[..., 1].astype(float)
        ring = ndimage.binary_dilation(f.label, iterations=3) & ~ndimage.binary_dilation(f.label) & f.fov
        ring &= ~f.lesions
        assert green[f.label].mean() < green[ring].mean() - 5
        # the green channel carries more relative vessel contrast than the red one
        red = f.image[..., 0].astype(float)
        green_contrast = 1 - green[f.label].mean() / green[ring].mean()
        red_contrast = 1 - red[f.label].mean() / red[ring].mean()
        assert green_contrast > red_contrast


def test_label_is_exact_capsule_geometry() -> None:
    """Pixel centres within the half-width of a centreline segment, and nothing else."""
    rng = np.random.default_rng(0)
    size = 48
    segments = []
    for _ in range(12):
        x0, y0 = rng.uniform(8, 40, 2)
        ang, r = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 4)
        segments.append((x0, y0, x0 + 2 * np.cos(ang), y0 + 2 * np.sin(ang), r, 0.4, int(rng.integers(0, 2))))
    edge, absorb = _render_vessels(segments, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    expected = np.zeros((size, size), bool)
    for x0, y0, x1, y1, r, _c, _k in segments:
        vx, vy = x1 - x0, y1 - y0
        t = np.clip(((xx - x0) * vx + (yy - y0) * vy) / (vx * vx + vy * vy), 0, 1)
        expected |= np.hypot(xx - x0 - t * vx, yy - y0 - t * vy) <= r
    np.testing.assert_array_equal(edge <= 0, expected)
    # the rendering is consistent with the label: darkening >= half-strength inside, fading outside
    assert (absorb[expected] > 0).all()
    assert (absorb[~ndimage.binary_dilation(expected, iterations=2)] == 0).all()


def test_generation_is_fast_enough() -> None:
    generate_fundus(0)
    start = time.perf_counter()
    for seed in range(3):
        generate_fundus(seed)
    assert (time.perf_counter() - start) / 3 < 1.0  # ~0.1 s expected; loose for busy CI machines
