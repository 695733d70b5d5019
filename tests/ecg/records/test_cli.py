"""`cardioclarity ecg analyze`: single record, CSV with --fs, batch mode and bad input."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from conftest import run_cli

from cardioclarity.ecg.records.demo import sample_path

from ._records_synth import synth_ecg, write_wfdb


def test_analyze_bundled_record_writes_findings_and_report(tmp_path):
    r = run_cli("ecg", "analyze", str(sample_path()), "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "o" / "findings.json").read_text())
    assert d["lead"] == "MLII" and len(d["beats"]) > 300
    assert d["model"]["peak_method"] == "hybrid"  # the default detector
    html = (tmp_path / "o" / "report.html").read_text()
    assert "Research use only" in html and "data:image/png;base64" in html
    assert (tmp_path / "o" / "strip_1.png").read_bytes()[:4] == b"\x89PNG"
    assert "Research use only" in r.stdout


@pytest.mark.parametrize("method", ["net", "cardioclarity"])
def test_analyze_with_another_peak_detector(tmp_path, method):
    r = run_cli("ecg", "analyze", str(sample_path()), "--peaks", method, "--no-report",
                "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "o" / "findings.json").read_text())
    assert d["model"]["peak_method"] == method and len(d["beats"]) > 300
    r = run_cli("ecg", "analyze", str(sample_path()), "--peaks", "magic", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_analyze_csv_needs_fs_and_lead_choice(tmp_path):
    x, _ = synth_ecg(fs=250, duration=40)
    p = tmp_path / "strip.csv"
    np.savetxt(p, np.c_[0.5 * x, x], delimiter=",", header="I,II", comments="")
    r = run_cli("ecg", "analyze", str(p), "--out", str(tmp_path / "o"))
    assert r.returncode == 65 and "sampling rate" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("ecg", "analyze", str(p), "--fs", "250", "--lead", "I", "--no-report",
                "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "o" / "findings.json").read_text())
    assert d["lead"] == "I" and d["sampling_rate"] == 250 and not (tmp_path / "o" / "report.html").exists()
    r = run_cli("ecg", "analyze", str(p), "--fs", "250", "--lead", "V9", "--out", str(tmp_path / "o"))
    assert r.returncode == 65 and "available leads: I, II" in r.stderr


@pytest.mark.parametrize("args, code, text", [
    (["nope.hea"], 66, "does not exist"),
    (["--fs", "50", "{csv}"], 65, "below the minimum"),
])
def test_analyze_bad_input_exit_codes(tmp_path, args, code, text):
    c = tmp_path / "s.csv"
    c.write_text("\n".join(str(v) for v in np.sin(np.arange(3000) / 5)))
    args = [a.replace("{csv}", str(c)) if a != "nope.hea" else str(tmp_path / a) for a in args]
    r = run_cli("ecg", "analyze", *args, "--out", str(tmp_path / "o"))
    assert r.returncode == code and text in r.stderr and "Traceback" not in r.stderr


def test_batch_one_bad_record_is_skipped(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for stem in ("mitdb219_5m",):
        for ext in (".hea", ".dat", ".atr"):
            shutil.copy(sample_path().with_suffix(ext), d / f"{stem}{ext}")
    x, _ = synth_ecg(fs=360, duration=30)
    write_wfdb(d, "good", x, 360)
    write_wfdb(d, "nodat", x, 360)
    (d / "nodat.dat").unlink()  # missing signal file
    (d / "empty.csv").write_text("")
    write_wfdb(d, "flat", np.zeros(3600) + 0.2, 360)
    r = run_cli("ecg", "analyze", str(d), "--no-report", "--out", str(tmp_path / "o"))
    assert r.returncode == 1, r.stderr
    for bad in ("nodat", "empty.csv", "flat"):
        assert bad in r.stderr
    assert "Traceback" not in r.stderr
    rows = {row["record"]: row for row in csv.DictReader(open(tmp_path / "o" / "summary.csv"))}
    assert rows["good"]["status"] == "ok" and rows["mitdb219_5m"]["status"] == "ok"
    assert rows["nodat"]["status"] == "failed" and "nodat.dat" in rows["nodat"]["error"]
    assert rows["flat"]["status"] == "failed" and rows["empty"]["status"] == "failed"
    assert (tmp_path / "o" / "good" / "findings.json").exists()
    assert "2 of 5 records analysed" in r.stdout
