"""analyze_record on the bundled MIT-BIH excerpt and on synthetic records; findings.json schema."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from cardioclarity import DISCLAIMER
from cardioclarity.ecg.records.analyze import analyze_record
from cardioclarity.ecg.records.datasets import label_detected_beats
from cardioclarity.ecg.records.demo import sample_path
from cardioclarity.ecg.records.io import Record, read_record
from cardioclarity.ecg.records.rhythm import RhythmModel
from cardioclarity.ecg.records.scoring import RecordBeatModel, rr_context
from cardioclarity.errors import InvalidInputError

from ._records_synth import af_like_rr, synth_ecg


@pytest.fixture(scope="module")
def model():
    return RecordBeatModel.load()


@pytest.fixture(scope="module")
def sample():
    return read_record(sample_path())


@pytest.fixture(scope="module")
def findings(sample, model):
    return analyze_record(sample, detector=model)


def test_findings_json_schema(findings, sample):
    d = json.loads(json.dumps(findings.to_dict(), allow_nan=False))  # strict JSON
    assert d["sampling_rate"] == 360.0 and d["lead"] == "MLII"
    assert d["duration_s"] == pytest.approx(300.0)
    assert d["disclaimer"] == DISCLAIMER
    beat = d["beats"][0]
    assert {"sample", "time_s", "score", "is_anomaly"} <= set(beat)
    assert isinstance(beat["sample"], int) and isinstance(beat["is_anomaly"], bool)
    assert beat["time_s"] == pytest.approx(beat["sample"] / 360, abs=1e-4)
    r = d["rhythm"]
    assert {"irregularity_score", "irregular", "heart_rate_bpm", "episodes"} <= set(r)
    assert 0 <= r["irregularity_score"] <= 1
    for ep in r["episodes"]:
        assert {"type", "start_s", "end_s"} <= set(ep) and ep["end_s"] >= ep["start_s"]
    assert {"usable_fraction", "unusable_segments"} <= set(d["quality"])
    assert d["model"]["beats"]["name"] == "mitdb-conv1d"


def test_sample_beats_and_af_match_reference(findings, sample):
    """The excerpt's reference (MIT-BIH 219, DS2: unseen patient): AF, a pause, sinus, AF again."""
    ann = sample.annotations
    lab = label_detected_beats(findings.peaks, ann, sample.fs)
    assert (lab != "").mean() > 0.99
    flagged = findings.beat_scores.is_anomaly
    ectopic = np.isin(lab, ["S", "V", "F"])
    # most ventricular beats are flagged; most normal beats are not
    assert flagged[lab == "V"].mean() > 0.6
    assert flagged[~ectopic & (lab == "N")].mean() < 0.1
    rhythm = [(s / sample.fs, a) for s, a in zip(ann.sample, ann.aux_note, strict=True)
              if a.startswith("(")]
    last_af = max(t for t, a in rhythm if a.startswith("(AF"))
    irr = [e for e in findings.episodes() if e["type"] == "irregular_rhythm"]
    # the AF that runs from last_af to the end is found, within one 30-s analysis window
    assert any(e["start_s"] <= last_af + 30 and e["end_s"] >= 290 for e in irr)
    assert findings.rhythm["irregular"] is True
    # the annotated pause ('PSE') is reported as a pause episode
    pse = next(s / sample.fs for s, a in zip(ann.sample, ann.aux_note, strict=True) if a == "PSE")
    pauses = [e for e in findings.episodes() if e["type"] == "pause"]
    assert any(e["start_s"] - 1 <= pse <= e["end_s"] + 1 for e in pauses)


def test_premature_beats_caught_by_rr_context(model):
    """A normal-looking beat that comes early is flagged 'premature', not morphology."""
    fs = 360.0
    rr = np.full(80, 0.85)
    rr[40] = 0.5  # premature (same shape: an S-like beat)
    rr[41] = 0.85
    x, true = synth_ecg(fs=fs, duration=float(rr.sum() + 1.5), rr=rr, seed=3)
    rec = Record(x, fs, "II", ["II"], "synthetic")
    f = analyze_record(rec, detector=model, adaptive=False)
    i = int(np.argmin(np.abs(f.peaks - true[41])))
    assert f.beat_scores.finding[i] == "premature" and f.beat_scores.is_anomaly[i]
    # the patient-adaptive model flags it too (its window also holds the previous T wave)
    assert analyze_record(rec, detector=model).beat_scores.is_anomaly[i]
    assert f.beat_scores.rr[i] > 1.5
    # and sinus beats are not premature (global model)
    others = np.delete(np.arange(f.n_beats), [i])
    assert (np.asarray(f.beat_scores.finding)[others] != "premature").mean() > 0.97


def test_rr_context_values():
    prem, comp, ref = rr_context(np.array([0, 100, 200, 300, 350, 500, 600]), 100.0)
    assert prem[4] == pytest.approx(0.5) and comp[4] == pytest.approx(0.5)
    assert prem[3] == pytest.approx(0.0) and ref[3] == pytest.approx(1.0)


def test_noise_is_unusable_not_arrhythmia(model):
    fs = 250.0
    x, _ = synth_ecg(fs=fs, duration=120, hr=70, seed=4)
    rng = np.random.default_rng(0)
    x[int(40 * fs):int(70 * fs)] = 0.4 * rng.standard_normal(int(30 * fs))
    f = analyze_record(Record(x, fs, "II", ["II"], "noisy"), detector=model)
    segs = f.quality.segments
    assert segs and all(s["reason"] == "noisy" for s in segs)
    assert segs[0]["start_s"] <= 40 and segs[-1]["end_s"] >= 70
    t = f.peaks / fs
    assert not np.any((t > 41) & (t < 69)), "no beats are detected inside unusable signal"
    assert [e for e in f.episodes() if e["type"] != "irregular_rhythm"] == []
    assert not f.rhythm["irregular"]
    assert f.beat_scores.is_anomaly.mean() < 0.05


def test_af_like_synthetic_record_is_irregular(model):
    fs = 300.0
    rr = np.r_[np.full(60, 0.8), af_like_rr(120, 0.65, seed=5)]
    x, _ = synth_ecg(fs=fs, duration=float(rr.sum() + 1.0), rr=rr, seed=5)
    # Window edges: this synthetic "AF" keeps its P waves (and even without them, at its rate
    # the T wave, a bump like the P wave, falls into the next beat's P window), which pass for
    # sinus P waves and would cut stretches out of the episode; the sample record tests the
    # default edges on real AF.
    f = analyze_record(Record(x, fs, "ECG", ["ECG"], "af"), detector=model,
                       episode_edges="windows")
    irr = [e for e in f.episodes() if e["type"] == "irregular_rhythm"]
    assert f.rhythm["irregular"] and irr[0]["start_s"] >= 20
    # AF beats are not reported one by one as premature ectopics
    t_af = 0.6 + rr[:60].sum()
    in_af = f.peaks / fs > t_af + 30
    assert (np.asarray(f.beat_scores.finding)[in_af] == "premature").mean() < 0.05


def test_flat_line_record_is_an_error(model):
    rec = Record(np.full(5000, 0.3), 250.0, "II", ["II"], "flat")
    with pytest.raises(InvalidInputError, match="no usable signal.*flat"):
        analyze_record(rec, detector=model)


def test_adaptive_auto_global_and_rhythm_only(sample, model, findings):
    # default "auto": calibrated on the record's own dominant beats
    assert findings.model["adaptive"] and findings.beat_scores.calibration["n_dominant_beats"] > 50
    fg = analyze_record(sample, detector=model, adaptive=False)
    assert not fg.model["adaptive"] and fg.beat_scores.calibration == {}
    np.testing.assert_array_equal(fg.peaks, findings.peaks)
    assert not np.allclose(fg.beat_scores.morphology, findings.beat_scores.morphology)
    fr = analyze_record(sample, detector=False)
    assert fr.beat_scores is None and fr.to_dict()["beats"][0]["score"] is None
    with pytest.raises(InvalidInputError, match="Record"):
        analyze_record(sample.signal)
    with pytest.raises(InvalidInputError, match="adaptive"):
        analyze_record(sample, detector=model, adaptive="sometimes")


def test_adaptive_auto_falls_back_on_short_records(model):
    x, _ = synth_ecg(fs=250, duration=8, hr=60)  # ~7 beats: too few to calibrate on
    rec = Record(x, 250.0, "II", ["II"], "short")
    f = analyze_record(rec, detector=model)
    assert f.model["adaptive"] is False and f.beat_scores is not None
    with pytest.raises(InvalidInputError, match="calibration"):
        analyze_record(rec, detector=model, adaptive=True)


def test_beat_windows_hide_neighbouring_beats_at_fast_rates():
    from cardioclarity.ecg.records.scoring import WindowConfig, beat_windows

    fs = 360.0
    x_fast, p_fast = synth_ecg(fs=fs, duration=20, hr=150, noise=0)  # next R at +0.4 s
    x_slow, p_slow = synth_ecg(fs=fs, duration=20, hr=60, noise=0)
    Xf, _ = beat_windows(x_fast, p_fast, fs, WindowConfig())
    Xs, _ = beat_windows(x_slow, p_slow, fs, WindowConfig())
    t = np.linspace(-0.25, 0.45, 128)
    tail = t > 0.35
    # without holding, the next beat's R wave (1.0) would appear at +0.4 s
    assert np.abs(Xf[3, tail]).max() < 0.2
    # the beat itself (QRS shape, up to the baseline offset) is unchanged
    core = np.abs(t) < 0.06
    qf, qs = np.median(Xf[:, core], 0), np.median(Xs[:, core], 0)
    np.testing.assert_allclose(qf - qf.mean(), qs - qs.mean(), atol=0.05)


def test_sample_beats_carry_aami_classes(findings, sample):
    """MIT-BIH 219 (DS2, a patient the classifier never saw): V beats found, N beats kept N."""
    d = findings.to_dict()
    beat = d["beats"][0]
    assert beat["aami_class"] in {"N", "S", "V", "F", "Q"}
    assert 0.0 <= beat["class_probability"] <= 1.0
    lab = label_detected_beats(findings.peaks, sample.annotations, sample.fs)
    cls = findings.beat_classes.aami_class
    assert (cls[lab == "V"] == "V").mean() >= 0.9
    assert (cls[lab == "N"] != "N").mean() < 0.02
    clf = d["model"]["classifier"]
    assert clf["name"] == "aami-beats" and clf["calibration"]["method"] == "sinus_cluster"
    # The record opens with 3.3 s of AF (beats at 0.5 and 1.1 s), then sinus rhythm with atrial
    # premature beats to 26.7 s, then AF. The first 30-s window holds both AF stretches and is
    # called irregular; the episodes are cut back to the beats: the two opening AF beats are too
    # few for an episode but stay covered (the one at 1.1 s is not "premature"), the sinus
    # stretch is out of the episodes and its APB at 6.3 s is reported, and the AF episode
    # starts near its reference start.
    t = findings.peaks / sample.fs
    fin = np.asarray(findings.beat_scores.finding)
    irr = [e for e in d["rhythm"]["episodes"] if e["type"] == "irregular_rhythm"]
    assert d["model"]["rhythm"]["episode_edges"] == "beats"
    assert [e["end_s"] for e in irr] == [300.0] and 20.0 < irr[0]["start_s"] < 27.0
    (af_beat,) = np.flatnonzero(np.abs(t - 1.14) < 0.05)
    assert fin[af_beat] != "premature"
    (apb,) = np.flatnonzero(np.abs(t - 6.26) < 0.05)
    assert lab[apb] == "S" and fin[apb] == "premature" and cls[apb] == "S"


def test_window_edges_keep_the_sinus_stretch_in_the_episode(sample, model):
    f = analyze_record(sample, detector=model, episode_edges="windows")
    irr = [e for e in f.episodes() if e["type"] == "irregular_rhythm"]
    assert [(e["start_s"], e["end_s"]) for e in irr] == [(0.0, 300.0)]
    assert f.model["rhythm"]["episode_edges"] == "windows"
    t = f.peaks / sample.fs
    (apb,) = np.flatnonzero(np.abs(t - 6.26) < 0.05)
    assert f.beat_classes.aami_class[apb] == "N"  # inside the episode: no S one by one
    with pytest.raises(InvalidInputError, match="episode_edges must be one of"):
        analyze_record(sample, detector=model, episode_edges="minutes")


def test_premature_needs_the_sinus_reference_not_the_pause(sample, model):
    # Without irregular episodes (a rhythm model that never fires), what is left is the beat
    # logic: the sinus beats after the opening AF's 2.6-s pause are not "premature" (their
    # reference is the sinus RR, not the pause), the atrial premature beat at 6.3 s is.
    quiet = dataclasses.replace(RhythmModel.load(), threshold_=1.01)
    findings = analyze_record(sample, detector=model, rhythm_model=quiet)
    assert not [e for e in findings.to_dict()["rhythm"]["episodes"]
                if e["type"] == "irregular_rhythm"]
    lab = label_detected_beats(findings.peaks, sample.annotations, sample.fs)
    t = findings.peaks / sample.fs
    fin = np.asarray(findings.beat_scores.finding)
    after_pause = (t > 3.5) & (t < 6.0)
    assert after_pause.sum() == 3 and not np.any(fin[after_pause] == "premature")
    (apb,) = np.flatnonzero(np.abs(t - 6.26) < 0.05)
    assert lab[apb] == "S" and fin[apb] == "premature"
    assert findings.beat_classes.aami_class[apb] == "S"


def test_short_record_still_gets_classes_and_says_so(model):
    x, _ = synth_ecg(fs=250, duration=8, hr=60)
    f = analyze_record(Record(x, 250.0, "II", ["II"], "short"), detector=model)
    clf = f.model["classifier"]
    assert clf["calibration"]["method"] == "fallback_all_beats" and "note" in clf
    assert set(f.beat_classes.aami_class) <= {"N", "S", "V", "F", "Q"}


def test_fibrillation_is_a_rhythm_not_noise(model):
    fs = 250.0
    x, _ = synth_ecg(fs=fs, duration=60, hr=70, seed=2)
    t = np.arange(int(25 * fs)) / fs
    phase = 2 * np.pi * np.cumsum(5 + 0.5 * np.sin(2 * np.pi * 0.3 * t)) / fs
    x[int(30 * fs):int(55 * fs)] = (0.6 + 0.2 * np.sin(2 * np.pi * 0.2 * t)) * np.sin(phase)
    f = analyze_record(Record(x, fs, "II", ["II"], "vf"), detector=model)
    (vf,) = [e for e in f.episodes() if e["type"] == "ventricular_fibrillation"]
    assert vf["start_s"] <= 34 and vf["end_s"] >= 51
    sinus = analyze_record(Record(x[:int(28 * fs)], fs, "II", ["II"], "sinus"), detector=model)
    assert not [e for e in sinus.episodes() if e["type"].startswith("ventricular")]


def test_beats_of_a_vt_run_are_reported_v(findings):
    """Beats inside a ventricular tachycardia run become V (never an edge beat's Q), and
    ``model.classifier`` counts them."""
    bc = findings.beat_classes
    n = bc.aami_class.size
    cls = bc.aami_class.copy()
    cls[10:16] = ["V", "N", "S", "V", "N", "Q"]
    base = dataclasses.replace(bc, aami_class=cls)
    mask = np.zeros(n, dtype=bool)
    mask[10:16] = True
    out = base.within_ventricular_runs(mask)
    assert out.aami_class[10:16].tolist() == ["V", "V", "V", "V", "V", "Q"]
    assert (out.aami_class[~mask] == cls[~mask]).all()
    assert out.describe()["reclassified_v_in_ventricular_runs"] == 3
    assert findings.to_dict()["model"]["classifier"]["reclassified_v_in_ventricular_runs"] >= 0


def test_vt_runs_method_is_checked_and_reported(sample, model, findings):
    """``vt_runs`` names its valid options when wrong; the method used is in ``model``."""
    with pytest.raises(InvalidInputError, match=r"vt_runs must be one of \['classes', 'shape'\]"):
        analyze_record(sample, detector=model, vt_runs="runs")
    assert findings.to_dict()["model"]["classifier"]["vt_runs"] == "classes"
    assert all("n_joined" not in e for e in findings.to_dict()["rhythm"]["episodes"])
    shaped = analyze_record(sample, detector=model, vt_runs="shape")
    assert shaped.to_dict()["model"]["classifier"]["vt_runs"] == "shape"
    # the shape rule only ever adds beats to runs, so it never reports fewer V beats
    assert (shaped.beat_classes.aami_class == "V").sum() >= (
        findings.beat_classes.aami_class == "V").sum()
