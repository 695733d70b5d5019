"""Record beat scoring: the patient-adaptive calibration keeps ectopy out of its template."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.ecg.records.analyze import patient_reference, preprocess
from cardioclarity.ecg.records.io import Record
from cardioclarity.ecg.records.scoring import RecordBeatModel
from cardioclarity.errors import InvalidInputError

# (offset from R in s, amplitude in mV, width in s)
_SINUS = ((-0.20, 0.15, 0.025), (-0.03, -0.10, 0.010), (0.0, 1.0, 0.012), (0.03, -0.25, 0.010),
          (0.25, 0.30, 0.050))
_VENTRICULAR = ((0.0, 1.4, 0.02), (0.05, -0.6, 0.025), (0.28, -0.4, 0.06))  # no P, broad, T inverted


def _ventricular_trigeminy(fs: float = 360.0, duration: float = 240.0) -> tuple[Record, np.ndarray]:
    """Two ventricular beats to every sinus one, all on time (the RR gives nothing away)."""
    rng = np.random.default_rng(3)
    n = int(duration * fs)
    t = np.arange(n) / fs
    x = 0.01 * rng.standard_normal(n)
    times = np.arange(0.6, duration - 0.6, 0.8)
    ventricular = np.arange(times.size) % 3 != 0
    for tr, v in zip(times, ventricular, strict=True):
        for off, amp, w in _VENTRICULAR if v else _SINUS:
            sl = slice(max(int((tr + off - 5 * w) * fs), 0), min(int((tr + off + 5 * w) * fs) + 1, n))
            x[sl] += amp * np.exp(-0.5 * ((t[sl] - tr - off) / w) ** 2)
    return Record(x, fs, "II", ["II"], "trigeminy"), ventricular


@pytest.fixture(scope="module")
def model():
    return RecordBeatModel.load()


def test_adaptive_calibration_on_sinus_beats_flags_dominant_ectopy(model):
    rec, ventricular = _ventricular_trigeminy()
    prep = preprocess(rec)
    assert prep.peaks.size == ventricular.size
    ref = patient_reference(prep, rec.fs)
    assert ref.method == "sinus_cluster" and not ref.sinus[ventricular].any()
    s = model.score(prep.clean, prep.peaks, rec.fs, rr_valid=prep.rr_valid, adaptive=True,
                    calibration_beats=ref.sinus)
    assert s.calibration["calibration_source"] == "calibration_beats"
    # the template and typical error come from sinus beats only (the ventricular ones are 2/3)
    assert 0 < s.calibration["n_dominant_beats"] <= ref.sinus.sum()
    v, ok = ventricular & s.valid, ~ventricular & s.valid
    assert np.mean(s.morphology[v] >= 1.0) > 0.95
    assert np.mean(s.morphology[ok] < 1.0) > 0.95


def test_calibration_beats_fall_back_and_are_checked(model):
    rec, ventricular = _ventricular_trigeminy(duration=60.0)
    prep = preprocess(rec)
    few = np.zeros(prep.peaks.size, dtype=bool)
    few[:5] = True  # too few to calibrate on: the beats that are not premature instead
    s = model.score(prep.clean, prep.peaks, rec.fs, adaptive=True, calibration_beats=few)
    assert s.calibration["calibration_source"] == "not_premature"
    with pytest.raises(InvalidInputError, match="one entry per beat"):
        model.score(prep.clean, prep.peaks, rec.fs, adaptive=True, calibration_beats=few[:-1])
