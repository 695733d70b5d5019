"""Intervals: plausible values on a synthetic ECG of known wave timing, withheld on noise, and
(real data) close to the aECG example's annotated intervals."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.ecg.records.intervals import DELINEATION_METHODS, measure_intervals
from cardioclarity.errors import InvalidInputError

from ._records_synth import synth_ecg


@pytest.fixture(scope="module")
def beat():
    # P centred 200 ms before R, Q 30 ms before, T centred 250 ms after (widths 25/10/50 ms):
    # PR about 200 ms, QRS about 70-90 ms, QT about 400 ms, RR 1000 ms.
    return synth_ecg(fs=500, duration=10, hr=60)


def test_synthetic_intervals_and_qtc(beat):
    x, peaks = beat
    iv = measure_intervals(x, 500, peaks, method="peak")
    assert 150 <= iv["pr"]["value_ms"] <= 250
    assert 40 <= iv["qrs"]["value_ms"] <= 140
    assert 330 <= iv["qt"]["value_ms"] <= 470
    assert iv["rr"]["value_ms"] == 1000
    # RR = 1 s: both corrections leave QT unchanged.
    assert iv["qtc_bazett"]["value_ms"] == iv["qtc_fridericia"]["value_ms"] == iv["qt"]["value_ms"]
    assert "peak" in iv["method"]


def test_qtc_formulas(beat):
    x, _ = synth_ecg(fs=500, duration=10, hr=90)
    iv = measure_intervals(x, 500, method="peak")
    qt, rr = iv["qt"]["value_ms"], iv["rr"]["value_ms"] / 1000
    assert iv["qtc_bazett"]["value_ms"] == pytest.approx(qt / rr ** 0.5, abs=0.1)
    assert iv["qtc_fridericia"]["value_ms"] == pytest.approx(qt / rr ** (1 / 3), abs=0.1)


def test_noise_is_withheld_with_a_reason():
    x = np.random.default_rng(0).standard_normal(5000)
    iv = measure_intervals(x, 500, np.arange(250, 5000, 500), method="dwt")
    for k in ("pr", "qrs", "qt", "qtc_bazett", "qtc_fridericia"):
        assert iv[k]["value_ms"] is None and iv[k]["withheld"]


def test_unknown_method_lists_the_valid_ones(beat):
    with pytest.raises(InvalidInputError, match=", ".join(DELINEATION_METHODS)):
        measure_intervals(beat[0], 500, method="magic")


@pytest.mark.shared_data
def test_aecg_example_against_its_annotations(shared_data):
    from cardioclarity.ecg.records.io import read_record
    from cardioclarity.ecg.records.twelve_lead import DEFAULT_INTERVAL_METHOD

    rec = read_record(shared_data / "ecg_formats" / "hl7_aecg" / "HL7_2003-12_Example_aECG.xml")
    ref = rec.meta["reference_intervals"][0]  # PR 148, QRS 120, QT 420 ms
    iv = measure_intervals(rec.signal, rec.fs, method=DEFAULT_INTERVAL_METHOD)
    # One record: a coarse check (BENCHMARKS.md ecg-multilead has the errors on 5 records).
    assert abs(iv["pr"]["value_ms"] - ref["pr_ms"]) <= 40
    if iv["qt"]["value_ms"] is not None:
        assert abs(iv["qt"]["value_ms"] - ref["qt_ms"]) <= 60
