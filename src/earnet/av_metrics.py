"""Artery/vein metrics, counts first (they add across images), then scores.

The field's protocol (Hu et al. 2013, Galdran et al. 2022, RRWNet 2024):

* **on ground-truth vessels** (``gt``): every pixel the reference labels artery or vein
  (crossings and uncertain pixels left out) is classified by the prediction as artery
  (``p_artery >= p_vein``) or vein; accuracy, sensitivity and specificity with artery
  as the positive class. This scores A/V classification alone, independent of how
  well the vessels were found.
* **on detected vessels** (``detected``): the same, counted only where the prediction
  also calls the pixel vessel; ``coverage`` says what share of the ``gt`` pixels that is.
* **artery map / vein map**: F1 (Dice) of the predicted artery (artery or crossing)
  and vein (vein or crossing) maps against the reference's, inside the FOV, leaving
  out pixels the reference marks uncertain (they have no A/V target).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from earnet.data.rite import ARTERY, BACKGROUND, CROSSING, UNCERTAIN, VEIN

COUNT_KEYS = ("gt_tp", "gt_fn", "gt_tn", "gt_fp", "det_tp", "det_fn", "det_tn", "det_fp",
              "a_tp", "a_fp", "a_fn", "v_tp", "v_fp", "v_fn")
SCORE_KEYS = ("acc", "se", "sp", "acc_detected", "se_detected", "sp_detected", "coverage", "f1_artery", "f1_vein")

CROSSING_THRESHOLD = 0.5
"""A vessel pixel is drawn as a crossing where both probabilities reach this."""


def av_label_map(artery: np.ndarray, vein: np.ndarray, vessel: np.ndarray,
                 crossing_threshold: float = CROSSING_THRESHOLD) -> np.ndarray:
    """Classes (``earnet.data.rite`` codes) of a prediction: on ``vessel`` pixels, crossing
    where both probabilities reach ``crossing_threshold``, else the likelier of artery/vein."""
    classes = np.full(vessel.shape, BACKGROUND, dtype=np.uint8)
    classes[vessel] = np.where(artery[vessel] >= vein[vessel], ARTERY, VEIN)
    classes[vessel & (artery >= crossing_threshold) & (vein >= crossing_threshold)] = CROSSING
    return classes


def label_counts(classes: np.ndarray) -> dict[str, int]:
    """Pixels labelled ``artery``, ``vein`` and ``crossing`` in a class map."""
    return {name: int(np.count_nonzero(classes == code))
            for name, code in (("artery", ARTERY), ("vein", VEIN), ("crossing", CROSSING))}


def artery_share(counts: dict[str, int]) -> float:
    """Share of labelled vessel pixels that are artery, crossings counting half (RITE's
    reference: ~45 %); a sanity check on photographs without labels. 0 with no labels."""
    typed = counts["artery"] + counts["vein"] + counts["crossing"]
    return (counts["artery"] + counts["crossing"] / 2) / typed if typed else 0.0


def av_counts(artery: np.ndarray, vein: np.ndarray, predicted: np.ndarray, reference: np.ndarray,
              fov: np.ndarray) -> dict[str, int]:
    """Counts of one image.

    Args:
        artery, vein: predicted probabilities ``(H, W)``.
        predicted: predicted classes (:func:`av_label_map`).
        reference: reference classes (``earnet.data.rite.read_av_label``).
        fov: field-of-view mask.
    """
    fov = fov.astype(bool)
    as_artery = artery >= vein
    gt_a = (reference == ARTERY) & fov
    gt_v = (reference == VEIN) & fov
    detected = predicted != BACKGROUND
    counts = {"gt_tp": gt_a & as_artery, "gt_fn": gt_a & ~as_artery, "gt_tn": gt_v & ~as_artery,
              "gt_fp": gt_v & as_artery}
    counts.update({f"det_{k[3:]}": v & detected for k, v in list(counts.items())})
    scored = fov & (reference != UNCERTAIN)
    for prefix, mine, theirs in (("a", (ARTERY, CROSSING), (ARTERY, CROSSING)),
                                 ("v", (VEIN, CROSSING), (VEIN, CROSSING))):
        pred_map = np.isin(predicted, mine) & scored
        ref_map = np.isin(reference, theirs) & scored
        counts[f"{prefix}_tp"] = pred_map & ref_map
        counts[f"{prefix}_fp"] = pred_map & ~ref_map
        counts[f"{prefix}_fn"] = ~pred_map & ref_map
    return {k: int(np.count_nonzero(counts[k])) for k in COUNT_KEYS}


def add_counts(items: Iterable[dict[str, int]]) -> dict[str, int]:
    """Sum counts over images (pooled)."""
    total = dict.fromkeys(COUNT_KEYS, 0)
    for item in items:
        for key in COUNT_KEYS:
            total[key] += item[key]
    return total


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def av_scores(counts: dict[str, int]) -> dict[str, float]:
    """Scores from counts; a score with nothing to count is NaN (e.g. no artery in an image)."""
    c = counts
    gt_total = c["gt_tp"] + c["gt_fn"] + c["gt_tn"] + c["gt_fp"]
    det_total = c["det_tp"] + c["det_fn"] + c["det_tn"] + c["det_fp"]
    return {
        "acc": _ratio(c["gt_tp"] + c["gt_tn"], gt_total),
        "se": _ratio(c["gt_tp"], c["gt_tp"] + c["gt_fn"]),
        "sp": _ratio(c["gt_tn"], c["gt_tn"] + c["gt_fp"]),
        "acc_detected": _ratio(c["det_tp"] + c["det_tn"], det_total),
        "se_detected": _ratio(c["det_tp"], c["det_tp"] + c["det_fn"]),
        "sp_detected": _ratio(c["det_tn"], c["det_tn"] + c["det_fp"]),
        "coverage": _ratio(det_total, gt_total),
        "f1_artery": _ratio(2 * c["a_tp"], 2 * c["a_tp"] + c["a_fp"] + c["a_fn"]),
        "f1_vein": _ratio(2 * c["v_tp"], 2 * c["v_tp"] + c["v_fp"] + c["v_fn"]),
    }
