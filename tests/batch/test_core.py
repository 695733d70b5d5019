"""The unit of work: identical to the single-file CLI, errors as rows, defensive summaries."""

from __future__ import annotations

import json

import pytest

from cardioclarity.batch.core import BatchSpec, run_item, spec_key, summarise
from cardioclarity.cli import main
from cardioclarity.ecg.records.methods import DEFAULT_PEAK_METHOD

from .conftest import SAMPLES, WFDB_SAMPLE, film_png


def test_xray_row_is_the_single_file_cli_result(tmp_path, films):
    # A measured film (the bundled NIH sample) and a refused one (the crude synthetic film, which
    # the input gate rightly takes for no chest radiograph: the CLI exits 65 but writes its JSON).
    real = tmp_path / "nih.png"
    real.write_bytes((SAMPLES / "cxr_nih_00000001_000.png").read_bytes())
    for path, code in ((real, 0), (films / "sub/f000.png", 65)):
        assert main(["xray", "detect", str(path), "--out", str(tmp_path / "cli"),
                     "--no-overlay"]) == code
        row = run_item(BatchSpec("xray"), path.name, {path.name: path.read_bytes()})
        assert row["ok"] and row["exit_code"] == 0 and row["error"] is None
        doc = json.loads(row["document"])
        assert doc == json.loads((tmp_path / "cli" / f"{path.stem}.json").read_text())
        assert row["summary"]["ctr"] == doc["ctr"]
        assert row["summary"]["quality_status"] == doc["quality"]["status"]
        assert row["model_name"] == "cxr-heart-seg" and row["model_version"]
        assert row["worker"].rsplit(":", 1)[1].isdigit() and row["elapsed_s"] >= 0
    assert row["summary"]["ctr"] is None and row["summary"]["quality_status"] == "refused"


def test_ecg_row_is_the_single_file_cli_result(tmp_path):
    assert main(["ecg", "analyze", str(SAMPLES / "mitdb219_5m.hea"), "--out",
                 str(tmp_path / "cli"), "--no-report"]) == 0
    files = {f: (SAMPLES / f).read_bytes() for f in WFDB_SAMPLE}
    row = run_item(BatchSpec("ecg"), "mitdb219_5m.hea", files)
    assert row["ok"], row["error"]
    assert json.loads(row["document"]) == json.loads((tmp_path / "cli" / "findings.json").read_text())
    s = row["summary"]
    assert s["record"] == "mitdb219_5m" and s["n_beats"] > 300 and s["duration_s"] == 300.0
    assert row["model_name"] == "mitdb-conv1d+rhythm-cinc2017"


@pytest.mark.parametrize("data, kind, code", [
    (b"not an image", "UnsupportedFormatError", 65),
    (film_png(1)[:300], "InvalidInputError", 65),
])
def test_a_bad_film_is_an_error_row(data, kind, code):
    row = run_item(BatchSpec("xray"), "bad.png", {"bad.png": data})
    assert not row["ok"] and row["error_kind"] == kind and row["exit_code"] == code
    assert row["error"].startswith("bad.png") and row["document"] is None and row["summary"] == {}


def test_a_wfdb_header_without_its_data_is_an_error_row():
    hea = (SAMPLES / "mitdb219_5m.hea").read_bytes()
    row = run_item(BatchSpec("ecg"), "mitdb219_5m.hea", {"mitdb219_5m.hea": hea})
    assert not row["ok"] and row["exit_code"] == 65 and ".dat" in row["error"]


def test_a_bug_on_one_file_is_an_internal_error_row(monkeypatch):
    import cardioclarity.xray.detect as detect

    def boom(self, image):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(detect.HeartDetector, "detect", boom)
    row = run_item(BatchSpec("xray"), "f.png", {"f.png": film_png(0)})
    assert not row["ok"] and row["error_kind"] == "internal" and row["exit_code"] == 70
    assert "ZeroDivisionError: boom" in row["error"] and "bug" in row["error"]


def test_summaries_read_fields_defensively():
    # A withheld CTR (null) with reasons, a missing box, an unknown extra field: no error.
    s = summarise("xray", {"heart_box": None, "ctr": None, "quality": {"ok": False,
                                                                       "reasons": ["rotated"]},
                           "new_field": {"x": 1}})
    assert s == {"x_min": None, "y_min": None, "x_max": None, "y_max": None, "ctr": None,
                 "cardiomegaly": None, "quality_ok": False, "quality_status": None,
                 "quality_score": None, "quality_reasons": "rotated"}
    s = summarise("ecg", {"record": "r", "n_beats": "12", "rhythm": {"heart_rate_bpm": None,
                                                                     "episodes": "?"}})
    assert s["record"] == "r" and s["n_beats"] == 12 and s["mean_hr_bpm"] is None
    assert s["n_episodes"] is None and s["irregular"] is None


def test_spec_checks_its_settings():
    with pytest.raises(ValueError, match="kind"):
        BatchSpec("mri")
    with pytest.raises(ValueError, match="adaptive"):
        BatchSpec("ecg", adaptive="maybe")
    with pytest.raises(ValueError, match="peaks must be one of cardioclarity, net, hybrid"):
        BatchSpec("ecg", peaks="magic")


def test_the_peak_detector_is_a_setting_of_the_batch():
    assert spec_key(BatchSpec("ecg")) != spec_key(BatchSpec("ecg", peaks="net"))
    # Ledgers of energy-detector runs, written before the detector was a setting, resume; a run
    # with the default detector (hybrid) gives other results, so its key differs from theirs.
    assert "peaks" not in spec_key(BatchSpec("ecg", peaks="cardioclarity"))
    assert spec_key(BatchSpec("ecg")) == spec_key(BatchSpec("ecg", peaks=DEFAULT_PEAK_METHOD))
    assert "peaks" in spec_key(BatchSpec("ecg"))
    files = {f: (SAMPLES / f).read_bytes() for f in WFDB_SAMPLE}
    row = run_item(BatchSpec("ecg", peaks="net"), "mitdb219_5m.hea", files)
    assert row["ok"], row["error"]
    assert json.loads(row["document"])["model"]["peak_method"] == "net"
