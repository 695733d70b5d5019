"""BeatClassifier: NumPy tree inference equals scikit-learn's; checkpoints round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.checkpoints import save_checkpoint
from cardioclarity.ecg.records.classify import (
    AAMI_LABELS,
    KIND_BEAT_CLASSIFIER,
    BeatClassifier,
    DecisionRule,
    choose_decision,
    fit_beat_classifier,
    record_folds,
)
from cardioclarity.ecg.records.features import FEATURE_NAMES
from cardioclarity.errors import CheckpointError, InvalidInputError


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    n = 1200
    F = rng.standard_normal((n, len(FEATURE_NAMES)))
    y = np.where(F[:, 0] > 1, "V", np.where(F[:, 1] > 1.2, "S", np.where(F[:, 2] > 2, "F", "N")))
    F[rng.random(F.shape) < 0.02] = np.nan  # missing values go their learnt way
    clf = fit_beat_classifier(F, y, groups=np.repeat(np.arange(6), n // 6), max_iter=20)
    return clf, F, y


def test_numpy_inference_matches_sklearn(fitted):
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf, F, y = fitted
    est = HistGradientBoostingClassifier(max_iter=20, learning_rate=0.2, max_depth=6,
                                         max_leaf_nodes=31, min_samples_leaf=40,
                                         l2_regularization=1.0, early_stopping=False,
                                         random_state=0)
    est.fit(F, y)
    mine = BeatClassifier.from_sklearn(est)
    np.testing.assert_allclose(mine.predict_proba(F), est.predict_proba(F), atol=1e-6)
    assert (clf.predict(F)[0] == y).mean() > 0.9


def test_checkpoint_round_trip_and_errors(fitted, tmp_path):
    clf, F, _ = fitted
    ck = clf.to_checkpoint()
    path = save_checkpoint(tmp_path / "m.pt", kind=KIND_BEAT_CLASSIFIER, model="trees",
                           config=ck["config"], state_dict=ck["state_dict"])
    back = BeatClassifier.load(path)
    np.testing.assert_allclose(back.predict_proba(F), clf.predict_proba(F), atol=1e-5)
    with pytest.raises(InvalidInputError, match="beat features"):
        back.predict_proba(F[:, :5])
    cfg = dict(ck["config"], feature_names=["x"] * len(FEATURE_NAMES))
    bad = save_checkpoint(tmp_path / "bad.pt", kind=KIND_BEAT_CLASSIFIER, model="trees",
                          config=cfg, state_dict=ck["state_dict"])
    with pytest.raises(CheckpointError, match="other beat features"):
        BeatClassifier.load(bad)


def test_bundled_classifier_has_a_card():
    clf = BeatClassifier.load()
    assert clf.card["name"] == "aami-beats" and "DS2 never used" in clf.card["training_data"]
    assert set(clf.classes_) == {"N", "S", "V", "F"}


def _irregular_features(n: int, irregular: np.ndarray) -> np.ndarray:
    F = np.zeros((n, len(FEATURE_NAMES)))
    for name in ("rr_irregularity", "rr_irregularity_lag2"):
        F[:, FEATURE_NAMES.index(name)] = np.where(irregular, 0.3, 0.02)
    F[:, FEATURE_NAMES.index("p_corr_context")] = np.where(irregular, 0.0, 0.9)
    return F


def test_decision_rule_thresholds_and_irregular_gate():
    # columns N, S, V, F
    P = np.array([[0.3, 0.7, 0.0, 0.0],   # S, but under an S threshold of 0.8
                  [0.1, 0.9, 0.0, 0.0],   # S over it
                  [0.1, 0.9, 0.0, 0.0],   # S over it, inside an irregular stretch
                  [0.4, 0.0, 0.6, 0.0],   # V under a V threshold of 0.7 -> N
                  [0.0, 0.2, 0.0, 0.8]])  # F is never thresholded
    F = _irregular_features(5, np.array([False, False, True, False, False]))
    plain = np.asarray(AAMI_LABELS)[DecisionRule().apply(P, F)]
    assert plain.tolist() == ["S", "S", "S", "V", "F"]
    rule = DecisionRule(s_threshold=0.8, v_threshold=0.7, irregular_rr=0.1, irregular_p=0.3)
    out = np.asarray(AAMI_LABELS)[rule.apply(P, F)]
    assert out.tolist() == ["N", "S", "N", "N", "F"]
    assert DecisionRule.from_dict(rule.to_dict()) == rule
    assert DecisionRule.from_dict(None) == DecisionRule()


def test_sinus_context_needs_p_waves_alike_the_template():
    F = np.zeros((30, len(FEATURE_NAMES)))
    F[:, FEATURE_NAMES.index("p_corr_context")] = np.r_[np.full(10, 0.1), np.full(20, 0.9)]
    F[:, FEATURE_NAMES.index("rr_irregularity")] = 0.4  # irregular RR is no evidence against
    F[25, FEATURE_NAMES.index("p_corr_context")] = np.nan
    sinus = DecisionRule(irregular_rr=0.1, irregular_p=0.5).sinus_context(F)
    assert not sinus[:10].any() and sinus[10:25].all() and not sinus[25]
    assert not DecisionRule().sinus_context(F).any()  # no gate: no evidence either way


def test_choose_decision_holds_the_normal_flag_rate():
    rng = np.random.default_rng(1)
    n = 4000
    y = np.where(rng.random(n) < 0.1, "S", "N")
    # S beats get high P(S); 5 % of N beats get a middling P(S) (a plain arg-max flags them)
    ps = np.where(y == "S", rng.uniform(0.6, 1.0, n),
                  np.where(rng.random(n) < 0.05, rng.uniform(0.5, 0.7, n), 0.05))
    P = np.column_stack([1 - ps, ps, np.zeros(n), np.zeros(n)])
    F = _irregular_features(n, np.zeros(n, bool))
    plain = np.asarray(AAMI_LABELS)[DecisionRule().apply(P, F)]
    assert ((y == "N") & (plain != "N")).sum() / (y == "N").sum() > 0.03
    rule, summary = choose_decision(P, F, y, max_n_flagged=0.01)
    assert summary["n_flagged"] <= 0.01 and summary["S_Se"] > 0.6
    assert 0.5 < rule.s_threshold <= 0.75


def test_checkpoint_keeps_the_decision_rule(fitted, tmp_path):
    clf, F, _ = fitted
    clf2 = BeatClassifier(**{**clf.__dict__, "decision_": DecisionRule(s_threshold=0.9)})
    ck = clf2.to_checkpoint()
    path = save_checkpoint(tmp_path / "r.pt", kind=KIND_BEAT_CLASSIFIER, model="trees",
                           config=ck["config"], state_dict=ck["state_dict"])
    back = BeatClassifier.load(path)
    assert back.decision_ == DecisionRule(s_threshold=0.9)
    assert (back.predict(F)[0] == clf2.predict(F)[0]).all()


@pytest.mark.parametrize("fold_seed", [None, 1, 2])
def test_record_folds_keep_each_record_on_one_side(fold_seed):
    rng = np.random.default_rng(3)
    groups = np.repeat([f"r{i}" for i in range(23)], rng.integers(50, 400, 23))
    folds = record_folds(groups, 5, fold_seed=fold_seed)
    tests = np.concatenate([te for _, te in folds])
    assert len(folds) == 5 and np.array_equal(np.sort(tests), np.arange(groups.size))  # each beat tested once
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])
        # balanced: every fold within a large record of the mean size
        assert abs(te.size - groups.size / 5) <= 400
    again = record_folds(groups, 5, fold_seed=fold_seed)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


def test_record_folds_seeds_give_other_assignments():
    groups = np.repeat(np.arange(30), 100)

    def fold_sets(seed):
        return {frozenset(groups[te].tolist()) for _, te in record_folds(groups, 5, fold_seed=seed)}

    assert fold_sets(1) != fold_sets(2) and fold_sets(1) != fold_sets(None)
    with pytest.raises(InvalidInputError, match="n_splits"):
        record_folds(np.arange(3), 5, fold_seed=0)
