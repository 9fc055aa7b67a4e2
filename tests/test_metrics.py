"""earnet.metrics against scikit-learn and hand-computed oracles."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from earnet.metrics import (
    METRIC_NAMES,
    Counts,
    MetricAccumulator,
    auc_pr,
    auc_roc,
    best_f1_threshold,
    confusion_counts,
    pr_curve,
    roc_curve,
    scores_from_counts,
)

TOL = 1e-6
THRESHOLD_METRICS = ("acc", "se", "sp", "precision", "f1", "iou", "mcc")


def disc_fov(shape: tuple[int, int]) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    cy, cx, r = (shape[0] - 1) / 2, (shape[1] - 1) / 2, min(shape) * 0.45
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def make_image(seed: int, shape=(48, 56), levels: int | None = None):
    """Probability map correlated with a random label; quantised if ``levels``."""
    rng = np.random.default_rng(seed)
    label = rng.random(shape) < 0.15
    prob = np.clip(0.35 * label + rng.random(shape) * 0.7, 0, 1)
    if levels:
        prob = np.round(prob * levels) / levels
    return prob.astype(np.float32), label, disc_fov(shape)


def sklearn_threshold_metrics(pred: np.ndarray, label: np.ndarray) -> dict[str, float]:
    y, p = label.ravel().astype(int), pred.ravel().astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
    return {
        "acc": skm.accuracy_score(y, p),
        "se": skm.recall_score(y, p),
        "sp": tn / (tn + fp),
        "precision": skm.precision_score(y, p),
        "f1": skm.f1_score(y, p),
        "iou": skm.jaccard_score(y, p),
        "mcc": skm.matthews_corrcoef(y, p),
    }


def assert_close(ours: dict[str, float], oracle: dict[str, float], keys=None) -> None:
    for key in keys or oracle:
        assert ours[key] == pytest.approx(oracle[key], abs=TOL, nan_ok=True), key


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("levels", [None, 20, 3])
def test_threshold_metrics_match_sklearn(seed: int, levels: int | None) -> None:
    prob, label, fov = make_image(seed, levels=levels)
    pred = prob >= 0.5
    scores = scores_from_counts(confusion_counts(pred, label, fov))
    assert_close(scores, sklearn_threshold_metrics(pred[fov], label[fov]))
    whole = scores_from_counts(confusion_counts(pred, label, None))
    assert_close(whole, sklearn_threshold_metrics(pred, label))


@pytest.mark.parametrize("seed", [0, 1, 2, 5, 8])
@pytest.mark.parametrize("levels", [None, 50, 4, 1])
def test_aucs_match_sklearn_with_ties(seed: int, levels: int | None) -> None:
    prob, label, _ = make_image(seed, levels=levels)
    y, s = label.ravel(), prob.ravel()
    assert auc_roc(prob, label) == pytest.approx(skm.roc_auc_score(y, s), abs=TOL)
    assert auc_pr(prob, label) == pytest.approx(skm.average_precision_score(y, s), abs=TOL)


def test_aucs_float64_integer_and_constant_scores() -> None:
    rng = np.random.default_rng(11)
    y = rng.random(5000) < 0.3
    s64 = rng.random(5000) + 0.2 * y  # float64 keeps its precision
    assert auc_roc(s64, y) == pytest.approx(skm.roc_auc_score(y, s64), abs=TOL)
    assert auc_pr(s64, y) == pytest.approx(skm.average_precision_score(y, s64), abs=TOL)
    ints = rng.integers(0, 4, 5000) + y
    assert auc_roc(ints, y) == pytest.approx(skm.roc_auc_score(y, ints), abs=TOL)
    assert auc_pr(ints, y) == pytest.approx(skm.average_precision_score(y, ints), abs=TOL)
    const = np.full(5000, 0.5, np.float32)
    assert auc_roc(const, y) == pytest.approx(0.5, abs=TOL)
    assert auc_pr(const, y) == pytest.approx(y.mean(), abs=TOL)


def test_auc_large_input_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(1_000_000) < 0.12
    s = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1).astype(np.float32)
    assert auc_roc(s, y) == pytest.approx(skm.roc_auc_score(y, s), abs=TOL)
    assert auc_pr(s, y) == pytest.approx(skm.average_precision_score(y, s), abs=TOL)


def test_auc_single_class_is_nan_and_bad_input_raises() -> None:
    s = np.linspace(0, 1, 10, dtype=np.float32)
    for y in (np.zeros(10, bool), np.ones(10, bool)):
        assert np.isnan(auc_roc(s, y)) and np.isnan(auc_pr(s, y))
        assert roc_curve(s, y)[0].size == 0 and pr_curve(s, y)[0].size == 0
    with pytest.raises(ValueError, match="labels"):
        auc_roc(s, np.zeros(9, bool))
    with pytest.raises(ValueError, match="NaN"):
        auc_roc(np.r_[s[:-1], np.nan], np.arange(10) % 2 == 0)


def test_curves_match_sklearn_and_thin() -> None:
    prob, label, _ = make_image(4, levels=30)
    s, y = prob.ravel(), label.ravel()
    fpr, tpr = roc_curve(s, y)
    sk_fpr, sk_tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr, atol=TOL)
    np.testing.assert_allclose(tpr, sk_tpr, atol=TOL)
    recall, precision = pr_curve(s, y)
    sk_prec, sk_rec, _ = skm.precision_recall_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(recall, sk_rec[::-1], atol=TOL)
    np.testing.assert_allclose(precision, sk_prec[::-1], atol=TOL)

    prob, label, _ = make_image(4, shape=(200, 200))
    fpr, tpr = roc_curve(prob, label, max_points=100)
    assert 2 <= fpr.size <= 102
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    recall, precision = pr_curve(prob, label, max_points=100)
    assert recall.size <= 102 and (recall[0], precision[0], recall[-1]) == (0.0, 1.0, 1.0)


def test_fov_masking() -> None:
    prob, label, fov = make_image(7, levels=10)
    rng = np.random.default_rng(99)
    prob2, label2 = prob.copy(), label.copy()
    prob2[~fov] = rng.random(int((~fov).sum())).astype(np.float32)
    label2[~fov] = rng.random(int((~fov).sum())) < 0.5
    acc_a, acc_b = MetricAccumulator(0.5), MetricAccumulator(0.5)
    acc_a.add("x", prob, label, fov)
    acc_b.add("x", prob2, label2, fov)
    assert acc_a.per_image() == acc_b.per_image()
    assert acc_a.pooled() == acc_b.pooled()

    whole_a, whole_b = MetricAccumulator(0.5, use_fov=False), MetricAccumulator(0.5, use_fov=False)
    whole_a.add("x", prob, label, fov)
    whole_b.add("x", prob2, label2, fov)
    assert whole_a.per_image()["x"]["acc"] != acc_a.per_image()["x"]["acc"]
    assert whole_a.per_image() != whole_b.per_image()
    oracle = sklearn_threshold_metrics(prob >= 0.5, label)
    oracle["auc_roc"] = skm.roc_auc_score(label.ravel(), prob.ravel())
    assert_close(whole_a.per_image()["x"], oracle)


def test_edge_cases() -> None:
    shape = (20, 20)
    fov = disc_fov(shape)
    none, every = np.zeros(shape, bool), np.ones(shape, bool)
    pred = np.random.default_rng(0).random(shape) < 0.3

    s = scores_from_counts(confusion_counts(pred, none, fov))  # no positives in label
    assert s["se"] == 1.0 and s["f1"] == 0.0 and s["iou"] == 0.0 and s["precision"] == 0.0
    s = scores_from_counts(confusion_counts(none, none, fov))  # nothing anywhere
    assert s["se"] == s["precision"] == s["f1"] == s["iou"] == s["cldice"] == s["acc"] == 1.0
    assert s["mcc"] == 0.0
    s = scores_from_counts(confusion_counts(pred, every, fov))  # all positives
    assert s["sp"] == 1.0 and s["mcc"] == 0.0 and s["precision"] == 1.0
    assert s["se"] == pytest.approx(pred[fov].mean())
    s = scores_from_counts(confusion_counts(none, pred, fov))  # prediction all zeros
    assert s["se"] == 0.0 and s["f1"] == 0.0 and s["precision"] == 1.0
    assert s["mcc"] == 0.0 and s["cldice"] == 0.0 and s["sp"] == 1.0

    with pytest.raises(ValueError, match="empty FOV"):
        scores_from_counts(confusion_counts(pred, pred, none))
    with pytest.raises(ValueError, match="empty FOV"):
        MetricAccumulator(0.5).add("e", np.zeros(shape, np.float32), pred, none)
    with pytest.raises(ValueError, match="empty FOV"):
        scores_from_counts(Counts())


def test_shape_and_value_errors_name_the_input() -> None:
    p, y, f = np.zeros((4, 4), np.float32), np.zeros((4, 4), bool), np.ones((4, 4), bool)
    acc = MetricAccumulator(0.5)
    with pytest.raises(ValueError, match="label shape"):
        acc.add("a", p, np.zeros((4, 5), bool), f)
    with pytest.raises(ValueError, match="fov shape"):
        acc.add("a", p, y, np.ones((5, 4), bool))
    with pytest.raises(ValueError, match="probability"):
        acc.add("a", p + 2, y, f)
    with pytest.raises(ValueError, match="fov shape"):
        confusion_counts(y, y, np.ones(3, bool))
    acc.add("a", p, y, f)
    with pytest.raises(ValueError, match="already"):
        acc.add("a", p, y, f)


def test_counts_add_and_pooled_equals_concatenation() -> None:
    images = [make_image(seed, levels=25) for seed in (10, 11, 12)]
    per = [confusion_counts(p >= 0.5, y, f) for p, y, f in images]
    total = sum(per)
    assert isinstance(total, Counts) and total == per[0] + per[1] + per[2]
    cat = confusion_counts(*(np.hstack(a) for a in zip(*[(p >= 0.5, y, f) for p, y, f in images])))
    assert (total.tp, total.fp, total.fn, total.tn) == (cat.tp, cat.fp, cat.fn, cat.tn)

    acc = MetricAccumulator(0.5)
    for i, (p, y, f) in enumerate(images):
        acc.add(f"im{i}", p, y, f)
    s_all = np.concatenate([p[f] for p, _, f in images])
    y_all = np.concatenate([y[f] for _, y, f in images])
    oracle = sklearn_threshold_metrics(s_all >= 0.5, y_all)
    oracle["auc_roc"] = skm.roc_auc_score(y_all, s_all)
    oracle["auc_pr"] = skm.average_precision_score(y_all, s_all)
    pooled = acc.pooled()
    assert tuple(pooled) == METRIC_NAMES
    assert_close(pooled, oracle)
    curves = acc.pooled_curves()
    assert set(curves) == {"roc", "pr"} and curves["roc"][0][-1] == 1.0


def test_cldice_thin_lines() -> None:
    label = np.zeros((15, 30), bool)
    label[7, 5:25] = True  # one-pixel line: its own skeleton, 20 pixels
    label[2:13, 15] = True  # crossing line: 11 pixels, 1 shared
    counts = confusion_counts(label.copy(), label, None)
    assert scores_from_counts(counts)["cldice"] == 1.0
    assert counts.skel_label == counts.skel_pred == 30

    broken = label.copy()
    broken[7, 8:12] = False  # 4-pixel gap in the horizontal line
    c = confusion_counts(broken, label, None)
    skeleton_counts = (c.skel_pred, c.skel_pred_in_label, c.skel_label, c.skel_label_in_pred)
    assert skeleton_counts == (26, 26, 30, 26)
    t_sens = 26 / 30
    assert scores_from_counts(c)["cldice"] == pytest.approx(2 * t_sens / (1 + t_sens))
    assert scores_from_counts(c)["cldice"] < 1.0


def test_cldice_uses_centrelines_not_thickness() -> None:
    pred = np.zeros((15, 30), bool)
    pred[5:10, 3:27] = True  # 5 pixels thick
    label = np.zeros_like(pred)
    label[6:9, 3:27] = True  # 3 pixels thick, same centreline
    counts = confusion_counts(pred, label, None)
    assert 0 < counts.skel_pred < 30 and 0 < counts.skel_label < 30
    scores = scores_from_counts(counts)
    assert scores["cldice"] == 1.0 and scores["f1"] == pytest.approx(2 * 72 / (120 + 72))


def _brute_force_best(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    best_f1, best_t = -1.0, None
    for t in np.unique(scores):  # ascending, so >= keeps the highest tying threshold
        f1 = skm.f1_score(labels, scores >= t, zero_division=1.0)
        if f1 >= best_f1:
            best_f1, best_t = f1, float(t)
    return best_f1, best_t


@pytest.mark.parametrize("seed,levels", [(0, None), (1, 10), (2, 4), (3, 1)])
def test_best_f1_threshold_brute_force(seed: int, levels: int | None) -> None:
    prob, label, _ = make_image(seed, shape=(12, 15), levels=levels)
    s, y = prob.ravel(), label.ravel()
    f1, t_bf = _brute_force_best(s, y)
    t = best_f1_threshold(s, y)
    assert t == t_bf
    assert skm.f1_score(y, s >= t) == pytest.approx(f1, abs=1e-12)


def test_best_f1_threshold_ties_go_to_highest() -> None:
    s = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    y = np.array([True, False, False, True])  # F1 = 2/3 at both 0.9 and 0.6
    assert skm.f1_score(y, s >= 0.9) == pytest.approx(skm.f1_score(y, s >= np.float32(0.6)))
    assert best_f1_threshold(s, y) == float(np.float32(0.9))


def test_best_f1_threshold_without_positives_and_in_float32() -> None:
    s = np.array([0.1, 0.7, 0.7, 1.0], np.float32)
    t = best_f1_threshold(s, np.zeros(4, bool))
    assert not np.any(s >= t) and not np.any(s.astype(np.float64) >= t)
    # Float32 maps are compared as numpy compares them, so saved masks agree with metrics.
    prob, label, fov = make_image(5, levels=20)
    for t in (0.45, 0.5, float(np.float32(0.45)), best_f1_threshold(prob[fov], label[fov])):
        acc = MetricAccumulator(t)
        acc.add("a", prob, label, fov)
        assert_close(acc.per_image()["a"], sklearn_threshold_metrics((prob >= t)[fov], label[fov]))


def test_mean_and_std_over_three_images() -> None:
    images = [make_image(seed, levels=40) for seed in (20, 21, 22)]
    _, empty_label, _ = make_image(23)
    images[2] = (images[2][0], np.zeros_like(empty_label), images[2][2])  # no vessels: AUC nan
    acc = MetricAccumulator(0.45)
    rows = []
    for i, (p, y, f) in enumerate(images):
        acc.add(str(i), p, y, f)
        rows.append(acc.per_image()[str(i)])
    per0 = sklearn_threshold_metrics(images[0][0][images[0][2]] >= 0.45, images[0][1][images[0][2]])
    assert_close(rows[0], per0)
    assert np.isnan(rows[2]["auc_roc"]) and np.isnan(rows[2]["auc_pr"])
    mean, std = acc.mean(), acc.std()
    assert tuple(mean) == tuple(std) == METRIC_NAMES
    for key in THRESHOLD_METRICS + ("cldice",):
        values = [r[key] for r in rows]
        assert mean[key] == pytest.approx(sum(values) / 3, abs=1e-12)
        m = sum(values) / 3
        assert std[key] == pytest.approx((sum((v - m) ** 2 for v in values) / 3) ** 0.5, abs=1e-12)
    for key in ("auc_roc", "auc_pr"):
        a, b = rows[0][key], rows[1][key]
        assert mean[key] == pytest.approx((a + b) / 2, abs=1e-12)
        assert std[key] == pytest.approx(abs(a - b) / 2, abs=1e-12)


def test_accumulator_best_threshold_is_the_pooled_f1_optimum() -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    acc = MetricAccumulator(0.5)
    pooled_p, pooled_l = [], []
    for i in range(2):
        label = rng.random((20, 30)) < 0.3
        probability = np.clip(label * 0.3 + rng.random((20, 30)) * 0.7, 0, 1).astype(np.float32)
        fov = np.ones((20, 30), bool)
        fov[:3] = False
        acc.add(f"i{i}", probability, label, fov)
        pooled_p.append(probability[fov])
        pooled_l.append(label[fov])
    p, y = np.concatenate(pooled_p), np.concatenate(pooled_l)
    threshold, f1 = acc.best_threshold()
    assert f1 == pytest.approx(f1_score(y, p >= np.float32(threshold)))
    assert all(f1_score(y, p >= t) <= f1 + 1e-12 for t in np.unique(p))
