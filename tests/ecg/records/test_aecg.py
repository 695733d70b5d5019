"""HL7 aECG: rate, lead names, units and amplitudes against ElementTree reading the same file;
reference annotations; bad documents named by the field they break."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from cardioclarity.ecg.records.aecg import read_aecg
from cardioclarity.ecg.records.io import read_record
from cardioclarity.errors import InvalidInputError, UnsupportedFormatError

from ._formats_synth import XML_BOMB, aecg_xml, synthetic_leads

NS = {"h": "urn:hl7-org:v3"}
_MDC = {"AVR": "aVR", "AVL": "aVL", "AVF": "aVF"}


def _independent(path):
    """(fs, lead names, {lead: samples in mV}) of the RHYTHM series, read with ElementTree."""
    root = ET.parse(path).getroot()
    series = next(s for s in root.iterfind("h:component/h:series", NS)
                  if s.find("h:code", NS).get("code") == "RHYTHM")
    fs, out = None, {}
    for seq in series.iterfind("h:component/h:sequenceSet/h:component/h:sequence", NS):
        code = seq.find("h:code", NS).get("code")
        val = seq.find("h:value", NS)
        if code.startswith("TIME_"):
            inc = val.find("h:increment", NS)
            fs = 1 / (float(inc.get("value")) * {"s": 1, "ms": 1e-3}[inc.get("unit")])
        elif code.startswith("MDC_ECG_LEAD_"):
            o, s = val.find("h:origin", NS), val.find("h:scale", NS)
            assert o.get("unit") == s.get("unit") == "uV"
            digits = np.array(val.find("h:digits", NS).text.split(), dtype=float)
            name = code.removeprefix("MDC_ECG_LEAD_")
            out[_MDC.get(name, name)] = (float(o.get("value")) + float(s.get("value")) * digits) / 1000
    return fs, list(out), out


@pytest.mark.shared_data
@pytest.mark.parametrize("fname", ["HL7_2003-12_Example_aECG.xml", "LIRYC_hl7aecg_example.xml"])
def test_shared_samples_against_elementtree(shared_data, fname):
    path = shared_data / "ecg_formats" / "hl7_aecg" / fname
    rec = read_record(path)
    fs, names, mv = _independent(path)
    assert rec.fs == pytest.approx(fs) and rec.leads == names and len(names) == 12
    assert rec.units == "mV" and rec.lead == "II"
    for k, name in enumerate(names):
        np.testing.assert_allclose(rec.signals[k], mv[name], atol=1e-12)


@pytest.mark.shared_data
def test_example_reference_fiducials(shared_data):
    rec = read_record(shared_data / "ecg_formats" / "hl7_aecg" / "HL7_2003-12_Example_aECG.xml")
    fid = [b for b in rec.meta["reference_fiducials"] if "lead" not in b]
    # First beat of the example: P 09:10:00.122-.224, QRS .270-.390, T offset .690 (500 Hz).
    assert fid[0] == {"p_on": 61, "p_off": 112, "qrs_on": 135, "qrs_off": 195, "t_off": 345}
    assert rec.meta["reference_intervals"][0]["pr_ms"] == 148.0
    assert (fid[0]["qrs_off"] - fid[0]["qrs_on"]) * 2 == rec.meta["reference_intervals"][0]["qrs_ms"]


def test_synthetic_round_trip():
    x = synthetic_leads()
    rec = read_record({"a.xml": aecg_xml(x)})
    assert rec.fs == 250 and rec.leads[6] == "V1" and rec.leads[3] == "aVR"
    np.testing.assert_allclose(rec.signals, np.round(x * 200) / 200, atol=1e-9)


def test_millivolt_units_are_scaled():
    x = synthetic_leads()
    rec = read_aecg(aecg_xml(x, scale_uv=0.005, unit="mV"), "a", "a", None)
    np.testing.assert_allclose(rec.signal, np.round(x[1] / 0.005) * 0.005, atol=1e-9)


@pytest.mark.parametrize(("data", "words", "kind"), ids=[
    "no-rhythm", "units", "no-time", "truncated", "bomb", "external-entity"], argvalues=[
    (aecg_xml(series_code="REPRESENTATIVE_BEAT"), ("no rhythm sequence", "RHYTHM",
                                                   "REPRESENTATIVE_BEAT"), "no-rhythm-sequence"),
    (aecg_xml(unit="mmHg"), ("MDC_ECG_LEAD_I", "mmHg", "not a voltage"), None),
    (aecg_xml(with_time=False), ("no time sequence", "sampling rate is unknown"), None),
    (aecg_xml()[:5000], ("not well-formed XML", "line"), None),
    (XML_BOMB, ("DTD or entities",), "xml-entities"),
    (aecg_xml(doctype='<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'),
     ("DTD or entities",), "xml-entities"),
])
def test_bad_documents_name_the_field(data, words, kind):
    with pytest.raises(InvalidInputError) as e:
        read_record({"bad.xml": data})
    for w in words:
        assert w in str(e.value)
    if kind:
        assert e.value.kind == kind


def test_other_xml_is_not_an_ecg():
    with pytest.raises(UnsupportedFormatError, match="XML document"):
        read_record({"x.xml": b"<?xml version='1.0'?><note><to>x</to></note>"})
