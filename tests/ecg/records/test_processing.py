"""Signal stages: resampling, cleaning, R-peaks, beat windows, quality."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.ecg.records.processing import (
    PEAK_METHODS,
    assess_quality,
    ecg_clean,
    ecg_clean_peaks,
    ecg_peaks,
    fill_gaps,
    resample_sig,
    segment_beats,
)
from cardioclarity.errors import InvalidInputError

from ._records_synth import synth_ecg


def _match(ref: np.ndarray, det: np.ndarray, tol: int) -> tuple[int, int, int]:
    """(tp, fp, fn) with one-to-one matching within ``tol`` samples."""
    used = np.zeros(det.size, bool)
    tp = 0
    for r in ref:
        d = np.abs(det - r)
        d[used] = tol + 1
        j = int(np.argmin(d)) if det.size else -1
        if j >= 0 and d[j] <= tol:
            used[j] = True
            tp += 1
    return tp, int((~used).sum()), int(ref.size - tp)


@pytest.mark.parametrize("fs", [128.0, 250.0, 360.0, 1000.0])
def test_peaks_on_synthetic_ecg_any_rate(fs):
    x, true = synth_ecg(fs=fs, duration=40, hr=72, noise=0.03)
    det = ecg_peaks(x, fs)
    tp, fp, fn = _match(true, det, int(0.05 * fs))
    assert fp == 0 and fn == 0
    # aligned on the R extremum, not somewhere in the QRS
    assert np.median(np.abs(det - true)) <= max(1, 0.004 * fs)


def test_peaks_with_baseline_wander_mains_and_inverted_polarity():
    fs = 360.0
    x, true = synth_ecg(fs=fs, duration=40, hr=95)
    t = np.arange(x.size) / fs
    y = -(x + 0.8 * np.sin(2 * np.pi * 0.3 * t) + 0.2 * np.sin(2 * np.pi * 50 * t))
    tp, fp, fn = _match(true, ecg_peaks(y, fs), int(0.05 * fs))
    assert fp == 0 and fn == 0


def test_peaks_irregular_rhythm_and_pause():
    fs = 250.0
    rr = np.r_[np.full(10, 0.8), 2.6, np.full(10, 0.8), 0.45, 1.1, np.full(5, 0.6)]
    x, true = synth_ecg(fs=fs, duration=30, rr=rr)
    tp, fp, fn = _match(true, ecg_peaks(x, fs), int(0.05 * fs))
    assert fp == 0 and fn == 0


def test_flat_signal_has_no_peaks():
    assert ecg_peaks(np.zeros(5000), 250).size == 0


def test_peak_method_dispatch():
    with pytest.raises(InvalidInputError, match="valid options: " + ", ".join(PEAK_METHODS)):
        ecg_peaks(np.zeros(1000), 250, method="magic")
    x, true = synth_ecg(fs=250, duration=20)
    nk = ecg_peaks(x, 250, method="neurokit")
    assert _match(true, nk, 13)[0] >= true.size - 1


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 10)), "1-D"),
    (np.zeros(0), "empty"),
])
def test_processing_rejects_bad_signals(bad, match):
    with pytest.raises(InvalidInputError, match=match):
        ecg_clean(bad, 250)


def test_bad_fs():
    with pytest.raises(InvalidInputError, match="fs"):
        ecg_peaks(np.zeros(100), -1)


def test_resample_keeps_duration_and_peak_times():
    x, true = synth_ecg(fs=360, duration=20)
    y = resample_sig(x, 360, 250)
    assert y.size == round(x.size * 250 / 360)
    det = ecg_peaks(y, 250)
    tp, fp, fn = _match(np.round(true * 250 / 360).astype(int), det, 3)
    assert fp == 0 and fn == 0


def test_clean_removes_baseline_and_mains_keeps_qrs():
    fs = 500.0
    x, true = synth_ecg(fs=fs, duration=20, noise=0)
    t = np.arange(x.size) / fs
    dirty = x + 1.0 * np.sin(2 * np.pi * 0.2 * t) + 0.3 * np.sin(2 * np.pi * 50 * t)
    y = ecg_clean(dirty, fs)
    spec = np.abs(np.fft.rfft(y)) / y.size
    f = np.fft.rfftfreq(y.size, 1 / fs)
    assert spec[np.argmin(np.abs(f - 50))] < 0.005
    assert spec[np.argmin(np.abs(f - 0.2))] < 0.02
    # R waves survive with most of their amplitude
    assert np.median(y[true]) > 0.6
    with pytest.raises(InvalidInputError, match="valid options"):
        ecg_clean(x, fs, method="wavelet-magic")


def test_fill_gaps():
    np.testing.assert_allclose(fill_gaps(np.array([np.nan, 1.0, np.nan, 3.0, np.nan])),
                               [1, 1, 2, 3, 3])


def test_segment_beats_fixed_length_and_edges():
    x, true = synth_ecg(fs=360, duration=10)
    W, valid = segment_beats(x, np.r_[10, true, x.size - 5], 360, length=128)
    assert W.dtype == np.float32 and W.shape == (true.size, 128)
    assert not valid[0] and not valid[-1] and valid[1:-1].all()
    # The R peak sits at 0.25 s of a 0.7-s window, whatever the sampling rate.
    r_idx = int(round(0.25 / 0.7 * 127))
    assert np.all(np.abs(W.argmax(axis=1) - r_idx) <= 1)
    x2, true2 = synth_ecg(fs=1000, duration=10)
    W2, _ = segment_beats(x2, true2, 1000, length=128)
    np.testing.assert_allclose(np.median(W2, axis=0), np.median(W, axis=0), atol=0.05)


def test_quality_labels_each_failure():
    fs = 250.0
    x, _ = synth_ecg(fs=fs, duration=60, noise=0.01)
    w = int(5 * fs)
    rng = np.random.default_rng(1)
    x[1 * w:2 * w] = 0.001 * rng.standard_normal(w)  # disconnected lead
    x[3 * w:4 * w] = 0.2 * rng.standard_normal(w)  # EMG noise, no R waves visible
    x[5 * w:6 * w] = np.nan  # gap
    x[7 * w:8 * w] = np.clip(x[7 * w:8 * w] * 8, None, 0.5)  # clipped amplifier
    x[x > 0.5] = 0.5  # the amplifier's rail for the whole record
    q = assess_quality(x, fs)
    assert q.labels[1] == "flat" and q.labels[3] == "noisy" and q.labels[5] == "missing"
    assert q.labels[7] == "saturated"
    assert q.labels[0] == "ok" and q.labels[2] == "ok"
    reasons = {s["reason"] for s in q.segments}
    assert {"flat", "noisy", "missing", "saturated"} <= reasons
    assert 0.5 < q.usable_fraction < 0.95
    mask = q.usable_mask(x.size, fs)
    assert not mask[int(3.5 * w)] and mask[int(0.5 * w)]
    assert q.to_dict()["n_unusable_windows"] == sum(lbl != "ok" for lbl in q.labels)


def test_quality_clean_signal_fully_usable():
    x, _ = synth_ecg(fs=360, duration=62)
    q = assess_quality(x, 360)
    assert q.usable_fraction == 1.0 and q.segments == []


def test_rpeak_accuracy_on_mitdb_record(shared_data):
    from cardioclarity.ecg.records.datasets import BEAT_SYMBOLS
    from cardioclarity.ecg.records.io import read_record

    rec = read_record(shared_data / "mitdb" / "100")
    ref = np.array([s for s, y in zip(rec.annotations.sample, rec.annotations.symbol, strict=True)
                    if y in BEAT_SYMBOLS])
    det = ecg_peaks(rec.signal, rec.fs)
    tp, fp, fn = _match(ref, det, int(0.15 * rec.fs))
    assert 2 * tp / (2 * tp + fp + fn) > 0.998


@pytest.mark.parametrize("kind, length_s", [("flat", 2.0), ("clipped", 2.0), ("clipped", 0.4)])
def test_short_artefact_inside_a_window_is_unusable(kind, length_s):
    from cardioclarity.ecg.records.analyze import analyze_record
    from cardioclarity.ecg.records.io import Record

    fs = 250
    x, _ = synth_ecg(fs=fs, duration=60, hr=75, seed=1)
    a, b = int(21.5 * fs), int((21.5 + length_s) * fs)  # inside the 5-s window 20-25 s
    x[a:b] = 0.0 if kind == "flat" else x.max() + 0.5
    q = assess_quality(x, fs)
    reason = "flat" if kind == "flat" else "saturated"
    seg = [s for s in q.segments if s["reason"] == reason]
    assert seg and seg[0]["start_s"] <= 21.6 and seg[0]["end_s"] >= 21.4 + length_s, q.segments
    assert 0.9 < q.usable_fraction < 1.0
    f = analyze_record(Record(x, fs, "II", ["II"], "art"), detector=False)
    assert not np.any((f.peaks > a) & (f.peaks < b))


def test_fast_clean_rhythm_is_not_noise():
    x, _ = synth_ecg(fs=250, duration=60, hr=170, seed=2)
    assert assess_quality(x, 250).usable_fraction > 0.95


def test_gaussian_noise_stays_noisy():
    x = np.random.default_rng(0).normal(0, 0.3, 250 * 60)
    assert assess_quality(x, 250).usable_fraction < 0.1


def test_real_fast_rhythm_and_clean_records(shared_data):
    from cardioclarity.ecg.records.io import read_record

    v102s = read_record(shared_data / "wfdb" / "v102s")  # plain QRS at ~130-170 bpm
    assert assess_quality(v102s.signal, v102s.fs).usable_fraction > 0.8  # was 0.13
    for rec in ("100", "203"):
        r = read_record(shared_data / "mitdb" / rec)
        assert assess_quality(r.signal, r.fs).usable_fraction > 0.99


@pytest.mark.parametrize("fs, method", [(128.0, "cardioclarity"), (360.0, "cardioclarity"),
                                        (1000.0, "cardioclarity"), (360.0, "hybrid")])
def test_clean_peaks_in_one_pass_equal_the_two_stages(fs, method):
    x, _ = synth_ecg(fs=fs, duration=40, hr=85, noise=0.05, seed=3)
    x[int(5 * fs):int(5.5 * fs)] = np.nan  # a gap: both paths interpolate it the same way
    clean, peaks = ecg_clean_peaks(x, fs, method=method)
    np.testing.assert_array_equal(clean, ecg_clean(x, fs))
    np.testing.assert_array_equal(peaks, ecg_peaks(x, fs, method=method))


def test_clean_peaks_other_detector_and_bad_method():
    x, _ = synth_ecg(fs=250.0, duration=20, hr=70)
    clean, peaks = ecg_clean_peaks(x, 250.0, method="neurokit")
    np.testing.assert_array_equal(peaks, ecg_peaks(x, 250.0, method="neurokit"))
    np.testing.assert_array_equal(clean, ecg_clean(x, 250.0))
    with pytest.raises(InvalidInputError, match="valid options"):
        ecg_clean_peaks(x, 250.0, method="nope")
