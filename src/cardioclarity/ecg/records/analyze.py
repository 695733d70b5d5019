"""The record pipeline: Record -> cleaned signal, R-peaks, quality -> beats, rhythm -> Findings.

:func:`preprocess` runs the signal stages once; :func:`analyze_record` adds beat scoring (the
MIT-BIH beat model: autoencoder morphology + RR context) and rhythm (rates, pauses, AF-like
irregularity, ectopic burden) and returns :class:`Findings`, whose :meth:`Findings.to_dict` is
the stable ``findings.json`` schema of DESIGN.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cardioclarity import DISCLAIMER
from cardioclarity.ecg.records.io import Record
from cardioclarity.ecg.records.processing import Quality, assess_quality, ecg_clean, ecg_peaks
from cardioclarity.ecg.records.rhythm import (
    RhythmModel,
    heart_rate_trend,
    irregular_episodes,
    load_rhythm_model,
    rate_episodes,
    rr_intervals,
    rr_stats,
    window_features,
)
from cardioclarity.ecg.records.scoring import BeatScores, RecordBeatModel, WindowConfig
from cardioclarity.errors import InvalidInputError

__all__ = ["Findings", "Prepared", "analyze_record", "preprocess"]


@dataclass
class Prepared:
    """Signal-stage results of one record.

    Attributes
    ----------
    clean : ndarray
        Cleaned lead (0.5-40 Hz, mains notched), at the record's own ``fs``.
    peaks : ndarray of int
        R-peaks in usable signal, as sample indices at ``fs``.
    quality : Quality
    usable : ndarray of bool
        Per-sample usability.
    rr_valid : ndarray of bool
        For each RR interval, whether both beats and the stretch between are usable.
    """

    clean: np.ndarray
    peaks: np.ndarray
    quality: Quality
    usable: np.ndarray
    rr_valid: np.ndarray


def preprocess(record: Record, *, peak_method: str = "cardioclarity") -> Prepared:
    """Clean, assess quality and detect R-peaks (peaks in unusable stretches are dropped).

    Raises
    ------
    InvalidInputError
        When no stretch of the record is usable (flat line, all noise...): there is nothing to
        analyse, and reporting "no beats" would read as asystole.
    """
    x = record.signal
    fs = record.fs
    quality = assess_quality(x, fs)
    if quality.usable_fraction <= 0:
        reasons = sorted({s["reason"] for s in quality.segments})
        raise InvalidInputError(
            f"Record '{record.name}' (lead {record.lead}) has no usable signal: "
            f"{', '.join(reasons)} throughout.",
            hint="check the electrode/lead (try another --lead) or the export's scaling.")
    usable = quality.usable_mask(x.size, fs)
    clean = ecg_clean(x, fs)
    peaks = ecg_peaks(x, fs, method=peak_method)
    peaks = peaks[usable[peaks]]
    _, rr_valid = rr_intervals(peaks, fs, usable)
    return Prepared(clean=clean, peaks=peaks, quality=quality, usable=usable, rr_valid=rr_valid)


# --------------------------------------------------------------------------------------------
# findings
# --------------------------------------------------------------------------------------------
@dataclass
class Findings:
    """Everything :func:`analyze_record` found in one record.

    ``to_dict()`` is the stable ``findings.json`` schema (see DESIGN.md and the README):
    ``sampling_rate, lead, duration_s, beats[{sample, time_s, score, is_anomaly, finding,
    morphology_score, rr_score}], rhythm{irregularity_score, irregular, heart_rate_bpm{...},
    rr{...}, episodes[{type, start_s, end_s, ...}], ectopic_burden{...}}, quality{...},
    model{...}, disclaimer``.
    """

    record: str
    sampling_rate: float
    lead: str
    leads: list[str]
    duration_s: float
    peaks: np.ndarray
    beat_scores: BeatScores | None
    rhythm: dict
    quality: Quality
    model: dict
    prepared: Prepared
    hr_trend: tuple[np.ndarray, np.ndarray]
    windows: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    #: The beat model used (for reconstructions in reports); not part of findings.json.
    beat_model: RecordBeatModel | None = field(default=None, repr=False)

    @property
    def n_beats(self) -> int:
        return int(self.peaks.size)

    def beats(self) -> list[dict]:
        """Per-beat rows of ``findings.json``."""
        fs = self.sampling_rate
        t = np.round(self.peaks / fs, 4).tolist()
        samples = self.peaks.tolist()
        bs = self.beat_scores
        if bs is None:
            return [{"sample": s, "time_s": ti, "score": None, "is_anomaly": False,
                     "finding": "not_scored"} for s, ti in zip(samples, t, strict=True)]
        score = np.round(bs.score, 4).tolist()
        morph = np.round(bs.morphology, 4).tolist()
        rr = np.round(bs.rr, 4).tolist()
        anom = bs.is_anomaly.tolist()
        return [{"sample": s, "time_s": ti, "score": sc, "is_anomaly": a, "finding": f,
                 "morphology_score": m, "rr_score": r}
                for s, ti, sc, a, f, m, r in zip(samples, t, score, anom, bs.finding, morph, rr,
                                                 strict=True)]

    def to_dict(self) -> dict:
        """The ``findings.json`` object (plain JSON types only)."""
        return {
            "record": self.record,
            "sampling_rate": float(self.sampling_rate),
            "lead": self.lead,
            "leads": list(self.leads),
            "duration_s": round(float(self.duration_s), 3),
            "n_beats": self.n_beats,
            "beats": self.beats(),
            "rhythm": _jsonable(self.rhythm),
            "quality": self.quality.to_dict(),
            "model": _jsonable(self.model),
            "disclaimer": DISCLAIMER,
        }

    def episodes(self) -> list[dict]:
        return list(self.rhythm.get("episodes", []))


def _jsonable(obj):
    """Replace NaN/inf by None and numpy scalars by Python ones (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _resolve_beat_model(detector) -> RecordBeatModel | None:
    if detector is False:
        return None
    if detector is None or isinstance(detector, str | Path):
        return RecordBeatModel.load(detector)
    if isinstance(detector, RecordBeatModel):
        return detector
    if hasattr(detector, "anomaly_score") and hasattr(detector, "input_length_"):
        # A bare beat detector: cut windows at its input length, default RR threshold.
        return RecordBeatModel(detector=detector,
                               window=WindowConfig(length=int(detector.input_length_)))
    raise InvalidInputError(f"detector must be None, False, a name/path, a RecordBeatModel or a "
                            f"fitted beat detector; got {type(detector).__name__}.")


def analyze_record(record: Record, *, detector=None, adaptive: bool | str = "auto",
                   rhythm_model: RhythmModel | str | None = None,
                   peak_method: str = "cardioclarity", window_s: float = 30.0,
                   step_s: float = 10.0) -> Findings:
    """Analyse a recording: beats (scored), rhythm episodes, quality.

    Parameters
    ----------
    record : Record
        From :func:`~cardioclarity.ecg.records.io.read_record`.
    detector : None, False, str, Path, RecordBeatModel or beat detector
        Beat scorer. None: the bundled MIT-BIH model (``mitdb-conv1d``). False: no beat scoring
        (rhythm only). A bare :class:`~cardioclarity.ecg.beats.detector.BeatAnomalyDetector` is wrapped
        with default windows cut at its input length.
    adaptive : {"auto", True, False}
        Patient-adaptive beat scoring, calibrated on the record's own dominant beats of the first
        5 minutes (better on unseen patients: see BENCHMARKS.md ``ecg-records``). ``"auto"``
        (default) uses it when the record has enough regular beats to calibrate on (>= 10) and
        falls back to the global model otherwise; True raises instead of falling back.
    rhythm_model : RhythmModel or str, optional
        Irregularity model (default: bundled ``rhythm-cinc2017``).
    peak_method : str
        R-peak detector (see :func:`~cardioclarity.ecg.records.processing.ecg_peaks`).
    window_s, step_s : float
        Sliding window for the irregularity model (seconds).

    Returns
    -------
    Findings
    """
    if not isinstance(record, Record):
        raise InvalidInputError(f"analyze_record needs a Record (from read_record), got "
                                f"{type(record).__name__}.")
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    fs = record.fs
    prep = preprocess(record, peak_method=peak_method)
    timings["preprocess_s"] = time.perf_counter() - t0
    peaks = prep.peaks
    n = record.signal.size
    duration = n / fs

    # --- beats: morphology (+ RR context) for every beat
    t1 = time.perf_counter()
    bm = _resolve_beat_model(detector)
    scores = None
    if adaptive not in ("auto", True, False):
        raise InvalidInputError(f"adaptive must be 'auto', True or False, got {adaptive!r}.")
    used_adaptive = False
    if bm is not None and peaks.size:
        try:
            scores = bm.score(prep.clean, peaks, fs, rr_valid=prep.rr_valid,
                              adaptive=bool(adaptive))
            used_adaptive = bool(adaptive)
        except InvalidInputError:
            if adaptive is True:
                raise
            # "auto": too few regular beats to calibrate on; the global model still applies.
            scores = bm.score(prep.clean, peaks, fs, rr_valid=prep.rr_valid, adaptive=False)
    timings["beats_s"] = time.perf_counter() - t1

    # --- rhythm: irregularity on normal-to-normal intervals. Intervals that touch a beat of
    # abnormal morphology are left out (Holter practice): frequent ventricular ectopics make
    # sinus rhythm look irregular, AF stays irregular without them.
    t2 = time.perf_counter()
    rm = rhythm_model if isinstance(rhythm_model, RhythmModel) else load_rhythm_model(rhythm_model)
    nn_valid = prep.rr_valid.copy()
    if scores is not None and nn_valid.size:
        ectopic = scores.morphology >= 1.0
        nn_valid &= ~(ectopic[:-1] | ectopic[1:])
    starts, F = window_features(peaks, fs, prep.clean, window_s=window_s, step_s=step_s,
                                valid=nn_valid, n_samples=n)
    # Windows mostly in unusable signal carry no rhythm evidence.
    usable_frac = np.array([prep.usable[int(s * fs):int(min(s + window_s, duration) * fs)].mean()
                            for s in starts])
    proba = rm.predict_proba(F)
    proba = np.where(usable_frac >= 0.5, proba, 0.0)
    irregular = irregular_episodes(starts, proba, rm.threshold_, window_s, duration)
    in_irregular = np.zeros(peaks.size, dtype=bool)
    for ep in irregular:
        in_irregular |= (peaks >= ep["start_s"] * fs) & (peaks <= ep["end_s"] * fs)
    if scores is not None:
        scores = scores.without_rr(in_irregular)
    timings["rhythm_s"] = time.perf_counter() - t2

    rr, _ = rr_intervals(peaks, fs)
    stats = rr_stats(rr[prep.rr_valid]) if rr.size else rr_stats([])
    t_hr, bpm = heart_rate_trend(peaks, fs, valid=prep.rr_valid)
    episodes = rate_episodes(peaks, fs, valid=prep.rr_valid) + irregular
    if scores is not None:
        episodes += _ectopic_runs(peaks, fs, scores)
    episodes.sort(key=lambda e: (e["start_s"], e["type"]))
    burden = _burden(scores, peaks.size)
    rhythm = {
        "irregularity_score": float(proba.max()) if proba.size else 0.0,
        "irregular": bool(irregular),
        "irregular_fraction": round(sum(e["end_s"] - e["start_s"] for e in irregular)
                                    / duration, 4) if duration else 0.0,
        "threshold": float(rm.threshold_),
        "heart_rate_bpm": {"mean": stats["mean_bpm"], "min": stats["min_bpm"],
                           "max": stats["max_bpm"],
                           "median": float(np.nanmedian(bpm)) if np.isfinite(bpm).any() else None},
        "rr": {k: stats[k] for k in ("n_intervals", "mean_rr_ms", "sdnn_ms", "rmssd_ms", "pnn50")},
        "episodes": episodes,
        "ectopic_burden": burden,
    }
    model = {"beats": bm.describe() if bm is not None else None, "adaptive": used_adaptive,
             "adaptive_requested": adaptive,
             "rhythm": {"name": Path(str(rm.meta.get("path", "rhythm-cinc2017"))).stem,
                        "threshold": float(rm.threshold_), "window_s": window_s, "step_s": step_s},
             "peak_method": peak_method}
    timings["total_s"] = time.perf_counter() - t0
    return Findings(record=record.name, sampling_rate=fs, lead=record.lead, leads=record.leads,
                    duration_s=duration, peaks=peaks, beat_scores=scores, rhythm=rhythm,
                    quality=prep.quality, model=model, prepared=prep, hr_trend=(t_hr, bpm),
                    windows={"start_s": starts, "probability": proba, "window_s": window_s},
                    timings=timings, beat_model=bm)


def _ectopic_runs(peaks: np.ndarray, fs: float, scores: BeatScores, min_beats: int = 3
                  ) -> list[dict]:
    """Runs of >= 3 consecutive flagged beats (couplets are counted in the burden only)."""
    out = []
    m = np.r_[False, scores.is_anomaly, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(m))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a >= min_beats:
            kinds = {scores.finding[i] for i in range(a, b)}
            out.append({"type": "ectopic_run", "start_s": round(float(peaks[a] / fs), 3),
                        "end_s": round(float(peaks[b - 1] / fs), 3), "n_beats": int(b - a),
                        "findings": sorted(kinds)})
    return out


def _burden(scores: BeatScores | None, n: int) -> dict:
    if scores is None or n == 0:
        return {"n_beats": int(n), "n_flagged": None, "fraction": None}
    f = np.asarray(scores.finding)
    return {"n_beats": int(n), "n_flagged": int(scores.is_anomaly.sum()),
            "fraction": round(float(scores.is_anomaly.mean()), 4),
            "abnormal_morphology": int((f == "abnormal_morphology").sum()),
            "premature": int((f == "premature").sum())}
