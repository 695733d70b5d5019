"""Multi-lead R-peak fusion: a beat missed or invented in one lead is settled by the others."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.ecg.records.multilead import ecg_leads, fuse_peaks, multilead_peaks
from cardioclarity.errors import InvalidInputError

from ._records_synth import synth_ecg


def _score(det, ref, fs):
    hit = np.abs(det[:, None] - ref[None, :]).min(axis=0) <= 0.15 * fs
    fp = (np.abs(det[:, None] - ref[None, :]).min(axis=1) > 0.15 * fs).sum()
    return int(hit.sum()), int(fp)


def test_votes_settle_a_missed_and_an_invented_beat():
    fs, n = 250.0, 2500
    true = np.arange(100, 2500, 200)
    ok = [np.ones(n, dtype=bool)] * 3
    lead_a = np.delete(true, 4)                     # misses beat 4
    lead_b = np.sort(np.r_[true, 1010]) + 3         # invents a beat, a little late
    lead_c = true - 2
    peaks, votes, elig = fuse_peaks([lead_a, lead_b, lead_c], ok, fs, reference=0)
    assert np.array_equal(np.sort(peaks), peaks) and peaks.size == true.size
    assert np.abs(peaks - true).max() <= 3
    assert peaks[0] == true[0] and peaks[4] in (true[4] + 3, true[4] - 2, true[4])  # not lead A's
    assert votes[4] == 2 and (elig == 3).all()


def test_a_lone_detection_fills_only_a_gap_in_the_rhythm():
    fs, n = 250.0, 3000
    true = np.arange(100, 3000, 200)
    ok = [np.ones(n, dtype=bool)] * 2
    a = np.delete(true, 6)                       # both leads: one misses beat 6 ...
    b = np.sort(np.r_[np.delete(true, 9), 1550])  # ... the other beat 9, and adds noise
    peaks, _, _ = fuse_peaks([a, b], ok, fs)
    assert np.array_equal(np.sort(peaks), true)  # both misses filled, the noise left out


def test_an_unusable_lead_does_not_vote():
    fs, n = 250.0, 2500
    true = np.arange(100, 2500, 200)
    bad = np.zeros(n, dtype=bool)
    peaks, _, elig = fuse_peaks([true, np.arange(50, 2500, 37)], [np.ones(n, bool), bad], fs)
    assert np.array_equal(peaks, true) and (elig == 1).all()


def test_fusion_beats_a_noisy_lead_on_synthetic_ecg():
    fs = 360.0
    x, ref = synth_ecg(fs=fs, duration=60, hr=72, seed=3)
    rng = np.random.default_rng(0)
    noisy = x.copy()
    noisy[5000:12000] += 1.5 * np.sin(np.arange(7000) / 3.0) * rng.random(7000)  # artefact burst
    sig = np.vstack([noisy, 0.8 * x + 0.01 * rng.standard_normal(x.size), 0.6 * x])
    fused = multilead_peaks(sig, fs, ["II", "V1", "V5"], reference="II")
    tp, fp = _score(fused.peaks, ref, fs)
    assert tp >= ref.size - 1 and fp == 0
    assert fused.leads == ["II", "V1", "V5"] and set(fused.per_lead) == {"II", "V1", "V5"}
    assert fused.to_dict()["n_peaks"] == fused.peaks.size


def test_non_ecg_channels_are_left_out():
    assert ecg_leads(["PLETH", "II", "ABP", "V"]) == [1, 3]
    with pytest.raises(InvalidInputError, match="No ECG lead"):
        multilead_peaks(np.zeros((1, 1000)), 250, ["ABP"])
    with pytest.raises(InvalidInputError, match="min_agreement"):
        fuse_peaks([np.array([1])], [np.ones(10, bool)], 250, min_agreement=0)
