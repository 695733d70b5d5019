"""Heart rate and rhythm from R-peaks: RR statistics, rate episodes and irregular-rhythm detection.

- :func:`rr_intervals`, :func:`rr_stats` (mean RR, SDNN, RMSSD, pNN50), :func:`heart_rate_trend`;
- :func:`rate_episodes`: bradycardia, tachycardia and pause episodes with start/end times;
- :func:`rhythm_features` + :class:`RhythmModel`: a learned irregularity (AF-like) model on RR
  irregularity and P-wave consistency features, trained on the CinC 2017 training split
  (``training/train_rhythm.py``) and stored as a weights-only checkpoint (``rhythm-cinc2017.pt``);
- :func:`irregular_episodes`: sliding-window AF-like episodes from that model;
- :func:`trim_irregular_episodes`: those episodes cut back beat by beat where a long stretch of
  beats inside them is in sinus context (a 30-s window is coarse: a sinus stretch at an AF
  episode's edge is otherwise reported as AF, and its premature beats are lost in it).

Times are in seconds from the start of the record; ``peaks`` are sample indices at ``fs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cardioclarity.errors import CheckpointError, InvalidInputError, NotFittedError
from cardioclarity.validation import check_fs

__all__ = [
    "FEATURE_NAMES",
    "RhythmModel",
    "heart_rate_trend",
    "irregular_episodes",
    "rate_episodes",
    "rhythm_features",
    "rr_intervals",
    "rr_stats",
    "trim_irregular_episodes",
]

DEFAULT_RHYTHM_MODEL = "rhythm-cinc2017"
KIND_RHYTHM = "ecg-rhythm-model"

#: Rate limits (bpm) and durations (s) of the episode rules, common Holter defaults.
BRADY_BPM, TACHY_BPM, PAUSE_S, MIN_RATE_EPISODE_S = 50.0, 100.0, 2.0, 10.0
#: :func:`trim_irregular_episodes`: a stretch of sinus-context beats at least this long (s) and
#: this many beats is cut out of an irregular episode; a piece left with fewer beats than
#: ``MIN_IRREGULAR_BEATS`` is no episode (a handful of beats cannot show an irregular rhythm).
MIN_SINUS_RUN_S, MIN_SINUS_RUN_BEATS, MIN_IRREGULAR_BEATS = 10.0, 8, 5
#: Beats at each end of such a stretch that stay in the episode: the sinus evidence of a beat is
#: its +-10 neighbours', so the first and last beats of a stretch may still be the arrhythmia's.
SINUS_RUN_MARGIN_BEATS = 3


def _check_peaks(peaks, fs: float) -> tuple[np.ndarray, float]:
    p = np.asarray(peaks, dtype=np.int64).ravel()
    fs = check_fs(fs)  # any positive rate: RR arithmetic needs no minimum
    if p.size > 1 and np.any(np.diff(p) <= 0):
        raise InvalidInputError("peaks must be strictly increasing sample indices.")
    return p, fs


def rr_intervals(peaks, fs: float, usable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """RR intervals in seconds and a validity mask.

    Parameters
    ----------
    peaks : array-like of int
        R-peak sample indices.
    fs : float
        Sampling rate in Hz.
    usable : ndarray of bool, optional
        Per-sample usability (from :func:`~cardioclarity.ecg.records.processing.assess_quality`);
        intervals that touch an unusable stretch are marked invalid, because a beat may be
        missing there and the interval is not a real RR.

    Returns
    -------
    rr : ndarray, shape (n_peaks - 1,)
    valid : ndarray of bool, same shape
    """
    p, fs = _check_peaks(peaks, fs)
    rr = np.diff(p) / fs
    valid = np.ones(rr.size, dtype=bool)
    if usable is not None and rr.size:
        bad = ~usable.astype(bool)
        cum = np.r_[0, np.cumsum(bad)]
        valid = (cum[p[1:] + 1] - cum[p[:-1]]) == 0
    return rr, valid


def rr_stats(rr) -> dict:
    """Time-domain HRV/rate statistics of RR intervals (seconds).

    Returns
    -------
    dict
        ``n_intervals, mean_rr_ms, sdnn_ms, rmssd_ms, pnn50, mean_bpm, min_bpm, max_bpm``
        (NaN where fewer than 2 intervals). ``min_bpm``/``max_bpm`` use 8-beat running means,
        so one ectopic beat does not set the day's maximum rate.
    """
    rr = np.asarray(rr, dtype=np.float64)
    rr = rr[np.isfinite(rr) & (rr > 0)]
    nan = float("nan")
    if rr.size < 2:
        return {"n_intervals": int(rr.size), "mean_rr_ms": nan, "sdnn_ms": nan, "rmssd_ms": nan,
                "pnn50": nan, "mean_bpm": nan, "min_bpm": nan, "max_bpm": nan}
    d = np.diff(rr)
    k = min(8, rr.size)
    run = np.convolve(rr, np.ones(k) / k, mode="valid")
    return {
        "n_intervals": int(rr.size),
        "mean_rr_ms": float(rr.mean() * 1000),
        "sdnn_ms": float(rr.std(ddof=1) * 1000),
        "rmssd_ms": float(np.sqrt(np.mean(d * d)) * 1000),
        "pnn50": float(np.mean(np.abs(d) > 0.05)),
        "mean_bpm": float(60.0 / rr.mean()),
        "min_bpm": float(60.0 / run.max()),
        "max_bpm": float(60.0 / run.min()),
    }


def heart_rate_trend(peaks, fs: float, *, window_beats: int = 8,
                     valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Heart rate over time: running mean of ``window_beats`` RR intervals.

    Returns
    -------
    t_s : ndarray
        Time (s) of each interval's closing beat.
    bpm : ndarray
        Rate in beats per minute (NaN where an interval is invalid).
    """
    p, fs = _check_peaks(peaks, fs)
    if p.size < 2:
        return np.zeros(0), np.zeros(0)
    rr = np.diff(p) / fs
    if valid is not None:
        rr = np.where(valid, rr, np.nan)
    k = max(1, min(int(window_beats), rr.size))
    ok = np.isfinite(rr)
    num = np.convolve(np.where(ok, rr, 0), np.ones(k), mode="full")[:rr.size]
    den = np.convolve(ok.astype(float), np.ones(k), mode="full")[:rr.size]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rr = num / den
        # at least half the window valid (the first beats: whatever history there is)
        need = np.minimum(max(1, k // 2), np.arange(rr.size) + 1)
        bpm = np.where(den >= need, 60.0 / mean_rr, np.nan)
    return p[1:] / fs, bpm


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index runs [a, b) where ``mask`` is True."""
    m = np.r_[False, mask.astype(bool), False]
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def rate_episodes(peaks, fs: float, *, valid: np.ndarray | None = None,
                  brady_bpm: float = BRADY_BPM, tachy_bpm: float = TACHY_BPM,
                  pause_s: float = PAUSE_S, min_duration_s: float = MIN_RATE_EPISODE_S) -> list[dict]:
    """Bradycardia, tachycardia and pause episodes.

    Brady/tachycardia: the 8-beat running rate stays below ``brady_bpm`` / above ``tachy_bpm`` for
    at least ``min_duration_s``. Pause: one RR interval of at least ``pause_s`` (a valid one: gaps in
    unusable signal are not pauses).

    Returns
    -------
    list of dict
        ``{"type", "start_s", "end_s", ...}`` sorted by start; rate episodes carry ``mean_bpm``,
        pauses ``rr_s``.
    """
    p, fs = _check_peaks(peaks, fs)
    if p.size < 3:
        return []
    t, bpm = heart_rate_trend(p, fs, valid=valid)
    rr = np.diff(p) / fs
    ok = np.ones(rr.size, bool) if valid is None else valid.astype(bool)
    episodes: list[dict] = []
    for kind, mask in (("bradycardia", bpm < brady_bpm), ("tachycardia", bpm > tachy_bpm)):
        for a, b in _runs(mask & np.isfinite(bpm)):
            start, end = p[a] / fs, t[b - 1]  # from the interval's opening beat
            if end - start >= min_duration_s:
                episodes.append({"type": kind, "start_s": round(float(start), 3),
                                 "end_s": round(float(end), 3),
                                 "mean_bpm": round(float(np.nanmean(bpm[a:b])), 1)})
    for i in np.flatnonzero((rr >= pause_s) & ok):
        episodes.append({"type": "pause", "start_s": round(float(p[i] / fs), 3),
                         "end_s": round(float(p[i + 1] / fs), 3), "rr_s": round(float(rr[i]), 3)})
    return sorted(episodes, key=lambda e: e["start_s"])


# --------------------------------------------------------------------------------------------
# irregularity features and model
# --------------------------------------------------------------------------------------------
FEATURE_NAMES = (
    "rmssd_over_mean",  # the classic one-line irregularity score
    "cv_rr",  # SDNN / mean RR
    "pnn50",
    "med_abs_drr_over_med",  # robust successive-difference irregularity
    "frac_drr_gt_10pct",  # share of successive changes > 10% of the median RR
    "rmssd_trimmed",  # RMSSD/mean after dropping ectopic-looking intervals (|RR/med - 1| > 15%)
    "turning_point_ratio",  # AF RR series look random (~2/3); sinus is smoother
    "rr_entropy",  # Shannon entropy of the 16-bin normalised RR histogram
    "sd1_fraction",  # Poincare plot shape: SD1 / (SD1 + SD2), bounded even in bigeminy
    "mean_hr_bpm",
    "lag23_rmssd",  # min over lags 2, 3 of RMS(RR[i+k] - RR[i]) / mean: small in bi/trigeminy
    "rr_autocorr1",  # lag-1 autocorrelation: ~0 in AF, > 0 in sinus, < 0 in bigeminy
    "p_wave_corr",  # mean correlation of each beat's P-wave window with the median P wave
    "p_wave_power",  # P-window energy of the median beat relative to its QRS energy
    "tq_fwave",  # fibrillatory activity: 4-9 Hz share of the TQ segments' power
)


def _median(x: np.ndarray, axis: int) -> np.ndarray:
    """``np.median(x, axis=axis)`` (the same values) by one partition: ``np.median`` also
    partitions out the largest value to look for NaN, which doubles its cost on the stacked
    beat windows."""
    if np.isnan(x).any():
        return np.median(x, axis=axis)
    m = x.shape[axis]
    lo, hi = (m - 1) // 2, m // 2
    y = np.partition(x, sorted({lo, hi}), axis=axis)
    a, b = np.take(y, lo, axis=axis), np.take(y, hi, axis=axis)
    return a if lo == hi else (a + b) / 2


def _rr_feature_rows(rr: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The RR features (the first 12 of :data:`FEATURE_NAMES`) of the stretches
    ``rr[lo[i]:hi[i]]`` of plausible intervals (0.2-3 s), one row each; NaN rows for stretches
    of fewer than 4 intervals.

    Stretches of equal length are stacked and reduced together (a record holds few distinct
    lengths), so each NumPy call runs once per length rather than once per window.
    """
    out = np.full((lo.size, 12), np.nan)
    n = hi - lo
    for m in np.unique(n[n >= 4]):
        rows = np.flatnonzero(n == m)
        out[rows] = _rr_block(rr[lo[rows, None] + np.arange(m)[None, :]])
    return out


def _rr_block(R: np.ndarray) -> np.ndarray:
    """The RR features of each row of ``R`` (rows of >= 4 plausible intervals)."""
    g, m = R.shape
    d = np.diff(R, axis=1)
    mean, med = R.mean(axis=1), _median(R, axis=1)
    rmssd = np.sqrt(np.mean(d * d, axis=1))
    # RMSSD of the intervals within 15 % of the median, in their order (kept ones first)
    keep = np.abs(R / med[:, None] - 1) <= 0.15
    nt = keep.sum(axis=1)
    rt = np.take_along_axis(R, np.argsort(~keep, axis=1, kind="stable"), axis=1)
    dt = np.diff(rt, axis=1)
    dt = np.where(np.arange(m - 1)[None, :] < (nt - 1)[:, None], dt, 0.0)
    mean_t = np.where(keep, R, 0.0).sum(axis=1) / np.maximum(nt, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rmssd_t = np.sqrt((dt * dt).sum(axis=1) / np.maximum(nt - 1, 1)) / mean_t
    rmssd_t = np.where(nt >= 3, rmssd_t, rmssd / mean)
    tp = np.mean((d[:, :-1] * d[:, 1:]) < 0, axis=1)
    # 16-bin histogram of RR / median over [0.4, 2.0] (np.histogram's bins, last one closed)
    edges = np.linspace(0.4, 2.0, 17)
    b = np.clip(np.searchsorted(edges, np.clip(R / med[:, None], 0.4, 2.0), side="right") - 1,
                0, 15)
    hist = np.bincount((np.arange(g)[:, None] * 16 + b).ravel(), minlength=g * 16)
    prob = hist.reshape(g, 16) / m
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(prob > 0, prob * np.log(prob), 0.0).sum(axis=1) / np.log(16)
    x1, x2 = R[:, :-1], R[:, 1:]
    sd1 = np.std((x2 - x1) / np.sqrt(2), axis=1)
    sd2 = np.std((x2 + x1) / np.sqrt(2), axis=1)
    # Ectopic patterns repeat (bigeminy: short-long-short-long), AF does not: compare beats 2
    # or 3 apart.
    lag = np.minimum(*(np.sqrt(np.mean((R[:, k:] - R[:, :-k]) ** 2, axis=1))
                       for k in (2, 3))) / mean
    c = R - mean[:, None]
    ac1 = (c[:, 1:] * c[:, :-1]).sum(axis=1) / ((c * c).sum(axis=1) + 1e-12)
    ad = np.abs(d)
    return np.column_stack([rmssd / mean, R.std(axis=1) / mean, np.mean(ad > 0.05, axis=1),
                            _median(ad, axis=1) / med, np.mean(ad > 0.1 * med[:, None], axis=1),
                            rmssd_t, tp, ent, sd1 / (sd1 + sd2 + 1e-9), 60.0 / mean, lag, ac1])


@dataclass
class _BeatMorph:
    """Per-beat quantities behind the morphology features, computed once per record."""

    peaks: np.ndarray  # beats with a full P window
    p_win: np.ndarray  # (n, w) mean-removed P-wave windows
    qrs_win: np.ndarray  # (n, w) mean-removed QRS windows
    tq_f: np.ndarray  # 4-9 Hz energy of the TQ segment closing at each beat
    tq_tot: np.ndarray  # 1-30 Hz energy of that TQ segment


def _beat_morph(clean: np.ndarray, peaks: np.ndarray, fs: float) -> _BeatMorph:
    from scipy import signal as sps

    nb, nq = int(0.3 * fs), int(0.06 * fs)
    p = peaks[(peaks - nb >= 0) & (peaks + nq < clean.size)]
    # P window: 300 ms .. 60 ms before R (PR interval 120-200 ms, P wave ~100 ms).
    pw = clean[p[:, None] + np.arange(-nb, -nq)[None, :]]
    pw = pw - pw.mean(axis=1, keepdims=True)
    qrs = clean[p[:, None] + np.arange(-nq, nq)[None, :]]
    qrs = qrs - qrs.mean(axis=1, keepdims=True)
    # TQ segment before each beat (450 ms after the previous R to 300 ms before this one):
    # only atrial activity is left there, organised P or fibrillatory f-waves (4-9 Hz).
    f_band = sps.sosfiltfilt(sps.butter(2, (4.0, 9.0), "bandpass", fs=fs, output="sos"), clean)
    t_band = sps.sosfiltfilt(sps.butter(2, (1.0, min(30.0, 0.45 * fs)), "bandpass", fs=fs,
                                        output="sos"), clean)
    cf = np.r_[0.0, np.cumsum(f_band * f_band)]
    ct = np.r_[0.0, np.cumsum(t_band * t_band)]
    starts = np.r_[p[0], p[:-1]] + int(0.45 * fs) if p.size else p
    ends = p - nb
    ok = (ends - starts) >= int(0.12 * fs)
    ok[:1] = False  # the first beat has no previous R
    s_, e_ = np.where(ok, starts, 0), np.where(ok, ends, 0)
    return _BeatMorph(peaks=p, p_win=pw, qrs_win=qrs, tq_f=np.where(ok, cf[e_] - cf[s_], 0.0),
                      tq_tot=np.where(ok, ct[e_] - ct[s_], 0.0))


#: Most float64 values one stacked block of beat windows may hold (memory bound per step).
_MAX_BLOCK = 4_000_000


def _morph_feature_rows(bm: _BeatMorph, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """P-wave consistency and TQ fibrillatory activity (the last 3 of :data:`FEATURE_NAMES`)
    of the beat stretches ``lo[i]:hi[i]``, one row each; NaN rows for fewer than 4 beats
    (windows with the same number of beats are stacked and reduced together, as in
    :func:`_rr_feature_rows`)."""
    out = np.full((lo.size, 3), np.nan)
    n = hi - lo
    w = max(bm.p_win.shape[1], bm.qrs_win.shape[1], 1)
    for m in np.unique(n[n >= 4]):
        rows_m = np.flatnonzero(n == m)
        step = max(_MAX_BLOCK // (int(m) * w), 1)
        for k in range(0, rows_m.size, step):
            rows = rows_m[k:k + step]
            idx = lo[rows, None] + np.arange(m)[None, :]
            pw = bm.p_win[idx]
            tmpl = _median(pw, axis=1)
            tn = np.linalg.norm(tmpl, axis=1) + 1e-12
            corr = np.einsum("gmw,gw->gm", pw, tmpl) / (np.linalg.norm(pw, axis=2) * tn[:, None]
                                                       + 1e-12)
            q = _median(bm.qrs_win[idx], axis=1)
            p_power = np.sum(tmpl ** 2, axis=1) / (np.sum(q ** 2, axis=1) + 1e-12)
            tot = bm.tq_tot[idx].sum(axis=1)
            fw = np.divide(bm.tq_f[idx].sum(axis=1), tot, out=np.full(rows.size, np.nan),
                           where=tot > 0)
            out[rows] = np.column_stack([_median(corr, axis=1), np.log10(p_power + 1e-6), fw])
    return out


def rhythm_features(peaks, fs: float, clean: np.ndarray | None = None,
                    valid: np.ndarray | None = None) -> np.ndarray:
    """Feature vector (:data:`FEATURE_NAMES`) of one stretch of rhythm.

    Parameters
    ----------
    peaks : array-like of int
        R-peaks of the stretch.
    fs : float
        Sampling rate in Hz.
    clean : ndarray, optional
        Cleaned ECG (for the P-wave and f-wave features); NaN features without it.
    valid : ndarray of bool, optional
        Validity of each RR interval (see :func:`rr_intervals`).

    Returns
    -------
    ndarray, shape (len(FEATURE_NAMES),)
        NaN entries where the stretch is too short; :class:`RhythmModel` imputes them.
    """
    p, fs = _check_peaks(peaks, fs)
    rr = np.diff(p) / fs if p.size > 1 else np.zeros(0)
    if valid is not None:
        rr = rr[valid.astype(bool)]
    rr = rr[np.isfinite(rr) & (rr > 0.2) & (rr < 3.0)]
    feats = _rr_feature_rows(rr, np.array([0]), np.array([rr.size]))[0]
    if clean is not None and p.size:
        bm = _beat_morph(clean, p, fs)
        morph = _morph_feature_rows(bm, np.array([0]), np.array([bm.peaks.size]))[0]
    else:
        morph = np.full(3, np.nan)
    return np.r_[feats, morph]


@dataclass
class RhythmModel:
    """Small MLP (or logistic regression when ``hidden`` is empty) on standardised features.

    Inference is plain NumPy; the weights come from ``training/train_rhythm.py`` (scikit-learn's
    ``MLPClassifier``) and are stored as tensors in a weights-only checkpoint.

    Attributes
    ----------
    feature_names : tuple of str
    mean_, scale_, fill_ : ndarray
        Standardisation and NaN imputation (train medians) per feature.
    weights_, biases_ : list of ndarray
        Layer parameters (ReLU hidden layers, logistic output).
    threshold_ : float
        Probability above which a stretch is called irregular (chosen on the train split).
    card : dict
        Model card (property): the checkpoint's
        (:func:`cardioclarity.checkpoints.card_from_checkpoint`) when loaded, else name, kind,
        model and threshold.
    """

    feature_names: tuple[str, ...] = FEATURE_NAMES
    mean_: np.ndarray | None = None
    scale_: np.ndarray | None = None
    fill_: np.ndarray | None = None
    weights_: list[np.ndarray] = field(default_factory=list)
    biases_: list[np.ndarray] = field(default_factory=list)
    threshold_: float = 0.5
    #: The loaded checkpoint's card (empty for a model built in this process).
    checkpoint_card: dict = field(default_factory=dict, repr=False)

    @property
    def card(self) -> dict:
        """Model card: the checkpoint's when loaded, else what the model knows about itself."""
        if self.checkpoint_card:
            return dict(self.checkpoint_card)
        return {"name": "unsaved", "kind": KIND_RHYTHM,
                "model": "mlp" if len(self.weights_) > 1 else "logistic",
                "threshold": float(self.threshold_)}

    @classmethod
    def load(cls, name_or_path: str | Path | None = None) -> RhythmModel:
        """Load a rhythm model: a bundled name (default ``rhythm-cinc2017``) or a checkpoint path."""
        from cardioclarity.checkpoints import load_checkpoint

        return cls.from_checkpoint(load_checkpoint(name_or_path or DEFAULT_RHYTHM_MODEL,
                                                   expected_kind=KIND_RHYTHM))

    def predict_proba(self, F) -> np.ndarray:
        """Irregularity probability (higher = more AF-like) for each row of features ``F``."""
        if self.mean_ is None or not self.weights_:
            raise NotFittedError("RhythmModel has no weights.",
                                 hint="load one with RhythmModel.load() or train_rhythm.py.")
        F = np.atleast_2d(np.asarray(F, dtype=np.float64))
        if F.shape[1] != len(self.feature_names):
            raise InvalidInputError(f"Expected {len(self.feature_names)} rhythm features, "
                                    f"got {F.shape[1]}.")
        F = np.where(np.isfinite(F), F, self.fill_[None, :])
        h = (F - self.mean_) / self.scale_
        for i, (w, b) in enumerate(zip(self.weights_, self.biases_, strict=True)):
            h = h @ w + b
            if i < len(self.weights_) - 1:
                h = np.maximum(h, 0.0)
        return 1.0 / (1.0 + np.exp(-np.clip(h[:, 0], -50, 50)))

    def to_checkpoint(self) -> dict:
        """The tensors and plain values that :meth:`from_checkpoint` needs."""
        import torch

        sd = {"mean": torch.tensor(self.mean_), "scale": torch.tensor(self.scale_),
              "fill": torch.tensor(self.fill_)}
        for i, (w, b) in enumerate(zip(self.weights_, self.biases_, strict=True)):
            sd[f"w{i}"], sd[f"b{i}"] = torch.tensor(w), torch.tensor(b)
        return {"state_dict": sd, "config": {"feature_names": list(self.feature_names),
                                             "n_layers": len(self.weights_)},
                "threshold": float(self.threshold_)}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> RhythmModel:
        """Rebuild a model from a loaded checkpoint dict (see :meth:`to_checkpoint`)."""
        from cardioclarity.checkpoints import card_from_checkpoint

        sd, cfg = ckpt["state_dict"], ckpt["config"]
        try:
            n = int(cfg["n_layers"])
            return cls(feature_names=tuple(cfg["feature_names"]),
                       mean_=sd["mean"].numpy(), scale_=sd["scale"].numpy(),
                       fill_=sd["fill"].numpy(),
                       weights_=[sd[f"w{i}"].numpy() for i in range(n)],
                       biases_=[sd[f"b{i}"].numpy() for i in range(n)],
                       threshold_=float(ckpt["threshold"]),
                       checkpoint_card=card_from_checkpoint(ckpt))
        except (KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"Rhythm checkpoint is missing field {exc}.") from exc


def window_features(peaks, fs: float, clean: np.ndarray | None, *, window_s: float = 30.0,
                    step_s: float = 10.0, valid: np.ndarray | None = None,
                    n_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features of sliding windows over a record.

    Returns
    -------
    starts_s : ndarray
        Window start times (s); each window spans ``[start, start + window_s)``.
    F : ndarray, shape (n_windows, n_features)
    """
    p, fs = _check_peaks(peaks, fs)
    n = n_samples if n_samples is not None else (clean.size if clean is not None else
                                                   (int(p[-1]) + 1 if p.size else 0))
    dur = n / fs
    if dur <= window_s:
        starts = np.array([0.0])
    else:
        starts = np.arange(0.0, dur - window_s + 1e-9, step_s)
    bm = _beat_morph(clean, p, fs) if clean is not None and p.size else None
    rr_all = np.diff(p) / fs if p.size > 1 else np.zeros(0)
    t0, t1 = starts * fs, (starts + window_s) * fs
    # Window i holds the intervals rr_all[a:max(a, b - 1)]; of those, the features read the
    # valid, plausible ones, a contiguous stretch lo:hi of the record's kept intervals.
    a, b = np.searchsorted(p, t0), np.searchsorted(p, t1)
    kept = np.isfinite(rr_all) & (rr_all > 0.2) & (rr_all < 3.0)
    if valid is not None:
        kept &= np.asarray(valid, dtype=bool)
    ck = np.r_[0, np.cumsum(kept)]
    # A window that starts after the last beat has a == p.size, one past ck's end: clip it
    # (an empty window, lo == hi).
    last = ck.size - 1
    F_rr = _rr_feature_rows(rr_all[kept], ck[np.minimum(a, last)],
                            ck[np.minimum(np.maximum(a, b - 1), last)])
    if bm is not None:
        F_m = _morph_feature_rows(bm, np.searchsorted(bm.peaks, t0),
                                  np.searchsorted(bm.peaks, t1))
    else:
        F_m = np.full((starts.size, 3), np.nan)
    return starts, np.hstack([F_rr, F_m])


def irregular_episodes(starts_s: np.ndarray, proba: np.ndarray, threshold: float,
                       window_s: float, duration_s: float) -> list[dict]:
    """Merge overlapping irregular windows into ``irregular_rhythm`` episodes (AF-like)."""
    episodes: list[dict] = []
    for a, b in _runs(proba >= threshold):
        start = round(float(starts_s[a]), 3)
        end = round(float(min(starts_s[b - 1] + window_s, duration_s)), 3)
        pmax = round(float(proba[a:b].max()), 4)
        if episodes and start <= episodes[-1]["end_s"]:
            # windows overlap, so two runs one regular window apart still touch: one episode
            episodes[-1]["end_s"] = max(episodes[-1]["end_s"], end)
            episodes[-1]["max_probability"] = max(episodes[-1]["max_probability"], pmax)
        else:
            episodes.append({"type": "irregular_rhythm", "start_s": start, "end_s": end,
                             "max_probability": pmax})
    return episodes


def trim_irregular_episodes(episodes: list[dict], peaks, fs: float, sinus_context, *,
                            min_run_s: float = MIN_SINUS_RUN_S,
                            min_run_beats: int = MIN_SINUS_RUN_BEATS,
                            min_beats: int = MIN_IRREGULAR_BEATS,
                            margin_beats: int = SINUS_RUN_MARGIN_BEATS
                            ) -> tuple[list[dict], np.ndarray]:
    """Cut the stretches of sinus-context beats out of ``irregular_rhythm`` episodes.

    The episodes come from 30-s windows: one irregular window covers the sinus beats beside an
    AF stretch, and its premature beats are then taken for AF. Here every run of consecutive
    beats flagged ``sinus_context`` that lasts at least ``min_run_s`` seconds and
    ``min_run_beats`` beats leaves the episode it lies in, less ``margin_beats`` beats at each
    end of the run (a beat's context is partly its neighbours', so at a change of rhythm the
    first and last beats of a run may still be the arrhythmia's); this may split the episode.
    Each remaining piece runs from its first to its last beat (the window edge where the piece
    reaches it); a piece of fewer than ``min_beats`` beats is no episode (a handful of beats
    cannot show an irregular rhythm), but its beats stay covered: they are not judged one by
    one as premature.

    Parameters
    ----------
    episodes : list of dict
        :func:`irregular_episodes` output (other episode types are returned unchanged).
    peaks : array-like of int
        R-peak sample indices.
    fs : float
        Sampling rate in Hz.
    sinus_context : array-like of bool
        Per beat: its surrounding beats are in sinus rhythm (P waves alike the sinus template;
        see :meth:`~cardioclarity.ecg.records.classify.DecisionRule.sinus_context`).

    Returns
    -------
    episodes : list of dict
        The trimmed episodes, in order.
    covered : ndarray of bool
        Per beat: inside an irregular episode's remaining pieces, short ones included.
    """
    p, fs = _check_peaks(peaks, fs)
    sinus = np.asarray(sinus_context, dtype=bool).ravel()
    if sinus.size != p.size:
        raise InvalidInputError(f"sinus_context needs one flag per peak ({p.size}), "
                                f"got {sinus.size}.")
    t = p / fs
    out: list[dict] = []
    covered = np.zeros(p.size, dtype=bool)
    for ep in episodes:
        if ep.get("type") != "irregular_rhythm":
            out.append(ep)
            continue
        idx = np.flatnonzero((t >= ep["start_s"]) & (t <= ep["end_s"]))
        cut = np.zeros(idx.size, dtype=bool)
        for a, b in _runs(sinus[idx]):
            if b - a >= min_run_beats and t[idx[b - 1]] - t[idx[a]] >= min_run_s:
                cut[a + margin_beats:b - margin_beats] = True
        covered[idx[~cut]] = True
        if not cut.any():
            out.append(ep)
            continue
        for a, b in _runs(~cut):
            if b - a < min_beats:
                continue
            # a piece that reaches the window episode's edge keeps that edge
            start = ep["start_s"] if a == 0 else round(float(t[idx[a]]), 3)
            end = ep["end_s"] if b == idx.size else round(float(t[idx[b - 1]]), 3)
            out.append({**ep, "start_s": start, "end_s": end})
    return out, covered
