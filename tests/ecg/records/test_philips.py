"""Philips Sierra XML: XLI decoding checked against an independent encoder, the real files'
rate, labels and resolution against ElementTree, and bad documents named by field."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.philips import lzw_decode, read_philips
from cardioclarity.errors import InvalidInputError, UnsupportedFormatError

from ._formats_synth import lzw_encode, sierra_xml, synthetic_leads

NS = {"p": "http://www3.medical.philips.com"}
SAMPLES = ["129DYPRG.XML", "2020-5-18_15-48-11.xml", "3191723_ZZDEMOPTONLY_1-04_orig.xml",
           "ad4d3d80-d165_1-04_orig.xml"]


def test_lzw_round_trip():
    rng = np.random.default_rng(1)
    data = bytes(rng.integers(0, 6, 20000, dtype=np.uint8)) + bytes(range(256)) * 3
    assert lzw_decode(lzw_encode(data)) == data  # the dictionary fills up (1023 codes)


@pytest.mark.parametrize("compress", [True, False], ids=["xli", "plain-base64"])
def test_synthetic_file_round_trip(compress):
    x = synthetic_leads(n=5000, fs=500.0)
    rec = read_record({"ecg.xml": sierra_xml(x, compress=compress)})
    assert rec.fs == 500 and rec.leads == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3",
                                           "V4", "V5", "V6"]
    assert rec.meta["compression"] == ("XLI" if compress else "None")
    np.testing.assert_allclose(rec.signals, np.round(x * 200) / 200, atol=1e-9)  # 5 uV units


def test_calibration_pulse_is_cut():
    x = synthetic_leads(n=5000, fs=500.0)
    rec = read_philips(sierra_xml(x, extra_s=1.0), "s", "s", None)
    assert rec.signals.shape == (12, 5000) and rec.meta["calibration_pulse_removed_s"] == 1.0


def _independent(path):
    """(fs, lead labels, uV per unit) read with ElementTree."""
    root = ET.parse(path).getroot()
    sc = root.find("p:dataacquisition/p:signalcharacteristics", NS)
    wf = root.find("p:waveforms/p:parsedwaveforms", NS)
    fs = float(sc.find("p:samplingrate", NS).text)
    labels = (wf.get("leadlabels") or "I II III aVR aVL aVF V1 V2 V3 V4 V5 V6").split()
    res = float(wf.get("resolution") or sc.find("p:signalresolution", NS).text)
    return fs, labels, res


@pytest.mark.shared_data
@pytest.mark.parametrize("fname", SAMPLES)
def test_shared_samples(shared_data, fname):
    path = shared_data / "ecg_formats" / "philips_sierra_xml" / fname
    rec = read_record(path)
    fs, labels, res = _independent(path)
    assert rec.fs == fs and rec.leads == labels and rec.units == "mV"
    s = rec.signals
    assert s.shape == (12, int(10 * fs))
    # Values are integer multiples of the resolution, and the reconstituted limb leads obey
    # Einthoven's and Goldberger's laws to within two units (the cart's integer halving).
    units = s * 1000 / res
    np.testing.assert_allclose(units, np.round(units), atol=1e-6)
    tol = 2 * res / 1000 + 1e-9
    assert np.abs(s[2] - (s[1] - s[0])).max() <= tol
    assert np.abs(s[3] + (s[0] + s[1]) / 2).max() <= tol
    assert 0.3 < np.ptp(rec.signal) < 6  # lead II of a real ECG, in mV
    dm = rec.meta["device_measurements"]
    assert 30 < dm["heart_rate_bpm"] < 200 and 50 < dm["qrs_ms"] < 200


def test_zero_resolution_is_named():
    data = sierra_xml().replace(b'resolution="5"', b'resolution="0"').replace(
        b"<signalresolution>5<", b"<signalresolution>0<")
    with pytest.raises(InvalidInputError, match="signalresolution"):
        read_record({"x.xml": data})


def test_unknown_compression_is_named():
    data = sierra_xml().replace(b'compression="XLI"', b'compression="ZIP"')
    with pytest.raises(UnsupportedFormatError, match="compression 'ZIP'"):
        read_record({"x.xml": data})


def test_truncated_xli_is_refused():
    data = sierra_xml()
    start = data.index(b'signaloffset="0">') + len(b'signaloffset="0">')
    cut = data[:start + 4000] + data[data.index(b"</parsedwaveforms>"):]
    with pytest.raises(InvalidInputError, match="XLI"):
        read_record({"x.xml": cut})
