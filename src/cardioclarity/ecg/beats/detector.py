"""Beat anomaly detectors: the front door (:func:`load_detector`, :func:`score_table`).

Every detector is trained on *normal* beats only and keeps one contract, **PyOD's** (not
scikit-learn's ``-1``/``+1`` outlier labels)::

    det = BeatAnomalyDetector(model="conv1d").fit(X_normal)      # returns self
    det.predict(X)          # 1 = anomaly, 0 = normal (anomaly_score >= threshold_), as PyOD
    det.anomaly_score(X)    # higher = more abnormal, like PyOD's decision_function
    det.score_samples(X)    # = -anomaly_score(X): scikit-learn's "higher = more normal"
    det.threshold_, det.input_length_, det.val_scores_, det.history_   # learned attributes
    det.save("my.pt"); BeatAnomalyDetector.load("my.pt")              # self-describing checkpoint
    det.card                # model card: the checkpoint's, or the fitted model's own metadata

Constructors check their parameters (unknown threshold strategy, scaling, loss, method...) and
raise :class:`~cardioclarity.errors.InvalidInputError` at once, unlike scikit-learn estimators,
which defer that to ``fit``; a mistyped option fails before minutes of training, not after.

Thresholds never look at test data. Strategies (``threshold=``):

``"percentile"`` (default)
    The ``percentile``-th percentile of anomaly scores of held-out *normal* validation beats. Needs
    no abnormal labels; the expected false-positive rate on normal beats is ``1 - percentile/100``.
``"mean_std"``
    ``mean + k * std`` of those validation-normal scores (the tutorial notebook's baseline rule,
    which it applied to training errors).
``"best_f1"``
    The score that maximises F1 (positive class = anomaly) on a *labelled* validation split
    ``fit(..., X_val=..., y_val=...)``.

Where the detectors live:

- :mod:`.base`: input checks (:func:`check_beats`), :func:`resample_beats`,
  :func:`fit_threshold`, scaling, :class:`TrainConfig`, the torch thread limit, the base class;
- :mod:`.autoencoder`: :class:`BeatAnomalyDetector` (reconstruction error);
- :mod:`.classical`: :class:`ClassicalDetector` (k-nearest-neighbour distance, Isolation Forest);
- :mod:`.ensemble`: :class:`EnsembleDetector`, which combines autoencoders and classical detectors
  after calibrating each member's scores on the validation-normal beats (z-score or empirical
  rank), so members with errors on different scales can be averaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cardioclarity.checkpoints import list_bundled, load_checkpoint
from cardioclarity.ecg.beats.autoencoder import BeatAnomalyDetector
from cardioclarity.ecg.beats.base import (
    KIND_AE,
    KIND_CLASSICAL,
    KIND_ENSEMBLE,
    LABEL_CONVENTION,
    SCALINGS,
    TrainConfig,
    check_beats,
    fit_threshold,
    resample_beats,
)
from cardioclarity.ecg.beats.classical import ClassicalDetector
from cardioclarity.ecg.beats.ensemble import EnsembleDetector

# The names live in a torch-free module for the CLI; re-exported here, where they are used.
from cardioclarity.ecg.beats.names import (
    CALIBRATIONS,
    CLASSICAL_METHODS,
    DEFAULT_DETECTOR,
    THRESHOLD_STRATEGIES,
)
from cardioclarity.errors import CheckpointError

__all__ = [
    "CALIBRATIONS",
    "CLASSICAL_METHODS",
    "DEFAULT_DETECTOR",
    "LABEL_CONVENTION",
    "SCALINGS",
    "THRESHOLD_STRATEGIES",
    "AnyDetector",
    "BeatAnomalyDetector",
    "ClassicalDetector",
    "EnsembleDetector",
    "TrainConfig",
    "check_beats",
    "fit_threshold",
    "load_detector",
    "resample_beats",
    "score_table",
]

#: Any loaded beat detector.
AnyDetector = BeatAnomalyDetector | ClassicalDetector | EnsembleDetector


def load_detector(name_or_path: str | Path | None = None) -> AnyDetector:
    """Load any beat detector checkpoint (autoencoder, knn or ensemble) by path or bundled name.

    ``None`` loads :data:`DEFAULT_DETECTOR`, the bundled ECG5000 model (140-sample beats). The
    checkpoint's card is the detector's ``.card``.
    """
    target = DEFAULT_DETECTOR if name_or_path is None else name_or_path
    if name_or_path is None and DEFAULT_DETECTOR not in list_bundled():
        raise CheckpointError(f"The bundled default detector '{DEFAULT_DETECTOR}' is missing.",
                              hint="reinstall cardioclarity or run training/train_ecg5000.py.")
    ckpt = load_checkpoint(target, expected_kind=(KIND_AE, KIND_CLASSICAL, KIND_ENSEMBLE))
    loader = {KIND_AE: BeatAnomalyDetector, KIND_CLASSICAL: ClassicalDetector,
              KIND_ENSEMBLE: EnsembleDetector}[ckpt["kind"]]
    return loader._from_ckpt(ckpt)


def score_table(detector: AnyDetector, X: Any, *, resample: bool = False) -> list[dict[str, Any]]:
    """Rows ``{"index", "score", "is_anomaly"}``: the schema of ``scores.csv`` and the REST route.

    ``score`` is the detector's anomaly score (higher = more abnormal); ``is_anomaly`` is
    ``score >= detector.threshold_``.
    """
    scores = detector.anomaly_score(X, resample=resample)
    thr = detector.threshold_
    return [{"index": i, "score": float(s), "is_anomaly": bool(s >= thr)}
            for i, s in enumerate(scores)]
