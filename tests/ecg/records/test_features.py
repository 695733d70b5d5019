"""Beat features against the patient's sinus reference: ectopy-proof underlying RR, any rate."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.ecg.records.features import FEATURE_NAMES, beat_features, sinus_reference
from cardioclarity.ecg.records.processing import ecg_clean

from ._records_synth import synth_ecg

COL = {n: i for i, n in enumerate(FEATURE_NAMES)}
#: Trigeminy with compensatory pauses: two sinus beats, then an early one (a third of all beats).
TRIGEMINY = np.array([0.8, 0.8, 0.45, 1.15])


def _record(fs: float, rr=TRIGEMINY, duration: float = 120.0):
    x, peaks = synth_ecg(fs=fs, duration=duration, rr=rr, seed=1)
    return ecg_clean(x, fs), peaks


def test_underlying_rr_is_not_dragged_by_frequent_ectopy():
    clean, peaks = _record(360.0)
    ref = sinus_reference(clean, peaks, 360.0)
    assert ref.method == "sinus_cluster"
    # a running median of all RRs would be pulled towards the 0.45-s intervals
    assert np.median(ref.rr_s) == pytest.approx(0.8, abs=0.05)
    F, _ = beat_features(clean, peaks, 360.0, reference=ref)
    pre = np.r_[np.nan, np.diff(peaks) / 360.0]
    early = pre < 0.5
    assert early.sum() > 30
    assert np.all(F[early, COL["pre_rr_n"]] < 0.65)
    assert np.nanmedian(F[~early, COL["pre_rr_n"]]) > 0.95
    assert not ref.sinus[early].any()


@pytest.mark.parametrize("fs", [128.0, 1000.0])
def test_features_do_not_depend_on_the_sampling_rate(fs):
    c0, p0 = _record(360.0, duration=60.0)
    c1, p1 = _record(fs, duration=60.0)
    F0, _ = beat_features(c0, p0, 360.0)
    F1, _ = beat_features(c1, p1, fs)
    n = min(len(p0), len(p1))
    # a 12-ms QRS wave is barely sampled at 128 Hz: its width ratio gets a wider tolerance
    for name, tol in (("pre_rr_n", 0.05), ("post_rr_n", 0.05), ("qrs_corr", 0.05),
                      ("p_corr", 0.05), ("qrs_width_ratio", 0.1)):
        a, b = F0[2:n - 2, COL[name]], F1[2:n - 2, COL[name]]
        assert np.nanmedian(np.abs(a - b)) < tol, name


def test_short_record_falls_back_and_says_so():
    clean, peaks = _record(250.0, rr=[0.8], duration=6.0)
    F, ref = beat_features(clean, peaks, 250.0)
    assert ref.method == "fallback_all_beats" and F.shape == (peaks.size, len(FEATURE_NAMES))
    assert ref.describe()["method"] == "fallback_all_beats"


def test_bigeminy_without_pause_keeps_the_longer_interval_as_sinus():
    # atrial bigeminy with a short coupling and no compensatory pause (0.70 / 0.84 s): half the
    # beats are early; a plain median of all intervals would sit between the two
    clean, peaks = _record(360.0, rr=np.array([0.84, 0.70]), duration=150.0)
    ref = sinus_reference(clean, peaks, 360.0)
    assert np.median(ref.rr_s) == pytest.approx(0.84, abs=0.03)
    F, _ = beat_features(clean, peaks, 360.0, reference=ref)
    pre = np.r_[np.nan, np.diff(peaks) / 360.0]
    early = pre < 0.77
    assert np.nanmedian(F[early, COL["pre_rr_n"]]) < 0.87


def test_new_context_features_are_finite_on_a_regular_record():
    clean, peaks = _record(360.0, rr=[0.8], duration=60.0)
    F, _ = beat_features(clean, peaks, 360.0)
    for name in ("long_rr_n", "rate_change", "rr_irregularity", "rr_irregularity_lag2",
                 "p_corr_context", "p_prev_corr"):
        col = F[2:-2, COL[name]]
        assert np.isfinite(col).all(), name
    assert np.median(F[2:-2, COL["rr_irregularity"]]) < 0.05
    assert np.median(F[2:-2, COL["p_corr_context"]]) > 0.8


def test_one_missed_beat_changes_the_features_only_around_it():
    # A real record (MIT-BIH 219, AF with ventricular beats; played twice, to hold more beats
    # than the clustering sample), with and without one beat in the middle, as another R-peak
    # detector might miss it. Far from the missing beat every feature must be the same.
    from cardioclarity.ecg.records.analyze import preprocess
    from cardioclarity.ecg.records.demo import sample_path
    from cardioclarity.ecg.records.io import read_record

    rec = read_record(sample_path())
    prep = preprocess(rec)
    clean = np.r_[prep.clean, prep.clean]
    peaks, fs = np.r_[prep.peaks, prep.peaks + prep.clean.size], rec.fs
    assert peaks.size > 400
    drop = peaks.size // 2
    F0, r0 = beat_features(clean, peaks, fs)
    F1, r1 = beat_features(clean, np.delete(peaks, drop), fs)
    assert r0.n_clusters == r1.n_clusters
    far = np.abs(np.arange(peaks.size) - drop) > 160  # beyond the running medians' reach
    far_1 = np.delete(far, drop)
    assert far.sum() > 100
    np.testing.assert_array_equal(r0.sinus[far], r1.sinus[far_1])
    # whole-record templates and amplitude unit are medians over all beats: one fewer moves
    # them a hair; every other feature is local and must not move at all
    whole = ("qrs_dist", "beat_corr", "beat_dist", "qrs_amp_ratio", "qrs_width_ratio",
             "r_polarity", "p_energy_ratio", "p_dist", "t_corr", "p_amp", "p_corr_record",
             "qrs_corr_record")
    local = [COL[c] for c in FEATURE_NAMES if c not in whole]
    np.testing.assert_allclose(F0[far][:, local], F1[far_1][:, local], equal_nan=True, atol=1e-9)
    for c in whole:
        a, b = F0[far, COL[c]], F1[far_1, COL[c]]
        # correlations are compared absolutely: without P waves (AF) the P template is the
        # median of noise, so P correlations sit near 0 and move by a few hundredths
        corr = c.endswith("corr") or "_corr_" in c
        d = np.abs(a - b) if corr else np.abs(a - b) / np.abs(a)
        assert np.nanmedian(d) < (0.03 if corr else 0.01), c


def test_a_pause_at_the_record_start_is_not_the_underlying_rr():
    # an early beat, then a 2.6-s pause, then sinus rhythm at 0.85 s: the record's first beats
    # are judged against the sinus RR, not against the pause
    rr = np.r_[0.6, 2.6, np.full(120, 0.85)]
    clean, peaks = _record(360.0, rr=rr, duration=90.0)
    ref = sinus_reference(clean, peaks, 360.0)
    assert ref.method == "sinus_cluster"
    assert not ref.sinus[2]  # the interval before beat 2 is the pause
    np.testing.assert_allclose(ref.rr_s[:10], 0.85, atol=0.03)
    F, _ = beat_features(clean, peaks, 360.0, reference=ref)
    np.testing.assert_allclose(F[3:8, COL["pre_rr_n"]], 1.0, atol=0.05)
