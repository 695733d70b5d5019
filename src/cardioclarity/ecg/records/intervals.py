"""ECG intervals: PR, QRS duration, QT and QTc (Bazett, Fridericia) from a delineation.

Each beat is delineated (P onset, QRS onset and offset, T offset) by one of NeuroKit2's
delineators (``method=``; ``"peak"`` gives Q and S peaks instead of QRS boundaries, so its QRS
is the Q-to-S time); per beat PR = QRS onset - P onset, QRS = QRS offset - QRS onset, QT = T
offset - QRS onset. A record's value is the median over the beats where the fiducials exist and
the value is physiologically possible; with several leads, the median of the leads' values.

A value is withheld (``value_ms`` None, with the reason in ``withheld``) when the lead is mostly
unusable (a delineator finds "waves" in noise too), when fewer than :data:`MIN_BEATS` beats or
under half of them give one, or when the beats disagree by more than :data:`MAX_IQR_MS` (the
delineator is not tracking the waves): an implausible interval is never printed.

QTc uses the median RR of the same beats: Bazett ``QT / sqrt(RR)``, Fridericia
``QT / RR ** (1/3)`` (RR in seconds).
"""

from __future__ import annotations

import warnings

import numpy as np

from cardioclarity.errors import InvalidInputError
from cardioclarity.validation import check_fs

__all__ = ["DELINEATION_METHODS", "MIN_BEATS", "PLAUSIBLE_MS", "delineate", "measure_intervals"]

#: Valid ``method=`` values, NeuroKit2's delineators.
DELINEATION_METHODS = ("dwt", "cwt", "peak")
#: Fewest beats a median interval may rest on.
MIN_BEATS = 3
#: Least fraction of the beats that must give a plausible value (else the delineator is
#: tracking something else on most beats, and the few it got right cannot be told apart).
MIN_BEAT_FRACTION = 0.5
#: Physiologically possible range of each interval (ms); beats outside are delineation errors.
PLAUSIBLE_MS = {"pr": (60.0, 400.0), "qrs": (40.0, 220.0), "qt": (200.0, 700.0)}
#: Least usable fraction of a lead (quality assessment) for its intervals to be measured.
MIN_USABLE = 0.5
#: Largest interquartile range across beats (ms) for a value to be reported.
MAX_IQR_MS = {"pr": 60.0, "qrs": 40.0, "qt": 80.0}
# Fiducial columns per method: NeuroKit2's "peak" method gives Q and S peaks, not QRS
# boundaries, so it measures QRS from Q to S (shorter than the QRS duration; named as such).
_COLUMNS = {
    "dwt": ("ECG_P_Onsets", "ECG_R_Onsets", "ECG_R_Offsets", "ECG_T_Offsets"),
    "cwt": ("ECG_P_Onsets", "ECG_R_Onsets", "ECG_R_Offsets", "ECG_T_Offsets"),
    "peak": ("ECG_P_Onsets", "ECG_Q_Peaks", "ECG_S_Peaks", "ECG_T_Offsets"),
}


def delineate(x: np.ndarray, fs: float, peaks: np.ndarray, *, method: str = "dwt") -> dict:
    """Per-beat fiducials ``{"p_on", "qrs_on", "qrs_off", "t_off"}`` (float sample indices, NaN
    where the delineator found none) of one lead, one entry per R-peak in ``peaks``."""
    import neurokit2 as nk

    if method not in DELINEATION_METHODS:
        raise InvalidInputError(f"Unknown delineation method {method!r}; valid options: "
                                f"{', '.join(DELINEATION_METHODS)}.")
    fs = check_fs(fs)
    peaks = np.asarray(peaks, dtype=np.int64)
    nan = np.full(peaks.size, np.nan)
    out = {"p_on": nan.copy(), "qrs_on": nan.copy(), "qrs_off": nan.copy(), "t_off": nan.copy()}
    if peaks.size < 2:
        return out
    clean = nk.ecg_clean(np.nan_to_num(np.asarray(x, dtype=np.float64)), sampling_rate=int(fs))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, waves = nk.ecg_delineate(clean, rpeaks=peaks, sampling_rate=int(fs), method=method)
    except Exception:  # noqa: BLE001 - a delineator failing on odd beats means "not measurable"
        return out
    for key, col in zip(out, _COLUMNS[method], strict=True):
        v = np.asarray(waves.get(col, []), dtype=np.float64)
        if v.size == peaks.size:
            out[key] = v
    return out


def measure_intervals(signal: np.ndarray, fs: float, peaks: np.ndarray | None = None, *,
                      method: str = "dwt", leads: list[str] | None = None) -> dict:
    """PR, QRS, QT, QTc (Bazett, Fridericia) and RR of a recording.

    Parameters
    ----------
    signal : ndarray, shape (n,) or (n_leads, n)
        One lead, or several (each measured, then the median across leads).
    fs : float
        Sampling rate in Hz.
    peaks : ndarray of int, optional
        R-peaks (default: detected on the first lead).
    method : {"dwt", "cwt", "peak"}
        NeuroKit2 delineator.
    leads : list of str, optional
        Names of the rows of a 2-D ``signal`` (reported as ``leads``).

    Returns
    -------
    dict
        ``{"method", "leads", "pr" | "qrs" | "qt" | "qtc_bazett" | "qtc_fridericia" | "rr":
        {"value_ms": float or None, "n_beats": int, "withheld": str (when None)}}``.
    """
    from cardioclarity.ecg.records.processing import ecg_peaks

    if method not in DELINEATION_METHODS:
        raise InvalidInputError(f"Unknown delineation method {method!r}; valid options: "
                                f"{', '.join(DELINEATION_METHODS)}.")
    fs = check_fs(fs)
    x = np.atleast_2d(np.asarray(signal, dtype=np.float64))
    if peaks is None:
        peaks = ecg_peaks(x[0], fs)
    peaks = np.asarray(peaks, dtype=np.int64)
    per_lead = [_lead_values(row, fs, peaks, method) for row in x]
    out: dict = {"method": f"neurokit2.ecg_delineate(method={method!r}), median over beats"
                 + (" then over leads" if x.shape[0] > 1 else ""),
                 "leads": list(leads) if leads is not None else None}
    for key in ("pr", "qrs", "qt"):
        vals = [v[key] for v in per_lead if v[key]["value_ms"] is not None]
        if vals:
            out[key] = {"value_ms": round(float(np.median([v["value_ms"] for v in vals])), 1),
                        "n_beats": int(max(v["n_beats"] for v in vals)), "n_leads": len(vals)}
        else:
            out[key] = {"value_ms": None, "n_beats": 0,
                        "withheld": per_lead[0][key].get("withheld", "not measurable")}
    if method == "peak":  # named, so the number is not read as the QRS duration proper
        out["qrs"]["definition"] = "Q peak to S peak (the peak delineator gives no QRS boundaries)"
    rr = np.diff(peaks) / fs
    rr = rr[(rr > 0.25) & (rr < 2.5)]
    out["rr"] = ({"value_ms": round(float(np.median(rr)) * 1000, 1), "n_beats": int(rr.size)}
                 if rr.size >= MIN_BEATS - 1 else
                 {"value_ms": None, "n_beats": int(rr.size), "withheld": "too few RR intervals"})
    qt, rr_ms = out["qt"]["value_ms"], out["rr"]["value_ms"]
    for key, power in (("qtc_bazett", 0.5), ("qtc_fridericia", 1 / 3)):
        if qt is None or rr_ms is None:
            out[key] = {"value_ms": None, "n_beats": 0, "withheld": "QT or RR not measurable"}
        else:
            out[key] = {"value_ms": round(qt / (rr_ms / 1000.0) ** power, 1),
                        "n_beats": out["qt"]["n_beats"]}
    return out


def _lead_values(x: np.ndarray, fs: float, peaks: np.ndarray, method: str) -> dict:
    from cardioclarity.ecg.records.processing import assess_quality

    usable = assess_quality(x, fs).usable_fraction
    if usable < MIN_USABLE:  # a delineator finds "waves" in noise too
        why = f"signal usable in only {100 * usable:.0f}% of the lead (need {100 * MIN_USABLE:.0f}%)"
        return {k: {"value_ms": None, "n_beats": 0, "withheld": why} for k in PLAUSIBLE_MS}
    f = delineate(x, fs, peaks, method=method)
    ms = 1000.0 / fs
    raw = {"pr": (f["qrs_on"] - f["p_on"]) * ms, "qrs": (f["qrs_off"] - f["qrs_on"]) * ms,
           "qt": (f["t_off"] - f["qrs_on"]) * ms}
    out = {}
    for key, v in raw.items():
        lo, hi = PLAUSIBLE_MS[key]
        v = v[np.isfinite(v) & (v >= lo) & (v <= hi)]
        need = max(MIN_BEATS, int(np.ceil(MIN_BEAT_FRACTION * peaks.size)))
        if v.size < need:
            out[key] = {"value_ms": None, "n_beats": int(v.size),
                        "withheld": f"only {v.size} of {peaks.size} beat(s) with a plausible "
                        f"{key.upper()} (need {need})"}
            continue
        iqr = float(np.subtract(*np.percentile(v, [75, 25])))
        if iqr > MAX_IQR_MS[key]:
            out[key] = {"value_ms": None, "n_beats": int(v.size),
                        "withheld": f"beats disagree ({key.upper()} interquartile range "
                        f"{iqr:.0f} ms > {MAX_IQR_MS[key]:.0f} ms)"}
            continue
        out[key] = {"value_ms": float(np.median(v)), "n_beats": int(v.size)}
    return out
