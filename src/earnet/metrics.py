"""Vessel segmentation metrics: counts first, scores second.

Probability maps are scored against a binary label inside a field-of-view (FOV)
mask (pixels outside it are ignored), or over the whole image when the FOV is
``None``. Threshold metrics come from TP/FP/FN/TN counts, which add across
images, so a split can be reported pooled over all its pixels as well as as
mean ± std over images. AUCs are exact and tie-aware (equal to scikit-learn's
``roc_auc_score`` and ``average_precision_score``) and use numpy sorting only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
from skimage.morphology import skeletonize

METRIC_NAMES: tuple[str, ...] = (
    "acc", "se", "sp", "precision", "f1", "iou", "mcc", "auc_roc", "auc_pr", "cldice",
)
_CURVE_EXACT_POINTS = 200_000  # thresholds a curve is evaluated at before thinning


@dataclass
class Counts:
    """Pixel counts of one or more images; ``a + b`` and ``sum(...)`` pool them.

    The last four fields are clDice skeleton counts: pixels of skeleton(prediction)
    inside the label, pixels of skeleton(prediction), and the same for the label.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    skel_pred_in_label: int = 0
    skel_pred: int = 0
    skel_label_in_pred: int = 0
    skel_label: int = 0

    def __add__(self, other: Counts) -> Counts:
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __radd__(self, other: object) -> Counts:
        if isinstance(other, int) and other == 0:
            return Counts(*(getattr(self, f.name) for f in fields(self)))
        return NotImplemented

    @property
    def total(self) -> int:
        """Number of evaluated pixels."""
        return self.tp + self.fp + self.fn + self.tn


def _as_bool(name: str, array: np.ndarray) -> np.ndarray:
    """Return ``array`` as bool; integer/float arrays must hold only 0 and 1."""
    array = np.asarray(array)
    if array.dtype == bool:
        return array
    if array.dtype.kind in "iuf" and np.isin(array, (0, 1)).all():
        return array.astype(bool)
    raise ValueError(f"{name} must be a boolean (or 0/1) array, got dtype {array.dtype}")


def _check_shape(name: str, array: np.ndarray, ref_name: str, ref: np.ndarray) -> None:
    if array.shape != ref.shape:
        raise ValueError(f"{name} shape {array.shape} does not match {ref_name} shape {ref.shape}")


def confusion_counts(
    prediction: np.ndarray, label: np.ndarray, fov: np.ndarray | None = None
) -> Counts:
    """Count TP/FP/FN/TN and clDice skeleton pixels inside the FOV.

    Args:
        prediction: binary prediction, bool, 2-D.
        label: binary label, same shape.
        fov: field-of-view mask, same shape, or ``None`` for the whole image.

    Skeletons are taken of ``prediction & fov`` and ``label & fov``. Raises
    ``ValueError`` on a shape mismatch or non-binary input.
    """
    prediction, label = _as_bool("prediction", prediction), _as_bool("label", label)
    _check_shape("label", label, "prediction", prediction)
    if fov is None:
        fov = np.ones(prediction.shape, dtype=bool)
    else:
        fov = _as_bool("fov", fov)
        _check_shape("fov", fov, "prediction", prediction)
    pred, lab = prediction & fov, label & fov
    tp = int(np.count_nonzero(pred & lab))
    n_pred, n_lab, n_fov = (int(np.count_nonzero(a)) for a in (pred, lab, fov))
    skel_p = skeletonize(pred) & fov if n_pred else np.zeros_like(pred)
    skel_l = skeletonize(lab) & fov if n_lab else np.zeros_like(lab)
    return Counts(
        tp=tp, fp=n_pred - tp, fn=n_lab - tp, tn=n_fov - n_pred - n_lab + tp,
        skel_pred_in_label=int(np.count_nonzero(skel_p & lab)),
        skel_pred=int(np.count_nonzero(skel_p)),
        skel_label_in_pred=int(np.count_nonzero(skel_l & pred)),
        skel_label=int(np.count_nonzero(skel_l)),
    )


def scores_from_counts(counts: Counts) -> dict[str, float]:
    """Threshold metrics and clDice from counts.

    Zero-denominator conventions: se = 1 if tp+fn == 0; sp = 1 if tn+fp == 0;
    precision = 1 if tp+fp == 0; f1 (= Dice) and iou = 1 if tp+fp+fn == 0;
    mcc = 0 if its denominator is 0 (scikit-learn's convention). clDice:
    topology precision = 1 if the prediction skeleton is empty, topology
    sensitivity = 1 if the label skeleton is empty, cldice = 0 if both are 0,
    else their harmonic mean. Raises ``ValueError`` if the counts cover no pixels.
    """
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    if counts.total == 0:
        raise ValueError("no pixels to evaluate (empty FOV)")

    def ratio(num: int, den: int, empty: float) -> float:
        return num / den if den else empty

    denom = float(tp + fp) * float(tp + fn) * float(tn + fp) * float(tn + fn)
    t_prec = ratio(counts.skel_pred_in_label, counts.skel_pred, 1.0)
    t_sens = ratio(counts.skel_label_in_pred, counts.skel_label, 1.0)
    return {
        "acc": (tp + tn) / counts.total,
        "se": ratio(tp, tp + fn, 1.0),
        "sp": ratio(tn, tn + fp, 1.0),
        "precision": ratio(tp, tp + fp, 1.0),
        "f1": ratio(2 * tp, 2 * tp + fp + fn, 1.0),
        "iou": ratio(tp, tp + fp + fn, 1.0),
        "mcc": float((tp * tn - fp * fn) / np.sqrt(denom)) if denom else 0.0,
        "cldice": ratio(2 * t_prec * t_sens, t_prec + t_sens, 0.0),
    }


def _split_sorted(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (ascending) scores of the positive and of the negative pixels.

    Scores keep float32/float64 precision; other dtypes become float64.
    """
    scores, labels = np.asarray(scores), _as_bool("labels", labels)
    _check_shape("labels", labels, "scores", scores)
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    scores, labels = scores.ravel(), labels.ravel()
    if scores.size == 0:
        raise ValueError("no pixels to evaluate (empty FOV)")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    return np.sort(scores[labels]), np.sort(scores[~labels])


def auc_roc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Exact, tie-aware area under the ROC curve (Mann-Whitney U with midranks).

    Returns ``nan`` when ``labels`` hold only one class.
    """
    pos, neg = _split_sorted(scores, labels)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    below = np.searchsorted(neg, pos, "left").sum(dtype=np.int64)
    below_or_tie = np.searchsorted(neg, pos, "right").sum(dtype=np.int64)
    return float((int(below) + int(below_or_tie)) / (2 * pos.size * neg.size))


def _positive_steps(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct positive scores v (ascending), #positives == v, TP and FP at ``>= v``."""
    starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
    values = pos[starts]
    n_equal = np.diff(np.r_[starts, pos.size])
    tp = pos.size - starts
    fp = neg.size - np.searchsorted(neg, values, "left")
    return values, n_equal, tp, fp


def auc_pr(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision, step-wise as scikit-learn's ``average_precision_score``.

    Returns ``nan`` when ``labels`` hold only one class.
    """
    pos, neg = _split_sorted(scores, labels)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    _, n_equal, tp, fp = _positive_steps(pos, neg)
    return float(np.sum(n_equal * (tp / (tp + fp))) / pos.size)


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """Threshold ``t`` maximising pooled F1 of ``scores >= t``; choose it on training data.

    Exact over the distinct score values; ties go to the highest threshold. The
    value is an actual score value (exactly representable in the scores' dtype),
    so ``scores >= t`` reproduces the optimum. Without positive labels it is the
    next representable value above the maximum score, so nothing is predicted
    (F1 = 1 by convention).
    """
    pos, neg = _split_sorted(scores, labels)
    if pos.size == 0:
        top = neg[-1]
        return float(np.nextafter(top, np.array(np.inf, dtype=top.dtype)))
    values, _, tp, fp = _positive_steps(pos, neg)
    f1 = 2 * tp / (tp + fp + pos.size)
    return float(values[np.flatnonzero(f1 == f1.max())[-1]])


def best_mean_f1_threshold(groups: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Threshold ``t`` maximising the *mean* over ``groups`` of each group's pooled F1 of
    ``scores >= t``: each group (a dataset, a camera) counts once, however many pixels it has.

    Candidates are the distinct positive scores of all groups (where some group's F1 can
    rise); ties go to the highest threshold. One group: :func:`best_f1_threshold`.
    """
    if len(groups) == 1:
        return best_f1_threshold(*groups[0])
    split = [_split_sorted(scores, labels) for scores, labels in groups]
    if all(pos.size == 0 for pos, _ in split):
        top = max(neg[-1] for _, neg in split)
        return float(np.nextafter(top, np.array(np.inf, dtype=top.dtype)))
    candidates = np.unique(np.concatenate([pos for pos, _ in split]))
    mean_f1 = np.zeros(candidates.size)
    for pos, neg in split:
        tp = pos.size - np.searchsorted(pos, candidates, "left")
        fp = neg.size - np.searchsorted(neg, candidates, "left")
        mean_f1 += np.where(pos.size > 0, 2 * tp / np.maximum(tp + fp + pos.size, 1), (tp + fp == 0).astype(float))
    return float(candidates[np.flatnonzero(mean_f1 == mean_f1.max())[-1]])


def _curve_counts(
    scores: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """TP and FP at descending thresholds (at most ~200k exact ones), P and N."""
    pos, neg = _split_sorted(scores, labels)
    if pos.size == 0 or neg.size == 0:
        return None
    values = np.unique(np.concatenate((pos, neg)))
    if values.size > _CURVE_EXACT_POINTS:
        values = values[np.linspace(0, values.size - 1, _CURVE_EXACT_POINTS, dtype=np.int64)]
    values = values[::-1]
    tp = pos.size - np.searchsorted(pos, values, "left")
    fp = neg.size - np.searchsorted(neg, values, "left")
    return tp, fp, pos.size, neg.size


def _thin(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most ``max_points`` points, evenly spaced along the curve's length."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    if x.size <= max_points:
        return x, y
    arc = np.r_[0.0, np.cumsum(np.hypot(np.diff(x), np.diff(y)))]
    keep = np.searchsorted(arc, np.linspace(0.0, arc[-1], max_points))
    keep = np.unique(np.r_[0, np.minimum(keep, x.size - 1), x.size - 1])
    return x[keep], y[keep]


def roc_curve(
    scores: np.ndarray, labels: np.ndarray, max_points: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr)`` from (0, 0) to (1, 1), thinned for plotting.

    Points are exact (≤ 200k thresholds), then at most ``max_points`` are kept
    evenly along the curve. Both arrays are empty when ``labels`` hold one class.
    """
    counts = _curve_counts(scores, labels)
    if counts is None:
        return np.empty(0), np.empty(0)
    tp, fp, n_pos, n_neg = counts
    return _thin(np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos], max_points)


def pr_curve(
    scores: np.ndarray, labels: np.ndarray, max_points: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """Precision-recall curve ``(recall, precision)`` from (0, 1), thinned as ``roc_curve``."""
    counts = _curve_counts(scores, labels)
    if counts is None:
        return np.empty(0), np.empty(0)
    tp, fp, n_pos, _ = counts
    return _thin(np.r_[0.0, tp / n_pos], np.r_[1.0, tp / (tp + fp)], max_points)


class MetricAccumulator:
    """Collects per-image counts, scores and in-mask pixels of a split.

    Args:
        threshold: a pixel is predicted vessel when ``probability >= threshold``;
            probabilities are float32 and the threshold is rounded to float32, as
            numpy does for ``float32_array >= python_float``.
        use_fov: evaluate inside the FOV (default) or, if ``False``, the whole image.
    """

    def __init__(self, threshold: float, use_fov: bool = True) -> None:
        self.threshold = float(threshold)
        self.use_fov = use_fov
        self._counts: dict[str, Counts] = {}
        self._scores: dict[str, dict[str, float]] = {}
        self._probabilities: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []

    def add(
        self,
        image_id: str,
        probability: np.ndarray,
        label: np.ndarray,
        fov: np.ndarray | None,
    ) -> None:
        """Score one image and keep its in-mask pixels for the pooled AUCs.

        Args:
            image_id: unique id of the image.
            probability: vessel probability, float, in [0, 1], shape (H, W).
            label: binary label, same shape.
            fov: FOV mask, same shape; ignored when ``use_fov`` is False, and
                ``None`` means the whole image.

        Raises ``ValueError`` on a repeated id, a shape mismatch, or probabilities
        outside [0, 1].
        """
        if image_id in self._counts:
            raise ValueError(f"image {image_id!r} was already added")
        probability, label = np.asarray(probability, np.float32), _as_bool("label", label)
        _check_shape("label", label, "probability", probability)
        if self.use_fov and fov is not None:
            mask = _as_bool("fov", fov)
            _check_shape("fov", mask, "probability", probability)
        else:
            mask = np.ones(probability.shape, dtype=bool)
        if not (np.isfinite(probability).all() and probability.min(initial=0) >= 0
                and probability.max(initial=0) <= 1):
            raise ValueError(f"probability of {image_id!r} must lie in [0, 1]")
        # Compared in float32, exactly as numpy's ``probability >= threshold`` does.
        prediction = probability >= np.float32(self.threshold)
        counts = confusion_counts(prediction, label, mask)
        inside_p, inside_l = probability[mask], label[mask]
        scores = scores_from_counts(counts)
        scores["auc_roc"] = auc_roc(inside_p, inside_l)
        scores["auc_pr"] = auc_pr(inside_p, inside_l)
        self._counts[image_id] = counts
        self._scores[image_id] = {name: scores[name] for name in METRIC_NAMES}
        self._probabilities.append(inside_p)
        self._labels.append(inside_l)

    def _pixels(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._counts:
            raise ValueError("no images added")
        if len(self._probabilities) > 1:  # concatenate once, keep one copy
            self._probabilities = [np.concatenate(self._probabilities)]
            self._labels = [np.concatenate(self._labels)]
        return self._probabilities[0], self._labels[0]

    def best_threshold(self) -> tuple[float, float]:
        """The threshold with the best pooled F1 over the images added, and that F1 (what a
        stage's threshold is chosen by: on validation images, never on test)."""
        probability, label = self._pixels()
        threshold = best_f1_threshold(probability, label)
        prediction = probability >= np.float32(threshold)
        tp = int(np.count_nonzero(prediction & label))
        return threshold, 2 * tp / (int(np.count_nonzero(prediction)) + int(np.count_nonzero(label)))

    def per_image(self) -> dict[str, dict[str, float]]:
        """All metrics of each image, by image id, in insertion order."""
        return {key: dict(value) for key, value in self._scores.items()}

    def pooled(self) -> dict[str, float]:
        """Metrics over all pixels of all images (counts summed, AUCs on the union)."""
        probability, label = self._pixels()
        scores = scores_from_counts(sum(self._counts.values(), Counts()))
        scores["auc_roc"] = auc_roc(probability, label)
        scores["auc_pr"] = auc_pr(probability, label)
        return {name: scores[name] for name in METRIC_NAMES}

    def _table(self) -> np.ndarray:
        if not self._scores:
            raise ValueError("no images added")
        return np.array([[s[n] for n in METRIC_NAMES] for s in self._scores.values()])

    def mean(self) -> dict[str, float]:
        """Mean over images; NaN per-image AUCs are ignored (NaN if all are)."""
        return {n: _nan_stat(col, np.mean) for n, col in zip(METRIC_NAMES, self._table().T)}

    def std(self) -> dict[str, float]:
        """Population std (ddof=0) over images; NaN per-image AUCs are ignored."""
        return {n: _nan_stat(col, np.std) for n, col in zip(METRIC_NAMES, self._table().T)}

    def pooled_curves(self, max_points: int = 2000) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Pooled curves for plotting: ``{"roc": (fpr, tpr), "pr": (recall, precision)}``."""
        probability, label = self._pixels()
        return {
            "roc": roc_curve(probability, label, max_points),
            "pr": pr_curve(probability, label, max_points),
        }


def _nan_stat(values: np.ndarray, stat: Callable[[np.ndarray], float]) -> float:
    """``stat`` of the non-NaN values, or NaN when there are none."""
    finite = values[~np.isnan(values)]
    return float(stat(finite)) if finite.size else float("nan")
