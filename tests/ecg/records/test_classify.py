"""BeatClassifier: NumPy tree inference equals scikit-learn's; checkpoints round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.checkpoints import save_checkpoint
from cardioclarity.ecg.records.classify import (
    KIND_BEAT_CLASSIFIER,
    BeatClassifier,
    fit_beat_classifier,
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
