"""VT runs from beat classes; VF from the signal, never from noise."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.processing import ecg_clean
from cardioclarity.ecg.records.ventricular import (
    VFDetector,
    vf_episodes,
    vf_window_features,
    vt_episodes,
)

from ._records_synth import synth_ecg


def test_vt_needs_three_v_beats_above_100_bpm():
    fs = 250.0
    peaks = np.arange(0, 40) * 200  # 75 bpm
    cls = np.array(["N"] * 40)
    cls[5:7] = "V"  # couplet: no VT
    cls[20:24] = "V"  # four V at 75 bpm: no VT
    fast = peaks.copy()
    fast[31:] = fast[30] + np.arange(1, 10) * 100  # 150 bpm from beat 30 on
    cls2 = cls.copy()
    cls2[30:34] = "V"
    assert vt_episodes(peaks, fs, cls) == []
    (ep,) = vt_episodes(fast, fs, cls2)
    assert ep["type"] == "ventricular_tachycardia" and ep["n_beats"] == 4
    assert ep["rate_bpm"] == pytest.approx(150.0) and ep["start_s"] == pytest.approx(fast[30] / fs)


def _vf_calls(x, fs):
    det = VFDetector.load()
    starts, F = vf_window_features(ecg_clean(x, fs), fs)
    return vf_episodes(starts, det.predict_proba(F), det.threshold_)


def test_vf_found_in_a_fibrillating_stretch_not_in_sinus_or_noise():
    fs = 250.0
    x, _ = synth_ecg(fs=fs, duration=60, hr=70, seed=2)
    rng = np.random.default_rng(3)
    t = np.arange(int(20 * fs)) / fs
    # coarse VF: a 5-Hz oscillation with drifting amplitude and frequency
    phase = 2 * np.pi * np.cumsum(5 + 0.5 * np.sin(2 * np.pi * 0.3 * t)) / fs
    vf = (0.6 + 0.2 * np.sin(2 * np.pi * 0.2 * t)) * np.sin(phase)
    y = x.copy()
    y[int(30 * fs):int(50 * fs)] = vf + 0.02 * rng.standard_normal(t.size)
    calls = _vf_calls(y, fs)
    assert calls and calls[0]["start_s"] <= 34 and calls[0]["end_s"] >= 46
    assert _vf_calls(x, fs) == []
    assert _vf_calls(x + 0.3 * rng.standard_normal(x.size), fs) == []  # muscle-like noise


@pytest.mark.shared_data
def test_vf_on_cudb_and_not_on_real_noise(shared_data):
    rec = read_record(shared_data / "cudb" / "cu01")
    calls = _vf_calls(rec.signal, rec.fs)
    assert any(c["start_s"] < 230 and c["end_s"] > 400 for c in calls)  # reference VF 214-509 s
    for name in ("bw", "em", "ma"):
        noise = read_record(shared_data / "nstdb" / name, lead=0)
        assert _vf_calls(noise.signal[: int(300 * noise.fs)], noise.fs) == [], name


def _run_record(fs=250.0):
    """Sinus at 75 bpm with a 6-beat run of wide beats at 150 bpm from beat 30."""
    from ._records_synth import synth_ecg

    x, peaks = synth_ecg(fs=fs, duration=40, hr=75, noise=0.01, seed=1)
    peaks = peaks[:30]
    t = np.arange(x.size) / fs
    run = peaks[-1] + np.arange(1, 7) * int(0.4 * fs)
    for p in run:  # a wide, tall, biphasic complex unlike the sinus QRS
        x += 1.5 * np.exp(-0.5 * ((t - p / fs) / 0.03) ** 2) \
            - 1.2 * np.exp(-0.5 * ((t - p / fs - 0.07) / 0.03) ** 2)
    peaks = np.r_[peaks, run]
    return ecg_clean(x, fs), peaks, fs


def test_run_takes_in_beats_shaped_like_its_v_beats():
    from cardioclarity.ecg.records.ventricular import extend_ventricular_runs

    clean, peaks, fs = _run_record()
    cls = np.array(["N"] * peaks.size)
    cls[[30, 32, 34]] = "V"  # the classifier called every other beat of the run N or S
    cls[31], cls[33], cls[35] = "N", "S", "N"
    assert vt_episodes(peaks, fs, cls) == []
    v = extend_ventricular_runs(clean, peaks, fs, cls)
    assert v[30:].all() and not v[:30].any()  # the sinus beat before the run stays N
    (ep,) = vt_episodes(peaks, fs, cls, clean=clean)
    assert ep["n_beats"] == 6 and ep["n_joined"] == 3
    assert ep["rate_bpm"] == pytest.approx(150.0, rel=0.01)
    # no V beat: nothing to extend; sinus beats alone never make a run
    assert not extend_ventricular_runs(clean, peaks, fs, np.array(["N"] * peaks.size)).any()
