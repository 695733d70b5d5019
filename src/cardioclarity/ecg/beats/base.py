"""What every beat detector shares: input checks, resampling, thresholds, scaling, the base class.

:class:`_BaseDetector` holds the contract the concrete detectors (:mod:`.autoencoder`,
:mod:`.classical`, :mod:`.ensemble`) keep; :mod:`cardioclarity.ecg.beats.detector` documents it
and is the front door (``load_detector``, ``score_table``). Nothing here imports a concrete
detector, so :mod:`.ensemble` can build on this module without an import cycle.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cardioclarity.checkpoints import card_from_checkpoint, save_checkpoint
from cardioclarity.ecg.beats.names import THRESHOLD_STRATEGIES
from cardioclarity.errors import InvalidInputError, NotFittedError
from cardioclarity.metrics import best_f1_threshold
from cardioclarity.validation import check_finite_matrix

__all__ = [
    "KIND_AE",
    "KIND_CLASSICAL",
    "KIND_ENSEMBLE",
    "LABEL_CONVENTION",
    "SCALINGS",
    "TrainConfig",
    "check_beats",
    "fit_threshold",
    "resample_beats",
]

LABEL_CONVENTION = {"positive_class": "anomaly", "1": "anomaly", "0": "normal",
                    "score": "higher = more abnormal"}
SCALINGS = ("minmax", "standard", "beat_zscore", "none")
KIND_AE = "ecg-beat-detector"
KIND_CLASSICAL = "ecg-beat-classical"
KIND_ENSEMBLE = "ecg-beat-ensemble"


# ------------------------------------------------------------------------------------ validation
def check_beats(X: Any, name: str = "X") -> np.ndarray:
    """Validate a beat matrix and return it as float32 ``(n_beats, length)``.

    A 1-D array is taken as one beat. Built on
    :func:`cardioclarity.validation.check_finite_matrix`.

    Raises
    ------
    InvalidInputError
        Empty input, more than two dimensions, non-numeric cells or NaN/inf.
    """
    return check_finite_matrix(X, name, dtype=np.float32)


def resample_beats(X: np.ndarray, length: int) -> np.ndarray:
    """Linearly resample every beat to ``length`` samples (keeps the first and last sample).

    Linear interpolation rather than Fourier resampling: beats are not periodic, and FFT
    resampling rings at their edges.
    """
    X = check_beats(X)
    if int(length) < 2:
        raise InvalidInputError(f"length must be >= 2, got {length}.")
    if X.shape[1] == length:
        return X
    old = np.linspace(0.0, 1.0, X.shape[1])
    new = np.linspace(0.0, 1.0, int(length))
    return np.stack([np.interp(new, old, row) for row in X]).astype(np.float32)


def fit_threshold(scores_normal: np.ndarray, strategy: str = "percentile", *,
                  percentile: float = 97.5, k: float = 1.0,
                  scores_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> float:
    """Choose a decision threshold on anomaly scores (``predict = score >= threshold``).

    Parameters
    ----------
    scores_normal : ndarray
        Anomaly scores of held-out normal beats (``percentile`` and ``mean_std``).
    strategy : {"percentile", "mean_std", "best_f1"}
    percentile : float
        For ``"percentile"``, in (0, 100].
    k : float
        For ``"mean_std"``.
    scores_val, y_val : ndarray, optional
        Scores and labels (1 = anomaly) of a labelled validation split, for ``"best_f1"``.
    """
    s = np.asarray(scores_normal, dtype=float)
    if strategy == "percentile":
        if not 0 < percentile <= 100:
            raise InvalidInputError(f"percentile must be in (0, 100], got {percentile}.")
        return float(np.percentile(s, percentile))
    if strategy == "mean_std":
        return float(s.mean() + k * s.std())
    if strategy == "best_f1":
        if scores_val is None or y_val is None:
            raise InvalidInputError(
                "threshold='best_f1' needs a labelled validation split.",
                hint="call fit(X_normal, X_val=..., y_val=...) with y_val 1 = anomaly, or use "
                "threshold='percentile' which needs no abnormal labels.")
        return best_f1_threshold(y_val, scores_val)[0]
    raise InvalidInputError(f"Unknown threshold strategy '{strategy}'.",
                            hint=f"valid strategies: {', '.join(THRESHOLD_STRATEGIES)}.")


def _split_normal(X: np.ndarray, X_val: np.ndarray | None, y_val: np.ndarray | None,
                  val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train beats, validation-normal beats): given validation normals, or a seeded hold-out."""
    if X_val is not None:
        Xv = check_beats(X_val, "X_val")
        if y_val is not None:
            yv = _check_labels(y_val, Xv.shape[0])
            Xv = Xv[yv == 0]
        if Xv.shape[0] < 2:
            raise InvalidInputError("the validation split holds fewer than 2 normal beats.",
                                    hint="give a larger X_val with normal beats (y_val == 0).")
        return X, Xv
    if not 0 < val_fraction < 1:
        raise InvalidInputError(f"val_fraction must be in (0, 1), got {val_fraction}.")
    n_val = max(2, round(val_fraction * X.shape[0]))
    if X.shape[0] - n_val < 2:
        raise InvalidInputError(
            f"need at least {n_val + 2} normal beats to hold out a validation split, "
            f"got {X.shape[0]}.", hint="give more normal beats or pass X_val explicitly.")
    perm = np.random.default_rng(seed).permutation(X.shape[0])
    return X[perm[n_val:]], X[perm[:n_val]]


def _require_labels_for_best_f1(strategy: str, X_val: Any, y_val: Any) -> None:
    # Fail before training, not after minutes of it.
    if strategy == "best_f1" and (X_val is None or y_val is None):
        raise InvalidInputError(
            "threshold='best_f1' needs a labelled validation split.",
            hint="call fit(X_normal, X_val=..., y_val=...) with y_val 1 = anomaly (CLI: --val), or "
            "use threshold='percentile' which needs no abnormal labels.")


def _check_labels(y: Any, n: int) -> np.ndarray:
    yv = np.asarray(y)
    if yv.shape != (n,) or not np.isin(yv, (0, 1)).all():
        raise InvalidInputError(
            f"y_val must be {n} labels of 0 (normal) / 1 (anomaly), got shape {yv.shape} "
            f"with values {np.unique(yv)[:5].tolist()}.")
    return yv.astype(int)


# -------------------------------------------------------------------------------------- scaling
def _fit_scaler(X: np.ndarray, method: str) -> dict[str, Any]:
    """Global scaling parameters from training beats (plain floats: they go into checkpoints)."""
    if method == "minmax":
        lo, hi = float(X.min()), float(X.max())
        return {"method": method, "min": lo, "max": hi if hi > lo else lo + 1.0}
    if method == "standard":
        return {"method": method, "mean": float(X.mean()), "std": float(X.std()) or 1.0}
    if method in ("beat_zscore", "none"):
        return {"method": method}
    raise InvalidInputError(f"Unknown scaling '{method}'.", hint=f"valid: {', '.join(SCALINGS)}.")


def _scale(X: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    m = p["method"]
    if m == "minmax":
        return (X - p["min"]) / (p["max"] - p["min"])
    if m == "standard":
        return (X - p["mean"]) / p["std"]
    if m == "beat_zscore":
        sd = X.std(axis=1, keepdims=True)
        return (X - X.mean(axis=1, keepdims=True)) / np.where(sd > 1e-8, sd, 1.0)
    return X


def _unscale(Z: np.ndarray, p: dict[str, Any], X: np.ndarray) -> np.ndarray:
    m = p["method"]
    if m == "minmax":
        return Z * (p["max"] - p["min"]) + p["min"]
    if m == "standard":
        return Z * p["std"] + p["mean"]
    if m == "beat_zscore":
        sd = X.std(axis=1, keepdims=True)
        return Z * np.where(sd > 1e-8, sd, 1.0) + X.mean(axis=1, keepdims=True)
    return Z


# ------------------------------------------------------------------------------------- configs
@dataclass
class TrainConfig:
    """How an autoencoder is trained (all defaults are CPU-friendly and deterministic).

    Attributes
    ----------
    max_epochs : int
        Upper bound; early stopping usually ends training sooner.
    batch_size, lr, weight_decay : training hyper-parameters (Adam).
    patience : int
        Stop after this many epochs without a validation-loss improvement of ``min_delta``
        (relative); the best epoch's weights are restored.
    val_fraction : float
        Share of the normal beats held out for early stopping and the threshold, when no
        ``X_val`` is given to ``fit``.
    noise_std : float or None
        Gaussian input noise during training (denoising); None = the architecture's default.
    seed : int
        Seeds weight init, shuffling, noise and the validation split.
    num_threads : int
        Torch CPU threads while training and scoring. One by default: these models are small,
        and on a busy 2-core machine a second thread spends more time waiting for the first
        than computing (measured: a conv1d training step ~20 ms on 1 thread, ~1 s on 2 under
        load).
    """

    max_epochs: int = 150
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-5
    patience: int = 15
    min_delta: float = 1e-3
    val_fraction: float = 0.2
    noise_std: float | None = None
    seed: int = 0
    num_threads: int = 1


class _ThreadLimit:
    """Context manager: cap torch's CPU threads, restore afterwards.

    ``torch.set_num_threads`` is process-wide, so concurrent users (the REST backend scores on
    several worker threads) share one reference count: the first to enter saves the setting and
    the last to leave restores it. Saving/restoring per instance would let interleaved exits
    leave the process stuck on the reduced count.
    """

    _lock = threading.Lock()
    _depth = 0
    _saved = 1

    def __init__(self, n: int) -> None:
        self.n = max(1, int(n))

    def __enter__(self) -> None:
        cls = type(self)
        with cls._lock:
            if cls._depth == 0:
                cls._saved = torch.get_num_threads()
                torch.set_num_threads(min(cls._saved, self.n))
            cls._depth += 1

    def __exit__(self, *exc: object) -> None:
        cls = type(self)
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0:
                torch.set_num_threads(cls._saved)


# --------------------------------------------------------------------------------- base detector
class _BaseDetector:
    """Thresholding, prediction and input checks shared by every detector."""

    name: str = "detector"
    #: Checkpoint kind that :meth:`save` writes (each concrete detector sets its own).
    kind: str = KIND_AE
    #: Rows scored per forward pass: large batches amortise Python overhead.
    score_batch_size: int = 8192
    #: The loaded checkpoint's card; None for a detector fitted in this process.
    _card: dict[str, Any] | None = None

    def __init__(self, *, threshold: str = "percentile", percentile: float = 97.5,
                 k: float = 1.0, seed: int = 0) -> None:
        if threshold not in THRESHOLD_STRATEGIES:
            raise InvalidInputError(f"Unknown threshold strategy '{threshold}'.",
                                    hint=f"valid strategies: {', '.join(THRESHOLD_STRATEGIES)}.")
        self.threshold = threshold
        self.percentile = float(percentile)
        self.k = float(k)
        self.seed = int(seed)
        self.training_data: dict[str, Any] = {}

    # -- model card -----------------------------------------------------------------------------
    @property
    def card(self) -> dict[str, Any]:
        """Model card: name, kind, model, version, training data, metrics, threshold.

        A loaded detector returns its checkpoint's card
        (:func:`cardioclarity.checkpoints.card_from_checkpoint`); one fitted in this process and
        never saved returns what it knows about itself (name, kind, model and, once fitted,
        threshold, input length, label convention and training data).
        """
        if self._card is not None:
            return dict(self._card)
        card: dict[str, Any] = {"name": self.name, "kind": self.kind, "model": self._model_name()}
        if hasattr(self, "threshold_"):
            card.update(threshold=float(self.threshold_), input_length=int(self.input_length_),
                        label_convention=LABEL_CONVENTION, training_data=dict(self.training_data))
        return card

    def _model_name(self) -> str:
        return self.name

    # -- fitted state ---------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet.",
                                 hint="call fit(X_normal) or load a checkpoint first.")

    def _prepare(self, X: Any, resample: bool) -> np.ndarray:
        self._check_fitted()
        X = check_beats(X)
        if X.shape[1] != self.input_length_:
            if not resample:
                raise InvalidInputError(
                    f"beats have {X.shape[1]} samples but this detector was trained on "
                    f"{self.input_length_}-sample beats.",
                    hint="resample them (resample=True, CLI --resample) or use a detector trained "
                    "on beats of this length.")
            X = resample_beats(X, self.input_length_)
        return X

    def prepare(self, X: Any, *, resample: bool = False) -> np.ndarray:
        """Validate beats for this detector (and resample them to ``input_length_`` if asked)."""
        return self._prepare(X, resample)

    def _set_threshold(self, val_normal_scores: np.ndarray, X_val: Any, y_val: Any) -> None:
        self.val_scores_ = np.asarray(val_normal_scores, dtype=np.float64)
        scores_val = yv = None
        if self.threshold == "best_f1" and X_val is not None and y_val is not None:
            Xv = check_beats(X_val, "X_val")
            yv = _check_labels(y_val, Xv.shape[0])
            scores_val = self.anomaly_score(Xv, resample=False, _skip_checks=True)
        self.threshold_ = fit_threshold(self.val_scores_, self.threshold, percentile=self.percentile,
                                        k=self.k, scores_val=scores_val, y_val=yv)

    def set_threshold(self, threshold: float) -> _BaseDetector:
        """Override the learned threshold (e.g. one chosen on your own validation data)."""
        self._check_fitted()
        self.threshold_ = float(threshold)
        return self

    # -- scoring --------------------------------------------------------------------------------
    def anomaly_score(self, X: Any, *, resample: bool = False, _skip_checks: bool = False
                      ) -> np.ndarray:
        """Per-beat anomaly score, higher = more abnormal.

        Parameters
        ----------
        X : array-like (n_beats, length)
        resample : bool
            Linearly resample beats of another length to ``input_length_`` instead of raising.
        """
        Xc = X if _skip_checks else self._prepare(X, resample)
        return self._raw_scores(Xc)

    def score_samples(self, X: Any, *, resample: bool = False) -> np.ndarray:
        """``-anomaly_score(X)``: scikit-learn's convention, higher = more normal."""
        return -self.anomaly_score(X, resample=resample)

    def predict(self, X: Any, *, resample: bool = False) -> np.ndarray:
        """1 = anomaly, 0 = normal (``anomaly_score >= threshold_``)."""
        return (self.anomaly_score(X, resample=resample) >= self.threshold_).astype(int)

    def _raw_scores(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Plain-value summary for reports, JSON outputs and model cards."""
        self._check_fitted()
        return {"name": self.name, "type": type(self).__name__,
                "input_length": int(self.input_length_), "threshold": float(self.threshold_),
                "threshold_strategy": self.threshold, "percentile": self.percentile, "k": self.k,
                "label_convention": LABEL_CONVENTION, "training_data": self.training_data}

    def _common_meta(self) -> dict[str, Any]:
        return {"threshold": float(self.threshold_), "input_length": int(self.input_length_),
                "threshold_strategy": {"strategy": self.threshold, "percentile": self.percentile,
                                       "k": self.k},
                "val_scores": self.val_scores_.tolist(), "label_convention": LABEL_CONVENTION,
                "training_data": self.training_data, "seed": self.seed}

    def _ckpt_parts(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def save(self, path: str | Path, **metadata: Any) -> Path:
        """Write a self-describing checkpoint: weights, config, scaling, threshold, label
        convention and training-data description; ``metadata`` adds plain values (metrics...).
        """
        return save_checkpoint(path, **{**self._ckpt_parts(), **metadata})

    def _restore_common(self, ckpt: dict[str, Any]) -> None:
        ts = ckpt.get("threshold_strategy", {})
        self.threshold = ts.get("strategy", "percentile")
        self.percentile = float(ts.get("percentile", 97.5))
        self.k = float(ts.get("k", 1.0))
        self.seed = int(ckpt.get("seed", 0))
        self.training_data = dict(ckpt.get("training_data") or {})
        self.input_length_ = int(ckpt["input_length"])
        self.val_scores_ = np.asarray(ckpt.get("val_scores", []), dtype=np.float64)
        self.threshold_ = float(ckpt["threshold"])
        self._card = card_from_checkpoint(ckpt)

