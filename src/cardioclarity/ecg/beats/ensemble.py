"""The ensemble beat detector: calibrated member scores (autoencoders and classical) averaged.

Builds on :mod:`.base` (the shared contract), :mod:`.autoencoder` and :mod:`.classical` (its
members); nothing imports it back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cardioclarity.checkpoints import load_checkpoint, save_checkpoint
from cardioclarity.ecg.beats.autoencoder import BeatAnomalyDetector
from cardioclarity.ecg.beats.base import (
    KIND_AE,
    KIND_CLASSICAL,
    KIND_ENSEMBLE,
    TrainConfig,
    _BaseDetector,
    _check_labels,
    _require_labels_for_best_f1,
    _split_normal,
    check_beats,
)
from cardioclarity.ecg.beats.classical import ClassicalDetector
from cardioclarity.ecg.beats.models import list_models
from cardioclarity.ecg.beats.names import CALIBRATIONS, CLASSICAL_METHODS, DEFAULT_DETECTOR
from cardioclarity.errors import CheckpointError, InvalidInputError

__all__ = ["EnsembleDetector"]


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

    kind = KIND_ENSEMBLE

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

    def _model_name(self) -> str:
        return "ensemble"

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
        return det

    @classmethod
    def load(cls, name_or_path: str | Path | None = None) -> EnsembleDetector:
        """Load an ensemble checkpoint written by :meth:`save` (its card is ``.card``).

        ``None`` loads :data:`~cardioclarity.ecg.beats.names.DEFAULT_DETECTOR`.
        """
        target = DEFAULT_DETECTOR if name_or_path is None else name_or_path
        return cls._from_ckpt(load_checkpoint(target, expected_kind=KIND_ENSEMBLE))

