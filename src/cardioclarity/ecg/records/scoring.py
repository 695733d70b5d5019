"""Beat scoring on records: autoencoder morphology + RR context, optionally patient-adaptive.

A :class:`RecordBeatModel` wraps a :class:`~cardioclarity.ecg.beats.detector.BeatAnomalyDetector`
trained on MIT-BIH DS1 normal beats (``training/train_mitdb.py``) with what it needs on records:

- **windows**: 250 ms before to 450 ms after each R-peak of the cleaned lead, resampled to the
  detector's input length (so any sampling rate works), held flat beyond the midpoint to a
  neighbouring beat (fast rates), baseline-subtracted and divided by the record's typical QRS
  amplitude (amplitude stays a cue: ventricular beats are taller and wider);
- **morphology score**: the autoencoder's reconstruction error divided by its threshold;
- **RR score**: prematurity ``1 - RR_pre / RR_ref`` (``RR_ref`` = median of the 8 previous
  intervals) plus half the compensatory lengthening ``RR_post / RR_ref - 1``, divided by the
  97.5th percentile of normal DS1 beats. Supraventricular ectopic beats look normal and are only
  caught this way;
- **beat score** = max(morphology, RR): 1.0 is the threshold for both, so ``score >= 1`` flags a
  beat; the finding is ``abnormal_morphology`` when the morphology part is above 1 (whether or
  not the beat is also early), else ``premature``.

Patient-adaptive option (``adaptive=True``): as Holter systems do, the record's own dominant
beats of the first ``calibration_s`` seconds define a template and a typical error; a beat's
morphology score becomes the larger of its error and its template distance, each relative to
that patient's own spread (median + ``k`` x MAD). The dominant beats are the below-median-error
half of the calibration beats: the sinus-consistent ones when the caller knows them
(``calibration_beats``, e.g. :attr:`~cardioclarity.ecg.records.features.SinusReference.sinus`:
clustered by shape, on time against the underlying rhythm), else those that are not premature.
Knowing the sinus beats keeps frequent ectopy (bigeminy, runs) out of the template.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cardioclarity.ecg.records.processing import segment_beats
from cardioclarity.errors import CheckpointError, InvalidInputError

__all__ = [
    "DEFAULT_RECORD_MODEL",
    "BeatScores",
    "RecordBeatModel",
    "WindowConfig",
    "beat_windows",
    "rr_context",
]

DEFAULT_RECORD_MODEL = "mitdb-conv1d"


@dataclass
class WindowConfig:
    """How beats are cut from a record for the autoencoder."""

    before_s: float = 0.25
    after_s: float = 0.45
    length: int = 128


def _qrs_scale(clean: np.ndarray, peaks: np.ndarray, fs: float) -> float:
    """Median peak-to-peak QRS amplitude (+-60 ms) of the record: its amplitude unit."""
    w = max(int(0.06 * fs), 1)
    p = peaks[(peaks - w >= 0) & (peaks + w < clean.size)]
    if p.size == 0:
        return 1.0
    seg = clean[p[:, None] + np.arange(-w, w + 1)[None, :]]
    s = float(np.median(seg.max(axis=1) - seg.min(axis=1)))
    return s if s > 1e-9 else 1.0


def beat_windows(clean: np.ndarray, peaks: np.ndarray, fs: float, cfg: WindowConfig
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Normalised beat windows (see the module docstring) and their validity mask.

    At fast rates the neighbouring QRS complexes enter the window; everything beyond the midpoint
    to a neighbouring beat is held at the value there, so a beat is judged on its own shape and
    not flagged for its neighbour.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    X, valid = segment_beats(clean, peaks, fs, before_s=cfg.before_s, after_s=cfg.after_s,
                             length=cfg.length)
    if X.shape[0]:
        t = np.linspace(-cfg.before_s, cfg.after_s, cfg.length)
        idx = np.flatnonzero(valid)
        prev_gap = np.r_[np.inf, np.diff(peaks) / fs][idx]
        next_gap = np.r_[np.diff(peaks) / fs, np.inf][idx]
        lo = np.searchsorted(t, -prev_gap / 2)  # first sample nearer this beat than the last
        hi = np.searchsorted(t, next_gap / 2) - 1  # last sample nearer this beat than the next
        cols = np.clip(np.arange(cfg.length)[None, :], lo[:, None], hi[:, None])
        X = np.take_along_axis(X, cols, axis=1)
        X = X - np.median(X, axis=1, keepdims=True)
        X = X / _qrs_scale(clean, peaks, fs)
    return X.astype(np.float32), valid


def rr_context(peaks, fs: float, rr_valid: np.ndarray | None = None, ref_beats: int = 8
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prematurity and compensatory-pause context of every beat.

    Returns
    -------
    prematurity : ndarray
        ``1 - RR_pre / RR_ref`` (positive = early); 0 where unknown.
    compensation : ndarray
        ``RR_post / RR_ref - 1`` (positive = long pause after); 0 where unknown.
    rr_ref : ndarray
        Reference RR (s): median of the ``ref_beats`` valid intervals before the beat.
    """
    p = np.asarray(peaks, dtype=np.int64)
    n = p.size
    prem, comp, ref = np.zeros(n), np.zeros(n), np.full(n, np.nan)
    if n < 3:
        return prem, comp, ref
    rr = np.diff(p) / fs
    if rr_valid is not None:
        rr = np.where(rr_valid, rr, np.nan)
    # Reference for interval i: nanmedian of intervals i-ref_beats .. i-1 (vectorised via a
    # strided view over a NaN-padded array).
    padded = np.r_[np.full(ref_beats, np.nan), rr]
    view = np.lib.stride_tricks.sliding_window_view(padded, ref_beats)[:rr.size]
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = np.nanmedian(view, axis=1)
    # The first intervals have no history: fall back to the record's median RR.
    r = np.where(np.isfinite(r), r, np.nanmedian(rr) if np.isfinite(rr).any() else np.nan)
    # Beat j (j >= 1) closes interval j-1 and opens interval j.
    pre = rr
    ref[1:] = r
    with np.errstate(all="ignore"):
        prem[1:] = np.nan_to_num(1 - pre / r, nan=0.0)
        post = np.r_[rr[1:], np.nan]
        comp[1:] = np.nan_to_num(post / r - 1, nan=0.0)
    return prem, comp, ref


def rr_score_raw(prem: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """Unnormalised RR anomaly: prematurity plus half the compensatory lengthening."""
    return np.maximum(prem, 0) + 0.5 * np.maximum(comp, 0) * (prem > 0)


@dataclass
class BeatScores:
    """Per-beat scores of a record (arrays aligned with the peaks given)."""

    score: np.ndarray
    is_anomaly: np.ndarray
    finding: list[str]
    morphology: np.ndarray
    rr: np.ndarray
    windows: np.ndarray
    valid: np.ndarray
    adaptive: bool = False
    calibration: dict = field(default_factory=dict)

    @classmethod
    def combine(cls, morphology: np.ndarray, rr: np.ndarray, valid: np.ndarray, **kw) -> BeatScores:
        """Beat score = max(morphology, RR) (1.0 = threshold of each) and the finding it implies."""
        score = np.maximum(morphology, rr)
        score[~valid] = rr[~valid]
        is_anom = score >= 1.0
        # Abnormal morphology wins when both fire: a ventricular beat is usually premature too,
        # and its shape is what sets it apart from a supraventricular one.
        finding = np.where(~is_anom, "normal",
                           np.where(morphology >= 1.0, "abnormal_morphology", "premature")).tolist()
        return cls(score=score, is_anomaly=is_anom, finding=finding, morphology=morphology, rr=rr,
                   valid=valid, **kw)

    def without_rr(self, mask: np.ndarray) -> BeatScores:
        """The same scores with the RR part ignored on ``mask`` (e.g. inside AF-like episodes,
        where every beat is "premature" and the rhythm finding already covers them)."""
        return BeatScores.combine(self.morphology, np.where(mask, 0.0, self.rr), self.valid,
                                  windows=self.windows, adaptive=self.adaptive,
                                  calibration=self.calibration)


@dataclass
class RecordBeatModel:
    """Autoencoder + RR context beat scorer for whole records (see module docstring).

    Attributes
    ----------
    detector : BeatAnomalyDetector
        Trained on normal beat windows (``input_length_ == window.length``).
    window : WindowConfig
    rr_threshold : float
        Raw RR score at the 97.5th percentile of normal training beats.
    adaptive_k : float
        Patient-adaptive spread multiplier (median + k x MAD).
    calibration_s : float
        Seconds at the start of a record used for patient-adaptive calibration.
    name : str
    card : dict
        Model card: the checkpoint's (:func:`cardioclarity.checkpoints.card_from_checkpoint`)
        when loaded, else name, kind, model and input length.
    """

    detector: Any
    window: WindowConfig = field(default_factory=WindowConfig)
    rr_threshold: float = 0.2
    adaptive_k: float = 6.0
    calibration_s: float = 300.0
    name: str = "custom"
    card: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.card:  # never saved: a card from what the model knows about itself
            self.card = {"name": self.name,
                         "kind": getattr(self.detector, "kind", "ecg-beat-detector"),
                         "model": getattr(self.detector, "model", type(self.detector).__name__),
                         "input_length": int(self.window.length)}

    # ---------------------------------------------------------------- persistence
    def params(self) -> dict:
        """Plain-value parameters stored beside the detector in its checkpoint."""
        return {"window": asdict(self.window), "rr_threshold": float(self.rr_threshold),
                "adaptive_k": float(self.adaptive_k), "calibration_s": float(self.calibration_s)}

    def save(self, path: str | Path, **metadata: Any) -> Path:
        """Save as the detector's own checkpoint with ``record_model`` parameters added."""
        return self.detector.save(path, record_model=self.params(), **metadata)

    @classmethod
    def load(cls, name_or_path: str | Path | None = None) -> RecordBeatModel:
        """Load a bundled record beat model (default ``mitdb-conv1d``) or a checkpoint path.

        A record model is an autoencoder checkpoint with ``record_model`` parameters (window,
        RR threshold...) beside the weights; its card (``.card``) is the checkpoint's.
        """
        from cardioclarity.checkpoints import card_from_checkpoint, load_checkpoint
        from cardioclarity.ecg.beats.autoencoder import BeatAnomalyDetector
        from cardioclarity.ecg.beats.base import KIND_AE

        target = name_or_path or DEFAULT_RECORD_MODEL
        ckpt = load_checkpoint(target, expected_kind=KIND_AE)
        params = ckpt.get("record_model")
        if not isinstance(params, dict):
            raise CheckpointError(
                f"'{target}' is a beat detector without record parameters (window, RR threshold).",
                hint="use a record model such as 'mitdb-conv1d', or wrap the detector with "
                     "RecordBeatModel(detector, window=WindowConfig(length=...)).")
        det = BeatAnomalyDetector._from_ckpt(ckpt)
        try:
            return cls(detector=det, window=WindowConfig(**params["window"]),
                       rr_threshold=float(params["rr_threshold"]),
                       adaptive_k=float(params.get("adaptive_k", 6.0)),
                       calibration_s=float(params.get("calibration_s", 300.0)),
                       name=Path(str(target)).stem, card=card_from_checkpoint(ckpt))
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"Record parameters in '{target}' are incomplete ({exc}).") from exc

    def describe(self) -> dict:
        d = {"name": self.name, "detector": getattr(self.detector, "model", type(self.detector).__name__),
             "input_length": int(self.window.length), "morphology_threshold":
                 float(self.detector.threshold_), **self.params()}
        td = self.card.get("training_data")
        if td:
            d["training_data"] = td
        return d

    # ---------------------------------------------------------------- scoring
    def score(self, clean: np.ndarray, peaks: np.ndarray, fs: float, *,
              rr_valid: np.ndarray | None = None, adaptive: bool = False,
              rr_mask: np.ndarray | None = None,
              calibration_beats: np.ndarray | None = None) -> BeatScores:
        """Score every beat of a record.

        Parameters
        ----------
        clean : ndarray
            Cleaned lead.
        peaks : ndarray of int
            R-peaks.
        fs : float
            Sampling rate in Hz.
        rr_valid : ndarray of bool, optional
            Validity of each RR interval (unusable stretches).
        adaptive : bool
            Patient-adaptive morphology calibration on the first ``calibration_s`` seconds.
        rr_mask : ndarray of bool, optional
            Beats whose RR context must be ignored (e.g. inside an irregular-rhythm episode,
            where every beat is "premature" and the rhythm finding already covers them).
        calibration_beats : ndarray of bool, optional
            Beats fit to calibrate on (sinus-consistent); fewer than 10 of them in the
            calibration stretch, or None: the beats that are not premature.
        """
        peaks = np.asarray(peaks, dtype=np.int64)
        n = peaks.size
        X, valid = beat_windows(clean, peaks, fs, self.window)
        morph = np.zeros(n)
        if X.shape[0]:
            ae = self.detector.anomaly_score(X)
            morph[valid] = ae / max(float(self.detector.threshold_), 1e-12)
        prem, comp, _ = rr_context(peaks, fs, rr_valid)
        rr = rr_score_raw(prem, comp) / max(self.rr_threshold, 1e-9)
        if rr_mask is not None:
            rr = np.where(rr_mask, 0.0, rr)
        calib: dict = {}
        if adaptive and X.shape[0]:
            morph, calib = self._adapt(X, morph, valid, rr, peaks, fs, calibration_beats)
        return BeatScores.combine(morph, rr, valid, windows=X, adaptive=adaptive,
                                  calibration=calib)

    def _adapt(self, X, morph, valid, rr, peaks, fs, calibration_beats=None
               ) -> tuple[np.ndarray, dict]:
        vidx = np.flatnonzero(valid)
        m_v, rr_v, t_v = morph[vidx], rr[vidx], peaks[vidx] / fs
        in_cal = t_v < self.calibration_s
        if in_cal.sum() < 30:  # short record: calibrate on all of it
            in_cal = np.ones_like(in_cal)
        source = "not_premature"
        cand = in_cal & (rr_v < 1.0)
        if calibration_beats is not None:
            given = np.asarray(calibration_beats, dtype=bool)
            if given.size != peaks.size:
                raise InvalidInputError(
                    f"calibration_beats must have one entry per beat ({peaks.size}), "
                    f"got {given.size}.")
            if (in_cal & given[vidx]).sum() >= 10:
                cand, source = in_cal & given[vidx], "calibration_beats"
        if cand.sum() < 10:
            raise InvalidInputError(
                f"Patient-adaptive calibration needs >= 10 regular beats in the first "
                f"{self.calibration_s:g} s, found {int(cand.sum())}.",
                hint="run without --adaptive, or on a longer/cleaner record.")
        dom = cand & (m_v <= np.median(m_v[cand]))
        tmpl = np.median(X[dom], axis=0)
        dist = np.abs(X - tmpl[None, :]).mean(axis=1)

        def robust_thr(v: np.ndarray) -> float:
            med = np.median(v)
            mad = np.median(np.abs(v - med)) * 1.4826
            return float(med + self.adaptive_k * max(mad, 0.05 * med, 1e-9))

        thr_d = robust_thr(dist[dom])
        thr_m = robust_thr(m_v[dom])
        out = morph.copy()
        out[vidx] = np.maximum(dist / thr_d, m_v / thr_m)
        return out, {"calibration_s": self.calibration_s, "calibration_source": source,
                     "n_dominant_beats": int(dom.sum()),
                     "template_threshold": thr_d, "error_threshold": thr_m}

