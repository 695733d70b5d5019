"""``/v1/ecg/records`` with hospital ECG files: a DICOM ECG is analysed on all its leads, a
DICOM image is sent to the X-ray route, bad XML gets a problem+json naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from .checks import problem, require


def _testdata(name: str) -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file(name)).read_bytes()


def test_dicom_ecg_is_analysed_on_every_lead(client):
    require(client, "ecg-records")
    r = client.post("/v1/ecg/records?include_images=true",
                    files=[("file", ("ecg.dcm", _testdata("waveform_ecg.dcm")))])
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["leads_used"][:2] == ["I", "II"] and d["lead"] == "II" and d["sampling_rate"] == 1000
    assert d["intervals"]["qtc_bazett"] and d["multilead"]["n_peaks"] > 5
    assert d["images"]["ecg12"].startswith("data:image/png;base64,")


def test_dicom_image_points_to_the_xray_route(client):
    r = client.post("/v1/ecg/records", files=[("file", ("ct.dcm", _testdata("CT_small.dcm")))])
    body = problem(r, 415, "DICOM image", "not an ECG waveform", "/v1/xray/heart")
    assert body["type"].endswith("dicom-not-waveform")


def test_dicom_ecg_sent_to_xray_points_back(client):
    r = client.post("/v1/xray/heart", files=[("file", ("ecg.dcm", _testdata("waveform_ecg.dcm")))])
    problem(r, 415, "DICOM ECG waveform", "/v1/ecg/records")


@pytest.mark.parametrize(("body", "words"), [
    ("bomb", ("DTD or entities",)), ("no-rhythm", ("no rhythm sequence", "RHYTHM")),
])
def test_bad_xml_is_a_4xx_problem(client, body, words):
    require(client, "ecg-records")
    from tests.ecg.records._formats_synth import XML_BOMB, aecg_xml

    data = XML_BOMB if body == "bomb" else aecg_xml(series_code="REPRESENTATIVE_BEAT")
    r = client.post("/v1/ecg/records", content=data, headers={"content-type": "application/xml"})
    problem(r, 422, *words)
