"""ANSI/AAMI EC57-style beat-classification statistics: sensitivity (Se) and positive
predictivity (+P) of V and S beats, gross (over all beats) and per-record average; and the
beat matching they rest on (:func:`nearest`, :func:`matched_counts`).

Conventions: Q beats and detections without a reference beat are left out; F beats are scored
apart (their own Se/+P), and an F beat called V or S is not counted against V or S.
"""

from __future__ import annotations

import numpy as np

__all__ = ["beat_class_stats", "matched_counts", "nearest"]


def nearest(sorted_beats: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index into ``sorted_beats`` (ascending, non-empty) of the beat nearest to each ``x``
    (the earlier one on a tie)."""
    sorted_beats, x = np.asarray(sorted_beats), np.asarray(x)
    if sorted_beats.size == 1:
        return np.zeros(x.size, dtype=np.int64)
    j = np.clip(np.searchsorted(sorted_beats, x), 1, sorted_beats.size - 1)
    return np.where(np.abs(sorted_beats[j - 1] - x) <= np.abs(sorted_beats[j] - x), j - 1, j)


def matched_counts(ref: np.ndarray, det: np.ndarray, tol: float) -> tuple[int, int]:
    """(reference beats with a detection within ``tol`` samples, detections with a reference
    beat within ``tol``): the numerators of R-peak sensitivity and PPV. Both sorted."""
    ref, det = np.asarray(ref), np.asarray(det)
    if ref.size == 0 or det.size == 0:
        return 0, 0
    return (int((np.abs(det[nearest(det, ref)] - ref) <= tol).sum()),
            int((np.abs(ref[nearest(ref, det)] - det) <= tol).sum()))


def _se_pp(t: np.ndarray, p: np.ndarray, c: str) -> tuple[int, int, int]:
    tp = int(((t == c) & (p == c)).sum())
    return tp, int((t == c).sum()), int((p == c).sum())


def beat_class_stats(true: np.ndarray, pred: np.ndarray, records: np.ndarray,
                     classes=("V", "S", "F")) -> dict[str, dict]:
    """Se and +P per class, gross and averaged over records, plus the N false-positive rate.

    Parameters
    ----------
    true, pred : ndarray of str
        Reference and predicted AAMI class of each beat.
    records : ndarray
        Record of each beat.

    Returns
    -------
    dict
        ``{class: {"n", "Se", "+P", "Se_rec", "+P_rec", "n_records"}}`` and ``"N"`` with
        ``{"n", "flagged_fraction"}`` (N beats called S, V or F).
    """
    true, pred, records = (np.asarray(a) for a in (true, pred, records))
    keep = np.isin(true, ["N", "S", "V", "F"])
    true, pred, records = true[keep], pred[keep], records[keep]
    out: dict[str, dict] = {}
    for c in classes:
        # An F beat is never counted against V or S (nor S/V against F).
        m = (true != "F") if c != "F" else np.ones(true.size, bool)
        tp, n_true, n_pred = _se_pp(true[m], pred[m], c)
        se_r, pp_r = [], []
        for r in np.unique(records):
            mr = m & (records == r)
            tpr, nt, npr = _se_pp(true[mr], pred[mr], c)
            if nt:
                se_r.append(tpr / nt)
            if npr:
                pp_r.append(tpr / npr)
        out[c] = {"n": n_true, "Se": tp / n_true if n_true else float("nan"),
                  "+P": tp / n_pred if n_pred else float("nan"),
                  "Se_rec": float(np.mean(se_r)) if se_r else float("nan"),
                  "+P_rec": float(np.mean(pp_r)) if pp_r else float("nan"),
                  "n_records": len(se_r)}
    n = true == "N"
    out["N"] = {"n": int(n.sum()),
                "flagged_fraction": float((pred[n] != "N").mean()) if n.any() else float("nan")}
    return out
