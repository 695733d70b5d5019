"""Evaluation metrics shared by every pipeline.

Pure NumPy, no state. Binary metrics take ``y_true`` with 1 = the *positive class* and say which
class that is: for the ECG detectors the positive class is "anomaly" (abnormal beat / irregular
rhythm), for the X-ray pipeline it is "cardiomegaly". Scores are "higher = more positive".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from cardioclarity.errors import InvalidInputError

__all__ = [
    "BinaryReport",
    "average_precision",
    "best_f1_threshold",
    "binary_report",
    "bland_altman",
    "box_iou",
    "confusion_counts",
    "detection_prf",
    "dice",
    "roc_auc",
    "roc_curve",
]


def _as_binary(y_true: Sequence[int] | np.ndarray, name: str = "y_true") -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {y.shape}.")
    if y.size and not np.isin(y, (0, 1, True, False)).all():
        bad = np.unique(y[~np.isin(y, (0, 1))])[:5]
        raise InvalidInputError(
            f"{name} must hold 0/1 (1 = positive class), got values such as {bad.tolist()}."
        )
    return y.astype(bool)


def _as_scores(scores: Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.shape != (n,):
        raise InvalidInputError(f"scores must have shape ({n},) to match y_true, got {s.shape}.")
    if not np.isfinite(s).all():
        raise InvalidInputError("scores contain NaN or inf; every score must be finite.")
    return s


def confusion_counts(y_true, y_pred) -> dict[str, int]:
    """Confusion-matrix counts for a binary problem (1 = positive class).

    Returns
    -------
    dict
        ``{"tp", "fp", "tn", "fn"}`` as ints.
    """
    t = _as_binary(y_true)
    p = _as_binary(y_pred, "y_pred")
    if t.shape != p.shape:
        raise InvalidInputError(f"y_true {t.shape} and y_pred {p.shape} differ in length.")
    return {
        "tp": int(np.sum(t & p)),
        "fp": int(np.sum(~t & p)),
        "tn": int(np.sum(~t & ~p)),
        "fn": int(np.sum(t & ~p)),
    }


def _safe_div(a: float, b: float) -> float:
    # An empty denominator means the metric is undefined; report 0.0 like scikit-learn's
    # zero_division=0 rather than NaN so tables stay numeric.
    return float(a / b) if b else 0.0


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve (probability a random positive outscores a random negative).

    Ties count one half (Mann-Whitney U with average ranks). Returns NaN when only one class
    is present, because the AUROC is undefined then.
    """
    t = _as_binary(y_true)
    s = _as_scores(scores, t.size)
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata  # imported here: scipy.stats alone adds ~1 s to CLI start-up

    ranks = rankdata(s)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve points.

    Returns
    -------
    fpr, tpr, thresholds : ndarray
        Predicting positive for ``score >= thresholds[i]`` gives ``(fpr[i], tpr[i])``;
        the first point is (0, 0) at threshold +inf.
    """
    t = _as_binary(y_true)
    s = _as_scores(scores, t.size)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    # Keep the last index of each run of equal scores so ties move together.
    distinct = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tps = np.cumsum(t_sorted)[distinct]
    fps = (distinct + 1) - tps
    n_pos, n_neg = max(int(t.sum()), 1), max(int((~t).sum()), 1)
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    thr = np.r_[np.inf, s_sorted[distinct]]
    return fpr, tpr, thr


def _pr_points(t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    distinct = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tps = np.cumsum(t_sorted)[distinct].astype(float)
    predicted = (distinct + 1).astype(float)
    precision = tps / predicted
    recall = tps / max(t.sum(), 1)
    return precision, recall, s_sorted[distinct]


def average_precision(y_true, scores) -> float:
    """Area under the precision-recall curve (step-wise average precision, as scikit-learn).

    Returns NaN when there is no positive sample.
    """
    t = _as_binary(y_true)
    s = _as_scores(scores, t.size)
    if t.sum() == 0:
        return float("nan")
    precision, recall, _ = _pr_points(t, s)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def best_f1_threshold(y_true, scores) -> tuple[float, float]:
    """Threshold that maximises F1 when predicting positive for ``score >= threshold``.

    Use only on a *validation* split: choosing it on test data inflates the F1.

    Returns
    -------
    threshold, f1 : float
    """
    t = _as_binary(y_true)
    s = _as_scores(scores, t.size)
    if t.sum() == 0:
        raise InvalidInputError(
            "best_f1_threshold needs at least one positive (anomalous) sample in y_true.",
            hint="use a percentile threshold on normal data instead.",
        )
    precision, recall, thr = _pr_points(t, s)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    i = int(np.argmax(f1))
    return float(thr[i]), float(f1[i])


@dataclass(frozen=True)
class BinaryReport:
    """Binary classification metrics, with the positive class named."""

    positive_class: str
    n: int
    n_positive: int
    tp: int
    fp: int
    tn: int
    fn: int
    accuracy: float
    precision: float
    recall: float
    specificity: float
    f1: float
    auroc: float | None = None
    auprc: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def binary_report(y_true, y_pred, scores=None, positive_class: str = "anomaly") -> BinaryReport:
    """Accuracy, precision, recall, specificity and F1 (plus AUROC/AUPRC when scores are given).

    Parameters
    ----------
    y_true, y_pred : array-like of 0/1
        1 = the positive class.
    scores : array-like of float, optional
        Continuous scores, higher = more positive; enables AUROC and AUPRC.
    positive_class : str
        Name of the class coded 1, written into every report so a reader knows what
        "precision" and "recall" refer to.
    """
    c = confusion_counts(y_true, y_pred)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    auroc = auprc = None
    if scores is not None:
        auroc = roc_auc(y_true, scores)
        auprc = average_precision(y_true, scores)
    return BinaryReport(
        positive_class=positive_class,
        n=tp + fp + tn + fn,
        n_positive=tp + fn,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        accuracy=_safe_div(tp + tn, tp + fp + tn + fn),
        precision=precision,
        recall=recall,
        specificity=_safe_div(tn, tn + fp),
        f1=_safe_div(2 * precision * recall, precision + recall),
        auroc=auroc,
        auprc=auprc,
    )


def box_iou(a, b) -> np.ndarray:
    """Intersection over union of axis-aligned boxes ``[x_min, y_min, x_max, y_max]``.

    ``a`` and ``b`` are (4,) or (N, 4) and broadcast against each other; returns (N,) or a scalar.
    Coordinates are continuous (a box from 0 to 10 is 10 wide).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape[-1] != 4 or b.shape[-1] != 4:
        raise InvalidInputError(f"boxes must end in 4 coordinates, got {a.shape} and {b.shape}.")
    ix = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    iy = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = ix * iy
    area_a = np.clip(a[..., 2] - a[..., 0], 0, None) * np.clip(a[..., 3] - a[..., 1], 0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def dice(mask_a, mask_b) -> float:
    """Dice coefficient of two binary masks of the same shape (1.0 when both are empty)."""
    a = np.asarray(mask_a).astype(bool)
    b = np.asarray(mask_b).astype(bool)
    if a.shape != b.shape:
        raise InvalidInputError(f"masks differ in shape: {a.shape} vs {b.shape}.")
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(a, b).sum() / total)


def detection_prf(ious, iou_threshold: float = 0.5, detected=None) -> dict[str, float]:
    """Precision, recall and F1 for one-object-per-image detection (e.g. one heart per film).

    Each image has one true object. A detection with IoU >= ``iou_threshold`` is a true positive;
    a detection below it counts as both a false positive and a missed object (false negative);
    an image with no detection (``detected[i]`` False) is a false negative only.
    """
    iou = np.asarray(ious, dtype=float)
    det = np.ones(iou.shape, bool) if detected is None else np.asarray(detected, bool)
    hit = det & (iou >= iou_threshold)
    tp = int(hit.sum())
    fp = int((det & ~hit).sum())
    fn = int((~hit).sum())
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    return {
        "iou_threshold": float(iou_threshold),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": _safe_div(2 * precision * recall, precision + recall),
    }


def bland_altman(measured, reference) -> dict[str, float]:
    """Bland-Altman agreement: bias (mean of measured - reference) and 95% limits of agreement."""
    m = np.asarray(measured, dtype=float)
    r = np.asarray(reference, dtype=float)
    if m.shape != r.shape or m.ndim != 1 or m.size < 2:
        raise InvalidInputError(
            f"bland_altman needs two 1-D arrays of equal length >= 2, got {m.shape} and {r.shape}."
        )
    d = m - r
    bias = float(d.mean())
    sd = float(d.std(ddof=1))
    return {
        "n": int(d.size),
        "bias": bias,
        "sd": sd,
        "loa_low": bias - 1.96 * sd,
        "loa_high": bias + 1.96 * sd,
        "mae": float(np.abs(d).mean()),
    }
