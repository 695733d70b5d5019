"""Record report: strip PNG for the web page, the HTML report and its findings table."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.ecg.records.analyze import analyze_record
from cardioclarity.ecg.records.demo import run_demo, sample_path
from cardioclarity.ecg.records.io import Record, read_record
from cardioclarity.ecg.records.report import (
    findings_table,
    record_report_figures,
    render_record_report,
    strip_png,
)
from cardioclarity.ecg.records.scoring import RecordBeatModel
from cardioclarity.reporting import save_report

from ._records_synth import af_like_rr, synth_ecg


@pytest.fixture(scope="module")
def analysed():
    model = RecordBeatModel.load()
    rec = read_record(sample_path())
    return rec, analyze_record(rec, detector=model), model


def test_strip_png(analysed):
    rec, f, _ = analysed
    png = strip_png(f, rec, start_s=12.0, length_s=8.0)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert strip_png(f, rec)[:4] == b"\x89PNG"  # default: the stretch with most flagged beats


def test_report_files_and_content(analysed, tmp_path):
    rec, f, model = analysed
    figures = record_report_figures(f, rec, detector=model)
    html = render_record_report(f, rec, figures=figures)
    assert save_report(tmp_path, html, figures).read_text() == html
    assert "Research use only" in html
    for title in ("Summary", "ECG strips", "Findings", "Heart rate and rhythm"):
        assert f"<h2>{title}</h2>" in html
    flagged = bool(f.beat_scores.is_anomaly.any())
    assert flagged, "the bundled excerpt (MIT-BIH 219) holds ventricular beats that must be flagged"
    assert ("<h2>Flagged beats</h2>" in html) == flagged
    assert (tmp_path / "flagged_beats.png").exists() == flagged
    assert html.count("data:image/png;base64") >= 4
    for name in ("heart_rate.png", "rr_poincare.png", "strip_1.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_findings_table_has_timestamps(analysed):
    _, f, _ = analysed
    rows = findings_table(f)
    irr = [r for r in rows if r["finding"] == "irregular rhythm"]
    assert irr and all(r["start"].startswith("00:0") for r in irr)
    assert max(r["duration_s"] for r in irr) > 30


def test_report_for_record_without_flags_or_episodes(tmp_path):
    x, _ = synth_ecg(fs=250, duration=40, hr=70)
    rec = Record(x, 250.0, "II", ["II"], "calm")
    f = analyze_record(rec, detector=False)
    html = render_record_report(f, rec)
    assert "No rhythm episode" in html and "Flagged beats" not in html
    assert np.isfinite(f.rhythm["heart_rate_bpm"]["mean"])


def test_report_says_why_irregular_windows_made_no_episode():
    # irregular RR with a P wave before every beat: the windows are irregular, but every beat's
    # context carries sinus P waves, so no irregular-rhythm episode is left
    rr = af_like_rr(150, 0.9, seed=3)
    x, _ = synth_ecg(fs=250, duration=float(rr.sum() + 1.0), rr=rr, seed=3)
    rec = Record(x, 250.0, "II", ["II"], "sinus-arrhythmia")
    f = analyze_record(rec)
    assert f.rhythm["irregularity_score"] >= f.rhythm["threshold"] and not f.rhythm["irregular"]
    assert "the irregular windows lay in stretches with sinus P waves" in render_record_report(f, rec)


def test_record_demo_runs_offline(tmp_path):
    res = run_demo(tmp_path / "demo")
    assert res["report"].exists() and res["findings"].exists()
    assert "MIT-BIH 219" in res["summary"] and "Reference" in res["summary"]


def test_render_functions_return_html_and_png_bytes():
    from cardioclarity.ecg.records.report import record_report_figures, render_record_report

    x, _ = synth_ecg(fs=360, duration=60)
    rec = Record(signal=x, fs=360.0, lead="MLII", leads=["MLII"], name="synth", units="mV")
    f = analyze_record(rec, detector=False)
    figures = record_report_figures(f, rec)
    assert {"heart_rate.png", "rr_poincare.png", "strip_1.png"} <= set(figures)
    html = render_record_report(f, rec, figures=figures)
    assert "Research use only" in html and html.count("data:image/png;base64,") == len(figures)
    assert strip_png(f, rec)[:8] == b"\x89PNG\r\n\x1a\n"


def test_models_load_with_a_card():
    from cardioclarity.ecg.records.rhythm import RhythmModel
    from cardioclarity.ecg.records.scoring import RecordBeatModel

    rm = RhythmModel.load()
    assert rm.card["name"] == "rhythm-cinc2017" and rm.card["kind"] == "ecg-rhythm-model"
    bm = RecordBeatModel.load()
    assert bm.card["name"] == "mitdb-conv1d" and bm.card["kind"] == "ecg-beat-detector"
    assert RhythmModel().card["kind"] == "ecg-rhythm-model"
    assert RecordBeatModel(detector=bm.detector).card["name"] == "custom"
