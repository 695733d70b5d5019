"""The one loading protocol: every detector has ``load(name_or_path=None)`` and a ``.card``."""

from __future__ import annotations

import pytest

from cardioclarity.checkpoints import card_from_checkpoint, load_checkpoint
from cardioclarity.ecg.beats.autoencoder import DEFAULT_AUTOENCODER, BeatAnomalyDetector
from cardioclarity.ecg.beats.classical import ClassicalDetector
from cardioclarity.ecg.beats.detector import load_detector
from cardioclarity.ecg.beats.ensemble import EnsembleDetector
from cardioclarity.ecg.beats.names import DEFAULT_DETECTOR
from cardioclarity.errors import InvalidInputError

from .beats_synth import synthetic_beats


def test_fresh_detector_card_from_its_own_metadata():
    X, _ = synthetic_beats(n_normal=80, n_anomaly=0, length=64)
    det = ClassicalDetector("knn")
    assert det.card == {"name": "knn", "kind": "ecg-beat-classical", "model": "knn"}
    det.fit(X)
    card = det.card
    assert card["threshold"] == det.threshold_ and card["input_length"] == 64
    assert card["label_convention"]["1"] == "anomaly" and "n_train_normal" in card["training_data"]
    assert BeatAnomalyDetector("dense").card["model"] == "dense"
    assert EnsembleDetector(["dense", "knn"]).card["model"] == "ensemble"


def test_saved_and_loaded_card_is_the_checkpoints(tmp_path):
    X, _ = synthetic_beats(n_normal=80, n_anomaly=0, length=64)
    path = ClassicalDetector("knn").fit(X).save(tmp_path / "knn.pt", metrics={"auroc": 0.9})
    loaded = ClassicalDetector.load(path)
    assert loaded.card == card_from_checkpoint(load_checkpoint(path))
    assert loaded.card["name"] == "knn" and loaded.card["metrics"] == {"auroc": 0.9}
    assert load_detector(path).card == loaded.card


def test_load_none_gives_the_bundled_defaults():
    ens = load_detector()
    assert isinstance(ens, EnsembleDetector) and ens.card["name"] == DEFAULT_DETECTOR
    assert EnsembleDetector.load().card == ens.card
    assert BeatAnomalyDetector.load().card["name"] == DEFAULT_AUTOENCODER
    with pytest.raises(InvalidInputError, match="No classical detector is bundled"):
        ClassicalDetector.load()
