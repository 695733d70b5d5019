"""DICOM ECG waveforms: samples, names and units against pydicom's own decoding; every field the
reader depends on, when wrong, is named in the error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cardioclarity.ecg.records.dicom_waveform import read_dicom_waveform
from cardioclarity.ecg.records.io import read_record
from cardioclarity.errors import InvalidInputError, UnsupportedFormatError

from ._formats_synth import edit_dicom


@pytest.fixture(scope="module")
def ecg_dcm() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("waveform_ecg.dcm")).read_bytes()


def _independent(data: bytes, group: int = 0):
    """(fs, labels, units, samples in mV) read with pydicom alone."""
    import io

    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    g = ds.WaveformSequence[group]
    labels = [c.ChannelSourceSequence[0].CodeMeaning for c in g.ChannelDefinitionSequence]
    units = {c.ChannelSensitivityUnitsSequence[0].CodeValue for c in g.ChannelDefinitionSequence}
    arr = ds.waveform_array(group).T  # pydicom applies sensitivity, correction and baseline
    scale = {"uV": 1e-3, "mV": 1.0}[units.pop()]
    return float(g.SamplingFrequency), labels, arr * scale


def _check_against_pydicom(rec, data: bytes) -> None:
    fs, labels, mv = _independent(data)
    assert rec.fs == fs
    assert len(rec.leads) == len(labels)
    assert rec.leads[:3] == ["I", "II", "III"] and labels[0].startswith("Lead I")
    assert rec.units == "mV"
    np.testing.assert_allclose(rec.signals, mv, atol=1e-9)
    assert rec.lead == "II"
    np.testing.assert_allclose(rec.signal, mv[labels.index("Lead II")])


def test_pydicom_test_file_reads_as_twelve_leads(ecg_dcm):
    rec = read_record({"ecg.dcm": ecg_dcm})
    _check_against_pydicom(rec, ecg_dcm)
    assert rec.leads == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    assert rec.meta["multiplex_group_label"] == "RHYTHM" and rec.meta["format"] == "dicom-waveform"


@pytest.mark.shared_data
def test_shared_sample_against_pydicom(shared_data):
    path = shared_data / "ecg_formats" / "dicom_ecg" / "pydicom_waveform_ecg.dcm"
    rec = read_record(path)
    _check_against_pydicom(rec, path.read_bytes())
    assert rec.signals.shape == (12, 10000) and rec.fs == 1000
    assert 0.2 < np.ptp(rec.signal) < 5  # a real lead II in mV, not uV


def test_lead_option_picks_another_lead(ecg_dcm):
    rec = read_record(ecg_dcm, lead="v2")
    assert rec.lead == "V2"
    np.testing.assert_array_equal(rec.signal, rec.signals[7])


def _channels(ds):
    return ds.WaveformSequence[0].ChannelDefinitionSequence


@pytest.mark.parametrize(("edit", "words", "exc"), [
    (lambda ds: setattr(_channels(ds)[1], "ChannelSensitivity", "0"),
     ("channel 2", "ChannelSensitivity is 0"), InvalidInputError),
    (lambda ds: setattr(_channels(ds)[0].ChannelSensitivityUnitsSequence[0], "CodeValue", "mmHg"),
     ("channel 1", "ChannelSensitivityUnitsSequence", "mmHg"), InvalidInputError),
    (lambda ds: (delattr(_channels(ds)[3], "ChannelSourceSequence")),
     ("channel 4", "no channel label", "ChannelLabel"), InvalidInputError),
    (lambda ds: setattr(ds.WaveformSequence[0], "WaveformSampleInterpretation", "MB"),
     ("multiplex group 1", "WaveformSampleInterpretation MB"), UnsupportedFormatError),
    (lambda ds: setattr(ds.WaveformSequence[0], "WaveformData",
                        ds.WaveformSequence[0].WaveformData[:1000]),
     ("WaveformData has 1000 bytes",), InvalidInputError),
])
def test_bad_fields_are_named(ecg_dcm, edit, words, exc):
    bad = edit_dicom(ecg_dcm, edit)
    with pytest.raises(exc) as e:
        read_dicom_waveform(bad, "'bad.dcm'", "bad", None)
    for w in words:
        assert w in str(e.value)


def test_dicom_image_points_to_the_xray_route():
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    with pytest.raises(UnsupportedFormatError) as e:
        read_record({"ct.dcm": data})
    assert "an image" in str(e.value) and "/v1/xray/heart" in str(e.value)
    assert e.value.kind == "dicom-not-waveform"


def test_rate_disagreeing_with_fs_is_refused(ecg_dcm):
    with pytest.raises(InvalidInputError, match="disagrees"):
        read_record(ecg_dcm, fs=500)
