"""Beat anomaly detectors with the scikit-learn contract: autoencoders, classical baselines, ensembles.

All detectors are trained on *normal* beats only and follow one contract::

    det = BeatAnomalyDetector(model="conv1d").fit(X_normal)      # returns self
    det.anomaly_score(X)    # higher = more abnormal (reconstruction error for autoencoders)
    det.score_samples(X)    # = -anomaly_score(X): scikit-learn's "higher = more normal"
    det.predict(X)          # 1 = anomaly, 0 = normal (anomaly_score >= threshold_)
    det.threshold_, det.input_length_, det.val_scores_, det.history_   # learned attributes
    det.save("my.pt"); BeatAnomalyDetector.load("my.pt")              # self-describing checkpoint

Thresholds never look at test data. Strategies (``threshold=``):

``"percentile"`` (default)
    The ``percentile``-th percentile of anomaly scores of held-out *normal* validation beats. Needs
    no abnormal labels; the expected false-positive rate on normal beats is ``1 - percentile/100``.
``"mean_std"``
    ``mean + k * std`` of those validation-normal scores (the seed project's rule, which it applied
    to training errors).
``"best_f1"``
    The score that maximises F1 (positive class = anomaly) on a *labelled* validation split
    ``fit(..., X_val=..., y_val=...)``.

The :class:`EnsembleDetector` combines several autoencoders and classical detectors
(:class:`ClassicalDetector`: k-nearest-neighbour distance or Isolation Forest) after calibrating each
member's scores on the validation-normal beats (z-score or empirical rank), so members with errors on
different scales can be averaged.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cardioclarity.checkpoints import list_bundled, load_checkpoint, save_checkpoint
from cardioclarity.ecg.beats.models import MIN_LENGTH, build_model, list_models, model_spec

# The names live in a torch-free module for the CLI; re-exported here, where they are used.
from cardioclarity.ecg.beats.names import (
    CALIBRATIONS,
    CLASSICAL_METHODS,
    DEFAULT_DETECTOR,
    THRESHOLD_STRATEGIES,
)
from cardioclarity.errors import CheckpointError, InvalidInputError, NotFittedError
from cardioclarity.metrics import best_f1_threshold
from cardioclarity.reporting import progress

__all__ = [
    "CLASSICAL_METHODS",
    "DEFAULT_DETECTOR",
    "LABEL_CONVENTION",
    "SCALINGS",
    "THRESHOLD_STRATEGIES",
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

#: How predictions and scores are coded everywhere (written into every checkpoint and report).
LABEL_CONVENTION = {"positive_class": "anomaly", "1": "anomaly", "0": "normal",
                    "score": "higher = more abnormal"}
SCALINGS = ("minmax", "standard", "beat_zscore", "none")
KIND_AE = "ecg-beat-detector"
KIND_CLASSICAL = "ecg-beat-classical"
KIND_ENSEMBLE = "ecg-beat-ensemble"


# ------------------------------------------------------------------------------------ validation
def check_beats(X: Any, name: str = "X") -> np.ndarray:
    """Validate a beat matrix and return it as float32 ``(n_beats, length)``.

    A 1-D array is taken as one beat. Raises :class:`InvalidInputError` for empty input,
    more than two dimensions, non-numeric cells or NaN/inf.
    """
    try:
        arr = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{name} must be a numeric beat matrix (n_beats, length); could not convert it ({exc}).",
            hint="ragged rows or text cells? read files with cardioclarity.ecg.beats.io.read_beats.") from exc
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InvalidInputError(f"{name} must be 2-D (n_beats, length), got shape {arr.shape}.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(f"{name} is empty (shape {arr.shape}); need at least one beat.")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise InvalidInputError(
            f"{name} contains NaN or inf in {rows.size} beat(s) (first rows: {rows[:5].tolist()}).",
            hint="drop or repair those beats before scoring.")
    return arr


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
    #: Rows scored per forward pass: large batches amortise Python overhead.
    score_batch_size: int = 8192

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


# ----------------------------------------------------------------------------- autoencoder detector
class BeatAnomalyDetector(_BaseDetector):
    """Autoencoder beat-anomaly detector: reconstruction error of a model trained on normal beats.

    Parameters
    ----------
    model : str
        Architecture from :func:`cardioclarity.ecg.beats.models.list_models` (``dense``, ``conv1d``,
        ``lstm``, ``resconv``).
    model_config : dict, optional
        Overrides of the architecture's config (``input_length`` is set by ``fit``).
    train : TrainConfig or dict, optional
        Training recipe.
    scaling : {"minmax", "standard", "beat_zscore", "none"}, optional
        Input scaling fitted on the training beats; default: the architecture's.
    loss : {"l1", "mse"}, optional
        Training loss and per-beat anomaly score (mean absolute / squared error on the scaled
        beat); default: the architecture's.
    threshold, percentile, k : see the module docstring.

    Attributes
    ----------
    model_ : torch.nn.Module
    input_length_ : int
    scaler_ : dict
        Scaling parameters fitted on the training beats.
    threshold_ : float
    val_scores_ : ndarray
        Anomaly scores of the validation-normal beats (threshold and ensemble calibration).
    history_ : list of dict
        Per-epoch ``train_loss`` / ``val_loss``.
    best_epoch_, fit_seconds_ : int, float
    """

    def __init__(self, model: str = "conv1d", *, model_config: dict[str, Any] | None = None,
                 train: TrainConfig | dict[str, Any] | None = None, scaling: str | None = None,
                 loss: str | None = None, threshold: str = "percentile", percentile: float = 97.5,
                 k: float = 1.0, seed: int | None = None) -> None:
        spec = model_spec(model)
        tc = train if isinstance(train, TrainConfig) else TrainConfig(**(train or {}))
        if seed is not None:
            tc = dataclasses.replace(tc, seed=int(seed))
        super().__init__(threshold=threshold, percentile=percentile, k=k, seed=tc.seed)
        self.model = model
        self.name = model
        self.model_config = dict(model_config or {})
        self.model_config.pop("input_length", None)
        self.train_config = tc
        self.scaling = scaling or spec.scaling
        if self.scaling not in SCALINGS:
            raise InvalidInputError(f"Unknown scaling '{self.scaling}'.",
                                    hint=f"valid: {', '.join(SCALINGS)}.")
        self.loss = loss or spec.loss
        if self.loss not in ("l1", "mse"):
            raise InvalidInputError(f"Unknown loss '{self.loss}'.", hint="valid: l1, mse.")

    # -- training -------------------------------------------------------------------------------
    def fit(self, X_normal: Any, X_val: Any = None, y_val: Any = None, *,
            data_description: dict[str, Any] | None = None,
            show_progress: bool | None = None) -> BeatAnomalyDetector:
        """Train on normal beats; hold out validation-normal beats for early stopping + threshold.

        Parameters
        ----------
        X_normal : array-like (n_beats, length)
            Normal beats only. Any length >= 16 samples.
        X_val, y_val : array-like, optional
            A validation split. Its normal beats (``y_val == 0``; all of them when ``y_val`` is
            None) replace the internal hold-out; with ``threshold="best_f1"`` its labels choose
            the threshold.
        data_description : dict, optional
            Stored in the checkpoint as ``training_data`` (source, split, label convention...).
        show_progress : bool, optional
            Progress bar per epoch (default: when stderr is a terminal).

        Returns
        -------
        self
        """
        _require_labels_for_best_f1(self.threshold, X_val, y_val)
        X = check_beats(X_normal, "X_normal")
        if X.shape[1] < MIN_LENGTH:
            raise InvalidInputError(f"beats must have >= {MIN_LENGTH} samples, got {X.shape[1]}.")
        tc = self.train_config
        X_tr, X_va = _split_normal(X, X_val, y_val, tc.val_fraction, tc.seed)
        if X_va.shape[1] != X.shape[1]:
            raise InvalidInputError(f"X_val beats have {X_va.shape[1]} samples, X_normal "
                                    f"{X.shape[1]}; they must match.")
        t0 = time.perf_counter()
        with _ThreadLimit(tc.num_threads):
            self.input_length_ = int(X.shape[1])
            self.scaler_ = _fit_scaler(X_tr, self.scaling)
            torch.manual_seed(tc.seed)
            self.model_ = build_model(self.model, self.input_length_, **self.model_config)
            self._train(_scale(X_tr, self.scaler_).astype(np.float32),
                        _scale(X_va, self.scaler_).astype(np.float32), show_progress)
        self.fit_seconds_ = time.perf_counter() - t0
        self.n_train_ = int(X_tr.shape[0])
        self.training_data = {"n_train_normal": int(X_tr.shape[0]),
                              "n_val_normal": int(X_va.shape[0]), **(data_description or {})}
        self._set_threshold(self._raw_scores(X_va), X_val, y_val)
        return self

    def _loss(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(recon, target) if self.loss == "l1" else F.mse_loss(recon, target)

    def _train(self, Z_tr: np.ndarray, Z_va: np.ndarray, show_progress: bool | None) -> None:
        tc = self.train_config
        noise = model_spec(self.model).noise_std if tc.noise_std is None else tc.noise_std
        gen = torch.Generator().manual_seed(tc.seed)
        xt, xv = torch.from_numpy(Z_tr), torch.from_numpy(Z_va)
        opt = torch.optim.Adam(self.model_.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5,
                                                           patience=max(2, tc.patience // 3))
        best, best_state, since = float("inf"), None, 0
        self.history_ = []
        epochs = progress(range(tc.max_epochs), desc=f"train {self.model}", unit="epoch",
                          disable=None if show_progress is None else not show_progress)
        for epoch in epochs:
            self.model_.train()
            perm = torch.randperm(xt.shape[0], generator=gen)
            total = 0.0
            for i in range(0, xt.shape[0], tc.batch_size):
                idx = perm[i:i + tc.batch_size]
                if idx.numel() < 2 and any(isinstance(m, torch.nn.BatchNorm1d)
                                           for m in self.model_.modules()):
                    continue  # BatchNorm cannot normalise a batch of one
                target = xt[idx]
                inp = target + noise * torch.randn(target.shape, generator=gen) if noise else target
                loss = self._loss(self.model_(inp), target)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.numel()
            val = self._eval_loss(xv)
            sched.step(val)
            self.history_.append({"epoch": epoch + 1, "train_loss": total / xt.shape[0],
                                  "val_loss": val})
            if val < best * (1 - tc.min_delta):
                best, since = val, 0
                best_state = copy.deepcopy(self.model_.state_dict())
                self.best_epoch_ = epoch + 1
            else:
                since += 1
                if since >= tc.patience:
                    break
        if best_state is not None:
            self.model_.load_state_dict(best_state)
        self.model_.eval()

    def _eval_loss(self, xv: torch.Tensor) -> float:
        self.model_.eval()
        with torch.inference_mode():
            return float(self._loss(self.model_(xv), xv))

    # -- inference ------------------------------------------------------------------------------
    def _reconstruct_scaled(self, Z: np.ndarray) -> np.ndarray:
        self.model_.eval()
        out = np.empty_like(Z)
        with torch.inference_mode(), _ThreadLimit(self.train_config.num_threads):
            for i in range(0, Z.shape[0], self.score_batch_size):
                out[i:i + self.score_batch_size] = self.model_(
                    torch.from_numpy(Z[i:i + self.score_batch_size])).numpy()
        return out

    def _raw_scores(self, X: np.ndarray) -> np.ndarray:
        Z = _scale(X, self.scaler_).astype(np.float32)
        err = self._reconstruct_scaled(Z) - Z
        return (np.abs(err) if self.loss == "l1" else err**2).mean(axis=1).astype(np.float64)

    def reconstruct(self, X: Any, *, resample: bool = False) -> np.ndarray:
        """Reconstructions of the beats, in the input's own units (for plots)."""
        X = self._prepare(X, resample)
        Z = _scale(X, self.scaler_).astype(np.float32)
        return _unscale(self._reconstruct_scaled(Z), self.scaler_, X).astype(np.float32)

    def error_profile(self, X: Any, *, resample: bool = False) -> np.ndarray:
        """Per-sample absolute reconstruction error ``|x - x_hat|`` in input units."""
        X = self._prepare(X, resample)
        return np.abs(X - self.reconstruct(X))

    # -- persistence ----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(model=self.model, scaling=self.scaling, loss=self.loss,
                 best_epoch=getattr(self, "best_epoch_", None),
                 fit_seconds=getattr(self, "fit_seconds_", None))
        return d

    def _ckpt_parts(self) -> dict[str, Any]:
        self._check_fitted()
        return dict(kind=KIND_AE, model=self.model, config=asdict(self.model_.config),
                    state_dict=self.model_.state_dict(), train_config=asdict(self.train_config),
                    preprocessing={"scaling": self.scaler_, "loss": self.loss},
                    history=self.history_, best_epoch=getattr(self, "best_epoch_", None),
                    fit_seconds=getattr(self, "fit_seconds_", None), **self._common_meta())

    @classmethod
    def _from_ckpt(cls, ckpt: dict[str, Any]) -> BeatAnomalyDetector:
        if ckpt["model"] not in list_models():
            raise CheckpointError(f"Checkpoint holds unknown architecture '{ckpt['model']}'.",
                                  hint=f"known: {', '.join(list_models())}.")
        try:
            pre = ckpt["preprocessing"]
            det = cls(ckpt["model"], train=TrainConfig(**ckpt["train_config"]),
                      scaling=pre["scaling"]["method"], loss=pre["loss"])
            det._restore_common(ckpt)
            cfg = dict(ckpt["config"])
            det.model_config = {k: v for k, v in cfg.items() if k != "input_length"}
            det.model_ = build_model(det.model, int(cfg["input_length"]), **det.model_config)
            det.model_.load_state_dict(ckpt["state_dict"])
            det.model_.eval()
            det.scaler_ = dict(pre["scaling"])
        except (KeyError, TypeError, RuntimeError, InvalidInputError) as exc:
            raise CheckpointError(
                f"Checkpoint '{ckpt.get('path', '?')}' is inconsistent: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200]}",
                hint="it may be from another version or damaged; retrain with `ecg train`.") from exc
        det.history_ = list(ckpt.get("history") or [])
        if ckpt.get("best_epoch") is not None:
            det.best_epoch_ = int(ckpt["best_epoch"])
        det.checkpoint_meta_ = {k: v for k, v in ckpt.items() if k != "state_dict"}
        return det

    @classmethod
    def load(cls, path_or_name: str | Path) -> BeatAnomalyDetector:
        """Load a checkpoint file or a bundled name (see ``cardioclarity models``)."""
        return cls._from_ckpt(load_checkpoint(path_or_name, expected_kind=KIND_AE))


# --------------------------------------------------------------------------------- classical
class ClassicalDetector(_BaseDetector):
    """Classical baselines on the same contract: k-NN distance or Isolation Forest.

    Parameters
    ----------
    method : {"knn", "iforest"}
        ``knn``: distance to the ``n_neighbors``-th nearest training beat (PyOD's KNN "largest").
        ``iforest``: scikit-learn Isolation Forest, ``-score_samples``.
    n_neighbors : int
    n_estimators : int
        Trees of the Isolation Forest.
    """

    def __init__(self, method: str = "knn", *, n_neighbors: int = 5, n_estimators: int = 200,
                 threshold: str = "percentile", percentile: float = 97.5, k: float = 1.0,
                 seed: int = 0, val_fraction: float = 0.2) -> None:
        if method not in CLASSICAL_METHODS:
            raise InvalidInputError(f"Unknown classical method '{method}'.",
                                    hint=f"valid: {', '.join(CLASSICAL_METHODS)}.")
        super().__init__(threshold=threshold, percentile=percentile, k=k, seed=seed)
        self.method = method
        self.name = method
        self.n_neighbors = int(n_neighbors)
        self.n_estimators = int(n_estimators)
        self.val_fraction = float(val_fraction)

    def fit(self, X_normal: Any, X_val: Any = None, y_val: Any = None, *,
            data_description: dict[str, Any] | None = None, **_: Any) -> ClassicalDetector:
        """Fit on normal beats (validation-normal beats give the threshold). Returns self."""
        _require_labels_for_best_f1(self.threshold, X_val, y_val)
        X = check_beats(X_normal, "X_normal")
        X_tr, X_va = _split_normal(X, X_val, y_val, self.val_fraction, self.seed)
        t0 = time.perf_counter()
        self.input_length_ = int(X.shape[1])
        self._fit_model(X_tr)
        self.fit_seconds_ = time.perf_counter() - t0
        self.training_data = {"n_train_normal": int(X_tr.shape[0]),
                              "n_val_normal": int(X_va.shape[0]), **(data_description or {})}
        self._set_threshold(self._raw_scores(X_va), X_val, y_val)
        return self

    def _fit_model(self, X_tr: np.ndarray) -> None:
        if self.method == "knn":
            from sklearn.neighbors import NearestNeighbors

            if X_tr.shape[0] <= self.n_neighbors:
                raise InvalidInputError(
                    f"knn needs more than n_neighbors={self.n_neighbors} training beats, "
                    f"got {X_tr.shape[0]}.")
            self.train_X_ = X_tr.astype(np.float32)
            self.nn_ = NearestNeighbors(n_neighbors=self.n_neighbors).fit(self.train_X_)
        else:
            from sklearn.ensemble import IsolationForest

            self.forest_ = IsolationForest(n_estimators=self.n_estimators,
                                           random_state=self.seed).fit(X_tr)

    def _raw_scores(self, X: np.ndarray) -> np.ndarray:
        if self.method == "knn":
            dist, _ = self.nn_.kneighbors(X, n_neighbors=self.n_neighbors)
            return dist[:, -1].astype(np.float64)
        return -self.forest_.score_samples(X).astype(np.float64)

    def _ckpt_parts(self) -> dict[str, Any]:
        self._check_fitted()
        if self.method != "knn":
            raise CheckpointError(
                "An Isolation Forest cannot be stored in a weights-only checkpoint.",
                hint="refit it from data, or save a knn / autoencoder detector instead.")
        return dict(kind=KIND_CLASSICAL, model=self.method,
                    config={"n_neighbors": self.n_neighbors, "n_estimators": self.n_estimators},
                    state_dict={"train_X": torch.from_numpy(self.train_X_)}, **self._common_meta())

    @classmethod
    def _from_ckpt(cls, ckpt: dict[str, Any]) -> ClassicalDetector:
        try:
            det = cls(ckpt["model"], n_neighbors=int(ckpt["config"]["n_neighbors"]))
            det._restore_common(ckpt)
            det._fit_model(ckpt["state_dict"]["train_X"].numpy())
        except (KeyError, TypeError, InvalidInputError) as exc:
            raise CheckpointError(f"Classical checkpoint is inconsistent: {exc}",
                                  hint="refit it with `ecg train`.") from exc
        return det

    @classmethod
    def load(cls, path_or_name: str | Path) -> ClassicalDetector:
        """Load a knn checkpoint written by :meth:`save`."""
        return cls._from_ckpt(load_checkpoint(path_or_name, expected_kind=KIND_CLASSICAL))


# ----------------------------------------------------------------------------------- ensemble
def _make_member(spec: str | _BaseDetector, seed: int, train: TrainConfig | dict | None
                 ) -> _BaseDetector:
    if isinstance(spec, _BaseDetector):
        return spec
    if spec in CLASSICAL_METHODS:
        return ClassicalDetector(spec, seed=seed)
    if spec in list_models():
        return BeatAnomalyDetector(spec, train=train, seed=seed)
    raise InvalidInputError(f"Unknown ensemble member '{spec}'.",
                            hint=f"valid: {', '.join([*list_models(), *CLASSICAL_METHODS])}.")


class EnsembleDetector(_BaseDetector):
    """Average of calibrated member scores (autoencoders and classical detectors).

    Each member is fitted on the same training beats; its scores are calibrated on the shared
    validation-normal beats (which no member trained on), then averaged.

    Parameters
    ----------
    members : sequence of str or detectors
        Registry names (``conv1d``, ``resconv``, ``knn``...) or unfitted detector instances.
    calibration : {"zscore", "rank"}
        ``zscore``: ``(s - mean) / std`` of the member's validation-normal scores.
        ``rank``: share of validation-normal scores below ``s`` (empirical CDF, ties half),
        extended linearly beyond the largest normal score so anomalies stay ordered.
    weights : sequence of float, optional
        Member weights (default equal).
    train : TrainConfig or dict, optional
        Training recipe of the autoencoder members.
    """

    def __init__(self, members: Sequence[str | _BaseDetector] = ("dense", "knn"), *,
                 calibration: str = "zscore", weights: Sequence[float] | None = None,
                 train: TrainConfig | dict[str, Any] | None = None, threshold: str = "percentile",
                 percentile: float = 97.5, k: float = 1.0, seed: int = 0,
                 val_fraction: float = 0.2) -> None:
        super().__init__(threshold=threshold, percentile=percentile, k=k, seed=seed)
        if calibration not in CALIBRATIONS:
            raise InvalidInputError(f"Unknown calibration '{calibration}'.",
                                    hint=f"valid: {', '.join(CALIBRATIONS)}.")
        if not members:
            raise InvalidInputError("an ensemble needs at least one member.")
        self.members = [_make_member(m, seed, train) for m in members]
        self.calibration = calibration
        self.weights = np.ones(len(self.members)) if weights is None else np.asarray(weights, float)
        if self.weights.shape != (len(self.members),):
            raise InvalidInputError(f"weights must have one value per member ({len(self.members)}).")
        self.val_fraction = float(val_fraction)
        self.name = "ensemble(" + "+".join(m.name for m in self.members) + ")"

    def fit(self, X_normal: Any, X_val: Any = None, y_val: Any = None, *,
            data_description: dict[str, Any] | None = None,
            show_progress: bool | None = None) -> EnsembleDetector:
        """Fit every member on the same split, then calibrate on validation normals. Returns self."""
        _require_labels_for_best_f1(self.threshold, X_val, y_val)
        X = check_beats(X_normal, "X_normal")
        X_tr, X_va = _split_normal(X, X_val, y_val, self.val_fraction, self.seed)
        t0 = time.perf_counter()
        for m in self.members:
            # Every member gets the same explicit validation-normal beats: the calibration
            # must use beats that no member has trained on (a knn scores its own memory as 0).
            m.fit(X_tr, X_va, None, data_description=data_description,
                  **({"show_progress": show_progress} if isinstance(m, BeatAnomalyDetector) else {}))
        self.fit_seconds_ = time.perf_counter() - t0
        self.input_length_ = int(X.shape[1])
        self._calibrate()
        self.training_data = {"n_train_normal": int(X_tr.shape[0]),
                              "n_val_normal": int(X_va.shape[0]), **(data_description or {})}
        self._set_threshold(self._combine([m.val_scores_ for m in self.members]), X_val, y_val)
        return self

    @classmethod
    def from_fitted(cls, members: Sequence[_BaseDetector], X_val: Any, y_val: Any = None, *,
                    calibration: str = "zscore", threshold: str = "percentile",
                    percentile: float = 97.5, k: float = 1.0,
                    weights: Sequence[float] | None = None) -> EnsembleDetector:
        """Combine already fitted detectors, calibrating them on a validation split.

        ``X_val`` (its normal beats when ``y_val`` is given) must hold beats none of the members
        trained on. Lets a benchmark compare members and ensembles without retraining.
        """
        ens = cls(list(members), calibration=calibration, threshold=threshold,
                  percentile=percentile, k=k, weights=weights)
        for m in ens.members:
            m._check_fitted()
        Xv = check_beats(X_val, "X_val")
        normal = Xv if y_val is None else Xv[_check_labels(y_val, Xv.shape[0]) == 0]
        ens.input_length_ = int(ens.members[0].input_length_)
        if any(m.input_length_ != ens.input_length_ for m in ens.members):
            raise InvalidInputError("ensemble members were trained on beats of different lengths.")
        for m in ens.members:
            m.val_scores_ = m.anomaly_score(normal)
        ens._calibrate()
        ens.training_data = {"members": [m.training_data for m in ens.members]}
        ens._set_threshold(ens._combine([m.val_scores_ for m in ens.members]), X_val, y_val)
        return ens

    def _calibrate(self) -> None:
        self.calibration_ = []
        for m in self.members:
            v = np.sort(np.asarray(m.val_scores_, dtype=np.float64))
            self.calibration_.append({"mean": float(v.mean()), "std": float(v.std()) or 1.0,
                                      "sorted": v})

    def _calibrated(self, i: int, s: np.ndarray) -> np.ndarray:
        c = self.calibration_[i]
        if self.calibration == "zscore":
            return (s - c["mean"]) / c["std"]
        v = c["sorted"]
        lo = np.searchsorted(v, s, side="left")
        hi = np.searchsorted(v, s, side="right")
        cdf = (lo + hi) / (2.0 * v.size)
        # Past the largest normal score the ECDF is flat at 1: continue it in std units so a
        # grossly abnormal beat still outranks a barely abnormal one.
        return cdf + np.clip(s - v[-1], 0, None) / c["std"]

    def _combine(self, member_scores: Sequence[np.ndarray]) -> np.ndarray:
        cal = [self._calibrated(i, np.asarray(s, np.float64)) for i, s in enumerate(member_scores)]
        return np.average(np.stack(cal), axis=0, weights=self.weights)

    def member_scores(self, X: Any, *, resample: bool = False) -> dict[str, np.ndarray]:
        """Calibrated score of every member (for reports: which member flagged the beat)."""
        X = self._prepare(X, resample)
        return {f"{i}:{m.name}": self._calibrated(i, m._raw_scores(X))
                for i, m in enumerate(self.members)}

    def _raw_scores(self, X: np.ndarray) -> np.ndarray:
        return self._combine([m._raw_scores(X) for m in self.members])

    def reconstruct(self, X: Any, *, resample: bool = False) -> np.ndarray:
        """Reconstruction of the first autoencoder member (for plots)."""
        for m in self.members:
            if isinstance(m, BeatAnomalyDetector):
                return m.reconstruct(X, resample=resample)
        raise InvalidInputError("this ensemble has no autoencoder member to reconstruct beats.")

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(calibration=self.calibration, weights=self.weights.tolist(),
                 members=[m.describe() for m in self.members])
        return d

    def save(self, path: str | Path, **metadata: Any) -> Path:
        """One checkpoint holding every member (prefix ``m<i>.`` in the state dict)."""
        self._check_fitted()
        state: dict[str, Any] = {}
        members = []
        for i, m in enumerate(self.members):
            parts = m._ckpt_parts()
            for key, tensor in parts.pop("state_dict").items():
                state[f"m{i}.{key}"] = tensor
            members.append(parts)
        return save_checkpoint(path, kind=KIND_ENSEMBLE, model="ensemble",
                               config={"calibration": self.calibration,
                                       "weights": self.weights.tolist(),
                                       "members": [m.name for m in self.members]},
                               state_dict=state, members=members,
                               **{**self._common_meta(), **metadata})

    @classmethod
    def _from_ckpt(cls, ckpt: dict[str, Any]) -> EnsembleDetector:
        try:
            loaded: list[_BaseDetector] = []
            for i, part in enumerate(ckpt["members"]):
                prefix = f"m{i}."
                sub = dict(part, path=ckpt.get("path"), state_dict={
                    k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)})
                loader = {KIND_AE: BeatAnomalyDetector, KIND_CLASSICAL: ClassicalDetector}[part["kind"]]
                loaded.append(loader._from_ckpt(sub))
            cfg = ckpt["config"]
            det = cls(loaded, calibration=cfg["calibration"], weights=cfg["weights"])
            det._restore_common(ckpt)
            det._calibrate()
        except (KeyError, TypeError, InvalidInputError) as exc:
            raise CheckpointError(f"Ensemble checkpoint '{ckpt.get('path', '?')}' is inconsistent "
                                  f"({type(exc).__name__}: {exc}).",
                                  hint="retrain it with `ecg train --model ensemble`.") from exc
        det.checkpoint_meta_ = {k: v for k, v in ckpt.items() if k != "state_dict"}
        return det

    @classmethod
    def load(cls, path_or_name: str | Path) -> EnsembleDetector:
        """Load an ensemble checkpoint written by :meth:`save`."""
        return cls._from_ckpt(load_checkpoint(path_or_name, expected_kind=KIND_ENSEMBLE))


# ------------------------------------------------------------------------------------ helpers
AnyDetector = BeatAnomalyDetector | ClassicalDetector | EnsembleDetector


def load_detector(name_or_path: str | Path | None = None) -> AnyDetector:
    """Load any beat detector checkpoint (autoencoder, knn or ensemble) by path or bundled name.

    ``None`` loads :data:`DEFAULT_DETECTOR`, the bundled ECG5000 model (140-sample beats).
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
