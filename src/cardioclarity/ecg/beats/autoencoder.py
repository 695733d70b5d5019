"""The autoencoder beat detector: reconstruction error of a model trained on normal beats.

Architectures come from :mod:`cardioclarity.ecg.beats.models`; the shared contract (thresholds,
``predict``/``anomaly_score``/``score_samples``, ``.card``) from :mod:`.base`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cardioclarity.checkpoints import load_checkpoint
from cardioclarity.ecg.beats.base import (
    KIND_AE,
    SCALINGS,
    TrainConfig,
    _BaseDetector,
    _fit_scaler,
    _require_labels_for_best_f1,
    _scale,
    _split_normal,
    _ThreadLimit,
    _unscale,
    check_beats,
)
from cardioclarity.ecg.beats.models import MIN_LENGTH, build_model, list_models, model_spec
from cardioclarity.errors import CheckpointError, InvalidInputError, exception_summary
from cardioclarity.reporting import progress

__all__ = ["DEFAULT_AUTOENCODER", "BeatAnomalyDetector"]

#: Bundled autoencoder that ``BeatAnomalyDetector.load()`` returns when given no name.
DEFAULT_AUTOENCODER = "ecg5000-conv1d"


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

    kind = KIND_AE

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
    def _model_name(self) -> str:
        return self.model

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
                f"Checkpoint '{ckpt.get('path', '?')}' is inconsistent: "
                f"{exception_summary(exc)}",
                hint="it may be from another version or damaged; retrain with `ecg train`.") from exc
        det.history_ = list(ckpt.get("history") or [])
        if ckpt.get("best_epoch") is not None:
            det.best_epoch_ = int(ckpt["best_epoch"])
        return det

    @classmethod
    def load(cls, name_or_path: str | Path | None = None) -> BeatAnomalyDetector:
        """Load a checkpoint file or a bundled name (see ``cardioclarity models``).

        ``None`` loads :data:`DEFAULT_AUTOENCODER`. The checkpoint's card is ``.card``.
        """
        target = DEFAULT_AUTOENCODER if name_or_path is None else name_or_path
        return cls._from_ckpt(load_checkpoint(target, expected_kind=KIND_AE))

