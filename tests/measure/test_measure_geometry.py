"""Every measure of ``earnet.measure`` against geometry whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import savgol_filter

from earnet.measure import measure_vessels
from earnet.measure.fractal import box_count, box_sizes
from earnet.measure.knudtson import crae, crve
from earnet.measure.tortuosity import _savgol

N = 241
YY, XX = np.mgrid[:N, :N].astype(np.float64)


def straight_band(width: float, degrees: float, offset: float) -> tuple[np.ndarray, float]:
    """A straight vessel: pixel centres within ``width / 2`` of a line; also the raster's own width.

    A raster cannot be exactly ``width`` wide at every angle and offset (a 45° band of
    width 6 holds 8 or 9 pixel diagonals: 5.66 or 6.36 px); its area per unit length,
    measured away from the ends, is the width of what was drawn.
    """
    t = math.radians(degrees)
    across = (YY - 120 - offset) * math.cos(t) - (XX - 120.2) * math.sin(t)
    along = (YY - 120 - offset) * math.sin(t) + (XX - 120.2) * math.cos(t)
    band = (np.abs(across) <= width / 2) & (np.hypot(YY - 120, XX - 120) < 100)
    return band, (band & (np.abs(along) < 50)).sum() / 100.0


def main_segment(result):  # noqa: ANN001, ANN201
    return max(result.segments, key=lambda s: s.length)


@pytest.mark.parametrize("width", [2, 3, 4, 5, 6, 8, 11, 14])
def test_straight_vessel_calibre_within_half_pixel(width: float) -> None:
    for degrees in (0, 15, 30, 45, 60, 80, 135):
        measured = []
        for offset in (0.0, 1 / 3, 2 / 3):
            band, raster_width = straight_band(width, degrees, offset)
            result = measure_vessels(band)
            assert len(result.segments) == 1, (width, degrees, offset)
            calibre = main_segment(result).calibre
            assert abs(calibre - raster_width) <= 0.5, (width, degrees, offset, calibre, raster_width)
            measured.append(calibre)
        assert abs(np.mean(measured) - width) <= 0.5, (width, degrees, measured)


def test_straight_vessel_is_straight_and_has_its_length() -> None:
    for degrees in (0, 22.5, 45, 70):
        segment = main_segment(measure_vessels(straight_band(5, degrees, 0.3)[0]))
        assert segment.distance_factor == pytest.approx(1.0, abs=0.015)
        assert segment.curvature < 0.015  # rad/px; DRIVE's vessels average ~0.05
        assert 190 <= segment.length <= 200  # the 200 px line, less about a radius at each end


def sinusoid(amplitude: float, wavelength: float, periods: int, degrees: float = 0.0,
             width: float = 4.0) -> np.ndarray:
    """A vessel along ``y = A sin(2πx/λ)``, rotated by ``degrees``, ``width`` px thick."""
    length = periods * wavelength
    size = int(length + 4 * amplitude + 40)
    x = np.linspace(0, length, int(length * 20))
    y = amplitude * np.sin(2 * np.pi * x / wavelength)
    t = math.radians(degrees)
    cx, cy = (size - 1) / 2, (size - 1) / 2
    px = cx + (x - length / 2) * math.cos(t) - y * math.sin(t)
    py = cy + (x - length / 2) * math.sin(t) + y * math.cos(t)
    from scipy.spatial import cKDTree

    yy, xx = np.mgrid[:size, :size]
    distance, _ = cKDTree(np.c_[py, px]).query(np.c_[yy.ravel(), xx.ravel()], distance_upper_bound=width)
    return (distance <= width / 2).reshape(size, size)


def analytic_distance_factor(amplitude: float, wavelength: float) -> float:
    """Arc over chord of whole periods of a sine: the mean of sqrt(1 + y'^2) over a period."""
    x = np.linspace(0, wavelength, 200001)
    slope = 2 * np.pi * amplitude / wavelength * np.cos(2 * np.pi * x / wavelength)
    return float(np.trapezoid(np.sqrt(1 + slope**2), x) / wavelength)


@pytest.mark.parametrize(("amplitude", "wavelength", "degrees"),
                         [(5, 60, 0), (10, 100, 0), (20, 100, 0), (15, 80, 30), (8, 50, 45), (25, 120, 100)])
def test_sinusoid_arc_over_chord_within_two_percent(amplitude: float, wavelength: float, degrees: float) -> None:
    segment = main_segment(measure_vessels(sinusoid(amplitude, wavelength, 3, degrees)))
    expected = analytic_distance_factor(amplitude, wavelength)
    assert segment.distance_factor == pytest.approx(expected, rel=0.02)


def test_sinusoid_tortuosity_is_not_the_pixel_path() -> None:
    # the raw pixel path overstates a mildly tortuous vessel by several per cent
    result = measure_vessels(sinusoid(5, 60, 3, 20))
    segment = main_segment(result)
    pixel_ratio = result.graph.pixel_lengths.max() / segment.chord
    expected = analytic_distance_factor(5, 60)
    assert pixel_ratio > expected * 1.03
    assert abs(segment.distance_factor - expected) < abs(pixel_ratio - expected) / 3


def test_circle_curvature() -> None:
    for radius in (30, 60):
        ring = np.abs(np.hypot(YY - 120, XX - 120) - radius) <= 2.0
        ring &= ~((XX > 120) & (np.abs(YY - 120) < 8))  # an open arc, so it has two ends
        segment = main_segment(measure_vessels(ring))
        assert segment.curvature == pytest.approx(1 / radius, rel=0.08)


def test_savgol_matches_scipy() -> None:
    path = np.cumsum(np.random.default_rng(0).normal(size=(40, 2)), axis=0)
    for window in (5, 9, 13):
        ours = _savgol(path, window)
        for deriv in (0, 1, 2):
            np.testing.assert_allclose(ours[deriv], savgol_filter(path, window, 3, deriv=deriv, axis=0, mode="interp"),
                                       atol=1e-9)


def sierpinski_triangle(order: int) -> np.ndarray:
    """Pascal's triangle mod 2 on a 2^order grid: box-counting dimension log 3 / log 2."""
    n = 2**order
    i, j = np.mgrid[:n, :n]
    return (i & j) == j


def sierpinski_carpet(order: int) -> np.ndarray:
    """The Sierpinski carpet on a 3^order grid: dimension log 8 / log 3."""
    carpet = np.ones((1, 1), dtype=bool)
    for _ in range(order):
        hole = np.zeros_like(carpet)
        carpet = np.block([[carpet, carpet, carpet], [carpet, hole, carpet], [carpet, carpet, carpet]])
    return carpet


def test_fractal_dimension_of_known_sets() -> None:
    triangle = box_count(sierpinski_triangle(9))
    assert triangle.sizes == [2, 4, 8, 16, 32, 64, 128]
    assert triangle.counts == [3 ** (9 - k) for k in range(1, 8)]  # exact at power-of-two boxes
    assert triangle.dimension == pytest.approx(math.log(3) / math.log(2), abs=1e-9)
    carpet = box_count(sierpinski_carpet(6))  # 729 px; boxes of 2^k do not align with 3^k cells
    assert carpet.dimension == pytest.approx(math.log(8) / math.log(3), abs=0.05)
    line = np.zeros((512, 512), dtype=bool)
    line[200, :] = True
    assert box_count(line).dimension == pytest.approx(1.0, abs=0.01)
    assert box_count(np.ones((512, 512), dtype=bool)).dimension == pytest.approx(2.0, abs=1e-9)
    assert math.isnan(box_count(np.zeros((64, 64), dtype=bool)).dimension)
    assert box_sizes((584, 565)) == [2, 4, 8, 16, 32, 64, 128]


def test_graph_of_a_cross() -> None:
    cross = np.zeros((201, 201), dtype=bool)
    cross[97:104, 20:181] = True
    cross[20:181, 97:104] = True
    result = measure_vessels(cross)
    assert len(result.segments) == 4
    assert len(result.branch_points) == 1
    assert len(result.end_points) == 4
    assert all(s.kind == "junction-end" for s in result.segments)
    assert np.allclose(result.branch_points[0], (100, 100), atol=1.5)
    for segment in result.segments:
        assert segment.calibre == pytest.approx(7, abs=0.5)
        assert 72 <= segment.length <= 81  # 80 px arm, less the end's rounding


def test_density_and_fov() -> None:
    mask = np.zeros((100, 100), dtype=bool)
    mask[40:50, :] = True
    fov = np.zeros_like(mask)
    fov[:, :50] = True
    result = measure_vessels(mask, fov)
    assert result.vessel_density == pytest.approx(0.1)
    assert result.fov_diameter == 50
    assert max(s.length for s in result.segments) < 52  # vessels outside the FOV are not measured


def test_empty_and_dot_masks_give_defined_values() -> None:
    for mask in (np.zeros((64, 64), dtype=bool), np.pad(np.ones((1, 1), dtype=bool), 30)):
        summary = measure_vessels(mask).summary()
        assert summary["segments"] == 0 and summary["branch_points"] == 0
        assert math.isnan(summary["calibre"]) and math.isnan(summary["distance_factor"])
        assert summary["skeleton_length"] == 0.0


def test_knudtson_six_largest() -> None:
    widths = [5.0, 10.0, 7.0, 9.0, 3.0, 6.0, 8.0]  # 3 is not among the six largest
    k = 0.88
    a, b, c = k * math.hypot(10, 5), k * math.hypot(9, 6), k * math.hypot(8, 7)
    ab = k * math.hypot(a, c)  # widest with narrowest; b carried
    assert crae(widths) == pytest.approx(k * math.hypot(ab, b))
    k = 0.95
    a, b, c = k * math.hypot(10, 5), k * math.hypot(9, 6), k * math.hypot(8, 7)
    assert crve(widths) == pytest.approx(k * math.hypot(k * math.hypot(a, c), b))
    assert crae([4.0]) == 4.0
    assert math.isnan(crve([]))


def _one_calibre(widths: np.ndarray, radius_at_ends: np.ndarray, junction_ends: np.ndarray,
                 arc_positions: np.ndarray) -> float:
    """The definition, one segment at a time: median width, ends inside branch points left out."""
    keep = np.ones(len(widths), dtype=bool)
    if junction_ends[0]:
        keep &= arc_positions > radius_at_ends[0] + 1.0
    if junction_ends[1]:
        keep &= arc_positions < arc_positions[-1] - radius_at_ends[1] - 1.0
    return float(np.median(widths[keep] if keep.sum() >= 3 else widths))


def test_segment_calibres_match_the_per_segment_median() -> None:
    from earnet.measure.calibre import segment_calibres

    rng = np.random.default_rng(0)
    sizes = rng.integers(2, 40, 300)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    widths = rng.uniform(1, 9, bounds[-1]).round(1)  # ties, as real widths have
    arcs = np.concatenate([np.cumsum(rng.uniform(1, 1.5, n)) - 1 for n in sizes])
    radii = rng.uniform(0.5, 6, (len(sizes), 2))
    junctions = rng.random((len(sizes), 2)) < 0.6
    got = segment_calibres(widths, bounds, arcs, radii, junctions)
    for i in range(len(sizes)):
        part = slice(bounds[i], bounds[i + 1])
        assert got[i] == _one_calibre(widths[part], radii[i], junctions[i], arcs[part])
