"""Record helpers: standard lead names, voltage units, multi-lead records."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.ecg.records.record import (
    STANDARD_12,
    multilead_record,
    standard_lead_name,
    to_millivolts,
)
from cardioclarity.errors import InvalidInputError


@pytest.mark.parametrize(("raw", "name"), [
    ("MDC_ECG_LEAD_AVR", "aVR"), ("Lead I (Einthoven)", "I"), ("Lead II", "II"), ("avf", "aVF"),
    ("v1", "V1"), (" III ", "III"), ("MLII", "MLII"), ("vx", "vx"), ("MDC_ECG_LEAD_V7", "V7"),
])
def test_standard_lead_names(raw, name):
    assert standard_lead_name(raw) == name


def test_voltage_units():
    assert to_millivolts("uV", "x") == 1e-3 and to_millivolts("mV", "x") == 1.0
    assert to_millivolts("V", "x") == 1e3
    with pytest.raises(InvalidInputError, match="field F gives the unit 'mmHg'"):
        to_millivolts("mmHg", "field F")


def test_multilead_record_chooses_lead_ii_and_switches():
    x = np.vstack([np.sin(np.arange(2000) / 10 + k) for k in range(12)])
    rec = multilead_record(x, 250, list(STANDARD_12), lead=None, name="r", source="s")
    assert rec.lead == "II" and np.array_equal(rec.signal, x[1])
    v5 = rec.with_lead("v5")
    assert v5.lead == "V5" and np.array_equal(v5.signal, x[10]) and v5.signals is rec.signals
    assert np.array_equal(rec.lead_signal("aVL"), x[4])


def test_multilead_record_refuses_duplicates_and_mismatches():
    x = np.zeros((2, 2000)) + np.arange(2000)
    with pytest.raises(InvalidInputError, match="names lead"):
        multilead_record(x, 250, ["I", "I"], lead=None, name="r", source="s")
    with pytest.raises(InvalidInputError, match="1 lead name"):
        multilead_record(x, 250, ["I"], lead=None, name="r", source="s")
    with pytest.raises(InvalidInputError):
        multilead_record(x, 50, ["I", "II"], lead=None, name="r", source="s")
