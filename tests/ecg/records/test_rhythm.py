"""Rhythm: RR statistics, rate/pause episodes, irregularity features and the bundled model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cardioclarity.ecg.records.processing import ecg_clean, ecg_peaks
from cardioclarity.ecg.records.rhythm import (
    FEATURE_NAMES,
    RhythmModel,
    heart_rate_trend,
    irregular_episodes,
    rate_episodes,
    rhythm_features,
    rr_intervals,
    rr_stats,
    trim_irregular_episodes,
    window_features,
)
from cardioclarity.errors import InvalidInputError, NotFittedError

from ._records_synth import af_like_rr, synth_ecg


def _peaks_from_rr(rr, fs=250.0, start=0.5):
    return np.round((start + np.r_[0, np.cumsum(rr)]) * fs).astype(np.int64)


def test_rr_stats_by_hand():
    rr = np.array([0.8, 0.9, 0.7, 0.8])
    s = rr_stats(rr)
    d = np.diff(rr)
    assert s["mean_rr_ms"] == pytest.approx(800)
    assert s["sdnn_ms"] == pytest.approx(np.std(rr, ddof=1) * 1000)
    assert s["rmssd_ms"] == pytest.approx(np.sqrt(np.mean(d ** 2)) * 1000)
    assert s["pnn50"] == pytest.approx(1.0)  # |diffs| are 100, 200, 100 ms
    assert s["mean_bpm"] == pytest.approx(75)
    assert np.isnan(rr_stats([0.8])["sdnn_ms"])


def test_rr_intervals_invalid_across_unusable():
    peaks = np.array([100, 300, 500, 700])
    usable = np.ones(1000, bool)
    usable[350:400] = False
    rr, valid = rr_intervals(peaks, 250, usable)
    np.testing.assert_allclose(rr, [0.8, 0.8, 0.8])
    assert valid.tolist() == [True, False, True]
    with pytest.raises(InvalidInputError, match="increasing"):
        rr_intervals([5, 3], 250)


def test_rate_episodes_brady_tachy_pause():
    rr = np.r_[np.full(20, 0.8), np.full(20, 1.5), np.full(10, 0.8), 3.0, np.full(10, 0.8),
               np.full(30, 0.5), np.full(10, 0.8)]
    fs = 250.0
    peaks = _peaks_from_rr(rr, fs)
    eps = rate_episodes(peaks, fs)
    kinds = [e["type"] for e in eps]
    assert kinds.count("bradycardia") == 1 and kinds.count("tachycardia") == 1
    assert kinds.count("pause") == 1
    brady = next(e for e in eps if e["type"] == "bradycardia")
    t_slow = 0.5 + 20 * 0.8  # first slow beat interval starts here
    assert brady["start_s"] == pytest.approx(t_slow, abs=8 * 1.5)
    assert brady["end_s"] > brady["start_s"] + 10 and brady["mean_bpm"] < 50
    pause = next(e for e in eps if e["type"] == "pause")
    assert pause["rr_s"] == pytest.approx(3.0, abs=0.01)
    # a gap in unusable signal is not a pause
    valid = np.ones(rr.size, bool)
    valid[50] = False
    assert "pause" not in [e["type"] for e in rate_episodes(peaks, fs, valid=valid)]


def test_heart_rate_trend():
    peaks = _peaks_from_rr(np.full(30, 0.5))
    t, bpm = heart_rate_trend(peaks, 250)
    assert t.size == 30 and np.allclose(bpm, 120)


def test_features_separate_regular_from_af_like():
    reg = rhythm_features(_peaks_from_rr(np.full(60, 0.8) + 0.01 * np.sin(np.arange(60))), 250)
    af = rhythm_features(_peaks_from_rr(af_like_rr(60)), 250)
    assert reg.shape == (len(FEATURE_NAMES),)
    i = FEATURE_NAMES.index("rmssd_over_mean")
    assert af[i] > 5 * reg[i]
    # a single ectopic beat barely moves the ectopic-robust feature
    ect = np.full(60, 0.8)
    ect[30], ect[31] = 0.5, 1.1
    j = FEATURE_NAMES.index("rmssd_trimmed")
    assert rhythm_features(_peaks_from_rr(ect), 250)[j] < 0.3 * af[j]
    # too few beats: NaN, imputed by the model
    assert np.isnan(rhythm_features(_peaks_from_rr([0.8, 0.8]), 250)).all()


@pytest.fixture(scope="module")
def model():
    return RhythmModel.load()


def test_bundled_model_scores_af_like_ecg_higher(model):
    fs = 300.0
    x_reg, _ = synth_ecg(fs=fs, duration=40, hr=75, seed=1)
    x_af, _ = synth_ecg(fs=fs, duration=40, rr=af_like_rr(80, seed=2), seed=2, p_wave=False)
    probs = []
    for x in (x_reg, x_af):
        c = ecg_clean(x, fs)
        probs.append(model.predict_proba(rhythm_features(ecg_peaks(x, fs), fs, c))[0])
    assert probs[0] < model.threshold_ < probs[1]


def test_model_checkpoint_is_weights_only_and_roundtrips(model, tmp_path):
    from cardioclarity.checkpoints import save_checkpoint

    ck = model.to_checkpoint()
    p = save_checkpoint(tmp_path / "r.pt", kind="ecg-rhythm-model", model="mlp", config=ck["config"],
                        state_dict=ck["state_dict"], threshold=ck["threshold"])
    torch.load(p, weights_only=True)  # no pickled code
    again = RhythmModel.load(str(p))
    F = np.random.default_rng(0).normal(size=(5, len(FEATURE_NAMES)))
    np.testing.assert_allclose(again.predict_proba(F), model.predict_proba(F))
    with pytest.raises(InvalidInputError, match="features"):
        model.predict_proba(np.zeros((1, 3)))
    with pytest.raises(NotFittedError):
        RhythmModel().predict_proba(F)


def test_window_features_and_irregular_episodes():
    fs = 250.0
    rr = np.r_[np.full(60, 0.8), af_like_rr(90, 0.7, seed=3), np.full(60, 0.8)]
    peaks = _peaks_from_rr(rr, fs)
    starts, F = window_features(peaks, fs, None, window_s=30, step_s=10)
    assert F.shape == (starts.size, len(FEATURE_NAMES))
    irr = F[:, FEATURE_NAMES.index("rmssd_over_mean")]
    proba = (irr > 0.1).astype(float)
    eps = irregular_episodes(starts, proba, 0.5, 30, peaks[-1] / fs)
    assert len(eps) == 1
    t_af0, t_af1 = 0.5 + 48, 0.5 + 48 + rr[60:150].sum()
    assert eps[0]["start_s"] < t_af0 + 15 and eps[0]["end_s"] > t_af1 - 15


def test_irregular_episodes_merge_overlapping_runs():
    starts = np.arange(0, 100, 10.0)
    proba = np.array([0.9, 0.9, 0.1, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.9])
    eps = irregular_episodes(starts, proba, 0.5, 30.0, 120.0)
    # windows [0,40) and [30,70) overlap: one episode; the last window stands alone
    assert [(e["start_s"], e["end_s"]) for e in eps] == [(0.0, 70.0), (90.0, 120.0)]


def _episode(start: float, end: float) -> dict:
    return {"type": "irregular_rhythm", "start_s": start, "end_s": end, "max_probability": 0.9}


def test_trim_cuts_a_long_sinus_stretch_out_of_an_episode():
    fs = 100.0
    t = np.arange(0.5, 120.0, 1.0)  # one beat a second
    sinus = (t > 40) & (t < 80)  # 40 s of sinus context inside a 0-120 s window episode
    pause = {"type": "pause", "start_s": 1.0, "end_s": 3.0}
    eps, covered = trim_irregular_episodes([_episode(0.0, 120.0), pause], (t * fs).astype(int),
                                           fs, sinus, margin_beats=3)
    irr = [e for e in eps if e["type"] == "irregular_rhythm"]
    # the stretch's first and last three beats stay in the episodes (their context is mixed)
    assert [(e["start_s"], e["end_s"]) for e in irr] == [(0.0, 42.5), (77.5, 120.0)]
    assert all(e["max_probability"] == 0.9 for e in irr)
    assert pause in eps  # other types untouched
    assert covered.tolist() == ((t < 43) | (t > 77)).tolist()


def test_trim_keeps_short_sinus_stretches_and_short_pieces_covered():
    fs = 100.0
    t = np.arange(0.5, 100.0, 1.0)
    peaks = (t * fs).astype(int)
    short = (t > 40) & (t < 48)  # 7 beats: too short to cut
    eps, covered = trim_irregular_episodes([_episode(0.0, 100.0)], peaks, fs, short)
    assert eps == [_episode(0.0, 100.0)] and covered.all()
    # two long stretches with 3 irregular beats between them and 1 before: those pieces are
    # no episodes, but their beats stay covered (not judged one by one as premature)
    sinus = ((t > 1) & (t < 47)) | ((t > 50) & (t < 100))
    eps, covered = trim_irregular_episodes([_episode(0.0, 100.0)], peaks, fs, sinus,
                                           margin_beats=0)
    assert eps == [] and np.flatnonzero(covered).tolist() == [0, 47, 48, 49]
    # beats outside every irregular episode are never covered
    eps, covered = trim_irregular_episodes([_episode(20.0, 30.0)], peaks, fs, short)
    assert not covered[(t < 20) | (t > 30)].any()


def test_trim_checks_its_flags():
    with pytest.raises(InvalidInputError, match="one flag per peak"):
        trim_irregular_episodes([_episode(0.0, 10.0)], [100, 200, 300], 100.0, [True, False])


def _rr_features(rr: np.ndarray) -> list[float]:
    """The RR features of one window, written out plainly: the reference the all-windows-at-once
    computation of ``window_features`` must equal."""
    rr = rr[np.isfinite(rr) & (rr > 0.2) & (rr < 3.0)]
    if rr.size < 4:
        return [np.nan] * 12
    d = np.diff(rr)
    mean, med = rr.mean(), np.median(rr)
    rmssd = np.sqrt(np.mean(d * d))
    keep = np.abs(rr / med - 1) <= 0.15
    rt = rr[keep]
    rmssd_t = np.sqrt(np.mean(np.diff(rt) ** 2)) / rt.mean() if rt.size >= 3 else rmssd / mean
    tp = np.mean((d[:-1] * d[1:]) < 0) if d.size >= 2 else 0.0
    hist, _ = np.histogram(np.clip(rr / med, 0.4, 2.0), bins=16, range=(0.4, 2.0))
    prob = hist[hist > 0] / hist.sum()
    ent = float(-(prob * np.log(prob)).sum() / np.log(16))
    x1, x2 = rr[:-1], rr[1:]
    sd1 = np.std((x2 - x1) / np.sqrt(2))
    sd2 = np.std((x2 + x1) / np.sqrt(2))
    # Ectopic patterns repeat (bigeminy: short-long-short-long), AF does not: compare beats 2
    # or 3 apart.
    lag = min(np.sqrt(np.mean((rr[k:] - rr[:-k]) ** 2)) for k in (2, 3) if rr.size > k) / mean
    c = rr - mean
    ac1 = float(np.sum(c[1:] * c[:-1]) / (np.sum(c * c) + 1e-12))
    return [rmssd / mean, rr.std() / mean, float(np.mean(np.abs(d) > 0.05)),
            np.median(np.abs(d)) / med, float(np.mean(np.abs(d) > 0.1 * med)), rmssd_t, tp, ent,
            sd1 / (sd1 + sd2 + 1e-9), 60.0 / mean, lag, ac1]



def _morph_features(bm, sel: slice | np.ndarray) -> list[float]:
    """P-wave consistency and TQ fibrillatory activity of the selected beats."""
    pw, qrs = bm.p_win[sel], bm.qrs_win[sel]
    if pw.shape[0] < 4:
        return [np.nan] * 3
    tmpl = np.median(pw, axis=0)
    tn = np.linalg.norm(tmpl) + 1e-12
    corr = (pw @ tmpl) / (np.linalg.norm(pw, axis=1) * tn + 1e-12)
    p_power = float(np.sum(tmpl ** 2) / (np.sum(np.median(qrs, axis=0) ** 2) + 1e-12))
    tot = bm.tq_tot[sel].sum()
    fw = float(bm.tq_f[sel].sum() / tot) if tot > 0 else np.nan
    return [float(np.median(corr)), float(np.log10(p_power + 1e-6)), fw]


def _window_features_one_by_one(peaks, fs, clean, valid, window_s, step_s, n):
    """The per-window definition: _rr_features and _morph_features of each window alone."""
    from cardioclarity.ecg.records.rhythm import _beat_morph

    starts = np.arange(0.0, n / fs - window_s + 1e-9, step_s)
    bm = _beat_morph(clean, peaks, fs)
    rr_all = np.diff(peaks) / fs
    rows = []
    for s in starts:
        a, b = np.searchsorted(peaks, [s * fs, (s + window_s) * fs])
        rr = rr_all[a:max(a, b - 1)][valid[a:max(a, b - 1)]]
        ma, mb = np.searchsorted(bm.peaks, [s * fs, (s + window_s) * fs])
        rows.append(_rr_features(rr) + _morph_features(bm, slice(ma, mb)))
    return starts, np.asarray(rows)


@pytest.mark.parametrize("fs", [128.0, 360.0])
def test_window_features_all_windows_at_once_equal_window_by_window(fs):
    # sinus, an AF-like stretch, a bradycardic stretch and a pause: windows of many lengths,
    # some with < 4 intervals (NaN rows), some intervals invalid
    rr = np.r_[np.full(40, 0.8), af_like_rr(80, 0.6, seed=5), np.full(8, 1.6), 3.5,
               np.full(40, 0.75)]
    x, peaks = synth_ecg(fs=fs, duration=float(rr.sum() + 2), rr=rr, noise=0.02, seed=2)
    clean = ecg_clean(x, fs)
    valid = np.ones(peaks.size - 1, dtype=bool)
    valid[50:58] = False
    starts, F = window_features(peaks, fs, clean, window_s=20, step_s=5, valid=valid,
                                n_samples=x.size)
    s_ref, F_ref = _window_features_one_by_one(peaks, fs, clean, valid, 20, 5, x.size)
    np.testing.assert_array_equal(starts, s_ref)
    assert np.isnan(F_ref).any() and np.isfinite(F_ref).any()
    np.testing.assert_allclose(F, F_ref, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_window_features_windows_after_the_last_beat():
    # beats stop after 30 s of a 90-s lead (asystole or a lost lead): the later windows hold no
    # beat and must come back as NaN rows, as the window-by-window computation gives them
    fs = 250.0
    x, peaks = synth_ecg(fs=fs, duration=30.0, rr=np.full(40, 0.75), noise=0.02, seed=3)
    x = np.r_[x, np.zeros(int(60 * fs))]
    clean = ecg_clean(x, fs)
    valid = np.ones(peaks.size - 1, dtype=bool)
    starts, F = window_features(peaks, fs, clean, window_s=20, step_s=10, n_samples=x.size)
    s_ref, F_ref = _window_features_one_by_one(peaks, fs, clean, valid, 20, 10, x.size)
    np.testing.assert_array_equal(starts, s_ref)
    assert np.isnan(F[-1]).all()
    np.testing.assert_allclose(F, F_ref, rtol=1e-9, atol=1e-12, equal_nan=True)
