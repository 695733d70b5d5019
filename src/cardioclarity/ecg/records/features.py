"""Per-beat features for inter-patient beat classification, relative to the patient's own sinus.

Every quantity is computed at a fixed *physical* resolution (windows resampled on a time axis in
seconds), so the same features come out at 128 Hz (SVDB), 360 Hz (MIT-BIH) or 1 kHz.

Stages:

- :func:`sinus_reference` — the patient's underlying rhythm and morphology: beats are clustered
  by QRS shape (medoids drawn from the beats nearest to a regular time grid, so that another
  R-peak detector's beat more or less changes nothing far from it); the cluster whose beats
  come least early and carry the most consistent P waves is the sinus one; within it, beats
  that are neither premature against the running RR of that cluster nor pauses are
  *sinus-consistent*. Their running median RR is the underlying RR (frequent ectopy cannot
  drag it: ectopic beats are not in the median), their median QRS and P waves are the
  templates. The patient-adaptive autoencoder score calibrates on the same beats
  (:func:`~cardioclarity.ecg.records.analyze.patient_reference`). Without enough
  sinus-consistent beats (all ectopy, all paced, a short record) the reference falls back to
  all beats and says so (``method``).
- :func:`beat_features` — one row of :data:`FEATURE_NAMES` per beat: RR intervals normalised by
  the underlying RR, QRS width and shape against the sinus template, P-wave presence and shape,
  and (when given) the autoencoder's morphology score.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cardioclarity.validation import check_fs

__all__ = ["FEATURE_NAMES", "SinusReference", "beat_features", "sinus_reference"]

#: Feature columns of :func:`beat_features`, in order.
FEATURE_NAMES = (
    "pre_rr_n",  # RR before the beat / underlying RR
    "post_rr_n",  # RR after the beat / underlying RR
    "pre_post_ratio",  # RR before / RR after (an early beat then a pause: << 1)
    "prev_pre_rr_n",  # previous beat's pre-RR / underlying RR (runs, bigeminy)
    "next_pre_rr_n",  # next beat's pre-RR (= post-RR of this one's successor) / underlying RR
    "local_rr_n",  # mean of the 10 intervals around the beat / underlying RR
    "pre_rr_local",  # RR before / local mean (premature against what surrounds it)
    "underlying_rr_s",  # the underlying RR itself (rate)
    "qrs_corr",  # correlation of the QRS window (-100..+150 ms) with the sinus template
    "qrs_dist",  # mean |QRS - template| in units of the record's QRS amplitude
    "beat_corr",  # correlation of the whole beat window (-250..+450 ms) with the sinus beat
    "beat_dist",
    "qrs_amp_ratio",  # peak-to-peak QRS amplitude / the template's
    "qrs_width_s",  # QRS width: span holding 10-90 % of the QRS-band slope energy
    "qrs_width_ratio",  # width / the template's width
    "r_polarity",  # sign-weighted dominant deflection relative to the template's
    "p_corr",  # correlation of the P window (-300..-80 ms) with the sinus P template
    "p_energy_ratio",  # P-window RMS / the sinus beats' median P-window RMS
    "p_dist",  # mean |P - sinus P| in units of the record's QRS amplitude
    "t_corr",  # correlation of the ST-T window (+150..+450 ms) with the sinus one
    "prev_qrs_corr",  # neighbours' QRS correlation (a beat between two ectopics)
    "next_qrs_corr",
    "ae_score",  # autoencoder morphology score (1.0 = its threshold); NaN without a model
    "long_rr_n",  # median RR of the ~5 minutes around the beat / underlying RR
    "rate_change",  # underlying RR here / the record's median underlying RR
    "rr_irregularity",  # median |successive RR difference| / local RR over +-10 beats (AF)
    "rr_irregularity_lag2",  # same with RR two beats apart (low in bigeminy, high in AF)
    "p_prev_corr",  # correlation of the P window with the previous beat's
    "p_amp",  # peak-to-peak of the P window in units of the record's QRS amplitude
    "p_corr_record",  # P correlation with the whole record's sinus P template
    "qrs_corr_record",  # QRS correlation with the whole record's sinus template
    "p_corr_context",  # median p_corr of the +-10 beats around (low all along in AF)
)

#: Windows (seconds from R) and their resampled lengths (10 ms steps).
_QRS_WIN, _BEAT_WIN, _P_WIN, _T_WIN = (-0.10, 0.15), (-0.25, 0.45), (-0.30, -0.08), (0.15, 0.45)
_STEP_S = 0.01
#: Clustering: beats sampled, correlation that makes two QRS alike, clusters kept.
_N_SAMPLE, _CLUSTER_CORR, _MAX_CLUSTERS = 400, 0.9, 6
#: Finest spacing (s) of the time grid the clustered beats are drawn at.
_SAMPLE_STEP_S = 1.0
#: A beat earlier than this fraction of the running sinus RR is not sinus-consistent.
_PREMATURE_FRAC = 0.88
#: Quantile of the cluster's RRs that seeds the sinus reference (see :func:`sinus_reference`).
_FIRST_PASS_PERCENTILE = 75.0
#: An interval this much longer than the one before is a post-ectopic pause; one this much
#: longer than the running sinus RR is a pause, not the underlying rhythm.
_PAUSE_RATIO = 1.5
#: Sinus beats in a running template, and beats in the long (~5 min) RR median.
_TEMPLATE_BEATS, _LONG_BEATS = 61, 301
#: Spacing (s) of the running templates.
_TEMPLATE_STEP_S = 10.0
#: Fewest sinus-consistent beats for a patient reference (else the fallback).
MIN_SINUS_BEATS = 10


def _windows(x: np.ndarray, peaks: np.ndarray, fs: float, span: tuple[float, float]
             ) -> np.ndarray:
    """Windows ``span`` (s) around each peak at 10-ms steps, linearly interpolated (any ``fs``);
    samples beyond the signal's ends take the edge value, so every beat gets a window."""
    t = np.arange(span[0], span[1] + 1e-9, _STEP_S)
    pos = peaks[:, None] + t[None, :] * fs
    pos = np.clip(pos, 0, x.size - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, x.size - 1)
    frac = pos - lo
    return x[lo] * (1 - frac) + x[hi] * frac


def _corr(W: np.ndarray, tmpl: np.ndarray) -> np.ndarray:
    """Correlation of each window (row of ``W``) with one template (1-D ``tmpl``) or with its
    own row of an equally shaped stack of templates (2-D ``tmpl``)."""
    Wc = W - W.mean(axis=1, keepdims=True)
    if tmpl.ndim == 1:
        tc = tmpl - tmpl.mean()
        return (Wc @ tc) / (np.linalg.norm(Wc, axis=1) * np.linalg.norm(tc) + 1e-12)
    tc = tmpl - tmpl.mean(axis=1, keepdims=True)
    return (Wc * tc).sum(axis=1) / (np.linalg.norm(Wc, axis=1) * np.linalg.norm(tc, axis=1) + 1e-12)


def _qrs_width(Q: np.ndarray) -> np.ndarray:
    """Width (s) of the span holding 10-90 % of each QRS window's absolute slope."""
    e = np.abs(np.diff(Q, axis=1))
    c = np.cumsum(e, axis=1)
    c = np.c_[np.zeros(c.shape[0]), c / (c[:, -1:] + 1e-12)]

    def crossing(level: float) -> np.ndarray:
        # fractional index where the cumulative slope reaches ``level`` (linear between
        # samples, so the width is not quantised to the 10-ms grid)
        i = np.clip((c < level).sum(axis=1), 1, c.shape[1] - 1)
        lo, hi = c[np.arange(c.shape[0]), i - 1], c[np.arange(c.shape[0]), i]
        return i - 1 + (level - lo) / np.maximum(hi - lo, 1e-12)

    return (crossing(0.9) - crossing(0.1)) * _STEP_S


def _nanmedian(x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(x, **kw)


@dataclass
class SinusReference:
    """The patient's underlying rhythm and sinus templates (see :func:`sinus_reference`).

    Attributes
    ----------
    rr_s : ndarray
        Underlying RR (s) at each beat.
    sinus : ndarray of bool
        Sinus-consistent beats.
    qrs_template, beat_template, p_template, t_template : ndarray
        Median windows of the sinus-consistent beats.
    scale : float
        The record's typical peak-to-peak QRS amplitude (its amplitude unit).
    method : str
        ``"sinus_cluster"`` or ``"fallback_all_beats"`` (too few sinus-consistent beats).
    n_clusters : int
        QRS-shape clusters found.
    """

    rr_s: np.ndarray
    sinus: np.ndarray
    qrs_template: np.ndarray
    beat_template: np.ndarray
    p_template: np.ndarray
    t_template: np.ndarray
    scale: float
    method: str
    n_clusters: int

    def describe(self) -> dict:
        """Plain-value summary for ``findings.json``'s ``model`` object."""
        rr = self.rr_s[np.isfinite(self.rr_s)]
        return {"method": self.method, "n_sinus_beats": int(self.sinus.sum()),
                "n_clusters": int(self.n_clusters),
                "underlying_rr_s": round(float(np.median(rr)), 4) if rr.size else None}


def _rr_pre(peaks: np.ndarray, fs: float, rr_valid: np.ndarray | None) -> np.ndarray:
    """RR before each beat (s); NaN for the first beat and invalid intervals."""
    rr = np.diff(peaks) / fs
    if rr_valid is not None and rr_valid.size == rr.size:
        rr = np.where(rr_valid, rr, np.nan)
    return np.r_[np.nan, rr]


def _sample_beats(peaks: np.ndarray, fs: float) -> np.ndarray:
    """Indices of the beats nearest to a regular time grid (at most ~``_N_SAMPLE`` of them).

    The grid is anchored at the record's start and its step depends only on the last beat's
    time, so one beat more or less (another R-peak detector, a missed beat) changes the sample
    only next to that beat: the clusters, and with them every beat's features, stay put. A
    random draw of beat *indices* would shift all of them.
    """
    n = peaks.size
    if n <= _N_SAMPLE:
        return np.arange(n)
    step = max(_SAMPLE_STEP_S * fs, float(peaks[-1]) / _N_SAMPLE)
    grid = np.arange(np.ceil(peaks[0] / step), np.floor(peaks[-1] / step) + 1) * step
    if grid.size < _N_SAMPLE // 4:  # beats only in the last stretch of a long recording
        grid = np.linspace(peaks[0], peaks[-1], _N_SAMPLE)
    j = np.clip(np.searchsorted(peaks, grid), 1, n - 1)
    j = np.where(grid - peaks[j - 1] <= peaks[j] - grid, j - 1, j)
    return np.unique(j)


def _cluster(Q: np.ndarray, peaks: np.ndarray, fs: float) -> np.ndarray:
    """Cluster label (0..k-1, -1 = none) of every beat by QRS correlation (greedy medoids on a
    time-stratified sample of beats, then every beat to its most correlated medoid)."""
    n = Q.shape[0]
    idx = _sample_beats(peaks, fs)
    S = Q[idx] - Q[idx].mean(axis=1, keepdims=True)
    S /= np.linalg.norm(S, axis=1, keepdims=True) + 1e-12
    C = S @ S.T >= _CLUSTER_CORR
    free = np.ones(idx.size, dtype=bool)
    medoids = []
    while free.sum() >= max(5, 0.03 * idx.size) and len(medoids) < _MAX_CLUSTERS:
        counts = (C & free[None, :]).sum(axis=1) * free
        m = int(np.argmax(counts))
        if counts[m] < 3:
            break
        medoids.append(m)
        free &= ~C[m]
    if not medoids:
        return np.zeros(n, dtype=np.int64)
    A = Q - Q.mean(axis=1, keepdims=True)
    A /= np.linalg.norm(A, axis=1, keepdims=True) + 1e-12
    sim = A @ S[medoids].T
    lab = np.argmax(sim, axis=1)
    return np.where(sim.max(axis=1) >= 0.75, lab, -1)


def _running_ref(values: np.ndarray, mask: np.ndarray, size: int = 61,
                 percentile: float = 50.0) -> np.ndarray:
    """Running median (or ``percentile``) of ``values`` over the ``mask`` beats, carried to
    every beat."""
    sel = np.flatnonzero(mask & np.isfinite(values))
    out = np.full(values.size, np.nan)
    if sel.size == 0:
        return out
    w = min(size, sel.size) | 1
    # Mirrored edges: with the edge value repeated ("nearest"), the first and last beats would
    # fill half the window and their interval (often a pause or an ectopic one) would be the
    # reference of the record's first and last half-minute.
    med = (ndimage.median_filter(values[sel], size=w, mode="mirror") if percentile == 50.0
           else ndimage.percentile_filter(values[sel], percentile, size=w, mode="mirror"))
    return np.interp(np.arange(values.size), sel, med)


def _on_time(pre: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Intervals consistent with the sinus reference ``ref``: neither premature nor a pause."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(pre) & (pre >= _PREMATURE_FRAC * ref) & (pre <= _PAUSE_RATIO * ref)


def _local_templates(W: np.ndarray, sinus: np.ndarray, size: int, peaks: np.ndarray,
                     fs: float) -> np.ndarray:
    """Per-beat template: median of the windows ``W`` of ``size`` sinus-consistent beats around
    each beat. Slow drifts of lead position or conduction then do not read as a morphology
    change. Medians are taken every ``_TEMPLATE_STEP_S`` seconds of a grid anchored at the
    record's start, each over the sinus beats nearest to its time, and each beat takes the
    nearest one (a template changes slowly; this keeps the cost to one small median per grid
    step, and a beat more or less changes only the medians whose window holds it). With no
    sinus beat, the median of all windows."""
    n = W.shape[0]
    sel = np.flatnonzero(sinus)
    if sel.size == 0:
        return np.broadcast_to(np.median(W, axis=0), W.shape) if n else W
    half = min(size, sel.size) // 2
    step = _TEMPLATE_STEP_S * fs
    ts = peaks[sel].astype(np.float64)
    g0 = np.floor(ts[0] / step)
    grid = np.arange(g0, np.ceil(ts[-1] / step) + 1) * step
    centre = np.clip(np.searchsorted(ts, grid), 0, sel.size - 1)
    lo = np.clip(centre - half, 0, max(sel.size - 2 * half - 1, 0))
    idx = np.minimum(lo[:, None] + np.arange(2 * half + 1)[None, :], sel.size - 1)
    M = np.median(W[sel[idx]], axis=1)
    j = np.clip(np.rint(peaks / step - g0).astype(np.int64), 0, grid.size - 1)
    return M[j]


def _running_median_all(values: np.ndarray, size: int) -> np.ndarray:
    """Running median over the finite entries of ``values`` (``size`` of them), at every beat."""
    return _running_ref(values, np.ones(values.size, dtype=bool), size=size)


def sinus_reference(clean: np.ndarray, peaks: np.ndarray, fs: float,
                    rr_valid: np.ndarray | None = None) -> SinusReference:
    """Underlying RR and sinus templates from the beats consistent with sinus rhythm.

    Parameters
    ----------
    clean : ndarray
        Cleaned lead.
    peaks : ndarray of int
        R-peaks (sample indices at ``fs``).
    fs : float
        Sampling rate in Hz.
    rr_valid : ndarray of bool, optional
        Validity of each RR interval (intervals over unusable signal are not RRs).

    Returns
    -------
    SinusReference
    """
    fs = check_fs(fs)
    peaks = np.asarray(peaks, dtype=np.int64)
    clean = np.asarray(clean, dtype=np.float64)
    return _reference_from_windows(_beat_windows(clean, peaks, fs), peaks, fs, rr_valid)


def _beat_windows(clean: np.ndarray, peaks: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """QRS, whole-beat, P (mean removed) and ST-T windows of every beat (computed once)."""
    P = _windows(clean, peaks, fs, _P_WIN)
    return {"Q": _windows(clean, peaks, fs, _QRS_WIN), "B": _windows(clean, peaks, fs, _BEAT_WIN),
            "P": P - P.mean(axis=1, keepdims=True), "T": _windows(clean, peaks, fs, _T_WIN)}


def _reference_from_windows(W: dict[str, np.ndarray], peaks: np.ndarray, fs: float,
                            rr_valid: np.ndarray | None) -> SinusReference:
    """:func:`sinus_reference` on precomputed :func:`_beat_windows`."""
    Q, P = W["Q"], W["P"]
    scale = float(np.median(Q.max(axis=1) - Q.min(axis=1))) if peaks.size else 1.0
    scale = scale if scale > 1e-9 else 1.0
    pre = _rr_pre(peaks, fs, rr_valid)
    labels = _cluster(Q, peaks, fs) if peaks.size >= 3 else \
        np.zeros(peaks.size, dtype=np.int64)
    n_clusters = int(labels.max() + 1) if labels.size else 0
    rough = _nanmedian(pre) if np.isfinite(pre).any() else np.nan
    best, best_score = None, -np.inf
    for k in range(n_clusters):
        m = labels == k
        if m.sum() < max(MIN_SINUS_BEATS, 0.1 * peaks.size):
            continue
        # Sinus beats come on time (ectopics early) and carry one consistent P wave.
        timing = _nanmedian(pre[m]) / rough if np.isfinite(rough) else 1.0
        p_cons = float(np.median(_corr(P[m], np.median(P[m], axis=0))))
        score = timing + 0.3 * p_cons + 0.1 * m.mean()
        if score > best_score:
            best, best_score = m, score
    sinus = np.zeros(peaks.size, dtype=bool)
    method = "fallback_all_beats"
    if best is not None:
        # First pass: an upper quantile, so that ectopy as frequent as bigeminy (half of the
        # cluster's beats early) cannot pull the reference down to the ectopic intervals;
        # the pauses that follow early beats (an interval much longer than the one before)
        # are left out of it, or they would be the upper quantile.
        prev = np.r_[np.nan, pre[:-1]]
        pause = np.isfinite(prev) & (pre > _PAUSE_RATIO * prev)
        ref0 = _running_ref(pre, best & ~pause, percentile=_FIRST_PASS_PERCENTILE)
        if not np.isfinite(ref0).any():
            ref0 = _running_ref(pre, best)
        sinus = _on_time(pre, ref0) & best
        ref1 = _running_ref(pre, sinus)
        sinus = _on_time(pre, ref1) & best
        if sinus.sum() >= MIN_SINUS_BEATS:
            method = "sinus_cluster"
    if method != "sinus_cluster":
        sinus = np.isfinite(pre) if np.isfinite(pre).sum() >= 3 else np.ones(peaks.size, bool)
    rr_s = _running_ref(pre, sinus)
    if not np.isfinite(rr_s).any():
        rr_s = np.full(peaks.size, 1.0 if not np.isfinite(rough) else rough)
    B = W["B"][sinus] if sinus.any() else np.zeros((1, W["B"].shape[1]))
    T = W["T"][sinus] if sinus.any() else np.zeros((1, W["T"].shape[1]))
    return SinusReference(
        rr_s=rr_s, sinus=sinus, qrs_template=np.median(Q[sinus], axis=0) if sinus.any()
        else np.zeros(Q.shape[1]), beat_template=np.median(B, axis=0),
        p_template=np.median(P[sinus], axis=0) if sinus.any() else np.zeros(P.shape[1]),
        t_template=np.median(T, axis=0), scale=scale, method=method, n_clusters=n_clusters)


def beat_features(clean: np.ndarray, peaks: np.ndarray, fs: float, *,
                  rr_valid: np.ndarray | None = None, ae_score: np.ndarray | None = None,
                  reference: SinusReference | None = None) -> tuple[np.ndarray, SinusReference]:
    """Feature matrix (:data:`FEATURE_NAMES`) of every beat, relative to the patient's sinus.

    Parameters
    ----------
    clean : ndarray
        Cleaned lead.
    peaks : ndarray of int
        R-peaks.
    fs : float
        Sampling rate in Hz.
    rr_valid : ndarray of bool, optional
        Validity of each RR interval.
    ae_score : ndarray, optional
        Autoencoder morphology score per beat (NaN column without it).
    reference : SinusReference, optional
        Precomputed :func:`sinus_reference` (computed here otherwise).

    Returns
    -------
    F : ndarray, shape (n_beats, len(FEATURE_NAMES))
        NaN where a value is unknown (first/last beat, invalid intervals).
    reference : SinusReference
    """
    fs = check_fs(fs)
    peaks = np.asarray(peaks, dtype=np.int64)
    clean = np.asarray(clean, dtype=np.float64)
    W = _beat_windows(clean, peaks, fs)
    ref = reference if reference is not None else _reference_from_windows(W, peaks, fs, rr_valid)
    n = peaks.size
    pre = _rr_pre(peaks, fs, rr_valid)
    post = np.r_[pre[1:], np.nan]
    u = ref.rr_s
    k = 10
    ok = np.isfinite(pre)
    num = ndimage.uniform_filter1d(np.where(ok, pre, 0.0), size=k, mode="mirror")
    den = ndimage.uniform_filter1d(ok.astype(float), size=k, mode="mirror")
    with np.errstate(invalid="ignore", divide="ignore"):
        local = np.where(den > 0, num / den, np.nan)
        cols = {
            "pre_rr_n": pre / u, "post_rr_n": post / u, "pre_post_ratio": pre / post,
            "prev_pre_rr_n": np.r_[np.nan, pre[:-1]] / u if n else pre,
            "next_pre_rr_n": np.r_[post[1:], np.nan] / u if n else pre,
            "local_rr_n": local / u, "pre_rr_local": pre / local, "underlying_rr_s": u,
        }
    with np.errstate(invalid="ignore", divide="ignore"):
        lag1 = np.abs(np.diff(pre, prepend=np.nan)) / local
        lag2 = np.abs(pre - np.r_[np.nan, np.nan, pre[:-2]][:n]) / local
        u_med = float(_nanmedian(u)) if np.isfinite(u).any() else np.nan
        cols.update({
            "long_rr_n": _running_median_all(pre, _LONG_BEATS) / u,
            "rate_change": u / u_med,
            "rr_irregularity": _running_median_all(lag1, 2 * k + 1),
            "rr_irregularity_lag2": _running_median_all(lag2, 2 * k + 1),
        })
    Q, B, P, T = W["Q"], W["B"], W["P"], W["T"]
    # Templates local in time (running medians of the sinus beats), so drifting morphology
    # is not mistaken for ectopy; the whole-record template is kept beside them.
    sinus = ref.sinus if ref.sinus.size == n else np.ones(n, dtype=bool)
    Qt = _local_templates(Q, sinus, _TEMPLATE_BEATS, peaks, fs)
    Pt = _local_templates(P, sinus, _TEMPLATE_BEATS, peaks, fs)
    qc_rec = _corr(Q, ref.qrs_template)
    qc = _corr(Q, Qt)
    pc = _corr(P, Pt)
    p_prev = np.r_[np.nan, _corr(P[1:], P[:-1])] if n > 1 else np.full(n, np.nan)
    # Distances after aligning each window's median level (baseline) with the template's.
    qd = np.abs((Q - np.median(Q, axis=1, keepdims=True))
                - (Qt - np.median(Qt, axis=1, keepdims=True))).mean(axis=1) / ref.scale
    bd = np.abs((B - np.median(B, axis=1, keepdims=True))
                - (ref.beat_template - np.median(ref.beat_template))).mean(axis=1) / ref.scale
    t_amp = float(np.ptp(ref.qrs_template)) or 1.0
    width = _qrs_width(Q)
    t_width = float(_qrs_width(ref.qrs_template[None, :])[0]) or _STEP_S
    tq = ref.qrs_template - np.median(ref.qrs_template)
    t_sign = tq[np.argmax(np.abs(tq))]
    Qm = Q - np.median(Q, axis=1, keepdims=True)
    dom = Qm[np.arange(n), np.argmax(np.abs(Qm), axis=1)] if n else np.zeros(0)
    # The median of the sinus beats' own RMS, not the RMS of their median: without P waves
    # (AF) the median window is near zero and a ratio to it would swing with every beat.
    rms = np.sqrt(np.mean(P ** 2, axis=1))
    p_rms = float(np.median(rms[sinus])) if sinus.any() and n else 0.0
    p_rms = p_rms or 1e-9
    cols.update({
        "qrs_corr": qc, "qrs_dist": qd, "beat_corr": _corr(B, ref.beat_template),
        "beat_dist": bd, "qrs_amp_ratio": np.ptp(Q, axis=1) / t_amp, "qrs_width_s": width,
        "qrs_width_ratio": width / t_width, "r_polarity": dom / (t_sign if t_sign else 1.0),
        "p_corr": pc, "p_corr_record": _corr(P, ref.p_template),
        "qrs_corr_record": qc_rec, "p_prev_corr": p_prev,
        "p_amp": np.ptp(P, axis=1) / ref.scale,
        "p_energy_ratio": rms / p_rms,
        "p_dist": np.abs(P - Pt).mean(axis=1) / ref.scale,
        "t_corr": _corr(T, ref.t_template),
        "prev_qrs_corr": np.r_[np.nan, qc[:-1]] if n else qc,
        "next_qrs_corr": np.r_[qc[1:], np.nan] if n else qc,
        "p_corr_context": _running_median_all(pc, 2 * k + 1),
        "ae_score": np.asarray(ae_score, dtype=np.float64) if ae_score is not None
        else np.full(n, np.nan),
    })
    F = np.column_stack([np.asarray(cols[c], dtype=np.float64) for c in FEATURE_NAMES]) if n \
        else np.zeros((0, len(FEATURE_NAMES)))
    F[~np.isfinite(F)] = np.nan
    return F, ref
