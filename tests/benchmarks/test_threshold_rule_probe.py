"""The threshold-rule probe's counting: F1 on a threshold grid, and which dataset an id is from."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from threshold_rule_probe import GRID, add, f1, grid_counts, source_of


def test_grid_f1_matches_a_direct_count() -> None:
    rng = np.random.default_rng(0)
    probability, label = rng.random((20, 30)), rng.random((20, 30)) < 0.3
    fov = np.ones_like(label)
    fov[:, :5] = False
    counts = add(None, grid_counts(probability, label, fov))
    i = int(np.where(GRID == 0.4)[0][0])
    predicted, truth = probability[fov] >= 0.4, label[fov]
    tp, fp, fn = (predicted & truth).sum(), (predicted & ~truth).sum(), (~predicted & truth).sum()
    assert np.isclose(f1(counts)[i], 2 * tp / (2 * tp + fp + fn))
    doubled = add(counts, counts)
    assert np.allclose(f1(doubled), f1(counts))  # F1 is a ratio of counts


def test_source_is_the_longest_matching_prefix() -> None:
    names = ["drive", "chase_db1", "stare"]
    assert source_of("chase_db1_Image_05L", names) == "chase_db1"
    assert source_of("drive_21_training", names) == "drive"
    assert source_of("stare_im0003", names) == "stare"
