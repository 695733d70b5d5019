"""The input gate: is this a frontal chest radiograph at all?

Two stages, both before any CTR is reported:

1. :func:`dicom_reasons` — what the DICOM header already says: a Modality or SOP class that is
   not a projection radiograph (CT, MR, US, NM, PT, XA, ...), a BodyPartExamined other than the
   chest, a lateral ViewPosition. PNG/JPEG files carry none of this.
2. :class:`ChestCheck` — for any image: a logistic model on what the segmentation network itself
   makes of it: its masks (:func:`cardioclarity.xray.quality.mask_features`: two lung fields
   either side of a heart, compact regions, sure borders) and its encoder's pooled activations
   (mean and spread of each channel at two depths, reduced by PCA fitted on chest films). On a
   plot, a photograph, a CT slice or an ultrasound frame the network still paints masks, but
   fragmented, fuzzy and in the wrong places, and its encoder responds unlike it does to a film.

>>> check = ChestCheck.load()                     # bundled "cxr-chest-check"
>>> check.score_samples([features])               # probability of a chest radiograph
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from cardioclarity.checkpoints import card_from_checkpoint, load_checkpoint, save_checkpoint
from cardioclarity.errors import InvalidInputError, NotFittedError
from cardioclarity.xray.quality import FEATURES

__all__ = ["CHEST_CHECK_KIND", "DEFAULT_CHEST_CHECK", "ENCODER_LAYERS", "ChestCheck", "chest_features",
           "dicom_reasons"]

#: Checkpoint kind of the chest-radiograph check.
CHEST_CHECK_KIND = "xray-chest-check"
#: Bundled chest-radiograph check.
DEFAULT_CHEST_CHECK = "cxr-chest-check"

#: Encoder blocks of the bundled seg U-Net (MONAI UNet, 5 levels) whose pooled activations the
#: check reads: the 64-channel block at 1/8 and the 128-channel block at 1/16 of the input size.
ENCODER_LAYERS = ("model.1.submodule.1.submodule.0", "model.1.submodule.1.submodule.1.submodule.0")

#: DICOM modalities that can hold a frontal chest radiograph (projection X-ray), or say nothing
#: about it (OT other, SC secondary capture: a scanned or exported film).
_RADIOGRAPH_MODALITIES = {"CR", "DX", "RG", "DF", "OT", "SC", "PX"}
#: Words in a SOP class name that mean a cross-sectional, ultrasound or other non-film image.
_NON_RADIOGRAPH_SOP = ("CT ", "MR ", "Ultrasound", "Nuclear Medicine", "Positron", "PET ",
                       "X-Ray Angiographic", "Radiofluoroscopic", "Mammography", "Intra-oral",
                       "Ophthalmic", "Endoscopic", "Microscopic", "Photographic", "Enhanced CT",
                       "Enhanced MR", "Breast Tomosynthesis", "Segmentation", "RT ")
#: BodyPartExamined values a chest film may carry (PS3.16 CID 4031 and common free text).
_CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "HEART", "CHEST_TO_PELVIS", "CHESTABDOMEN",
                     "CHEST ABDOMEN", "BREAST", "RIB", "RIBS", "PORT CHEST", "TORAX", "THORAX_ABDOMEN"}


def dicom_reasons(metadata: dict[str, Any]) -> list[str]:
    """Reasons the DICOM header rules out a frontal chest radiograph (empty: it does not).

    Parameters
    ----------
    metadata : dict
        :attr:`XrayImage.metadata <cardioclarity.xray.io.XrayImage.metadata>`; keys ``format``,
        ``modality``, ``sop_class``, ``body_part``, ``view_position``.

    Returns
    -------
    list of str
        Any of ``"dicom-modality"``, ``"dicom-sop-class"``, ``"dicom-body-part"``,
        ``"lateral-view"`` (see :data:`cardioclarity.xray.quality.REASONS`).
    """
    reasons = []
    if metadata.get("format") == "dicom":
        modality = (metadata.get("modality") or "").upper()
        if modality and modality not in _RADIOGRAPH_MODALITIES:
            reasons.append("dicom-modality")
        sop = metadata.get("sop_class") or ""
        if any(word in sop for word in _NON_RADIOGRAPH_SOP):
            reasons.append("dicom-sop-class")
        part = (metadata.get("body_part") or "").upper()
        if part and part not in _CHEST_BODY_PARTS:
            reasons.append("dicom-body-part")
    if metadata.get("view_position") == "LATERAL":
        reasons.append("lateral-view")
    return reasons


def chest_features(mask_feats: dict[str, float], encoder: np.ndarray) -> np.ndarray:
    """One input row of :class:`ChestCheck`: the mask features (in :data:`FEATURES` order)
    followed by the pooled encoder activations."""
    return np.concatenate([[mask_feats[k] for k in FEATURES], np.asarray(encoder, np.float64).ravel()])


class ChestCheck:
    """Probability that an image is a frontal chest radiograph (see the module docstring).

    Input rows are :func:`chest_features`: ``len(FEATURES)`` mask features, then the encoder's
    pooled activations, which are projected on ``n_components`` principal components fitted
    on the chest films. Then standardisation and an L2 logistic regression. scikit-learn's
    interface: :meth:`fit`, :meth:`score_samples` (higher = more chest-like, a probability),
    :meth:`predict` (1 = chest radiograph). Load the bundled one with :meth:`load`.

    Parameters
    ----------
    threshold : float
        :meth:`predict` says "chest radiograph" when the probability is at least this.
    C : float
        Inverse L2 strength of the logistic regression (:meth:`fit`).
    n_components : int
        Principal components kept of the encoder activations.
    encoder_layers : tuple of str
        Names of the seg network's modules whose activations are pooled (:data:`ENCODER_LAYERS`).
    seg_model : str, optional
        ``created_utc`` of the seg checkpoint the activations came from: the check is only
        meaningful on that network (:meth:`fits`).

    Attributes
    ----------
    pca_mean_, components_, mean_, scale_, coef_, intercept_ : learned after :meth:`fit`.
    card : dict
        Model card (name, kind, training data, metrics) when loaded from a checkpoint.
    """

    def __init__(self, threshold: float = 0.5, C: float = 0.3, n_components: int = 16,
                 encoder_layers: tuple[str, ...] = ENCODER_LAYERS, seg_model: str | None = None) -> None:
        if not 0 < threshold < 1:
            raise InvalidInputError(f"threshold must be in (0, 1), got {threshold}.",
                                    hint="0.5 is the logistic model's natural cut.")
        self.threshold = float(threshold)
        self.C = float(C)
        self.n_components = int(n_components)
        self.encoder_layers = tuple(encoder_layers)
        self.seg_model = seg_model
        self.card: dict[str, Any] = {}

    def fits(self, seg_card: dict[str, Any]) -> bool:
        """Whether this check was fitted on the activations of the seg model with ``seg_card``."""
        return self.seg_model is None or seg_card.get("created_utc") == self.seg_model

    # ---------------------------------------------------------------------------- sklearn protocol
    def fit(self, X: np.ndarray, y: np.ndarray) -> ChestCheck:
        """Fit on rows ``X`` (:func:`chest_features`) and labels ``y`` (1 = chest radiograph)."""
        from sklearn.linear_model import LogisticRegression

        X = self._check(X, fitted=False)
        y = np.asarray(y, int)
        if set(np.unique(y)) != {0, 1}:
            raise InvalidInputError("y must hold both labels 0 (not a chest film) and 1 (chest film).")
        enc = X[y == 1, len(FEATURES):]
        self.pca_mean_ = enc.mean(axis=0)
        # Principal axes of the chest films' activations (SVD of the centred matrix).
        _, _, vt = np.linalg.svd(enc - self.pca_mean_, full_matrices=False)
        self.components_ = vt[: self.n_components]
        Z = self._project(X)
        self.mean_ = Z.mean(axis=0)
        self.scale_ = Z.std(axis=0) + 1e-6
        lr = LogisticRegression(C=self.C, class_weight="balanced", max_iter=5000)
        lr.fit((Z - self.mean_) / self.scale_, y)
        self.coef_, self.intercept_ = lr.coef_[0].astype(np.float64), float(lr.intercept_[0])
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Probability of a chest radiograph for each row of ``X`` (:func:`chest_features`)."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("ChestCheck is not fitted.", hint="call fit() or ChestCheck.load().")
        z = (self._project(self._check(X)) - self.mean_) / self.scale_ @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """1 for a chest radiograph (probability >= :attr:`threshold`), else 0."""
        return (self.score_samples(X) >= self.threshold).astype(int)

    def _project(self, X: np.ndarray) -> np.ndarray:
        n = len(FEATURES)
        return np.hstack([X[:, :n], (X[:, n:] - self.pca_mean_) @ self.components_.T])

    def _check(self, X: np.ndarray, fitted: bool = True) -> np.ndarray:
        X = np.nan_to_num(np.atleast_2d(np.asarray(X, dtype=np.float64)), nan=0.0)
        want = len(FEATURES) + self.pca_mean_.size if fitted else None
        if X.ndim != 2 or X.shape[1] <= len(FEATURES) or (want and X.shape[1] != want):
            raise InvalidInputError(
                f"X must be rows of chest_features() ({want or 'more than ' + str(len(FEATURES))} "
                f"values), got shape {X.shape}.", hint="build rows with chest_features().")
        return X

    # -------------------------------------------------------------------------------- checkpoints
    _STATE = ("pca_mean_", "components_", "mean_", "scale_", "coef_", "intercept_")

    def save(self, path: str | Path, **metadata: Any) -> Path:
        """Write a self-describing checkpoint (kind ``xray-chest-check``)."""
        state = {k: torch.as_tensor(np.asarray(getattr(self, k), dtype=np.float64)) for k in self._STATE}
        config = {"features": list(FEATURES), "C": self.C, "n_components": self.n_components,
                  "encoder_layers": list(self.encoder_layers), "seg_model": self.seg_model}
        return save_checkpoint(path, kind=CHEST_CHECK_KIND, model="pca-logistic", config=config,
                               state_dict=state, threshold=self.threshold, **metadata)

    @classmethod
    def load(cls, name_or_path: str | Path | None = None) -> ChestCheck:
        """The bundled check (None: :data:`DEFAULT_CHEST_CHECK`) or a checkpoint file."""
        from cardioclarity.errors import CheckpointError

        ckpt = load_checkpoint(str(name_or_path or DEFAULT_CHEST_CHECK), expected_kind=CHEST_CHECK_KIND)
        cfg = ckpt["config"]
        if list(cfg["features"]) != list(FEATURES):
            raise CheckpointError(f"chest check '{name_or_path}' was fitted on other mask features.",
                                  hint="refit it with training/train_xray_gate.py.")
        self = cls(threshold=float(ckpt["threshold"]), C=float(cfg["C"]),
                   n_components=int(cfg["n_components"]), encoder_layers=tuple(cfg["encoder_layers"]),
                   seg_model=cfg.get("seg_model"))
        for k in cls._STATE:
            v = ckpt["state_dict"][k].numpy()
            setattr(self, k, float(v) if k == "intercept_" else v)
        self.card = card_from_checkpoint(ckpt)
        return self
