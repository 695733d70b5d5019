"""TID 1500 SR: what it says for a reported, a pixel-only and a refused film; validity."""

from __future__ import annotations

import io

import highdicom as hd
import pytest

from cardioclarity.hospital.sr import build_sr, sr_bytes, withheld_reasons

from .factory import dciodvfy_errors, film, header, result


def _read(data: bytes):
    sr = hd.sr.srread(io.BytesIO(data))
    roi = sr.content.get_planar_roi_measurement_groups()
    film_group = sr.content.get_image_measurement_groups()
    return sr, roi, film_group


def _comments(group) -> list[str]:
    return [str(i.TextValue) for i in group[0].ContentSequence if i.ValueType == "TEXT"]


def _concepts(ds) -> set[str]:
    """Every concept name code anywhere in the content tree."""
    out = set()
    for item in ds.get("ContentSequence", []):
        if "ConceptNameCodeSequence" in item:
            out.add(item.ConceptNameCodeSequence[0].CodeValue)
        out |= _concepts(item)
    return out


def test_reported_film_carries_ctr_widths_box_and_finding(tmp_path):
    ds = film()
    data = sr_bytes(header(ds), result(ctr=0.55))
    sr, roi, (whole,) = _read(data)
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    # Joined to the source study, new series, patient copied exactly.
    assert sr.StudyInstanceUID == ds.StudyInstanceUID and sr.SeriesInstanceUID != ds.SeriesInstanceUID
    assert (str(sr.PatientName), sr.PatientID, sr.PatientBirthDate) == ("Test^Film", "TEST-1", "19500101")
    ref = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert ref.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    (heart,) = roi
    ctr = [m for m in heart.get_measurements() if m.name.value == "CTR"]
    assert len(ctr) == 1 and ctr[0].value == pytest.approx(0.55)
    region = heart.roi
    assert region.GraphicType == "POLYLINE" and list(region.value[0]) == [60.0, 100.0]
    (finding,) = heart.get_qualitative_evaluations()
    assert finding.name.value == "287272002" and finding.value.value == "52101004"  # present
    diameters = whole.get_measurements()
    assert sorted(m.value for m in diameters) == [110.0, 200.0]
    assert {m.unit.value for m in diameters} == {"{pixels}"}  # no spacing: pixels, and said so
    text = " ".join(_comments(whole))
    assert "pixels" in text and "Research use only" in text
    assert dciodvfy_errors(data, tmp_path) == []


def test_millimetres_when_the_spacing_is_known():
    _, _, (whole,) = _read(sr_bytes(header(film(spacing=(0.5, 0.5))), result(mm=True)))
    assert sorted((m.value, m.unit.value) for m in whole.get_measurements()) == [(55.0, "mm"), (100.0, "mm")]


def test_refused_film_gets_an_sr_that_says_so_without_a_ctr(tmp_path):
    # The result a quality gate gives a refused film: no CTR, quality score and reasons.
    refused = result(ctr=None, ok=False, score=0.12, reasons=["film is rotated", "lungs cut off"])
    data = sr_bytes(header(film()), refused)
    _, roi, (whole,) = _read(data)
    assert roi == []  # no heart box, no CTR, no finding
    assert whole.get_measurements() == []
    (quality,) = whole.get_qualitative_evaluations()
    assert quality.name.value == "111101" and quality.value.value == "122742"  # poor
    text = " ".join(_comments(whole))
    assert "withheld" in text and "film is rotated" in text and "0.120" in text
    concepts = _concepts(hd.sr.srread(io.BytesIO(data)))
    assert not concepts & {"CTR", "287272002", "81827009"}  # no CTR, cardiomegaly, diameters
    assert "121106" in concepts  # the comments are there
    assert dciodvfy_errors(data, tmp_path) == []


def test_withheld_reasons():
    assert withheld_reasons(result()) == []
    assert "quality gate refused" in withheld_reasons(result(ok=False, notes=["implausible width"]))[0]
    assert withheld_reasons(result(ctr=None)) and withheld_reasons(result(ctr=1.7))
    # Keys a newer pipeline may add are read when present, absent ones are not required.
    assert "rotated" in withheld_reasons(result(ctr=None, ok=False, reasons=["rotated"]))[0]
    assert withheld_reasons({"ctr": 0.4, "heart_box": [0, 0, 1, 1]}) == []


def test_uids_are_a_function_of_the_source():
    a, b = header(film()), header(film())
    r = result()
    assert build_sr(a, r).SOPInstanceUID == build_sr(a, r).SOPInstanceUID
    assert build_sr(a, r).SOPInstanceUID != build_sr(b, r).SOPInstanceUID


@pytest.mark.filterwarnings("ignore:Invalid value for VR AS")
def test_invalid_optional_source_value_is_left_out_not_repaired(tmp_path):
    data = sr_bytes(header(film(PatientAge="62")), result())  # AS needs "062Y"
    sr = hd.sr.srread(io.BytesIO(data))
    assert "PatientAge" not in sr and sr.PatientID == "TEST-1"
    assert dciodvfy_errors(data, tmp_path) == []
