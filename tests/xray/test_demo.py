"""The X-ray step of `cardioclarity demo` runs offline on the bundled film and weights."""

from __future__ import annotations

import json

from cardioclarity import DISCLAIMER
from cardioclarity.xray.demo import run_demo, sample_path


def test_sample_is_bundled_and_credited():
    assert sample_path().is_file()
    credits = (sample_path().parent / "README.md").read_text()
    assert sample_path().name in credits and "NIH" in credits


def test_run_demo_writes_report_json_and_images(tmp_path):
    res = run_demo(tmp_path)
    assert res["report"].exists() and {"title", "summary"} <= set(res)
    html = res["report"].read_text()
    assert DISCLAIMER in html.replace("&#x27;", "'") and html.count("data:image/png;base64,") >= 2
    doc = json.loads((tmp_path / "cxr_nih_00000001_000.json").read_text())
    assert doc["ctr"] == res["result"]["ctr"] and str(round(doc["ctr"], 3)) in res["summary"]
    assert (tmp_path / "cxr_nih_00000001_000_overlay.png").stat().st_size > 10_000
    assert (tmp_path / "cxr_nih_00000001_000_gradcam.png").stat().st_size > 10_000
