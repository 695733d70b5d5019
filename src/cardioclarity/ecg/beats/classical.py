"""Classical beat detectors on the same contract: k-nearest-neighbour distance, Isolation Forest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cardioclarity.checkpoints import load_checkpoint
from cardioclarity.ecg.beats.base import (
    KIND_CLASSICAL,
    _BaseDetector,
    _require_labels_for_best_f1,
    _split_normal,
    check_beats,
)
from cardioclarity.ecg.beats.names import CLASSICAL_METHODS
from cardioclarity.errors import CheckpointError, InvalidInputError

__all__ = ["ClassicalDetector"]


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

    kind = KIND_CLASSICAL

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
    def load(cls, name_or_path: str | Path | None = None) -> ClassicalDetector:
        """Load a knn checkpoint written by :meth:`save` (its card is ``.card``).

        No classical detector is bundled, so ``name_or_path`` is required; ``None`` raises
        :class:`~cardioclarity.errors.InvalidInputError` (the one-protocol signature is kept).
        """
        if name_or_path is None:
            raise InvalidInputError("No classical detector is bundled; give a checkpoint path.",
                                    hint="train one with `cardioclarity ecg train --model knn`.")
        return cls._from_ckpt(load_checkpoint(name_or_path, expected_kind=KIND_CLASSICAL))

