import numpy as np
import pytest
from sklearn import metrics as skm

from cardioclarity import metrics
from cardioclarity.errors import InvalidInputError


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = y * 1.0 + rng.normal(0, 1, 400)
    s[:50] = np.round(s[:50])  # ties
    return y, s


def test_auroc_and_ap_match_sklearn(scored):
    y, s = scored
    assert metrics.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert metrics.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)


def test_roc_curve_matches_sklearn(scored):
    y, s = scored
    fpr, tpr, _ = metrics.roc_curve(y, s)
    fpr2, tpr2, _ = skm.roc_curve(y, s, drop_intermediate=False)
    assert np.trapezoid(tpr, fpr) == pytest.approx(np.trapezoid(tpr2, fpr2), abs=1e-12)


def test_binary_report_matches_sklearn(scored):
    y, s = scored
    pred = (s > 0.5).astype(int)
    r = metrics.binary_report(y, pred, s, positive_class="anomaly")
    assert r.positive_class == "anomaly"
    assert r.precision == pytest.approx(skm.precision_score(y, pred))
    assert r.recall == pytest.approx(skm.recall_score(y, pred))
    assert r.f1 == pytest.approx(skm.f1_score(y, pred))
    assert r.accuracy == pytest.approx(skm.accuracy_score(y, pred))
    assert r.tp + r.fp + r.tn + r.fn == len(y)
    assert r.specificity == pytest.approx(r.tn / (r.tn + r.fp))


def test_best_f1_threshold_is_optimal(scored):
    y, s = scored
    thr, f1 = metrics.best_f1_threshold(y, s)
    assert skm.f1_score(y, s >= thr) == pytest.approx(f1)
    for t in np.quantile(s, np.linspace(0.05, 0.95, 19)):
        assert skm.f1_score(y, s >= t) <= f1 + 1e-12


def test_auroc_single_class_is_nan():
    assert np.isnan(metrics.roc_auc([0, 0, 0], [0.1, 0.2, 0.3]))


def test_bad_labels_and_nan_scores_raise():
    with pytest.raises(InvalidInputError, match="0/1"):
        metrics.roc_auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidInputError, match="NaN"):
        metrics.roc_auc([0, 1, 1], [0.1, np.nan, 0.3])


def test_box_iou_and_dice():
    assert metrics.box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == pytest.approx(1.0)
    assert metrics.box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert metrics.box_iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    ious = metrics.box_iou(np.array([[0, 0, 10, 10]] * 2), np.array([[0, 0, 10, 10], [0, 0, 5, 10]]))
    np.testing.assert_allclose(ious, [1.0, 0.5])
    a = np.zeros((8, 8), bool)
    a[:4] = True
    b = np.zeros((8, 8), bool)
    b[2:6] = True
    assert metrics.dice(a, b) == pytest.approx(0.5)


def test_detection_prf_counts_misses():
    r = metrics.detection_prf([0.9, 0.6, 0.3], iou_threshold=0.5)
    assert (r["tp"], r["fp"], r["fn"]) == (2, 1, 1)
    assert r["f1"] == pytest.approx(2 / 3)


def test_bland_altman():
    r = metrics.bland_altman([0.5, 0.6, 0.7], [0.45, 0.6, 0.75])
    assert r["bias"] == pytest.approx(0.0)
    assert r["mae"] == pytest.approx(0.1 / 3)
    assert r["loa_low"] < 0 < r["loa_high"]
