"""The record pipeline: Record -> cleaned signal, R-peaks, quality -> beats, rhythm -> Findings.

:func:`preprocess` runs the signal stages once; :func:`analyze_record` adds beat scoring (the
MIT-BIH beat model: autoencoder morphology + RR context) and rhythm (rates, pauses, AF-like
irregularity, ectopic burden) and returns :class:`Findings`, whose :meth:`Findings.to_dict` is
the stable ``findings.json`` schema (see the findings.json schema in docs/ARCHITECTURE.md).

:func:`analyze_record` reads as its stages, each a function of its own: :func:`preprocess`,
:func:`patient_reference` (the patient's sinus beats, which both beat stages calibrate on),
:func:`score_beats`, :func:`classify_beats`, :func:`assess_rhythm` (with the episodes cut back
to the beats by :func:`~cardioclarity.ecg.records.rhythm.trim_irregular_episodes`),
:func:`summarise_rhythm` and :func:`describe_models`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cardioclarity import DISCLAIMER
from cardioclarity.ecg.records.classify import BeatClassifier
from cardioclarity.ecg.records.features import SinusReference, beat_features, sinus_reference
from cardioclarity.ecg.records.io import Record
from cardioclarity.ecg.records.methods import DEFAULT_PEAK_METHOD
from cardioclarity.ecg.records.processing import (
    Quality,
    assess_quality,
    ecg_clean,
    ecg_clean_peaks,
    ecg_peaks,
)
from cardioclarity.ecg.records.record import MIN_FS
from cardioclarity.ecg.records.rhythm import (
    DEFAULT_RHYTHM_MODEL,
    RhythmModel,
    heart_rate_trend,
    irregular_episodes,
    rate_episodes,
    rr_intervals,
    rr_stats,
    trim_irregular_episodes,
    window_features,
)
from cardioclarity.ecg.records.scoring import BeatScores, RecordBeatModel, WindowConfig
from cardioclarity.ecg.records.ventricular import (
    VT_RUN_METHODS,
    VFDetector,
    vf_episodes,
    vf_window_features,
    vt_episodes,
)
from cardioclarity.errors import InvalidInputError
from cardioclarity.validation import MAX_FS_HZ, MIN_RECORD_S, check_n_samples, to_jsonable

__all__ = ["BeatClasses", "Findings", "Prepared", "analyze_record", "assess_rhythm",
           "classify_beats", "describe_models", "patient_reference", "preprocess", "score_beats",
           "summarise_rhythm", "ventricular_episodes"]

#: ``episode_edges`` options of :func:`analyze_record`.
EPISODE_EDGES = ("beats", "windows")


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


def preprocess(record: Record, *, peak_method: str = DEFAULT_PEAK_METHOD) -> Prepared:
    """Clean, assess quality and detect R-peaks (peaks in unusable stretches are dropped).

    Raises
    ------
    InvalidInputError
        When the record is shorter than :data:`~cardioclarity.validation.MIN_RECORD_S`, or no
        stretch of it is usable (flat line, all noise...): there is nothing to analyse, and
        reporting "no beats" would read as asystole. When the samples look clean at another
        rate, the message says the sampling rate is probably wrong.
    """
    x = record.signal
    fs = record.fs
    check_n_samples(x.size, fs, f"Record '{record.name}'", minimum_s=MIN_RECORD_S)
    quality = assess_quality(x, fs)
    if quality.usable_fraction <= 0:
        reasons = sorted({s["reason"] for s in quality.segments})
        what = f"Record '{record.name}' (lead {record.lead}) has no usable signal"
        rate = _rate_hint(x, fs)
        if rate:
            raise InvalidInputError(f"{what} at {fs:g} Hz ({', '.join(reasons)} throughout); "
                                    f"{rate}", hint="check the sampling rate (--fs, fs=).")
        raise InvalidInputError(
            f"{what}: {', '.join(reasons)} throughout.",
            hint="check the electrode/lead (try another --lead) or the export's scaling.")
    usable = quality.usable_mask(x.size, fs)
    clean, peaks = ecg_clean_peaks(x, fs, method=peak_method)
    peaks = peaks[usable[peaks]]
    _, rr_valid = rr_intervals(peaks, fs, usable)
    return Prepared(clean=clean, peaks=peaks, quality=quality, usable=usable, rr_valid=rr_valid)


def _fibrillating(record: Record, vf_model: VFDetector | None) -> Prepared | None:
    """A beat-less :class:`Prepared` when a record without usable signal holds VF, else None."""
    x, fs = record.signal, record.fs
    if vf_model is None or x.size < 3 * MIN_RECORD_S * fs:
        return None
    try:
        clean = ecg_clean(x, fs)
    except InvalidInputError:
        return None
    starts, F = vf_window_features(clean, fs)
    if not starts.size or not vf_episodes(starts, vf_model.predict_proba(F), vf_model.threshold_):
        return None
    quality = assess_quality(x, fs)
    return Prepared(clean=clean, peaks=np.zeros(0, dtype=np.int64), quality=quality,
                    usable=quality.usable_mask(x.size, fs), rr_valid=np.zeros(0, dtype=bool))


def _rate_hint(x: np.ndarray, fs: float) -> str:
    """Why a wrong sampling rate is likely, or "" (for a record with no usable signal).

    A record read at the wrong rate looks like noise (its QRS energy falls outside the QRS
    band). When the same samples are clean at a rate 2-10x off, or the R-peaks found imply a
    heart rate no heart has, the sampling rate is the likely mistake, not the electrode.
    """
    best = None  # (how implausible its heart rate is, rate): clean rates only
    for k in (10, 5, 4, 2, 0.5, 0.25, 0.2, 0.1):
        cand = fs / k
        if not MIN_FS <= cand <= MAX_FS_HZ or x.size < MIN_RECORD_S * cand:
            continue
        if assess_quality(x, cand).usable_fraction >= 0.8:
            peaks = ecg_peaks(x, cand)
            bpm = 60 * cand / float(np.median(np.diff(peaks))) if peaks.size >= 3 else 0.0
            off = abs(np.log(max(bpm, 1.0) / 75.0))
            if best is None or off < best[0]:
                best = (off, cand)
    if best is not None:
        return (f"the same samples read as a clean ECG at {best[1]:g} Hz, so the sampling rate "
                "is probably wrong.")
    peaks = ecg_peaks(x, fs)
    if peaks.size >= 3:
        bpm = 60 * fs / float(np.median(np.diff(peaks)))
        if not 20 <= bpm <= 300:
            return (f"the R-peaks found imply {bpm:.0f} bpm, which no heart beats, so the "
                    "sampling rate is probably wrong.")
    return ""


# --------------------------------------------------------------------------------------------
# findings
# --------------------------------------------------------------------------------------------
@dataclass
class Findings:
    """Everything :func:`analyze_record` found in one record.

    ``to_dict()`` is the stable ``findings.json`` schema (see the findings.json schema in
    docs/ARCHITECTURE.md, and the README):
    ``sampling_rate, lead, duration_s, beats[{sample, time_s, score, is_anomaly, finding,
    morphology_score, rr_score, aami_class, class_probability}], rhythm{irregularity_score, irregular, heart_rate_bpm{...},
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
    #: AAMI classes of the beats (None without a classifier).
    beat_classes: BeatClasses | None = None

    @property
    def n_beats(self) -> int:
        """Number of R-peaks found in usable signal."""
        return int(self.peaks.size)

    def beats(self) -> list[dict]:
        """Per-beat rows of ``findings.json``."""
        fs = self.sampling_rate
        t = np.round(self.peaks / fs, 4).tolist()
        samples = self.peaks.tolist()
        bs = self.beat_scores
        if bs is None:
            rows = [{"sample": s, "time_s": ti, "score": None, "is_anomaly": False,
                     "finding": "not_scored"} for s, ti in zip(samples, t, strict=True)]
        else:
            score = np.round(bs.score, 4).tolist()
            morph = np.round(bs.morphology, 4).tolist()
            rr = np.round(bs.rr, 4).tolist()
            anom = bs.is_anomaly.tolist()
            rows = [{"sample": s, "time_s": ti, "score": sc, "is_anomaly": a, "finding": f,
                     "morphology_score": m, "rr_score": r}
                    for s, ti, sc, a, f, m, r in zip(samples, t, score, anom, bs.finding, morph,
                                                     rr, strict=True)]
        bc = self.beat_classes
        if bc is not None:
            for row, c, p in zip(rows, bc.aami_class.tolist(),
                                 np.round(bc.probability, 4).tolist(), strict=True):
                row["aami_class"], row["class_probability"] = c, p
        return rows

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
            "rhythm": to_jsonable(self.rhythm),
            "quality": self.quality.to_dict(),
            "model": to_jsonable(self.model),
            "disclaimer": DISCLAIMER,
        }

    def episodes(self) -> list[dict]:
        """The rhythm episodes (rate, pause, irregular rhythm, ectopic runs), by start time."""
        return list(self.rhythm.get("episodes", []))


def _resolve_beat_model(detector) -> RecordBeatModel | None:
    if detector is None:
        return _bundled(RecordBeatModel)
    if hasattr(detector, "anomaly_score") and hasattr(detector, "input_length_"):
        # A bare beat detector: cut windows at its input length, default RR threshold.
        return RecordBeatModel(detector=detector,
                               window=WindowConfig(length=int(detector.input_length_)))
    return _resolve(detector, RecordBeatModel, "detector", also="a fitted beat detector")


@functools.cache
def _bundled(cls):
    """The bundled default of a read-only model (beat scorer, classifier, rhythm and VF
    models), loaded once per process: every server request, batch item and folder entry would
    reload it otherwise (scoring reads a model, never changes it)."""
    return cls.load(None)


def _resolve(value, cls, what: str, also: str = ""):
    """A bundled/loaded model from an ``analyze_record`` argument: None = bundled default,
    False = none, a name or path = that checkpoint, an instance of ``cls`` = itself (``also``
    names any other accepted kind in the error)."""
    if value is False:
        return None
    if value is None or isinstance(value, str | Path):
        return cls.load(value)
    if isinstance(value, cls):
        return value
    accepted = f"a {cls.__name__}" + (f" or {also}" if also else "")
    raise InvalidInputError(f"{what} must be None, False, a name/path or {accepted}; got "
                            f"{type(value).__name__}.")


def analyze_record(record: Record, *, detector=None, adaptive: bool | str = "auto",
                   rhythm_model: RhythmModel | str | None = None,
                   peak_method: str = DEFAULT_PEAK_METHOD, window_s: float = 30.0,
                   step_s: float = 10.0, classifier=None, vf_model=None,
                   vt_runs: str = "classes", episode_edges: str = "beats") -> Findings:
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
        Patient-adaptive beat scoring, calibrated on the record's own sinus-consistent beats of
        the first 5 minutes (better on unseen patients: see BENCHMARKS.md ``ecg-records``). ``"auto"``
        (default) uses it when the record has enough regular beats to calibrate on (>= 10) and
        falls back to the global model otherwise; True raises instead of falling back.
    rhythm_model : RhythmModel or str, optional
        Irregularity model (default: bundled ``rhythm-cinc2017``).
    peak_method : str
        R-peak detector (see :func:`~cardioclarity.ecg.records.processing.ecg_peaks`); default
        :data:`~cardioclarity.ecg.records.methods.DEFAULT_PEAK_METHOD` (``hybrid``).
    window_s, step_s : float
        Sliding window for the irregularity model (seconds).
    classifier : None, False, str, Path or BeatClassifier
        AAMI beat classifier (N, S, V, F; Q for beats without a full window). None: the bundled
        ``aami-beats``. False: no classes (``aami_class`` absent from the beats).
    vf_model : None, False, str, Path or VFDetector
        Ventricular flutter/fibrillation detector on the signal (VF has no beats to classify).
        None: the bundled ``vf-cudb``. False: no VF detection.
    vt_runs : {"classes", "shape"}
        What makes a VT run (>= 3 ventricular beats above 100 bpm). ``"classes"`` (default):
        beats the classifier called V. ``"shape"``: also the fast beats shaped like a
        neighbouring V beat or unlike any sinus beat
        (:func:`~cardioclarity.ecg.records.ventricular.extend_ventricular_runs`), reported V.
        The default was chosen on MIT-BIH DS1 with out-of-fold classes, by the F1 of runs
        against the reference beat labels (BENCHMARKS.md ``ecg-ec57``): the shape rule found
        one more run there and made 15 more false calls.
    episode_edges : {"beats", "windows"}
        Where irregular-rhythm episodes begin and end. ``"beats"`` (default): the windows'
        episodes less every stretch of >= 10 s whose beats carry P waves alike the sinus
        template (:func:`~cardioclarity.ecg.records.rhythm.trim_irregular_episodes`; needs the
        classifier's features, so without a classifier it is ``"windows"``). ``"windows"``: the
        union of the irregular 30-s windows.

    Returns
    -------
    Findings
    """
    _check_inputs(record, adaptive)
    if episode_edges not in EPISODE_EDGES:
        raise InvalidInputError(f"episode_edges must be one of {list(EPISODE_EDGES)}, "
                                f"got {episode_edges!r}.")
    if vt_runs not in VT_RUN_METHODS:
        raise InvalidInputError(f"vt_runs must be one of {list(VT_RUN_METHODS)}, got {vt_runs!r}.")
    vf = _bundled(VFDetector) if vf_model is None else _resolve(vf_model, VFDetector, "vf_model")
    clock = _Clock()
    fs, n = record.fs, record.signal.size
    try:
        prep = preprocess(record, peak_method=peak_method)
    except InvalidInputError:
        # No usable signal may still be ventricular fibrillation (no QRS complexes to find):
        # report it as the rhythm it is rather than as noise.
        prep = _fibrillating(record, vf)
        if prep is None:
            raise
    clock.lap("preprocess_s")
    bm = _resolve_beat_model(detector)
    ref = patient_reference(prep, fs)
    scores, used_adaptive = score_beats(prep, fs, bm, adaptive, reference=ref)
    clock.lap("beats_s")
    clf = (_bundled(BeatClassifier) if classifier is None
           else _resolve(classifier, BeatClassifier, "classifier"))
    classes = classify_beats(prep, fs, scores, clf, reference=ref)
    clock.lap("classes_s")
    rm = (rhythm_model if isinstance(rhythm_model, RhythmModel) else _bundled(RhythmModel)
          if rhythm_model is None else RhythmModel.load(rhythm_model))
    windows = assess_rhythm(prep, fs, n, scores, rm, window_s=window_s, step_s=step_s)
    trimmed = episode_edges == "beats" and classes is not None
    if trimmed:
        windows["episodes"], in_af = trim_irregular_episodes(
            windows["episodes"], prep.peaks, fs, classes.sinus_context)
    else:
        in_af = _in_episodes(prep.peaks, fs, windows["episodes"])
    if classes is not None:
        classes = classes.within_irregular(in_af)
    if scores is not None:
        # An early beat is "premature" only when the classifier, which judges the RR against
        # the patient's underlying sinus rhythm, calls it ectopic too: the running RR
        # reference alone is fooled after a pause and by the last beats of an AF stretch.
        keep_rr = ~in_af if classes is None else ~in_af & (classes.aami_class != "N")
        scores = scores.without_rr(~keep_rr)
    clock.lap("rhythm_s")
    windows["ventricular"] = ventricular_episodes(prep, fs, classes, vf, vt_runs=vt_runs)
    if classes is not None and vt_runs == "shape":
        # runs made of V beats only ("classes") change no class
        vt = [e for e in windows["ventricular"] if e["type"] == "ventricular_tachycardia"]
        classes = classes.within_ventricular_runs(_in_episodes(prep.peaks, fs, vt))
    rhythm = summarise_rhythm(prep, fs, n / fs, scores, windows, rm)
    t_hr, bpm = heart_rate_trend(prep.peaks, fs, valid=prep.rr_valid)
    model = describe_models(bm, rm, adaptive=adaptive, used_adaptive=used_adaptive,
                            window_s=window_s, step_s=step_s, peak_method=peak_method)
    model["rhythm"]["episode_edges"] = "beats" if trimmed else "windows"
    model["classifier"] = ({**classes.describe(), "vt_runs": vt_runs} if classes is not None
                           else None)
    model["vf"] = ({"name": vf.card.get("name", "custom"), "threshold": float(vf.threshold_)}
                   if vf is not None else None)
    return Findings(record=record.name, sampling_rate=fs, lead=record.lead, leads=record.leads,
                    duration_s=n / fs, peaks=prep.peaks, beat_scores=scores, rhythm=rhythm,
                    quality=prep.quality, model=model, prepared=prep, hr_trend=(t_hr, bpm),
                    windows={k: windows[k] for k in ("start_s", "probability", "window_s")},
                    timings=clock.total(), beat_model=bm, beat_classes=classes)


@dataclass
class BeatClasses:
    """AAMI class of every beat (arrays aligned with the peaks).

    Attributes
    ----------
    aami_class : ndarray of str
        N, S, V, F, or Q (a beat too near the record's edge for a full window).
    probability : ndarray
        The classifier's probability of that class (for Q: 0).
    reference : SinusReference
        The patient calibration the features were computed against.
    name : str
        The classifier's name.
    sinus_context : ndarray of bool
        Per beat: the beats around it carry P waves alike the sinus template, by the
        classifier's P-wave threshold (:meth:`~cardioclarity.ecg.records.classify.
        DecisionRule.sinus_context`); cuts irregular episodes back to the beats
        (:func:`~cardioclarity.ecg.records.rhythm.trim_irregular_episodes`).
    """

    aami_class: np.ndarray
    probability: np.ndarray
    reference: SinusReference
    name: str
    sinus_context: np.ndarray
    reclassified_in_irregular: int = 0
    reclassified_in_vt: int = 0

    def within_irregular(self, mask: np.ndarray) -> BeatClasses:
        """S beats inside irregular-rhythm (AF-like) episodes become N: in AF every beat comes
        "early", and the rhythm episode, not a string of premature beats, is the finding."""
        cls = self.aami_class.copy()
        hit = mask & (cls == "S")
        cls[hit] = "N"
        return replace(self, aami_class=cls,
                       reclassified_in_irregular=self.reclassified_in_irregular + int(hit.sum()))

    def within_ventricular_runs(self, mask: np.ndarray) -> BeatClasses:
        """Beats inside ventricular tachycardia runs become V: a run takes in the beats shaped
        like its V beats (:func:`~cardioclarity.ecg.records.ventricular.
        extend_ventricular_runs`), which the beat-by-beat classifier, judging each against
        run neighbours as fast as itself, may have called N or S."""
        cls = self.aami_class.copy()
        hit = mask & (cls != "V") & (cls != "Q")
        cls[hit] = "V"
        return replace(self, aami_class=cls,
                       reclassified_in_vt=self.reclassified_in_vt + int(hit.sum()))

    def describe(self) -> dict:
        """The ``model.classifier`` object of ``findings.json``."""
        d = {"name": self.name, "calibration": self.reference.describe(),
             "counts": {c: int((self.aami_class == c).sum()) for c in "NSVFQ"},
             "s_reclassified_in_irregular_rhythm": self.reclassified_in_irregular,
             "reclassified_v_in_ventricular_runs": self.reclassified_in_vt}
        if self.reference.method != "sinus_cluster":
            d["note"] = ("too few beats consistent with sinus rhythm to calibrate on the "
                         "patient (all ectopy or paced beats, or a short record): features are "
                         "relative to all beats, classes are less reliable")
        return d


def ventricular_episodes(prep: Prepared, fs: float, classes: BeatClasses | None,
                         vf_model: VFDetector | None, *, vt_runs: str = "classes") -> list[dict]:
    """VT runs (from the beat classes; with ``vt_runs="shape"`` also the shape of the run's
    beats) and VF/flutter episodes (from the signal).

    VF is searched in all of the signal, usable or not: a fibrillating trace has no QRS
    complexes, so the quality check sees it as a stretch without beats, and that must not hide
    it. VT runs overlapping a VF episode are dropped (the VF episode covers them).
    """
    out: list[dict] = []
    if vf_model is not None:
        starts, F = vf_window_features(prep.clean, fs)
        if starts.size:
            out += vf_episodes(starts, vf_model.predict_proba(F), vf_model.threshold_)
    if classes is not None:
        clean = prep.clean if vt_runs == "shape" else None
        for ep in vt_episodes(prep.peaks, fs, classes.aami_class, clean=clean):
            # a run overlapping a VF episode is part of it (VT degenerating into VF)
            if not any(ep["start_s"] < v["end_s"] and v["start_s"] < ep["end_s"] for v in out):
                out.append(ep)
    return out


def patient_reference(prep: Prepared, fs: float) -> SinusReference | None:
    """The patient's sinus reference (:func:`~cardioclarity.ecg.records.features.
    sinus_reference`): which beats are sinus-consistent, the underlying RR, the templates.
    Both the autoencoder's calibration and the beat features are relative to it. None without
    beats."""
    if not prep.peaks.size:
        return None
    return sinus_reference(prep.clean, prep.peaks, fs, prep.rr_valid)


def classify_beats(prep: Prepared, fs: float, scores: BeatScores | None,
                   classifier: BeatClassifier | None, *,
                   reference: SinusReference | None = None) -> BeatClasses | None:
    """AAMI class of every beat from its features against the patient's sinus reference
    (``reference``, computed here when not given).

    The autoencoder morphology score is one of the features (NaN without a beat model).
    Returns None without a classifier or beats.
    """
    if classifier is None or not prep.peaks.size:
        return None
    F, ref = beat_features(prep.clean, prep.peaks, fs, rr_valid=prep.rr_valid,
                           ae_score=scores.morphology if scores is not None else None,
                           reference=reference)
    cls, proba = classifier.predict(F)
    cls = cls.astype("<U1")
    if scores is not None:  # beats without a full window at the record's edges
        cls[~scores.valid] = "Q"
        proba = np.where(scores.valid, proba, 0.0)
    return BeatClasses(aami_class=cls, probability=proba, reference=ref,
                       name=str(classifier.card.get("name", "custom")),
                       sinus_context=classifier.decision_.sinus_context(F))


class _Clock:
    """Stage timings of one analysis (``Findings.timings``: seconds per stage and in total)."""

    def __init__(self) -> None:
        self.t0 = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now

    def total(self) -> dict[str, float]:
        return {**self.laps, "total_s": time.perf_counter() - self.t0}


def _check_inputs(record: Record, adaptive: bool | str) -> None:
    """Refuse what is not a :class:`Record` and an ``adaptive`` other than "auto"/True/False."""
    if not isinstance(record, Record):
        raise InvalidInputError(f"analyze_record needs a Record (from read_record), got "
                                f"{type(record).__name__}.")
    if adaptive not in ("auto", True, False):
        raise InvalidInputError(f"adaptive must be 'auto', True or False, got {adaptive!r}.")


def score_beats(prep: Prepared, fs: float, beat_model: RecordBeatModel | None,
                adaptive: bool | str, *, reference: SinusReference | None = None
                ) -> tuple[BeatScores | None, bool]:
    """Morphology (+ RR context) score of every beat, and whether patient adaptation was used.

    Patient adaptation calibrates on the sinus-consistent beats of ``reference``
    (:func:`patient_reference`) when given. ``adaptive="auto"`` falls back to the global
    model when the record has too few regular beats to calibrate on; ``True`` raises then.
    Returns ``(None, False)`` without a beat model or beats.
    """
    if beat_model is None or not prep.peaks.size:
        return None, False
    kw = dict(rr_valid=prep.rr_valid)
    try:
        return beat_model.score(
            prep.clean, prep.peaks, fs, adaptive=bool(adaptive), **kw,
            calibration_beats=reference.sinus if reference is not None else None), bool(adaptive)
    except InvalidInputError:
        if adaptive is True:
            raise
        return beat_model.score(prep.clean, prep.peaks, fs, adaptive=False, **kw), False


def assess_rhythm(prep: Prepared, fs: float, n_samples: int, scores: BeatScores | None,
                  rhythm_model: RhythmModel, *, window_s: float, step_s: float) -> dict:
    """Irregularity (AF-like) probability per sliding window and the irregular episodes.

    Irregularity is judged on normal-to-normal intervals: intervals that touch a beat of abnormal
    morphology are left out (Holter practice), because frequent ventricular ectopics make sinus
    rhythm look irregular while AF stays irregular without them. Windows mostly in unusable
    signal carry no rhythm evidence and get probability 0.

    Returns
    -------
    dict
        ``start_s``, ``probability`` (per window), ``window_s`` and ``episodes``
        (``irregular_rhythm`` episodes).
    """
    duration = n_samples / fs
    nn_valid = prep.rr_valid.copy()
    if scores is not None and nn_valid.size:
        ectopic = scores.morphology >= 1.0
        nn_valid &= ~(ectopic[:-1] | ectopic[1:])
    starts, F = window_features(prep.peaks, fs, prep.clean, window_s=window_s, step_s=step_s,
                                valid=nn_valid, n_samples=n_samples)
    usable_frac = np.array([prep.usable[int(s * fs):int(min(s + window_s, duration) * fs)].mean()
                            for s in starts])
    proba = np.where(usable_frac >= 0.5, rhythm_model.predict_proba(F), 0.0)
    episodes = irregular_episodes(starts, proba, rhythm_model.threshold_, window_s, duration)
    return {"start_s": starts, "probability": proba, "window_s": window_s, "episodes": episodes}


def _in_episodes(peaks: np.ndarray, fs: float, episodes: list[dict]) -> np.ndarray:
    """Beats inside any of ``episodes`` (their RR context is ignored: the episode covers it)."""
    inside = np.zeros(peaks.size, dtype=bool)
    for ep in episodes:
        inside |= (peaks >= ep["start_s"] * fs) & (peaks <= ep["end_s"] * fs)
    return inside


def summarise_rhythm(prep: Prepared, fs: float, duration: float, scores: BeatScores | None,
                     windows: dict, rhythm_model: RhythmModel) -> dict:
    """The ``rhythm`` object of ``findings.json``: irregularity, rates, RR statistics, episodes
    (rate, pause, irregular rhythm, ectopic runs, by start time) and the ectopic burden."""
    peaks, proba, irregular = prep.peaks, windows["probability"], windows["episodes"]
    rr, _ = rr_intervals(peaks, fs)
    stats = rr_stats(rr[prep.rr_valid]) if rr.size else rr_stats([])
    _, bpm = heart_rate_trend(peaks, fs, valid=prep.rr_valid)
    episodes = rate_episodes(peaks, fs, valid=prep.rr_valid) + irregular
    episodes += windows.get("ventricular", [])
    if scores is not None:
        episodes += _ectopic_runs(peaks, fs, scores)
    episodes.sort(key=lambda e: (e["start_s"], e["type"]))
    return {
        "irregularity_score": float(proba.max()) if proba.size else 0.0,
        "irregular": bool(irregular),
        "irregular_fraction": round(sum(e["end_s"] - e["start_s"] for e in irregular)
                                    / duration, 4) if duration else 0.0,
        "threshold": float(rhythm_model.threshold_),
        "heart_rate_bpm": {"mean": stats["mean_bpm"], "min": stats["min_bpm"],
                           "max": stats["max_bpm"],
                           "median": float(np.nanmedian(bpm)) if np.isfinite(bpm).any() else None},
        "rr": {k: stats[k] for k in ("n_intervals", "mean_rr_ms", "sdnn_ms", "rmssd_ms", "pnn50")},
        "episodes": episodes,
        "ectopic_burden": _burden(scores, peaks.size),
    }


def describe_models(beat_model: RecordBeatModel | None, rhythm_model: RhythmModel, *,
                    adaptive: bool | str, used_adaptive: bool, window_s: float, step_s: float,
                    peak_method: str) -> dict:
    """The ``model`` object of ``findings.json``: which models and settings made the findings."""
    return {"beats": beat_model.describe() if beat_model is not None else None,
            "adaptive": used_adaptive, "adaptive_requested": adaptive,
            "rhythm": {"name": rhythm_model.card.get("name", DEFAULT_RHYTHM_MODEL),
                       "threshold": float(rhythm_model.threshold_), "window_s": window_s,
                       "step_s": step_s},
            "peak_method": peak_method}


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
