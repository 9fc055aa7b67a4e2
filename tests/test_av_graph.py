"""The graph clean-up of A/V decisions (earnet.av_graph, earnet.av_topology.graph_vote)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.draw import line

from earnet.av_graph import CLEANUPS, DEFAULT_CLEANUP, graph_decisions
from earnet.av_topology import graph_vote, segment_vote


def _vessel(shape: tuple[int, int], *segments: tuple[int, int, int, int]) -> list[np.ndarray]:
    """One 3-px-wide mask per straight segment ``(r0, c0, r1, c1)``."""
    masks = []
    for r0, c0, r1, c1 in segments:
        mask = np.zeros(shape, bool)
        mask[line(r0, c0, r1, c1)] = True
        masks.append(ndimage.binary_dilation(mask, np.ones((3, 3), bool)))
    return masks


def _maps(parts: list[np.ndarray], evidence: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Artery and vein maps with ``p_artery - p_vein = evidence`` on each part."""
    vessel = np.any(parts, axis=0)
    difference = np.zeros(vessel.shape, np.float32)
    for part, value in zip(parts, evidence):
        difference[part] = value
    artery = np.where(vessel, 0.5 + difference / 2, 0).astype(np.float32)
    vein = np.where(vessel, 0.5 - difference / 2, 0).astype(np.float32)
    return artery, vein, vessel


def _decided_artery(artery: np.ndarray, vein: np.ndarray, part: np.ndarray, vessel: np.ndarray) -> float:
    """Share of a part's own pixels (away from the others) decided artery."""
    return float(((artery >= vein) & part & vessel).sum() / part.sum())


def test_weak_branches_take_their_trunks_type_at_a_bifurcation() -> None:
    # a trunk (clearly artery) splitting into two shorter branches that lean vein
    parts = _vessel((120, 120), (60, 5, 60, 70), (60, 70, 40, 90), (60, 70, 80, 90))
    artery, vein, vessel = _maps(parts, [0.6, -0.1, -0.1])
    voted = segment_vote(artery, vein, vessel)
    assert _decided_artery(*voted, parts[1], vessel) < 0.5  # segment by segment the branch stays vein
    graphed = graph_vote(artery, vein, vessel)
    for part in parts:
        assert _decided_artery(*graphed, part, vessel) > 0.9


def test_a_confident_branch_is_not_swallowed() -> None:
    parts = _vessel((120, 120), (60, 5, 60, 70), (60, 70, 40, 90), (60, 70, 80, 90))
    artery, vein, vessel = _maps(parts, [0.6, 0.1, -0.6])
    graphed = graph_vote(artery, vein, vessel)
    # a confident artery trunk and a confident vein branch meet (really a crossing with an arm
    # lost): neither group flips the other
    assert _decided_artery(*graphed, parts[0], vessel) > 0.9
    assert _decided_artery(*graphed, parts[2], vessel) < 0.1


def test_a_crossing_links_straight_through_arms_only() -> None:
    # an artery crossing a vein at right angles; one vein arm leans artery, weakly: it belongs to
    # the vein line it continues, not to the artery
    parts = _vessel((140, 140), (70, 5, 70, 70), (70, 70, 70, 135), (5, 70, 70, 70), (70, 70, 135, 70))
    artery, vein, vessel = _maps(parts, [0.5, 0.5, -0.5, 0.05])
    graphed = graph_vote(artery, vein, vessel)
    assert _decided_artery(*graphed, parts[0], vessel) > 0.9
    assert _decided_artery(*graphed, parts[1], vessel) > 0.9
    assert _decided_artery(*graphed, parts[2], vessel) < 0.1
    assert _decided_artery(*graphed, parts[3], vessel) < 0.1


def test_a_shallow_crossing_drawn_as_two_junctions() -> None:
    # two lines crossing at ~25 degrees: the skeleton meets in two junctions joined by a short piece
    parts = _vessel((100, 200), (50, 5, 50, 195), (10, 10, 90, 190))
    artery, vein, vessel = _maps(parts, [0.5, -0.5])
    weak_arm = np.zeros(vessel.shape, bool)
    weak_arm[:, 150:] = True
    weak_arm &= parts[1] & ~parts[0]
    difference = np.where(weak_arm, 0.05, np.where(parts[0], 0.5, np.where(parts[1], -0.5, 0)))
    artery = np.where(vessel, 0.5 + difference / 2, 0).astype(np.float32)
    vein = np.where(vessel, 0.5 - difference / 2, 0).astype(np.float32)
    graphed = graph_vote(artery, vein, vessel)
    assert _decided_artery(*graphed, weak_arm, vessel) < 0.1
    assert _decided_artery(*graphed, parts[0] & ~parts[1], vessel) > 0.9


def test_maps_are_only_swapped_and_empty_input_is_unchanged() -> None:
    parts = _vessel((120, 120), (60, 5, 60, 70), (60, 70, 40, 90), (60, 70, 80, 90))
    artery, vein, vessel = _maps(parts, [0.6, -0.1, -0.1])
    new_artery, new_vein = graph_vote(artery, vein, vessel)
    np.testing.assert_array_equal(np.sort(np.stack([new_artery, new_vein]), 0), np.sort(np.stack([artery, vein]), 0))
    unchanged = graph_vote(artery, vein, np.zeros_like(vessel))
    assert unchanged[0] is artery and unchanged[1] is vein


def test_decisions_without_junctions_are_the_segment_votes() -> None:
    labels = np.zeros((5, 20), np.int32)
    labels[1, 2:18], labels[3, 2:18] = 1, 2
    difference = np.where(labels == 1, 0.2, np.where(labels == 2, -0.3, 0.0))
    decisions = graph_decisions(difference, labels, 2, np.zeros_like(labels), 0)
    assert decisions.tolist() == [False, True, False]


def test_cleanups_name_graph_as_the_default() -> None:
    assert DEFAULT_CLEANUP == "graph" and set(CLEANUPS) == {"graph", "vote", "none"}
