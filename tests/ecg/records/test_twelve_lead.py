"""12-lead analysis: rhythm-lead findings plus the multi-lead parts, on pydicom's 12-lead ECG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.twelve_lead import analyze_12lead, beat_morphology
from cardioclarity.errors import InvalidInputError

from ._records_synth import synth_ecg


@pytest.fixture(scope="module")
def dicom_record():
    from pydicom.data import get_testdata_file

    return read_record(Path(get_testdata_file("waveform_ecg.dcm")))


@pytest.fixture(scope="module")
def findings12(dicom_record):
    return analyze_12lead(dicom_record, detector=False)


def test_findings_name_the_leads_and_add_the_multilead_parts(findings12, dicom_record):
    d = findings12.to_dict()
    assert d["leads_used"] == dicom_record.leads and d["rhythm_lead"] == "II"
    assert d["lead"] == "II" and d["n_beats"] == len(d["beats"]) > 5
    ml = d["multilead"]
    assert ml["n_peaks"] == len(ml["peaks"]) and ml["rhythm_lead_beats_confirmed"] == 1.0
    assert 40 < ml["heart_rate_bpm"] < 120
    assert all(b["multilead_confirmed"] for b in d["beats"])
    for k in ("pr", "qrs", "qt", "qtc_bazett", "qtc_fridericia"):
        assert "value_ms" in d["intervals"][k]
    assert d["intervals"]["lead"] == "II" and "neurokit2" in d["intervals"]["method"]
    assert d["disclaimer"]


def test_single_lead_record_is_refused():
    from cardioclarity.ecg.records.record import Record

    x, _ = synth_ecg(duration=10)
    with pytest.raises(InvalidInputError, match="several leads"):
        analyze_12lead(Record(signal=x, fs=360, lead="II", leads=["II"], name="x"))


def test_an_ectopic_beat_differs_in_every_lead():
    fs = 360.0
    x, peaks = synth_ecg(fs=fs, duration=12, hr=60, seed=1)
    wide = x.copy()
    k = peaks[5]
    wide[k - 40:k + 100] = 1.5 * np.sin(np.linspace(0, 2 * np.pi, 140))  # a wide, odd complex
    sig = np.vstack([wide, 0.7 * wide, -0.5 * wide])
    m = beat_morphology(sig, fs, peaks, ["I", "II", "V1"])
    corr = np.array([c if c is not None else np.nan for c in m["beat_correlation"]])
    assert corr[5] < 0.8 and np.nanmin(np.delete(corr, 5)) > 0.9 and m["n_different"] == 1
