"""``POST /v1/xray/heart?format=dicom-sr|dicom-seg|dicom-sc``: DICOM results over HTTP."""

from __future__ import annotations

import io

import pydicom
import pytest

from tests.hospital.factory import film, film_bytes

from .checks import require


@pytest.mark.parametrize(("fmt", "sop_class"), [("dicom-sr", "1.2.840.10008.5.1.4.1.1.88.33"),
                                                ("dicom-sc", "1.2.840.10008.5.1.4.1.1.7")])
def test_dicom_results_join_the_uploaded_study(client, fmt, sop_class):
    require(client, "xray-heart")
    src = film()
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
