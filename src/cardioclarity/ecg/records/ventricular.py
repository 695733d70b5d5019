"""Ventricular tachyarrhythmias: VT runs from classified beats, VF/flutter from the signal itself.

- :func:`vt_episodes` — runs of >= 3 consecutive V beats above 100 bpm, with rate and duration
  (optionally taking in the beats shaped like their V beats: :func:`extend_ventricular_runs`);
- :func:`vf_window_features` + :class:`VFDetector` + :func:`vf_episodes` — ventricular
  flutter/fibrillation. In VF there are no QRS complexes to detect, and the quality check sees
  a signal without beats, so VF is found on the signal: sliding 4-s windows are described by
  their spectrum (a dominant 2-9 Hz oscillation holding most of the power, little above 12 Hz or
  below 1.5 Hz), how much of the time the signal is away from baseline, its periodicity and its
  amplitude against the record's own beats; gradient-boosted trees (``training/train_vf.py``; trained
  on cudb, MIT-BIH and the nstdb noise records, so muscle and motion noise are negatives) gives
  a probability per window, and runs of windows above its threshold are episodes.

Times are seconds from the start of the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cardioclarity.errors import CheckpointError, InvalidInputError, NotFittedError
from cardioclarity.validation import check_fs

__all__ = ["DEFAULT_VF_MODEL", "KIND_VF", "VF_FEATURE_NAMES", "VFDetector", "VT_RUN_METHODS",
           "cross_val_vf_proba", "extend_ventricular_runs", "vf_episodes", "vf_window_features",
           "vt_episodes"]

DEFAULT_VF_MODEL = "vf-cudb"
KIND_VF = "ecg-vf-detector"
#: VT rule: fewest consecutive V beats and the lowest rate (bpm) of a run.
VT_MIN_BEATS, VT_MIN_BPM = 3, 100.0
#: What makes a VT run: the beats classified V ("classes"), or also the fast beats joined to
#: them by shape ("shape", :func:`extend_ventricular_runs`).
VT_RUN_METHODS = ("classes", "shape")
#: VF windows: length and step (s); fewest consecutive VF windows for an episode.
VF_WINDOW_S, VF_STEP_S, VF_MIN_WINDOWS = 4.0, 2.0, 3
#: Rate the VF features are computed at (Hz).
_VF_FS = 64.0

VF_FEATURE_NAMES = (
    "dominant_hz",  # frequency of the spectral peak in 1-10 Hz
    "peak_concentration",  # power within +-1 Hz of that peak / 0.5-30 Hz power
    "hf_fraction",  # power above 12 Hz / 0.5-30 Hz power (muscle noise, sharp QRS)
    "lf_fraction",  # power below 1.5 Hz / 0.5-30 Hz power (baseline wander, slow rhythms)
    "busy_fraction",  # samples above 20 % of the window's robust peak amplitude (VF: most)
    "kurtosis",  # sinus ECG is peaky (high), VF near-sinusoidal (low)
    "periodicity",  # largest autocorrelation over lags 0.11-1 s
    "amplitude_ratio",  # log10 of window p1-p99 range / the record's median window range
    "slope_ratio",  # mean |slope| / range: sharp QRS vs smooth oscillation
)


#: Run extension: a beat joins a neighbouring V beat's run when it comes this fast and either
#: its QRS correlates this well with that beat's, at an amplitude within this factor of it, or
#: its QRS correlates less than this with the patient's sinus QRS (multiform runs).
RUN_CORR, RUN_AMP_FACTOR, RUN_MAX_RR_S, RUN_SINUS_MAX = 0.9, 1.5, 0.5, 0.0
#: ... and less than this percentile of the record's N beats' correlation with it.
RUN_SINUS_PCT = 1.0


def _qrs_windows(clean: np.ndarray, peaks: np.ndarray, fs: float) -> np.ndarray:
    """Mean-removed +-80 ms windows of the QRS complexes (edge beats padded by the edge)."""
    w = max(int(round(0.08 * fs)), 1)
    idx = np.clip(peaks[:, None] + np.arange(-w, w + 1)[None, :], 0, clean.size - 1)
    W = clean[idx]
    return W - W.mean(axis=1, keepdims=True)


def extend_ventricular_runs(clean: np.ndarray, peaks: np.ndarray, fs: float,
                            aami_class: np.ndarray) -> np.ndarray:
    """V beats plus the beats that belong to their runs by shape: which beats are ventricular.

    A beat-by-beat classifier judges each beat against the patient's sinus rhythm and its RR
    context; inside a run the RR context of a V beat is its run neighbours', so beats in the
    middle of a run are often called N or S although they have the shape of the V beats around
    them (MIT-BIH 203: V-S-S runs of beats unlike any sinus beat). A beat becomes
    ventricular here when it follows or precedes a ventricular beat within
    :data:`RUN_MAX_RR_S` and either its QRS correlates >= :data:`RUN_CORR` with that beat's,
    at an amplitude within :data:`RUN_AMP_FACTOR` of it, and resembles that beat more than the
    median QRS of the record's N beats (a sinus beat between two ectopics stays N), or its QRS
    correlates < :data:`RUN_SINUS_MAX` with that median QRS, and less than
    :data:`RUN_SINUS_PCT` % of the N beats do (multiform runs; needs >= 10 N beats). Repeated
    until no beat joins.

    Parameters
    ----------
    clean : ndarray
        Cleaned lead.
    peaks : ndarray of int
        R-peaks.
    fs : float
        Sampling rate in Hz.
    aami_class : ndarray of str
        Class of each beat.

    Returns
    -------
    ndarray of bool
        Per beat: ventricular (V, or joined to a V run).
    """
    fs = check_fs(fs)
    p = np.asarray(peaks, dtype=np.int64)
    cls = np.asarray(aami_class)
    v = cls == "V"
    if p.size < 2 or not v.any():
        return v
    W = _qrs_windows(np.asarray(clean, dtype=np.float64), p, fs)
    norm = np.linalg.norm(W, axis=1) + 1e-12
    amp = W.max(axis=1) - W.min(axis=1) + 1e-12
    corr = (W[1:] * W[:-1]).sum(axis=1) / (norm[1:] * norm[:-1])  # beat i+1 with beat i
    n_beats = cls == "N"
    if n_beats.sum() >= 10:
        t = np.median(W[n_beats], axis=0)
        sinus = W @ t / (norm * (np.linalg.norm(t) + 1e-12))
    else:  # no sinus reference: only shape agreement with the run joins beats
        sinus = np.full(p.size, np.inf)
    ratio = np.maximum(amp[1:], amp[:-1]) / np.minimum(amp[1:], amp[:-1])
    fast = np.diff(p) <= RUN_MAX_RR_S * fs
    alike = (corr >= RUN_CORR) & (ratio <= RUN_AMP_FACTOR)
    # below the limit and below nearly every N beat's own likeness (records whose N beats vary
    # a lot, e.g. with axis shifts, would otherwise lend their odd N beats to runs)
    lim = min(RUN_SINUS_MAX, float(np.percentile(sinus[n_beats], RUN_SINUS_PCT))) \
        if n_beats.sum() >= 10 else RUN_SINUS_MAX
    unlike_sinus = sinus < lim
    # pair k = (beat k, beat k+1): beat k+1 may join from its left, beat k from its right
    join_left = np.r_[False, fast & ((alike & (corr > sinus[1:])) | unlike_sinus[1:])]
    join_right = np.r_[fast & ((alike & (corr > sinus[:-1])) | unlike_sinus[:-1]), False]
    out = v.copy()
    for _ in range(p.size):
        grown = out | (join_left & np.r_[False, out[:-1]]) | (join_right & np.r_[out[1:], False])
        if np.array_equal(grown, out):
            break
        out = grown
    return out


def vt_episodes(peaks: np.ndarray, fs: float, aami_class: np.ndarray, *,
                min_beats: int = VT_MIN_BEATS, min_bpm: float = VT_MIN_BPM,
                clean: np.ndarray | None = None) -> list[dict]:
    """Runs of >= ``min_beats`` consecutive V beats whose mean rate exceeds ``min_bpm``.

    With ``clean`` (the cleaned lead), a run also takes in the beats that have its V beats'
    shape (:func:`extend_ventricular_runs`); ``n_joined`` then says how many beats of a run
    were not classified V.

    Returns
    -------
    list of dict
        ``{"type": "ventricular_tachycardia", "start_s", "end_s", "n_beats", "rate_bpm",
        "duration_s"}`` (and ``n_joined`` with ``clean``).
    """
    fs = check_fs(fs)
    p = np.asarray(peaks, dtype=np.int64)
    is_v = np.asarray(aami_class) == "V"
    v = is_v if clean is None else extend_ventricular_runs(clean, p, fs, aami_class)
    m = np.r_[False, v, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(m))
    out = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a < min_beats:
            continue
        dur = (p[b - 1] - p[a]) / fs
        rate = 60.0 * (b - a - 1) / dur if dur > 0 else 0.0
        if rate > min_bpm:
            ep = {"type": "ventricular_tachycardia", "start_s": round(float(p[a] / fs), 3),
                  "end_s": round(float(p[b - 1] / fs), 3), "n_beats": int(b - a),
                  "rate_bpm": round(float(rate), 1), "duration_s": round(float(dur), 3)}
            if clean is not None:
                ep["n_joined"] = int((~is_v[a:b]).sum())
            out.append(ep)
    return out


def vf_window_features(clean: np.ndarray, fs: float, *, window_s: float = VF_WINDOW_S,
                       step_s: float = VF_STEP_S) -> tuple[np.ndarray, np.ndarray]:
    """Features (:data:`VF_FEATURE_NAMES`) of sliding windows over a cleaned lead.

    Returns
    -------
    starts_s : ndarray
        Window start times (s).
    F : ndarray, shape (n_windows, len(VF_FEATURE_NAMES))
    """
    from cardioclarity.ecg.records.processing import resample_sig

    # At 64 Hz (everything of interest is below 30 Hz): the same features at any input rate,
    # and a fraction of the work on a 360-Hz or 1-kHz record.
    x = resample_sig(clean, check_fs(fs), _VF_FS)
    fs = _VF_FS
    w, st = int(round(window_s * fs)), max(int(round(step_s * fs)), 1)
    if x.size < w:
        return np.zeros(0), np.zeros((0, len(VF_FEATURE_NAMES)))
    starts = np.arange(0, x.size - w + 1, st)
    W = np.lib.stride_tricks.sliding_window_view(x, w)[starts]
    W = W - np.median(W, axis=1, keepdims=True)
    win = np.hanning(w)
    spec = np.abs(np.fft.rfft(W * win[None, :], axis=1)) ** 2
    f = np.fft.rfftfreq(w, 1 / fs)
    tot = spec[:, (f >= 0.5) & (f <= 30)].sum(axis=1) + 1e-12
    band = (f >= 1.0) & (f <= 10.0)
    k = np.argmax(np.where(band[None, :], spec, -1), axis=1)
    fd = f[k]
    near = np.abs(f[None, :] - fd[:, None]) <= 1.0
    conc = (spec * near).sum(axis=1) / tot
    hf = spec[:, (f > 12) & (f <= 30)].sum(axis=1) / tot
    lf = spec[:, (f >= 0.5) & (f < 1.5)].sum(axis=1) / tot
    lo, hi = np.percentile(W, [1, 99], axis=1)
    rng = hi - lo + 1e-12
    busy = (np.abs(W) > 0.2 * np.percentile(np.abs(W), 99, axis=1)[:, None]).mean(axis=1)
    z = (W - W.mean(axis=1, keepdims=True)) / (W.std(axis=1, keepdims=True) + 1e-12)
    kurt = (z ** 4).mean(axis=1)
    # Autocorrelation via FFT, lags 0.11-1 s (a 60-540 bpm period).
    n2 = 1 << int(np.ceil(np.log2(2 * w)))
    Z = np.fft.rfft(z, n=n2, axis=1)
    ac = np.fft.irfft(Z * np.conj(Z), n=n2, axis=1)[:, :w] / w
    l0, l1 = int(0.11 * fs), min(int(1.0 * fs), w - 1)
    per = ac[:, l0:l1].max(axis=1) if l1 > l0 else np.zeros(W.shape[0])
    rec_rng = float(np.median(rng)) or 1.0
    slope = np.abs(np.diff(W, axis=1)).mean(axis=1) * fs / rng
    F = np.column_stack([fd, conc, hf, lf, busy, kurt, per, np.log10(rng / rec_rng), slope])
    return starts / fs, F


@dataclass
class VFDetector:
    """Gradient-boosted trees on :data:`VF_FEATURE_NAMES` (NumPy inference of the tree arrays of
    :class:`~cardioclarity.ecg.records.classify.BeatClassifier`, here with classes "0"/"1").

    Attributes
    ----------
    trees_ : BeatClassifier or None
        The fitted binary tree ensemble.
    threshold_ : float
        Window probability above which a window is VF-like (chosen in training).
    """

    trees_: Any = None
    threshold_: float = 0.5
    checkpoint_card: dict = field(default_factory=dict, repr=False)

    @property
    def card(self) -> dict:
        """Model card: the checkpoint's when loaded, else what the model knows about itself."""
        if self.checkpoint_card:
            return dict(self.checkpoint_card)
        return {"name": "unsaved", "kind": KIND_VF, "model": "gradient-boosted-trees",
                "threshold": float(self.threshold_)}

    def fit(self, F, y, *, seed: int = 0) -> VFDetector:
        """Fit the class-balanced tree ensemble on windows labelled 1 (VF) / 0 (not VF);
        windows labelled -1 are left out. Keeps ``threshold_``."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        from cardioclarity.ecg.records.classify import BeatClassifier

        F, y = np.asarray(F, dtype=np.float64), np.asarray(y)
        keep = y >= 0
        est = HistGradientBoostingClassifier(max_iter=80, learning_rate=0.15, max_depth=4,
                                             min_samples_leaf=40, class_weight="balanced",
                                             early_stopping=False, random_state=seed)
        est.fit(F[keep], y[keep].astype(str))
        self.trees_ = BeatClassifier.from_sklearn(est, feature_names=VF_FEATURE_NAMES)
        return self

    def predict_proba(self, F) -> np.ndarray:
        """VF probability of each window (row of ``F``)."""
        if self.trees_ is None:
            raise NotFittedError("VFDetector has no trees.",
                                 hint="load one with VFDetector.load() or training/train_vf.py.")
        F = np.atleast_2d(np.asarray(F, dtype=np.float64))
        if F.shape[1] != len(VF_FEATURE_NAMES):
            raise InvalidInputError(f"Expected {len(VF_FEATURE_NAMES)} VF features, got "
                                    f"{F.shape[1]}.")
        return self.trees_.predict_proba(F)[:, list(self.trees_.classes_).index("1")]

    def to_checkpoint(self) -> dict:
        """Tensors and plain values for :func:`~cardioclarity.checkpoints.save_checkpoint`."""
        ck = self.trees_.to_checkpoint()
        ck["config"].update(window_s=VF_WINDOW_S, step_s=VF_STEP_S, min_windows=VF_MIN_WINDOWS)
        ck["threshold"] = float(self.threshold_)
        return ck

    @classmethod
    def load(cls, name_or_path: str | Path | None = None) -> VFDetector:
        """Load a VF detector: a bundled name (default ``vf-cudb``) or a checkpoint path."""
        from cardioclarity.checkpoints import card_from_checkpoint, load_checkpoint
        from cardioclarity.ecg.records.classify import BeatClassifier

        ckpt = load_checkpoint(name_or_path or DEFAULT_VF_MODEL, expected_kind=KIND_VF)
        try:
            if tuple(ckpt["config"]["feature_names"]) != VF_FEATURE_NAMES:
                raise CheckpointError("VF checkpoint was trained on other features.",
                                      hint="retrain it with training/train_vf.py.")
            return cls(trees_=BeatClassifier.from_checkpoint(ckpt),
                       threshold_=float(ckpt["threshold"]),
                       checkpoint_card=card_from_checkpoint(ckpt))
        except (KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"VF checkpoint is missing field {exc}.") from exc


def vf_episodes(starts_s: np.ndarray, proba: np.ndarray, threshold: float, *,
                window_s: float = VF_WINDOW_S, min_windows: int = VF_MIN_WINDOWS) -> list[dict]:
    """Runs of >= ``min_windows`` consecutive VF-like windows as
    ``{"type": "ventricular_fibrillation", "start_s", "end_s", "duration_s", "max_probability"}``
    (ventricular flutter included: the two are not told apart)."""
    hit = np.r_[False, np.asarray(proba) >= threshold, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(hit))
    out = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a < min_windows:
            continue
        s, e = float(starts_s[a]), float(starts_s[b - 1] + window_s)
        pmax = round(float(np.max(proba[a:b])), 4)
        if out and s <= out[-1]["end_s"]:
            # windows overlap: two runs one window apart are one episode
            out[-1].update(end_s=round(e, 3), duration_s=round(e - out[-1]["start_s"], 3),
                           max_probability=max(out[-1]["max_probability"], pmax))
        else:
            out.append({"type": "ventricular_fibrillation", "start_s": round(s, 3),
                        "end_s": round(e, 3), "duration_s": round(e - s, 3),
                        "max_probability": pmax})
    return out


def cross_val_vf_proba(F: np.ndarray, y: np.ndarray, groups: np.ndarray, n_splits: int = 5
                       ) -> np.ndarray:
    """Out-of-fold VF probability of every window, folds grouped by record."""
    from cardioclarity.ecg.records.classify import record_folds

    p = np.zeros(np.asarray(y).size)
    for tr, te in record_folds(groups, n_splits):
        p[te] = VFDetector().fit(F[tr], y[tr]).predict_proba(F[te])
    return p
