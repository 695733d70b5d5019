"""``POST /v1/xray/heart?format=dicom-sr|dicom-seg|dicom-sc``: DICOM results over HTTP."""

from __future__ import annotations

import io

import pydicom
import pytest

from tests.hospital.factory import chest_pixels, film, film_bytes

from .checks import require


@pytest.mark.parametrize(("fmt", "sop_class"), [("dicom-sr", "1.2.840.10008.5.1.4.1.1.88.33"),
                                                ("dicom-sc", "1.2.840.10008.5.1.4.1.1.7")])
def test_dicom_results_join_the_uploaded_study(client, fmt, sop_class):
    require(client, "xray-heart")
    src = film(pixels=chest_pixels())
    r = client.post(f"/v1/xray/heart?format={fmt}", content=film_bytes(src))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/dicom"
    assert r.headers["content-disposition"].endswith(f'_{fmt[6:]}.dcm"')
    ds = pydicom.dcmread(io.BytesIO(r.content))
    assert ds.SOPClassUID == sop_class and ds.StudyInstanceUID == src.StudyInstanceUID


def test_dicom_format_of_a_png_is_refused(client):
    require(client, "xray-heart")
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (128, 128), 90).save(buf, format="PNG")
    r = client.post("/v1/xray/heart?format=dicom-seg", content=buf.getvalue())
    assert r.status_code == 415 and r.headers["content-type"].startswith("application/problem+json")
    assert "needs a DICOM upload" in r.json()["detail"]


def test_a_refused_film_gets_its_sr_but_no_other_object(client):
    """The synthetic pattern is no chest film: its SR records the refusal, other formats are 422."""
    require(client, "xray-heart")
    data = film_bytes(film())
    r = client.post("/v1/xray/heart?format=dicom-sr", content=data)
    assert r.status_code == 200, r.text
    ds = pydicom.dcmread(io.BytesIO(r.content))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"
    names = {item.ConceptNameCodeSequence[0].CodeMeaning for item in _content_items(ds)}
    assert not any("ratio" in name.lower() for name in names)
    r = client.post("/v1/xray/heart?format=dicom-sc", content=data)
    assert r.status_code == 422 and r.json()["type"].endswith("not-a-chest-radiograph")


def _content_items(ds):
    """Every content item of an SR, depth first."""
    for item in getattr(ds, "ContentSequence", []):
        yield item
        yield from _content_items(item)
