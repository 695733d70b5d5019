"""``/v1/xray/heart`` against the pipeline, over real films and DICOMs."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from cardioclarity import DISCLAIMER

from ..serve_samples import dicom_bytes
from .checks import require, same

SAMPLES = Path(str(resources.files("cardioclarity") / "samples"))


def _sample_film() -> bytes:
    films = sorted(SAMPLES.glob("cxr_*.png"))
    if not films:
        pytest.skip("no bundled sample chest film in this build")
    return films[0].read_bytes()


def test_xray_png_equals_the_pipeline(client):
    detector = require(client, "xray-heart")
    from cardioclarity.xray.io import read_xray

    data = _sample_film()
    r = client.post("/v1/xray/heart", files={"file": ("film.png", data)})
    assert r.status_code == 200, r.text
    same(r.json(), detector.detect(read_xray(data, name="film")).to_dict())
    body = r.json()
    assert len(body["heart_box"]) == 4 and body["disclaimer"] == DISCLAIMER


def test_xray_overlay_and_report(client):
    require(client, "xray-heart")
    data = _sample_film()
    png = client.post("/v1/xray/heart?format=png", content=data)
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    html = client.post("/v1/xray/heart?format=html", content=data)
    assert html.status_code == 200 and "Research use only" in html.text
    js = client.post("/v1/xray/heart?include_images=true", content=data).json()
    assert js["images"]["overlay"].startswith("data:image/png;base64,")


def test_real_dicom_leaves_patient_identifiers_out(client, shared_data):
    require(client, "xray-heart")
    r = client.post("/v1/xray/heart", content=(shared_data / "dicom" / "RG1_UNCR.dcm").read_bytes())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["image_size"] == [1841, 1955] or body["image_size"] == [1955, 1841]
    text = json.dumps(body).lower()
    for key in ("patientname", "patientid", "patientbirthdate", "patient_name"):
        assert key not in text


def test_truncated_dicom(client, shared_data):
    require(client, "xray-heart")
    data = (shared_data / "dicom" / "RG1_UNCR.dcm").read_bytes()
    for cut in (200, 5000, len(data) // 2):
        r = client.post("/v1/xray/heart", content=data[:cut])
        assert r.status_code == 422, (cut, r.text)
        assert r.json()["detail"]


def test_dicom_identifiers_never_reach_the_answer(client):
    require(client, "xray-heart")
    r = client.post("/v1/xray/heart?include_images=true", content=dicom_bytes(256))
    assert r.status_code in (200, 422), r.text  # a synthetic ramp may or may not hold a heart
    assert "DOE" not in r.text and "123456" not in r.text


def test_non_chest_input_is_422_not_a_chest_radiograph(client):
    require(client, "xray-heart")
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(2).random((240, 320)) * 255).astype(np.uint8)).save(buf, "PNG")
    for fmt in ("json", "png"):
        r = client.post(f"/v1/xray/heart?format={fmt}", content=buf.getvalue())
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["type"].endswith("not-a-chest-radiograph") and "not-a-chest-radiograph" in body["detail"]
        assert body["hint"] and body["disclaimer"] == DISCLAIMER


def test_chest_film_answer_carries_the_quality_verdict(client):
    require(client, "xray-heart")
    q = client.post("/v1/xray/heart", content=_sample_film()).json()["quality"]
    assert q["status"] == "measured" and q["reasons"] == [] and 0 <= q["score"] <= 1
