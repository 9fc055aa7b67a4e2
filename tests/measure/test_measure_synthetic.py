"""Measures on the synthetic fundus generator's vessel trees against the widths and lengths it drew."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from earnet.data import synthetic_fundus as sf
from earnet.measure import measure_vessels


def drawn_capsules(seed: int, size: int) -> np.ndarray:
    """The capsules ``(x0, y0, x1, y1, r, contrast, kind)`` that ``generate_fundus(seed, size)`` drew.

    Replays the generator's random draws up to the vessels (checked below against its label).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    anatomy = sf._anatomy(rng, size)
    sf._background(rng, size, (yy, xx), anatomy)
    return np.asarray(sf._grow_vessels(rng, size, anatomy))


@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_tree_widths_and_lengths(seed: int) -> None:
    size = 512
    fundus = sf.generate_fundus(seed, size)
    capsules = drawn_capsules(seed, size)
    edge, _ = sf._render_vessels([tuple(c) for c in capsules], size)
    assert np.array_equal((edge <= 0) & fundus.fov, fundus.label), "replay no longer matches the generator"

    result = measure_vessels(fundus.label, fundus.fov)
    centres = cKDTree(np.c_[(capsules[:, 1] + capsules[:, 3]) / 2, (capsules[:, 0] + capsules[:, 2]) / 2])
    errors = []
    for segment, path in zip(result.segments, result.graph.paths):
        _, nearest = centres.query(path)
        drawn = float(np.median(2 * capsules[nearest, 4]))  # the label holds pixel centres within r
        if segment.length >= 10 and drawn >= 1.5:
            errors.append(segment.calibre - drawn)
    errors = np.asarray(errors)
    assert len(errors) > 100
    assert abs(np.median(errors)) < 0.25  # no bias
    assert np.median(np.abs(errors)) < 0.5  # the typical segment within ±0.5 px
    assert np.mean(np.abs(errors) < 1.0) > 0.75

    # Branches start on their parent's centreline and every end is retracted by its radius,
    # so the skeleton is a little shorter than the drawn centrelines (measured: 88-89 %).
    drawn_length = np.hypot(capsules[:, 2] - capsules[:, 0], capsules[:, 3] - capsules[:, 1]).sum()
    measured = sum(s.length for s in result.segments)
    assert 0.83 * drawn_length < measured < drawn_length
