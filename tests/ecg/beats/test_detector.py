"""BeatAnomalyDetector, classical detectors, ensembles: contract, thresholds, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cardioclarity.checkpoints import save_checkpoint
from cardioclarity.ecg.beats.detector import (
    BeatAnomalyDetector,
    ClassicalDetector,
    EnsembleDetector,
    fit_threshold,
    load_detector,
    resample_beats,
    score_table,
)
from cardioclarity.errors import CheckpointError, InvalidInputError, NotFittedError
from cardioclarity.metrics import roc_auc

from .beats_synth import synthetic_beats

FAST = {"max_epochs": 40, "patience": 8, "batch_size": 32}


@pytest.fixture(scope="module")
def data():
    X, y = synthetic_beats(200, 60, length=72, seed=1)
    Xv, yv = synthetic_beats(60, 20, length=72, seed=2)
    Xt, yt = synthetic_beats(60, 20, length=72, seed=3)
    return X[y == 0], Xv, yv, Xt, yt


@pytest.fixture(scope="module")
def fitted(data):
    X, Xv, yv, _, _ = data
    return BeatAnomalyDetector("conv1d", train=FAST, seed=0).fit(X, Xv, yv)


def test_contract_and_separation(fitted, data):
    *_, Xt, yt = data
    s = fitted.anomaly_score(Xt)
    assert s.shape == (len(Xt),) and np.isfinite(s).all()
    np.testing.assert_allclose(fitted.score_samples(Xt), -s)
    assert roc_auc(yt, s) > 0.95
    pred = fitted.predict(Xt)
    assert set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (s >= fitted.threshold_).astype(int))
    assert fitted.input_length_ == 72 and fitted.history_ and fitted.best_epoch_ >= 1
    assert fitted.reconstruct(Xt).shape == Xt.shape
    rows = score_table(fitted, Xt[:3])
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert rows[0]["score"] == pytest.approx(s[0]) and isinstance(rows[0]["is_anomaly"], bool)


def test_training_is_deterministic(data):
    X, Xv, yv, Xt, _ = data
    a = BeatAnomalyDetector("dense", train={"max_epochs": 5}, seed=7).fit(X)
    b = BeatAnomalyDetector("dense", train={"max_epochs": 5}, seed=7).fit(X)
    np.testing.assert_array_equal(a.anomaly_score(Xt), b.anomaly_score(Xt))


def test_threshold_strategies():
    s = np.arange(101, dtype=float)
    assert fit_threshold(s, "percentile", percentile=90) == pytest.approx(90)
    assert fit_threshold(s, "mean_std", k=2) == pytest.approx(s.mean() + 2 * s.std())
    sv, yv = np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])
    assert fit_threshold(s, "best_f1", scores_val=sv, y_val=yv) == pytest.approx(0.8)
    with pytest.raises(InvalidInputError, match="labelled validation"):
        fit_threshold(s, "best_f1")
    with pytest.raises(InvalidInputError, match="valid strategies"):
        fit_threshold(s, "otsu")


def test_percentile_threshold_flags_expected_share_of_validation_normals(data):
    X, *_ = data
    det = ClassicalDetector("knn", percentile=90).fit(X)
    assert np.mean(det.val_scores_ >= det.threshold_) == pytest.approx(0.1, abs=0.03)


def test_save_load_round_trip(fitted, data, tmp_path):
    *_, Xt, _ = data
    path = fitted.save(tmp_path / "m.pt")
    for loaded in (BeatAnomalyDetector.load(path), load_detector(str(path))):
        np.testing.assert_allclose(loaded.anomaly_score(Xt), fitted.anomaly_score(Xt), rtol=1e-5)
        assert loaded.threshold_ == fitted.threshold_ and loaded.input_length_ == 72
        assert loaded.scaler_ == fitted.scaler_
    raw = torch.load(path, weights_only=True)
    assert raw["label_convention"]["1"] == "anomaly"
    assert raw["preprocessing"]["scaling"]["method"] == "standard"
    assert raw["training_data"]["n_train_normal"] == len(data[0])


def test_bad_inputs_and_checkpoints(fitted, data, tmp_path):
    *_, Xt, _ = data
    with pytest.raises(InvalidInputError, match="trained on 72-sample beats"):
        fitted.anomaly_score(Xt[:, :60])
    assert fitted.anomaly_score(Xt[:, :60], resample=True).shape == (len(Xt),)
    bad = Xt.copy()
    bad[2, 5] = np.nan
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        fitted.predict(bad)
    with pytest.raises(NotFittedError):
        BeatAnomalyDetector("dense").predict(Xt)
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="could not be read"):
        BeatAnomalyDetector.load(tmp_path / "corrupt.pt")
    other = save_checkpoint(tmp_path / "x.pt", kind="xray-heart-seg", model="unet", config={},
                            state_dict={})
    with pytest.raises(CheckpointError, match="expected ecg-beat-detector"):
        BeatAnomalyDetector.load(other)
    ens_path = EnsembleDetector(("knn",)).fit(data[0]).save(tmp_path / "e.pt")
    with pytest.raises(CheckpointError, match="ecg-beat-ensemble"):
        BeatAnomalyDetector.load(ens_path)
    # A checkpoint whose weights do not fit its config is reported, not a raw traceback.
    ck = torch.load(fitted.save(tmp_path / "m.pt"), weights_only=True)
    ck["config"]["latent_dim"] = 3
    torch.save(ck, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="inconsistent"):
        BeatAnomalyDetector.load(tmp_path / "mismatch.pt")


def test_ensemble_with_classical_members_round_trips(fitted, data, tmp_path):
    X, Xv, yv, Xt, yt = data
    ens = EnsembleDetector([fitted.__class__("dense", train=FAST), "knn"],
                           calibration="zscore", threshold="best_f1").fit(X, Xv, yv)
    s = ens.anomaly_score(Xt)
    assert roc_auc(yt, s) > 0.95
    cal = ens.member_scores(Xv[yv == 0])
    # z-calibration: every member's validation-normal scores have mean 0, std 1.
    for v in cal.values():
        assert abs(v.mean()) < 1e-6 and v.std() == pytest.approx(1, rel=1e-6)
    loaded = load_detector(str(ens.save(tmp_path / "e.pt")))
    np.testing.assert_allclose(loaded.anomaly_score(Xt), s, rtol=1e-5)
    rank = EnsembleDetector(["knn", "iforest"], calibration="rank").fit(X)
    assert roc_auc(yt, rank.anomaly_score(Xt)) > 0.9
    with pytest.raises(CheckpointError, match="Isolation Forest"):
        rank.save(tmp_path / "r.pt")


def test_resample_beats_keeps_shape():
    x = np.sin(np.linspace(0, 3, 50))[None].astype(np.float32)
    r = resample_beats(x, 100)
    assert r.shape == (1, 100) and r[0, 0] == pytest.approx(x[0, 0]) and r[0, -1] == pytest.approx(x[0, -1])


def test_best_f1_without_labels_fails_before_training(data):
    with pytest.raises(InvalidInputError, match="labelled validation split"):
        BeatAnomalyDetector("lstm", threshold="best_f1").fit(data[0])


def test_bundled_default_on_its_held_out_ecg5000_test_split(shared_data):
    from cardioclarity.checkpoints import list_bundled
    from cardioclarity.ecg.beats.io import read_beats, split_beats

    if "ecg5000-ensemble" not in list_bundled():
        pytest.skip("bundled weights not built (run training/train_ecg5000.py)")
    test = split_beats(read_beats(shared_data / "ecg5000" / "ecg.csv"), seed=0)["test"]
    det = load_detector()
    assert det.input_length_ == 140 and det.training_data["n_train_normal"] > 1000
    s = det.anomaly_score(test.X)
    # The split the bundled weights never trained or chose a threshold on (model card: 0.9947).
    assert roc_auc(test.y, s) > 0.99
    assert np.mean(det.predict(test.X) == test.y) > 0.95


def test_thread_limit_survives_interleaved_exits():
    # torch.set_num_threads is process-wide. Two scoring threads that enter and leave out of order
    # (A in, B in, A out, B out) must leave the process on its original count: saving/restoring
    # per instance made B "restore" A's reduced value and left the server on one thread for good.
    import torch

    from cardioclarity.ecg.beats.base import _ThreadLimit

    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        a, b = _ThreadLimit(1), _ThreadLimit(1)
        a.__enter__()
        b.__enter__()
        assert torch.get_num_threads() == 1
        a.__exit__(None, None, None)
        assert torch.get_num_threads() == 1  # B still runs: still limited
        b.__exit__(None, None, None)
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)
